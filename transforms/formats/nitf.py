"""NITF (News Industry Text Format, IPTC) 2.x / 3.x documents: one story each.

Input: an XML document whose root is ``<nitf>`` (any NITF version, with or
without the NITF namespace). Output: a list with one ``ParsedItem``.
Anything else raises ``ParseError`` naming ``nitf`` and the problem:
truncated or malformed XML, another vocabulary's root, no body. A story
with a body but no headline is reported as sent, headline ``""``:
enrichment derives one.

Mapping:
  - headline: ``body.head/hedline/hl1``, else ``head/title``.
  - standfirst: ``body.head/abstract`` text.
  - bylines: each ``body.head/byline`` as written, its parts (``person``,
    ``byttl``) joined with ", " ("By BERNARD CONDON, AP Business Writer");
    desk initials (EFE's ``daa/mt/msr``) are not a byline.
  - dateline: the place of ``body.head/dateline`` (else of the first
    ``dateline`` inside ``body.content``, a block head, which then leaves
    the body): its text and ``location`` parts (``city``, ``state``,
    ``country``) joined with ", ", then a ``story.date`` written for
    readers ("July 23"). A ``story.date`` that only holds a machine time
    stamp (EFE writes ``20190121T103600+0000`` there) is not a dateline and
    is left out; that time is the publication time, read from ``docdata``.
    A dateline of nothing but such a stamp gives none, so the normalizer
    reads the body's own; when that lead starts with the event's city
    (``docdata/evloc/@city``) or its credit names the sender (distributor,
    rights owner, copyright holder: ``Nueva Delhi, 21 ene (EFE).-``), the
    parser lifts it out as the dateline (``_common.lead_dateline``).
  - body paragraphs: block elements of ``body.content`` (``p``, ``hl2``,
    list items; a table row is one paragraph of its cells); ``media``
    blocks become captions (``media-caption``, credited to
    ``media-producer``), not body.
  - agency: ``doc.copyright/@holder``, else ``distributor``.
  - urgency: ``docdata/urgency/@ed-urg``; item id: ``doc-id/@id-string``;
    published: ``date.issue/@norm`` (else ``pubdata/@date.publication``);
    slugline: ``du-key/@key``, else the ``anpa-keyword`` / ``keyword``
    meta; version: ``du-key/@version``; language: ``xml:lang`` on the root
    or ``head``, else a ``language`` meta.
"""

from __future__ import annotations

import re
from typing import NamedTuple, Optional
from xml.etree.ElementTree import Element

from transforms.formats._common import (
    child,
    children,
    clean,
    descendants,
    element_paragraphs,
    iso_millis,
    local,
    parse_xml,
    lead_dateline,
    split_dateline,
    text_of,
)
from transforms.model import CaptionText, DeadLetterReason, ParsedItem, ParseError

__all__ = [
    "FORMAT", "parse", "parse_element", "NitfText", "story_text", "body_content", "body_paragraphs_from_text",
    "dateline_text",
]

FORMAT = "nitf"
#: EFE writes its desk's initials where the byline goes ('daa/mt/msr'): they name no one.
_DESK_INITIALS = re.compile(r"^[a-z]{1,4}(?:/[a-z]{1,4})+$")
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def parse(data: bytes) -> list[ParsedItem]:
    """Parse one NITF document."""
    root = parse_xml(data, FORMAT)
    if local(root.tag).lower() != "nitf":
        raise ParseError(
            DeadLetterReason.UNRECOGNISED_FORMAT,
            f"{FORMAT}: root element is <{local(root.tag)}>, not <nitf>", FORMAT)
    return [parse_element(root)]


def body_paragraphs_from_text(document: str) -> tuple[str, ...]:
    """Body paragraphs of a NITF document held in a string (ninjs embeds them)."""
    root = parse_xml(document.encode("utf-8"), FORMAT)
    return body_content(child(child(root, "body"), "body.content"))[0]


class NitfText(NamedTuple):
    """The story text of a NITF document, as written (NewsML 1.x reads it from ``DataContent``)."""

    headline: str
    standfirst: str
    bylines: tuple[str, ...]
    dateline: Optional[str]  # the declared one, before it is reconciled with the body's start
    paragraphs: tuple[str, ...]
    captions: tuple[CaptionText, ...]
    credits: tuple[str, ...] = ()  # distributor, rights owner, copyright holder: who sends it


def story_text(root: Element) -> NitfText:
    """Headline, standfirst, bylines, dateline, body and captions of a ``<nitf>`` element.

    Never raises: a missing part is empty, for the caller to decide on.
    """
    head = child(root, "head")
    body = child(root, "body")
    body_head = child(body, "body.head")
    content = child(body, "body.content")
    headline = text_of(child(child(body_head, "hedline"), "hl1")) or text_of(child(head, "title"))
    dateline = dateline_text(child(body_head, "dateline"))
    skip: tuple[str, ...] = ()
    if dateline is None:
        # A block head inside the body may carry it instead (NITF's ``block``).
        inner = next(descendants(content, "dateline"), None)
        dateline = dateline_text(inner)
        if dateline is not None:
            skip = ("dateline",)  # it is the dateline now, not a paragraph of its own
    paragraphs, captions = body_content(content, skip)
    abstract = child(body_head, "abstract")
    return NitfText(
        headline=headline,
        standfirst=" ".join(element_paragraphs(abstract)) if abstract is not None else "",
        bylines=tuple(b for b in (_byline(e) for e in children(body_head, "byline"))
                      if b and not _DESK_INITIALS.match(b)),
        dateline=dateline,
        paragraphs=paragraphs,
        captions=captions,
        credits=_credits(head, body_head),
    )


