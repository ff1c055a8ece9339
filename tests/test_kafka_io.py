"""Kafka source, offset commits and sinks, against a real Apache Kafka broker.

Pure parts (commit frontier, Avro framing, start parsing) are tested
directly; the transforms run on Prism (the local streaming runner), on the
FnApiRunner (bounded reads in batch) and on the portable runner.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

from pipelines.runners import resolve_runner
from tests.broker import free_port, kafka_broker  # noqa: F401  (pytest fixture)
from tests.reliability import stall_report
from transforms.io.kafka_common import BrokerUnavailableError, retry_while_broker_away
from transforms.io.kafka_commit import CommitKafkaOffsets, _Ack, advance_frontier
from transforms.io.kafka_source import ReadWireStoriesFromKafka, close_kafka_readers, parse_start
from transforms.io.kafka_sink import (
    WriteDeadLettersToKafka,
    WriteStoriesToKafka,
    decode_message,
    decode_story_message,
    encode_confluent,
    encode_single_object,
    schema_fingerprint,
)
from transforms.model import DeadLetter, SourcePosition, Story

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"
BASE_TS = 1_700_000_000_000


def streaming_pipeline(streaming: bool = True) -> beam.Pipeline:
    """A pipeline on the project's local runner: Prism (streaming), or the
    FnApiRunner (``streaming=False``, bounded reads only)."""
    options = PipelineOptions(["--streaming"] if streaming else [])
    return beam.Pipeline(runner=resolve_runner(options), options=options)


def cancel_and_wait(result, seconds: float = 60) -> None:
    """Cancel a running in-process job and wait until it has ended: a job left
    winding down while the next test's job starts in this process (their SDK
    workers share it) failed the next job's bundles ("KeyError: 'inst021'" in
    the worker's bundle release)."""
    from apache_beam.runners.runner import PipelineState

    result.cancel()
    deadline = time.monotonic() + seconds
    while not PipelineState.is_terminal(result.state) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert PipelineState.is_terminal(result.state), f"the job did not end: {result.state}"
    close_kafka_readers()


def portable_pipeline() -> beam.Pipeline:
    from apache_beam.runners.portability.portable_runner import PortableRunner

    return beam.Pipeline(runner=PortableRunner(), options=PipelineOptions(
        ["--job_endpoint=embed", "--environment_type=LOOPBACK"]))


def produce(bootstrap: str, topic: str, count: int, partitions: int = 3, start: int = 0) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for i in range(start, start + count):
        headers = [("wire-format", b"plain_text")] if i % 2 else [("other", b"x")]
        producer.send(topic, value=b"story %d" % i, key=b"k%d" % i, partition=i % partitions,
                      timestamp_ms=BASE_TS + i * 1000, headers=headers)
    producer.flush()
    producer.close()


def committed(bootstrap: str, group: str, topic: str, partitions: int = 3) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        return {p: consumer.committed(TopicPartition(topic, p)) for p in range(partitions)}
    finally:
        consumer.close()


@pytest.fixture(autouse=True)
def _close_readers():
    yield
    close_kafka_readers()


# ---------------------------------------------------------------- pure functions


def ack(offset, span=None, item=0, count=1, stream=0, read_from=0):
    return _Ack(offset, offset if span is None else span, read_from, item, count, stream)


def test_frontier_moves_over_consecutive_done_offsets_only():
    frontier, remaining = advance_frontier(0, [ack(0), ack(1), ack(3)])
    assert frontier == 2
    assert [a.offset for a in remaining] == [3]
    frontier, remaining = advance_frontier(frontier, remaining + [ack(2)])
    assert (frontier, remaining) == (4, [])


def test_frontier_steps_over_offset_gaps_covered_by_the_next_record():
    # offsets 1-4 do not exist (compaction): record 5 covers [1, 5]
    frontier, remaining = advance_frontier(0, [ack(0, span=0), ack(5, span=1)])
    assert frontier == 6 and remaining == []
    # but record 5 alone does not move a frontier at 0: record 0 may still come
    frontier, remaining = advance_frontier(0, [ack(5, span=1)])
    assert frontier == 0 and len(remaining) == 1


