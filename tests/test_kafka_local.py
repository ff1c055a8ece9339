"""deploy/local/kafka.sh as a user runs it: start, status, tool, stop, start again.

The script starts the broker in the background with a pid file and prints
``bootstrap=127.0.0.1:PORT`` as the last line of stdout; ``status`` exits 0
while it runs and 3 once stopped; ``stop`` ends the process it started; a
second ``start`` in the same state folder comes back on the same port with
the topics and records of the first. Kafka's own tools run from the cache.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.broker import KAFKA_SH, broker_missing, free_port, install_kafka

pytestmark = pytest.mark.skipif(broker_missing() is not None, reason=str(broker_missing()))


def kafka_sh(home: Path, *args: str, port: int | None = None, timeout: float = 180):
    env = {**os.environ, "KAFKA_HOME_DIR": str(home)}
    if port is not None:
        env["KAFKA_PORT"] = str(port)
    return subprocess.run([str(KAFKA_SH), *args], capture_output=True, text=True, env=env, timeout=timeout)


def bootstrap_of(stdout: str) -> str:
    last = stdout.strip().splitlines()[-1]
    assert last.startswith("bootstrap=127.0.0.1:"), stdout
    return last.split("=", 1)[1]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]


def test_start_status_tool_stop_and_restart_with_the_data(tmp_path):
    from kafka import KafkaProducer

    install_kafka()
    home = tmp_path / "kafka"
    port = free_port()
    try:
        started = kafka_sh(home, "start", port=port)
        assert started.returncode == 0, started.stderr
        bootstrap = bootstrap_of(started.stdout)
        assert bootstrap == f"127.0.0.1:{port}"
        pid = int((home / "kafka.pid").read_text())
        assert alive(pid)
        again = kafka_sh(home, "start")  # already running: the same broker, nothing new
        assert again.returncode == 0 and bootstrap_of(again.stdout) == bootstrap
        assert int((home / "kafka.pid").read_text()) == pid

        status = kafka_sh(home, "status")
        assert status.returncode == 0 and status.stdout.startswith(f"running pid={pid}")
        assert bootstrap_of(status.stdout) == bootstrap

        created = kafka_sh(home, "tool", "kafka-topics", "--bootstrap-server", bootstrap, "--create",
                           "--topic", "local", "--partitions", "2")
        assert created.returncode == 0, created.stderr
        producer = KafkaProducer(bootstrap_servers=bootstrap)
        for i in range(5):
            producer.send("local", value=b"v%d" % i, partition=i % 2).get(10)
        producer.close()

        stopped = kafka_sh(home, "stop")
        assert stopped.returncode == 0 and f"stopped pid={pid}" in stopped.stdout
        assert not alive(pid) and not (home / "kafka.pid").exists()
        status = kafka_sh(home, "status")
        assert status.returncode == 3 and status.stdout.startswith("stopped")

        # Same folder, no KAFKA_PORT: the port of the last start, and the data are back.
        restarted = kafka_sh(home, "start")
        assert restarted.returncode == 0, restarted.stderr
        assert bootstrap_of(restarted.stdout) == bootstrap
        offsets = kafka_sh(home, "tool", "kafka-get-offsets", "--bootstrap-server", bootstrap,
                           "--topic", "local")
        assert offsets.returncode == 0, offsets.stderr
        assert sorted(offsets.stdout.split()) == ["local:0:3", "local:1:2"]
    finally:
        kafka_sh(home, "stop")


def test_unknown_tool_and_taken_port_fail_with_a_message(tmp_path):
    install_kafka()
    unknown = kafka_sh(tmp_path, "tool", "kafka-nonsense")
    assert unknown.returncode != 0 and "unknown tool 'kafka-nonsense'" in unknown.stderr
    assert "kafka-consumer-groups" in unknown.stderr  # the known ones are listed
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        refused = kafka_sh(tmp_path / "kafka", "start", port=port)
    assert refused.returncode != 0 and f"port {port} on 127.0.0.1 is taken" in refused.stderr
    assert not (tmp_path / "kafka" / "kafka.pid").exists()
