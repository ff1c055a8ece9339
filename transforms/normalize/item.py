"""One parsed story -> its normalized text, dateline, bylines, captions and agencies.

Contract: ``normalize_item(item)`` is pure and never raises on copy the rules
do not understand. Every text field goes through ``transforms.text.
normalize_text``. The dateline comes out of the start of the first body
paragraph (or from ``item.dateline`` when the format carries it apart; then
the body is left alone). Bylines, captions and the credit line are parsed;
inline attributions in the body ("Al Jazeera’s Bernard Smith, reporting from
Moscow, said") add contributors without touching the body. ``agencies`` lists
every canonical agency credited anywhere, first mention first, no repeats;
generic credits ("news agencies") are not agencies. ``unparsed`` counts the
byline, caption-credit and credit-line strings the rules did not understand,
for the pipeline's counter.

Headline: editorial markers ("REFILE-", "UPDATE 2-", "RACING : ") come off
its front into ``editorial_markers`` (``transforms.normalize.headline``), N of
"UPDATE N" into ``update_number``. A story sent with a body and no headline
gets one derived from its slugline or first sentence (``headline_derived``);
with neither, the headline stays '' (the caller dead-letters it).

Advisory lines: Reuters puts "(Adds quotes, paragraphs 5-6)" above the
byline. A "By ..." paragraph right after such leading advisories is taken
out of the body as a byline (the advisory stays), and the dateline is looked
for in the paragraph after them.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from typing import NamedTuple, Optional

from transforms.model import Caption, Contributor, Dateline, ParsedItem
from transforms.normalize.agencies import AgencyRegistry, default_registry
from transforms.normalize.byline import has_attribution_hint, parse_attribution, parse_byline
from transforms.normalize.caption import parse_caption_ex
from transforms.normalize.dateline import parse_dateline, parse_dateline_field
from transforms.normalize.headline import derive_headline, split_markers
from transforms.text import normalize_text

__all__ = ["NormalizedItem", "normalize_item"]

_PRINTABLE_ASCII = bytes(range(0x20, 0x7F))


class NormalizedItem(NamedTuple):
    """One story's normalized fields (a NamedTuple: made per story, four times cheaper than a frozen dataclass)."""

    headline: str
    standfirst: Optional[str]
    body_paragraphs: tuple[str, ...]
    dateline: Optional[Dateline]
    bylines: tuple[Contributor, ...]
    agencies: tuple[str, ...]
    captions: tuple[Caption, ...]
    credit_line: Optional[str]
    unparsed: int
    headline_derived: bool = False
    editorial_markers: tuple[str, ...] = ()
    update_number: Optional[int] = None


def normalize_item(item: ParsedItem, registry: Optional[AgencyRegistry] = None) -> NormalizedItem:
    """Normalize text and parse every credit of one story (see module docstring)."""
    # Runs for every story: no list, closure or tuple is made that the story
    # does not need (each one also brings the garbage collector closer).
    registry = registry or default_registry()
    agencies: dict[str, None] = {}
    _credit(agencies, registry, item.agency)
    unparsed = 0

    paragraphs, body = _clean_paragraphs(item.body_paragraphs)
    advisories = 0
    bylines = item.bylines
    if paragraphs and paragraphs[0][:1] == "(" and _ADVISORY.match(paragraphs[0]):
        paragraphs, advisories, found = _advisory_byline(paragraphs)
        if found:
            bylines = bylines + (found,)
            body = None
    dateline: Optional[Dateline] = None
    if item.dateline:
        dateline = registry.memo(_field_dateline)(item.dateline)
    elif len(paragraphs) > advisories:
        dateline, rest = parse_dateline(paragraphs[advisories], registry)
        if dateline is not None:
            rest = rest.strip()
            paragraphs = paragraphs[:advisories] + ((rest,) if rest else ()) + paragraphs[advisories + 1:]

    contributors: list[Contributor] = []
    for byline in bylines:
        result = parse_byline(byline, registry)
        if not result.understood:
            unparsed += 1
        contributors.extend(result.contributors)
        for name in result.agencies:
            agencies[name] = None
    if dateline is not None:
        _credit(agencies, registry, dateline.agency)

    # The body as it came covers every paragraph left (the dateline only cuts
    # the first one short), so a hint missing from it is missing from them.
    if has_attribution_hint(body if body is not None else "\n".join(paragraphs)):
        for paragraph in paragraphs:
            contributors.extend(parse_attribution(paragraph, registry))
    for contributor in contributors:
        _credit(agencies, registry, contributor.organization)

    captions: tuple[Caption, ...] = ()
    if item.captions:
        parsed = []
        for caption_text in item.captions:
            caption, understood = parse_caption_ex(caption_text.text, caption_text.credit, registry)
            unparsed += not understood
            if caption_text.alt_text:
                caption = dataclasses.replace(caption, alt_text=normalize_text(caption_text.alt_text) or None)
            parsed.append(caption)
            for name in caption.agencies:
                _credit(agencies, registry, name)
            _credit(agencies, registry, caption.distributor)
        captions = tuple(parsed)

    credit_line = (normalize_text(item.credit_line) or None) if item.credit_line else None
    if credit_line:
        result = parse_byline(credit_line, registry)
        unparsed += not result.understood
        for name in result.agencies:
            agencies[name] = None

    headline = normalize_text(item.headline) if item.headline else ""
    derived = False
    markers: tuple[str, ...] = ()
    update_number = None
    if headline:
        if headline[:1].isupper():  # every marker starts with a capital
            headline, markers, update_number = split_markers(headline)
    elif paragraphs:
        slugline = normalize_text(item.slugline) if item.slugline else None
        headline = derive_headline(slugline, paragraphs)
        derived = bool(headline)

    return NormalizedItem(
        headline,
        (normalize_text(item.standfirst) or None) if item.standfirst else None,
        paragraphs,
        dateline,
        tuple(dict.fromkeys(contributors)) if contributors else (),
        tuple(agencies),
        captions,
        credit_line,
        unparsed,
        derived,
        markers,
        update_number,
    )


