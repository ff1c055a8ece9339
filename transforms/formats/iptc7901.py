"""IPTC 7901 (the IPTC recommended text transmission format; dpa's English service).

Input: one message, or a stream of them (one result each): optional ``SOH``, the header line (source and sequence
number, priority digit, category, word count, optional keyword or
selector, then the agency and its number: ``eca00075 3 i 510  dpa 1003``),
the keyword line (``Germany-football/Munich/Mueller/``), ``STX``, the
heading (status lines such as ``2ND LEAD``, ``EXTRA``; the headline; a
``By ...`` byline; the heading ends at the first line ending in ``=``),
the text, ``ETX`` and the time stamp (``071341 GMT Okt 15``: day, hour,
minute, month, year), ``EOT``. Copies with the control characters already
removed (``superdesk-belga__dpa.txt``) are read the same way; a message
that starts with ``SOH`` but has no ``ETX`` is truncated: ``malformed``.

Mapping: headline, bylines, body paragraphs (blank-line separated, wrapped
lines joined; the "not intended for publication" section and the trailing
``dpa xx yy`` initials line are cut off), slugline (the keyword line
without its trailing ``/``), version (a ``1ST LEAD`` / ``2ND LEAD`` /
``CORRECTION`` / ``REPEAT`` status line), urgency (the priority digit),
agency (from the header), item id (``eca00075``), published time (the
time stamp, German or English month names). Control characters are
stripped from the text after the fields are read.
"""

from __future__ import annotations

import calendar
import dataclasses
import re
from typing import Optional, Union

from transforms.formats._common import clean, strip_controls
from transforms.formats.encoding import decode_text
from transforms.model import DeadLetterReason, ItemFailure, ParsedItem, ParseError

__all__ = ["FORMAT", "parse", "parse_message"]

FORMAT = "iptc7901"
ParseResult = Union[ParsedItem, ItemFailure]
# A message starts with SOH and its header line (at the start or after EOT).
_MESSAGE_START = re.compile(rb"\x01(?=\s*[a-z]{2,4}\d{2,6}\s+[1-6]\s)")
_HEADER = re.compile(
    r"^\s*([a-z]{2,4}\d{2,6})\s+([1-6])\s+([a-z]{1,3})\s+(\d{1,5})\b(.*)$"
)
_STATUS = re.compile(
    r"^\(?(\d+(?:ST|ND|RD|TH)\s+\w+|EXTRA|URGENT|CORRECTION|CORRECTED|REPEAT|ADVISORY|FLASH|"
    r"BULLETIN|Achtung|ACHTUNG|Eilmeldung|EILMELDUNG|Berichtigung|BERICHTIGUNG)\)?$"
)
_VERSION = re.compile(r"^(\d+(?:ST|ND|RD|TH)\s+(?:LEAD|NET|WRITETHRU|UPDATE)|CORRECTION|CORRECTED|REPEAT|"
                      r"Berichtigung|BERICHTIGUNG)$", re.I)
_BYLINE = re.compile(r"^(By|Von)\s+\S", re.I)
_STAMP = re.compile(r"^\s*(\d\d)(\d\d)(\d\d)\s+GMT\s+([A-Za-zäÄ]{3})\w*\.?\s+(\d\d)\s*$")
_INITIALS = re.compile(r"^[a-z]{2,5}(?:\s+[a-z]{1,5})+$")
_NOT_FOR_PUBLICATION = re.compile(r"^(The following information is not intended for publication|"
                                  r"Die folgenden Informationen sind nicht zur Veröffentlichung bestimmt)", re.I)
_ONLY_PUNCTUATION = re.compile(r"^[\W_]+$")
_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "mär": 3, "apr": 4, "may": 5, "mai": 5, "jun": 6, "jul": 7,
    "aug": 8, "sep": 9, "oct": 10, "okt": 10, "nov": 11, "dec": 12, "dez": 12,
}


def parse(data: bytes) -> list[ParseResult]:
    """Parse IPTC 7901 bytes: one result per ``SOH`` ... ``EOT`` message.

    A stream of several messages gives one result each (a broken one is an
    ``ItemFailure``); a single message raises ``ParseError`` when broken.
    """
    starts = [m.start() for m in _MESSAGE_START.finditer(data)]
    if len(starts) <= 1:
        return [parse_message(data)]
    results: list[ParseResult] = []
    for index, (start, end) in enumerate(zip(starts, starts[1:] + [len(data)])):
        message = data[start:end]
        try:
            results.append(dataclasses.replace(parse_message(message), item_index=index))
        except ParseError as error:
            results.append(ItemFailure(reason=error.reason, error=str(error), raw=message,
                                       item_index=index, format=FORMAT))
    return results


