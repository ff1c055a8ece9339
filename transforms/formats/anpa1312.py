"""ANPA-1312 (the AP and US/Australian wire transmission format).

Input: one or more messages, each ``SYN SYN SOH`` + a header (service and
story number, selector codes; then priority, category and the keyword line
``BC-BKN--Heat-Hawks 1stLd-Writethru   02-20 0500``), ``STX``, the text,
``ETX``, a trailer (``AP-WF-02-20-16 0337GMT``) and ``EOT``. Output: one
result per message; with several messages a broken one is an
``ItemFailure`` and its siblings are still returned, a single broken
message raises ``ParseError``. A message without its ``ETX`` end-of-text
marker is truncated: ``malformed``.

The text uses AP's markers: a line starting with ``^`` is a heading
segment (several may share a line); a segment ending in ``<`` is a header
line (the slug line ``BC-...,416`` with its version, the headline, ``AP
Photo ...`` and ``Eds: ...`` notes), one ending in ``=`` is a byline line
(``By CHARLES ODUM=`` then ``AP Sports Writer=``: joined into one byline);
other ``^`` lines are text (a summary before the body, or the items of a
headline digest). Body paragraphs start with a tab. Fields are read with
the control characters in place; they are stripped from the text after.

Mapping: headline (the first header line that is not the slug, a photo
reference, an editor's note or a code); standfirst (a ``^`` summary line
before tab-indented paragraphs); bylines; body; slugline (the slug of the
slug line, else of the keyword); version (the take/lead after the slug:
``1st Ld-Writethru``); urgency from the priority letter (f 1, b 2, u 3,
s 4, r 5, d 6, a/w 7); agency and published time from the trailer.

Decision: a message with no headline line (``APNewsAlert``) is an alert
whose text is its headline: its first paragraph becomes the headline too.
"""

from __future__ import annotations

import calendar
import re
import dataclasses
from typing import Union

from transforms.formats._common import clean, strip_controls
from transforms.formats.encoding import decode_text
from transforms.model import DeadLetterReason, ItemFailure, ParsedItem, ParseError

__all__ = ["FORMAT", "parse", "parse_message"]

FORMAT = "anpa1312"
_START = b"\x16\x16\x01"
_URGENCY = {"f": 1, "b": 2, "u": 3, "s": 4, "r": 5, "h": 5, "d": 6, "a": 7, "w": 7}
_KEYWORD = re.compile(r"^\s*(\S+)(?:\s+(\S.*?))?\s+(\d\d-\d\d)(?:\s+(\d{1,4}))?\s*$")
_PRIORITY = re.compile(r"^\s*([a-z])\s+([a-z])")
_SLUG_LINE = re.compile(r"^([A-Z]{2}-[^,]+?)(?:,\s*(.+?))?,\s*\d{1,5}$")
_CODE_SEGMENT = re.compile(r"^\*?\d+$")
_NOT_HEADLINE = re.compile(r"^(AP Photos?\b|\(?Eds?:|With AP Photo|Photos?:|AP Video|Editors?:)", re.I)
_TRAILER = re.compile(r"([A-Z]{2,6})-[A-Z]{1,4}-(\d\d)-(\d\d)-(\d\d)\s+(\d\d)(\d\d)\s*GMT")
_DATELINE_LEAD = re.compile(r"^[A-Z][A-Z .,'\-]+\([A-Za-z ]+\)\s*[_\u2014-]+\s*")
_ONLY_PUNCTUATION = re.compile(r"^[\W_]+$")

ParseResult = Union[ParsedItem, ItemFailure]


def parse(data: bytes) -> list[ParseResult]:
    """Parse ANPA-1312 bytes: one result per ``SYN SYN SOH`` message."""
    start = data.find(_START)
    if start < 0:
        raise ParseError(DeadLetterReason.MALFORMED, f"{FORMAT}: no SYN SYN SOH message start", FORMAT)
    messages = [_START + chunk for chunk in data[start:].split(_START) if chunk.strip()]
    if len(messages) == 1:
        return [parse_message(messages[0])]
    results: list[ParseResult] = []
    for index, message in enumerate(messages):
        try:
            item = parse_message(message)
            results.append(_at(item, index))
        except ParseError as error:
            results.append(ItemFailure(reason=error.reason, error=str(error), raw=message,
                                       item_index=index, format=FORMAT))
    return results


