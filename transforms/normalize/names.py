"""Personal names and place names in natural case.

Contract: ``natural_case`` turns ALL-CAPS (or all lower-case) words into the
case a reader expects -- ``MCHUGH`` -> ``McHugh``, ``O'CONNOR`` ->
``O'Connor``, ``ANNE-MARIE`` -> ``Anne-Marie``, ``VAN DER LEYEN`` -> ``van der
Leyen`` (particles lower-case unless first) -- and leaves words already in
mixed case exactly as written, because the agency knew better. Diacritics are
kept. ``looks_like_person`` is the heuristic that tells a photographer's name
from an organisation in a credit; ``is_anonymous`` recognises STR and its kin.
"""

from __future__ import annotations

import re
from typing import Optional

from transforms.normalize.memo import memoize

__all__ = ["natural_case", "place_case", "looks_like_person", "is_anonymous", "clean_name"]

# Particles written lower-case inside a name or place (never as its first word).
_NAME_PARTICLES = frozenset(
    "van von der den de da das di du del della des dos le la bin ibn al el zu ter ten".split()
)
_PLACE_PARTICLES = frozenset(
    "de do da das dos del della des di du es of the la le upon on am an der sur en y al el".split()
)
# Mac is a prefix in MacDonald but not in Macon or Mack: only these take the capital.
_MAC_NAMES = frozenset(
    "macdonald mackenzie macleod macarthur macmillan macintyre macgregor maclean macneil "
    "macaulay macbeth maccallum macdougall macfarlane mackay mackinnon maclennan macpherson".split()
)
_ARTICLES = frozenset("The Le La Les El Los Las Der Die Das Il Lo De Het".split())
_ACRONYM = re.compile(r"^[A-Z]{2,5}$")
_TWO_CAPS = re.compile(r"^[A-Z]{2}[a-z]+$")
_ROMAN = re.compile(r"^(?:I{1,3}|IV|V|VI{0,3}|IX|X)$")
_KEEP_UPPER = frozenset({"UK", "US", "USA", "UAE", "EU", "UN", "DC", "D.C.", "NY", "N.Y.", "U.S.", "U.K."})
_SPLIT = re.compile(r"([-'’/])")
_LETTER_UPPER = re.compile(r"[A-ZÀ-ÞĀ-Ž]")
_LETTER_LOWER = re.compile(r"[a-zß-ÿā-ž]")
_ANONYMOUS = frozenset(
    {"str", "stringer", "uncredited", "unknown", "staff", "handout", "ho", "pool", "file",
     "anonymous", "n/a", "none", "-", "str/stringer"}
)

_PERSON_TOKEN = re.compile(
    r"^(?:[A-ZÀ-ÞĀ-Ž][\w'’.-]*|[A-ZÀ-ÞĀ-Ž]\.(?:[A-ZÀ-ÞĀ-Ž]\.?)*|"
    r"(?:van|von|der|den|de|da|di|du|del|della|des|dos|le|la|bin|ibn|al|el|zu|ter|ten|d'|d’)"
    r"|[a-zà-þ]['’][A-ZÀ-Þ][\w'’-]*|Jr\.?|Sr\.?)$"
)
_ORG_WORDS = re.compile(
    r"(?i)\b(?:images?|photos?|photography|pictures?|press|news|agency|agencia|agence|agentur|"
    r"service|services|times|post|tv|radio|media|wire|ministry|police|office|government|"
    r"university|court|department|council|group|club|inc|ltd|llc|corp|company|network|"
    r"magazine|newspapers?|journal|daily|herald|tribune|gazette|echo|live|stock|archive|"
    r"archives|collection|library|museum|foundation|institute|institution|nasa|army|navy|"
    r"forces|command|district|state|city|house|handout|courtesy|supplied|redaktion|presidency|"
    r"presidential|kremlin|parliament|embassy|military|spokesperson|spokesman|"
    r"screenshot|screenshots|instagram|twitter|facebook|tiktok|youtube|social|productions|"
    r"pictures|studios?|sports|international|national|federal|association|centre|center|"
    r"hub|network|bild|foto|montage|shutterstock|unsplash|pexels|adobe|rights|reserved|"
    r"project|technologies|technology|resort|world|yearbook|statistical|administration|"
    r"gemeinde|stadt|polizei|emergencias|ministerio|gobierno|policía|kommission|usa|uk)\b"
)


