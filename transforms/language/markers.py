"""Marker words: word-level evidence for ``transforms.language.detect``.

Character n-grams tell scripts and language families apart well and close
relatives badly: Danish and Norwegian Bokmål, Spanish and Catalan, Czech
and Slovak, Croatian and Slovene, Bulgarian and Macedonian differ less in
their letters than in their commonest words ("af"/"av", "hvad"/"hva", "los"/
"els", "se"/"sa", "u"/"v", "във"/"во"). A language's marker words are its
common words that are *not* common in its close relatives; they are used
only to choose *within* a group of relatives once the n-grams have chosen
the group.

The lists are derived, not typed in: ``marker_words()`` takes each
language's ``MARKER_TOP`` commonest words from wordfreq (the package
``transforms.language.words`` already reads; its lists are built from
Wikipedia, subtitles, news and web text, nothing from an evaluation set)
and drops every word that is among the ``RELATIVE_TOP`` commonest of a
relative. Languages wordfreq lacks (Afrikaans, Marathi, Nepali, and
Norwegian Nynorsk beside Bokmål) have short lists of common words written
for this project (``OWN_WORDS``), which count both as the language's
candidates and as its common words when its relatives are filtered.

``ENGLISH_WIRE`` is the vocabulary of English-language wire copy: the
abbreviations of earnings tables and market reports ("Shr 45 cts vs 58
cts", "Net 1.1 mln") and the commonest words of its headlines. A story
whose only words are these is English wire copy, not Swedish.
"""

from __future__ import annotations

import threading
from types import MappingProxyType
from typing import Mapping

from transforms.language.words import WORD_LIST_CODES, commonest_words

__all__ = ["GROUPS", "LIST_CODES", "OWN_WORDS", "MARKER_TOP", "RELATIVE_TOP", "ENGLISH_WIRE", "marker_words"]

#: Close relatives, by langdetect code. Marker words decide among members.
GROUPS = (
    ("da", "no", "sv"),
    ("es", "ca", "pt", "it", "fr", "ro"),
    ("cs", "sk", "sl", "hr", "pl"),
    ("ru", "uk", "bg", "mk"),
    ("nl", "af"),
    ("hi", "mr", "ne"),
)
#: A language's marker candidates: its this many commonest words.
MARKER_TOP = 100
#: A word among this many commonest of a relative is no marker: it says
#: little against that relative.
RELATIVE_TOP = 300
#: langdetect code -> wordfreq list, for the group members wordfreq has:
#: those ``transforms.language.words`` reads, and Dutch and Hindi.
LIST_CODES = {**WORD_LIST_CODES, "nl": "nl", "hi": "hi"}

#: Common words of languages (or written standards) wordfreq has no list
#: for, written for this project: function words, auxiliaries and the
#: commonest verbs and nouns of news prose, shared ones with the relatives
#: included so that they are taken out of the relatives' markers.
OWN_WORDS = {
    # Afrikaans ("'n" is "n" once punctuation is gone).
    "af": frozenset("""
        n die en van in is het te op wat nie vir dat met ook hy sy se as om by aan maar uit
        na kan sal word oor ek jy ons hulle was deur tot so dit hierdie daardie al baie
        meer nog nou toe wees gewees sê gesê kry gaan moet mense jaar twee eerste nuwe
        tussen sonder teen volgens waar hoe wie of dan reeds egter tydens elke ander
        groot goed daar hier weer kon sou wil mag maak gemaak tyd land
        """.split()),
    # Marathi.
    "mr": frozenset("""
        आहे आहेत आणि नाही होते होता होती केले केली केला मध्ये त्यांनी त्यांच्या त्याच्या
        त्याचा त्याची त्या ते हे हा ही या व पण तर म्हणून म्हणाले झाले झाली झाला असे अशी
        असा आता काही सर्व येथे करण्यात करून आपल्या आपण मी आम्ही तुम्ही एक दोन
        वर्षी साठी देखील नंतर यांनी यांच्या जाते आली आला गेले गेली दिले दिली घेतले करत
        असून होणार
        """.split()),
    # Nepali.
    "ne": frozenset("""
        छ छन् र को का की मा पनि गर्न लागि भएको भएका गरेको गरेका थियो थिए यो त्यो यस ती
        तथा भन्ने हुन्छ छैन गरी सबै उनी उनको उनले आफ्नो तर वा अनि भने हुने गर्ने रहेको
        हुन गरेर अहिले धेरै एक दुई बाट देखि सम्म पछि गर्दै गरिएको सक्ने हामी म
        मेरो हाम्रो कुरा भयो गयो
        """.split()),
    # Norwegian Nynorsk, which langdetect's "no" covers with Bokmål
    # (wordfreq's "nb").
    "no": frozenset("""
        eg ikkje ein eit dei ho kva kvar korleis kvifor frå berre mykje noko nokon nokre
        vere fekk sjølv heile òg
        """.split()),
}

#: English wire copy: table and market abbreviations, then the function
#: words and verbs of its headlines ("... SAYS", "... RAISES DIVIDEND").
ENGLISH_WIRE = frozenset("""
    shr shrs cts ct vs mln mlns bln blns dlr dlrs stg pct revs qtr qtrs mths mth avg
    oper qtly div bbl bbls bpd cwt lbs yr yrs wk wks prev
    the of and to for with from by at on said says say will would after over
    net loss profit sales earnings dividend payable record shares share stock
    quarter year billion inc corp ltd co company raises cuts sets buys sells
    acquires rise rises falls fall up down rate rates prices price bank
    """.split())

_lock = threading.Lock()
_markers: dict[tuple[int, int], Mapping[str, frozenset[str]]] = {}


def marker_words(top: int = MARKER_TOP, relative_top: int = RELATIVE_TOP) -> Mapping[str, frozenset[str]]:
    """Language -> its lower-case marker words, for every member of ``GROUPS``.

    A language's candidates are its ``top`` commonest wordfreq words plus
    its ``OWN_WORDS``; its markers are the candidates that are not among
    the ``relative_top`` commonest words (or the ``OWN_WORDS``) of any
    relative in its group. Built once per process (0.2-0.4 s: each
    list's file is read once) and cached: call it where a detector loads
    (``DoFn.setup``), not at import.
    """
    key = (top, relative_top)
    with _lock:
        cached = _markers.get(key)
        if cached is None:
            cached = _markers[key] = MappingProxyType(_derive(top, relative_top))
        return cached


def _derive(top: int, relative_top: int) -> dict[str, frozenset[str]]:
    """``marker_words`` uncached: reads the wordfreq lists."""
    codes = [code for group in GROUPS for code in group]
    longest = {code: commonest_words(LIST_CODES[code], max(top, relative_top)) if code in LIST_CODES else []
               for code in codes}
    own = {code: OWN_WORDS.get(code, frozenset()) for code in codes}
    candidates = {code: set(longest[code][:top]) | own[code] for code in codes}
    common = {code: set(longest[code][:relative_top]) | own[code] for code in codes}
    return {code: frozenset(candidates[code].difference(*(common[r] for r in group if r != code)))
            for group in GROUPS for code in group}


def __getattr__(name: str):
    """``MARKERS``, the name of the lists before they were derived: kept for
    ``transforms/language/detect.py`` of earlier revisions, which
    ``bench/language_eval.py --compare-ref`` loads beside this module."""
    if name == "MARKERS":
        return marker_words()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
