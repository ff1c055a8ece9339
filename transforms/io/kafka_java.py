"""Beam's Java KafkaIO (cross-language) as a wire-ingest source.

In: bootstrap, topic, group, start and a Java expansion service. Out:
``RawInput`` like the native source (``raw_input_from_kafka_record`` is
pure). Guarantees: offsets are committed by ``CommitKafkaOffsets`` once
every item of a record is written, as with the native reader.
"""

from __future__ import annotations

import logging
import typing
from typing import Any, Optional

import apache_beam as beam
import numpy as np

from transforms.model import RawInput, SourcePosition

__all__ = [
    "ReadWireStoriesFromJavaKafka",
    "raw_input_from_kafka_record",
]

_LOG = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- Java KafkaIO


#: The configuration Beam's Java KafkaIO reads (``KafkaIO.Read.External.Configuration``)
#: in ``BEAM_JAVA_VERSION``: the Python SDK's own ``ReadFromKafka`` sends fields
#: added to it since, which that version refuses ("missing a setter").
JavaKafkaReadConfiguration = typing.NamedTuple(
    "JavaKafkaReadConfiguration",
    [("consumer_config", typing.Mapping[str, str]), ("topics", list[str]),
     ("key_deserializer", str), ("value_deserializer", str),
     ("start_read_time", typing.Optional[int]), ("max_num_records", typing.Optional[int]),
     ("max_read_time", typing.Optional[int]), ("commit_offset_in_finalize", bool),
     ("timestamp_policy", str), ("consumer_polling_timeout", typing.Optional[int]),
     ("redistribute", typing.Optional[bool]), ("redistribute_num_keys", typing.Optional[np.int32]),
     ("allow_duplicates", typing.Optional[bool])])


class ReadWireStoriesFromJavaKafka(beam.PTransform):
    """Read raw stories with Beam's Java KafkaIO; outputs ``RawInput``.

    Cross-language: the Java transform is expanded by the service at
    ``expansion_service`` when the pipeline is built, and runs in a Java SDK
    environment on the cluster. Records keep their lineage (topic, partition,
    offset, key, timestamp, headers); the Kafka create time becomes the
    element's event time. KafkaIO does not commit: ``CommitKafkaOffsets``
    does, for what is written. Its frontier starts, per partition, at the
    offset the read starts at, which is looked up when the pipeline is built
    (``start_offsets``) and is where KafkaIO starts too: the group's committed
    offset (else the earliest), or the first offset at or after a start time.
    ``latest`` is refused: KafkaIO's end offsets at its own start would not be
    the ones looked up here, and the commits would wait forever for the gap.

    Args:
        bootstrap: ``HOST:PORT[,HOST:PORT...]``.
        topic: the topic to read.
        group: consumer group: start position (``committed``) and commits.
        start: ``committed`` (default; ``earliest`` where the group has no
            offset), ``earliest`` (the same: KafkaIO applies it only where the
            group has no committed offset), or a time (millis or ISO-8601).
        expansion_service: ``HOST:PORT`` of the Java expansion service.
        start_offsets: partition -> first offset to read; looked up from the
            broker when the pipeline is built when not given.

    Raises:
        ValueError: on a missing argument or ``start="latest"`` (named).
    """

    def __init__(self, bootstrap: str, topic: str, group: str, start: Any = "committed",
                 expansion_service: Optional[str] = None,
                 start_offsets: Optional[dict[int, int]] = None):
        super().__init__()
        from transforms.io.kafka_source import START_LATEST, parse_start

        if not bootstrap:
            raise ValueError("bootstrap: give HOST:PORT of a Kafka broker")
        if not topic:
            raise ValueError("topic: give the topic to read")
        if not group:
            raise ValueError("group: the Java reader commits offsets for a consumer group")
        if not expansion_service:
            raise ValueError("expansion_service: give HOST:PORT of a Java expansion service")
        parsed = parse_start(start)
        if parsed == START_LATEST:
            raise ValueError("start: 'latest' is not available with the Java reader (its start "
                             "offsets cannot be known when the pipeline is built); give a time")
        self._bootstrap = bootstrap
        self._topic = topic
        self._group = group
        self._start = parsed
        self._start_offsets = start_offsets
        self._expansion_service = expansion_service
        self._start_read_time = parsed if isinstance(parsed, int) else None
        self._consumer_config = {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
        }

    def start_offsets(self) -> dict[int, int]:
        """Per partition, the offset KafkaIO starts at (see the class docstring)."""
        if self._start_offsets is None:
            from transforms.io.kafka_source import START_COMMITTED, java_reader_start_offsets

            start = self._start if isinstance(self._start, int) else START_COMMITTED
            self._start_offsets = java_reader_start_offsets(self._bootstrap, self._topic,
                                                            self._group, start)
        return self._start_offsets

    def expand(self, pbegin):
        from apache_beam.io.kafka import ReadFromKafka
        from apache_beam.transforms.external import ExternalTransform, NamedTupleBasedPayloadBuilder

        uri = _kafka_uri(self._bootstrap, self._topic)
        _LOG.info("reading %s with Java KafkaIO, expanded by %s", uri, self._expansion_service)
        deserializer = "org.apache.kafka.common.serialization.ByteArrayDeserializer"
        configuration = JavaKafkaReadConfiguration(
            consumer_config=self._consumer_config, topics=[self._topic],
            key_deserializer=deserializer, value_deserializer=deserializer,
            start_read_time=self._start_read_time, max_num_records=None, max_read_time=None,
            commit_offset_in_finalize=False, timestamp_policy=ReadFromKafka.create_time_policy,
            consumer_polling_timeout=2, redistribute=False, redistribute_num_keys=np.int32(0),
            allow_duplicates=False)
        return (
            pbegin
            | "ReadFromKafka" >> ExternalTransform(
                ReadFromKafka.URN_WITH_METADATA,
                NamedTupleBasedPayloadBuilder(configuration),
                self._expansion_service,
            )
            # KafkaIO's CreateTime policy already made the record time the element time.
            | "ToRawInput" >> beam.Map(raw_input_from_kafka_record, uri,
                                       self.start_offsets()).with_output_types(RawInput)
        )


