"""AP Media API JSON (``api_version`` 2.x responses of the content and feed endpoints).

Input: a response ``{"api_version": ..., "data": {"item": {...}}}`` (content
endpoint) or ``{"data": {"items": [{"item": {...}}, ...]}}`` (feed
endpoint). Output: one result per item; with several items a bad one is an
``ItemFailure`` and the others are still returned, a single bad item raises
``ParseError``.

The API item is metadata: the story text is a separate NITF or ANPA
rendition (``renditions.nitf.href``). Superdesk and similar ingesters store
the downloaded text beside the item (a top-level ``nitf`` object with
``body_html``; also accepted inside the item as ``body_html`` /
``body_text``). Mapping: headline; body paragraphs from that text;
standfirst from ``description_summary`` (else ``headline_extended``);
bylines ``By MARIA CHENG, Associated Press`` from ``bylines[].by`` and
``.title``; dateline from ``located``; agency from the first
``infosource`` name (else ``provider``); urgency; slugline; ``version``;
item id ``altids.itemid``; published ``versioncreated``; language.

Decisions:
  - Picture, graphic, video and audio items are ``not_a_story`` (as for
    ninjs and NewsML-G2: a caption is not a story).
  - A text item whose text was not attached but which has a
    ``description_summary`` is kept as a brief: the summary (AP's lead) is
    its one body paragraph. Without either it is ``missing_body``, and the
    message says to fetch the NITF rendition.
"""

from __future__ import annotations

import json
from typing import Any, Optional, Union

from transforms.formats._common import clean, html_paragraphs, iso_millis, require_str, text_paragraphs
from transforms.formats.encoding import decode_text
from transforms.model import DeadLetterReason, ItemFailure, ParsedItem, ParseError

__all__ = ["FORMAT", "parse", "parse_item"]

FORMAT = "ap_media_api_json"
_NOT_STORIES = {"picture", "graphic", "video", "audio", "photo", "complexdata"}

ParseResult = Union[ParsedItem, ItemFailure]


def parse(data: bytes) -> list[ParseResult]:
    """Parse an AP Media API response: one result per item."""
    text, _ = decode_text(data)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ParseError(DeadLetterReason.MALFORMED, f"{FORMAT}: invalid JSON: {error}", FORMAT) from error
    if not isinstance(document, dict) or not isinstance(document.get("data"), dict):
        raise ParseError(DeadLetterReason.MALFORMED, f"{FORMAT}: no 'data' object", FORMAT)
    payload = document["data"]
    attached = document.get("nitf") if isinstance(document.get("nitf"), dict) else None
    if isinstance(payload.get("item"), dict):
        entries = [(payload["item"], attached)]
    elif isinstance(payload.get("items"), list):
        entries = [((e.get("item") if isinstance(e, dict) else e), None) for e in payload["items"]]
    else:
        raise ParseError(DeadLetterReason.MALFORMED, f"{FORMAT}: 'data' holds no 'item' or 'items'", FORMAT)
    if not entries:
        raise ParseError(DeadLetterReason.EMPTY, f"{FORMAT}: empty 'items'", FORMAT)
    if len(entries) == 1:
        return [parse_item(*entries[0])]
    results: list[ParseResult] = []
    for index, (item, story_text) in enumerate(entries):
        try:
            results.append(parse_item(item, story_text, index))
        except ParseError as error:
            results.append(ItemFailure(
                reason=error.reason, error=str(error),
                raw=json.dumps(item, ensure_ascii=False).encode("utf-8"), item_index=index, format=FORMAT))
    return results


def parse_item(item: Any, attached: Optional[dict] = None, index: int = 0) -> ParsedItem:
    """Map one API item (with its downloaded text, if any) to a ``ParsedItem``."""
    if not isinstance(item, dict):
        raise ParseError(DeadLetterReason.MALFORMED, f"{FORMAT}: item must be an object", FORMAT)
    altids = item.get("altids") if isinstance(item.get("altids"), dict) else {}
    item_id = altids.get("itemid") if isinstance(altids.get("itemid"), str) else None
    where = f"{FORMAT}: {item_id}" if item_id else FORMAT
    kind = require_str(item.get("type"), "type", FORMAT) or "text"
    if kind.lower() in _NOT_STORIES:
        raise ParseError(DeadLetterReason.NOT_A_STORY, f"{where}: {kind} item, not a story", FORMAT)

    headline = clean(require_str(item.get("headline"), "headline", FORMAT)) or clean(
        require_str(item.get("title"), "title", FORMAT))
    summary = clean(require_str(item.get("description_summary"), "description_summary", FORMAT))
    extended = clean(require_str(item.get("headline_extended"), "headline_extended", FORMAT))
    paragraphs = _attached_text(attached) or _attached_text(item)
    standfirst: Optional[str] = summary or extended or None
    if not paragraphs and summary:
        paragraphs, standfirst = (summary,), None
    # No headline but a body: passed on with headline "", enrichment derives
    # one (slugline, else first sentence) and flags it (issue 17).
    if not paragraphs:
        raise ParseError(
            DeadLetterReason.MISSING_BODY,
            f"{where}: no story text (the text is the item's NITF rendition: ingest that)", FORMAT)

    urgency = item.get("urgency")
    if urgency is not None and (isinstance(urgency, bool) or not isinstance(urgency, int)):
        raise ParseError(DeadLetterReason.MALFORMED, f"{FORMAT}: field 'urgency' must be an integer", FORMAT)
    version = item.get("version")
    return ParsedItem(
        format=FORMAT,
        headline=headline,
        body_paragraphs=paragraphs,
        standfirst=standfirst if standfirst != paragraphs[0] else None,
        bylines=_bylines(item.get("bylines")),
        dateline=clean(require_str(item.get("located"), "located", FORMAT)) or None,
        agency=_agency(item),
        urgency=urgency,
        slugline=clean(require_str(item.get("slugline"), "slugline", FORMAT)) or None,
        version=str(version) if isinstance(version, (int, str)) and not isinstance(version, bool) else None,
        item_id=item_id,
        published_at=iso_millis(item.get("versioncreated")) or iso_millis(item.get("firstcreated")),
        language=clean(require_str(item.get("language"), "language", FORMAT)) or None,
        item_index=index,
    )


def _attached_text(holder: Optional[dict]) -> tuple[str, ...]:
    if not isinstance(holder, dict):
        return ()
    html = holder.get("body_html")
    if isinstance(html, str) and html.strip():
        return html_paragraphs(html)
    text = holder.get("body_text")
    if isinstance(text, str) and text.strip():
        return text_paragraphs(text)
    return ()


def _bylines(bylines: Any) -> tuple[str, ...]:
    if not isinstance(bylines, list):
        return ()
    out = []
    for entry in bylines:
        if isinstance(entry, dict) and isinstance(entry.get("by"), str):
            title = entry.get("title") if isinstance(entry.get("title"), str) else ""
            out.append(", ".join(p for p in (clean(entry["by"]), clean(title)) if p))
    return tuple(b for b in out if b)


def _agency(item: dict) -> Optional[str]:
    sources = item.get("infosource")
    if isinstance(sources, list):
        for source in sources:
            if isinstance(source, dict) and isinstance(source.get("name"), str) and source["name"].strip():
                return clean(source["name"])
    provider = item.get("provider")
    return clean(provider) if isinstance(provider, str) and provider.strip() else None
