"""Kafka offset commits fed by the sinks' acknowledgements.

In: ``SourcePosition`` acknowledgements of every item that reached its end
(written story, written dead letter, dropped duplicate). Out: committed
group offsets. Guarantees: per partition, only the highest offset below
which every record is done on every acknowledgement stream is committed, so
a restart replays (duplicates), never skips (gaps). Keyed state only: the
same behaviour on every runner.
"""

from __future__ import annotations

import logging
from typing import Iterable, NamedTuple, Optional

import apache_beam as beam
from apache_beam import coders
from apache_beam.metrics import Metrics
from apache_beam.transforms.userstate import BagStateSpec, ReadModifyWriteStateSpec
from apache_beam.transforms.trigger import AccumulationMode, AfterCount, Repeatedly
from apache_beam.transforms.window import GlobalWindows

from transforms import telemetry
from transforms.io.kafka_common import _NAMESPACE, retry_while_broker_away
from transforms.model import SourcePosition

__all__ = [
    "CommitKafkaOffsets",
    "advance_frontier",
]

_LOG = logging.getLogger(__name__)


# --------------------------------------------------------------------------- offset commits


class _Ack(NamedTuple):
    """One acknowledged item: (offset, first offset covered, reader start, item, items, stream)."""

    offset: int
    span_start: int
    read_from: int
    item_index: int
    item_count: int
    stream: int


def advance_frontier(frontier: int, acks: Iterable[_Ack], streams: int = 1) -> tuple[int, list[_Ack]]:
    """Move the commit frontier over every record whose items are all acknowledged.

    ``frontier`` is the next offset not known to be done. A record covers
    ``[span_start, offset]`` (the gap before it, if any, and itself); it is
    done when each of its ``item_count`` items is acknowledged on each of
    ``streams`` acknowledgement streams. Returns the new frontier and the
    acknowledgements still needed (those at or beyond it).
    """
    acks = list(acks)
    by_offset: dict[int, dict] = {}
    for ack in acks:
        if ack.offset < frontier:
            continue
        entry = by_offset.setdefault(ack.offset, {"span": ack.span_start, "count": 1, "done": set()})
        entry["span"] = min(entry["span"], ack.span_start)
        entry["count"] = max(entry["count"], ack.item_count)
        entry["done"].add((ack.item_index, ack.stream))
    for offset in sorted(by_offset):
        entry = by_offset[offset]
        if entry["span"] > frontier or len(entry["done"]) < entry["count"] * streams:
            break
        frontier = offset + 1
    remaining = [ack for ack in acks if ack.offset >= frontier]
    return frontier, _unique(remaining)


def _unique(acks: list[_Ack]) -> list[_Ack]:
    return list(dict.fromkeys(acks))


class CommitKafkaOffsets(beam.PTransform):
    """Commit, per partition, the offset below which every record is written.

    Input: one PCollection of acknowledgements (``SourcePosition``), or a
    tuple/list of them when items go to several sinks (a record is done only
    when every stream acknowledged all its items). Non-Kafka positions are
    ignored. Output: ``((topic, partition), committed_offset)`` each time a
    partition's commit point moves.
    """

    def __init__(self, bootstrap: str, group: str, consumer_config: Optional[dict] = None):
        super().__init__()
        if not group:
            raise ValueError("group: committing offsets needs a consumer group")
        self._bootstrap = bootstrap
        self._group = group
        self._consumer_config = dict(consumer_config or {})

    def expand(self, acks):
        streams = list(acks) if isinstance(acks, (tuple, list)) else [acks]
        tagged = [
            stream | f"Tag{index}" >> beam.FlatMap(_to_ack, index).with_output_types(
                tuple[tuple[str, int], tuple[int, int, int, int, int, int]])
            for index, stream in enumerate(streams)
        ]
        merged = tagged[0] if len(tagged) == 1 else tuple(tagged) | "MergeAcks" >> beam.Flatten()
        return (
            merged
            # Acks of windowed sinks return to one global window, firing per
            # element (runners that execute state behind a GroupByKey need a trigger).
            | "GlobalWindow" >> beam.WindowInto(
                GlobalWindows(), trigger=Repeatedly(AfterCount(1)),
                accumulation_mode=AccumulationMode.DISCARDING)
            | "CommitOffsets" >> beam.ParDo(
                _CommitOffsetsFn(self._bootstrap, self._group, len(streams), self._consumer_config))
            # The commits leave with the default trigger: an aggregation downstream
            # (a count of commits) fires once per window, not once per element.
            | "DefaultWindowing" >> beam.WindowInto(GlobalWindows())
        )


