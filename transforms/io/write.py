"""Writing stories and dead letters as Avro container files.

In: ``Story`` or ``DeadLetter`` elements. Out (as files): Avro object
container files ``DIR/stories-all-<shard>-<token>.avro`` in batch and
``DIR/stories-<window start>-<window end>-<token>.avro`` in streaming
(likewise ``dead-letters-...``; window bounds in UTC, ``YYYYMMDDTHHMMSS``),
each with the writer schema from ``schemas/`` embedded and deflate-compressed
blocks. Out (as a PCollection): the ``SourcePosition`` of every record,
emitted only after the file holding it is durably in place (written under a
hidden temporary name and fsynced, renamed, then its directory fsynced, see
``replace_durably``): these acknowledgements are what the Kafka offset commit
and the drop-folder journal wait for, so neither gets ahead of what a power
cut would leave on disk. They come back in the global window, whatever the
sink windowed by.

Batch runs write one file per shard. Streaming runs assign every record to
a fixed event-time window of ``window_seconds`` (by its element timestamp:
a story's ``event_time``, a dead letter's source time) and write, per bundle,
one file per window the bundle's records fall in, when the runner finishes
the bundle (Flink cuts bundles at ``--max_bundle_size`` records or
``--max_bundle_time_millis``); so a window gets one or more files as its
records arrive, as Beam's ``WriteToFiles`` writes per-window per-bundle
shards. Every record of a file lies inside the window its name gives
(start inclusive, end exclusive). No file waits for its window to close, and
no watermark decides when a record is written: a story with an old event time
(a replayed archive, a partition that caught up late, a story a stateful step
released late) is written at once into its old window's name, never dropped
as late. A file is written under a hidden temporary name and renamed, so
readers never see a partial file; a failed write raises, so the runner
retries the bundle and nothing unwritten is acknowledged (a retried bundle
may write a window's records twice: at-least-once, like the sources).
"""

from __future__ import annotations

import collections
import datetime
import errno
import hashlib
import io
import logging
import os
import time
import uuid
import zlib
from typing import Any, Iterable, Iterator, Optional, Tuple

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.transforms import window

from schemas import load_schema
from transforms import telemetry
from transforms.model.coders import SourcePositionCoder
from transforms.model import SourcePosition

__all__ = ["WriteStories", "WriteDeadLetters", "WriteAvroFiles", "STORIES_PREFIX", "DEAD_LETTERS_PREFIX",
           "window_file_path", "load_written_stories", "replace_durably", "fsync_directory"]

_LOG = logging.getLogger(__name__)

STORIES_PREFIX = "stories"
DEAD_LETTERS_PREFIX = "dead-letters"
_EPOCH = datetime.datetime(1970, 1, 1)


class WriteAvroFiles(beam.PTransform):
    """Write records (anything with ``to_avro()`` and ``source``) to Avro files.

    Args:
      output_dir: directory (local path or any Beam filesystem URI).
      prefix: file name prefix, e.g. ``stories``.
      schema_name: ``story`` or ``dead_letter`` (a file in ``schemas/``).
      window_seconds: None for batch (one file per shard); a positive
        number of seconds selects the streaming writer (fixed event-time
        windows of that length, one file per window per bundle).
      num_shards: batch files; records are spread by a hash of their id.

    Returns:
      PCollection of the written records' ``SourcePosition``.
    """

    def __init__(self, output_dir: str, prefix: str, schema_name: str,
                 window_seconds: Optional[int] = None, num_shards: int = 2):
        super().__init__()
        if not output_dir:
            raise ValueError("--output: give an output directory")
        if window_seconds is not None and window_seconds <= 0:
            raise ValueError("--window-seconds must be positive")
        if num_shards <= 0:
            raise ValueError("--num-shards must be positive")
        load_schema(schema_name)  # fail before launch on a missing schema
        self._output_dir = output_dir
        self._prefix = prefix
        self._schema_name = schema_name
        self._window_seconds = window_seconds
        self._num_shards = num_shards

    def expand(self, records):
        if self._window_seconds:
            return (
                records
                | "EventTimeWindows" >> beam.WindowInto(window.FixedWindows(self._window_seconds))
                | "WriteWindowFiles" >> beam.ParDo(
                    _WriteWindowFilesFn(self._output_dir, self._prefix, self._schema_name))
                | "DefaultWindowing" >> beam.WindowInto(window.GlobalWindows())
            )
        # Records are Avro-encoded where they are, in parallel; the shuffle
        # to the shard writers carries only bytes, which the runner moves
        # without decoding them.
        return (
            records
            | "ToAvro" >> beam.ParDo(_EncodeAvroFn(self._schema_name, self._num_shards))
            .with_output_types(Tuple[int, Tuple[bytes, bytes, str]])
            | "Window" >> beam.WindowInto(window.GlobalWindows())
            | "GroupByShard" >> beam.GroupByKey()
            | "WriteFiles" >> beam.ParDo(
                _WriteShardFn(self._output_dir, self._prefix, self._schema_name))
            .with_output_types(SourcePosition)
        )


