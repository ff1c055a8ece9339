"""Datelines: where and when a story was filed, and by which agency.

Contract: ``parse_dateline(text)`` returns ``(Dateline | None, rest)``. When
``text`` starts with a dateline -- ``MOSCOW (Reuters) -``, ``KYIV, Ukraine
(AP) —``, ``WASHINGTON, March 3 -``, ``RIO DE JANEIRO, Jan 5 (Reuters) -``,
dpa's ``Munich (dpa) -``, AP's teletype ``CHATHAM, Mass. (AP) _`` -- the
dateline holds the place in natural case (region kept: ``Kyiv, Ukraine``),
split into ``city`` (``Kyiv``) and ``region`` (``Ukraine``: what follows the
city, state, region or country as written, natural case), the date as
written, the canonical agency and ``raw``, the dateline as written up to
its dash; ``rest`` is the paragraph after the dash. Otherwise the result is
``(None, text)`` unchanged: a lead sentence without a dateline gives none.
Never raises.

``parse_dateline_field`` is for formats that carry the dateline apart
(Reuters-21578 ``<DATELINE>``, NITF ``<dateline>``), where the dash is
optional.
"""

from __future__ import annotations

import re
from typing import Optional

from transforms.model import Dateline
from transforms.normalize.agencies import AgencyRegistry, default_registry
from transforms.normalize.memo import memoize
from transforms.normalize.names import place_case

__all__ = ["parse_dateline", "parse_dateline_field", "parse_dateline_text"]

# English months, and the French abbreviations Swiss and French copy uses
# ('10 Juil 2024', '3 févr.'): 'Mar', 'Sep', 'Oct', 'Nov' cover 'mars',
# 'sept.', 'oct.', 'nov.'.
_MONTH = (
    r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
    r"|(?i:janv|f[ée]vr?|avr|mai|juin|juil|ao[uû]t|d[ée]c))[a-zéû]*\.?"
)
_DAY = r"(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day"
_DATE = (
    rf"(?:{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?"
    rf"|\d{{1,2}}(?:st|nd|rd|th|er)?\.?\s+{_MONTH}(?:\s+\d{{4}})?"
    rf"|\d{{1,2}}\.\s?\d{{1,2}}\.(?:\s?\d{{2,4}})?"
    rf"|\d{{4}}-\d{{2}}-\d{{2}}"
    rf"|{_DAY}(?:,?\s+{_MONTH}\s+\d{{1,2}})?)"
)
_DATE_FULL = re.compile(rf"^{_DATE}$", re.IGNORECASE)
_UPPER = "A-ZÀ-ÖØ-ÞĀ-Ž"
# AP's teletype copy writes the dash as a spaced underscore: "CHATHAM, Mass. (AP) _ A ...".
_DASH = r"(?:\s*[—–]+\s*|\s+-{1,2}\s*|\s*-{2}\s*|\s*-\s+(?=[\"“‘'A-Z0-9ÀÖØ-Þ])|\s+_\s+)"
# ALL-CAPS place, optional comma segments (region, date), optional (Agency), dash.
_CAPS = re.compile(
    rf"^(?P<place>[{_UPPER}](?:[{_UPPER}.'’\-/ ]*[{_UPPER}.])?)"
    rf"(?P<segs>(?:\s*,\s*[^,()—–]+?){{0,3}})"
    rf"\s*(?:\((?P<agency>[^()]{{1,40}})\))?"
    rf"(?P<dash>{_DASH})"
)
# Title-case place (dpa, Malay Mail): needs an agency, a date or 'A/B' to count.
_TITLE = re.compile(
    rf"^(?P<place>[{_UPPER}][\w'’.-]+(?:[ /][{_UPPER}][\w'’.-]+){{0,3}})"
    rf"(?:\s*,\s*(?P<date>{_DATE}))?"
    rf"\s*(?:\((?P<agency>[^()]{{1,30}})\))?"
    rf"(?P<dash>{_DASH}|\s*:\s+)",
)
_FIELD_END = re.compile(r"\s+-{1,2}(?:\s|$)|\s*[—–]|-{2}|\s*-$")
_MONTH_AHEAD = re.compile(rf"\s*{_MONTH}\s*\d", re.IGNORECASE)
_FIELD_AGENCY = re.compile(r"\s*\(([^()]{1,40})\)")
# A time may follow the date, with a zone: '2.4.2019 16:02:09 Cest' (Swiss copy).
_TIME = r"(?:,?\s+\d{1,2}:\d{2}(?::\d{2})?(?:\s*[A-Za-z]{1,5})?)?"
_FIELD_DATE = re.compile(
    rf"^(?:{_DATE}|{_MONTH}\s*\d{{1,2}}\w?|\d{{1,2}}/\d{{1,2}}/\d{{2,4}}){_TIME}$", re.IGNORECASE
)
# A sentence starts: a capital followed by a lower-case letter, a quote, or a digit run with a word.
_SENTENCE = re.compile(r"\s*(?:[\"“‘'«]|[A-ZÀ-ÖØ-Þ][a-zà-ÿ’']|[A-Z]\s|\d+\s+[a-z])")
_JUNK = re.compile(r"^(?:[\s*>•·#]+|[a-z]\s{2,})+")
_REGION = re.compile(rf"^[{_UPPER}][\w.'’ -]{{0,30}}$")
_NOT_PLACES = frozenset(
    "BREAKING UPDATE UPDATED CORRECTED CORRECTION URGENT FLASH BULLETIN ADVISORY EDITORS NOTE "
    "WARNING REFILE RPT REPEAT EXCLUSIVE ANALYSIS FACTBOX FEATURE COMMENTARY INTERVIEW OPINION "
    "PHOTOS VIDEO WATCH LIVE FILE UPDATE1 ALERT SPORTS".split()
)


