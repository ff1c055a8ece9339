"""The Kafka source: ``ReadWireStoriesFromKafka`` (kafka-python, no Java).

In: a bootstrap address, a topic and where to start. Out: ``RawInput``, one
per Kafka record, timestamped with the record's timestamp, ``source`` a
``SourcePosition(kind="kafka", ...)`` and ``format_hint`` from the
``wire-format`` header. Guarantees: at-least-once; offset order within a
partition, nothing across partitions; partitions created later are picked
up; a caught-up partition does not hold the watermark back. A broker
unreachable at start raises ``BrokerUnavailableError`` before launch.
Offsets are committed elsewhere (``transforms.io.kafka_commit``).
"""

from __future__ import annotations

import atexit
import datetime as _dt
import json
import logging
import sys
import threading
import time
from typing import Any, Iterator, NamedTuple, Optional, Sequence, Union

import apache_beam as beam
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.metrics import Metrics
from apache_beam.transforms.core import RestrictionProvider, WatermarkEstimatorProvider
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import Duration, Timestamp

from transforms import telemetry
from transforms.io.kafka_common import BrokerUnavailableError, FORMAT_HEADER, _NAMESPACE, kafka_uri
from transforms.model import RawInput, SourcePosition
from transforms.io.resume import pause_then_defer, runner_honours_resume_delays

__all__ = [
    "close_kafka_readers",
    "ReadWireStoriesFromKafka",
    "check_broker",
    "parse_start",
    "java_reader_start_offsets",
    "START_COMMITTED",
    "START_EARLIEST",
    "START_LATEST",
]

_LOG = logging.getLogger(__name__)


START_COMMITTED = "committed"
START_EARLIEST = "earliest"
START_LATEST = "latest"
_UNBOUNDED_END = sys.maxsize


# --------------------------------------------------------------------------- config helpers


def parse_start(start: Union[str, int, _dt.datetime, None]) -> Union[str, int]:
    """``committed`` | ``earliest`` | ``latest`` | a timestamp (millis, datetime or ISO-8601).

    Raises:
        ValueError: naming ``start`` when the value is none of these.
    """
    if start is None:
        return START_COMMITTED
    if isinstance(start, bool):
        raise ValueError(f"start: expected committed, earliest, latest or a time, got {start!r}")
    if isinstance(start, int):
        return start
    if isinstance(start, _dt.datetime):
        moment = start if start.tzinfo else start.replace(tzinfo=_dt.timezone.utc)
        return int(moment.timestamp() * 1000)
    text = str(start).strip()
    if text.lower() in (START_COMMITTED, START_EARLIEST, START_LATEST):
        return text.lower()
    try:
        moment = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"start: expected committed, earliest, latest or an ISO-8601 time, got {start!r}"
        ) from None
    return parse_start(moment)


def check_broker(bootstrap: str, attempts: int = 3, timeout: float = 2.0, backoff: float = 0.5,
                 consumer_config: Optional[dict] = None) -> None:
    """Fail fast when no broker answers at ``bootstrap``.

    Raises:
        BrokerUnavailableError: after ``attempts`` tries of ``timeout`` seconds each.
    """
    from kafka import KafkaConsumer

    last: Optional[BaseException] = None
    for attempt in range(attempts):
        consumer = None
        try:
            consumer = KafkaConsumer(
                bootstrap_servers=bootstrap,
                api_version_auto_timeout_ms=int(timeout * 1000),
                request_timeout_ms=max(int(timeout * 1000), 1000),
                **(consumer_config or {}),
            )
            consumer.topics()
            return
        except Exception as error:  # any failure to talk to the broker counts as unreachable
            last = error
            if attempt + 1 < attempts:
                time.sleep(backoff * (2 ** attempt))
        finally:
            if consumer is not None:
                consumer.close()
    raise BrokerUnavailableError(
        f"Kafka broker unreachable at {bootstrap} after {attempts} attempts: {last}"
    )


# --------------------------------------------------------------------------- source


