"""Headlines: editorial markers off the front, and a headline for stories sent without one.

Contract:

``split_markers(headline) -> HeadlineMarkers(headline, markers, update_number)``
  takes the editorial markers agencies put before a headline off it, in
  order and as written without their separator: Reuters' ``REFILE-``,
  ``CORRECTED-``, ``CORRECTED - ``, ``UPDATE 1-``, ``RPT-``, ``WRAPUP 2-``
  (chained: ``REFILE-UPDATE 2-``), the 1987 wire's ``ECONOMIC SPOTLIGHT - ``,
  and AAP's spaced-colon category labels (``RACING : ``). ``update_number``
  is N of the first ``UPDATE N`` marker. Markers are upper case as the wires
  write them: "Update: ..." or "Exclusive: ..." in sentence case are part of
  the headline. A headline that would be left empty keeps its text (then
  nothing is taken off). Company names with hyphens (``COCA-COLA``,
  ``BORG-WARNER``) are not markers: only the listed words are, except before
  the spaced colon, where any short all-caps label is.

``derive_headline(slugline, paragraphs) -> str``
  for a story sent with a body but no headline: the slugline when it has
  letters, else the first sentence of the body, cut at a word boundary to at
  most ``MAX_DERIVED_CHARS`` characters. '' when there is neither.

Pure, never raises.
"""

from __future__ import annotations

import re
from typing import NamedTuple, Optional

__all__ = ["HeadlineMarkers", "MAX_DERIVED_CHARS", "derive_headline", "split_markers"]

#: A derived headline is at most this long (a long first sentence is cut at a word).
MAX_DERIVED_CHARS = 120

# Words a wire puts before the headline to say what kind of send this is.
_MARKER_WORDS = (
    r"REFILED?|CORRECTED|CORRECTION|RPT|REPEAT|UPDATE(?:\s?\d{1,2})?|WRAPUP(?:\s?\d{1,2})?"
    r"|RECAST|URGENT|FLASH|BULLETIN|ADVISORY|EXCLUSIVE|FACTBOX|ANALYSIS|INSIGHT|BREAKINGVIEWS"
    r"|ECONOMIC SPOTLIGHT|TAKE A LOOK|RACING"
)
# A listed word, then a dash (attached or spaced) or a colon.
_LISTED = re.compile(rf"^\s*(?P<marker>(?:{_MARKER_WORDS}))(?:\s*-\s*|\s*:\s+)(?=\S)")
# Any short all-caps label before a *spaced* colon (AAP: 'RACING : ', 'TROTS : ').
_LABEL = re.compile(r"^\s*(?P<marker>[A-Z][A-Z&'/]*(?: [A-Z][A-Z&'/]*){0,2}) : (?=\S)")
_UPDATE = re.compile(r"^UPDATE\s?(\d{1,2})$")
_SENTENCE_END = re.compile(r"(?<=[^\s.A-Z][.!?])[\"”’']?(?=\s+[\"“‘'A-ZÀ-ÖØ-Þ0-9]|\s*$)")
_SLUG_LETTERS = re.compile(r"[^\W\d_]{2}")


class HeadlineMarkers(NamedTuple):
    headline: str
    markers: tuple[str, ...]
    update_number: Optional[int]


def split_markers(headline: str) -> HeadlineMarkers:
    """The headline without its leading editorial markers, the markers, and N of 'UPDATE N'."""
    if not headline:
        return HeadlineMarkers(headline or "", (), None)
    markers: list[str] = []
    rest = headline
    while True:
        match = _LISTED.match(rest) or _LABEL.match(rest)
        if match is None or not rest[match.end():].strip():
            break
        markers.append(" ".join(match.group("marker").split()))
        rest = rest[match.end():]
    if not markers:
        return HeadlineMarkers(headline, (), None)
    update_number = None
    for marker in markers:
        number = _UPDATE.match(marker)
        if number:
            update_number = int(number.group(1))
            break
    return HeadlineMarkers(rest.strip(), tuple(markers), update_number)


def derive_headline(slugline: Optional[str], paragraphs: tuple[str, ...]) -> str:
    """A headline for a story sent without one (see module docstring)."""
    if slugline and _SLUG_LETTERS.search(slugline):
        return _bounded(" ".join(slugline.split()))
    for paragraph in paragraphs:
        text = " ".join(paragraph.split())
        if text:
            end = _SENTENCE_END.search(text)
            return _bounded(text[: end.end()] if end else text)
    return ""


def _bounded(text: str) -> str:
    if len(text) <= MAX_DERIVED_CHARS:
        return text
    cut = text[:MAX_DERIVED_CHARS + 1].rsplit(" ", 1)[0]
    return (cut if len(cut) >= MAX_DERIVED_CHARS // 2 else text[:MAX_DERIVED_CHARS]).rstrip(" ,;:-")