def _to_ack(position: SourcePosition, stream: int):
    if getattr(position, "kind", None) != "kafka" or position.offset is None:
        return
    read_from, span_start = position.kafka_span or (position.offset, position.offset)
    yield ((position.topic, position.partition),
           (position.offset, span_start, read_from, position.item_index,
            max(1, position.item_count), stream))


class _CommitOffsetsFn(beam.DoFn):
    """Keyed by (topic, partition): keeps pending acks and the frontier in state."""

    PENDING = BagStateSpec("pending", coders.TupleCoder([coders.VarIntCoder()] * 6))
    FRONTIER = ReadModifyWriteStateSpec("frontier", coders.VarIntCoder())

    def __init__(self, bootstrap: str, group: str, streams: int, consumer_config: dict):
        self._bootstrap = bootstrap
        self._group = group
        self._streams = streams
        self._consumer_config = consumer_config
        self._commits = Metrics.counter(_NAMESPACE, "kafka_offset_commits")

    def setup(self):
        self._consumer = None

    def teardown(self):
        if self._consumer is not None:
            self._consumer.close()

    def start_bundle(self):
        self._to_commit: dict[tuple[str, int], int] = {}

    def process(self, element, pending=beam.DoFn.StateParam(PENDING),
                frontier_state=beam.DoFn.StateParam(FRONTIER)):
        key, values = element
        ack = _Ack(*values)
        frontier = frontier_state.read()
        if frontier is None:
            frontier = ack.read_from
        if ack.offset < frontier:
            return  # a replayed item of a record already committed
        waiting = [_Ack(*entry) for entry in pending.read()]
        waiting.append(ack)
        new_frontier, remaining = advance_frontier(frontier, waiting, self._streams)
        pending.clear()
        for entry in remaining:
            pending.add(tuple(entry))
        frontier_state.write(new_frontier)
        if new_frontier > frontier:
            self._to_commit[tuple(key)] = new_frontier
            yield (tuple(key), new_frontier)

    def finish_bundle(self):
        # Commit before the bundle (and its state) commits: if this fails the
        # bundle is retried; if the state is lost after it, commits repeat.
        if not self._to_commit:
            return
        from kafka import KafkaConsumer, TopicPartition
        from kafka.structs import OffsetAndMetadata

        offsets = {TopicPartition(topic, partition): OffsetAndMetadata(offset, "", -1)
                   for (topic, partition), offset in self._to_commit.items()}

        def commit() -> None:
            # The consumer is made inside the retry: the first commit may come
            # while the broker is away (NoBrokersAvailable from its constructor).
            if self._consumer is None:
                self._consumer = KafkaConsumer(bootstrap_servers=self._bootstrap, group_id=self._group,
                                               enable_auto_commit=False, **self._consumer_config)
            self._consumer.commit(offsets, timeout_ms=30_000)

        retry_while_broker_away(commit, "kafka offset commit")
        _LOG.debug("committed %s for group %s", dict(self._to_commit), self._group)
        self._commits.inc(len(offsets))
        for topic, _ in self._to_commit:
            telemetry.count("kafka_offset_commits", topic=topic)
        self._to_commit = {}
