"""ninjs (IPTC News in JSON) 1.x, 2.x and 3.x.

Input: one ninjs object, a JSON array of them, or an API envelope holding
them under ``item`` / ``items`` (``{"total": 1, "item": [...]}``). Output: one
result per object, in order: a ``ParsedItem`` for a story, an
``ItemFailure`` for an object that is not one (its siblings are still
returned). An input with a single object raises ``ParseError`` instead, so
the dead letter keeps the whole input.

Versions: 1.x uses flat lower-case keys (``headline``, ``body_text``,
``body_xhtml``, ``description_text``, ``byline``, ``versioncreated``); 2.x
moves texts into ``headlines`` / ``descriptions`` / ``bodies`` arrays of
``{role, contenttype, value}`` and the byline to ``by``; 3.x spells keys in
camelCase (``versionCreated``, ``contentType``). All are read by one
mapping that accepts either spelling. Superdesk's ninjs (``body_html``,
``guid``, ``authors``, ``source``) is 1.x-shaped and read the same way, and
so is ninjs that carries its full text in ``body_html5`` (a Swedish
agency's).

Mapping: headline (``headline`` or the ``main`` headline); body paragraphs
from the richest body: markup first, because it keeps the paragraph breaks
that a plain ``body_text`` often runs together (``body_html5``,
``body_xhtml``, ``body_html``, then markup ``bodies``), then an embedded
NITF document, then plain text split at blank lines or line breaks
(``body_text``, then plain ``bodies``); the first that gives text wins, so
a feed sending the same story twice is never read twice; standfirst from
``description_text`` or a summary/lead/text description; bylines from
``byline`` / ``by`` as written, then the names of Superdesk's ``authors``
the byline does not already hold (editing and production roles left out);
agency from
``source``, ``copyrightholder`` or the first ``infosources`` name; urgency,
slugline, language, ``version``, item id (``uri`` or ``guid``) and
``versioncreated`` (else ``firstcreated``) as published time. ``located``
becomes the dateline only when the body does not start with its own
dateline (``GROSSETO, Italy (AP) --``), which is more complete and is left
for the normalizer. Pictures and graphics in ``associations`` become
captions (their description, credited to their ``by``/``byline``).

Decisions:
  - Items that are not stories give ``ItemFailure(not_a_story)``: pictures,
    graphics, video and audio (a caption is not a story; an embedded picture
    is kept as a caption of its story instead), events, planning and
    concept items (``type`` ``event``/``planning``/``concept``, or any item
    with ``eventDetails``).
  - A text item with a description but no body in any of those fields
    (NTB sends short items this way) is a brief: the description becomes
    its one body paragraph. With a body, the description stays the
    standfirst.
  - Wrong JSON types (a list where a string is due, a non-integer urgency)
    are ``malformed``; no body and no description is ``missing_body``; a
    story without a headline is reported as sent, headline ``""``:
    enrichment derives one.
"""

from __future__ import annotations

import json
import re
from typing import Any, Optional, Union

from transforms.formats import nitf
from transforms.formats._common import (
    clean,
    html_paragraphs,
    iso_millis,
    parse_package,
    require_str,
    split_dateline,
    text_paragraphs,
)
from transforms.formats.encoding import decode_text
from transforms.model import CaptionText, DeadLetterReason, ItemFailure, ParsedItem, ParseError

__all__ = ["FORMAT", "parse", "parse_item", "body_from_parts"]

FORMAT = "ninjs"

_NOT_STORIES = {"picture", "graphic", "video", "audio", "event", "planning", "concept"}
_PICTURES = {"picture", "graphic", "image", "photo"}
_HTML_HEAD = re.compile(r"<head\b.*?</head\s*>", re.S | re.I)
_DATELINE_LEAD = re.compile(r"^[A-Z][A-Z .'\-]{2,}(?:,|\s\()")
#: Superdesk ``authors`` roles that edit or produce a story rather than write it: not bylines.
_NOT_BYLINE_ROLES = {"editor", "subeditor", "sub-editor", "copyeditor", "copy editor", "producer", "desk"}
_STANDFIRST_ROLES = {None, "", "summary", "lead", "abstract", "text", "teaser", "standfirst", "description"}
#: Body fields and their content types, most preferred first (see the module docstring).
_BODY_FIELDS = (
    ("body_html5", "text/html"),
    ("body_xhtml", "application/xhtml+xml"),
    ("body_html", "text/html"),
    ("body_text", "text/plain"),
)

ParseResult = Union[ParsedItem, ItemFailure]


def parse(data: bytes) -> list[ParseResult]:
    """Parse ninjs bytes: one result per ninjs object.

    Raises:
      ParseError: invalid JSON, a top level that holds no ninjs object, or a
        single object that is not a story.
    """
    text, _ = decode_text(data)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        problem = "truncated JSON" if error.pos >= len(text.rstrip()) - 1 else "invalid JSON"
        raise ParseError(DeadLetterReason.MALFORMED, f"{FORMAT}: {problem}: {error}", FORMAT) from error
    return parse_package(_items(document), parse_item, FORMAT, _json_bytes)


