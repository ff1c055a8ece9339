"""Reuters-21578 SGML archives: one story per ``<REUTERS>`` element.

Input: a whole archive file (``reut2-000.sgm``: a ``<!DOCTYPE lewis ...>``
line and 1,000 ``<REUTERS ...>...</REUTERS>`` elements) or a single element,
which is what ``replay`` publishes to Kafka (one message per story, cut with
``split_archive``). The bytes are Latin-1 (the collection's README says so;
every byte decodes, so nothing is ever undecodable).

Output: one ``ParsedItem`` per element, in archive order, ``item_index`` its
position in the input; an element that cannot be a story (no title, no
text) gives an ``ItemFailure`` and its siblings are still returned. An input
without any complete element raises ``ParseError``.

Field mapping:
  - ``item_id``: the ``NEWID`` attribute (unique in the collection).
  - ``headline``: ``<TITLE>``, entities decoded, the flash marker ``******``
    removed; kept as written otherwise ("CORRECTED - ..." stays).
  - ``dateline``: ``<DATELINE>`` without its trailing " - " separator
    (``SALVADOR, Feb 26``); removed from the body start if repeated there.
  - ``body_paragraphs``: ``<BODY>``: entities decoded, control references
    (``&#3;`` ...) and raw control bytes stripped, the trailing "Reuter"
    sign-off and a trailing "More" take marker removed. A line indented by
    a space starts a new paragraph (the archive wraps lines at ~65 columns
    and indents paragraphs); wrapped lines are joined with one space.
  - ``published_at``: ``<DATE>`` (``26-FEB-1987 15:01:01.79``) read as UTC;
    junk after the timestamp (control codes, comments) is ignored, an
    unreadable date gives ``None`` rather than a failure.
  - ``bylines``: ``<AUTHOR>`` as written (``By Janie Gabbett, Reuters``).
  - ``slugline`` / ``urgency``: from the ANPA wire header kept in
    ``<UNKNOWN>`` (``u f BC-BAHIA-COCOA-REVIEW 02-26 0105``: priority,
    category, slug, date, word count). Priority letters map to IPTC-style
    urgency, 1 most urgent: f(lash) 1, b(ulletin) 2, u(rgent) 3, s 4,
    r(egular) 5, h 5, d(eferred) 6, a / w 7.
  - ``version``: an update or correction marker from the title or slug:
    ``CORRECTED``, ``CORRECTION``, ``UPDATE 1``, ``REFILE``, ``RPT``,
    ``REPEAT``, or a lead number ``1STLD`` / ``2NDLD``.
  - ``agency``: ``Reuters``; ``language``: ``en`` (the collection is
    English-only; the format itself declares nothing, and language
    detection misreads its earnings tables).

Decisions:
  - ``TYPE="BRIEF"`` items are headline-only flashes; the collection filled
    their text with the placeholder "Blah blah blah.". They are real stories,
    so they are parsed, with the headline as their one body paragraph: the
    placeholder would make every brief an exact duplicate of every other,
    and an empty body would do the same; the headline as body makes only
    identical flashes exact duplicates, and keeps the record's body
    non-empty.
  - ``TYPE="UNPROC"`` items are not split into fields: the first non-empty
    line of the text is the headline, the rest the body (tables stay one
    line per paragraph since their lines are indented).
  - Control characters (C0 but tab, newline and carriage return, and DEL)
    never reach a text field: the collection writes them as references
    (``&#3;`` ends every text), which are removed, and a raw control byte
    (a damaged copy) is removed the same way: every text field goes
    through ``_decode`` (the ``NEWID`` attribute through ``strip_controls``,
    which ``_decode`` ends with).
"""

from __future__ import annotations

import calendar
import html
import re
from typing import Optional, Union

from transforms.formats._common import strip_controls
from transforms.model import DeadLetterReason, ItemFailure, ParsedItem, ParseError

__all__ = ["FORMAT", "parse", "parse_element", "split_archive"]

FORMAT = "reuters_sgml"
AGENCY = "Reuters"
LANGUAGE = "en"
BRIEF_PLACEHOLDER = "Blah blah blah."

