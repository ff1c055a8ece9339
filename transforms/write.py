"""Writing stories and dead letters as Avro container files.

In: ``Story`` or ``DeadLetter`` elements. Out (as files): Avro object
container files ``DIR/stories-<when>-<shard>-<token>.avro`` and
``DIR/dead-letters-<when>-<shard>-<token>.avro`` (``when`` is ``all`` in
batch, the UTC time the file was cut in streaming), each with the writer
schema from ``schemas/`` embedded and deflate-compressed blocks. Out (as a
PCollection): the ``SourcePosition`` of every record, emitted only after the
file holding it has been closed, flushed to disk and renamed into place:
these acknowledgements are what the Kafka offset commit waits for.

Batch runs write one file per shard. Streaming runs cut files by arrival,
not by event time: every ``window_seconds`` of processing time (or every
``max_records_per_file`` records, whichever comes first) each shard writes a
file of what has arrived. Event time plays no part, so a story with an old
timestamp (a replayed archive, a partition that caught up late) is never
late for the sink and never dropped. A file is written under a hidden
temporary name and renamed, so readers never see a partial file; a failed
write raises, so the runner retries the bundle and nothing unwritten is
acknowledged.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import uuid
from typing import Any, Iterable, Iterator, Optional

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.transforms import trigger, window

from schemas import load_schema

__all__ = ["WriteStories", "WriteDeadLetters", "WriteAvroFiles", "STORIES_PREFIX", "DEAD_LETTERS_PREFIX"]

_LOG = logging.getLogger(__name__)

STORIES_PREFIX = "stories"
DEAD_LETTERS_PREFIX = "dead-letters"
#: A streaming file is cut at this many records even before its time is up.
DEFAULT_MAX_RECORDS_PER_FILE = 10_000


class WriteAvroFiles(beam.PTransform):
    """Write records (anything with ``to_avro()`` and ``source``) to Avro files.

    Args:
      output_dir: directory (local path or any Beam filesystem URI).
      prefix: file name prefix, e.g. ``stories``.
      schema_name: ``story`` or ``dead_letter`` (a file in ``schemas/``).
      window_seconds: None for batch (one file per shard); for streaming,
        how many seconds of arrivals each file holds at most.
      num_shards: files per cut; records are spread by a hash of their id.

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
            windowing = beam.WindowInto(
                window.GlobalWindows(),
                trigger=trigger.Repeatedly(trigger.AfterAny(
                    trigger.AfterProcessingTime(self._window_seconds),
                    trigger.AfterCount(DEFAULT_MAX_RECORDS_PER_FILE))),
                accumulation_mode=trigger.AccumulationMode.DISCARDING,
            )
        else:
            windowing = beam.WindowInto(window.GlobalWindows())
        shards = self._num_shards
        return (
            records
            | "ToAvro" >> beam.Map(lambda r: (_shard_of(r.source.record_id(), shards),
                                              (r.source, r.to_avro())))
            | "Window" >> windowing
            | "GroupByShard" >> beam.GroupByKey()
            | "WriteFiles" >> beam.ParDo(
                _WriteShardFn(self._output_dir, self._prefix, self._schema_name,
                              streaming=bool(self._window_seconds)))
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


def _file_tag(streaming: bool) -> str:
    """``all`` for a batch file; the UTC time of writing for a streaming one."""
    if not streaming:
        return "all"
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime())


def write_avro_file(path: str, parsed_schema: Any, records: Iterable[dict]) -> int:
    """Write ``records`` to ``path`` atomically (temporary name, then rename).

    Returns the number of records written. Raises ``OSError`` on any failure
    (unwritable directory, full disk), leaving no file under ``path``.
    """
    import fastavro

    directory, name = path.rsplit("/", 1) if "/" in path else (".", path)
    temp_path = f"{directory}/.{name}.{uuid.uuid4().hex[:8]}.tmp"
    records = list(records)
    if "://" not in path:
        os.makedirs(directory, exist_ok=True)
        try:
            with open(temp_path, "wb") as handle:
                fastavro.writer(handle, parsed_schema, records, codec="deflate")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp_path, path)
        except BaseException:
            if os.path.exists(temp_path):
                os.remove(temp_path)
            raise
    else:
        with FileSystems.create(temp_path) as handle:
            fastavro.writer(handle, parsed_schema, records, codec="deflate")
        FileSystems.rename([temp_path], [path])
    return len(records)


class _WriteShardFn(beam.DoFn):
    def __init__(self, output_dir: str, prefix: str, schema_name: str, streaming: bool = False):
        self._streaming = streaming
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
        path = f"{self._output_dir}/{self._prefix}-{_file_tag(self._streaming)}-{shard:03d}-{token}.avro"
        count = write_avro_file(path, self._schema, (record for _, record in entries))
        self._files.inc()
        self._written.inc(count)
        self._count_by_kind(entries)
        for source, _ in entries:
            yield source

    def _count_by_kind(self, entries: list) -> None:
        key = "language" if self._schema_name == "story" else "reason"
        counts: dict[str, int] = {}
        for _, record in entries:
            counts[record[key]] = counts.get(record[key], 0) + 1
        for value, count in counts.items():
            name = f"written_language_{value}" if key == "language" else f"dead_letter_{value}"
            Metrics.counter("wire_ingest", name).inc(count)
