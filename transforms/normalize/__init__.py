"""Normalize bylines, datelines, photo credits and agency names.

Contract: pure functions, no Beam, none of them raises on input its rules do
not understand (fields stay empty, the raw credit is kept, and
``NormalizedItem.unparsed`` counts it).

- ``normalize_item(ParsedItem) -> NormalizedItem``: the whole story.
- ``parse_byline(text) -> BylineResult(contributors, agencies, understood)``.
- ``parse_dateline(text) -> (Dateline | None, rest of the paragraph)``.
- ``parse_caption(text, credit=None) -> Caption``.
- ``split_markers(headline)``, ``derive_headline(slugline, paragraphs)``:
  editorial markers off a headline, and a headline for a story sent without one.
- ``canonical_agency(name) -> str | None``, backed by the registry in
  ``agencies.tsv``; extend it with ``$WIRE_INGEST_AGENCIES`` (paths separated
  by ``os.pathsep``) or ``use_registry(extra_paths=[...])``.

Credits, bylines, dateline fields and names repeat all day on the wire: their
parses are remembered in bounded memos (``transforms.normalize.memo``), and a
story costs some tens of microseconds (``bench/normalize_bench.py``).
"""

from transforms.normalize.agencies import (
    ENV_VAR,
    AgencyRegistry,
    canonical_agency,
    default_registry,
    is_generic,
    load_registry,
    use_registry,
)
from transforms.normalize.byline import BylineResult, parse_attribution, parse_byline
from transforms.normalize.caption import parse_caption, parse_caption_ex, split_credit
from transforms.normalize.dateline import parse_dateline, parse_dateline_field, parse_dateline_text
from transforms.normalize.headline import HeadlineMarkers, derive_headline, split_markers
from transforms.normalize.item import NormalizedItem, normalize_item
from transforms.normalize.names import natural_case, place_case

__all__ = [
    "ENV_VAR",
    "AgencyRegistry",
    "BylineResult",
    "HeadlineMarkers",
    "NormalizedItem",
    "canonical_agency",
    "default_registry",
    "derive_headline",
    "is_generic",
    "load_registry",
    "natural_case",
    "normalize_item",
    "parse_attribution",
    "parse_byline",
    "parse_caption",
    "parse_caption_ex",
    "parse_dateline",
    "parse_dateline_field",
    "parse_dateline_text",
    "place_case",
    "split_credit",
    "split_markers",
    "use_registry",
]
