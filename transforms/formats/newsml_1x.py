"""NewsML 1.x (1.0 to 1.2, IPTC), as AFP, EFE, Kyodo, ANA, Belga and others deliver it.

Input: an XML document whose root is ``<NewsML>`` holding one or more
``NewsItem`` elements (each a tree of ``NewsComponent``s with
``ContentItem``s). Output: one result per ``NewsItem``: a ``ParsedItem``
for a text story, an ``ItemFailure`` for one that is not a story or cannot
be read, while its siblings are still returned; a document holding a single
item raises ``ParseError`` instead.

Mapping (per ``NewsItem``):
  - headline, standfirst (``SubHeadLine``), byline, dateline, slugline and
    credit line from the first ``NewsLines`` that has them, searched from
    the item's top component down (BusinessWire nests them one level,
    Belga's relays of other agencies two); Belga's "No Headline !"
    placeholder does not count, so a nested component's headline is found;
  - body from the text ``ContentItem``s (``MediaType`` Text, or a text /
    NITF / XHTML format or MIME type, or any ``DataContent`` holding a
    ``<nitf>`` document whatever its ``MediaType`` says, ``ComplexData``
    included: NITF is text) outside picture, sound, video, logo,
    style-sheet, headline and lead components, preferring a component
    whose ``Role`` is Body or Main: an embedded ``<nitf>`` (an element, or
    a document escaped as text) is read with the NITF parser's
    ``story_text``, XHTML as paragraphs, plain text split at blank lines
    or line breaks;
  - the embedded NITF's headline, dateline and abstract stand in for the
    ``NewsLines`` that are missing (not its ``byline``: EFE writes desk
    initials there, ``daa/mt/msr``, which name no one);
  - a lead written as a component of its own (``Role`` Lead, Abstract,
    Summary, Intro, Teaser or SubHeadLine, as Belga and BusinessWire send
    it) is the standfirst; when ``SubHeadLine`` already is, the lead opens
    the body instead, and a lead the body already opens with is not
    repeated. An item with a lead and no body is a brief: the lead is its
    body. A ``Title`` / ``HeadLine`` component is the headline when no
    ``NewsLines`` gives one;
  - captions from photo / picture / graphic components: their ``HeadLine``
    or ``Caption`` text, credited to their ``CreditLine`` or ``ByLine``;
  - agency: ``AdministrativeMetadata/Provider/Party/@FormalName``, else the
    ``ProviderId``; urgency: ``NewsManagement/Urgency/@FormalName``;
    version: ``RevisionId`` (the revision number); item id:
    ``PublicIdentifier``, else ``NewsItemId``; published:
    ``ThisRevisionCreated``, else ``FirstCreated``; language: the item's
    ``xml:lang`` or ``DescriptiveMetadata/Language/@FormalName``.

  - dateline: the declared one (``DateLine``, else the embedded NITF's),
    reconciled with the body's start; with none declared (EFE's NITF
    dateline holds only a time stamp), a lead ending in a parenthesised
    credit that names one of the item's own parties (``Nueva Delhi, 21 ene
    (EFE).-``) is lifted out of the body (``_common.lead_dateline``).

Decisions: a ``NewsItem`` with no text content but media (Belga's audio
and video packages, photo-only items) is ``not_a_story``; with text but no
headline (AFP's "no headline" samples) it is reported as sent, headline
``""``: enrichment derives one and flags it.
"""

from __future__ import annotations

import re
from typing import Iterator, NamedTuple, Optional, Union
from xml.etree.ElementTree import Element

from transforms.formats import nitf
from transforms.formats._common import (
    lead_dateline,
    parse_package,
    child,
    children,
    clean,
    element_paragraphs,
    html_paragraphs,
    iso_millis,
    local,
    parse_xml,
    split_dateline,
    text_of,
    text_paragraphs,
)
from transforms.model import CaptionText, DeadLetterReason, ItemFailure, ParsedItem, ParseError

__all__ = ["FORMAT", "parse", "parse_news_item"]

FORMAT = "newsml_1x"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_MEDIA_ROLES = {"photo", "picture", "image", "graphic", "logo", "stylesheet", "sound", "audio", "video",
                "caption", "headline", "title", "contact", "thumbnail", "preview"}