def test_frontier_waits_for_every_item_of_a_package_and_every_stream():
    acks = [ack(0, item=0, count=3), ack(0, item=2, count=3), ack(1)]
    assert advance_frontier(0, acks)[0] == 0
    assert advance_frontier(0, acks + [ack(0, item=1, count=3)])[0] == 2
    # two acknowledgement streams: each item must be acknowledged on both
    two = [ack(0, stream=0), ack(0, stream=0)]  # a duplicate ack is not a second stream
    assert advance_frontier(0, two, streams=2)[0] == 0
    assert advance_frontier(0, two + [ack(0, stream=1)], streams=2)[0] == 1


def test_frontier_ignores_acks_below_it():
    assert advance_frontier(5, [ack(2), ack(5)]) == (6, [])


class _FakeClock:
    def __init__(self):
        self.now = 0.0
        self.pauses: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


def _failing(times: int, error: Exception):
    calls = []

    def action():
        calls.append(1)
        if len(calls) <= times:
            raise error
        return "done"
    return action, calls


def test_commit_retry_rides_out_a_broker_outage():
    from kafka.errors import KafkaConnectionError

    clock = _FakeClock()
    action, calls = _failing(4, KafkaConnectionError("111 ECONNREFUSED"))
    assert retry_while_broker_away(action, "commit", sleep=clock.sleep, clock=lambda: clock.now) == "done"
    assert len(calls) == 5
    assert clock.pauses == [0.5, 1.0, 2.0, 4.0]  # backs off, capped later


def test_commit_retry_gives_up_after_its_limit_and_on_errors_kafka_calls_final():
    from kafka.errors import CommitFailedError, KafkaConnectionError

    clock = _FakeClock()
    action, calls = _failing(1000, KafkaConnectionError("down"))
    with pytest.raises(KafkaConnectionError):
        retry_while_broker_away(action, "commit", give_up_after=60, sleep=clock.sleep, clock=lambda: clock.now)
    assert clock.now <= 60 and max(clock.pauses) == 10.0
    action, calls = _failing(1, CommitFailedError("rebalanced"))
    with pytest.raises(CommitFailedError):
        retry_while_broker_away(action, "commit", sleep=clock.sleep, clock=lambda: clock.now)
    assert len(calls) == 1


def test_parse_start():
    assert parse_start("committed") == "committed"
    assert parse_start("EARLIEST") == "earliest"
    assert parse_start("2023-11-14T22:13:20Z") == BASE_TS
    assert parse_start(BASE_TS) == BASE_TS
    with pytest.raises(ValueError, match="start"):
        parse_start("yesterday")


