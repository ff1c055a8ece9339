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
    main role), else ``itemMeta/title``.
  - standfirst: a ``contentMeta/description`` whose role is a summary,
    abstract or lead (not a caption: Reuters puts its slug there).
  - body: ``contentSet/inlineXML`` (XHTML ``body`` or an embedded NITF
    ``body.content``), else ``inlineData`` as plain text.
  - bylines: ``contentMeta/by`` as written; else ``creator`` names whose
    role is not the source/provider.
  - dateline: ``contentMeta/dateline`` unless it is a time stamp (Reuters
    writes ``2014-07-16 13:00:03 GMT+00:00`` there).
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
  - A text item without a headline or without body text is
    ``missing_headline`` / ``missing_body``.
"""

from __future__ import annotations

import re
from typing import Optional, Union
from xml.etree.ElementTree import Element

from transforms.formats import nitf
from transforms.formats._common import (
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

    paragraphs = _body(child(item, "contentSet"))
    headline = _headline(content) or text_of(_first(meta, "title"))
    if nature == "composite" and not (paragraphs and headline):
        raise ParseError(DeadLetterReason.NOT_A_STORY, f"{where}: composite item without a story", FORMAT)
    if not headline:
        raise ParseError(DeadLetterReason.MISSING_HEADLINE, f"{where}: no headline", FORMAT)
    if not paragraphs:
        raise ParseError(DeadLetterReason.MISSING_BODY, f"{where}: no text content", FORMAT)

    dateline = text_of(_first(content, "dateline"))
    dateline, paragraphs = split_dateline(
        dateline if dateline and not _TIMESTAMP.match(dateline) else None, paragraphs)
    language_element = _first(content, "language")
    language = item.get(_XML_LANG) or (language_element.get("tag") if language_element is not None else None)
    return ParsedItem(
        format=FORMAT,
        headline=headline,
        body_paragraphs=paragraphs,
        standfirst=_standfirst(content),
        bylines=_bylines(content),
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


def _body(content_set: Optional[Element]) -> tuple[str, ...]:
    for inline in children(content_set, "inlineXML"):
        for node in inline:
            name = local(node.tag)
            if name == "nitf":
                paragraphs = nitf.body_content(child(child(node, "body"), "body.content"))[0]
            elif name == "html":
                # dpa repeats its keywords and headline in an XHTML <header>.
                paragraphs = element_paragraphs(child(node, "body"), skip=("header", "nav", "aside"))
            else:
                paragraphs = element_paragraphs(node)
            if paragraphs:
                return paragraphs
        paragraphs = element_paragraphs(inline)
        if paragraphs:
            return paragraphs
    for inline in children(content_set, "inlineData"):
        paragraphs = text_paragraphs(inline.text or "")
        if paragraphs:
            return paragraphs
    return ()


def _bylines(content: dict[str, list[Element]]) -> tuple[str, ...]:
    bylines = tuple(b for b in (text_of(e) for e in content.get("by", [])) if b)
    if bylines:
        return bylines
    names = []
    for creator in content.get("creator", []):
        role = (creator.get("role") or "").lower()
        if any(r in role for r in _SOURCE_ROLES):
            continue
        name = text_of(child(creator, "name")) or clean(creator.get("literal"))
        if name:
            names.append(name)
    return tuple(names)


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

