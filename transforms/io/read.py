"""Reading raw wire inputs from files: one file is one raw input.

In: file patterns (globs, or directories, which mean every file in them).
Out: ``RawInput`` elements carrying the file's bytes exactly as stored
(``.gz`` files decompressed), its path as source position and its
modification time as event time; plus ``DeadLetter``s for files that cannot
be read (too large, unreadable, corrupt gzip). An input is never dropped: it
is either emitted or dead-lettered. Order is not guaranteed.
"""

from __future__ import annotations

import gzip
import logging
import os
import zlib
from typing import Iterable, Iterator, Optional, Union

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from transforms import telemetry
from transforms.model import DeadLetter, DeadLetterReason, RawInput, SourcePosition, now_millis

__all__ = ["ReadWireStories", "expand_pattern", "read_file_input", "DEFAULT_MAX_INPUT_BYTES"]

_LOG = logging.getLogger(__name__)

#: Inputs larger than this are dead-lettered ``too_large``. A wire story is a
#: few KB and a Reuters-21578 archive 1.3 MB; tens of MB is a wrong file.
DEFAULT_MAX_INPUT_BYTES = 16 * 1024 * 1024

#: Temporary and partial names that agencies' uploaders use while writing.
_IN_PROGRESS_SUFFIXES = (".tmp", ".part", ".partial", ".filepart", ".crdownload")


def expand_pattern(pattern: str) -> str:
    """A directory means every file directly inside it."""
    if os.path.isdir(pattern):
        return os.path.join(pattern, "*")
    return pattern


def _is_wanted(path: str) -> bool:
    name = os.path.basename(path)
    return not name.startswith(".") and not name.endswith(_IN_PROGRESS_SUFFIXES)


def read_file_input(
    path: str, size: int, mtime_seconds: Optional[float], max_bytes: int = DEFAULT_MAX_INPUT_BYTES
) -> Union[RawInput, DeadLetter]:
    """Read one file into a ``RawInput``, or a ``DeadLetter`` saying why not."""
    mtime = int(mtime_seconds * 1000) if mtime_seconds else None
    source = SourcePosition(kind="file", uri=path, timestamp=mtime)
    filename = path[:-3] if path.endswith(".gz") else path

    def dead(raw: bytes, reason: str, error: str, raw_size: int = -1) -> DeadLetter:
        return DeadLetter(
            raw=raw, source=source, stage="read", reason=reason, error=error,
            failed_at=now_millis(), raw_size=raw_size,
        )

    try:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
            if size > max_bytes:
                head = handle.read(1 << 20)
                return dead(head, DeadLetterReason.TOO_LARGE,
                            f"file of {size} bytes is over the {max_bytes}-byte input limit", size)
            data = handle.read(max_bytes + 1)
    except (OSError, IOError) as error:
        return dead(b"", DeadLetterReason.UNREADABLE, f"cannot read file: {error}")
    if path.endswith(".gz"):
        try:
            # Bounded decompression: a gzip bomb stops at the limit.
            decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
            inflated = decompressor.decompress(data, max_bytes + 1)
            if len(inflated) > max_bytes:
                return dead(data, DeadLetterReason.TOO_LARGE,
                            f"gzip file inflates past the {max_bytes}-byte input limit")
            if not decompressor.eof:
                return dead(data, DeadLetterReason.MALFORMED, "gzip: truncated stream")
            data = inflated
        except (zlib.error, EOFError, gzip.BadGzipFile) as error:
            return dead(data, DeadLetterReason.MALFORMED, f"gzip: {error}")
    return RawInput(raw=data, source=source, filename=os.path.basename(filename), event_time=mtime)


class ReadWireStories(beam.PTransform):
    """Match file patterns and read each matched file as one ``RawInput``.

    Returns a dict-like ``beam.pvalue.DoOutputsTuple`` with the main output
    (``RawInput``) and ``ReadWireStories.DEAD_LETTERS`` (``DeadLetter``).
    """

    INPUTS = "inputs"
    DEAD_LETTERS = "dead_letters"

    def __init__(self, patterns: Iterable[str], max_input_bytes: int = DEFAULT_MAX_INPUT_BYTES):
        super().__init__()
        self._patterns = [expand_pattern(p) for p in patterns]
        if not self._patterns:
            raise ValueError("--input: give at least one file pattern")
        if max_input_bytes <= 0:
            raise ValueError("--max-input-bytes must be positive")
        self._max_input_bytes = max_input_bytes

    def expand(self, pbegin):
        return (
            pbegin
            | "Patterns" >> beam.Create(self._patterns)
            | "Match" >> fileio.MatchAll(fileio.EmptyMatchTreatment.ALLOW)
            | "SpreadFiles" >> beam.Reshuffle()
            | "ReadFiles" >> beam.ParDo(_ReadFileFn(self._max_input_bytes)).with_outputs(
                self.DEAD_LETTERS, main=self.INPUTS)
        )


class _ReadFileFn(beam.DoFn):
    def __init__(self, max_input_bytes: int):
        self._max_input_bytes = max_input_bytes
        self._inputs = Metrics.counter("wire_ingest", "raw_inputs")
        self._skipped = Metrics.counter("wire_ingest", "files_skipped_in_progress")
        # Inputs that fail here never reach the parser, which counts the rest.
        self._read = Metrics.counter("wire_ingest", "read")

    def process(self, metadata) -> Iterator:
        if not _is_wanted(metadata.path):
            self._skipped.inc()
            return
        result = read_file_input(
            metadata.path, metadata.size_in_bytes, metadata.last_updated_in_seconds,
            self._max_input_bytes,
        )
        self._inputs.inc()
        if isinstance(result, DeadLetter):
            self._read.inc()
            telemetry.count("read", source_kind=result.source.kind)
            yield beam.pvalue.TaggedOutput(ReadWireStories.DEAD_LETTERS, result)
        else:
            yield result
