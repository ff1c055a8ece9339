"""Bylines and credit lines -> contributors and agencies.

Contract: ``parse_byline(text)`` never raises. It returns a ``BylineResult``:
contributors in the order written (name in natural case; role lower-case as
written before "by"; organization canonical when the registry knows it;
location from "in X" / "reporting from X"), the canonical agencies credited
(first mention first, no repeats, generic credits such as "news agencies"
left out), and ``understood`` -- False when the rules found nothing they
could read, which the pipeline counts.

House styles handled: ``By JOHN SMITH, Associated Press``; ``By A and B``;
``By A, B and C | AP``; ``By A (Reuters)``; ``Reporting by A in Moscow;
Additional reporting by B; Writing by C; Editing by D``; ``Al Jazeera's
Bernard Smith, reporting from Moscow``; ``By A in Geneva``; ``Source: Al
Jazeera and news agencies``; ``By AFP`` / ``By Reuters Staff`` (an agency, no
person); titles such as ``AP Business Writer`` are dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from transforms.model import Contributor
from transforms.normalize.agencies import AgencyRegistry, default_registry
from transforms.normalize.names import is_anonymous, looks_like_person, natural_case
from transforms.text import normalize_text

__all__ = ["BylineResult", "parse_byline", "parse_attribution", "has_attribution_hint", "ATTRIBUTION_HINTS"]


class _Unreadable(Exception):
    """A part of a byline no rule can read (initials, codes): the whole byline is unparsed."""


@dataclass(frozen=True)
class BylineResult:
    contributors: tuple[Contributor, ...] = ()
    agencies: tuple[str, ...] = ()
    understood: bool = True

    def to_json(self) -> dict:
        return {
            "contributors": [c.to_avro() for c in self.contributors],
            "agencies": list(self.agencies),
        }


_ARTICLES = frozenset("The Le La Les El Los Las Der Die Das Il Lo Het".split())
_BY_PREFIX = re.compile(r"^(?:by|von|par|por|door|av|af)\b[:\s]*", re.IGNORECASE)
_SOURCE = re.compile(r"^(?:sources?|quelle|quellen|fuente|fonte|source\(s\))\s*:\s*(.*)$", re.IGNORECASE)
_ROLE_SEGMENT = re.compile(r"^(?P<role>[A-Za-z][A-Za-z '-]{0,40}?)\s+by\s*:?\s+(?P<names>.+)$", re.IGNORECASE)
_PAREN_TAIL = re.compile(r"\s*\(([^()]{1,40})\)\s*$")
_NAME_SPLIT = re.compile(r"\s*(?:,\s*(?i:and)\s+|,\s*|\s+(?i:and|und|et)\s+|\s+&\s+|\s+y\s+)\s*")
_LOCATION = re.compile(r"^(?P<name>.+?)\s+(?:in|from|reporting from|at)\s+(?P<loc>[A-ZÀ-Þ][\w.'’ -]*)$")
_TITLE_HEADS = frozenset(
    "writer writers correspondent correspondents reporter reporters editor editors staff "
    "staffer chief columnist contributor producer photographer analyst journalist team "
    "desk bureau service newsroom redaktion".split()
)
_INSTITUTION = re.compile(
    r"(?i)\b(?:university|college|institute|school|foundation|council|ministry|agency|"
    r"association|society|centre|center|times|post|news|press|media|magazine)\b"
)
_BAD_NAME = re.compile(r"[0-9@/\\#=<>{}\[\]]")
_POSSESSIVE = re.compile(
    r"(?P<org>(?:[A-Z][\w-]*\s){0,3}[A-Z][\w-]*)['’]s\s+"
    r"(?:(?:[a-z]+\s+){0,3}(?:correspondent|editor|reporter|producer)\s+)?"
    r"(?P<name>[A-ZÀ-Þ][\w'’.-]+(?:\s+(?:[A-ZÀ-Þ][\w'’.-]+|van|von|de|der|al|bin|el|da)){1,3})"
    r",\s+(?:who\s+(?:is|was)\s+)?(?:reporting|speaking|reports|reported)\s+from\s+"
    r"(?P<loc>[A-ZÀ-Þ][\w'’.-]*(?:\s+[A-ZÀ-Þ][\w'’.-]*){0,3}(?:,\s+[A-ZÀ-Þ][\w'’.-]*)?)"
)
# 'Reporting from Kyiv, Al Jazeera’s Zein Basravi said ...'
_FRONTED = re.compile(
    r"(?:Reporting|Speaking)\s+from\s+(?P<loc>[A-ZÀ-Þ][\w'’.-]*(?:\s+[A-ZÀ-Þ][\w'’.-]*){0,3}),\s+"
    r"(?P<org>(?:[A-Z][\w-]*\s){0,3}[A-Z][\w-]*)['’]s\s+"
    r"(?:(?:[a-z]+\s+){0,3}(?:correspondent|editor|reporter|producer)\s+)?"
    r"(?P<name>[A-ZÀ-Þ][\w'’.-]+(?:\s+(?:[A-ZÀ-Þ][\w'’.-]+|van|von|de|der|al|bin|el|da)){1,3})"
)
#: Cheap substrings that must be present before the attribution regex runs.
ATTRIBUTION_HINTS = ("reporting from", "speaking from", "reports from", "reported from")
_HINT = re.compile("|".join(ATTRIBUTION_HINTS), re.IGNORECASE)
_HINT_HEADS = tuple(hint[: -len(" from")] for hint in ATTRIBUTION_HINTS)
# The only characters the case-insensitive regex matches to a letter of a
# hint that ``str.lower`` does not turn into it: 'İ' and 'ı' (i) and 'ſ' (s).
_LOWER_MISSES = ("\u0130", "\u0131", "\u017f")


def has_attribution_hint(text: str) -> bool:
    """``" from " in text and _HINT.search(text)``, at substring speed: may ``text``
    hold an inline attribution."""
    if " from " not in text:  # every attribution the regexes read has it
        return False
    if text.isascii() or not any(odd in text for odd in _LOWER_MISSES):
        lowered = text.lower()
        at = lowered.find(" from")
        while at != -1:  # one scan for ' from', a look behind each
            if lowered.endswith(_HINT_HEADS, 0, at):
                return True
            at = lowered.find(" from", at + 5)
        return False
    return _HINT.search(text) is not None


def parse_byline(text: Optional[str], registry: Optional[AgencyRegistry] = None) -> BylineResult:
    """Contributors and agencies from one byline or credit line; never raises."""
    # Bylines and credit lines repeat heavily on the wire: each is read once.
    return (registry or default_registry()).memo(_parse_or_unreadable)(text or "")


def _parse_or_unreadable(text: str, registry: AgencyRegistry) -> BylineResult:
    try:
        return _parse(normalize_text(text), registry)
    except _Unreadable:
        return BylineResult((), (), False)
    except Exception:  # noqa: BLE001 - a rule's bug must not stop a story: count it instead
        return BylineResult((), (), False)


def parse_attribution(paragraph: str, registry: Optional[AgencyRegistry] = None) -> list[Contributor]:
    """Inline attributions in body text: "Al Jazeera’s Bernard Smith, reporting from Moscow"."""
    if not has_attribution_hint(paragraph):
        return []
    registry = registry or default_registry()
    found = []
    matches = list(_POSSESSIVE.finditer(paragraph)) + list(_FRONTED.finditer(paragraph))
    for match in sorted(matches, key=lambda m: m.start()):
        words = match.group("org").split()
        # 'Later Al Jazeera’s ...': the organisation is the longest known tail.
        org = next(
            (o for o in (_organization(" ".join(words[i:]), registry) for i in range(len(words))) if o),
            None,
        )
        if org is None:
            continue
        found.append(
            Contributor(
                name=natural_case(match.group("name")),
                organization=org,
                location=match.group("loc"),
            )
        )
    return found


def _parse(text: str, registry: AgencyRegistry) -> BylineResult:
    text = text.strip(" .;,|")
    if not text:
        return BylineResult((), (), False)
    source = _SOURCE.match(text)
    if source:
        return _parse_sources(source.group(1), registry)
    attributions = parse_attribution(text, registry)
    if attributions:
        return _result(attributions, registry)
    segments = [s.strip() for s in text.split(";") if s.strip()]
    if any(_ROLE_SEGMENT.match(s) and not _BY_PREFIX.match(s) for s in segments):
        return _parse_roles(segments, registry)
    return _parse_plain(text, registry)


def _parse_sources(text: str, registry: AgencyRegistry) -> BylineResult:
    contributors, agencies = [], []
    generic = False
    for part in _NAME_SPLIT.split(text.strip(" .")):
        part = part.strip(" .")
        if not part:
            continue
        if registry.is_generic(part):
            generic = True
            continue
        canonical = registry.canonical_agency(part)
        if canonical:
            agencies.append(canonical)
        else:
            contributors.append(Contributor(organization=part))
    return BylineResult(tuple(contributors), _unique(agencies), bool(contributors or agencies or generic))


def _parse_roles(segments: list[str], registry: AgencyRegistry) -> BylineResult:
    contributors: list[Contributor] = []
    agencies: list[str] = []
    understood = False
    for segment in segments:
        match = _ROLE_SEGMENT.match(segment)
        if not match:
            sub = _parse_plain(segment, registry)
            contributors.extend(sub.contributors)
            agencies.extend(sub.agencies)
            understood |= sub.understood
            continue
        role = " ".join(match.group("role").lower().split())
        names, org = _split_names(match.group("names"), registry)
        if org:
            agencies.append(org)
            understood = True
        for name, location in names:
            contributors.append(Contributor(name=name, role=role, organization=org, location=location))
            understood = True
    return BylineResult(tuple(contributors), _unique(agencies, registry), understood)


def _parse_plain(text: str, registry: AgencyRegistry) -> BylineResult:
    text = _BY_PREFIX.sub("", text, count=1).strip(" .,;:|")
    if not text:
        return BylineResult((), (), False)
    names, org = _split_names(text, registry)
    if not names:
        if org:
            return BylineResult((), _unique([org], registry), True)
        return BylineResult((), (), False)
    contributors = [Contributor(name=n, organization=org, location=loc) for n, loc in names]
    if len(names) == 1 and org is None and text.split()[0] in _ARTICLES:
        return BylineResult((Contributor(organization=text),), (), True)  # 'Le Monde'
    if len(contributors) == 1 and " " not in contributors[0].name and org is None and _single_org(text):
        # 'By DopingWatch': one word that is not written like a name is an outlet.
        return BylineResult((Contributor(organization=text),), (), True)
    return _result(contributors, registry, extra=[org] if org and registry.canonical_agency(org) else [])


def _single_org(text: str) -> bool:
    return bool(re.search(r"[a-z][A-Z]", text)) or text.isupper() and len(text) <= 5


def _split_names(text: str, registry: AgencyRegistry) -> tuple[list[tuple[str, Optional[str]]], Optional[str]]:
    """Names (with locations) and the organization they write for."""
    org: Optional[str] = None
    parts = [p.strip() for p in text.split("|")]
    text = parts[0]
    for extra in parts[1:]:
        org = org or _organization(extra, registry)
    paren = _PAREN_TAIL.search(text)
    if paren and _organization(paren.group(1), registry):
        org = org or _organization(paren.group(1), registry)
        text = text[: paren.start()]
    pieces = [p for p in _NAME_SPLIT.split(text) if p and p.strip(" .")]
    names: list[tuple[str, Optional[str]]] = []
    after_agency = False
    for index, piece in enumerate(pieces):
        piece = piece.strip(" .")
        found = _organization(piece, registry)
        if found or registry.is_generic(piece):
            org = org or found
            after_agency = bool(found)
            continue
        if after_agency and piece.isupper() and " " not in piece:
            continue  # 'AFP, MANILA': the place the agency filed from
        if index > 0 and names and _is_institution(piece):
            org = org or piece  # 'Aaron J. Staples, Michigan State University'
            continue
        piece, tail_org = _peel_trailing_agency(piece, registry)
        if tail_org:
            org = org or tail_org
        if _is_title(piece):
            continue
        if is_anonymous(piece):
            continue
        if _BAD_NAME.search(piece):
            raise _Unreadable(piece)
        location = None
        loc = _LOCATION.match(piece)
        if loc:
            piece, location = loc.group("name"), loc.group("loc")
        names.append((natural_case(piece), location))
    if names and names[-1][1] and all(loc is None for _, loc in names[:-1]) and len(names) > 1:
        # 'Reporting by A and B in Moscow': both were in Moscow.
        location = names[-1][1]
        names = [(n, location) for n, _ in names]
    return names, org


def _peel_trailing_agency(piece: str, registry: AgencyRegistry) -> tuple[str, Optional[str]]:
    """'Brad Schade Reuters' -> ('Brad Schade', 'Reuters'): a comma lost on the wire."""
    words = piece.split()
    if len(words) >= 3:
        found = registry.canonical_agency(words[-1])
        if found and words[-1][:1].isupper() and len(words[-1]) > 3:
            return " ".join(words[:-1]), found
        if words[-1].casefold() in _TITLE_HEADS:
            # 'MATTHEW LEE AP Diplomatic Writer': the agency's title glued to the name.
            for cut in range(2, len(words) - 1):
                found = _organization(" ".join(words[cut:]), registry)
                if found:
                    return " ".join(words[:cut]), found
    return piece, None


def _organization(text: str, registry: AgencyRegistry) -> Optional[str]:
    """The agency a segment names, alone or with a title ('AP Business Writer')."""
    text = text.strip(" .")
    found = registry.canonical_agency(text)
    if found:
        return found
    words = text.split()
    if len(words) >= 2 and words[-1].casefold() in _TITLE_HEADS:
        for cut in range(len(words) - 1, 0, -1):
            found = registry.canonical_agency(" ".join(words[:cut]))
            if found:
                return found
    return None


def _is_institution(piece: str) -> bool:
    return not looks_like_person(piece) and bool(_INSTITUTION.search(piece))


def _is_title(piece: str) -> bool:
    words = piece.split()
    return bool(words) and words[-1].casefold().strip(".") in _TITLE_HEADS and (
        len(words) <= 4 and words[0][:1].isupper()
    )


def _result(contributors: list[Contributor], registry: AgencyRegistry, extra=()) -> BylineResult:
    agencies = [a for a in extra if a]
    for contributor in contributors:
        if contributor.organization and registry.canonical_agency(contributor.organization):
            agencies.append(registry.canonical_agency(contributor.organization))
    return BylineResult(tuple(contributors), _unique(agencies, registry), True)


def _unique(names, registry: Optional[AgencyRegistry] = None) -> tuple[str, ...]:  # noqa: ARG001
    seen: dict[str, None] = {}
    for name in names:
        if name and name not in seen:
            seen[name] = None
    return tuple(seen)