class _Partition(NamedTuple):
    """What the reader of one partition needs: where to start, where to stop."""

    bootstrap: str
    topic: str
    partition: int
    start: int
    stop: Optional[int]  # exclusive; None reads on forever


class ReadWireStoriesFromKafka(beam.PTransform):
    """Read raw wire stories from a Kafka topic as ``RawInput`` records.

    Args:
        bootstrap: ``HOST:PORT[,HOST:PORT...]``.
        topic: the topic to read.
        group: consumer group whose committed offsets are the start position
            (``start="committed"``) and where ``CommitKafkaOffsets`` commits.
        start: ``committed`` (default; falls back to ``earliest`` where the
            group has no offset), ``earliest``, ``latest``, or a time (millis,
            datetime, ISO-8601): the first record whose timestamp is at or after it.
        stop_at_end: bounded mode: stop at the end offsets seen at start.
        poll_timeout: seconds one poll waits for records.
        idle_resume: seconds a caught-up reader waits before it polls again.
        discovery_interval: seconds between looks for new partitions.
        watermark_delay: seconds the watermark stays behind record times.
        max_records_per_call: records read before the reader checkpoints itself.
        check_at_start: check the broker when the pipeline is built.
        consumer_config: extra kafka-python ``KafkaConsumer`` settings.
        prompt: for pipelines whose every step passes a record on at once
            (``--dedup-order arrival``): on Prism too, calls end after
            ``READER_CALL_SECONDS`` (see ``reader_call_seconds``).

    Raises:
        ValueError: on bad options (named).
        BrokerUnavailableError: when ``check_at_start`` and no broker answers.
    """

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        group: Optional[str] = None,
        start: Union[str, int, _dt.datetime, None] = START_COMMITTED,
        stop_at_end: bool = False,
        poll_timeout: float = 0.5,
        idle_resume: float = 0.5,
        discovery_interval: float = 10.0,
        watermark_delay: float = 5.0,
        max_records_per_call: int = 10_000,
        check_at_start: bool = True,
        consumer_config: Optional[dict] = None,
        prompt: bool = False,
    ):
        super().__init__()
        if not bootstrap:
            raise ValueError("bootstrap: give HOST:PORT of a Kafka broker")
        if not topic:
            raise ValueError("topic: give the topic to read")
        self._start = parse_start(start)
        if self._start == START_COMMITTED and not group:
            raise ValueError("group: start=committed needs a consumer group")
        for name, value in (("poll_timeout", poll_timeout), ("idle_resume", idle_resume),
                            ("discovery_interval", discovery_interval)):
            if value <= 0:
                raise ValueError(f"{name}: must be a positive number of seconds")
        if watermark_delay < 0:
            raise ValueError("watermark_delay: must be >= 0 seconds")
        if max_records_per_call < 1:
            raise ValueError("max_records_per_call: must be >= 1")
        self._bootstrap = bootstrap
        self._topic = topic
        self._group = group
        self._stop_at_end = stop_at_end
        self._consumer_config = dict(consumer_config or {})
        self._read = dict(poll_timeout=poll_timeout, idle_resume=idle_resume,
                          watermark_delay=watermark_delay,
                          max_records_per_call=max_records_per_call)
        self._discovery_interval = discovery_interval
        self._check_at_start = check_at_start
        self._prompt = prompt

    def expand(self, pbegin):
        if self._check_at_start:
            check_broker(self._bootstrap, consumer_config=self._consumer_config)
        locate = _LocatePartitions(self._bootstrap, self._group, self._start, self._stop_at_end,
                                   self._consumer_config)
        if self._stop_at_end:
            discover = _ListPartitionsFn(locate)
            read = _ReadBoundedPartitionFn(self._consumer_config, **self._read)
        else:
            delays = runner_honours_resume_delays(pbegin.pipeline)
            discover = _WatchPartitionsFn(locate, self._discovery_interval, resume_delays=delays)
            read = _ReadPartitionFn(self._consumer_config,
                                    call_seconds=reader_call_seconds(pbegin.pipeline, self._prompt),
                                    resume_delays=delays, **self._read)
        return (
            pbegin
            | "Impulse" >> beam.Create([self._topic])
            | "DiscoverPartitions" >> beam.ParDo(discover)
            | "ReadPartitions" >> beam.ParDo(read).with_output_types(RawInput)
        )