class WriteStories(WriteAvroFiles):
    """``WriteAvroFiles`` for ``Story`` records (``DIR/stories-*.avro``)."""

    def __init__(self, output_dir: str, window_seconds: Optional[int] = None, num_shards: int = 2):
        super().__init__(output_dir, STORIES_PREFIX, "story", window_seconds, num_shards)


class WriteDeadLetters(WriteAvroFiles):
    """``WriteAvroFiles`` for ``DeadLetter`` records (``DIR/dead-letters-*.avro``)."""

    def __init__(self, output_dir: str, window_seconds: Optional[int] = None, num_shards: int = 1):
        super().__init__(output_dir, DEAD_LETTERS_PREFIX, "dead_letter", window_seconds, num_shards)


def _shard_of(record_id: str, num_shards: int) -> int:
    return int(hashlib.blake2b(record_id.encode(), digest_size=4).hexdigest(), 16) % num_shards


def window_file_path(output_dir: str, prefix: str, win: window.IntervalWindow) -> str:
    """``DIR/PREFIX-<start>-<end>-<token>.avro`` for a streaming file of window ``win``."""
    token = uuid.uuid4().hex[:8]
    return f"{output_dir}/{prefix}-{_utc_tag(win.start)}-{_utc_tag(win.end)}-{token}.avro"


def _utc_tag(moment) -> str:
    """``YYYYMMDDTHHMMSS`` (UTC) of a Beam timestamp, clamped to years 1-9999."""
    seconds = moment.micros // 1_000_000
    try:
        when = _EPOCH + datetime.timedelta(seconds=seconds)
    except OverflowError:
        when = datetime.datetime.min if seconds < 0 else datetime.datetime.max
    return when.strftime("%Y%m%dT%H%M%S").rjust(15, "0")


def write_avro_file(path: str, parsed_schema: Any, records: Iterable[dict]) -> int:
    """Write ``records`` to ``path`` atomically (temporary name, then rename).

    Returns the number of records written. Raises ``OSError`` on any failure
    (unwritable directory, full disk), leaving no file under ``path``.
    """
    import fastavro

    records = list(records)
    _write_atomically(path, lambda handle: fastavro.writer(handle, parsed_schema, records, codec="deflate"))
    return len(records)


#: Uncompressed bytes per Avro block, as fastavro's writer (1000 x the sync size).
_AVRO_BLOCK_BYTES = 16000


def encode_avro_record(parsed_schema: Any, record: dict) -> bytes:
    """One record in Avro binary encoding (no container, no schema)."""
    import fastavro

    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, parsed_schema, record)
    return buffer.getvalue()


def write_encoded_avro_file(path: str, parsed_schema: Any, encoded: Iterable[bytes]) -> int:
    """Write records already encoded with ``encode_avro_record`` to ``path``
    as an Avro container file, atomically; the same file as
    ``write_avro_file`` gives for the same records (header from fastavro,
    deflate blocks of 16,000 bytes), but the encoding can be done elsewhere.

    Returns the number of records written. Raises ``OSError`` on any failure,
    leaving no file under ``path``.
    """
    import fastavro

    sync = os.urandom(16)
    header = io.BytesIO()
    fastavro.writer(header, parsed_schema, [], codec="deflate", sync_marker=sync)
    count = 0

    def write(handle) -> None:
        nonlocal count
        handle.write(header.getvalue())
        block: list[bytes] = []
        size = 0
        for record in encoded:
            block.append(record)
            size += len(record)
            count += 1
            if size >= _AVRO_BLOCK_BYTES:
                _write_deflate_block(handle, block, sync)
                block, size = [], 0
        if block:
            _write_deflate_block(handle, block, sync)

    _write_atomically(path, write)
    return count


