"""Kafka in and out for wire-ingest, in Python (kafka-python), without the Java expansion service.

Source: ``ReadWireStoriesFromKafka`` reads one topic and outputs ``RawInput``
records, one per Kafka record, element timestamp = the record's timestamp,
``source`` = ``SourcePosition(kind="kafka", uri="kafka://BOOTSTRAP/TOPIC",
position="partition P offset O", topic, partition, offset, key, timestamp,
headers)`` and ``format_hint`` from a ``wire-format`` header. It is a
splittable DoFn with one restriction per partition: an offset range that
grows with the partition (bounded to the end offsets seen at start with
``stop_at_end``), split only at checkpoints, so one partition is never read
by two workers at once. Records are read by partition assignment and seek
(never by a group join) with a bounded poll; when caught up the reader defers
its remainder. On the local runner (one worker thread for every step) only the
first poll of a call waits, 10 ms at most; records the consumer has not
fetched yet are picked up by resuming, not by waiting. Partitions are discovered by a second splittable DoFn whose
restriction is the range of partition numbers already emitted, so partitions
created later (or a topic that does not exist yet) are picked up.

Guarantees: at-least-once. Within a partition records come in offset order;
nothing is promised across partitions. After a crash the pipeline restarts
from the group's committed offsets (``start="committed"``) and replays what
was not committed, so downstream stages see duplicates, never gaps.

Offsets are committed by ``CommitKafkaOffsets``, a stage fed by the sinks'
acknowledgements (the ``SourcePosition`` of every item that reached its end:
written story, written dead letter, dropped duplicate). A record's offset is
done when all ``item_count`` items of the record are acknowledged on every
acknowledgement stream; per partition the stage commits the highest offset
below which every record is done. Records carry ``kafka_span`` (the offset
the reader started at and the first offset the record covers) so that offset
gaps (compaction, transaction markers) do not stall the commit. It uses keyed
state only (no bundle finalization, no timers), so it behaves the same on the
FnApiRunner, Prism, the portable runner and Flink. Each record must give
at least one acknowledgement (the parse stage dead-letters empty packages).

Watermark: per partition, the largest record timestamp seen minus
``watermark_delay``; a caught-up (idle) partition moves its watermark to
``now - watermark_delay`` so it does not hold the pipeline back (as Java
KafkaIO's limited-delay timestamp policy does). Records older than that which
arrive later are late for windowed stages.

Sink: ``WriteStoriesToKafka`` / ``WriteDeadLettersToKafka`` write Avro
(``schemas/story.avsc`` / ``schemas/dead_letter.avsc``) framed as Avro
single-object encoding (``C3 01`` + 8-byte little-endian CRC-64-AVRO
fingerprint of the schema's parsing canonical form + binary datum) by default,
or Confluent wire format (``00`` + 4-byte big-endian schema id + datum); each
schema has its own registry id, so the two sinks take one each.
Stories are keyed by story id, dead letters by their source's record id. The
producer is flushed in ``finish_bundle`` and every send is checked before the
bundle commits; the sinks then output what they delivered (the records, so
that sinks can be chained and the last one's output acknowledges all of them,
or with ``emit="positions"`` their ``SourcePosition``: acknowledgements for
``CommitKafkaOffsets``). Each counts the messages it delivered
(``kafka_story_messages_written`` / ``kafka_dead_letter_messages_written``);
the last sink of a chain also counts the run summary's breakdown
(``written_language_*`` / ``dead_letter_*``, ``breakdown=True``), so a record
written to two sinks is broken down once.
``decode_story_message`` / ``decode_message`` read the framing back.

Failures: a broker unreachable at start raises ``BrokerUnavailableError``
after bounded retries, before the pipeline launches. A broker gone mid-run is
retried with backoff; the reader keeps its position and resumes.
"""

from __future__ import annotations

import atexit
import datetime as _dt
import json
import logging
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, NamedTuple, Optional, Sequence, Union

import apache_beam as beam
from apache_beam import coders
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.metrics import Metrics
from apache_beam.transforms.core import RestrictionProvider, WatermarkEstimatorProvider
from apache_beam.transforms.userstate import BagStateSpec, ReadModifyWriteStateSpec
from apache_beam.transforms.trigger import AccumulationMode, AfterCount, Repeatedly
from apache_beam.transforms.window import GlobalWindows, TimestampedValue
from apache_beam.utils.timestamp import Duration, Timestamp
from apache_beam.utils.windowed_value import WindowedValue

from transforms import telemetry
from transforms.model import DeadLetter, RawInput, SourcePosition, Story
from transforms.resume import pause_then_defer, runner_honours_resume_delays

