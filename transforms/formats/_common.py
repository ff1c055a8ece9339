"""Helpers shared by the format parsers: safe XML, HTML/XHTML to paragraphs, times.

Everything here is pure and cheap. XML is only ever parsed through
``parse_xml``. A document with a DOCTYPE (the only place entities can be
declared or a DTD referenced) goes through ``defusedxml``: entity
declarations (the "billion laughs" expansion), external entities and
external DTD fetches are refused and reported as ``ParseError(MALFORMED)``
naming the format. A document without one cannot declare or reference
anything, and is parsed by the standard C parser, which is several times
faster. A DOCTYPE whose
internal subset only declares *parameter* entities pointing at DTD files
(Kyodo's NewsML does this) is dropped before parsing: those entities only
pull in DTDs, which wire-ingest never loads, so dropping them changes
nothing but lets the document through; a document that then uses an entity
still fails.
"""

from __future__ import annotations

import calendar
import html
import re
import xml.etree.ElementTree as _fast_tree
from typing import Any, Callable, Iterable, Iterator, Optional, Union
from xml.etree.ElementTree import Element
from xml.etree.ElementTree import ParseError as XMLSyntaxError

import defusedxml.ElementTree as safe_tree
from defusedxml import DefusedXmlException

from transforms.formats.encoding import decode_text, looks_binary
from transforms.model import DeadLetterReason, ParseError

__all__ = [
    "parse_xml",
    "local",
    "children",
    "child",
    "index_children",
    "descendants",
    "text_of",
    "element_paragraphs",
    "html_paragraphs",
    "text_paragraphs",
    "clean",
    "iso_millis",
    "strip_controls",
    "require_str",
    "split_dateline",
    "lead_dateline",
    "agency_key",
]

_XML_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._\-]+)[\"']")
_XML_DECLARATION_TEXT = re.compile(r"^\s*<\?xml[^>]*\?>")
_DOCTYPE = re.compile(r"<!DOCTYPE\s[^\[>]*(?:\[(.*?)\])?\s*>", re.S)
_PARAMETER_ENTITY_ONLY = re.compile(
    r"^(?:\s*(?:<!ENTITY\s+%\s+[\w.\-]+\s+(?:PUBLIC\s+\"[^\"]*\"\s+)?(?:SYSTEM\s+)?\"[^\"]*\"\s*>"
    r"|%[\w.\-]+;|<!--.*?-->))*\s*$",
    re.S,
)
_WS = re.compile(r"\s+")
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_BLOCK_TAGS = {
    "p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre", "hl2", "dd", "dt", "tr", "address",
}
_SKIP_TAGS = {
    "script", "style", "media", "figure", "figcaption", "img", "object", "iframe", "embed", "video",
    "audio", "note", "tagline",
}

# HTML in JSON strings: split at block boundaries, then strip the tags.
_HTML_SKIP = re.compile(r"<(script|style|figure|figcaption|table|iframe)\b.*?</\1\s*>", re.S | re.I)
_HTML_BREAK = re.compile(
    r"</?(?:p|div|h[1-6]|li|ul|ol|blockquote|pre|section|article|header|footer|tr)\b[^>]*>|<br\s*/?>",
    re.I,
)
_HTML_TAG = re.compile(r"<[^>]+>")


def parse_xml(data: bytes, fmt: str) -> Element:
    """Parse ``data`` as XML safely; return the root element.

    The encoding is the declared one when the bytes decode with it, else
    detected (``decode_text``).

    Raises:
      ParseError: ``malformed`` for bad, truncated or dangerous XML,
        ``undecodable`` for binary data.
    """
    declared = _XML_DECLARATION.match(data[:200])
    encoding = declared.group(1).decode("ascii") if declared else None
    if encoding and encoding.lower().replace("_", "-") in _SINGLE_BYTE_LATIN and _is_utf8_text(data):
        # Declared Latin-1 but written as UTF-8 (Ritzau does this): any
        # bytes decode as Latin-1, so the declaration alone would give
        # mojibake; multi-byte UTF-8 sequences are never real Latin-1 text.
        encoding = "utf-8"
    if (
        # expat obeys the declaration in the bytes: only when it says UTF-8 (or nothing)
        (declared is None or declared.group(1).decode("ascii").lower().replace("_", "-") in _UTF8_NAMES)
        and b"<!DOCTYPE" not in data
        and b"<!ENTITY" not in data
        and not data.startswith((b"\xff\xfe", b"\xfe\xff"))
        and not looks_binary(data)
        and _decodes_as_utf8(data)
    ):
        # The common case (UTF-8, no DOCTYPE): the C parser reads the bytes
        # directly, without a decode and re-encode.
        return _parse_checked(_fast_tree.fromstring, data, fmt)
    try:
        text, _ = decode_text(data, encoding)
    except ParseError as error:
        error.format = fmt
        raise ParseError(error.reason, f"{fmt}: {error}", fmt) from error
    # The text is decoded now: the declaration's encoding no longer applies.
    text = _XML_DECLARATION_TEXT.sub("", text, count=1)
    doctype = _DOCTYPE.search(text, 0, 4096)
    if doctype and doctype.group(1) and _PARAMETER_ENTITY_ONLY.match(doctype.group(1)):
        text = text[: doctype.start()] + text[doctype.end():]
    # Without a DOCTYPE no entity can be declared and no DTD referenced:
    # only the five predefined entities and character references exist, so
    # neither expansion bombs nor external entities are possible and the C
    # parser (several times faster than defusedxml's Python one) is safe.
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        return _parse_checked(safe_tree.fromstring, text, fmt)
    return _parse_checked(_fast_tree.fromstring, text, fmt)