# "(Adds quotes, paragraphs 5-6)", "(Updates with closing prices)", "(Recasts
# lead)": Reuters' advisories to editors, above the byline.
_ADVISORY = re.compile(
    r"^\((?:Adds|Updates|Recasts|Corrects|Changes|Repeats|Refiles|Rewrites|Writes through|Removes"
    r"|Inserts|Fixes|Clarifies|Replaces|Moves|Restores|Deletes|Expands|Amends|Edits|Combines)\b"
    r"[^()]*(?:\([^()]*\)[^()]*)*\)\s*"
)
_BY = re.compile(r"^By\s+\S", re.IGNORECASE)
#: A byline paragraph is short; a longer "By ..." paragraph is a sentence.
_MAX_BYLINE_CHARS = 120


def _advisory_byline(paragraphs: tuple[str, ...]) -> tuple[tuple[str, ...], int, Optional[str]]:
    """Leading advisory paragraphs kept, the byline after them taken out.

    Returns the paragraphs left, how many advisories lead them, and the
    byline found (None if none). An advisory and its byline in one paragraph
    ("(Adds details) By Jane Smith") are split.
    """
    kept: list[str] = []
    index = 0
    byline = None
    while index < len(paragraphs):
        match = _ADVISORY.match(paragraphs[index])
        if match is None:
            break
        tail = paragraphs[index][match.end():].strip()
        if tail and _BY.match(tail) and len(tail) <= _MAX_BYLINE_CHARS:
            kept.append(paragraphs[index][: match.end()].strip())
            byline = tail
            index += 1
            break
        if tail:  # the advisory runs into the lead: leave the paragraph alone
            break
        kept.append(paragraphs[index])
        index += 1
    if byline is None and index < len(paragraphs) and kept:
        candidate = paragraphs[index]
        if _BY.match(candidate) and len(candidate) <= _MAX_BYLINE_CHARS:
            byline = candidate
            index += 1
    return tuple(kept) + paragraphs[index:], len(kept), byline


def _credit(agencies: dict[str, None], registry: AgencyRegistry, name: Optional[str]) -> None:
    """Add the canonical agency ``name`` stands for, if any, to ``agencies``."""
    canonical = registry.canonical_agency(name) if name else None
    if canonical:
        agencies[canonical] = None


def _field_dateline(text: str, registry: AgencyRegistry) -> Optional[Dateline]:
    """The dateline a format gives apart, as written: memoized on the raw field."""
    return parse_dateline_field(normalize_text(text), registry)


def _clean_paragraphs(paragraphs: tuple[str, ...]) -> tuple[tuple[str, ...], Optional[str]]:
    """``normalize_text`` on every paragraph, empty ones dropped; and the
    paragraphs joined with spaces when that changed none of them, else None.

    Most wire copy is printable and already NFC (all ASCII is), so
    ``normalize_text`` only folds spaces, and most parsers have folded them
    already. A few checks over the whole body find out, in C, instead of the
    full treatment paragraph by paragraph. Joined with a space, the body is
    NFC exactly when every paragraph is: nothing composes with a space.
    """
    body = " ".join(paragraphs)
    if body.isascii():  # isprintable() by bytes, three times faster
        only_spaces_to_fold = not body.encode("ascii").translate(None, _PRINTABLE_ASCII)
    else:
        only_spaces_to_fold = body.isprintable() and unicodedata.is_normalized("NFC", body)
    if not only_spaces_to_fold:
        return tuple([p for p in map(normalize_text, paragraphs) if p]), None
    # Printable: the only whitespace is the space. A paragraph that is empty
    # or has spaces to fold leaves two in a row or one at either end.
    if body and "  " not in body and body[0] != " " and body[-1] != " ":
        return tuple(paragraphs), body  # the same tuple, not a copy
    return tuple([p for p in (" ".join(p.split()) for p in paragraphs) if p]), None
