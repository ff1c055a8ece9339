"""NewsML-G2 (IPTC): a ``newsItem`` or a ``newsMessage`` carrying several items.

Input: an XML document in the G2 namespace (``http://iptc.org/std/nar/...``)
whose root is ``newsMessage`` (items under ``itemSet``), ``newsItem``,
``packageItem``, ``conceptItem``, ``knowledgeItem``, ``planningItem`` or
``catalogItem``. Output: one result per item, in document order: a
``ParsedItem`` for each text news item, an ``ItemFailure`` for each item
that is not a story or cannot be read (siblings are still returned). An
input holding a single item raises ``ParseError`` instead, so the dead
letter keeps the whole input.

Mapping (per ``newsItem``):
  - headline: ``contentMeta/headline`` (the one without a role or with a
    main role), else an embedded NITF's, else ``itemMeta/title``.
  - standfirst: a ``contentMeta/description`` whose role is a summary,
    abstract or lead (not a caption: Reuters puts its slug there), else an
    embedded NITF's abstract.
  - body: ``contentSet/inlineXML`` (XHTML ``body`` or an embedded NITF
    ``body.content``), else ``inlineData`` as plain text; a first
    paragraph repeating the headline (GlobeNewswire's ``<h1>``) is left
    out; a ``<p>`` holding a text table (rows on lines, columns padded with
    spaces: Reuters' results) gives a paragraph per row. Inline markup
    escaped into the text (STT's
    ``35&lt;endash&gt;-&lt;/endash&gt;40``) keeps its text, ``35-40``.
  - bylines: ``contentMeta/by`` as written; else ``creator`` names that are
    people: not a source/provider role, not an organisation
    (``organisationDetails``, or the name of the item's own provider,
    copyright holder or info source: Reuters' and GlobeNewswire's
    ``creator`` is the wire); else a body that opens with a paragraph
    saying only "By <Name>" (BusinessDesk): that paragraph; else an
    embedded NITF's byline.
  - dateline: ``contentMeta/dateline`` (else an embedded NITF's) unless it
    is a time stamp (Reuters writes ``2014-07-16 13:00:03 GMT+00:00``
    there). With none declared, a lead the item vouches for is lifted out
    of the body (``_common.lead_dateline``): one starting with the city of
    ``contentMeta/located`` and ending in a parenthesised credit and a dash
    (``CALGARY, Alberta, Dec. 03, 2019 (GLOBE NEWSWIRE) --``, also behind a
    short sub-headline), or a date alone (``Jan 30 (Gracenote) -``).
  - credit line: ``contentMeta/creditline``.
  - agency: the ``infoSource`` (source / original provider) name or
    literal, else ``copyrightHolder``, else ``provider``.
  - urgency: ``contentMeta/urgency``; slugline: ``contentMeta/slugline``;
    version: the ``version`` attribute (the G2 item version: dedup links
    versions of one guid with it); item id: ``guid``; published:
    ``itemMeta/versionCreated``, else ``firstCreated`` or
    ``contentMeta/contentCreated``; language: ``xml:lang`` of the item,
    else ``contentMeta/language/@tag``.

Decisions:
  - Items that are not stories become ``ItemFailure(not_a_story)``:
    ``packageItem`` (it only references other items, which arrive on their
    own), ``conceptItem``, ``knowledgeItem``, ``planningItem``,
    ``catalogItem``, and news items whose class is picture, graphic, video
    or audio (a caption is not a story; see the ninjs module for the same
    decision), or composite items without text (event sets).
  - A text item without body text is ``missing_body``. One with a body
    but no headline (STT sends them) is reported as sent, headline ``""``:
    enrichment derives one and flags it (``Story.headline_derived``).
"""

from __future__ import annotations

import re
from typing import Optional, Union
from xml.etree.ElementTree import Element