def parse_dateline(
    text: str, registry: Optional[AgencyRegistry] = None
) -> tuple[Optional[Dateline], str]:
    """The dateline at the start of ``text`` and the rest of the paragraph."""
    if not text:
        return None, text or ""
    registry = registry or default_registry()
    try:
        return _parse(text, registry)
    except Exception:  # noqa: BLE001 - never raise on copy the rules do not know
        return None, text


def parse_dateline_field(text: Optional[str], registry: Optional[AgencyRegistry] = None) -> Optional[Dateline]:
    """A dateline the format gives apart from the body (lenient: it is known to be one).

    Reuters-21578 ``<DATELINE>`` and NITF ``<dateline>`` carry it with or
    without the dash, sometimes in odd case ('Caracas, march 11 -') or with
    the agency as a comma segment ('ROME, March 13, Reuter -').
    """
    if not text or not text.strip():
        return None
    # Datelines repeat all day ('NEW YORK, March 12'): each is read once.
    return (registry or default_registry()).memo(_parse_field_or_none)(text)


def parse_dateline_text(text: str, registry: Optional[AgencyRegistry] = None) -> Optional[Dateline]:
    """A line that may be a dateline alone or a paragraph starting with one (the CLI)."""
    registry = registry or default_registry()
    dateline, rest = parse_dateline(text, registry)
    if dateline is not None and rest.strip():
        return dateline
    words = text.split()
    looks_alone = dateline is not None or (
        re.search(r"[-—–]\s*$", text)
        or any(_FIELD_DATE.match(s.strip(" -")) for s in text.split(","))
        or (len(words) <= 4 and all(w[:1].isupper() for w in words))
    )
    return parse_dateline_field(text, registry) if looks_alone else None


def _parse_field_or_none(text: str, registry: AgencyRegistry) -> Optional[Dateline]:
    try:
        return _parse_field(text, registry)
    except Exception:  # noqa: BLE001 - never raise on copy the rules do not know
        return None


def _parse_field(text: str, registry: AgencyRegistry) -> Optional[Dateline]:
    text = _JUNK.sub("", text.strip())
    for cut in _FIELD_END.finditer(text) if _has_dash(text) else ():
        if not _MONTH_AHEAD.match(text, cut.end()):  # 'CHEVY CHASE, Md., - March 4 -'
            text = text[: cut.start()]
            break
    raw = text.strip() or None
    agency = None
    paren = _FIELD_AGENCY.search(text) if "(" in text else None
    if paren:
        agency = _agency(paren.group(1), registry)
        text = text[: paren.start()] + text[paren.end():]
    place_parts: list[str] = []
    date = None
    for segment in (s.strip(" -") for s in text.split(",")):
        if not segment:
            continue
        if _is_field_date(segment) or (date and segment.isdigit() and len(segment) == 4):
            date = f"{date}, {segment}" if date and segment.isdigit() else (date or " ".join(segment.split()))
        elif not place_parts:
            place_parts.append(place_case(segment, capitalize_lower=True))
        elif agency is None and date and registry.canonical_agency(segment):
            # Only after the date ('ROME, March 13, Reuter -'): 'Pa.' before it is a state.
            agency = registry.canonical_agency(segment)
        else:
            place_parts.append(place_case(segment, capitalize_lower=True))
    if not place_parts and not date:
        return None
    return _dateline(place_parts, date, agency, raw)