def _write_deflate_block(handle, records: list[bytes], sync: bytes) -> None:
    data = zlib.compress(b"".join(records))[2:-1]  # raw deflate, as the Avro spec says
    handle.write(_avro_long(len(records)) + _avro_long(len(data)))
    handle.write(data)
    handle.write(sync)


def _avro_long(value: int) -> bytes:
    """Avro's zig-zag varint encoding of a long."""
    value = (value << 1) ^ (value >> 63)
    out = bytearray()
    while value & ~0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _write_atomically(path: str, write) -> None:
    """Call ``write(handle)`` on a hidden temporary file beside ``path``,
    fsync it, then rename it to ``path`` with ``replace_durably``; nothing is
    left under ``path`` on failure."""
    directory, name = path.rsplit("/", 1) if "/" in path else (".", path)
    temp_path = f"{directory}/.{name}.{uuid.uuid4().hex[:8]}.tmp"
    if "://" not in path:
        os.makedirs(directory, exist_ok=True)
        try:
            with open(temp_path, "wb") as handle:
                write(handle)
                handle.flush()
                os.fsync(handle.fileno())
            replace_durably(temp_path, path)
        except BaseException:
            for leftover in (temp_path, path):
                if os.path.exists(leftover):
                    # Unacknowledged, so the retry writes these records again:
                    # a copy left under ``path`` would repeat them.
                    os.remove(leftover)
            raise
    else:
        with FileSystems.create(temp_path) as handle:
            write(handle)
        FileSystems.rename([temp_path], [path])


def replace_durably(temp_path: str, path: str) -> None:
    """Rename ``temp_path`` (already fsynced) to ``path``, then fsync the
    directory that holds ``path``.

    Every local file renamed into the output goes through here. The rename
    is only a change to the directory: until the directory is on disk, a
    power cut can take the file back although its records were acknowledged
    (a Kafka offset committed, a drop file journalled as ingested). Raises
    ``OSError`` if either step fails, so the caller acknowledges nothing.
    """
    os.replace(temp_path, path)
    fsync_directory(os.path.dirname(path) or ".")


def fsync_directory(directory: str) -> None:
    """Flush ``directory``'s entries (names created, renamed, removed) to disk.

    Raises ``OSError``, except ``EINVAL`` from a filesystem that cannot sync
    a directory, where there is nothing more to do.
    """
    descriptor = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(descriptor)
    except OSError as error:
        if error.errno != errno.EINVAL:
            raise
    finally:
        os.close(descriptor)


class _EncodeAvroFn(beam.DoFn):
    """Batch: a record as (shard, (Avro bytes, encoded source position, kind)),
    kind being the language of a story or the reason of a dead letter."""

    def __init__(self, schema_name: str, num_shards: int):
        self._schema_name = schema_name
        self._num_shards = num_shards
        self._kind = "language" if schema_name == "story" else "reason"

    def setup(self) -> None:
        import fastavro

        self._schema = fastavro.parse_schema(load_schema(self._schema_name))
        self._sources = SourcePositionCoder()

    def process(self, record) -> Iterator:
        avro = record.to_avro()
        yield (_shard_of(record.source.record_id(), self._num_shards),
               (encode_avro_record(self._schema, avro), self._sources.encode(record.source),
                avro[self._kind]))


