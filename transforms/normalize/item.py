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

from dataclasses import dataclass
from typing import Optional

from transforms.model import Caption, Contributor, Dateline, ParsedItem
from transforms.normalize.agencies import AgencyRegistry, default_registry
from transforms.normalize.byline import parse_attribution, parse_byline
from transforms.normalize.caption import parse_caption_ex
from transforms.normalize.dateline import parse_dateline, parse_dateline_field
from transforms.text import normalize_text

__all__ = ["NormalizedItem", "normalize_item"]


@dataclass(frozen=True)
class NormalizedItem:
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
    registry = registry or default_registry()
    agencies: dict[str, None] = {}

    def credit(name: Optional[str]) -> None:
        canonical = registry.canonical_agency(name) if name else None
        if canonical:
            agencies[canonical] = None

    credit(item.agency)
    unparsed = 0

    paragraphs = [p for p in (normalize_text(p) for p in item.body_paragraphs) if p]
    dateline: Optional[Dateline] = None
    if item.dateline:
        dateline = parse_dateline_field(normalize_text(item.dateline), registry)
    elif paragraphs:
        dateline, rest = parse_dateline(paragraphs[0], registry)
        if dateline is not None:
            rest = rest.strip()
            if rest:
                paragraphs[0] = rest
            else:
                paragraphs.pop(0)

    contributors: list[Contributor] = []
    for byline in item.bylines:
        result = parse_byline(byline, registry)
        if not result.understood:
            unparsed += 1
        contributors.extend(result.contributors)
        for name in result.agencies:
            agencies[name] = None
    if dateline is not None:
        credit(dateline.agency)

    for paragraph in paragraphs:
        contributors.extend(parse_attribution(paragraph, registry))
    for contributor in contributors:
        credit(contributor.organization)

    captions = []
    for caption_text in item.captions:
        caption, understood = parse_caption_ex(caption_text.text, caption_text.credit, registry)
        unparsed += not understood
        captions.append(caption)
        for name in caption.agencies:
            credit(name)
        credit(caption.distributor)

    credit_line = normalize_text(item.credit_line or "") or None
    if credit_line:
        result = parse_byline(credit_line, registry)
        unparsed += not result.understood
        for name in result.agencies:
            agencies[name] = None

    return NormalizedItem(
        headline=normalize_text(item.headline),
        standfirst=normalize_text(item.standfirst or "") or None,
        body_paragraphs=tuple(paragraphs),
        dateline=dateline,
        bylines=tuple(dict.fromkeys(contributors)),
        agencies=tuple(agencies),
        captions=tuple(captions),
        credit_line=credit_line,
        unparsed=unparsed,
    )