def _credits(head: Optional[Element], body_head: Optional[Element]) -> tuple[str, ...]:
    copyright_ = child(child(head, "docdata"), "doc.copyright")
    names = (
        text_of(child(body_head, "distributor")),
        text_of(child(child(body_head, "rights"), "rights.owner")),
        clean(copyright_.get("holder")) if copyright_ is not None else "",
    )
    return tuple(dict.fromkeys(n for n in names if n))


def parse_element(root: Element, fmt: str = FORMAT) -> ParsedItem:
    """Map a parsed ``<nitf>`` element to a story."""
    head = child(root, "head")
    docdata = child(head, "docdata")
    body_head = child(child(root, "body"), "body.head")

    text = story_text(root)
    headline, paragraphs = text.headline, text.paragraphs
    if not paragraphs:
        raise ParseError(DeadLetterReason.MISSING_BODY, f"{fmt}: no text in <body.content>", fmt)

    metas = {m.get("name", "").lower(): m.get("content", "") for m in children(head, "meta")}
    du_key = child(docdata, "du-key")
    copyright_ = child(docdata, "doc.copyright")
    agency = clean((copyright_.get("holder") if copyright_ is not None else "") or "") or text_of(
        child(body_head, "distributor"))
    urgency_element = child(docdata, "urgency")
    doc_id = child(docdata, "doc-id")
    issued = child(docdata, "date.issue")
    pubdata = child(head, "pubdata")
    published = iso_millis(issued.get("norm") if issued is not None else None)
    if published is None and pubdata is not None:
        published = iso_millis(pubdata.get("date.publication"))
    slugline = clean(du_key.get("key") if du_key is not None else None) or clean(
        metas.get("anpa-keyword") or metas.get("keyword") or metas.get("ntbstikkord")) or None
    language = root.get(_XML_LANG) or (head.get(_XML_LANG) if head is not None else None) or metas.get("language")
    if text.dateline:
        dateline, paragraphs = split_dateline(text.dateline, paragraphs)
    else:
        # None declared (EFE's holds only a time stamp): a lead in the event's
        # city (docdata/evloc) or signed by the sender ('Lima, 3 mar (EFE).-') is it.
        evloc = child(docdata, "evloc")
        dateline, paragraphs = lead_dateline(
            paragraphs, evloc.get("city") if evloc is not None else None, (*text.credits, agency))
    return ParsedItem(
        format=fmt,
        headline=headline,
        body_paragraphs=paragraphs,
        standfirst=text.standfirst or None,
        bylines=text.bylines,
        dateline=dateline,
        captions=text.captions,
        agency=agency or None,
        urgency=_int(urgency_element.get("ed-urg") if urgency_element is not None else None),
        slugline=slugline,
        version=clean(du_key.get("version") if du_key is not None else None) or None,
        item_id=clean(doc_id.get("id-string") if doc_id is not None else None) or None,
        published_at=published,
        language=clean(language) or None,
    )


def body_content(
    content: Optional[Element], skip: tuple[str, ...] = ()
) -> tuple[tuple[str, ...], tuple[CaptionText, ...]]:
    """Paragraphs and captions of a ``body.content`` element (also inside NewsML packages);
    ``skip`` names further elements that are not body text."""
    if content is None:
        return (), ()
    captions = []
    for media in descendants(content, "media"):
        caption = text_of(child(media, "media-caption"))
        if caption:
            producer = text_of(child(media, "media-producer"))
            kind = (media.get("media-type") or "").lower()
            captions.append(CaptionText(
                text=caption, credit=producer or None,
                kind="graphic" if kind in ("graphic", "chart", "map") else "photo"))
    return element_paragraphs(content, skip=("body.end", "media", *skip)), tuple(captions)


def _byline(element: Element) -> str:
    parts = [clean(t) for t in element.itertext()]
    return ", ".join(p for p in parts if p)


def dateline_text(dateline: Optional[Element]) -> Optional[str]:
    """The dateline a ``<dateline>`` element writes: place parts, then a date for readers.

    ``<location><city>Ottawa</city><state>Ontario</state></location>`` gives
    ``Ottawa, Ontario``; ``<location>BEIJING</location><story.date>July
    23</story.date>`` gives ``BEIJING, July 23``. A ``story.date`` holding a
    machine time stamp is left out, so a dateline of only that gives None.
    """
    if dateline is None:
        return None
    parts: list[str] = []
    _add_part(parts, dateline.text)
    for node in dateline:
        name = local(node.tag)
        if name == "location":
            for piece in node.itertext():
                _add_part(parts, piece)
        elif name == "story.date":
            written = text_of(node)
            if not _is_time_stamp(written, node.get("norm")):
                _add_part(parts, written)
        elif name:
            _add_part(parts, text_of(node))
        _add_part(parts, node.tail)
    return ", ".join(parts) or None


def _add_part(parts: list[str], text: Optional[str]) -> None:
    """Add ``text`` without the commas that joined it to its neighbours in the markup."""
    part = clean(text).strip(" ,;")
    if part:
        parts.append(part)


def _is_time_stamp(written: str, norm: Optional[str]) -> bool:
    """True for a date written for machines (ISO 8601, or the ``norm`` attribute repeated)."""
    return bool(written) and (written == (norm or "").strip() or iso_millis(written) is not None)


def _int(value: Optional[str]) -> Optional[int]:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