def _parse_checked(parse: Callable[[Any], Element], document: Union[str, bytes], fmt: str) -> Element:
    try:
        return parse(document)
    except DefusedXmlException as error:
        raise ParseError(
            DeadLetterReason.MALFORMED,
            f"{fmt}: refused XML with entity declarations or external references ({type(error).__name__})",
            fmt,
        ) from error
    except XMLSyntaxError as error:
        problem = "truncated XML" if "no element found" in str(error) or "unclosed" in str(error) else "malformed XML"
        raise ParseError(DeadLetterReason.MALFORMED, f"{fmt}: {problem}: {error}", fmt) from error


_UTF8_NAMES = {"utf-8", "utf8", "us-ascii", "ascii"}
_SINGLE_BYTE_LATIN = {"iso-8859-1", "iso8859-1", "latin-1", "latin1", "iso-8859-15", "windows-1252", "cp1252"}


def _decodes_as_utf8(data: bytes) -> bool:
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _is_utf8_text(data: bytes) -> bool:
    if data.isascii():
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


_LOCAL_NAMES: dict[str, str] = {}


def local(tag: object) -> str:
    """The local name of an element tag, without its ``{namespace}``."""
    if not isinstance(tag, str):
        return ""  # comments and processing instructions
    name = _LOCAL_NAMES.get(tag)
    if name is None:
        name = tag.rsplit("}", 1)[-1]
        if len(_LOCAL_NAMES) < 10000:  # tags are a small vocabulary; bound it anyway
            _LOCAL_NAMES[tag] = name
    return name


def children(element: Optional[Element], name: str) -> list[Element]:
    if element is None:
        return []
    return [c for c in element if local(c.tag) == name]


def index_children(element: Optional[Element]) -> dict[str, list[Element]]:
    """Children of ``element`` by local name: one pass for elements read many times."""
    index: dict[str, list[Element]] = {}
    if element is not None:
        for c in element:
            index.setdefault(local(c.tag), []).append(c)
    return index


def child(element: Optional[Element], name: str) -> Optional[Element]:
    if element is None:
        return None
    for c in element:
        if local(c.tag) == name:
            return c
    return None


def descendants(element: Optional[Element], name: str) -> Iterator[Element]:
    if element is None:
        return iter(())
    return (e for e in element.iter() if local(e.tag) == name)


def text_of(element: Optional[Element]) -> str:
    """All the text inside ``element``, whitespace collapsed."""
    if element is None:
        return ""
    return clean("".join(element.itertext()))


def clean(text: Optional[str]) -> str:
    """``text`` without control characters, its whitespace collapsed to single spaces."""
    if not text:
        return ""
    if not text.isprintable():  # C-speed check: most lines hold no controls
        text = _CONTROLS.sub("", text)
    return " ".join(text.split())


def strip_controls(text: str) -> str:
    """Remove control characters (keeping tab, newline, carriage return)."""
    return _CONTROLS.sub("", text)


def element_paragraphs(element: Optional[Element], skip: Iterable[str] = ()) -> tuple[str, ...]:
    """Paragraphs of an XHTML / NITF body: one per block element, in order.

    Text directly inside the container (outside any block) forms paragraphs
    too, so a body without ``<p>`` still gives its text. Tables, media and
    notes are skipped; ``skip`` adds local names to skip.
    """
    if element is None:
        return ()
    skipped = _SKIP_TAGS | set(skip)
    out: list[str] = []
    loose: list[str] = []

    def flush() -> None:
        text = clean("".join(loose))
        if text:
            out.append(text)
        loose.clear()

    def add(text: str) -> None:
        if text:
            out.append(_unescape_twice_escaped(text))

    def walk(node: Element) -> None:
        if node.text:
            loose.append(node.text)
        for sub in node:
            name = local(sub.tag)
            if name in skipped or not name:
                pass
            elif name in _BLOCK_TAGS:
                flush()
                # A table row is one paragraph of its cells.
                add(" ".join(filter(None, (text_of(c) for c in sub))) if name == "tr" else text_of(sub))
            elif name == "br":
                loose.append(" ")
            elif len(sub) and any(local(s.tag) in _BLOCK_TAGS for s in sub.iter()):
                flush()
                walk(sub)
                flush()
            else:
                loose.append("".join(sub.itertext()))
            if sub.tail:
                loose.append(sub.tail)

    walk(element)
    flush()
    return tuple(out)