def _kafka_uri(bootstrap: str, topic: str) -> str:
    from transforms.io.kafka_common import kafka_uri

    return kafka_uri(bootstrap, topic)


def raw_input_from_kafka_record(record: Any, uri: str,
                                start_offsets: Optional[dict[int, int]] = None) -> RawInput:
    """One Java KafkaIO record (``with_metadata=True``) as a ``RawInput``.

    KafkaIO's rows have the fields ``topic, partition, offset, timestamp,
    key, value, headers (rows of key, value), timestampTypeId,
    timestampTypeName``. A negative timestamp (Kafka's "none") gives no event
    time. The ``wire-format`` header becomes the format hint, as with the
    native reader. ``kafka_span`` is (the partition's start offset from
    ``start_offsets``, 0 for a partition not in it; the record's own offset):
    ``CommitKafkaOffsets`` commits from there. KafkaIO does not say where the
    record before it was, so an offset gap (compaction, transaction markers)
    holds that partition's commits back.
    """
    from transforms.io.kafka_source import format_hint

    partition = int(record.partition)
    offset = int(record.offset)
    timestamp = record.timestamp
    timestamp = int(timestamp) if timestamp is not None and int(timestamp) >= 0 else None
    headers = tuple(
        (str(header.key), bytes(header.value or b"")) for header in (record.headers or ())
    )
    hint = format_hint(headers)
    source = SourcePosition(
        kind="kafka",
        uri=uri,
        position=f"partition {partition} offset {offset}",
        topic=str(record.topic),
        partition=partition,
        offset=offset,
        key=bytes(record.key) if record.key is not None else None,
        timestamp=timestamp,
        headers=headers,
        kafka_span=((start_offsets or {}).get(partition, 0), offset),
    )
    value = record.value
    return RawInput(raw=bytes(value) if value is not None else b"", source=source,
                    format_hint=hint, event_time=timestamp)
