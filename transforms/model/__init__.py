"""Typed records that pass between wire-ingest's transforms.

The flow is ``RawInput`` (bytes and where they came from) -> ``ParsedItem``
(fields as the delivery format carries them, still raw text) -> ``Story``
(normalized, enriched, deduplicated; the Avro ``Story`` record). Anything
that cannot continue becomes a ``DeadLetter`` carrying the original bytes.

These are plain frozen dataclasses so that parsers and normalizers can be
used and tested without Beam; ``to_avro()`` methods give the dicts that the
schemas in ``schemas/`` describe.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from dataclasses import dataclass, field
from typing import Any, Optional

__all__ = [
    "SourcePosition",
    "RawInput",
    "CaptionText",
    "ParsedItem",
    "ParsedInput",
    "Contributor",
    "Dateline",
    "Caption",
    "DedupInfo",
    "Story",
    "DeadLetter",
    "ParseError",
    "ItemFailure",
    "DeadLetterReason",
    "now_millis",
]


def now_millis() -> int:
    return int(time.time() * 1000)


class DeadLetterReason:
    """Short reasons; each is also the suffix of a ``dead_letter_<reason>`` counter."""

    EMPTY = "empty"
    TOO_LARGE = "too_large"
    UNDECODABLE = "undecodable"
    UNRECOGNISED_FORMAT = "unrecognised_format"
    MALFORMED = "malformed"
    MISSING_HEADLINE = "missing_headline"
    MISSING_BODY = "missing_body"
    NOT_A_STORY = "not_a_story"
    UNREADABLE = "unreadable"
    ERROR = "error"


class ParseError(Exception):
    """The one error a parser raises for input it cannot turn into a story.

    ``reason`` is a ``DeadLetterReason`` value; the message names the format
    and the problem. The pipeline turns it into a dead letter.
    """

    def __init__(self, reason: str, message: str, fmt: Optional[str] = None):
        super().__init__(message)
        self.reason = reason
        self.format = fmt


@dataclass(frozen=True)
class SourcePosition:
    """Lineage of a raw input: enough to find and read it again."""

    kind: str  # "file" or "kafka"
    uri: str
    position: str = ""
    item_index: int = 0
    topic: Optional[str] = None
    partition: Optional[int] = None
    offset: Optional[int] = None
    key: Optional[bytes] = None
    timestamp: Optional[int] = None  # millis
    headers: tuple[tuple[str, bytes], ...] = ()
    # Internal, not written: how many items the raw input held (packages and
    # archives hold several), so that offset commits wait for all of them.
    item_count: int = 1
    # Internal, not written: for Kafka inputs, (offset the reader started this
    # partition at, first offset this record covers), so that offset commits
    # can step over offset gaps (compaction, transaction markers).
    kafka_span: Optional[tuple[int, int]] = None

    def for_item(self, index: int, count: int) -> "SourcePosition":
        """The position of the ``index``-th of ``count`` items inside this input."""
        if count == 1 and index == 0:
            return dataclasses.replace(self, item_count=1) if self.item_count != 1 else self
        where = f"item {index}" if not self.position else f"{self.position} item {index}"
        return dataclasses.replace(self, item_index=index, item_count=count, position=where)

    def to_avro(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "uri": self.uri,
            "position": self.position,
            "item_index": self.item_index,
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "key": self.key,
            "timestamp": self.timestamp,
            "headers": dict(self.headers),
        }

    def record_id(self) -> str:
        """Stable story id: the same input position always gives the same id."""
        if self.kind == "kafka":
            anchor = f"kafka:{self.topic}:{self.partition}:{self.offset}"
        elif self.timestamp is not None:
            # A corrected file re-sent under the same name is a new input.
            anchor = f"{self.kind}:{self.uri}@{self.timestamp}"
        else:
            anchor = f"{self.kind}:{self.uri}"
        return hashlib.sha256(f"{anchor}#{self.item_index}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class RawInput:
    """Bytes exactly as read, with where they came from and optional hints."""

    raw: bytes
    source: SourcePosition
    filename: Optional[str] = None  # for format detection by extension
    format_hint: Optional[str] = None  # e.g. from a Kafka header 'wire-format'
    event_time: Optional[int] = None  # millis: file mtime or Kafka timestamp


@dataclass(frozen=True)
class CaptionText:
    """A caption as found in the input: its text and credit, not yet parsed.

    ``credit`` is None when the format or the line carries the credit inside
    ``text`` (e.g. '... [File: Sputnik/Sergey Guneev/Kremlin via Reuters]');
    the normalizer splits it off then.
    """

    text: str
    credit: Optional[str] = None
    kind: str = "photo"  # photo, map, graphic
    alt_text: Optional[str] = None  # the picture's alt text, when given apart


@dataclass(frozen=True)
class ParsedItem:
    """One story as the delivery format carries it, before normalization.

    Text fields are decoded strings, not yet normalized; the dateline is still
    at the start of the first body paragraph unless the format gives it apart.
    """

    format: str
    headline: str
    body_paragraphs: tuple[str, ...]
    standfirst: Optional[str] = None
    bylines: tuple[str, ...] = ()  # byline / credit strings as written
    dateline: Optional[str] = None  # when the format carries it apart
    captions: tuple[CaptionText, ...] = ()
    credit_line: Optional[str] = None  # e.g. 'Source: Al Jazeera and news agencies'
    agency: Optional[str] = None  # provider as declared by the format
    urgency: Optional[int] = None
    slugline: Optional[str] = None
    version: Optional[str] = None
    item_id: Optional[str] = None
    published_at: Optional[int] = None  # millis UTC
    language: Optional[str] = None  # as declared by the format
    item_index: int = 0


@dataclass(frozen=True)
class ParsedInput:
    """A ``ParsedItem`` with where it came from, on its way to normalization.

    ``raw`` is the whole raw input the item came from (shared, not copied,
    between the items of a package), kept for dead letters of later stages.
    """

    item: ParsedItem
    source: SourcePosition
    raw: bytes
    event_time: Optional[int] = None  # millis, from the raw input


@dataclass(frozen=True)
class Contributor:
    name: Optional[str] = None
    role: Optional[str] = None
    organization: Optional[str] = None
    location: Optional[str] = None

    def to_avro(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Dateline:
    place: Optional[str] = None  # city and region in one string, natural case
    date: Optional[str] = None
    agency: Optional[str] = None
    city: Optional[str] = None  # the place's first part
    region: Optional[str] = None  # the rest of the place (state, region, country)
    raw: Optional[str] = None  # the dateline as written, dash left off

    def to_avro(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Caption:
    text: str
    photographers: tuple[str, ...] = ()
    agencies: tuple[str, ...] = ()
    distributor: Optional[str] = None
    is_file_photo: bool = False
    is_handout: bool = False
    credit_raw: Optional[str] = None
    alt_text: Optional[str] = None

    def to_avro(self) -> dict[str, Any]:
        record = dataclasses.asdict(self)
        record["photographers"] = list(self.photographers)
        record["agencies"] = list(self.agencies)
        return record


@dataclass(frozen=True)
class DedupInfo:
    status: str = "UNIQUE"
    cluster_id: str = ""
    duplicate_of: Optional[str] = None
    similarity: Optional[float] = None

    def to_avro(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Story:
    """A normalized, enriched story: one Avro ``Story`` record."""

    id: str
    format: str
    headline: str
    body: str
    source: SourcePosition
    ingested_at: int
    event_time: int
    standfirst: Optional[str] = None
    language: str = "und"  # canonical ISO 639-1 code (transforms.language.codes)
    language_confidence: float = 0.0
    language_declared: Optional[str] = None  # the tag as the format declared it
    headline_derived: bool = False
    editorial_markers: tuple[str, ...] = ()
    update_number: Optional[int] = None
    word_count: int = 0
    dateline: Optional[Dateline] = None
    bylines: tuple[Contributor, ...] = ()
    agencies: tuple[str, ...] = ()
    captions: tuple[Caption, ...] = ()
    credit_line: Optional[str] = None
    published_at: Optional[int] = None
    item_id: Optional[str] = None
    version: Optional[str] = None
    slugline: Optional[str] = None
    urgency: Optional[int] = None
    content_hash: str = ""
    dedup: DedupInfo = field(default_factory=DedupInfo)

    def to_avro(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "format": self.format,
            "item_id": self.item_id,
            "version": self.version,
            "slugline": self.slugline,
            "urgency": self.urgency,
            "headline": self.headline,
            "headline_derived": self.headline_derived,
            "editorial_markers": list(self.editorial_markers),
            "update_number": self.update_number,
            "standfirst": self.standfirst,
            "body": self.body,
            "language": self.language,
            "language_confidence": self.language_confidence,
            "language_declared": self.language_declared,
            "word_count": self.word_count,
            "dateline": self.dateline.to_avro() if self.dateline else None,
            "bylines": [c.to_avro() for c in self.bylines],
            "agencies": list(self.agencies),
            "captions": [c.to_avro() for c in self.captions],
            "credit_line": self.credit_line,
            "published_at": self.published_at,
            "ingested_at": self.ingested_at,
            "event_time": self.event_time,
            "source": self.source.to_avro(),
            "content_hash": self.content_hash,
            "dedup": self.dedup.to_avro()
            if self.dedup.cluster_id
            else dataclasses.replace(self.dedup, cluster_id=self.id).to_avro(),
        }


#: Dead letters keep at most this many raw bytes (the size is kept in full).
DEAD_LETTER_RAW_LIMIT = 1 << 20


@dataclass(frozen=True)
class ItemFailure:
    """One item of a package that could not be parsed; its siblings still are."""

    reason: str
    error: str
    raw: bytes
    item_index: int = 0
    format: Optional[str] = None


@dataclass(frozen=True)
class DeadLetter:
    raw: bytes
    source: SourcePosition
    stage: str
    reason: str
    error: str
    failed_at: int
    format: Optional[str] = None
    raw_size: int = -1

    def to_avro(self) -> dict[str, Any]:
        size = len(self.raw) if self.raw_size < 0 else self.raw_size
        return {
            "raw": self.raw[:DEAD_LETTER_RAW_LIMIT],
            "raw_truncated": len(self.raw) > DEAD_LETTER_RAW_LIMIT,
            "raw_size": size,
            "source": self.source.to_avro(),
            "stage": self.stage,
            "reason": self.reason,
            "error": self.error,
            "format": self.format,
            "failed_at": self.failed_at,
        }
