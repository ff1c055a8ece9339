"""The ingest pipeline on Kafka, end to end, against a real Apache Kafka broker.

The seed and a few hundred Reuters-21578 stories are replayed into a
3-partition topic with garbage messages among them; ``build_pipeline`` reads
them (bounded), writes stories and dead letters to Avro files and to Kafka
topics, and commits the group's offsets.
"""

from __future__ import annotations

import calendar
import glob
import time
from pathlib import Path

import apache_beam as beam
import fastavro
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from pipelines.options import IngestOptions
from pipelines.ingest import build_pipeline
from pipelines.runners import resolve_runner
from tests.broker import kafka_broker  # noqa: F401  (pytest fixture)
from transforms.io.kafka_common import BrokerUnavailableError
from transforms.io.kafka_source import close_kafka_readers
from transforms.io.kafka_sink import decode_message
from transforms.io.replay import iter_replay_messages, replay_to_kafka

REPO = Path(__file__).resolve().parents[1]
CORPORA = REPO.parent / "shared" / "corpora"
SEED = REPO / "seeds" / "000_47ad94e21230f2f9.txt"
REUTERS = CORPORA / "reuters21578" / "reut2-000.sgm"
STORIES = 200
GARBAGE = [b"", b"\x00\x01\x02\xff" * 40, bytes(range(256)) * 4, b"   \n\t  ", b"\xff\xfe\x00<"]


def read_topic(bootstrap: str, topic: str, partitions: int = 1, timeout: float = 20.0) -> list:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
    consumer.seek_to_beginning()
    records, idle_since, deadline = [], time.monotonic(), time.monotonic() + timeout
    while time.monotonic() < deadline and time.monotonic() - idle_since < 2:
        for batch in consumer.poll(timeout_ms=300).values():
            records.extend(batch)
            idle_since = time.monotonic()
    consumer.close()
    return records


def read_avro(pattern: str) -> list[dict]:
    records = []
    for path in glob.glob(pattern):
        with open(path, "rb") as handle:
            records.extend(fastavro.reader(handle))
    return records


def test_replay_splits_reuters_archives_and_keeps_event_times():
    if not REUTERS.exists():
        pytest.skip(f"corpus absent: {REUTERS}")
    messages = list(iter_replay_messages([SEED, REUTERS]))
    assert len(messages) == 1 + 1000  # the seed, then every <REUTERS> element of the archive
    assert messages[0].format == "plain_text" and messages[0].key == SEED.name.encode()
    first = messages[1]
    assert first.value.startswith(b"<REUTERS") and first.value.endswith(b"</REUTERS>")
    assert first.format == "reuters_sgml" and first.key == b"1"
    assert first.event_time == calendar.timegm((1987, 2, 26, 15, 1, 1)) * 1000  # its <DATE>


def test_replay_to_an_unreachable_broker_fails_fast():
    started = time.monotonic()
    with pytest.raises(BrokerUnavailableError):
        replay_to_kafka([SEED], "127.0.0.1:1", "t")
    assert time.monotonic() - started < 20


def test_pipeline_reads_everything_writes_both_sinks_and_commits_end_offsets(kafka_broker, tmp_path):
    if not REUTERS.exists():
        pytest.skip(f"corpus absent: {REUTERS}")
    bootstrap = kafka_broker.bootstrap
    topic = kafka_broker.new_topic("raw", 3)
    out_topic = kafka_broker.new_topic("enriched", 1)
    dead_topic = kafka_broker.new_topic("dead", 1)

    sent = replay_to_kafka([SEED, REUTERS], bootstrap, topic, max_messages=1 + STORIES)
    assert sent == 1 + STORIES
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    garbage_at = set()
    for i, junk in enumerate(GARBAGE):
        metadata = producer.send(topic, value=junk, partition=i % 3).get(timeout=10)
        garbage_at.add((metadata.partition, metadata.offset))
    producer.close()
    end = {p: max(o for q, o in all_offsets(bootstrap, topic) if q == p) + 1 for p in range(3)}

    output = tmp_path / "out"
    options = IngestOptions([
        "--kafka-bootstrap", bootstrap, "--kafka-topic", topic, "--kafka-group", "ingest",
        "--kafka-start", "committed", "--kafka-stop-at-end",
        "--kafka-output-topic", out_topic, "--kafka-dead-letter-topic", dead_topic,
        "--output", str(output),
    ])  # bounded read: the batch runner (streaming runs of the source: tests/test_kafka_io.py)
    pipeline = beam.Pipeline(runner=resolve_runner(options), options=options)
    build_pipeline(pipeline, options)
    pipeline.run().wait_until_finish()
    close_kafka_readers(bootstrap)

    # files: every input offset is a story or a dead letter
    stories = read_avro(str(output / "**" / "stories-*.avro")) or read_avro(str(output / "stories-*.avro"))
    dead = read_avro(str(output / "**" / "dead-letters-*.avro")) or read_avro(str(output / "dead-letters-*.avro"))
    story_at = {(s["source"]["partition"], s["source"]["offset"]) for s in stories}
    dead_at = {(d["source"]["partition"], d["source"]["offset"]) for d in dead}
    assert story_at | dead_at == {(p, o) for p in range(3) for o in range(end[p])}
    assert garbage_at <= dead_at
    assert len(story_at) >= STORIES * 0.9  # Reuters briefs and bodies are stories
    for record in stories + dead:
        source = record["source"]
        assert source["kind"] == "kafka" and source["topic"] == topic
        assert source["uri"] == f"kafka://{bootstrap}/{topic}"
        assert source["position"].startswith(f"partition {source['partition']} offset {source['offset']}")
    seed = [s for s in stories if s["format"] == "plain_text"]
    assert [s["headline"] for s in seed] == ["Putin ‘ready’ for talks with Ukraine in Minsk: Kremlin"]
    assert seed[0]["source"]["headers"] == {"wire-format": b"plain_text"}

    # Kafka sinks: the same records, decodable with the schemas
    kafka_stories = [decode_message(m.value) for m in read_topic(bootstrap, out_topic)]
    assert {kind for kind, _ in kafka_stories} == {"story"}
    assert sorted(r["id"] for _, r in kafka_stories) == sorted(s["id"] for s in stories)
    kafka_dead = [decode_message(m.value) for m in read_topic(bootstrap, dead_topic)]
    assert {kind for kind, _ in kafka_dead} == {"dead_letter"}
    dead_by_position = {(r["source"]["partition"], r["source"]["offset"]): r for _, r in kafka_dead}
    assert garbage_at <= set(dead_by_position)
    for partition, offset in garbage_at:
        assert dead_by_position[(partition, offset)]["raw"] == GARBAGE[
            _garbage_index(garbage_at, partition, offset)]

    # the group's committed offsets are the end offsets
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id="ingest", enable_auto_commit=False)
    assert {p: consumer.committed(TopicPartition(topic, p)) for p in range(3)} == end
    consumer.close()


def _garbage_index(garbage_at: set, partition: int, offset: int) -> int:
    """Garbage i went to partition i % 3, in order: its index from its position."""
    same_partition = sorted(o for p, o in garbage_at if p == partition)
    return partition + 3 * same_partition.index(offset)


def all_offsets(bootstrap: str, topic: str) -> list[tuple[int, int]]:
    return [(r.partition, r.offset) for r in read_topic(bootstrap, topic, partitions=3)]