from transforms.formats import nitf
from transforms.formats._common import (
    agency_key,
    lead_dateline,
    parse_package,
    child,
    children,
    clean,
    element_paragraphs,
    index_children,
    iso_millis,
    local,
    parse_xml,
    split_dateline,
    text_of,
    text_paragraphs,
)
from transforms.model import DeadLetterReason, ItemFailure, ParsedItem, ParseError

__all__ = ["FORMAT", "parse", "parse_news_item"]

FORMAT = "newsml_g2"
_G2_NAMESPACE = "iptc.org/std/nar/"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_ITEMS = {"newsItem", "packageItem", "conceptItem", "knowledgeItem", "planningItem", "catalogItem"}
_NOT_TEXT = {"picture", "graphic", "video", "audio", "animated"}
_STANDFIRST_ROLE = re.compile(r"(summary|abstract|lead|teaser|synthe)", re.I)
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d")
_SOURCE_ROLES = ("source", "origprov", "provider")
_BYLINE_PARAGRAPH = re.compile(r"^By\s+[A-Z][\w.'’-]+(?:\s+[A-Z][\w.'’-]+){0,3}$")
_PADDED_COLUMNS = re.compile(r"\S {2,}\S")
_ESCAPED_MARKUP = re.compile(r"<([a-z][a-z0-9]{0,15})>([^<>]{0,40})</\1>")

ParseResult = Union[ParsedItem, ItemFailure]


def parse(data: bytes) -> list[ParseResult]:
    """Parse a G2 document: one result per item it carries."""
    root = parse_xml(data, FORMAT)
    name = local(root.tag)
    if _G2_NAMESPACE not in (root.tag if isinstance(root.tag, str) else ""):
        raise ParseError(
            DeadLetterReason.UNRECOGNISED_FORMAT,
            f"{FORMAT}: root <{name}> is not in the NewsML-G2 namespace", FORMAT)
    if name == "newsMessage":
        items = [item for item_set in children(root, "itemSet") for item in item_set
                 if local(item.tag) in _ITEMS]
        if not items:
            raise ParseError(DeadLetterReason.MISSING_BODY, f"{FORMAT}: newsMessage carries no items", FORMAT)
    elif name in _ITEMS:
        items = [root]
    elif name == "conceptSet":
        raise ParseError(DeadLetterReason.NOT_A_STORY, f"{FORMAT}: conceptSet, not a story", FORMAT)
    else:
        raise ParseError(
            DeadLetterReason.UNRECOGNISED_FORMAT, f"{FORMAT}: <{name}> is not a G2 item or message", FORMAT)
    return parse_package(items, parse_news_item, FORMAT)