_PICTURE_ROLES = {"photo", "picture", "image", "graphic"}
_BODY_ROLES = {"body", "main", "text", ""}
_LEAD_ROLES = {"lead", "abstract", "summary", "intro", "teaser", "standfirst", "subheadline"}
_TITLE_ROLES = {"title", "headline"}
_PLACEHOLDER_HEADLINES = {"no headline !", "no headline"}  # Belga's
_HTML_TEXT = re.compile(r"<(?:p|P|br|BR|div|DIV)\b[^>]*>")
_TEXT_FORMATS = ("nitf", "xhtml", "html", "text", "ascii", "iso", "plain")
# A NITF document escaped as text or in CDATA: declaration, comments and DOCTYPE allowed before the root.
_NITF_TEXT = re.compile(
    r"^\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--.*?-->\s*)*(?:<!DOCTYPE\s+nitf\b[^>]*>\s*)?<nitf\b", re.S | re.I)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")

ParseResult = Union[ParsedItem, ItemFailure]


def parse(data: bytes) -> list[ParseResult]:
    """Parse a NewsML 1.x document: one result per ``NewsItem``."""
    root = parse_xml(data, FORMAT)
    if local(root.tag) != "NewsML":
        raise ParseError(
            DeadLetterReason.UNRECOGNISED_FORMAT, f"{FORMAT}: root element is <{local(root.tag)}>, not <NewsML>",
            FORMAT)
    items = children(root, "NewsItem")
    if not items:
        raise ParseError(DeadLetterReason.MISSING_BODY, f"{FORMAT}: <NewsML> holds no NewsItem", FORMAT)
    return parse_package(items, parse_news_item, FORMAT)


def parse_news_item(item: Element, index: int = 0) -> ParsedItem:
    """Map one ``NewsItem`` to a ``ParsedItem``."""
    identifier = child(child(item, "Identification"), "NewsIdentifier")
    item_id = text_of(child(identifier, "PublicIdentifier")) or text_of(child(identifier, "NewsItemId")) or None
    where = f"{FORMAT}: {item_id}" if item_id else FORMAT
    top = child(item, "NewsComponent")
    if top is None:
        raise ParseError(DeadLetterReason.MISSING_BODY, f"{where}: NewsItem without NewsComponent", FORMAT)

    body = _body(top)
    lines = _news_lines(top)
    embedded = body.nitf
    headline = lines.get("HeadLine") or _title(top) or (embedded.headline if embedded else "")
    standfirst = lines.get("SubHeadLine") or (embedded.standfirst if embedded else "") or None
    paragraphs, standfirst = _with_lead(body.paragraphs, standfirst, _lead(top))
    if not paragraphs:
        if _has_media_items(top):
            raise ParseError(DeadLetterReason.NOT_A_STORY, f"{where}: media item without text, not a story",
                             FORMAT)
        raise ParseError(DeadLetterReason.MISSING_BODY, f"{where}: no text content", FORMAT)

    management = child(item, "NewsManagement")
    urgency = child(management, "Urgency")
    revision = child(identifier, "RevisionId")
    language = item.get(_XML_LANG) or _language(top)
    declared = lines.get("DateLine") or (embedded.dateline if embedded else None)
    agency = _agency(top) or text_of(child(identifier, "ProviderId")) or None
    if declared:
        dateline, paragraphs = split_dateline(declared, paragraphs)
    else:
        # None declared (EFE's NITF dateline holds only a time stamp): a lead the
        # item's own agency signs ('Nueva Delhi, 21 ene (EFE).-') is lifted out.
        dateline, paragraphs = lead_dateline(paragraphs, agencies=_agency_names(item, embedded))
    return ParsedItem(
        format=FORMAT,
        headline=headline,
        body_paragraphs=paragraphs,
        standfirst=standfirst,
        bylines=(lines["ByLine"],) if lines.get("ByLine") else (),
        dateline=dateline,
        captions=tuple(_captions(top)),
        credit_line=lines.get("CreditLine") or None,
        agency=agency,
        urgency=_int(urgency.get("FormalName") if urgency is not None else None),
        slugline=lines.get("SlugLine") or None,
        version=text_of(revision) or None,
        item_id=item_id,
        published_at=iso_millis(text_of(child(management, "ThisRevisionCreated")))
        or iso_millis(text_of(child(management, "FirstCreated"))),
        language=clean(language) or None,
        item_index=index,
    )