def _json_bytes(item: Any) -> bytes:
    return json.dumps(item, ensure_ascii=False).encode("utf-8")


def _items(document: Any) -> list[Any]:
    if isinstance(document, list):
        if not document:
            raise ParseError(DeadLetterReason.EMPTY, f"{FORMAT}: empty array", FORMAT)
        return document
    if isinstance(document, dict):
        for key in ("item", "items"):
            inner = document.get(key)
            if isinstance(inner, list) and inner and "uri" not in document and "guid" not in document:
                return inner
        return [document]
    raise ParseError(
        DeadLetterReason.MALFORMED,
        f"{FORMAT}: top level must be an object or an array, got {type(document).__name__}", FORMAT)


def _get(item: dict, *names: str) -> Any:
    for name in names:
        if name in item:
            return item[name]
    return None


def parse_item(item: Any, index: int = 0) -> ParsedItem:
    """Map one ninjs object to a ``ParsedItem``."""
    if not isinstance(item, dict):
        raise ParseError(
            DeadLetterReason.MALFORMED, f"{FORMAT}: item must be an object, got {type(item).__name__}", FORMAT)
    kind = require_str(item.get("type"), "type", FORMAT)
    item_id = require_str(_get(item, "uri", "guid"), "uri", FORMAT)
    where = f"{FORMAT}: {item_id}" if item_id else FORMAT
    if (kind or "").lower() in _NOT_STORIES or "eventDetails" in item or "eventdetails" in item:
        what = (kind or "event").lower()
        raise ParseError(DeadLetterReason.NOT_A_STORY, f"{where}: {what} item, not a story", FORMAT)

    headline = _headline(item)
    paragraphs = _body(item)
    standfirst = _standfirst(item)
    if not paragraphs and standfirst:
        paragraphs, standfirst = (standfirst,), None
    if not paragraphs:
        raise ParseError(DeadLetterReason.MISSING_BODY, f"{where}: no body", FORMAT)

    located = clean(require_str(item.get("located"), "located", FORMAT))
    dateline, paragraphs = split_dateline(located or None, paragraphs)
    if dateline and _DATELINE_LEAD.match(paragraphs[0]):
        dateline = None  # the body's own dateline is fuller: the normalizer reads it
    return ParsedItem(
        format=FORMAT,
        headline=headline,
        body_paragraphs=paragraphs,
        standfirst=standfirst,
        bylines=_bylines(item),
        dateline=dateline,
        captions=_captions(item.get("associations")),
        agency=_agency(item),
        urgency=_urgency(item.get("urgency")),
        slugline=clean(require_str(item.get("slugline"), "slugline", FORMAT)) or None,
        version=_version(item.get("version")),
        item_id=item_id,
        published_at=iso_millis(_get(item, "versioncreated", "versionCreated"))
        or iso_millis(_get(item, "firstpublished", "firstPublished", "firstcreated", "firstCreated",
                           "contentcreated", "contentCreated")),
        language=clean(require_str(item.get("language"), "language", FORMAT)) or None,
        item_index=index,
    )


def _headline(item: dict) -> str:
    headline = require_str(item.get("headline"), "headline", FORMAT)
    if headline and headline.strip():
        return clean(headline)
    headlines = item.get("headlines")
    if headlines is not None:
        values = _role_values(headlines, "headlines")
        for role, _, value in values:
            if role in (None, "main") and value.strip():
                return clean(value)
        for _, _, value in values:
            if value.strip():
                return clean(value)
    return ""


def _role_values(entries: Any, field: str) -> list[tuple[Optional[str], str, str]]:
    """``(role, content type, value)`` of a 2.x/3.x text array, type-checked."""
    if not isinstance(entries, list):
        raise ParseError(
            DeadLetterReason.MALFORMED, f"{FORMAT}: field '{field}' must be an array, got {type(entries).__name__}",
            FORMAT)
    out = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise ParseError(DeadLetterReason.MALFORMED, f"{FORMAT}: '{field}' entries must be objects", FORMAT)
        value = require_str(entry.get("value"), f"{field}.value", FORMAT)
        role = entry.get("role")
        ctype = _get(entry, "contenttype", "contentType") or ""
        if value is not None:
            out.append((role if isinstance(role, str) else None, ctype if isinstance(ctype, str) else "", value))
    return out


def body_from_parts(parts: list[tuple[str, str]]) -> tuple[str, ...]:
    """Paragraphs from ``(content type, value)`` bodies: HTML first, then NITF, then text."""
    def rank(part: tuple[str, str]) -> int:
        ctype, value = part
        ctype = ctype.lower()
        if "nitf" in ctype or value.lstrip().startswith(("<?xml", "<nitf")):
            return 1
        if "html" in ctype or "xml" in ctype or value.lstrip().startswith("<"):
            return 0
        return 2

    for ctype, value in sorted(parts, key=rank):
        if not value.strip():
            continue
        kind = rank((ctype, value))
        if kind == 1:
            paragraphs = nitf.body_paragraphs_from_text(value)
        elif kind == 0:
            # A whole HTML5 document: its <head> (title, meta) is not body text.
            paragraphs = html_paragraphs(_HTML_HEAD.sub(" ", value))
        else:
            paragraphs = text_paragraphs(value)
        if paragraphs:
            return paragraphs
    return ()