#: Seconds a reader's call runs before it checkpoints, on Flink, and on Prism
#: for prompt readers; see ``reader_call_seconds``.
READER_CALL_SECONDS = 0.1
#: The same on Prism for readers that are not prompt.
PRISM_CALL_SECONDS = 0.5


def reader_call_seconds(pipeline, prompt: bool = False) -> Optional[float]:
    """How long one call of the unbounded reader may run on the pipeline's runner.

    Prism and Beam's Flink runner hand a bundle's output to the next fused
    stage only when the bundle ends, and neither splits a reader that keeps
    making progress: a partition with a steady trickle of records would hold
    them behind every shuffle (dedup, the file sinks) until it caught up, on
    Flink for as long as the feed lasted (measured: p50 23 s at 100
    stories/s). So there a call ends, checkpointing its remainder (resumed at
    once), after ``READER_CALL_SECONDS`` on Flink, and on Prism after
    ``READER_CALL_SECONDS`` for a ``prompt`` reader (0.1 s gave p50 0.24 s
    and p99 0.68 s at 100 stories/s with ``--dedup-order arrival``, 0.5 s
    gave p50 0.71 s and p99 1.77 s) or ``PRISM_CALL_SECONDS`` otherwise: in
    event-time order the watermark wait dominates, and one full-suite run
    with 0.1 s calls there saw a Prism pipeline whose readers were all caught
    up hold 21 stories in dedup for two minutes, never seen with 0.5 s.
    Elsewhere (the FnApiRunner) a call reads until it is caught up (None).

    Raises:
      ValueError: on Beam's BundleBasedDirectRunner, which does not resume a
        deferred remainder (the read would stop after its first call).
    """
    from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner
    from apache_beam.runners.portability.flink_runner import FlinkRunner
    from apache_beam.runners.portability.prism_runner import PrismRunner

    runner = getattr(pipeline, "runner", None)
    if isinstance(runner, BundleBasedDirectRunner):
        raise ValueError("ReadWireStoriesFromKafka: the BundleBasedDirectRunner does not resume "
                         "splittable DoFns; run on Prism (--runner PrismRunner, or DirectRunner "
                         "with --streaming), the FnApiRunner, the portable runner or Flink")
    if isinstance(runner, FlinkRunner):
        return READER_CALL_SECONDS
    if isinstance(runner, PrismRunner):
        return READER_CALL_SECONDS if prompt else PRISM_CALL_SECONDS
    return None


class _LocatePartitions:
    """Turns partition numbers into ``_Partition`` descriptors (resolves start and stop)."""

    def __init__(self, bootstrap, group, start, stop_at_end, consumer_config):
        self.bootstrap = bootstrap
        self.group = group
        self.start = start
        self.stop_at_end = stop_at_end
        self.consumer_config = consumer_config

    def consumer(self):
        from kafka import KafkaConsumer

        return KafkaConsumer(bootstrap_servers=self.bootstrap, group_id=self.group,
                             enable_auto_commit=False, **self.consumer_config)

    def partitions(self, consumer, topic: str) -> list[int]:
        consumer.topics()  # refreshes the metadata cache
        return sorted(consumer.partitions_for_topic(topic) or ())

    def describe(self, consumer, topic: str, partitions: Sequence[int]) -> list[_Partition]:
        from kafka import TopicPartition

        tps = [TopicPartition(topic, p) for p in partitions]
        if not tps:
            return []
        begin = consumer.beginning_offsets(tps)
        end = consumer.end_offsets(tps) \
            if self.stop_at_end or self.start in (START_LATEST,) or isinstance(self.start, int) \
            else {}
        out = []
        for tp in tps:
            if self.start == START_EARLIEST:
                first = begin[tp]
            elif self.start == START_LATEST:
                first = end[tp]
            elif self.start == START_COMMITTED:
                committed = consumer.committed(tp)
                first = begin[tp] if committed is None else max(committed, begin[tp])
            else:
                first = _offset_for_time(consumer, tp, self.start, end[tp])
            stop = end.get(tp) if self.stop_at_end else None
            if stop is not None:
                first = min(first, stop)
            out.append(_Partition(self.bootstrap, topic, tp.partition, first, stop))
            _LOG.info("kafka %s partition %d: reading from offset %d to %s",
                      topic, tp.partition, first, "end" if stop is None else stop)
        return out


