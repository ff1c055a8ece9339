"""Kafka sinks for stories and dead letters, and the framing they write.

In: ``Story`` / ``DeadLetter`` records. Out: Avro messages (single-object
encoding by default, or Confluent wire format), then what was delivered
(the records, or with ``emit="positions"`` their ``SourcePosition``).
Guarantees: every send is checked before the bundle commits; a record
written to two sinks is broken down once. ``decode_message`` reads the
framing back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional, Union

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.utils.windowed_value import WindowedValue

from transforms import telemetry
from transforms.io.kafka_common import _NAMESPACE
from transforms.model import DeadLetter, SourcePosition, Story

__all__ = [
    "WriteStoriesToKafka",
    "WriteDeadLettersToKafka",
    "encode_single_object",
    "encode_confluent",
    "decode_message",
    "decode_story_message",
    "schema_fingerprint",
    "check_confluent_schema_id",
]


SINGLE_OBJECT = "single_object"
CONFLUENT = "confluent"

_SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"
_SINGLE_OBJECT_MAGIC = b"\xc3\x01"
# Longer than the producer's delivery timeout: a send fails by its own timeout first.
_FLUSH_SECONDS = 150


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