def _crc64_avro(data: bytes) -> int:
    """CRC-64-AVRO as the Avro specification writes it out, independent of the module."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for byte in data:
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp


def sample_story(offset: int = 7) -> Story:
    source = SourcePosition(kind="kafka", uri="kafka://h:1/t", position=f"partition 1 offset {offset}",
                            topic="t", partition=1, offset=offset, key=b"k", timestamp=BASE_TS,
                            headers=(("wire-format", b"plain_text"),))
    return Story(id=source.record_id(), format="plain_text", headline="Talks in Minsk",
                 body="MOSCOW - Talks went on.", source=source, ingested_at=BASE_TS,
                 event_time=BASE_TS, language="en", language_confidence=0.99, word_count=4,
                 content_hash="ab" * 32)


def test_single_object_encoding_has_spec_header_and_decodes_back():
    import fastavro

    schema = json.loads((SCHEMAS / "story.avsc").read_text())
    fingerprint = schema_fingerprint(schema)
    canonical = fastavro.schema.to_parsing_canonical_form(schema).encode()
    assert fingerprint == _crc64_avro(canonical).to_bytes(8, "little")
    assert schema_fingerprint("null") == bytes.fromhex("8a8f25cce724dd63")  # spec's example value
    story = sample_story()
    message = encode_single_object(fastavro.parse_schema(schema), fingerprint, story.to_avro())
    assert message[:2] == b"\xc3\x01" and message[2:10] == fingerprint
    record = decode_story_message(message)
    assert record["headline"] == "Talks in Minsk"
    assert record["source"]["offset"] == 7 and record["source"]["headers"] == {"wire-format": b"plain_text"}


def test_confluent_framing_decodes_with_the_schema_id():
    import fastavro

    schema = json.loads((SCHEMAS / "dead_letter.avsc").read_text())
    dead = DeadLetter(raw=b"\x00\xff", source=sample_story().source, stage="parse",
                      reason="unrecognised_format", error="no format", failed_at=BASE_TS)
    message = encode_confluent(fastavro.parse_schema(schema), 42, dead.to_avro())
    assert message[:5] == b"\x00\x00\x00\x00\x2a"
    kind, record = decode_message(message, schema_ids={42: "dead_letter"})
    assert kind == "dead_letter" and record["raw"] == b"\x00\xff"
    with pytest.raises(ValueError):
        decode_message(b"plain bytes")


# ---------------------------------------------------------------- against the broker


def test_broker_down_at_start_fails_fast_with_a_clear_error():
    address = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(BrokerUnavailableError, match=address):
        ReadWireStoriesFromKafka(address, "t", group="g").expand(beam.Pipeline() | beam.Impulse())
    assert time.monotonic() - started < 20


@pytest.mark.parametrize("streaming", [True, False], ids=["prism", "fn_api_batch"])
def test_bounded_read_keeps_lineage_and_event_time(kafka_broker, streaming):
    topic = kafka_broker.new_topic("lineage", 3)
    produce(kafka_broker.bootstrap, topic, 30)
    uri = f"kafka://{kafka_broker.bootstrap}/{topic}"

    def describe(raw, timestamp=beam.DoFn.TimestampParam):
        s = raw.source
        return (s.kind, s.uri, s.position, s.topic, s.partition, s.offset, s.key, s.timestamp,
                dict(s.headers), raw.format_hint, raw.raw, int(timestamp.micros // 1000))

    expected = []
    for i in range(30):
        partition, offset = i % 3, i // 3
        headers = {"wire-format": b"plain_text"} if i % 2 else {"other": b"x"}
        expected.append(("kafka", uri, f"partition {partition} offset {offset}", topic, partition,
                         offset, b"k%d" % i, BASE_TS + i * 1000, headers,
                         "plain_text" if i % 2 else None, b"story %d" % i, BASE_TS + i * 1000))
    with streaming_pipeline(streaming) as p:
        raw = p | ReadWireStoriesFromKafka(kafka_broker.bootstrap, topic, start="earliest",
                                           stop_at_end=True)
        assert_that(raw | beam.Map(describe), equal_to(expected))


def test_the_bundle_based_direct_runner_is_refused_before_launch(kafka_broker):
    """It would end each partition's read after its first call (it drops the deferred remainder)."""
    from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner

    pipeline = beam.Pipeline(runner=BundleBasedDirectRunner(), options=PipelineOptions(["--streaming"]))
    with pytest.raises(ValueError, match="BundleBasedDirectRunner does not resume"):
        pipeline | ReadWireStoriesFromKafka(kafka_broker.bootstrap, "t", start="earliest")


def test_start_positions(kafka_broker):
    topic = kafka_broker.new_topic("start", 3)
    produce(kafka_broker.bootstrap, topic, 30)
    consumer = KafkaConsumer(bootstrap_servers=kafka_broker.bootstrap, group_id="resume",
                             enable_auto_commit=False)
    consumer.commit({TopicPartition(topic, p): OffsetAndMetadata(6, "", -1) for p in range(3)})
    consumer.close()

    # committed: from offset 6 of each partition
    with streaming_pipeline() as p:
        raw = p | "committed" >> ReadWireStoriesFromKafka(
            kafka_broker.bootstrap, topic, group="resume", start="committed", stop_at_end=True)
        assert_that(raw | beam.Map(lambda r: (r.source.partition, r.source.offset)),
                    equal_to([(q, o) for q in range(3) for o in range(6, 10)]), label="committed")
    # latest: nothing that exists at start
    with streaming_pipeline() as p:
        raw = p | "latest" >> ReadWireStoriesFromKafka(
            kafka_broker.bootstrap, topic, start="latest", stop_at_end=True)
        assert_that(raw, equal_to([]), label="latest")
    # a time: records whose timestamp is at or after it (record i has BASE_TS + i s)
    with streaming_pipeline() as p:
        raw = p | "time" >> ReadWireStoriesFromKafka(
            kafka_broker.bootstrap, topic, start=BASE_TS + 20_000, stop_at_end=True)
        assert_that(raw | beam.Map(lambda r: r.raw),
                    equal_to([b"story %d" % i for i in range(20, 30)]), label="time")