def _case_word(word: str, particles: frozenset, first: bool) -> str:
    """One space-separated word: recase only when it carries no lower-case letter."""
    if not word or not _LETTER_UPPER.search(word):
        return word
    if _LETTER_LOWER.search(word):
        # Mixed case stays, except capital runs glued to an article: "d'AFFLISIO".
        parts = _SPLIT.split(word)
        return "".join(
            _cap(p.lower()) if len(p) > 2 and not _LETTER_LOWER.search(p) else p for p in parts
        )
    if word in _KEEP_UPPER or _ROMAN.match(word):
        return word
    lower = word.lower()
    if not first and lower in particles:
        return lower
    if len(word) == 2 and word.endswith("."):  # an initial, 'J.'
        return word
    parts = _SPLIT.split(lower)
    out = []
    for index, part in enumerate(parts):
        if not part or part in "-'’/":
            out.append(part)
            continue
        if index > 0 and part in ("s",) and parts[index - 1] in ("'", "’"):
            out.append(part)  # possessive: AGENCY'S
            continue
        out.append(_cap(part))
    return "".join(out)


def _cap(part: str) -> str:
    if part.startswith("mc") and len(part) > 2:
        return "Mc" + part[2:3].upper() + part[3:]
    if part in _MAC_NAMES:
        return "Mac" + part[3:4].upper() + part[4:]
    if "." in part:  # initials run together: 'j.r.' -> 'J.R.'
        return ".".join(p[:1].upper() + p[1:] for p in part.split("."))
    return part[:1].upper() + part[1:]


@memoize  # names and places repeat on the wire
def natural_case(name: str) -> str:
    """A personal name in natural case; mixed-case words stay as written."""
    words = name.split()
    if words and all(not _LETTER_UPPER.search(w) for w in words):
        # All lower-case ('keith grant'): recase as if it were capitals.
        words = [w.upper() for w in words]
    return " ".join(_case_word(w, _NAME_PARTICLES, i == 0) for i, w in enumerate(words))


@memoize
def place_case(place: str, capitalize_lower: bool = False) -> str:
    """A place from a dateline in natural case: 'RIO DE JANEIRO' -> 'Rio de Janeiro'.

    With ``capitalize_lower`` (a field known to be a place), lower-case words
    that are not particles are capitalized too ('Mexico city' -> 'Mexico City')
    and a stray second capital is folded ('OHio' -> 'Ohio').
    """
    words = place.split()
    out = []
    for i, word in enumerate(words):
        if capitalize_lower:
            if _TWO_CAPS.match(word):
                word = word.upper()
            elif word.islower() and (i == 0 or word not in _PLACE_PARTICLES):
                word = word[:1].upper() + word[1:]
        out.append(_case_word(word, _PLACE_PARTICLES, i == 0))
    return " ".join(out)


def is_anonymous(text: str) -> bool:
    """STR, Stringer, Uncredited, Staff...: a credit that names nobody."""
    return text.strip(" .,;:").casefold() in _ANONYMOUS


def looks_like_person(text: str) -> bool:
    """Two to five name-like words and no organisation word: a person's name."""
    words = text.split()
    if not 2 <= len(words) <= 5:
        # 'R.Schmitt' is one token but a name: an initial glued to a surname.
        return len(words) == 1 and bool(re.match(r"^[A-ZÀ-Þ]\.[A-ZÀ-Þ][a-zß-ÿ]+$", words[0]))
    if _ORG_WORDS.search(text) or words[0] in _ARTICLES:
        return False
    if not text.isupper() and any(_ACRONYM.match(w) for w in words):
        return False  # 'Cultura RF', 'Sipa USA': an acronym among names is an organisation
    if any(ch.isdigit() or ch in "@:&+" for ch in text):
        return False
    return all(_PERSON_TOKEN.match(w) for w in words)


def clean_name(text: str) -> Optional[str]:
    """Trimmed, natural-case name, or None when nothing is left."""
    text = text.strip(" \t,;:.|/-–—()[]")
    if not text:
        return None
    return natural_case(text)