_ESCAPED_ENTITY = re.compile(r"&(?:#\d{2,5}|#x[0-9a-fA-F]{2,4}|quot|amp|lt|gt|apos|nbsp);")


def _unescape_twice_escaped(text: str) -> str:
    """Undo a second escaping (``&amp;quot;`` in the XML reads as ``&quot;``):
    some feeds (STT) escape their text twice."""
    return html.unescape(text) if "&" in text and _ESCAPED_ENTITY.search(text) else text


def html_paragraphs(markup: str) -> tuple[str, ...]:
    """Paragraphs of an HTML fragment held in a JSON string (regex, no DOM)."""
    markup = _HTML_SKIP.sub(" ", markup)
    out = []
    for chunk in _HTML_BREAK.split(markup):
        text = clean(html.unescape(_HTML_TAG.sub("", chunk)))
        if text:
            out.append(text)
    return tuple(out)


def text_paragraphs(text: str) -> tuple[str, ...]:
    """Paragraphs of plain text: blank lines separate them; a text without
    blank lines is split at its line breaks."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    blocks = re.split(r"\n\s*\n", text) if re.search(r"\n\s*\n", text) else text.split("\n")
    return tuple(p for p in (clean(b) for b in blocks) if p)


_ISO = re.compile(
    r"^\s*(\d{4})-?(\d\d)-?(\d\d)(?:[T ](\d\d):?(\d\d)(?::?(\d\d)(?:[.,](\d+))?)?)?"
    r"\s*(Z|[+-]\d\d(?::?\d\d)?)?\s*$"
)


def iso_millis(value: object) -> Optional[int]:
    """Millis UTC of an ISO 8601 date-time (``2013-07-09T10:37:00Z``,
    ``20140829T135006Z``, ``2017-08-24T04:38:34+0000``); None if unreadable.
    A time without an offset is taken as UTC."""
    if not isinstance(value, str):
        return None
    match = _ISO.match(value)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        if not (1 <= int(month) <= 12 and 1 <= int(day) <= 31):
            return None
        seconds = calendar.timegm(
            (int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), 0, 0, 0))
    except (ValueError, OverflowError):
        return None
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = int(digits[:2]) * 3600 + int(digits[2:4] or 0) * 60
        seconds -= sign * offset
    millis = int((fraction or "0")[:3].ljust(3, "0"))
    return seconds * 1000 + millis


def require_str(value: object, field: str, fmt: str, optional: bool = True) -> Optional[str]:
    """``value`` if it is a string (or None when optional), else ParseError naming the field."""
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ParseError(
            DeadLetterReason.MALFORMED,
            f"{fmt}: field '{field}' must be a string, got {type(value).__name__}",
            fmt,
        )
    return value


_SEPARATOR = re.compile(r"^\s*[-\u2013\u2014_:]+\s*")
_TRAILING_SEPARATOR = re.compile(r"\s*[-\u2013\u2014_:]+\s*$")


def split_dateline(
    dateline: Optional[str], paragraphs: tuple[str, ...]
) -> tuple[Optional[str], tuple[str, ...]]:
    """Reconcile a dateline the format carries apart with the body's start.

    Returns ``(dateline, paragraphs)``, the dateline without its trailing
    separator (``STOCKHOLM, Aug 29, 2014 (AFP)``): when the first paragraph repeats the
    dateline and then its separator (``London (dpa) - ...``) the repeat is
    removed from the body; when the body starts with a *fuller* dateline
    (``NEW YORK (AP) -- ...`` for a declared ``NEW YORK``) the declared one
    is dropped, so that the normalizer reads the fuller one from the body
    and the record never holds the dateline twice.
    """
    if not dateline or not paragraphs:
        return (_TRAILING_SEPARATOR.sub("", dateline).strip() or None) if dateline else None, paragraphs
    bare = _TRAILING_SEPARATOR.sub("", dateline).strip()
    first = paragraphs[0]
    if not bare or not first.lower().startswith(bare.lower()):
        return bare or None, paragraphs
    rest = first[len(bare):]
    separator = _SEPARATOR.match(rest)
    if separator:
        remainder = rest[separator.end():].strip()
        return bare, ((remainder,) if remainder else ()) + paragraphs[1:]
    return None, paragraphs


# A lead ending in a parenthesised credit and a dash: 'CALGARY, Alberta, Dec. 03,
# 2019 (GLOBE NEWSWIRE) --', 'Nueva Delhi, 21 ene (EFE).-', 'Jan 30 (Gracenote) -'.
# No quote, colon or parenthesis before the credit: a sentence is not a dateline.
_CREDITED_LEAD = re.compile(
    r"^(?P<lead>[^\"“”„«»:;!?()]{1,100}?\s*\((?P<credit>[^()]{2,40})\))\s*\.?\s*(?:-{1,2}|[\u2013\u2014])\s+(?=\S)")
_LEAD_MONTH = (
    r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?"
)
_DATE_ONLY = re.compile(rf"^{_LEAD_MONTH}\s+\d{{1,2}}(?:,\s*\d{{4}})?$")
_SUBHEADLINE_CHARS = 200  # a first paragraph this short may be a sub-headline over the dateline
_DOMAIN_SUFFIX = re.compile(r"\.(?:com|net|org|info|biz|[a-z]{2})$")


def agency_key(name: Optional[str]) -> str:
    """``name`` folded for comparing credits: lower case, letters and digits only,
    a web domain's suffix dropped ('globenewswire.com' and 'GLOBE NEWSWIRE' agree)."""
    folded = clean(name).casefold()
    return re.sub(r"[\W_]+", "", _DOMAIN_SUFFIX.sub("", folded))