def java_reader_start_offsets(bootstrap: str, topic: str, group: str,
                              start: Union[str, int]) -> dict[int, int]:
    """Partition -> the offset a read of ``topic`` for ``group`` starts at, as
    this reader's ``describe`` finds it (committed, else earliest; or by time).
    The Java reader's commit frontier starts there."""
    locate = _LocatePartitions(bootstrap, group, start, False, {})
    consumer = locate.consumer()
    try:
        partitions = locate.partitions(consumer, topic)
        return {p.partition: p.start for p in locate.describe(consumer, topic, partitions)}
    finally:
        consumer.close()


def _offset_for_time(consumer, tp, millis: int, end: int) -> int:
    """Offset of the first record with timestamp >= ``millis`` (``end`` if none),
    as the broker's ListOffsets by timestamp answers it."""
    found = consumer.offsets_for_times({tp: millis}).get(tp)
    return end if found is None else min(found.offset, end)


class _ListPartitionsFn(beam.DoFn):
    """Bounded mode: the partitions that exist at start, with their end offsets."""

    def __init__(self, locate: _LocatePartitions):
        self._locate = locate

    def process(self, topic: str) -> Iterator[_Partition]:
        consumer = self._locate.consumer()
        try:
            partitions = self._locate.partitions(consumer, topic)
            yield from self._locate.describe(consumer, topic, partitions)
        finally:
            consumer.close()


class _PartitionNumbersProvider(RestrictionProvider):
    """Restriction: the partition numbers still to emit, [next, infinity)."""


    def initial_restriction(self, element):
        return OffsetRange(0, _UNBOUNDED_END)

    def create_tracker(self, restriction):
        return _CheckpointOnlyTracker(restriction)

    def split(self, element, restriction):
        yield restriction

    def restriction_size(self, element, restriction):
        return 1

    def truncate(self, element, restriction):
        return None


class _CheckpointOnlyTracker(OffsetRestrictionTracker):
    """An offset tracker that splits only at checkpoints (fraction 0)."""

    def try_split(self, fraction_of_remainder):
        if fraction_of_remainder > 0:
            return None
        return super().try_split(0)

    def is_bounded(self):
        return self._range.stop != _UNBOUNDED_END


class _WatchPartitionsFn(beam.DoFn):
    """Unbounded mode: emits each partition once, as it appears, forever."""

    def __init__(self, locate: _LocatePartitions, interval: float, resume_delays: bool = True):
        self._locate = locate
        self._interval = interval
        self._resume_delays = resume_delays

    def setup(self):
        self._consumer = None

    def teardown(self):
        if getattr(self, "_consumer", None) is not None:
            _close_quietly(self._consumer)
            self._consumer = None

    @beam.DoFn.unbounded_per_element()
    def process(
        self,
        topic: str,
        tracker=beam.DoFn.RestrictionParam(_PartitionNumbersProvider()),
        watermark=beam.DoFn.WatermarkEstimatorParam(ManualWatermarkEstimator.default_provider()),
    ) -> Iterator[_Partition]:
        yield from self._watch(topic, tracker, watermark)

    def _watch(self, topic: str, tracker, watermark) -> Iterator[_Partition]:
        next_partition = tracker.current_restriction().start
        for descriptor in self._look(topic, next_partition):
            if not tracker.try_claim(descriptor.partition):
                return
            yield descriptor
            next_partition = descriptor.partition + 1
        # Descriptors carry no event time: do not hold the readers' watermark.
        now = Timestamp.now()
        if watermark.current_watermark() is None or watermark.current_watermark() < now:
            watermark.set_watermark(now)
        pause_then_defer(tracker, self._interval, self._resume_delays)

    def _look(self, topic: str, next_partition: int) -> list[_Partition]:
        from kafka.errors import KafkaError

        try:
            if self._consumer is None:
                self._consumer = self._locate.consumer()
            known = self._locate.partitions(self._consumer, topic)
            new = [p for p in known if p >= next_partition]
            return self._locate.describe(self._consumer, topic, new)
        except KafkaError as error:
            _LOG.warning("kafka partition discovery for %s failed, retrying: %s", topic, error)
            return []


