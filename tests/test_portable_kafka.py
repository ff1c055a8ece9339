"""The Kafka pipeline on Beam's portable runner gives the DirectRunner's records.

Flink runs wire-ingest through Beam's portability layer (runner API protos,
Fn API workers, state and timers over gRPC). Here the same streaming pipeline
(Kafka source, parsing, normalization, dedup with state and timers, Avro file
sinks, dead letters, offset commits) runs twice against a real broker: on the
local streaming runner and on ``PortableRunner`` with ``--job_endpoint=embed
--environment_type=LOOPBACK``, and both must write the same stories and dead
letters and commit the same offsets. ``--kafka-stop-at-end`` bounds the read so
that the streaming pipeline ends; nothing else differs from a live run.
"""

from __future__ import annotations

import glob
from pathlib import Path

import fastavro

from pipelines.ingest import run
from schemas import load_schema
from tests.broker import kafka_broker, kafka_topic  # noqa: F401  (real broker fixtures)
from tests.conftest import SEED

#: Stories written for this test, in the plain wire-copy layout of the seed.
_STORIES = [
    b"Harbour cranes idle as dock workers strike for second day\n\n"
    b"Container traffic at the port stalled on Tuesday as dock workers extended a walkout "
    b"over pay, leaving dozens of ships waiting offshore.\n\n"
    b"ROTTERDAM, Nov 3 (Reuters) - Container traffic at the port of Rotterdam stalled on "
    b"Tuesday as dock workers extended a strike over pay for a second day, leaving dozens of "
    b"vessels waiting at anchor and shippers rerouting cargo to Antwerp and Hamburg. Union "
    b"leaders said talks with employers would resume on Thursday.\n",
    b"Central bank holds rates, signals cut next year\n\n"
    b"Policymakers kept borrowing costs unchanged and said inflation was easing.\n\n"
    b"FRANKFURT, Nov 4 (AP) - The central bank kept its main interest rate unchanged on "
    b"Wednesday and said inflation was easing faster than expected, opening the door to a cut "
    b"early next year. The decision was unanimous, the bank's president told reporters.\n",
]
_GARBAGE = [b"", b"\x00\x01\x02\xff\xfe binary junk \x00"]


def _produce(bootstrap: str, topic: str) -> int:
    """Publish the seed, two stories, an exact copy and garbage, with event times."""
    from kafka import KafkaProducer

    messages = [SEED.read_bytes(), *_STORIES, _STORIES[0], *_GARBAGE]
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    base = 1_700_000_000_000
    try:
        for index, value in enumerate(messages):
            producer.send(topic, value=value, key=f"m{index}".encode(), partition=index % 3,
                          timestamp_ms=base + index * 60_000).get(timeout=10)
        producer.flush()
    finally:
        producer.close()
    return len(messages)


def _read(output: Path, prefix: str) -> list[dict]:
    schema = fastavro.parse_schema(load_schema("story" if prefix == "stories" else "dead_letter"))
    records = []
    for path in sorted(glob.glob(str(output / "**" / f"{prefix}-*.avro"), recursive=True)):
        with open(path, "rb") as handle:
            records.extend(fastavro.reader(handle, reader_schema=schema))
    return records


def _committed(bootstrap: str, topic: str, group: str) -> dict[int, int]:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        return {p: consumer.committed(TopicPartition(topic, p)) for p in range(3)}
    finally:
        consumer.close()


def _run(bootstrap: str, topic: str, output: Path, group: str, *runner: str):
    return run(["--kafka-bootstrap", bootstrap, "--kafka-topic", topic, "--kafka-group", group,
                "--kafka-start", "earliest", "--kafka-stop-at-end", "--streaming",
                "--window-seconds", "60", "--output", str(output), *runner])


def _comparable_stories(records: list[dict]) -> dict[str, dict]:
    stories = {}
    for record in records:
        record = dict(record)
        record.pop("ingested_at")  # processing time
        stories[record["id"]] = record
    return stories


def _comparable_dead_letters(records: list[dict]) -> list[tuple]:
    return sorted((d["source"]["topic"], d["source"]["partition"], d["source"]["offset"],
                   d["stage"], d["reason"], d["raw"]) for d in records)


def test_portable_runner_writes_what_the_direct_runner_writes(kafka_broker, kafka_topic,  # noqa: F811
                                                              tmp_path):
    sent = _produce(kafka_broker.bootstrap, kafka_topic)

    direct = _run(kafka_broker.bootstrap, kafka_topic, tmp_path / "direct", "g-direct")
    portable = _run(kafka_broker.bootstrap, kafka_topic, tmp_path / "portable", "g-portable",
                    "--runner=PortableRunner", "--job_endpoint=embed",
                    "--environment_type=LOOPBACK")

    for name, summary in (("local streaming runner", direct), ("portable runner", portable)):
        assert summary.read == sent and summary.balanced, f"{name}: {summary.render()}"

    direct_stories = _comparable_stories(_read(tmp_path / "direct", "stories"))
    portable_stories = _comparable_stories(_read(tmp_path / "portable", "stories"))
    assert len(direct_stories) == len(_STORIES) + 2  # the seed, two stories, one exact copy
    assert portable_stories == direct_stories
    statuses = sorted(story["dedup"]["status"] for story in direct_stories.values())
    assert statuses.count("DUPLICATE") == 1

    direct_dead = _comparable_dead_letters(_read(tmp_path / "direct", "dead-letters"))
    portable_dead = _comparable_dead_letters(_read(tmp_path / "portable", "dead-letters"))
    assert len(direct_dead) == len(_GARBAGE)
    assert portable_dead == direct_dead

    ends = {p: len([i for i in range(sent) if i % 3 == p]) for p in range(3)}
    assert _committed(kafka_broker.bootstrap, kafka_topic, "g-direct") == ends
    assert _committed(kafka_broker.bootstrap, kafka_topic, "g-portable") == ends