def _role(component: Element) -> str:
    role = child(component, "Role")
    return (role.get("FormalName") or "").strip().lower() if role is not None else ""


def _components(component: Element, skip_media: bool = True) -> Iterator[Element]:
    """``component`` and its nested components, depth first, skipping media branches."""
    yield component
    for sub in children(component, "NewsComponent"):
        if skip_media and _role(sub) in _MEDIA_ROLES:
            continue
        yield from _components(sub, skip_media)


def _news_lines(top: Element) -> dict[str, str]:
    lines: dict[str, str] = {}
    for component in _components(top):
        for news_lines in children(component, "NewsLines"):
            for line in news_lines:
                name = local(line.tag)
                text = text_of(line)
                if name == "HeadLine" and text.lower() in _PLACEHOLDER_HEADLINES:
                    continue
                if text and name not in lines:
                    lines[name] = text
    return lines


def _is_text_item(content_item: Element) -> bool:
    data = child(content_item, "DataContent")
    if _nitf_element(data) is not None or _nitf_document(data) is not None:
        return True  # NITF is text, whatever MediaType says (ComplexData)
    media = child(content_item, "MediaType")
    media_type = (media.get("FormalName") or "").lower() if media is not None else None
    if media_type is not None and media_type != "complexdata":
        return media_type == "text"
    fmt = child(content_item, "Format")
    mime = child(content_item, "MimeType")
    names = " ".join(
        (e.get("FormalName") or "").lower() for e in (fmt, mime) if e is not None)
    if names:
        return any(t in names for t in _TEXT_FORMATS) and "css" not in names
    return media_type is None and data is not None


def _has_media_items(top: Element) -> bool:
    return any(not _is_text_item(ci) for c in _components(top, skip_media=False)
               for ci in children(c, "ContentItem"))


class _Body(NamedTuple):
    paragraphs: tuple[str, ...]
    nitf: Optional[nitf.NitfText]  # the embedded NITF the paragraphs come from, if any


def _body(top: Element) -> _Body:
    """The body: the first text content item that gives paragraphs, Body / Main roles first."""
    candidates = []
    for component in _components(top):
        role = _role(component)
        if role in _LEAD_ROLES:
            continue
        for content_item in children(component, "ContentItem"):
            if _is_text_item(content_item):
                candidates.append((0 if role in _BODY_ROLES else 1, content_item))
    candidates.sort(key=lambda pair: pair[0])
    for _, content_item in candidates:
        body = _data_text(child(content_item, "DataContent"))
        if body.paragraphs:
            return body
    return _Body((), None)


def _texts(top: Element, roles: set[str]) -> Iterator[str]:
    """The text of each component whose ``Role`` is one of ``roles``, in document order,
    outside media branches (a video's Title is not the story's)."""
    for component in _components(top):
        for sub in children(component, "NewsComponent"):
            if _role(sub) in roles:
                text = " ".join(p for ci in children(sub, "ContentItem") if _is_text_item(ci)
                                for p in _data_paragraphs(child(ci, "DataContent")))
                if text:
                    yield text


def _lead(top: Element) -> Optional[str]:
    """A lead sent as a component of its own (Belga's Lead, BusinessWire's Abstract)."""
    return next(_texts(top, _LEAD_ROLES), None)


def _title(top: Element) -> str:
    """A headline sent as a component of its own (Belga's Title), placeholders aside."""
    for text in _texts(top, _TITLE_ROLES):
        if text.lower() not in _PLACEHOLDER_HEADLINES:
            return text
    return ""