__all__ = [
    "close_kafka_readers",
    "ReadWireStoriesFromKafka",
    "CommitKafkaOffsets",
    "WriteStoriesToKafka",
    "WriteDeadLettersToKafka",
    "BrokerUnavailableError",
    "check_broker",
    "parse_start",
    "advance_frontier",
    "java_reader_start_offsets",
    "retry_while_broker_away",
    "encode_single_object",
    "encode_confluent",
    "decode_message",
    "decode_story_message",
    "schema_fingerprint",
    "check_confluent_schema_id",
    "kafka_uri",
    "FORMAT_HEADER",
    "START_COMMITTED",
    "START_EARLIEST",
    "START_LATEST",
]

_LOG = logging.getLogger(__name__)

FORMAT_HEADER = "wire-format"
START_COMMITTED = "committed"
START_EARLIEST = "earliest"
START_LATEST = "latest"
SINGLE_OBJECT = "single_object"
CONFLUENT = "confluent"

_SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schemas"
_UNBOUNDED_END = sys.maxsize
_SINGLE_OBJECT_MAGIC = b"\xc3\x01"
_NAMESPACE = "wire_ingest"
# Longer than the producer's delivery timeout: a send fails by its own timeout first.
_FLUSH_SECONDS = 150


class BrokerUnavailableError(RuntimeError):
    """No Kafka broker answered at the bootstrap address: the CLI exits non-zero."""


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


def kafka_uri(bootstrap: str, topic: str) -> str:
    return f"kafka://{bootstrap}/{topic}"


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
                                    call_seconds=reader_call_seconds(pbegin.pipeline),
                                    resume_delays=delays, **self._read)
        return (
            pbegin
            | "Impulse" >> beam.Create([self._topic])
            | "DiscoverPartitions" >> beam.ParDo(discover)
            | "ReadPartitions" >> beam.ParDo(read).with_output_types(RawInput)
        )


#: Seconds a reader's call runs on Prism before it checkpoints; see ``reader_call_seconds``.
PRISM_CALL_SECONDS = 0.5


def reader_call_seconds(pipeline) -> Optional[float]:
    """How long one call of the unbounded reader may run on the pipeline's runner.

    Prism hands a bundle's output downstream only when the bundle ends, and
    asks a bundle to split only when it makes no progress: a partition with a
    steady trickle of records would hold them for many seconds, so there a call
    ends (checkpointing its remainder, resumed at once) after
    ``PRISM_CALL_SECONDS``. Elsewhere (Flink, the FnApiRunner) a call reads
    until it is caught up (None). Flink jobs that sometimes read nothing
    once seemed tied to the limit there; the cause was Beam's checkpoint
    buffer (``pipelines.flink.FINISH_BUNDLE_BEFORE_CHECKPOINTING``), and the
    limit has not been measured on Flink since.

    Raises:
      ValueError: on Beam's BundleBasedDirectRunner, which does not resume a
        deferred remainder (the read would stop after its first call).
    """
    from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner

    runner = getattr(pipeline, "runner", None)
    if isinstance(runner, BundleBasedDirectRunner):
        raise ValueError("ReadWireStoriesFromKafka: the BundleBasedDirectRunner does not resume "
                         "splittable DoFns; run on Prism (--runner PrismRunner, or DirectRunner "
                         "with --streaming), the FnApiRunner, the portable runner or Flink")
    return PRISM_CALL_SECONDS if type(runner).__name__ == "PrismRunner" else None


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


