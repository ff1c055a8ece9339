"""Photo captions: split the credit from the caption text and parse it.

Contract: ``parse_caption(text, credit=None)`` returns a ``Caption`` and never
raises. When ``credit`` is None the credit is looked for at the end of
``text`` (``[File: Sputnik/Sergey Guneev/Kremlin via Reuters]``, ``(AP
Photo/Evan Vucci)``, ``REUTERS/Name``, ``Photo: Name/dpa``...) and split off;
``text`` keeps the rest. The credit gives ``photographers`` (natural case;
STR and other anonymous credits name nobody), ``agencies`` (canonical when
the registry knows them, otherwise the organisation as written; the
distributor is not repeated there), ``distributor`` (the one after "via"),
``is_file_photo``, ``is_handout`` and ``credit_raw`` (the credit exactly as
found). A credit the rules cannot read leaves the parsed fields empty and
keeps ``credit_raw``; ``parse_caption_ex`` also says whether that happened.
"""

from __future__ import annotations

import re
from typing import Optional

from transforms.model import Caption
from transforms.normalize.agencies import AgencyRegistry, default_registry
from transforms.normalize.names import is_anonymous, looks_like_person, natural_case
from transforms.text import normalize_text

__all__ = ["parse_caption", "parse_caption_ex", "split_credit"]

_TRAILING_BRACKET = re.compile(r"\s*\[([^\[\]]{1,160})\]\s*$")
_TRAILING_PAREN = re.compile(r"\s*\(([^()]{1,120})\)\s*$")
_BOUNDARY = re.compile(r"(?:(?<=[.!?»«\"”’)])|(?<=\.\.\.))\s+(?=\S)")
_PREFIX = re.compile(
    r"^(?:(?P<file>file(?:\s+photo)?)\s*[:\-–—]\s*|"
    r"(?:photos?|fotos?|bild|bilder|image|images|picture|pictures|credit|credits|photograph|"
    r"photography|copyright|quelle|source|©)\s*(?:by\s+|:\s*|-\s+)|"
    r"(?:photo|photograph|pictures?|images?)\s+by\s+|©\s*|\(c\)\s*|copyright\s+(?:\d{4}\s+)?)",
    re.IGNORECASE,
)
_FILE_MARK = re.compile(
    r"(?:\s*/\s*|,\s*|\s+)(?:file\s+photo|file|archive|archivbild|archivfoto)\b\.?|"
    r"^(?:file\s+photo|file)\s*(?:/|\s)\s*",
    re.IGNORECASE,
)
_TPX = re.compile(r"\s*\bTPX(?:\s+IMAGES\s+OF\s+THE\s+DAY)?\b\s*|\s*\bPICTURE\s+OF\s+THE\s+DAY\b\s*", re.IGNORECASE)
_HANDOUT = re.compile(
    r"^(?:handout|ho|supplied|courtesy|courtesy of .+|handout photo|social media|zvg|"
    r"zur verfügung gestellt)\.?$",
    re.IGNORECASE,
)
_COURTESY = re.compile(r"\.?\s+(?:courtesy(?:\s+of)?|mit freundlicher genehmigung)\b.*$", re.IGNORECASE)
_COURTESY_OF = re.compile(r"^courtesy\s+(?:of\s+)?(?:the\s+)?(.+)$", re.IGNORECASE)
_HANDLE = re.compile(r"^[a-z0-9_]{3,30}$")
_POOL = re.compile(r"^(?:pool|pool photo|pool via .*)$", re.IGNORECASE)
_VIA = re.compile(r"\s*/?\s*\bvia\s+", re.IGNORECASE)
_SEGMENT_SPLIT = re.compile(r"\s*(?:/|\||;|,\s+|\s+-\s+|\s+–\s+)\s*")
_FOR = re.compile(r"^(?P<who>.+?)\s+for\s+(?P<org>[A-ZÀ-Þ].+)$")
_PHOTO_BY = re.compile(r"^(?:photo(?:\s+illustration)?|photograph|foto|bild)\s+(?:by|von|de)\s+", re.IGNORECASE)
_AGENCY_PHOTO = re.compile(r"^(?P<agency>.+?)\s+(?:photo|photos|foto|pictures|images)$", re.IGNORECASE)
_TEXT_FILE = re.compile(r"^FILE\s*(?:PHOTO)?\s*[-–—:]|\((?:Archivbild|Archivfoto|file photo|file)\)", re.IGNORECASE)
_LETTER = re.compile(r"[^\W\d_]")
_UNREADABLE = re.compile(r"[„“”\"@<>{}=]|\d{3,}")