def parse_news_item(item: Element, index: int = 0) -> ParsedItem:
    """Map one G2 item element to a ``ParsedItem`` (or raise ``ParseError``)."""
    kind = local(item.tag)
    guid = item.get("guid") or None
    where = f"{FORMAT}: {guid}" if guid else FORMAT
    if kind != "newsItem":
        raise ParseError(DeadLetterReason.NOT_A_STORY, f"{where}: {kind}, not a story", FORMAT)
    item_meta = child(item, "itemMeta")
    meta = index_children(item_meta)
    content = index_children(child(item, "contentMeta"))
    item_class = _first(meta, "itemClass")
    qcode = (item_class.get("qcode") or "") if item_class is not None else ""
    nature = qcode.split(":", 1)[-1].lower()
    if nature in _NOT_TEXT:
        raise ParseError(DeadLetterReason.NOT_A_STORY, f"{where}: {nature} item, not a story", FORMAT)

    body, embedded = _body(child(item, "contentSet"))
    paragraphs = tuple(_unescape_markup(p) for p in body)
    headline = _unescape_markup(
        _headline(content) or (embedded.headline if embedded else "") or text_of(_first(meta, "title")))
    if nature == "composite" and not (paragraphs and headline):
        raise ParseError(DeadLetterReason.NOT_A_STORY, f"{where}: composite item without a story", FORMAT)
    if not paragraphs:
        raise ParseError(DeadLetterReason.MISSING_BODY, f"{where}: no text content", FORMAT)
    if headline and len(paragraphs) > 1 and clean(paragraphs[0]).casefold() == headline.casefold():
        paragraphs = paragraphs[1:]  # the XHTML's <h1> repeats the headline (GlobeNewswire)

    bylines = _bylines(content, _agency_names(item, meta, content))
    lead_byline, paragraphs = _lead_byline(paragraphs)
    bylines = bylines or lead_byline or (embedded.bylines if embedded else ())
    declared = text_of(_first(content, "dateline")) or (embedded.dateline if embedded else None)
    if declared and _TIMESTAMP.match(declared):
        declared = None  # Reuters writes a time stamp there
    if declared:
        dateline, paragraphs = split_dateline(declared, paragraphs)
    else:
        # No dateline declared: one the body opens with that the declared place
        # vouches for, or a date alone, is lifted out (the body rules need a place).
        dateline, paragraphs = lead_dateline(paragraphs, _located(content))
    language_element = _first(content, "language")
    language = item.get(_XML_LANG) or (language_element.get("tag") if language_element is not None else None)
    standfirst = _standfirst(content) or (embedded.standfirst if embedded else None)
    return ParsedItem(
        format=FORMAT,
        headline=headline,
        body_paragraphs=paragraphs,
        standfirst=_unescape_markup(standfirst) if standfirst else None,
        bylines=bylines,
        dateline=dateline,
        credit_line=text_of(_first(content, "creditline")) or None,
        agency=_agency(item, meta, content),
        urgency=_int(text_of(_first(content, "urgency"))),
        slugline=text_of(_first(content, "slugline")) or None,
        version=clean(item.get("version")) or None,
        item_id=guid,
        published_at=iso_millis(text_of(_first(meta, "versionCreated")))
        or iso_millis(text_of(_first(meta, "firstCreated")))
        or iso_millis(text_of(_first(content, "contentCreated"))),
        language=clean(language) or None,
        item_index=index,
    )


def _first(index: dict[str, list[Element]], name: str) -> Optional[Element]:
    found = index.get(name)
    return found[0] if found else None


def _headline(content: dict[str, list[Element]]) -> str:
    headlines = content.get("headline", [])
    for headline in headlines:
        role = (headline.get("role") or "").lower()
        if not role or role.endswith(":main") or role.endswith("main"):
            text = text_of(headline)
            if text:
                return text
    for headline in headlines:
        text = text_of(headline)
        if text:
            return text
    return ""


def _standfirst(content: dict[str, list[Element]]) -> Optional[str]:
    for description in content.get("description", []):
        if _STANDFIRST_ROLE.search(description.get("role") or ""):
            text = " ".join(element_paragraphs(description)) or text_of(description)
            if text:
                return text
    return None


def _body(content_set: Optional[Element]) -> tuple[tuple[str, ...], Optional[nitf.NitfText]]:
    """The body paragraphs, and the embedded NITF they come from if any: its
    headline, byline, dateline and abstract stand in for the ``contentMeta``
    ones an item leaves out (Scoop's BusinessDesk items put them only there)."""
    for inline in children(content_set, "inlineXML"):
        for node in inline:
            name = local(node.tag)
            embedded = None
            if name == "nitf":
                embedded = nitf.story_text(node)
                paragraphs = embedded.paragraphs
            elif name == "html":
                # dpa repeats its keywords and headline in an XHTML <header>.
                _split_text_tables(child(node, "body"))
                paragraphs = element_paragraphs(child(node, "body"), skip=("header", "nav", "aside"))
            else:
                paragraphs = element_paragraphs(node)
            if paragraphs:
                return paragraphs, embedded
        paragraphs = element_paragraphs(inline)
        if paragraphs:
            return paragraphs, None
    for inline in children(content_set, "inlineData"):
        paragraphs = text_paragraphs(inline.text or "")
        if paragraphs:
            return paragraphs, None
    return (), None