@pytest.mark.parametrize("runner", ["prism", "portable"])
def test_commit_reaches_end_offsets_only_when_every_item_is_acknowledged(kafka_broker, runner):
    topic = kafka_broker.new_topic("commit", 3)
    produce(kafka_broker.bootstrap, topic, 60)
    group = f"g-{runner}"

    def items(raw):
        # every third record is a package of three items; the others hold one
        count = 3 if raw.source.offset % 3 == 0 else 1
        return [raw.source.for_item(i, count) for i in range(count)]

    pipeline = streaming_pipeline() if runner == "prism" else portable_pipeline()
    with pipeline as p:
        raw = p | ReadWireStoriesFromKafka(kafka_broker.bootstrap, topic, group=group,
                                           stop_at_end=True)
        positions = raw | beam.FlatMap(items)
        # partition 2 never acknowledges item 1 of offset 9: its commit stops at 9
        acks = positions | beam.Filter(
            lambda s: not (s.partition == 2 and s.offset == 9 and s.item_index == 1))
        commits = acks | CommitKafkaOffsets(kafka_broker.bootstrap, group)
        assert_that(commits | beam.combiners.Count.Globally(), lambda n: n[0] > 0)
    assert committed(kafka_broker.bootstrap, group, topic) == {0: 20, 1: 20, 2: 9}


def test_sinks_write_decodable_avro_and_pass_delivered_records_on(kafka_broker):
    out_topic = kafka_broker.new_topic("stories-out", 1)
    dead_topic = kafka_broker.new_topic("dead-out", 1)
    stories = [sample_story(offset) for offset in range(5)]
    dead = DeadLetter(raw=b"\x00garbage", source=sample_story(9).source, stage="parse",
                      reason="unrecognised_format", error="no format", failed_at=BASE_TS)
    with streaming_pipeline() as p:
        written = (p | "stories" >> beam.Create(stories)
                   | WriteStoriesToKafka(kafka_broker.bootstrap, out_topic))
        positions = (p | "dead" >> beam.Create([dead])
                     | WriteDeadLettersToKafka(kafka_broker.bootstrap, dead_topic, emit="positions"))
        assert_that(written | beam.Map(lambda s: s.id), equal_to([s.id for s in stories]),
                    label="stories")
        assert_that(positions | beam.Map(lambda s: s.offset), equal_to([9]), label="dead")
    messages = read_all(kafka_broker.bootstrap, out_topic)
    assert sorted(m.key for m in messages) == sorted(s.id.encode() for s in stories)
    assert sorted(decode_story_message(m.value)["source"]["offset"] for m in messages) == list(range(5))
    [dead_message] = read_all(kafka_broker.bootstrap, dead_topic)
    kind, record = decode_message(dead_message.value)
    assert kind == "dead_letter" and record["raw"] == b"\x00garbage"
    assert record["source"]["partition"] == 1 and record["source"]["offset"] == 9


def read_all(bootstrap: str, topic: str, partitions: int = 1, timeout: float = 10.0) -> list:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    consumer.assign(tps)
    consumer.seek_to_beginning()
    records, idle_since = [], time.monotonic()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and time.monotonic() - idle_since < 1.5:
        batch = consumer.poll(timeout_ms=300)
        for recs in batch.values():
            records.extend(recs)
            idle_since = time.monotonic()
    consumer.close()
    return records