class _WriteShardFn(beam.DoFn):
    """Batch: one file per shard group of encoded records (``_EncodeAvroFn``)."""

    def __init__(self, output_dir: str, prefix: str, schema_name: str):
        self._output_dir = output_dir.rstrip("/")
        self._prefix = prefix
        self._schema_name = schema_name
        self._schema = None
        counter = "written" if schema_name == "story" else "dead_letters"
        self._written = Metrics.counter("wire_ingest", counter)
        self._files = Metrics.counter("wire_ingest", f"{prefix}_files")

    def setup(self) -> None:
        import fastavro

        self._schema = fastavro.parse_schema(load_schema(self._schema_name))

    def process(self, element) -> Iterator:
        shard, entries = element
        entries = list(entries)
        token = uuid.uuid4().hex[:8]
        path = f"{self._output_dir}/{self._prefix}-all-{shard:03d}-{token}.avro"
        with telemetry.stage_timer("write"):
            count = write_encoded_avro_file(path, self._schema, (encoded for encoded, _, _ in entries))
        self._files.inc()
        self._written.inc(count)
        self._count_kinds(kind for _, _, kind in entries)
        decode_source = SourcePositionCoder().decode
        sources = [decode_source(source) for _, source, _ in entries]
        self._count_live((source.kind, kind) for source, (_, _, kind) in zip(sources, entries))
        yield from sources

    def _count_by_kind(self, entries: list) -> None:
        key = "language" if self._schema_name == "story" else "reason"
        self._count_kinds(record[key] for _, record in entries)
        self._count_live((source.kind, record[key]) for source, record in entries)
        if key == "language" and telemetry.enabled():
            now = time.time()
            for source, record in entries:
                telemetry.observe("story_latency_seconds", now - record["ingested_at"] / 1000.0,
                                  source_kind=source.kind)

    def _count_live(self, kinds: Iterable[tuple[str, str]]) -> None:
        """The live counters (``transforms.telemetry``) by source kind and language or reason."""
        if not telemetry.enabled():
            return
        name, label = ("written", "language") if self._schema_name == "story" else \
            ("dead_letters", "reason")
        for (source_kind, value), count in collections.Counter(kinds).items():
            telemetry.count(name, count, source_kind=source_kind, **{label: value})

    def _count_kinds(self, kinds: Iterable[str]) -> None:
        key = "language" if self._schema_name == "story" else "reason"
        counts: dict[str, int] = {}
        for kind in kinds:
            counts[kind] = counts.get(kind, 0) + 1
        for value, count in counts.items():
            name = f"written_language_{value}" if key == "language" else f"dead_letter_{value}"
            Metrics.counter("wire_ingest", name).inc(count)


class _WriteWindowFilesFn(_WriteShardFn):
    """Streaming: per bundle, one file per event-time window; acknowledged
    when every file of the bundle is in place."""

    def start_bundle(self) -> None:
        self._pending: dict = {}

    def process(self, record, timestamp=beam.DoFn.TimestampParam, win=beam.DoFn.WindowParam):
        self._pending.setdefault(win, []).append((record.source, record.to_avro(), timestamp))
        return ()

    def finish_bundle(self):
        if not self._pending:
            return
        from apache_beam.utils.windowed_value import WindowedValue

        pending, self._pending = self._pending, {}
        windows = sorted(pending, key=lambda win: win.start)
        for win in windows:
            path = window_file_path(self._output_dir, self._prefix, win)
            with telemetry.stage_timer("write"):
                write_avro_file(path, self._schema, (record for _, record, _ in pending[win]))
        # Counted once every file is in place: a failed write retries the whole bundle.
        for win in windows:
            self._files.inc()
            self._written.inc(len(pending[win]))
            self._count_by_kind([(source, record) for source, record, _ in pending[win]])
        for win in windows:
            for source, _, timestamp in pending[win]:
                yield WindowedValue(source, timestamp, (win,))


def load_written_stories(output_dir: str, max_age_seconds: float) -> list:
    """Stories already written to ``output_dir`` by runs of the last
    ``max_age_seconds`` (by file time), as ``Story`` objects carrying what
    dedup needs (id, texts, slugline, version, hash, event time).

    A restarted pipeline gives them to the dedup ledger, so that copies
    re-delivered after a crash are marked as the duplicates they are. Local
    directories only; a missing directory gives nothing.
    """
    import glob

    import fastavro

    from transforms.model import SourcePosition, Story

    if "://" in output_dir or not os.path.isdir(output_dir):
        return []
    cutoff = time.time() - max_age_seconds
    stories = []
    for path in sorted(glob.glob(os.path.join(output_dir, f"{STORIES_PREFIX}-*.avro"))):
        if os.path.getmtime(path) < cutoff:
            continue
        with open(path, "rb") as handle:
            for record in fastavro.reader(handle, return_record_name=False):
                stories.append(Story(
                    id=record["id"], format=record["format"], headline=record["headline"],
                    body=record["body"],
                    source=SourcePosition(kind=record["source"]["kind"], uri=record["source"]["uri"]),
                    ingested_at=0, event_time=_millis(record["event_time"]),
                    slugline=record.get("slugline"), version=record.get("version"),
                    editorial_markers=tuple(record.get("editorial_markers") or ()),
                    content_hash=record["content_hash"],
                ))
    return stories


def _millis(value) -> int:
    """fastavro reads timestamp-millis as an aware datetime."""
    return int(value.timestamp() * 1000) if hasattr(value, "timestamp") else int(value)