class _PartitionOffsetsProvider(RestrictionProvider):
    """Restriction: the offsets of one partition still to read, [next, stop)."""


    def initial_restriction(self, partition: _Partition):
        stop = _UNBOUNDED_END if partition.stop is None else partition.stop
        return OffsetRange(partition.start, max(partition.start, stop))

    def create_tracker(self, restriction):
        return _CheckpointOnlyTracker(restriction)

    def split(self, element, restriction):
        yield restriction

    def restriction_size(self, element, restriction):
        return float(min(restriction.size(), 1 << 30))

    def truncate(self, element, restriction):
        if restriction.stop == _UNBOUNDED_END:
            return None  # draining an unbounded read: stop reading
        return restriction


#: What every reader consumer is given unless the caller says otherwise.
#: kafka-python 2.3 refuses a response frame over ``receive_message_max_bytes``
#: (1,000,000 by default) although one partition's fetch may be 1 MiB
#: (``max_partition_fetch_bytes``) and a whole fetch 50 MiB (``fetch_max_bytes``):
#: a backlog came back as "Invalid frame length" and a reconnect, every fetch.
READER_DEFAULTS: dict = {"auto_offset_reset": "earliest", "receive_message_max_bytes": 64 << 20}


class _ReaderPool:
    """One assigned consumer per partition and process, kept between calls.

    Kept at module level rather than on the DoFn: a runner may resume a
    restriction on another instance of the DoFn, and a consumer kept between
    calls reuses its prefetched records. A restriction
    is processed by one call at a time, so a partition's consumer is never
    used by two threads at once.

    The pool, not the consumer, says where a consumer stands: a new consumer
    is sought to the restriction's start before anything asks it for its
    position, because asking first starts kafka-python's offset reset
    (``auto_offset_reset``), which may land after the seek and move the
    consumer to the end: a bounded read then took its partition for read
    (a partition of 50 records skipped on Flink).
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._consumers: dict[tuple, list] = {}  # key -> [consumer, where its last call ended]

    @staticmethod
    def _key(partition: _Partition, config: dict) -> tuple:
        return (partition.bootstrap, partition.topic, partition.partition,
                json.dumps(config, sort_keys=True, default=str))

    def get(self, partition: _Partition, config: dict, position: int):
        """The partition's consumer, its next record the one at ``position``."""
        from kafka import KafkaConsumer, TopicPartition

        key = self._key(partition, config)
        tp = TopicPartition(partition.topic, partition.partition)
        with self._lock:
            entry = self._consumers.get(key)
        if entry is None:
            # Earliest, should the broker ever reset a position (records deleted
            # under the reader): never skip to the end.
            consumer = KafkaConsumer(bootstrap_servers=partition.bootstrap, enable_auto_commit=False,
                                     **{**READER_DEFAULTS, **config})
            consumer.assign([tp])
            entry = [consumer, None]
            with self._lock:
                self._consumers[key] = entry
        if entry[1] != position:
            entry[0].seek(tp, position)
            entry[1] = position
        return entry[0]

    def ended_at(self, partition: _Partition, config: dict, position: Optional[int]) -> None:
        """The partition's consumer will next return the record at ``position``
        (None: unknown, the next call seeks)."""
        with self._lock:
            entry = self._consumers.get(self._key(partition, config))
        if entry is not None:
            entry[1] = position

    def drop(self, partition: _Partition, config: dict) -> None:
        with self._lock:
            entry = self._consumers.pop(self._key(partition, config), None)
        if entry is not None:
            _close_quietly(entry[0])

    def close_all(self, bootstrap: Optional[str] = None) -> None:
        with self._lock:
            keys = [k for k in self._consumers if bootstrap is None or k[0] == bootstrap]
            entries = [self._consumers.pop(k) for k in keys]
        for consumer, _ in entries:
            _close_quietly(consumer)