def parse_caption(text: Optional[str], credit: Optional[str] = None,
                  registry: Optional[AgencyRegistry] = None) -> Caption:
    """Caption text and parsed credit; never raises."""
    return parse_caption_ex(text, credit, registry)[0]


def parse_caption_ex(text: Optional[str], credit: Optional[str] = None,
                     registry: Optional[AgencyRegistry] = None) -> tuple[Caption, bool]:
    """Like ``parse_caption``, with False when a credit was there but not understood."""
    registry = registry or default_registry()
    text = normalize_text(text or "")
    try:
        if credit is None:
            text, credit = split_credit(text, registry)
        else:
            credit = normalize_text(credit) or None
        file_from_text = bool(_TEXT_FILE.search(text))
        if not credit:
            return Caption(text=text, is_file_photo=file_from_text), True
        fields = registry.memo(_parse_credit)(credit)  # agency credits repeat: each is read once
    except Exception:  # noqa: BLE001 - the contract is: never raise, count it
        return Caption(text=text, credit_raw=credit), False
    if fields is None:
        return Caption(text=text, credit_raw=credit, is_file_photo=file_from_text), False
    photographers, agencies, distributor, is_file, is_handout = fields
    return (
        Caption(
            text=text,
            photographers=photographers,
            agencies=agencies,
            distributor=distributor,
            is_file_photo=is_file or file_from_text,
            is_handout=is_handout,
            credit_raw=credit,
        ),
        True,
    )


def split_credit(text: str, registry: Optional[AgencyRegistry] = None) -> tuple[str, Optional[str]]:
    """(caption text, credit as found) -- the credit is None when there is none."""
    registry = registry or default_registry()
    if not text:
        return text, None
    match = _TRAILING_BRACKET.search(text)
    if match and len(match.group(1).split()) <= 14:
        return text[: match.start()].rstrip(), match.group(0).strip()
    match = _TRAILING_PAREN.search(text)
    if match and _credit_like(match.group(1), registry):
        return text[: match.start()].rstrip(), match.group(0).strip()
    # A credit after the last sentence: '... on Friday. REUTERS/Gleb Garanich'
    tail_start = 0
    for boundary in _BOUNDARY.finditer(text):
        tail_start = boundary.end()
    tail = text[tail_start:]
    if len(tail.split()) <= 12 and _credit_like(tail, registry):
        return text[:tail_start].rstrip(), tail.strip()
    # Spiegel style, no boundary: '... »quote« Andrew Harnik / AP'
    slash = re.search(r"(?:^|\s)((?:[A-ZÀ-Þ][\w'’.-]+\s){1,3}?/\s*[\w .-]{2,30})$", text)
    if slash and _credit_like(slash.group(1), registry):
        return text[: slash.start(1)].rstrip(), slash.group(1).strip()
    return text, None


def _credit_like(candidate: str, registry: AgencyRegistry) -> bool:
    candidate = candidate.strip()
    if not candidate or len(candidate) > 160 or candidate.endswith((".", "?", "!")) and "/" not in candidate:
        return False
    if _PREFIX.match(candidate) or _PHOTO_BY.match(candidate) or _VIA.search(candidate):
        return True
    if registry.canonical_agency(candidate) or registry.canonical_agency(_strip_photo(candidate)):
        return True
    if "/" in candidate:
        parts = [p.strip() for p in candidate.split("/")]
        return any(
            registry.canonical_agency(_strip_photo(p)) or is_anonymous(p) or _HANDOUT.match(p) for p in parts
        )
    return False