# Attribute lists are bounded and searches stop at the last closing tag, so
# that input with many unclosed or unterminated tags is scanned in linear,
# not quadratic, time (a few MB of '<REUTERS ' would otherwise never finish).
_ELEMENT_BYTES = re.compile(rb"<REUTERS\b[^>]{0,1000}>.*?</REUTERS>", re.S)
_ELEMENT = re.compile(r"<REUTERS\b([^>]{0,1000})>(.*?)</REUTERS>", re.S)
_OPEN_BYTES = re.compile(rb"<REUTERS\b")
_ATTR = re.compile(r'(\w+)="([^"]*)"')
_TEXT = re.compile(r"<TEXT\b([^>]{0,1000})>(.*?)</TEXT>", re.S)
_FIELDS = {
    name: re.compile(rf"<{name}>(.*?)</{name}>", re.S)
    for name in ("DATE", "UNKNOWN", "TITLE", "DATELINE", "BODY", "AUTHOR")
}
_CONTROL_REF = re.compile(r"&#(?:[0-9]|[12][0-9]|3[01]|127);")
_DATE = re.compile(r"(\d{1,2})-([A-Za-z]{3})-(\d{4})\s+(\d{1,2}):(\d\d):(\d\d)(?:\.(\d{1,3}))?")
_MONTHS = {m: i for i, m in enumerate(
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), start=1)}
# Last header line: priority, category, slug (may hold spaces), MM-DD, word count.
_HEADER = re.compile(
    r"([a-z])\s+([a-z])\s+(\S.*?)\s+(\d\d-\d\d)(?:\s+\d{1,4})?\s*$", re.M
)
_URGENCY = {"f": 1, "b": 2, "u": 3, "s": 4, "r": 5, "h": 5, "d": 6, "a": 7, "w": 7}
_SIGN_OFF = re.compile(r"(?:\s+(?:Reuter|REUTER|reuter)s?\b\.?|\s+(?:More|MORE)\b)+\s*$")
_PARAGRAPH_BREAK = re.compile(r"\n(?=[ \t])")
_WS = re.compile(r"\s+")
_FLASH_STARS = re.compile(r"^\s*\*+\s*")
_TITLE_VERSION = re.compile(
    r"^\W*(CORRECTED|CORRECTION|UPDATE\s*\d+|REFILE|RPT|REPEAT)\b", re.I
)
_SLUG_VERSION = re.compile(
    r"(?:^|[-(/\s])(CORRECTED|CORRECTION|UPDATE[- ]?\d*|REFILE|RPT|REPEAT|\d(?:ST|ND|RD|TH)LD)\b"
)

ParseResult = Union[ParsedItem, ItemFailure]


def split_archive(data: bytes) -> list[bytes]:
    """The raw bytes of every complete ``<REUTERS ...>...</REUTERS>`` element, in order."""
    return [match.group(0) for match in _ELEMENT_BYTES.finditer(data, 0, _closed_end(data, b"</REUTERS>"))]


def parse(data: bytes) -> list[ParseResult]:
    """Parse an archive or a single element: one result per ``<REUTERS>`` element.

    Raises:
      ParseError: ``malformed`` when the input holds no complete element.
    """
    text = data.decode("latin-1")
    results: list[ParseResult] = []
    end = 0
    for index, match in enumerate(_ELEMENT.finditer(text, 0, _closed_end(text, "</REUTERS>"))):
        end = match.end()
        try:
            results.append(_parse_match(match.group(1), match.group(2), index))
        except ParseError as error:
            results.append(ItemFailure(
                reason=error.reason, error=str(error), raw=match.group(0).encode("latin-1"),
                item_index=index, format=FORMAT))
    if _OPEN_BYTES.search(data, end):
        tail = data[end:]
        if not results:
            raise ParseError(
                DeadLetterReason.MALFORMED, f"{FORMAT}: truncated <REUTERS> element (no </REUTERS>)",
                FORMAT)
        results.append(ItemFailure(
            reason=DeadLetterReason.MALFORMED,
            error=f"{FORMAT}: truncated <REUTERS> element (no </REUTERS>)",
            raw=tail, item_index=len(results), format=FORMAT))
    if not results:
        raise ParseError(DeadLetterReason.MALFORMED, f"{FORMAT}: no <REUTERS> element", FORMAT)
    return results


def parse_element(element: str) -> ParsedItem:
    """Parse one ``<REUTERS>`` element given as text."""
    match = _ELEMENT.search(element)
    if match is None:
        raise ParseError(DeadLetterReason.MALFORMED, f"{FORMAT}: no <REUTERS> element", FORMAT)
    return _parse_match(match.group(1), match.group(2))