def parse_message(data: bytes) -> ParsedItem:
    """Parse one IPTC 7901 message."""
    body_bytes = data
    stamp_text = ""
    stripped = data.lstrip(b"\r\n ")
    if stripped.startswith(b"\x01"):
        etx = data.find(b"\x03")
        if etx < 0:
            raise ParseError(
                DeadLetterReason.MALFORMED, f"{FORMAT}: no ETX end-of-text marker (truncated message)", FORMAT)
        body_bytes = data[:etx]
        stamp_text, _ = decode_text(data[etx + 1:].replace(b"\x7f", b"").replace(b"\x04", b""))
    text, _ = decode_text(body_bytes)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")

    header_index = next((i for i, line in enumerate(lines) if line.strip()), None)
    header = _HEADER.match(strip_controls(lines[header_index])) if header_index is not None else None
    if header is None:
        raise ParseError(DeadLetterReason.MALFORMED, f"{FORMAT}: no IPTC 7901 header line", FORMAT)
    item_id, priority, _category, _words, rest = header.groups()
    rest_tokens = rest.split()
    agency = rest_tokens[-2] if len(rest_tokens) >= 2 and rest_tokens[-2].isalpha() else None

    position = header_index + 1
    slugline = None
    while position < len(lines) and not strip_controls(lines[position]).strip():
        position += 1
    if position < len(lines) and "\x02" not in lines[position]:
        slugline = clean(lines[position]).strip("/") or None
        position += 1

    # Heading: up to the first line ending with '=' (within a few lines).
    heading: list[str] = []
    body_start = position
    for offset, line in enumerate(lines[position:position + 12]):
        cleaned = clean(strip_controls(line))
        heading.append(cleaned)
        if cleaned.endswith("="):
            body_start = position + offset + 1
            break
    else:
        heading = []
        for offset, line in enumerate(lines[position:]):
            cleaned = clean(strip_controls(line))
            if not cleaned:
                if heading:
                    body_start = position + offset + 1
                    break
                continue
            heading.append(cleaned)
            if not _STATUS.match(cleaned):
                body_start = position + offset + 1
                break

    version = None
    headline_parts: list[str] = []
    bylines: list[str] = []
    for line in heading:
        value = line.rstrip("=").strip()
        if not value:
            continue
        if _STATUS.match(value):
            if version is None and _VERSION.match(value):
                version = value
        elif _BYLINE.match(value):
            bylines.append(value)
        else:
            headline_parts.append(value)
    headline = " ".join(headline_parts)

    paragraphs, stamp_in_text = _paragraphs(lines[body_start:])
    if not headline:
        raise ParseError(DeadLetterReason.MISSING_HEADLINE, f"{FORMAT}: {item_id}: no headline", FORMAT)
    if not paragraphs:
        raise ParseError(DeadLetterReason.MISSING_BODY, f"{FORMAT}: {item_id}: no text", FORMAT)
    return ParsedItem(
        format=FORMAT,
        headline=headline,
        body_paragraphs=paragraphs,
        bylines=tuple(bylines),
        agency=agency,
        urgency=int(priority),
        slugline=slugline,
        version=version,
        item_id=item_id,
        published_at=_stamp_millis(stamp_text) or _stamp_millis(stamp_in_text),
    )


def _paragraphs(lines: list[str]) -> tuple[tuple[str, ...], str]:
    """Body paragraphs and the time stamp line when it is inside the text."""
    blocks: list[list[str]] = [[]]
    stamp = ""
    published_part = True
    for raw in lines:
        line = strip_controls(raw).strip()
        if _NOT_FOR_PUBLICATION.match(line):
            published_part = False
        if _STAMP.match(line):
            stamp = line
            continue
        if not published_part:
            continue
        if not line:
            if blocks[-1]:
                blocks.append([])
            continue
        blocks[-1].append(line)
    paragraphs = [clean(" ".join(block)) for block in blocks if block]
    while paragraphs and (_INITIALS.match(paragraphs[-1]) or paragraphs[-1].startswith("dpa ") and
                          _INITIALS.match(paragraphs[-1])):
        paragraphs.pop()
    return tuple(p for p in paragraphs if p and not _ONLY_PUNCTUATION.match(p)), stamp


def _stamp_millis(text: str) -> Optional[int]:
    for line in text.split("\n"):
        match = _STAMP.match(strip_controls(line))
        if match:
            day, hour, minute, month_name, year = match.groups()
            month = _MONTHS.get(month_name.lower()[:3])
            if month and 1 <= int(day) <= 31 and int(hour) < 24 and int(minute) < 60:
                return calendar.timegm((2000 + int(year), month, int(day), int(hour), int(minute), 0, 0, 0, 0)) * 1000
    return None
