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
"""

from __future__ import annotations

import unicodedata
from typing import NamedTuple, Optional

from transforms.model import Caption, Contributor, Dateline, ParsedItem
from transforms.normalize.agencies import AgencyRegistry, default_registry
from transforms.normalize.byline import has_attribution_hint, parse_attribution, parse_byline
from transforms.normalize.caption import parse_caption_ex
from transforms.normalize.dateline import parse_dateline, parse_dateline_field
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


def normalize_item(item: ParsedItem, registry: Optional[AgencyRegistry] = None) -> NormalizedItem:
    """Normalize text and parse every credit of one story (see module docstring)."""
    # Runs for every story: no list, closure or tuple is made that the story
    # does not need (each one also brings the garbage collector closer).
    registry = registry or default_registry()
    agencies: dict[str, None] = {}
    _credit(agencies, registry, item.agency)
    unparsed = 0

    paragraphs, body = _clean_paragraphs(item.body_paragraphs)
    dateline: Optional[Dateline] = None
    if item.dateline:
        dateline = registry.memo(_field_dateline)(item.dateline)
    elif paragraphs:
        dateline, rest = parse_dateline(paragraphs[0], registry)
        if dateline is not None:
            rest = rest.strip()
            paragraphs = ((rest,) if rest else ()) + paragraphs[1:]

    contributors: list[Contributor] = []
    for byline in item.bylines:
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

    return NormalizedItem(
        normalize_text(item.headline),
        (normalize_text(item.standfirst) or None) if item.standfirst else None,
        paragraphs,
        dateline,
        tuple(dict.fromkeys(contributors)) if contributors else (),
        tuple(agencies),
        captions,
        credit_line,
        unparsed,
    )


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