class _ReaderPool:
    """One assigned consumer per partition and process, kept between calls.

    Kept at module level rather than on the DoFn: a runner may resume a
    restriction on another instance of the DoFn, and a consumer kept between
    calls reuses its prefetched records. A restriction
    is processed by one call at a time, so a partition's consumer is never
    used by two threads at once.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._consumers: dict[tuple, Any] = {}

    @staticmethod
    def _key(partition: _Partition, config: dict) -> tuple:
        return (partition.bootstrap, partition.topic, partition.partition,
                json.dumps(config, sort_keys=True, default=str))

    def get(self, partition: _Partition, config: dict):
        from kafka import KafkaConsumer, TopicPartition

        key = self._key(partition, config)
        with self._lock:
            consumer = self._consumers.get(key)
        if consumer is None:
            consumer = KafkaConsumer(bootstrap_servers=partition.bootstrap,
                                     enable_auto_commit=False, **config)
            consumer.assign([TopicPartition(partition.topic, partition.partition)])
            with self._lock:
                self._consumers[key] = consumer
        return consumer

    def drop(self, partition: _Partition, config: dict) -> None:
        with self._lock:
            consumer = self._consumers.pop(self._key(partition, config), None)
        if consumer is not None:
            _close_quietly(consumer)

    def close_all(self, bootstrap: Optional[str] = None) -> None:
        with self._lock:
            keys = [k for k in self._consumers if bootstrap is None or k[0] == bootstrap]
            consumers = [self._consumers.pop(k) for k in keys]
        for consumer in consumers:
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

    def _consumer(self, partition: _Partition):
        return _READERS.get(partition, self._consumer_config)

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
                consumer = self._consumer(partition)
                if consumer.position(tp) != position:
                    consumer.seek(tp, position)
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


def retry_while_broker_away(action, what: str, give_up_after: float = 300.0,
                            first_pause: float = 0.5, longest_pause: float = 10.0,
                            sleep=time.sleep, clock=time.monotonic):
    """Run ``action()`` until it succeeds, pausing between tries while the error
    is one the broker recovers from (connection lost, coordinator moving).

    Some runners (Prism) do not retry a failed bundle: without this, a broker
    restart during a commit would end the whole pipeline. Errors Kafka marks
    as not retriable, and outages longer than ``give_up_after``, still raise.
    """
    from kafka.errors import KafkaError

    deadline = clock() + give_up_after
    pause = first_pause
    tries = 0
    while True:
        tries += 1
        try:
            return action()
        except KafkaError as error:
            if not getattr(error, "retriable", False) or clock() + pause > deadline:
                raise
            _LOG.warning("%s failed (try %d), retrying in %.1fs: %s", what, tries, pause, error)
        sleep(pause)
        pause = min(longest_pause, pause * 2)


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

        if self._consumer is None:
            self._consumer = KafkaConsumer(bootstrap_servers=self._bootstrap, group_id=self._group,
                                           enable_auto_commit=False, **self._consumer_config)
        offsets = {TopicPartition(topic, partition): OffsetAndMetadata(offset, "", -1)
                   for (topic, partition), offset in self._to_commit.items()}
        retry_while_broker_away(lambda: self._consumer.commit(offsets, timeout_ms=30_000),
                                "kafka offset commit")
        _LOG.debug("committed %s for group %s", dict(self._to_commit), self._group)
        self._commits.inc(len(offsets))
        for topic, _ in self._to_commit:
            telemetry.count("kafka_offset_commits", topic=topic)
        self._to_commit = {}


# --------------------------------------------------------------------------- Avro framing


def _load_schema(name: str) -> dict:
    with open(_SCHEMA_DIR / name, encoding="utf-8") as handle:
        return json.load(handle)


def schema_fingerprint(schema: dict) -> bytes:
    """CRC-64-AVRO fingerprint of the schema's parsing canonical form, little-endian (8 bytes)."""
    import fastavro.schema

    canonical = fastavro.schema.to_parsing_canonical_form(schema)
    return bytes.fromhex(fastavro.schema.fingerprint(canonical, "CRC-64-AVRO"))


def _datum(parsed_schema, record: dict) -> bytes:
    import io

    import fastavro

    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, parsed_schema, record)
    return buffer.getvalue()


def encode_single_object(parsed_schema, fingerprint: bytes, record: dict) -> bytes:
    """Avro single-object encoding: ``C3 01`` + fingerprint + binary datum."""
    return _SINGLE_OBJECT_MAGIC + fingerprint + _datum(parsed_schema, record)


def encode_confluent(parsed_schema, schema_id: int, record: dict) -> bytes:
    """Confluent wire format: ``00`` + 4-byte big-endian schema id + binary datum."""
    return b"\x00" + schema_id.to_bytes(4, "big") + _datum(parsed_schema, record)


def check_confluent_schema_id(schema_id: Optional[int], name: str = "confluent_schema_id") -> None:
    """Refuse a schema id the Confluent framing cannot carry (a registry id is
    a non-negative signed 32-bit int); ``name`` is the option to name."""
    if schema_id is not None and not 0 <= schema_id < 2 ** 31:
        raise ValueError(f"{name}: a schema registry id, 0 to {2 ** 31 - 1}; got {schema_id}")


@dataclass
class _Codec:
    name: str
    schema: dict
    parsed: Any
    fingerprint: bytes


_CODECS: dict[str, _Codec] = {}


def _codec(kind: str) -> _Codec:
    """The story or dead-letter schema, parsed once per process."""
    codec = _CODECS.get(kind)
    if codec is None:
        import fastavro

        schema = _load_schema("story.avsc" if kind == "story" else "dead_letter.avsc")
        codec = _Codec(kind, schema, fastavro.parse_schema(schema), schema_fingerprint(schema))
        _CODECS[kind] = codec
    return codec