def _close_quietly(client) -> None:
    try:
        client.close()
    except Exception:  # closing a broken client: nothing left to save
        pass


_READERS = _ReaderPool()
atexit.register(_READERS.close_all)


def close_kafka_readers(bootstrap: Optional[str] = None) -> None:
    """Close the source's pooled consumers (all, or those of one bootstrap address)."""
    _READERS.close_all(bootstrap)


class _RecordTimeWatermarkProvider(WatermarkEstimatorProvider):
    def initial_estimator_state(self, element, restriction):
        return None

    def create_watermark_estimator(self, state):
        return ManualWatermarkEstimator(state)


class _ReadPartitionFn(beam.DoFn):
    """Reads one partition per restriction, by assignment and seek.

    A call ends, checkpointing its remainder, when it is caught up (resumed
    after ``idle_resume``), after ``max_records_per_call`` records, or after
    ``call_seconds`` (None: no time limit; see ``reader_call_seconds``).
    """

    #: False for readers whose runner may drop a deferred remainder (bounded reads).
    resumes = True

    def __init__(self, consumer_config: dict, poll_timeout: float, idle_resume: float,
                 watermark_delay: float, max_records_per_call: int,
                 call_seconds: Optional[float] = None, resume_delays: bool = True):
        self._call_seconds = call_seconds
        self._resume_delays = resume_delays
        self._consumer_config = consumer_config
        self._poll_ms = int(poll_timeout * 1000)
        self._idle_resume = idle_resume
        self._delay = Duration(seconds=watermark_delay)
        self._max_records = max_records_per_call
        self._records_read = Metrics.counter(_NAMESPACE, "kafka_records_read")
        self._poll_errors = Metrics.counter(_NAMESPACE, "kafka_poll_errors")

    def _consumer(self, partition: _Partition, position: int):
        return _READERS.get(partition, self._consumer_config, position)

    def _drop_consumer(self, partition: _Partition) -> None:
        _READERS.drop(partition, self._consumer_config)

    @beam.DoFn.unbounded_per_element()
    def process(
        self,
        partition: _Partition,
        tracker=beam.DoFn.RestrictionParam(_PartitionOffsetsProvider()),
        watermark=beam.DoFn.WatermarkEstimatorParam(_RecordTimeWatermarkProvider()),
    ) -> Iterator[TimestampedValue]:
        yield from self._read(partition, tracker, watermark)

    def _read(self, partition: _Partition, tracker, watermark) -> Iterator[TimestampedValue]:
        from kafka import TopicPartition
        from kafka.errors import KafkaError

        called_at = time.monotonic()
        tp = TopicPartition(partition.topic, partition.partition)
        restriction = tracker.current_restriction()
        position = restriction.start
        uri = kafka_uri(partition.bootstrap, partition.topic)
        emitted = 0
        failures = 0
        while True:
            try:
                consumer = self._consumer(partition, position)
                batch = consumer.poll(timeout_ms=self._poll_ms, max_records=500).get(tp, [])
                # position() may ask the broker (offset validation after a leader change).
                fetched_to = None if batch else consumer.position(tp)
                failures = 0
                telemetry.source_opened(uri, "kafka")
            except (KafkaError, OSError, AssertionError) as error:
                # Broker gone or metadata stale: back off, keep the position, resume.
                failures += 1
                self._poll_errors.inc()
                self._drop_consumer(partition)
                _LOG.warning("kafka %s[%d] at offset %d: %s (retry %d)", partition.topic,
                             partition.partition, position, error, failures)
                if failures >= 3 and self.resumes:
                    pause_then_defer(tracker, min(2.0 ** failures, 30.0), self._resume_delays,
                                     longest_wait=5.0)
                    return
                time.sleep(min(0.2 * 2 ** failures, 5.0 if self.resumes else 30.0))
                continue
            if not batch:
                next_offset = fetched_to if fetched_to is not None else position
                if restriction.stop != _UNBOUNDED_END and next_offset >= restriction.stop:
                    tracker.try_claim(restriction.stop)  # nothing left before stop
                    return
                if not self.resumes:
                    continue  # records before stop not fetched yet: poll again
                highwater = consumer.highwater(tp)
                if highwater is not None and position >= highwater:
                    self._advance(watermark, Timestamp.now() - self._delay)
                # Where delays are not honoured the poll above was the pause.
                _LOG.debug("reader %s[%d]: caught up at %d (high water %s) after %d records",
                           partition.topic, partition.partition, position, highwater, emitted)
                pause_then_defer(tracker, self._idle_resume if self._resume_delays else 0.0,
                                 self._resume_delays)
                return
            # The consumer stands past this batch until every record of it is claimed.
            _READERS.ended_at(partition, self._consumer_config, None)
            for record in batch:
                if record.offset < position:
                    continue  # already read before a seek
                if not tracker.try_claim(record.offset):
                    return
                yield TimestampedValue(
                    _raw_input(record, uri, partition.start, position),
                    Timestamp.of(record.timestamp / 1000.0),
                )
                self._records_read.inc()
                self._advance(watermark, Timestamp.of(record.timestamp / 1000.0) - self._delay)
                position = record.offset + 1
                _count_read_live(uri, partition, position)
                emitted += 1
            _READERS.ended_at(partition, self._consumer_config, position)  # stands at position
            over_time = self._call_seconds is not None and \
                time.monotonic() - called_at > self._call_seconds
            if self.resumes and (emitted >= self._max_records or over_time):
                _LOG.debug("reader %s[%d]: %d records, checkpoint at %d", partition.topic,
                           partition.partition, emitted, position)
                tracker.defer_remainder()
                return

    @staticmethod
    def _advance(watermark, candidate: Timestamp) -> None:
        current = watermark.current_watermark()
        if current is None or candidate > current:
            watermark.set_watermark(candidate)