def _at(item: ParsedItem, index: int) -> ParsedItem:
    return dataclasses.replace(item, item_index=index) if index else item


def parse_message(message: bytes) -> ParsedItem:
    """Parse one ANPA-1312 message (from ``SYN SYN SOH`` to ``EOT``)."""
    stx = message.find(b"\x02")
    if stx < 0:
        raise ParseError(DeadLetterReason.MALFORMED, f"{FORMAT}: no STX start-of-text marker", FORMAT)
    etx = message.find(b"\x03", stx)
    if etx < 0:
        raise ParseError(
            DeadLetterReason.MALFORMED, f"{FORMAT}: no ETX end-of-text marker (truncated message)", FORMAT)
    header, _ = decode_text(message[:stx].replace(b"\x16", b"").replace(b"\x01", b" "))
    text, _ = decode_text(message[stx + 1:etx])
    trailer, _ = decode_text(message[etx + 1:].replace(b"\x04", b""))

    header_lines = [line for line in header.replace("\r", "").split("\n") if line.strip()]
    priority = None
    keyword_slug = keyword_version = None
    if len(header_lines) >= 2:
        second = header_lines[1]
        match = _PRIORITY.match(second)
        priority = match.group(1) if match else None
        keyword_part = re.split(r"[\x11\x12\x13\x14]", second)[-1]
        keyword = _KEYWORD.match(strip_controls(keyword_part))
        if keyword:
            keyword_slug, keyword_version = keyword.group(1), keyword.group(2)

    slug = version = headline = standfirst = None
    bylines: list[str] = []
    byline_parts: list[str] = []
    caret_text: list[str] = []
    paragraphs: list[str] = []
    for raw_line in text.replace("\r", "").split("\n"):
        line = raw_line.rstrip()
        if not line.strip():
            continue
        if line.lstrip(" ").startswith("^"):
            for segment in line.split("^")[1:]:
                segment = strip_controls(segment).strip()
                if not segment:
                    continue
                if segment.endswith("<"):
                    value = segment[:-1].strip()
                    slug_match = _SLUG_LINE.match(value)
                    if slug is None and slug_match:
                        slug, version = slug_match.group(1).strip(), slug_match.group(2)
                    elif headline is None and value and not _CODE_SEGMENT.match(value) \
                            and not _NOT_HEADLINE.match(value):
                        headline = clean(value)
                    elif headline and standfirst is None and len(value) > 80 \
                            and not _NOT_HEADLINE.match(value):
                        standfirst = clean(value)  # AP's summary line
                elif segment.endswith("="):
                    byline_parts.append(segment[:-1].strip())
                else:
                    caret_text.append(clean(segment))
        else:
            paragraph = clean(strip_controls(line))
            if paragraph and not _ONLY_PUNCTUATION.match(paragraph):
                paragraphs.append(paragraph)
    if byline_parts:
        bylines.append(", ".join(p for p in byline_parts if p))
    if paragraphs and caret_text and standfirst is None:
        standfirst = caret_text[0]  # a summary ahead of tab-indented paragraphs
    elif caret_text:
        paragraphs = caret_text  # a digest: its items are the text
    if not paragraphs:
        raise ParseError(DeadLetterReason.MISSING_BODY, f"{FORMAT}: {slug or keyword_slug or 'message'}: no text",
                         FORMAT)
    if not headline:
        headline = _DATELINE_LEAD.sub("", paragraphs[0])  # an alert: its text is its headline

    agency = published = None
    trailer_match = _TRAILER.search(strip_controls(trailer)) or _TRAILER.search(text)
    if trailer_match:
        agency = trailer_match.group(1)
        month, day, year, hour, minute = (int(g) for g in trailer_match.groups()[1:])
        if 1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60:
            published = calendar.timegm((2000 + year, month, day, hour, minute, 0, 0, 0, 0)) * 1000
    return ParsedItem(
        format=FORMAT,
        headline=headline,
        body_paragraphs=tuple(paragraphs),
        standfirst=standfirst,
        bylines=tuple(bylines),
        agency=agency,
        urgency=_URGENCY.get(priority) if priority else None,
        slugline=slug or keyword_slug,
        version=clean(version or keyword_version) or None,
        published_at=published,
    )

