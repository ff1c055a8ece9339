"""A real Apache Kafka broker for tests, started on a free loopback port.

Contract: ``KafkaBroker`` runs the Apache Kafka broker that
``deploy/local/kafka.sh`` installs from Maven into the cache (KRaft, one
process that is broker and controller, listening on ``127.0.0.1`` only) with
its own state folder, waits until it answers Kafka metadata requests, creates
topics with N partitions, and stops it. ``stop()`` may be followed by
``start()``: the broker comes back on the same port with the same data
(topics, records, committed offsets), as after an outage. ``advertised_port``
makes the broker tell clients another port (a proxy in front of it).
Nothing is mocked.

The pytest fixtures ``kafka_broker`` (one broker per test module, a fresh data
folder under pytest's tmp) and ``kafka_topic`` (a fresh 3-partition topic per
test) are imported by test modules with
``from tests.broker import kafka_broker, kafka_topic``. ``kafka_tool`` runs one
of Kafka's own command-line tools (``kafka-consumer-groups`` ...) against it.

The broker process gets SIGTERM if the thread that started it ends (Linux), so
a killed test run leaves no broker behind: start brokers from the main thread.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator, Optional

import pytest

__all__ = ["KafkaBroker", "KAFKA_SH", "broker_missing", "free_port", "install_kafka", "kafka_broker",
           "kafka_tool", "kafka_topic"]

#: The script that installs, starts and stops the broker and runs Kafka's tools.
KAFKA_SH = Path(__file__).resolve().parents[1] / "deploy" / "local" / "kafka.sh"
#: Longest wait for the Maven install of the broker's jars (first use only).
INSTALL_SECONDS = 900

_topic_counter = itertools.count()
_installed: Optional[str] = None

def _with_parent_death_signal(argv: list[str]) -> list[str]:
    """``argv`` run under util-linux ``setpriv --pdeathsig TERM`` where it exists:
    the broker gets SIGTERM when the process that started it ends (no orphans).

    Not ``preexec_fn``: Python code between fork and exec makes subprocess use
    fork() instead of vfork(), which runs grpc's fork handlers in the child of a
    test process that has run Beam; the child then aborted (SIGABRT, "epoll_wait
    error: Bad file descriptor") before the broker started.
    """
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--", *argv] if setpriv else list(argv)


def broker_missing() -> Optional[str]:
    """Why no broker can start here (no Java, or no Maven and nothing installed), else None."""
    if shutil.which("java") is None:
        return "no java on PATH: the Apache Kafka broker needs Java 17+"
    if shutil.which("mvn") is None and not _install_marker().exists():
        return "no mvn on PATH and no Kafka in the cache: Maven resolves the broker's jars"
    return None


def _install_marker() -> Path:
    cache = Path(os.environ.get("WIRE_INGEST_CACHE") or Path.home() / ".cache" / "wire-ingest")
    version = os.environ.get("KAFKA_VERSION", "4.1.1")
    return cache / "kafka" / version / ".installed"


def install_kafka() -> str:
    """Install the broker's jars once (``kafka.sh install``); returns the lib folder."""
    global _installed
    if _installed is None:
        done = subprocess.run([str(KAFKA_SH), "install"], capture_output=True, text=True,
                              timeout=INSTALL_SECONDS)
        if done.returncode != 0:
            raise RuntimeError(f"kafka.sh install failed ({done.returncode}):\n{done.stderr[-4000:]}")
        _installed = done.stdout.strip().splitlines()[-1]
    return _installed


def free_port() -> int:
    """A TCP port nobody listens on right now (loopback)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kafka_tool(name: str, *args: str, timeout: float = 120) -> str:
    """Run one of Kafka's command-line tools (``kafka.sh tool NAME ARGS``); returns stdout.

    Raises:
        RuntimeError: the tool exited non-zero (its stderr is in the message).
    """
    install_kafka()
    done = subprocess.run([str(KAFKA_SH), "tool", name, *args], capture_output=True, text=True,
                          timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{name} {' '.join(args)} exited {done.returncode}:\n"
                           f"{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return done.stdout


class KafkaBroker:
    """One Apache Kafka broker process on 127.0.0.1:port, its state in ``home``."""

    def __init__(self, port: Optional[int] = None, home: Optional[Path] = None,
                 advertised_port: Optional[int] = None):
        self.port = port or free_port()
        self.advertised_port = advertised_port or self.port
        self._own_home = home is None
        self.home = Path(home) if home is not None else Path(tempfile.mkdtemp(prefix="kafka-"))
        self._process: Optional[subprocess.Popen] = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.advertised_port}"

    @property
    def log_path(self) -> Path:
        return self.home / "kafka.log"

    def log_tail(self, chars: int = 6000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def start(self, timeout: float = 90.0) -> "KafkaBroker":
        """Start the broker (formatting its storage on first start) and wait until it answers."""
        install_kafka()
        self.home.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "KAFKA_HOME_DIR": str(self.home), "KAFKA_PORT": str(self.port),
               "KAFKA_ADVERTISED_PORT": str(self.advertised_port)}
        log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            # `run` execs the broker: this process is the JVM, stopped by stop().
            self._process = subprocess.Popen(_with_parent_death_signal([str(KAFKA_SH), "run"]),
                                             stdout=log, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, env=env)
        try:
            self._wait_until_ready(timeout, log_start)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_ready(self, timeout: float, log_start: int) -> None:
        from kafka import KafkaConsumer

        deadline = time.monotonic() + timeout
        started = False
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"the Kafka broker exited with {self._process.returncode} during start; "
                                   f"log {self.log_path}:\n{self.log_tail()}")
            if not started:
                with open(self.log_path, "rb") as log:
                    log.seek(log_start)
                    started = b"Kafka Server started" in log.read()
            if started:
                try:
                    consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, api_version_auto_timeout_ms=2000)
                    try:
                        consumer.topics()
                    finally:
                        consumer.close()
                    return
                except Exception:  # not serving yet: retried until the deadline
                    pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Kafka broker did not answer on {self.bootstrap} in {timeout}s; "
                                   f"log {self.log_path}:\n{self.log_tail()}")
            time.sleep(0.1)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (a clean shutdown that keeps the data), SIGKILL after ``timeout`` s."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def close(self) -> None:
        """Stop, and remove the state folder if this object made it."""
        self.stop()
        if self._own_home:
            shutil.rmtree(self.home, ignore_errors=True)

    def create_topic(self, name: str, partitions: int = 3) -> str:
        from kafka import KafkaAdminClient, KafkaConsumer
        from kafka.admin import NewTopic

        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        try:
            admin.create_topics([NewTopic(name, partitions, 1)])
        finally:
            admin.close()
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap)
        try:
            deadline = time.monotonic() + 10
            while len(consumer.partitions_for_topic(name) or ()) < partitions:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"topic {name} did not appear with {partitions} partitions")
                time.sleep(0.05)
        finally:
            consumer.close()
        return name

    def new_topic(self, prefix: str = "t", partitions: int = 3) -> str:
        """Create a uniquely named topic."""
        return self.create_topic(f"{prefix}-{os.getpid()}-{next(_topic_counter)}", partitions)

    def __enter__(self) -> "KafkaBroker":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


@pytest.fixture(scope="module")
def kafka_broker(tmp_path_factory) -> Iterator[KafkaBroker]:
    missing = broker_missing()
    if missing:
        pytest.skip(missing)
    broker = KafkaBroker(home=tmp_path_factory.mktemp("kafka")).start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def kafka_topic(kafka_broker: KafkaBroker) -> str:
    return kafka_broker.new_topic("wire", 3)


if __name__ == "__main__":  # manual use: python -m tests.broker [PORT]  (Ctrl-C stops it)
    with KafkaBroker(int(sys.argv[1]) if len(sys.argv) > 1 else None) as b:
        print(f"bootstrap={b.bootstrap} state={b.home}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