def test_unbounded_read_discovers_a_topic_created_later_and_commits(kafka_broker):
    topic = f"later-{time.monotonic_ns()}"
    pipeline = streaming_pipeline()
    raw = pipeline | ReadWireStoriesFromKafka(kafka_broker.bootstrap, topic, group="later",
                                              start="earliest", discovery_interval=0.5)
    raw | beam.Map(lambda r: r.source) | CommitKafkaOffsets(kafka_broker.bootstrap, "later")
    result = pipeline.run()
    try:
        time.sleep(2)
        kafka_broker.create_topic(topic, 2)  # partitions appear after the start
        produce(kafka_broker.bootstrap, topic, 20, partitions=2)
        deadline = time.monotonic() + 60
        while committed(kafka_broker.bootstrap, "later", topic, 2) != {0: 10, 1: 10}:
            assert time.monotonic() < deadline, committed(kafka_broker.bootstrap, "later", topic, 2)
            time.sleep(0.5)
        produce(kafka_broker.bootstrap, topic, 10, partitions=2, start=20)  # keeps reading
        while committed(kafka_broker.bootstrap, "later", topic, 2) != {0: 15, 1: 15}:
            assert time.monotonic() < deadline, committed(kafka_broker.bootstrap, "later", topic, 2)
            time.sleep(0.5)
    finally:
        cancel_and_wait(result)


def test_reader_survives_a_broker_outage_and_resumes_where_it_was(kafka_broker):
    """The broker stops mid-run and comes back on the same port with its data (topics,
    records, committed offsets); the reader carries on from its own position and reads
    what is produced after the outage."""
    import signal
    import subprocess
    import sys

    topic = kafka_broker.new_topic("outage", 3)
    produce(kafka_broker.bootstrap, topic, 30)
    # Its own process: the pipeline must not share an SDK worker with the jobs
    # the earlier tests of this module ran (and cancelled) in this one.
    log = open(kafka_broker.home / "outage-pipeline.log", "w")  # noqa: SIM115  (closed below)
    child = subprocess.Popen([sys.executable, "-c", _OUTAGE_PIPELINE, kafka_broker.bootstrap, topic],
                             cwd=Path(__file__).resolve().parents[1], stdout=log,
                             stderr=subprocess.STDOUT, start_new_session=True)

    def tail() -> str:
        if child.poll() is None:  # a stalled pipeline: its threads' stacks, for the report
            os.kill(child.pid, signal.SIGUSR1)
            time.sleep(2)
        return stall_report((kafka_broker.home / "outage-pipeline.log").read_text(errors="replace"))

    try:
        deadline = time.monotonic() + 90
        while committed(kafka_broker.bootstrap, "outage", topic) != {0: 10, 1: 10, 2: 10}:
            if child.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"nothing committed in 90 s, exit {child.poll()}:\n{tail()}")
            time.sleep(0.5)
        kafka_broker.stop()
        time.sleep(3)  # readers and the commit stage see the broker gone
        kafka_broker.start()
        produce(kafka_broker.bootstrap, topic, 30, start=30)  # offsets 10-19 of each partition
        deadline = time.monotonic() + 90
        while committed(kafka_broker.bootstrap, "outage", topic) != {0: 20, 1: 20, 2: 20}:
            if child.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"committed {committed(kafka_broker.bootstrap, 'outage', topic)} after the "
                            f"restart, exit {child.poll()}:\n{tail()}")
            time.sleep(0.5)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
        child.wait(30)
        log.close()


#: The outage test's pipeline (argv: bootstrap, topic): the Kafka source and the
#: offset commits alone, on Prism, until killed.
_OUTAGE_PIPELINE = """
import faulthandler
import signal
import sys
faulthandler.register(signal.SIGUSR1, all_threads=True)
import logging
logging.basicConfig(level=logging.WARNING)
logging.getLogger("transforms").setLevel(logging.DEBUG)  # each reader call and commit, for a stall's report
import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from pipelines.runners import resolve_runner
from transforms.kafka_io import CommitKafkaOffsets, ReadWireStoriesFromKafka

bootstrap, topic = sys.argv[1], sys.argv[2]
options = PipelineOptions(["--streaming"])
pipeline = beam.Pipeline(runner=resolve_runner(options), options=options)
raw = pipeline | ReadWireStoriesFromKafka(bootstrap, topic, group="outage", start="earliest",
                                          discovery_interval=0.5)
raw | beam.Map(lambda r: r.source) | CommitKafkaOffsets(bootstrap, "outage")
pipeline.run().wait_until_finish()
"""
