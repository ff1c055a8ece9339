"""The reader's consumer pool positions consumers itself.

A new consumer asked for its position before it was sought starts kafka-python's
offset reset (to the end, by default); landing after the seek, that reset moved
a bounded read of one partition to its end, and the partition was taken for
read with nothing read (50 records skipped on Flink). The pool seeks a new
consumer before anything reads its position, resets to the earliest offset if
a reset ever happens, and seeks again whenever a call starts where the
consumer does not stand.
"""

from __future__ import annotations

import kafka
import pytest

from transforms.io import kafka_source
from transforms.io.kafka_source import _Partition, _ReaderPool


class RecordingConsumer:
    """Stands in for KafkaConsumer: records the calls the pool makes."""

    made: list["RecordingConsumer"] = []

    def __init__(self, **config):
        self.config = config
        self.calls: list[tuple] = []
        RecordingConsumer.made.append(self)

    def assign(self, partitions):
        self.calls.append(("assign", tuple(partitions)))

    def seek(self, tp, offset):
        self.calls.append(("seek", offset))

    def position(self, tp):  # the call that must not come first
        self.calls.append(("position",))
        return 999

    def close(self):
        self.calls.append(("close",))


@pytest.fixture
def pool(monkeypatch):
    RecordingConsumer.made = []
    monkeypatch.setattr(kafka, "KafkaConsumer", RecordingConsumer)
    return _ReaderPool()


PARTITION = _Partition("127.0.0.1:1", "wire", 2, 0, None)


def test_a_new_consumer_is_sought_before_anything_else_and_resets_to_earliest(pool):
    consumer = pool.get(PARTITION, {}, 40)
    assert consumer.calls[0][0] == "assign"
    assert consumer.calls[1] == ("seek", 40)
    assert ("position",) not in consumer.calls
    assert consumer.config["auto_offset_reset"] == "earliest"
    assert consumer.config["enable_auto_commit"] is False


def test_a_given_reset_policy_wins(pool):
    consumer = pool.get(PARTITION, {"auto_offset_reset": "latest"}, 0)
    assert consumer.config["auto_offset_reset"] == "latest"


def test_a_call_starting_where_the_last_ended_keeps_the_prefetch_and_others_seek(pool):
    consumer = pool.get(PARTITION, {}, 0)
    pool.ended_at(PARTITION, {}, 25)
    assert pool.get(PARTITION, {}, 25) is consumer
    assert consumer.calls.count(("seek", 25)) == 0  # stands there: no seek
    assert pool.get(PARTITION, {}, 10) is consumer
    assert consumer.calls[-1] == ("seek", 10)  # elsewhere: sought


def test_an_unknown_standing_always_seeks(pool):
    consumer = pool.get(PARTITION, {}, 0)
    pool.ended_at(PARTITION, {}, None)  # a batch not fully claimed
    pool.get(PARTITION, {}, 0)
    assert consumer.calls.count(("seek", 0)) == 2


def test_a_dropped_consumer_is_closed_and_replaced(pool):
    first = pool.get(PARTITION, {}, 5)
    pool.drop(PARTITION, {})
    second = pool.get(PARTITION, {}, 5)
    assert first is not second and first.calls[-1] == ("close",)
    assert second.calls[1] == ("seek", 5)


def test_the_module_pool_is_one_of_these():
    assert isinstance(kafka_source._READERS, _ReaderPool)


def test_a_consumer_accepts_the_largest_fetch_it_can_be_sent(pool):
    from kafka.consumer.group import KafkaConsumer as Real

    consumer = pool.get(PARTITION, {}, 0)
    defaults = Real.DEFAULT_CONFIG
    assert consumer.config["receive_message_max_bytes"] > defaults["fetch_max_bytes"]
    assert consumer.config["receive_message_max_bytes"] > defaults["max_partition_fetch_bytes"]


def test_reader_calls_end_after_a_tenth_of_a_second_on_flink_and_for_prompt_readers_on_prism():
    """On Prism and Flink a bundle's records reach the next stage only when its call ends."""
    from types import SimpleNamespace

    from apache_beam.runners.portability.flink_runner import FlinkRunner
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner
    from apache_beam.runners.portability.prism_runner import PrismRunner

    from transforms.io.kafka_source import PRISM_CALL_SECONDS, READER_CALL_SECONDS, reader_call_seconds

    assert READER_CALL_SECONDS <= 0.1 < PRISM_CALL_SECONDS
    prism, flink = SimpleNamespace(runner=PrismRunner()), SimpleNamespace(runner=FlinkRunner())
    assert reader_call_seconds(prism, prompt=True) == READER_CALL_SECONDS
    assert reader_call_seconds(prism) == PRISM_CALL_SECONDS
    assert reader_call_seconds(flink) == reader_call_seconds(flink, prompt=True) == READER_CALL_SECONDS
    assert reader_call_seconds(SimpleNamespace(runner=FnApiRunner()), prompt=True) is None
    # ... and on the runners the CLI resolves (subclasses of Beam's).
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines.runners import resolve_runner

    cli_prism = SimpleNamespace(runner=resolve_runner(PipelineOptions(["--runner=PrismRunner"])))
    cli_flink = SimpleNamespace(runner=resolve_runner(PipelineOptions(["--runner=FlinkRunner"])))
    assert reader_call_seconds(cli_prism, prompt=True) == READER_CALL_SECONDS
    assert reader_call_seconds(cli_prism) == PRISM_CALL_SECONDS
    assert reader_call_seconds(cli_flink) == READER_CALL_SECONDS


def test_arrival_order_makes_the_cli_reader_prompt():
    """``--dedup-order arrival`` asks for the prompt reader (its latency rests on it)."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines.ingest import read_sources
    from pipelines.options import IngestOptions
    from transforms.io import kafka_source

    seen = []
    original = kafka_source.ReadWireStoriesFromKafka.__init__

    def spy(self, *args, **kwargs):
        seen.append(kwargs.get("prompt"))
        original(self, *args, **{**kwargs, "check_at_start": False})

    for order, prompt in (("arrival", True), ("event-time", False)):
        options = PipelineOptions(["--kafka-bootstrap", "127.0.0.1:1", "--kafka-topic", "t",
                                   "--kafka-start", "earliest", "--dedup-order", order])
        kafka_source.ReadWireStoriesFromKafka.__init__ = spy
        try:
            read_sources(beam.Pipeline(), options.view_as(IngestOptions))
        finally:
            kafka_source.ReadWireStoriesFromKafka.__init__ = original
        assert seen[-1] is prompt