def _bylines(content: dict[str, list[Element]], agencies: tuple[str, ...] = ()) -> tuple[str, ...]:
    """``by`` as written; else the creators who are people: not a source or
    provider role, not an organisation (``organisationDetails``, or the name
    of the item's own provider: GlobeNewswire's ``creator`` is the wire)."""
    bylines = tuple(b for b in (text_of(e) for e in content.get("by", [])) if b)
    if bylines:
        return bylines
    own = {agency_key(name) for name in agencies} - {""}
    names = []
    for creator in content.get("creator", []):
        role = (creator.get("role") or "").lower()
        if any(r in role for r in _SOURCE_ROLES) or child(creator, "organisationDetails") is not None:
            continue
        name = text_of(child(creator, "name")) or clean(creator.get("literal"))
        if name and agency_key(name) not in own:
            names.append(name)
    return tuple(names)


def _split_text_tables(body: Optional[Element]) -> None:
    """Give each row of a text table its own ``<p>`` (in place).

    Reuters' data services (Gracenote results and standings) send a table as
    one ``<p>`` of lines whose columns are padded with spaces; read as one
    paragraph, its rows would run together. A ``<p>`` of plain text with at
    least three lines, two of them padded, is such a table.
    """
    if body is None:
        return
    for parent in list(body.iter()):
        for index in range(len(parent) - 1, -1, -1):
            node = parent[index]
            if local(node.tag) != "p" or len(node) or not node.text or "\n" not in node.text:
                continue
            lines = [line.strip() for line in node.text.splitlines() if line.strip()]
            if len(lines) < 3 or sum(1 for line in lines if _PADDED_COLUMNS.search(line)) < 2:
                continue
            rows = []
            for line in lines:
                row = Element(node.tag)
                row.text = line
                rows.append(row)
            rows[-1].tail = node.tail
            parent[index:index + 1] = rows


def _lead_byline(paragraphs: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A body that opens with a paragraph of its own saying only "By <Name>"
    (Scoop's BusinessDesk copy): that paragraph is the byline, not text.
    Returns ``(bylines, paragraphs)``."""
    if len(paragraphs) > 1 and _BYLINE_PARAGRAPH.match(paragraphs[0]):
        return (paragraphs[0],), paragraphs[1:]
    return (), paragraphs


def _located(content: dict[str, list[Element]]) -> Optional[str]:
    """The place ``contentMeta/located`` declares (its name or literal)."""
    located = _first(content, "located")
    return _name(located) or None


def _agency_names(
    item: Element, meta: dict[str, list[Element]], content: dict[str, list[Element]]
) -> tuple[str, ...]:
    """Every name the item gives its sources: info sources, copyright holder, provider."""
    names = [_name(source) for source in content.get("infoSource", [])]
    names.append(_name(child(child(item, "rightsInfo"), "copyrightHolder")))
    names.append(_name(_first(meta, "provider")))
    return tuple(dict.fromkeys(n for n in names if n))


def _unescape_markup(text: str) -> str:
    """Inline markup escaped into the text, as STT sends it (``35&lt;endash&gt;-&lt;/endash&gt;40``
    reads ``35<endash>-</endash>40``): the tags go, their text stays (``35-40``)."""
    return _ESCAPED_MARKUP.sub(r"\2", text) if "</" in text else text


def _name(element: Optional[Element]) -> str:
    if element is None:
        return ""
    return text_of(child(element, "name")) or clean(element.get("literal"))


def _agency(item: Element, meta: dict[str, list[Element]], content: dict[str, list[Element]]) -> Optional[str]:
    for source in content.get("infoSource", []):
        role = (source.get("role") or "").lower()
        if not role or any(r in role for r in _SOURCE_ROLES):
            name = _name(source)
            if name:
                return name
    holder = _name(child(child(item, "rightsInfo"), "copyrightHolder"))
    return holder or _name(_first(meta, "provider")) or None


def _int(value: str) -> Optional[int]:
    try:
        return int(value) if value else None
    except ValueError:
        return None