class _ReadBoundedPartitionFn(_ReadPartitionFn):
    """The same reader, for bounded reads (``stop_at_end``).

    It reads its partition to the stop offset in one call and never defers a
    remainder: Flink's batch mode drops what a splittable DoFn defers (a whole
    partition was lost that way when its first poll came back empty).
    """

    resumes = False

    def process(
        self,
        partition: _Partition,
        tracker=beam.DoFn.RestrictionParam(_PartitionOffsetsProvider()),
        watermark=beam.DoFn.WatermarkEstimatorParam(_RecordTimeWatermarkProvider()),
    ) -> Iterator[TimestampedValue]:
        yield from self._read(partition, tracker, watermark)


def format_hint(headers: tuple[tuple[str, bytes], ...]) -> Optional[str]:
    """The delivery format a producer named in the ``wire-format`` header."""
    hint = None
    for name, value in headers:
        if name == FORMAT_HEADER:
            hint = value.decode("utf-8", "replace").strip() or None
    return hint


def _raw_input(record, uri: str, read_from: int, span_start: int) -> RawInput:
    headers = tuple((name, bytes(value or b"")) for name, value in (record.headers or ()))
    hint = format_hint(headers)
    source = SourcePosition(
        kind="kafka",
        uri=uri,
        position=f"partition {record.partition} offset {record.offset}",
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        timestamp=record.timestamp,
        headers=headers,
        kafka_span=(read_from, span_start),
    )
    return RawInput(raw=record.value if record.value is not None else b"", source=source,
                    format_hint=hint, event_time=record.timestamp)


def _count_read_live(uri: str, partition: _Partition, next_offset: int) -> None:
    """The live metrics of one record read (``transforms.telemetry``)."""
    if telemetry.enabled():
        telemetry.count("kafka_records_read", topic=partition.topic, partition=partition.partition)
        telemetry.delivered(uri, "kafka")
        telemetry.kafka_read_position(partition.topic, partition.partition, next_offset)