def _strip_photo(segment: str) -> str:
    match = _AGENCY_PHOTO.match(segment)
    return match.group("agency") if match else segment


def _parse_credit(credit: str, registry: AgencyRegistry):
    """(photographers, agencies, distributor, is_file, is_handout) or None if unreadable."""
    body = credit.strip()
    while len(body) > 1 and body[0] in "([" and body[-1] in ")]":
        body = body[1:-1].strip()
    is_file = False
    is_handout = False
    # Prefixes may stack: 'File: Photo by ...'.
    for _ in range(3):
        match = _PREFIX.match(body)
        if not match:
            break
        is_file |= bool(match.group("file"))
        body = body[match.end():].strip()
    body, marks = _TPX.subn(" ", body)
    body = body.strip()
    body, courtesy = _COURTESY.subn("", body)
    is_handout |= courtesy > 0
    body, files = _FILE_MARK.subn("", body)
    is_file |= files > 0
    body = body.strip(" ,;/")
    distributor = None
    extra: list[str] = []
    via = _VIA.split(body, maxsplit=1)
    if len(via) == 2:
        body = via[0]
        right = [s for s in _SEGMENT_SPLIT.split(via[1].strip(" ,;/")) if s]
        if right:
            distributor = registry.canonical_agency(_strip_photo(right[0])) or right[0].strip()
            extra = right[1:]
    segments = [s.strip() for s in _SEGMENT_SPLIT.split(body) if s and s.strip()] + extra
    photographers: list[str] = []
    agencies: list[str] = []
    singles: list[tuple[int, str]] = []  # single unknown words, decided at the end
    for position, segment in enumerate(segments):
        segment = _PHOTO_BY.sub("", segment).strip(" .,:")
        if not segment:
            continue
        if is_anonymous(segment):
            is_handout |= segment.casefold() in ("handout", "ho")
            continue
        courtesy = _COURTESY_OF.match(segment)
        if courtesy:
            is_handout = True
            segment = courtesy.group(1)  # 'Courtesy of NASA': NASA still supplied it
        elif _HANDOUT.match(segment):
            is_handout = True
            continue
        if _POOL.match(segment):
            continue
        known = registry.canonical_agency(segment) or registry.canonical_agency(_strip_photo(segment))
        if known:
            agencies.append(known)
            continue
        if registry.is_generic(segment):
            continue
        match = _FOR.match(segment)
        if match and looks_like_person(match.group("who")):
            photographers.append(natural_case(match.group("who")))
            org = match.group("org")
            agencies.append(registry.canonical_agency(org) or org)
            continue
        if looks_like_person(segment):
            photographers.append(natural_case(segment))
            continue
        if _UNREADABLE.search(segment) or len(segment.split()) > 6 or not _LETTER.search(segment):
            return None
        if position == 0 and _HANDLE.match(segment) and len(segments) > 1:
            photographers.append(segment)  # a stock contributor's handle: 'ipopba'
            continue
        if len(segment.split()) == 1 and segment[:1].isupper() and segment[1:].islower():
            singles.append((len(agencies), segment))
            agencies.append(segment)
            continue
        agencies.append(segment)
    # 'IMAGO / Tischler', 'WDR / Biernat': a lone surname after an agency is the photographer.
    if not photographers and singles and len(agencies) > 1:
        index, word = singles[-1]
        if index > 0:
            agencies.pop(index)
            photographers.append(word)
    if distributor and distributor in agencies and agencies[-1] == distributor:
        agencies.pop()
    if not (photographers or agencies or distributor or is_handout or is_file or segments):
        return None
    return tuple(_unique(photographers)), tuple(_unique(agencies)), distributor, is_file, is_handout


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))