@memoize  # 'March 12' comes back all day: the date pattern is long and case-blind
def _is_field_date(segment: str) -> bool:
    return _FIELD_DATE.match(segment) is not None


def _has_dash(text: str) -> bool:
    """Whether ``_DASH`` or ``_FIELD_END`` can match: each alternative has one of these."""
    return "-" in text or "—" in text or "–" in text or " _ " in text


def _parse(text: str, registry: AgencyRegistry) -> tuple[Optional[Dateline], str]:
    # Both patterns end in a dash (_TITLE also in a colon): a lead with
    # neither has no dateline, and is spared their backtracking over it.
    dash = _has_dash(text)
    if not dash and ":" not in text:
        return None, text
    junk = _JUNK.match(text)
    body = text[junk.end():] if junk else text
    match = _CAPS.match(body) if dash else None
    if match and _caps_ok(match):
        parts, date = _split_segments(place_case(match.group("place").strip()), match.group("segs"))
        rest = body[match.end():]
        if parts is not None and (match.group("agency") or date or _bare_ok(match.group("place"), rest)):
            agency = _agency(match.group("agency"), registry)
            return _dateline(parts, date, agency, body[: match.start("dash")]), rest
    match = _TITLE.match(body)
    if match and _SENTENCE.match(body, match.end()):
        agency = registry.canonical_agency(match.group("agency")) if match.group("agency") else None
        date = match.group("date")
        place = match.group("place")
        dash = match.group("dash").strip()
        if (agency or date or "/" in place) and (dash != ":" or agency):
            return _dateline([place], date, agency, body[: match.start("dash")]), body[match.end():]
    return None, text


def _dateline(parts: list[str], date: Optional[str], agency: Optional[str], raw: Optional[str]) -> Dateline:
    """The record: the place whole, and split into its city and the region after it."""
    region = ", ".join(parts[1:]) or None
    raw = " ".join(raw.split()) if raw else None
    return Dateline(place=", ".join(parts) or None, date=date, agency=agency,
                    city=parts[0] if parts else None, region=region, raw=raw or None)


def _bare_ok(place: str, rest: str) -> bool:
    """'DUBLIN — She said': with no date and no agency, only a short place before a sentence.

    Keeps all-caps headlines and table rows ('NASDAQ HALT - ALLEGHENY ...',
    'YEAR - period ended ...') from being read as datelines.
    """
    return len(place.split()) <= 3 and bool(_SENTENCE.match(rest))


def _caps_ok(match: re.Match) -> bool:
    place = match.group("place").strip()
    letters = sum(ch.isalpha() for ch in place)
    if letters < 2 or place.split()[0].strip(".") in _NOT_PLACES:
        return False
    return len(place) <= 40


def _split_segments(place: str, segs: str) -> tuple[Optional[list[str]], Optional[str]]:
    """Comma segments after the place: region words join the place parts, one may be the date."""
    date = None
    parts = [place]
    for segment in (s.strip() for s in segs.split(",") if s.strip()):
        if date is None and _DATE_FULL.match(segment):
            date = segment
        elif date is None and _REGION.match(segment) and not any(c.isdigit() for c in segment):
            parts.append(place_case(segment))
        else:
            return None, None  # a sentence, not a dateline
    return parts, date


def _agency(text: Optional[str], registry: AgencyRegistry) -> Optional[str]:
    if not text:
        return None
    found = registry.canonical_agency(text)
    if found is None and re.match(rf"^[{_UPPER}][\w.&' -]{{0,25}}$", text.strip()):
        return text.strip()  # an agency the registry does not know yet
    return found
