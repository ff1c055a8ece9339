"""Deprecated: ``transforms.kafka_io`` moved to ``transforms.io.kafka_commit``, ``transforms.io.kafka_common``, ``transforms.io.kafka_sink``, ``transforms.io.kafka_source`` (issue 19).

In: nothing. Out: the names this module held, re-exported from where they
live now, so imports and pickles that name ``transforms.kafka_io`` keep working for one
release. Guarantees: a ``DeprecationWarning`` on import; nothing else.
See docs/architecture.md ("What moved").
"""

import warnings

warnings.warn("transforms.kafka_io moved to transforms.io.kafka_commit, transforms.io.kafka_common, transforms.io.kafka_sink, transforms.io.kafka_source; import from there (docs/architecture.md)",
              DeprecationWarning, stacklevel=2)

from transforms.io.kafka_commit import CommitKafkaOffsets, advance_frontier  # noqa: E402,F401
from transforms.io.kafka_common import (
    BrokerUnavailableError,
    FORMAT_HEADER,
    kafka_uri,
    retry_while_broker_away,
)  # noqa: E402,F401
from transforms.io.kafka_sink import (
    WriteDeadLettersToKafka,
    WriteStoriesToKafka,
    check_confluent_schema_id,
    decode_message,
    decode_story_message,
    encode_confluent,
    encode_single_object,
    schema_fingerprint,
)  # noqa: E402,F401
from transforms.io.kafka_source import (
    ReadWireStoriesFromKafka,
    START_COMMITTED,
    START_EARLIEST,
    START_LATEST,
    check_broker,
    close_kafka_readers,
    java_reader_start_offsets,
    parse_start,
)  # noqa: E402,F401

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


# ----------------------------------------------------------------------------- moved (issue 19)

#: Names ``transforms.kafka_io`` held before issue 19, and where they live now. Answered here
#: for one release (old imports and pickles), with a DeprecationWarning.
_MOVED = {
    "BrokerUnavailableError": "transforms.io.kafka_common",
    "CONFLUENT": "transforms.io.kafka_sink",
    "CommitKafkaOffsets": "transforms.io.kafka_commit",
    "EMIT_POSITIONS": "transforms.io.kafka_sink",
    "EMIT_RECORDS": "transforms.io.kafka_sink",
    "FORMAT_HEADER": "transforms.io.kafka_common",
    "PRISM_CALL_SECONDS": "transforms.io.kafka_source",
    "ReadWireStoriesFromKafka": "transforms.io.kafka_source",
    "SINGLE_OBJECT": "transforms.io.kafka_sink",
    "START_COMMITTED": "transforms.io.kafka_source",
    "START_EARLIEST": "transforms.io.kafka_source",
    "START_LATEST": "transforms.io.kafka_source",
    "WriteDeadLettersToKafka": "transforms.io.kafka_sink",
    "WriteStoriesToKafka": "transforms.io.kafka_sink",
    "_Ack": "transforms.io.kafka_commit",
    "_CODECS": "transforms.io.kafka_sink",
    "_CheckpointOnlyTracker": "transforms.io.kafka_source",
    "_Codec": "transforms.io.kafka_sink",
    "_CommitOffsetsFn": "transforms.io.kafka_commit",
    "_FLUSH_SECONDS": "transforms.io.kafka_sink",
    "_ListPartitionsFn": "transforms.io.kafka_source",
    "_LocatePartitions": "transforms.io.kafka_source",
    "_NAMESPACE": "transforms.io.kafka_common",
    "_Partition": "transforms.io.kafka_source",
    "_PartitionNumbersProvider": "transforms.io.kafka_source",
    "_PartitionOffsetsProvider": "transforms.io.kafka_source",
    "_ProduceFn": "transforms.io.kafka_sink",
    "_READERS": "transforms.io.kafka_source",
    "_ReadBoundedPartitionFn": "transforms.io.kafka_source",
    "_ReadPartitionFn": "transforms.io.kafka_source",
    "_ReaderPool": "transforms.io.kafka_source",
    "_RecordTimeWatermarkProvider": "transforms.io.kafka_source",
    "_SCHEMA_DIR": "transforms.io.kafka_sink",
    "_SINGLE_OBJECT_MAGIC": "transforms.io.kafka_sink",
    "_UNBOUNDED_END": "transforms.io.kafka_source",
    "_WatchPartitionsFn": "transforms.io.kafka_source",
    "_WriteToKafka": "transforms.io.kafka_sink",
    "_breakdown_counter": "transforms.io.kafka_sink",
    "_close_quietly": "transforms.io.kafka_source",
    "_codec": "transforms.io.kafka_sink",
    "_count_breakdown_live": "transforms.io.kafka_sink",
    "_count_read_live": "transforms.io.kafka_source",
    "_datum": "transforms.io.kafka_sink",
    "_load_schema": "transforms.io.kafka_sink",
    "_offset_for_time": "transforms.io.kafka_source",
    "_raw_input": "transforms.io.kafka_source",
    "_tally": "transforms.io.kafka_sink",
    "_to_ack": "transforms.io.kafka_commit",
    "_unique": "transforms.io.kafka_commit",
    "advance_frontier": "transforms.io.kafka_commit",
    "check_broker": "transforms.io.kafka_source",
    "check_confluent_schema_id": "transforms.io.kafka_sink",
    "close_kafka_readers": "transforms.io.kafka_source",
    "decode_message": "transforms.io.kafka_sink",
    "decode_story_message": "transforms.io.kafka_sink",
    "encode_confluent": "transforms.io.kafka_sink",
    "encode_single_object": "transforms.io.kafka_sink",
    "format_hint": "transforms.io.kafka_source",
    "java_reader_start_offsets": "transforms.io.kafka_source",
    "kafka_uri": "transforms.io.kafka_common",
    "parse_start": "transforms.io.kafka_source",
    "reader_call_seconds": "transforms.io.kafka_source",
    "retry_while_broker_away": "transforms.io.kafka_common",
    "schema_fingerprint": "transforms.io.kafka_sink",
}


def __getattr__(name):
    try:
        module = _MOVED[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    import importlib
    import warnings

    warnings.warn(f"transforms.kafka_io.{name} moved to {module}.{name}", DeprecationWarning, stacklevel=2)
    return getattr(importlib.import_module(module), name)