def decode_message(data: bytes, schema_ids: Optional[dict[int, str]] = None) -> tuple[str, dict]:
    """Decode a message written by the sinks: ``(kind, record)``, kind ``story`` or ``dead_letter``.

    Single-object messages name their schema by fingerprint. Confluent
    messages name it by registry id: ``schema_ids`` maps the ids the run was
    given (``--kafka-confluent-schema-id``, ``--kafka-dead-letter-confluent-schema-id``)
    to kinds, e.g. ``{1: "story", 2: "dead_letter"}``; without it every
    Confluent message is read as a story.

    Raises:
        ValueError: when the framing or the fingerprint is unknown, or a
            Confluent id is not in ``schema_ids`` (a wrong schema would
            decode garbage, not fail).
    """
    import io

    import fastavro

    if data[:2] == _SINGLE_OBJECT_MAGIC:
        fingerprint = data[2:10]
        for kind in ("story", "dead_letter"):
            codec = _codec(kind)
            if codec.fingerprint == fingerprint:
                return kind, fastavro.schemaless_reader(io.BytesIO(data[10:]), codec.parsed)
        raise ValueError(f"unknown schema fingerprint {fingerprint.hex()}")
    if data[:1] == b"\x00" and len(data) >= 5:
        schema_id = int.from_bytes(data[1:5], "big")
        if schema_ids is None:
            kind = "story"
        elif schema_id in schema_ids:
            kind = schema_ids[schema_id]
        else:
            raise ValueError(f"Confluent schema id {schema_id} is not one of {sorted(schema_ids)}")
        return kind, fastavro.schemaless_reader(io.BytesIO(data[5:]), _codec(kind).parsed)
    raise ValueError("not an Avro single-object or Confluent-framed message")


def decode_story_message(data: bytes, schema_ids: Optional[dict[int, str]] = None) -> dict:
    """Decode one story message of the output topic into its Avro record (a dict)."""
    kind, record = decode_message(data, schema_ids)
    if kind != "story":
        raise ValueError(f"expected a story message, got a {kind}")
    return record


# --------------------------------------------------------------------------- sinks


EMIT_RECORDS = "records"
EMIT_POSITIONS = "positions"


class _WriteToKafka(beam.PTransform):
    KIND = "story"
    OUTPUT_TYPE: Any = Story

    def __init__(self, bootstrap: str, topic: str, confluent_schema_id: Optional[int] = None,
                 producer_config: Optional[dict] = None, emit: str = EMIT_RECORDS,
                 breakdown: bool = False):
        super().__init__()
        if not bootstrap:
            raise ValueError("bootstrap: give HOST:PORT of a Kafka broker")
        if not topic:
            raise ValueError("topic: give the output topic")
        check_confluent_schema_id(confluent_schema_id)
        if emit not in (EMIT_RECORDS, EMIT_POSITIONS):
            raise ValueError(f"emit: {EMIT_RECORDS} or {EMIT_POSITIONS}, got {emit!r}")
        encoding = SINGLE_OBJECT if confluent_schema_id is None else CONFLUENT
        self._emit = emit
        self._fn = _ProduceFn(bootstrap, topic, self.KIND, encoding, confluent_schema_id,
                              dict(producer_config or {}), emit == EMIT_POSITIONS, breakdown)

    def expand(self, records):
        output_type = SourcePosition if self._emit == EMIT_POSITIONS else self.OUTPUT_TYPE
        return records | "Produce" >> beam.ParDo(self._fn).with_output_types(output_type)


class WriteStoriesToKafka(_WriteToKafka):
    """Write ``Story`` records to a topic as Avro, keyed by story id.

    Args:
        bootstrap: ``HOST:PORT``.
        topic: output topic.
        confluent_schema_id: write the Confluent wire format with this
            registry id of ``schemas/story.avsc`` (default: single-object encoding).
        producer_config: extra kafka-python ``KafkaProducer`` settings.
        emit: ``records`` (default): output the stories the broker acknowledged,
            so that further sinks can be chained after this one;
            ``positions``: output their ``SourcePosition`` (acknowledgements
            for ``CommitKafkaOffsets``).
        breakdown: also count the run summary's breakdown of what was
            delivered (``written_language_<code>``). Give it to the last sink
            of a chain only: a story written to two sinks is one story.

    Returns: the delivered stories, or their positions (see ``emit``).
    """

    KIND = "story"
    OUTPUT_TYPE = Story


