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

Other agencies frame it differently, and are read the same way: ``SYN``
bytes before ``SOH``, the service header alone (``bsf025 3 ec 121 etf
967``), ``STX`` on the header line or on a line of its own, lines ending in
``CR CR LF``, Latin-1 text, and short classification lines (a country, a
category) between the header and the headline, before or after ``STX``.
Those lines become the slugline (``France/Politique``) when no keyword line
gives one; a heading without dpa's ``=`` ends at its first blank line. A
dateline alone on the first line of the text (``Strasbourg, 10 juil 2024
(ATS)``) is the item's dateline.

Mapping: headline, bylines, body paragraphs (blank-line separated, wrapped
lines joined; the "not intended for publication" section and the trailing
``dpa xx yy`` initials line are cut off), slugline (the keyword line
without its trailing ``/``), version (a ``1ST LEAD`` / ``2ND LEAD`` /
``CORRECTION`` / ``REPEAT`` status line), urgency (the priority digit),
agency (from the header, when the word stands after the padding dpa puts
before it: ``  dpa 1003``; a single-spaced ``etf 967`` is a keyword and
number, not an agency), item id (``eca00075``), published time (the
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
_MESSAGE_START = re.compile(rb"(?:\x16{1,2})?\x01(?=[\s\x02]*[A-Za-z]{2,4}\d{2,6}[ \t]+[1-6][ \t])")
_HEADER = re.compile(
    r"^\s*([A-Za-z]{2,4}\d{2,6})\s+([1-6])\s+([A-Za-z]{1,3})\s+(\d{1,5})\b(.*)$"
)
_PADDED_AGENCY = re.compile(r"\s{2,}([A-Za-z]+)\s+\d+\s*$")
_NEWLINES = re.compile(r"\r*\n|\r")
# A classification line ahead of the headline: a country or a category,
# three words at most, no sentence punctuation ('France', 'Politique').
_LABEL = re.compile(r"^[^\W\d_][\w'’.\-/]*(?: [\w'’.\-/]+){0,2}$")
# A dateline alone on a line: 'Strasbourg, 10 juil 2024 (ATS)', 'Tokyo, 3 June (Kyodo) -'.
_DATELINE_ALONE = re.compile(
    r"^[^\W\d_][\w'’.\- ]{0,40},\s+\d{1,2}\.?\s+[^\W\d_]{3,9}\.?(?:\s+\d{4})?"
    r"(?:\s*\([^()]{1,30}\))?\s*[-\u2013\u2014]?$"
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
    # STX starts a line of its own: some agencies send it on the header line.
    lines = re.sub(r"(?<!\n)\x02", "\n\x02", _NEWLINES.sub("\n", text)).split("\n")

    header_index = next((i for i, line in enumerate(lines) if strip_controls(line).strip()), None)
    header = _HEADER.match(strip_controls(lines[header_index])) if header_index is not None else None
    if header is None:
        raise ParseError(DeadLetterReason.MALFORMED, f"{FORMAT}: no IPTC 7901 header line", FORMAT)
    item_id, priority, _category, _words, rest = header.groups()
    padded = _PADDED_AGENCY.search(rest)
    agency = padded.group(1) if padded else None

    position = header_index + 1
    labels: list[str] = []
    while position < len(lines) and not strip_controls(lines[position]).strip():
        position += 1
    stx = next((i for i in range(position, len(lines)) if "\x02" in lines[i]), None)
    if stx is not None:
        # Everything between the header and STX is keyword or classification.
        labels = [clean(line).strip("/") for line in lines[position:stx] if clean(line).strip("/")]
        position = stx
    elif position < len(lines):
        labels = [clean(lines[position]).strip("/")] if clean(lines[position]).strip("/") else []
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
        heading, body_start = _heading_to_blank_line(lines, position)
        heading_labels, heading = _split_labels(heading)
        labels.extend(heading_labels)

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
    dateline = None
    if len(paragraphs) > 1 and _DATELINE_ALONE.match(paragraphs[0]):
        dateline, paragraphs = paragraphs[0], paragraphs[1:]
    slugline = "/".join(labels) or None
    # No headline but a body: passed on with headline "", enrichment derives
    # one (slugline, else first sentence) and flags it (issue 17).
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
        dateline=dateline,
        item_id=item_id,
        published_at=_stamp_millis(stamp_text) or _stamp_millis(stamp_in_text),
    )


def _heading_to_blank_line(lines: list[str], position: int) -> tuple[list[str], int]:
    """A heading without dpa's closing ``=``: its lines up to the first blank
    line, and where the text starts. Without a blank line within a few
    lines, the heading is the status lines and the first other line."""
    heading, after, ended = _scan_heading(lines, position, min(len(lines), position + 8))
    if ended:
        return heading, after
    heading, after, _ = _scan_heading(lines, position, len(lines),
                                      ends_at=lambda line: not _STATUS.match(line))
    return heading, after


def _scan_heading(lines: list[str], start: int, stop: int,
                  ends_at=lambda line: False) -> tuple[list[str], int, bool]:
    """Cleaned non-blank lines from ``start``, up to a blank line after one of
    them or a line ``ends_at`` accepts: (lines, index after them, whether it ended)."""
    heading: list[str] = []
    for index in range(start, stop):
        cleaned = clean(strip_controls(lines[index]))
        if not cleaned:
            if heading:
                return heading, index + 1, True
            continue
        heading.append(cleaned)
        if ends_at(cleaned):
            return heading, index + 1, True
    return heading, stop, False


def _split_labels(heading: list[str]) -> tuple[list[str], list[str]]:
    """Leading classification lines (country, category) and the rest of a heading.

    A line is a label only while another non-status line follows it, so a
    one-line headline ('Impressum') stays the headline.
    """
    lines = [line for line in heading if not _STATUS.match(line) and not _BYLINE.match(line)]
    labels: list[str] = []
    for line in lines[:-1]:
        if not _LABEL.match(line) or line.endswith("="):
            break
        labels.append(line)
    return labels, [line for line in heading if line not in labels]


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