def _body(item: dict) -> tuple[str, ...]:
    parts: list[tuple[str, str]] = []
    for key, ctype in _BODY_FIELDS:
        value = require_str(item.get(key), key, FORMAT)
        if value:
            parts.append((ctype, value))
    bodies = item.get("bodies")
    if bodies is not None:
        parts.extend((ctype or "text/plain", value) for _, ctype, value in _role_values(bodies, "bodies"))
    return body_from_parts(parts)


def _standfirst(item: dict) -> Optional[str]:
    for key in ("description_text", "description_html", "description_xhtml"):
        value = require_str(item.get(key), key, FORMAT)
        if value and value.strip():
            return " ".join(html_paragraphs(value)) if "html" in key else clean(value)
    descriptions = item.get("descriptions")
    if descriptions is not None:
        for role, ctype, value in _role_values(descriptions, "descriptions"):
            if (role or "").lower() in _STANDFIRST_ROLES and value.strip():
                return " ".join(html_paragraphs(value)) if "html" in ctype.lower() else clean(value)
    return None


def _bylines(item: dict) -> tuple[str, ...]:
    """The byline as written, then the writers among Superdesk's ``authors`` it does not name.

    ``authors`` is the structured list of the item's people with their roles;
    the byline is the display string, which may credit others (Superdesk's
    ninjs1: byline "Peter and Jane", author John, writer). An author whose
    name the byline already holds is not repeated ("Aaron Staples" in "Aaron
    J. Staples, Michigan State University"), nor are editing and production
    roles credited as bylines.
    """
    byline = require_str(_get(item, "byline", "by"), "byline", FORMAT)
    bylines = [clean(byline)] if byline and byline.strip() else []
    written = set(re.findall(r"\w+", bylines[0].casefold())) if bylines else set()
    for name in _author_names(item.get("authors")):
        words = re.findall(r"\w+", name.casefold())
        if not (words and set(words) <= written):
            bylines.append(name)
            written.update(words)
    return tuple(bylines)


def _author_names(authors: Any) -> list[str]:
    if not isinstance(authors, list):
        return []
    names = []
    for author in authors:
        if not isinstance(author, dict) or not isinstance(author.get("name"), str):
            continue
        role = author.get("role")
        if isinstance(role, str) and role.strip().lower() in _NOT_BYLINE_ROLES:
            continue
        if clean(author["name"]):
            names.append(clean(author["name"]))
    return names


def _agency(item: dict) -> Optional[str]:
    for key in ("source", "copyrightholder", "copyrightHolder"):
        value = item.get(key)
        if isinstance(value, str) and value.strip():
            return clean(value)
    sources = _get(item, "infosources", "infoSources")
    if isinstance(sources, list):
        for source in sources:
            if isinstance(source, dict) and isinstance(source.get("name"), str):
                return clean(source["name"])
    return None


def _urgency(value: Any) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ParseError(
            DeadLetterReason.MALFORMED, f"{FORMAT}: field 'urgency' must be an integer, got {type(value).__name__}",
            FORMAT)
    if isinstance(value, str):
        if not value.strip().isdigit():
            raise ParseError(DeadLetterReason.MALFORMED, f"{FORMAT}: field 'urgency' is not a number: {value!r}",
                             FORMAT)
        value = int(value)
    return value


def _version(value: Any) -> Optional[str]:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, str)):
        return str(value).strip() or None
    raise ParseError(
        DeadLetterReason.MALFORMED, f"{FORMAT}: field 'version' must be a string, got {type(value).__name__}", FORMAT)


def _captions(associations: Any) -> tuple[CaptionText, ...]:
    if isinstance(associations, dict):
        entries = list(associations.values())
    elif isinstance(associations, list):
        entries = associations
    else:
        return ()
    out = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        kind = entry.get("type")
        if not isinstance(kind, str) or kind.lower() not in _PICTURES:
            continue
        text = None
        for key in ("description_text", "body_text", "headline"):
            if isinstance(entry.get(key), str) and entry[key].strip():
                text = clean(entry[key])
                break
        if text is None and isinstance(entry.get("descriptions"), list):
            for description in entry["descriptions"]:
                if isinstance(description, dict) and isinstance(description.get("value"), str):
                    text = clean(description["value"])
                    break
        if not text:
            continue
        credit = _get(entry, "byline", "by", "copyrightholder", "copyrightHolder")
        out.append(CaptionText(
            text=text,
            credit=clean(credit) if isinstance(credit, str) and credit.strip() else None,
            kind="graphic" if kind.lower() == "graphic" else "photo"))
    return tuple(out)