def _with_lead(
    paragraphs: tuple[str, ...], standfirst: Optional[str], lead: Optional[str]
) -> tuple[tuple[str, ...], Optional[str]]:
    """Keep a separate lead: as the standfirst, else as the opening paragraph, never twice.

    Returns ``(paragraphs, standfirst)``. A lead the body already opens with,
    or that repeats the standfirst, adds nothing; with no body it is the body
    (a brief).
    """
    if not lead or lead == standfirst:
        return paragraphs, standfirst
    if not paragraphs:
        return (lead,), standfirst
    if paragraphs[0].startswith(lead):
        return paragraphs, standfirst
    if standfirst is None:
        return paragraphs, lead
    return (lead,) + paragraphs, standfirst


def _nitf_element(data: Optional[Element]) -> Optional[Element]:
    """The ``<nitf>`` element a ``DataContent`` holds, if any."""
    if data is None:
        return None
    for node in data:
        if local(node.tag).lower() == "nitf":
            return node
    return None


def _nitf_document(data: Optional[Element]) -> Optional[str]:
    """A NITF document a ``DataContent`` holds as text (escaped or in CDATA), if any."""
    if data is None or len(data) or not data.text or not _NITF_TEXT.match(data.text):
        return None
    return data.text


def _data_text(data: Optional[Element]) -> _Body:
    """Paragraphs of a ``DataContent``, with the NITF document they come from, if any."""
    if data is None:
        return _Body((), None)
    element = _nitf_element(data)
    if element is None:
        document = _nitf_document(data)
        if document is not None:
            # Already decoded: the declaration's encoding no longer applies.
            element = parse_xml(_XML_DECLARATION.sub("", document, count=1).encode("utf-8"), FORMAT)
    if element is not None:
        embedded = nitf.story_text(element)
        return _Body(embedded.paragraphs, embedded)
    return _Body(_markup_paragraphs(data), None)


def _data_paragraphs(data: Optional[Element]) -> tuple[str, ...]:
    return _data_text(data).paragraphs


def _markup_paragraphs(data: Element) -> tuple[str, ...]:
    """Paragraphs of XHTML, HTML in CDATA or plain text."""
    for node in data:
        if local(node.tag).lower() == "html":
            return element_paragraphs(child(node, "body"))
        paragraphs = element_paragraphs(data)
        if paragraphs:
            return paragraphs
    text = data.text or ""
    if _HTML_TEXT.search(text):
        return html_paragraphs(text)  # HTML in CDATA (ANA)
    return text_paragraphs(text)


def _captions(top: Element) -> Iterator[CaptionText]:
    for component in _components(top, skip_media=False):
        role = _role(component)
        if role not in _PICTURE_ROLES:
            continue
        lines = {local(line.tag): text_of(line) for nl in children(component, "NewsLines") for line in nl}
        text = lines.get("HeadLine") or lines.get("Caption") or ""
        if not text:
            for sub in children(component, "NewsComponent"):
                if _role(sub) == "caption":
                    text = " ".join(p for ci in children(sub, "ContentItem")
                                    for p in _data_paragraphs(child(ci, "DataContent")))
        if text:
            yield CaptionText(
                text=text, credit=lines.get("CreditLine") or lines.get("ByLine") or None,
                kind="graphic" if role == "graphic" else "photo")


def _agency(top: Element) -> Optional[str]:
    for component in _components(top):
        provider = child(child(component, "AdministrativeMetadata"), "Provider")
        party = child(provider, "Party")
        if party is not None and clean(party.get("FormalName")):
            return clean(party.get("FormalName"))
    return None


def _agency_names(item: Element, embedded: Optional[nitf.NitfText]) -> tuple[str, ...]:
    """Every provider, creator and source party the item names, and the embedded
    NITF's distributor and rights owner: the credits its own dateline may carry."""
    names = [clean(party.get("FormalName")) for party in item.iter() if local(party.tag) == "Party"]
    names.append(text_of(child(child(child(item, "Identification"), "NewsIdentifier"), "ProviderId")))
    if embedded is not None:
        names.extend(embedded.credits)
    return tuple(dict.fromkeys(n for n in names if n))


def _language(top: Element) -> Optional[str]:
    for component in _components(top):
        language = child(child(component, "DescriptiveMetadata"), "Language")
        if language is not None and clean(language.get("FormalName")):
            return clean(language.get("FormalName"))
    return None


def _int(value: Optional[str]) -> Optional[int]:
    try:
        return int(value) if value else None
    except ValueError:
        return None
