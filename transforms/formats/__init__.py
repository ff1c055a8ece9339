"""Delivery formats: detection and one parser per format.

``parse_input`` is the single entry point the pipeline uses: it detects the
format of a raw input (from its content, its file name, or a hint such as a
Kafka ``wire-format`` header), runs that format's parser and returns one
result per item the input holds: a ``ParsedItem`` for a story, an
``ItemFailure`` for an item that is not (so its siblings in a package are
still written). Input that cannot be read at all raises ``ParseError``.

Every parser module exposes ``FORMAT`` (its name, as written in the record's
``format`` field) and ``parse(data: bytes) -> list[ParsedItem | ItemFailure]``.
"""

from __future__ import annotations

from typing import Callable, Optional, Union

from transforms.formats import (
    aap_text,
    anpa1312,
    ap_media_api_json,
    iptc7901,
    newsml_1x,
    newsml_g2,
    ninjs,
    nitf,
    plain_text,
    reuters_sgml,
)
from transforms.formats.detect import detect_format
from transforms.model import DeadLetterReason, ItemFailure, ParsedItem, ParseError, RawInput

__all__ = ["PARSERS", "ParseResult", "parse_input", "parse_bytes", "detect_format"]

ParseResult = Union[ParsedItem, ItemFailure]

#: Format name -> parser. Detection returns one of these keys.
PARSERS: dict[str, Callable[[bytes], list[ParseResult]]] = {
    plain_text.FORMAT: plain_text.parse,
    reuters_sgml.FORMAT: reuters_sgml.parse,
    ninjs.FORMAT: ninjs.parse,
    nitf.FORMAT: nitf.parse,
    newsml_g2.FORMAT: newsml_g2.parse,
    newsml_1x.FORMAT: newsml_1x.parse,
    iptc7901.FORMAT: iptc7901.parse,
    anpa1312.FORMAT: anpa1312.parse,
    ap_media_api_json.FORMAT: ap_media_api_json.parse,
    aap_text.FORMAT: aap_text.parse,
}


def parse_bytes(
    data: bytes, filename: Optional[str] = None, hint: Optional[str] = None
) -> tuple[str, list[ParseResult]]:
    """Detect the format of ``data`` and parse it; returns ``(format, results)``."""
    fmt = detect_format(data, filename=filename, hint=hint)
    if fmt is None or fmt not in PARSERS:
        raise ParseError(DeadLetterReason.UNRECOGNISED_FORMAT, "unrecognised format")
    try:
        results = PARSERS[fmt](data)
    except ParseError as error:
        if error.format is None:
            error.format = fmt
        raise
    except RecursionError as error:
        raise ParseError(DeadLetterReason.MALFORMED, f"{fmt}: nesting too deep", fmt) from error
    if not results:  # an input that gives nothing would be lost: it is a dead letter
        raise ParseError(DeadLetterReason.NOT_A_STORY, f"{fmt}: no story in the input", fmt)
    return fmt, results


def parse_input(raw: RawInput) -> tuple[str, list[ParseResult]]:
    """``parse_bytes`` for a ``RawInput``, using its file name and format hint."""
    return parse_bytes(raw.raw, filename=raw.filename, hint=raw.format_hint)