def _parse_match(attributes: str, content: str, index: int = 0) -> ParsedItem:
    attrs = dict(_ATTR.findall(attributes))
    item_id = strip_controls(attrs.get("NEWID") or attrs.get("OLDID") or "") or None
    where = f"{FORMAT}: NEWID {item_id}" if item_id else FORMAT
    text_match = _TEXT.search(content, 0, _closed_end(content, "</TEXT>"))
    if text_match is None:
        raise ParseError(DeadLetterReason.MISSING_BODY, f"{where}: no <TEXT> element", FORMAT)
    text_type = dict(_ATTR.findall(text_match.group(1))).get("TYPE", "NORM").upper()
    text = text_match.group(2)

    slugline, urgency = _wire_header(_field(content, "UNKNOWN"))
    published_at = _date_millis(_field(content, "DATE"))
    author = _field(text, "AUTHOR")
    bylines = (_WS.sub(" ", _decode(author)).strip(),) if author and author.strip() else ()

    dateline: Optional[str] = None
    if text_type == "UNPROC":
        headline, paragraphs = _unprocessed(text)
    else:
        headline = _FLASH_STARS.sub("", _WS.sub(" ", _decode(_field(text, "TITLE") or ""))).strip()
        raw_dateline = _field(text, "DATELINE")
        if raw_dateline:
            dateline = _WS.sub(" ", _decode(raw_dateline)).strip().rstrip("-").rstrip() or None
        body = _field(text, "BODY")
        if text_type == "BRIEF" or (body is None and headline):
            paragraphs = (headline,) if headline else ()
        else:
            paragraphs = _paragraphs(_decode(body or ""))
            if dateline and paragraphs and paragraphs[0].startswith(dateline):
                first = paragraphs[0][len(dateline):].lstrip(" -\u2013\u2014")
                paragraphs = ((first,) if first else ()) + paragraphs[1:]
    # No <TITLE> but a body: passed on with headline "", enrichment derives
    # one (slugline, else first sentence) and flags it (issue 17).
    if not paragraphs:
        raise ParseError(DeadLetterReason.MISSING_BODY, f"{where}: empty <BODY>", FORMAT)
    return ParsedItem(
        format=FORMAT,
        headline=headline,
        body_paragraphs=paragraphs,
        bylines=bylines,
        dateline=dateline,
        agency=AGENCY,
        urgency=urgency,
        slugline=slugline,
        version=_version(headline, slugline),
        item_id=item_id,
        published_at=published_at,
        language=LANGUAGE,
        item_index=index,
    )


def _field(content: str, name: str) -> Optional[str]:
    match = _FIELDS[name].search(content, 0, _closed_end(content, f"</{name}>"))
    return match.group(1) if match else None


def _closed_end(text, close):
    """End of the last ``close`` tag in ``text`` (0 if none): where a lazy
    ``open.*?close`` search can stop, since no match can end after it."""
    position = text.rfind(close)
    return position + len(close) if position >= 0 else 0


def _decode(text: str) -> str:
    """Text as the story means it: control references stripped, the SGML
    entities decoded, then raw control characters (a damaged copy's, or one
    a reference like ``&#x0c;`` decoded to) stripped too."""
    text = _CONTROL_REF.sub("", text)
    return strip_controls(html.unescape(text) if "&" in text else text)


def _paragraphs(body: str) -> tuple[str, ...]:
    body = body.replace("\r", "")
    # The sign-off is at the very end: searching only the tail keeps the
    # anchored pattern from being retried at every space of a long body.
    cut = max(0, len(body) - 80)
    sign_off = _SIGN_OFF.search(body, cut)
    if sign_off:
        body = body[:sign_off.start()]
    out = []
    for chunk in _PARAGRAPH_BREAK.split(body):
        paragraph = " ".join(chunk.split())  # = _WS.sub(" ", chunk).strip(), in C
        if paragraph:
            out.append(paragraph)
    return tuple(out)


def _unprocessed(text: str) -> tuple[str, tuple[str, ...]]:
    decoded = _decode(text).replace("\r", "")
    lines = decoded.split("\n")
    for position, line in enumerate(lines):
        if line.strip():
            headline = _FLASH_STARS.sub("", _WS.sub(" ", line)).strip()
            # A headline-only text is a brief: see the module docstring.
            return headline, _paragraphs("\n".join(lines[position + 1:])) or (headline,)
    return "", ()


def _wire_header(unknown: Optional[str]) -> tuple[Optional[str], Optional[int]]:
    """``(slugline, urgency)`` from the ANPA header kept in ``<UNKNOWN>``."""
    if not unknown:
        return None, None
    header = _CONTROL_REF.sub(" ", unknown).rstrip()
    match = _HEADER.search(header.rsplit("\n", 1)[-1])
    if match is None:
        return None, None
    slug = " ".join(_decode(match.group(3)).split())
    return slug or None, _URGENCY.get(match.group(1))


def _date_millis(value: Optional[str]) -> Optional[int]:
    if not value:
        return None
    match = _DATE.search(value)
    if match is None:
        return None
    day, month, year, hour, minute, second, fraction = match.groups()
    month_number = _MONTHS.get(month.upper())
    if month_number is None:
        return None
    if not (1 <= int(day) <= 31 and int(hour) < 24 and int(minute) < 60 and int(second) < 61):
        return None
    seconds = calendar.timegm(
        (int(year), month_number, int(day), int(hour), int(minute), int(second), 0, 0, 0))
    millis = int((fraction or "0").ljust(3, "0")[:3])
    return seconds * 1000 + millis


def _version(headline: str, slugline: Optional[str]) -> Optional[str]:
    match = _TITLE_VERSION.search(headline)
    if match:
        return _WS.sub(" ", match.group(1).upper())
    if slugline:
        match = _SLUG_VERSION.search(slugline)
        if match:
            return match.group(1).replace("-", " ").strip()
    return None