class WriteDeadLettersToKafka(_WriteToKafka):
    """Write ``DeadLetter`` records (raw bytes and source position) to a dead-letter topic.

    Same options as ``WriteStoriesToKafka``; keyed by the source's record id;
    ``confluent_schema_id`` is the registry id of ``schemas/dead_letter.avsc``
    (never the story schema's: one id names one schema); ``breakdown``
    counts ``dead_letter_<reason>``.
    Returns: the delivered dead letters, or their positions (see ``emit``).
    """

    KIND = "dead_letter"
    OUTPUT_TYPE = DeadLetter


class _ProduceFn(beam.DoFn):
    def __init__(self, bootstrap, topic, kind, encoding, schema_id, producer_config,
                 emit_positions=False, breakdown=False):
        self._emit_positions = emit_positions
        self._bootstrap = bootstrap
        self._topic = topic
        self._kind = kind
        self._encoding = encoding
        self._schema_id = schema_id
        self._producer_config = producer_config
        self._breakdown = breakdown
        self._written = Metrics.counter(_NAMESPACE, f"kafka_{kind}_messages_written")

    def setup(self):
        from kafka import KafkaProducer

        self._codec = _codec(self._kind)
        # Retries are unlimited within delivery_timeout_ms (kafka-python's
        # default, 120 s), so a broker restart delays the bundle, not fails it.
        config = {"acks": "all", "linger_ms": 5, **self._producer_config}
        self._producer = KafkaProducer(bootstrap_servers=self._bootstrap, **config)
        self._schema_header = [("wire-schema", self._codec.schema["namespace"].encode()
                                + b"." + self._codec.schema["name"].encode())]

    def teardown(self):
        producer = getattr(self, "_producer", None)
        if producer is not None:
            producer.close(timeout=10)

    def start_bundle(self):
        self._pending: list = []

    def _encode(self, record: dict) -> bytes:
        if self._encoding == CONFLUENT:
            return encode_confluent(self._codec.parsed, self._schema_id, record)
        return encode_single_object(self._codec.parsed, self._codec.fingerprint, record)

    def process(self, element: Union[Story, DeadLetter], timestamp=beam.DoFn.TimestampParam,
                window=beam.DoFn.WindowParam):
        value = self._encode(element.to_avro())
        key = element.id if isinstance(element, Story) else element.source.record_id()
        future = self._producer.send(self._topic, value=value, key=key.encode("ascii"),
                                     headers=self._schema_header)
        self._pending.append((future, element.source if self._emit_positions else element,
                              timestamp, window, _breakdown_counter(element)))

    def finish_bundle(self):
        if not self._pending:
            return
        self._producer.flush(timeout=_FLUSH_SECONDS)
        for future, *_ in self._pending:
            future.get(timeout=0)  # raises if the broker did not acknowledge: bundle retries
        # Counted once every send is acknowledged: a failed send retries the whole bundle.
        self._written.inc(len(self._pending))
        if self._breakdown:
            for name, count in _tally(counter for *_, counter in self._pending).items():
                Metrics.counter(_NAMESPACE, name).inc(count)
            _count_breakdown_live(
                ((delivered if self._emit_positions else delivered.source).kind, counter)
                for _, delivered, _, _, counter in self._pending)
        for _, delivered, timestamp, window, _ in self._pending:
            yield WindowedValue(delivered, timestamp, [window])
        self._pending = []


def _breakdown_counter(record: Union[Story, DeadLetter]) -> str:
    """The summary's breakdown counter a written record adds to: its language
    for a story, its reason for a dead letter (the names the file sink uses)."""
    if isinstance(record, Story):
        return f"written_language_{record.language}"
    return f"dead_letter_{record.reason}"


def _count_read_live(uri: str, partition: _Partition, next_offset: int) -> None:
    """The live metrics of one record read (``transforms.telemetry``)."""
    if telemetry.enabled():
        telemetry.count("kafka_records_read", topic=partition.topic, partition=partition.partition)
        telemetry.delivered(uri, "kafka")
        telemetry.kafka_read_position(partition.topic, partition.partition, next_offset)


def _count_breakdown_live(records: Iterable[tuple[str, str]]) -> None:
    """The live ``written`` / ``dead_letters`` counters from (source kind, breakdown counter)."""
    if not telemetry.enabled():
        return
    for (source_kind, name), count in _tally(records).items():
        if name.startswith("written_language_"):
            telemetry.count("written", count, source_kind=source_kind,
                            language=name[len("written_language_"):])
        else:
            telemetry.count("dead_letters", count, source_kind=source_kind,
                            reason=name[len("dead_letter_"):])


def _tally(names: Iterable) -> dict:
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return counts
