"""Parsing raw inputs into items, whatever their delivery format.

In: ``RawInput``. Out: ``ParsedInput`` (one per story item; a package or an
archive yields several, each with its item index in the source position),
and ``DeadLetter``s with the raw bytes, the source position and the reason,
for inputs that are empty, too large, undecodable, of no known format or
malformed, and for the single bad items of otherwise good packages.

The ``read`` counter counts items, not inputs: each item of a package once,
and an input that fails as a whole once, so that at the end of a run
``read == written + duplicates_dropped + dead_letters``.
"""

from __future__ import annotations

import logging
from typing import Iterator

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms import telemetry
from transforms.formats import parse_input
from transforms.formats.encoding import looks_binary
from transforms.model import (
    DeadLetter,
    DeadLetterReason,
    ItemFailure,
    ParsedInput,
    ParseError,
    RawInput,
    now_millis,
)
from transforms.io.read import DEFAULT_MAX_INPUT_BYTES

__all__ = ["ParseStories", "parse_raw_input"]

_LOG = logging.getLogger(__name__)


def parse_raw_input(raw: RawInput, max_input_bytes: int = DEFAULT_MAX_INPUT_BYTES) -> list:
    """Parse one raw input: a list of ``ParsedInput`` and ``DeadLetter``.

    Pure (no Beam), so the same logic runs in the pipeline, the benchmark's
    baseline loop and the tests. Never raises for bad input.
    """

    def dead(reason: str, error: str, fmt=None, raw_bytes=raw.raw, source=raw.source) -> DeadLetter:
        return DeadLetter(raw=raw_bytes, source=source, stage="parse", reason=reason,
                          error=error, failed_at=now_millis(), format=fmt)

    if not raw.raw.strip():
        return [dead(DeadLetterReason.EMPTY, "empty input")]
    if len(raw.raw) > max_input_bytes:
        return [dead(DeadLetterReason.TOO_LARGE,
                     f"input of {len(raw.raw)} bytes is over the {max_input_bytes}-byte limit")]
    if looks_binary(raw.raw):
        return [dead(DeadLetterReason.UNDECODABLE, "binary data, not text in any encoding")]
    try:
        fmt, results = parse_input(raw)
    except ParseError as error:
        return [dead(error.reason, str(error), error.format)]
    except Exception as error:  # a parser bug must not lose the story
        _LOG.exception("parser failed on %s", raw.source.uri)
        return [dead(DeadLetterReason.ERROR, f"parser error: {type(error).__name__}: {error}")]
    if not results:
        return [dead(DeadLetterReason.NOT_A_STORY, f"{fmt}: no story items in input", fmt)]
    count = len(results)
    out: list = []
    for index, result in enumerate(results):
        source = raw.source.for_item(index, count)
        if isinstance(result, ItemFailure):
            out.append(dead(result.reason, result.error, result.format or fmt,
                            raw_bytes=result.raw or raw.raw, source=source))
        else:
            out.append(ParsedInput(item=result, source=source, raw=raw.raw, event_time=raw.event_time))
    return out


class ParseStories(beam.PTransform):
    """Detect each raw input's format and parse it into story items.

    Returns a ``DoOutputsTuple``: main output ``ParsedInput``, and
    ``ParseStories.DEAD_LETTERS`` with ``DeadLetter``.
    """

    ITEMS = "items"
    DEAD_LETTERS = "dead_letters"

    def __init__(self, max_input_bytes: int = DEFAULT_MAX_INPUT_BYTES):
        super().__init__()
        self._max_input_bytes = max_input_bytes

    def expand(self, raw_inputs):
        return raw_inputs | "Parse" >> beam.ParDo(_ParseFn(self._max_input_bytes)).with_outputs(
            self.DEAD_LETTERS, main=self.ITEMS)


class _ParseFn(beam.DoFn):
    def __init__(self, max_input_bytes: int):
        self._max_input_bytes = max_input_bytes
        self._read = Metrics.counter("wire_ingest", "read")
        self._parsed = Metrics.counter("wire_ingest", "parsed")

    def process(self, raw: RawInput) -> Iterator:
        with telemetry.stage_timer("parse"):
            results = parse_raw_input(raw, self._max_input_bytes)
        self._read.inc(len(results))
        telemetry.count("read", len(results), source_kind=raw.source.kind)
        for result in results:
            if isinstance(result, DeadLetter):
                yield beam.pvalue.TaggedOutput(ParseStories.DEAD_LETTERS, result)
            else:
                self._parsed.inc()
                yield result
