"""A Kafka backfill (``--kafka-stop-at-end``) through the CLI on a real broker:
its progress bar counts records against the backlog known at start, and its
JSON logs carry the broker's start and stop and each dead letter's offset."""

from __future__ import annotations

import json

from kafka import KafkaProducer

from pipelines.options import IngestOptions
from pipelines.logs import known_inputs, strip_ansi
from tests.broker import kafka_broker, kafka_topic  # noqa: F401 (fixtures)
from tests.conftest import SEED
from tests.report_fixture import FRENCH, GERMAN
from tests.test_cli_logs import _run_in_pty, _run_piped

JUNK = bytes(range(256)) * 2


def _send(bootstrap: str, topic: str) -> list[tuple[int, int]]:
    """Five records over the topic's partitions; the (partition, offset) of the junk one."""
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    values = [SEED.read_bytes(), FRENCH.encode(), GERMAN.encode(), SEED.read_bytes(), JUNK]
    junk_at = []
    for i, value in enumerate(values):
        metadata = producer.send(topic, value=value, partition=i % 3).get(timeout=30)
        if value is JUNK:
            junk_at.append((metadata.partition, metadata.offset))
    producer.close()
    return junk_at


def test_a_backfill_shows_records_against_the_backlog_and_logs_json(kafka_broker, kafka_topic,
                                                                      tmp_path):
    bootstrap = kafka_broker.bootstrap
    junk_at = _send(bootstrap, kafka_topic)
    args = ["--kafka-bootstrap", bootstrap, "--kafka-topic", kafka_topic, "--kafka-stop-at-end",
            "--kafka-group", "progress"]
    assert known_inputs(IngestOptions([*args, "--output", str(tmp_path)])) == 5

    code, output = _run_in_pty("run", *args, "--output", str(tmp_path / "bar"))
    assert code == 0, output
    text = strip_ansi(output)
    assert "0/5" in text and "5/5" in text and "input/s" in text
    assert "balanced: read 5 = written 4" in text
    # Committed: the group's backlog is now empty.
    assert known_inputs(IngestOptions([*args, "--output", str(tmp_path)])) == 0

    done = _run_piped("run", "--kafka-bootstrap", bootstrap, "--kafka-topic", kafka_topic,
                      "--kafka-stop-at-end", "--kafka-group", "json-logs", "--kafka-start", "earliest",
                      "--output", str(tmp_path / "json"), "--log-format", "json")
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stderr.splitlines()]
    kinds = [e.get("event") for e in events]
    assert kinds.index("broker_start") < kinds.index("broker_stop")
    assert next(e for e in events if e.get("event") == "broker_start")["bootstrap"] == bootstrap
    dead = [e for e in events if e.get("event") == "dead_letter"]
    assert [(e["source"]["partition"], e["source"]["offset"]) for e in dead] == junk_at
    assert dead[0]["source"]["topic"] == kafka_topic and dead[0]["stage"] == "parse"
    assert {e["partition"] for e in events if e.get("event") == "source_start"} == {0, 1, 2}
    assert "\r" not in done.stderr  # no bar on pipes