def _credits_agency(credit: str, agencies: Iterable[str]) -> bool:
    """Whether a parenthesised credit names one of the item's own agencies: the
    whole name, one of its words ('EFE' of 'Agencia EFE') or its start ('OPTA'
    of 'Opta Sports Data')."""
    key = agency_key(credit)
    if len(key) < 3:
        return False
    for name in agencies:
        whole = agency_key(name)
        words = {agency_key(word) for word in re.split(r"[\s/,.-]+", name or "")}
        if key == whole or key in words or (whole.startswith(key) and len(key) >= 4):
            return True
    return False


def lead_dateline(
    paragraphs: tuple[str, ...], place: Optional[str] = None, agencies: Iterable[str] = ()
) -> tuple[Optional[str], tuple[str, ...]]:
    """A dateline that opens the body, lifted out when the item itself vouches for it.

    Returns ``(dateline, paragraphs)``: the lead up to and with its
    parenthesised credit (``CALGARY, Alberta, Dec. 03, 2019 (GLOBE
    NEWSWIRE)``) and the body without it, or ``(None, paragraphs)``. A lead
    ending in ``(credit) -`` counts only when the item vouches for it: it
    starts with the city the format declares (``place``: G2's ``located``),
    or its credit names one of the item's own ``agencies``, or it is a date
    alone (``Jan 30 (Gracenote) -``, Reuters' data services), which has no
    place for the body's dateline rules to find. Behind a short first
    paragraph (a press release's sub-headline) the second may hold the
    dateline: then only the declared place vouches for it. The dateline goes to the
    normalizer as a field, which reads dates with a year and month names the
    body rules do not ("Dec. 03, 2019", "21 ene").
    """
    city = clean((place or "").split(",")[0]).casefold()
    for index in range(min(2, len(paragraphs))):
        paragraph = paragraphs[index]
        match = _CREDITED_LEAD.match(paragraph)
        in_place = match is not None and len(city) >= 2 and clean(match.group("lead")).casefold().startswith(city)
        if index and not in_place:
            break  # past a sub-headline only the declared place vouches for a dateline
        if match is None:
            if len(paragraph) > _SUBHEADLINE_CHARS:
                break
            continue
        if (
            in_place
            or _credits_agency(match.group("credit"), agencies)
            or _DATE_ONLY.match(paragraph[: match.start("credit") - 1].strip()) is not None
        ):
            rest = paragraph[match.end():].strip()
            return clean(match.group("lead")), paragraphs[:index] + ((rest,) if rest else ()) + paragraphs[index + 1:]
        break
    return None, paragraphs


def _xml_bytes(item: Element) -> bytes:
    from xml.etree.ElementTree import tostring

    return tostring(item, encoding="utf-8")


def parse_package(
    items: list[Any], parse_item: Callable[..., Any], fmt: str,
    item_bytes: Callable[[Any], bytes] = _xml_bytes,
) -> list[Any]:
    """Parse every item of a package: one result per item.

    A lone item is parsed as the whole input (its ``ParseError`` fails the
    input); in a package, an item that fails becomes an ``ItemFailure``
    carrying its own raw bytes (``item_bytes``: its XML by default), so its
    siblings are still written.
    """
    from transforms.model import ItemFailure

    if len(items) == 1:
        return [parse_item(items[0])]
    results: list[Any] = []
    for index, item in enumerate(items):
        try:
            results.append(parse_item(item, index))
        except ParseError as error:
            results.append(ItemFailure(
                reason=error.reason, error=str(error), raw=item_bytes(item),
                item_index=index, format=fmt))
    return results
