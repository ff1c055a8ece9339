"""Language identification for wire copy: deterministic, cheap, and right on tables.

In: a story's normalized headline and body, and the language its delivery
format declares (if any). Out: ``(code, confidence)``, ``code`` the
lowercase ISO 639-1 code (``transforms.language.codes.canonical_language``:
``detect`` gives "zh" where langdetect says "zh-cn"), or ``und``.
``detect_text`` gives langdetect's own codes.

Contract:
  * A declared language wins, canonicalised ("fr-FR" -> "fr"), with
    confidence 1.0; a declared tag that names no language is ignored.
  * Detection reads the story's *prose*: lines that are mostly numbers,
    figures or wire-table abbreviations ("Shr 45 cts vs 58 cts", "Net 1.1
    mln vs 829,000") are left out, and the rest is lower-cased, so that
    ALL-CAPS headlines and slugs count like any other words (langdetect
    ignores every word with two capitals in a row). Lower-casing changes
    nothing for scripts without case (CJK, Arabic, Devanagari...).
  * At most ``SAMPLE_CHARS`` characters of prose are read, from the top
    (headline, then lead): a 50 KB story costs what a short one does.
  * English wire vocabulary is evidence, not noise: every token of the
    lines read (tables included) that is in ``ENGLISH_WIRE`` ("Shr", "cts",
    "mln", "dlrs", "says", "dividend"...) adds ``ENGLISH_WIRE_WEIGHT`` nats
    to English. A story with fewer than ``MIN_LETTERS`` letters of prose (a
    pure table, a one-word flash) is English with confidence 0.5 if it has
    ``MIN_ENGLISH_WIRE`` such tokens, else gets the detector's ``default``
    language (``und`` unless the feed configures one) with confidence 0.0.
    Where the format declares a language (Reuters-21578 declares ``en``)
    that is used first.
  * Close relatives (Danish/Norwegian/Swedish, Spanish/Catalan/Portuguese/
    Italian/French/Romanian, Czech/Slovak/Slovene/Croatian/Polish,
    Russian/Ukrainian/Bulgarian/Macedonian, Dutch/Afrikaans, Hindi/Marathi/
    Nepali) are told apart by their marker words (common words of one
    relative that are not common in the others, derived from wordfreq's
    lists when the detector loads: ``transforms.language.markers``) once
    the n-grams have chosen the group, and, where every
    relative still in contention has one, by wordfreq's word-frequency
    lists (``transforms.language.words``): the choice then stays within
    the group. Chinese characters
    without kana or hangul are Chinese; with kana Japanese; with hangul
    Korean.
  * Deterministic by construction: no random sampling. The same text gives
    the same answer on every run and every worker; the ``seed`` argument
    is kept for API compatibility and changes nothing.

How: naive Bayes over langdetect's own character 1-3-gram profiles, summing
the log-probability of *every* n-gram of the sample instead of langdetect's
randomised sampling of them (7 trials of up to 10,000 draws). That is about
ten times faster and at least as accurate (see ``bench/language_eval.py``).
The profiles are case-folded (text is lower-cased), an n-gram a profile
lacks gets ``FLOOR_SHARE`` of that profile's own pruning threshold, single
letters weigh half (``ORDER_WEIGHTS``), and ``LANGUAGE_PRIORS`` (estimated
on the evaluation's tuning half only) settle close calls.
Text in which more than ``NON_LATIN_SHARE`` of the letters are of a
non-Latin script is judged on those letters alone: Latin-script names,
brands and boilerplate inside Urdu or Chinese copy do not make it English.
"""

from __future__ import annotations

import json
import os
import re
import string
import threading
from typing import Optional

import numpy as np

from transforms.language.codes import UNDETERMINED, canonical_language
from transforms.language.markers import ENGLISH_WIRE, GROUPS, marker_words
from transforms.language.words import WordFrequencies, words_of

__all__ = [
    "LanguageDetector",
    "UNDETERMINED",
    "MIN_LETTERS",
    "SAMPLE_CHARS",
    "LANGUAGE_PRIORS",
    "prose_sample",
    "story_sample",
    "is_table_line",
]

#: Fewer letters of prose than this and no language is claimed.
MIN_LETTERS = 10
#: A line needs this many words to be prose.
MIN_PROSE_WORDS = 2
#: Characters of prose given to the detector: enough for a stable answer,
#: bounded so that a 50 KB story costs no more than a short one.
SAMPLE_CHARS = 700
#: Share of non-Latin letters above which Latin letters are ignored.
NON_LATIN_SHARE = 0.3
#: Smoothing: an n-gram missing from a language's profile has this share of
#: the probability of the rarest n-gram of its order that the profile kept.
#: langdetect pruned each profile at its own threshold (about 1e-4 of the
#: n-grams for most languages, 1e-5 for Catalan and Slovene), so one flat
#: floor for all favoured the fuller profiles; unseen n-grams count only for
#: the languages that have them at all (their row exists).
FLOOR_SHARE = 0.1
#: Weight of each n-gram order in the log-likelihood (1-, 2-, 3-grams):
#: single letters say less than their count suggests, since a word's
#: letters are already in its bigrams and trigrams.
ORDER_WEIGHTS = (0.5, 1.0, 1.0)
#: Log-prior (nats) per language, estimated on the tuning half of the
#: evaluation (``bench/language_eval.py``: Reuters files 000-005, the first
#: 250 lingua sentences per language) by coordinate search over whole
#: nats; languages not listed have 0. They correct the profiles' unequal
#: sharpness (Macedonian's small profile claims short Russian and Bulgarian
#: sentences, Estonian claims Finnish and Latvian ones) and weigh a few
#: nats against a story's hundreds: they decide only close calls.
LANGUAGE_PRIORS = {
    "af": -2.0, "ca": 5.0, "cs": 2.0, "da": -1.0, "de": -4.0, "es": -2.0, "et": -6.0,
    "fr": -4.0, "hi": -4.0, "hr": -2.0, "lv": 2.0, "mk": -6.0, "no": 1.0, "ro": 4.0,
    "ru": 8.0,
}
#: Words whose n-gram indices are cached per detector (bounded memory).
_WORD_CACHE_SIZE = 50_000
#: Log-odds (nats) that one English wire word adds to English: "shr", "cts",
#: "mln" in a table, "says", "the", "dividend" in a headline.
ENGLISH_WIRE_WEIGHT = 3.0
#: A story with too little prose is English if it has this many English
#: wire words (an earnings table: "Shr 45 cts vs 58 cts").
MIN_ENGLISH_WIRE = 3
#: Log-odds (nats) that one marker word adds to a language against its
#: close relatives (``transforms.language.markers``).
MARKER_WEIGHT = 8.0
#: Relatives of the n-grams' choice within this many nats of it compete
#: on marker words.
MARKER_MARGIN = 40.0
#: Weight of the word-frequency log-likelihood (``transforms.language.words``)
#: among relatives that compete, where every one has a word list.
WORD_FREQUENCY_WEIGHT = 3.0

#: Abbreviations of wire tables and market reports that are words of no
#: language: left out of the sample, since langdetect reads "shr cts vs"
#: as Swedish or Dutch.
WIRE_ABBREVIATIONS = frozenset("""
    shr shrs cts ct vs mln mlns bln blns dlr dlrs stg pct revs qtr qtrs mths mth avg
    oper shs prev yr yrs wk wks inc corp ltd plc bhd pty llc vol pts bbl bbls bpd cwt
    lbs oz qtly div nil etc jan feb apr jun jul aug sept oct nov dec
    """.split())

_TOKEN_EDGE = re.compile(r"^[\W_]+|[\W_]+$")
_has_digit = re.compile(r"\d").search
_LETTER = re.compile(r"[^\W\d_]")
#: Latin letters: Basic Latin to Latin Extended-B, and Latin Extended
#: Additional (Vietnamese).
_LATIN_LETTER = re.compile("[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff]")
#: A word of Latin letters only: "вiн" (Ukrainian typed with a Latin "i")
#: keeps its letters when Latin words are left out of Cyrillic copy.
_LATIN_WORD = re.compile("(?<![^\\W\\d_])[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff]+(?![^\\W\\d_])")
_NON_LATIN_LETTER = re.compile("[^\\W\\d_A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff]")
_HANGUL = re.compile("[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]")
_KANA = re.compile("[\u3040-\u30ff]")
_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff]")
#: CJK and full-width punctuation, which langdetect's normalization keeps.
_CJK_PUNCTUATION = frozenset(
    list(range(0x3000, 0x3040)) + list(range(0xFF01, 0xFF10)) + list(range(0xFF1A, 0xFF21))
    + list(range(0xFF3B, 0xFF41)) + list(range(0xFF5B, 0xFF66)))
_ASCII_NOT_LETTERS = bytes(c for c in range(128) if chr(c) not in string.ascii_letters)
_INDIC_MARK = re.compile("[\u0900-\u0d7f\u0e00-\u0e7f](?<![^\\W\\d_])")
_CJK = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")

_word_cache: dict[str, tuple[bool, bool]] = {}
_factory_lock = threading.Lock()
_model_cache: dict[str, tuple] = {}
_word_frequencies: Optional[WordFrequencies] = None


def is_table_line(line: str) -> bool:
    """True for a line of figures rather than prose.

    Prose has at least ``MIN_PROSE_WORDS`` words (letters only, not a wire
    abbreviation, not a ticker; a long unspaced token of Chinese or Japanese
    counts as several) and they are at least half of its tokens. "Shr 45
    cts vs 58 cts" and "Net 1.1 mln vs 829,000" are figures.
    """
    return _prose_words(line.split()) is None


def _prose_words(tokens: list[str]) -> Optional[list[str]]:
    words = [token for token in tokens if _token_kind(token)[0]]
    weight = sum(len(word) // 4 if len(word) > 12 else 1 for word in words)
    if weight < MIN_PROSE_WORDS or weight * 2 < len(tokens):
        return None
    return words


def _token_kind(token: str) -> tuple[bool, bool]:
    """``(is_word, is_english_wire)`` for a whitespace-separated token.

    A word is letters, not a number, a ticker (``<SAR>``) or a wire
    abbreviation. Tokens with digits are figures ("45", "1.1", "3RD"),
    except long ones: scripts written without spaces make a whole clause
    one token. English wire words are ``ENGLISH_WIRE``, abbreviations
    included, in any case ("CTS", "Shr").
    """
    known = _word_cache.get(token)
    if known is None:
        word = _TOKEN_EDGE.sub("", token).lower()
        english = word in ENGLISH_WIRE
        if token[0] == "<" or token[-1] == ">" or (
                len(token) <= 12 and _has_digit(token) and _NON_LATIN_LETTER.search(token) is None):
            known = (False, english and not _has_digit(word))
        else:
            known = (bool(word) and word not in WIRE_ABBREVIATIONS and _LETTER.search(word) is not None,
                     english)
        if len(_word_cache) >= _WORD_CACHE_SIZE:
            _word_cache.clear()
        _word_cache[token] = known
    return known


def prose_sample(headline: str, body: str, limit: int = SAMPLE_CHARS) -> str:
    """The lower-cased words of a story's prose lines, at most ``limit`` characters.

    Headline and body lines that are tables or figures are left out, and so
    are numbers, tickers (``<SAR>``) and wire abbreviations inside prose
    lines. Pure; see the module docstring.
    """
    return story_sample(headline, body, limit)[0]


def story_sample(headline: str, body: str, limit: int = SAMPLE_CHARS) -> tuple[str, int]:
    """``(prose_sample(...), English wire words)``: the prose, and how many
    tokens of the lines read (tables included) are English wire vocabulary
    (``ENGLISH_WIRE``: "Shr", "cts", "mln", "says"...)."""
    lines = [headline] if headline else []
    lines.extend(body.splitlines())
    prose: list[str] = []
    size = scanned = english = 0
    for line in lines:
        if size >= limit or scanned >= 4 * limit:  # a long table: stop looking
            break
        scanned += len(line)
        tokens = line.split()
        for token in tokens:
            english += _token_kind(token)[1]
        words = _prose_words(tokens)
        if words:
            prose.append(" ".join(words))
            size += len(prose[-1]) + 1
    # lower(), not casefold(): casefold turns German "ß" into "ss", which the
    # profiles do not expect.
    return "\n".join(prose)[:limit].lower(), english


def count_letters(text: str) -> int:
    """Letters, with each CJK ideograph, kana or hangul syllable counted as
    two: one such character says as much as a couple of Latin letters.
    Indic and Thai vowel signs count too (they are marks, not letters, to
    Python)."""
    return len(_LETTER.findall(text)) + len(_CJK.findall(text)) + len(_INDIC_MARK.findall(text))


class LanguageDetector:
    """Naive Bayes over langdetect's profiles; load once per worker
    (``DoFn.setup``), call ``detect`` per story.

    Args:
      seed: kept for API compatibility; detection has no randomness.
      default: the answer (confidence 0.0) when a story has too little
        prose: ``und``, or a feed's known language.
    """

    def __init__(self, seed: int = 0, default: str = UNDETERMINED):
        self._seed = seed
        self._default = default
        self._model: Optional[tuple] = None
        self._word_slot: dict[str, int] = {}
        self._word_vectors = None  # (_WORD_CACHE_SIZE, languages) float32, on first use
        self._next_slot = 0
        self._normalized = _CharTable()
        self._word_frequencies: Optional[WordFrequencies] = None

    def load(self) -> None:
        """Load the profiles (shared by all detectors of the process)."""
        if self._model is None:
            self._model = _load_model()
            languages = self._model[0]
            position = {code: index for index, code in enumerate(languages)}
            self._english = position["en"]
            self._korean = position["ko"]
            self._japanese = position["ja"]
            self._not_chinese = [index for code, index in position.items() if not code.startswith("zh")]
            self._priors = np.array([LANGUAGE_PRIORS.get(code, 0.0) for code in languages])
            self._relatives = [()] * len(languages)
            for group in GROUPS:
                members = tuple(position[code] for code in group)
                for member in members:
                    self._relatives[member] = members
            index: dict[str, list[int]] = {}
            for code, words in marker_words().items():
                for word in words:
                    index.setdefault(self._normalize(word), []).append(position[code])
            self._marker_index = {word: tuple(codes) for word, codes in index.items()}
            self._word_frequencies = _shared_word_frequencies()

    @property
    def languages(self) -> tuple[str, ...]:
        self.load()
        return self._model[0]

    def detect(self, headline: str, body: str, declared: Optional[str] = None) -> tuple[str, float]:
        """Return ``(code, confidence)`` for a story, ``code`` canonical
        (``transforms.language.codes``): a declared tag that names a language
        wins ("fr-FR" gives ``("fr", 1.0)``); one that names none ("xx",
        "English") is ignored and the text decides."""
        if declared:
            code = canonical_language(declared)
            if code != UNDETERMINED:
                return code, 1.0
        prose, english_wire = story_sample(headline, body)
        code, confidence = self.detect_text(prose, english_wire)
        return canonical_language(code), confidence

    def detect_text(self, text: str, english_wire: Optional[int] = None) -> tuple[str, float]:
        """Return ``(code, confidence)`` for text already chosen as prose.

        Args:
          text: lower-cased prose (``prose_sample``).
          english_wire: English wire words of the story, tables included
            (``story_sample``); counted in ``text`` when not given.
        """
        self.load()
        languages, rows, log_probs = self._model
        from langdetect.utils.ngram import NGram

        if english_wire is None:
            english_wire = sum(_token_kind(token)[1] for token in text.split())
        cjk = False
        if text.isascii():
            letters = len(text.encode("ascii").translate(None, _ASCII_NOT_LETTERS))
            if letters < MIN_LETTERS:
                return self._too_short(english_wire)
        else:
            text = NGram.normalize_vi(text)
            if count_letters(text) < MIN_LETTERS:
                return self._too_short(english_wire)
            letters = len(_LETTER.findall(text))
            non_latin = letters - len(_LATIN_LETTER.findall(text))
            if non_latin > NON_LATIN_SHARE * letters:
                text = _LATIN_WORD.sub(" ", text)
            cjk = _HAN.search(text) is not None
        slots = []
        words = self._normalize(text).split()
        word_slot = self._word_slot
        for word in words:
            slot = word_slot.get(word)
            if slot is None:
                slot = self._add_word(word, rows, log_probs)
                word_slot = self._word_slot
            if slot >= 0:
                slots.append(slot)
        if not slots:
            return self._too_short(english_wire)
        scores = self._word_vectors[slots].sum(axis=0, dtype="float64")
        if cjk:
            # Chinese characters are written in Japanese and Korean too: the
            # kana or hangul beside them say which.
            if _HANGUL.search(text):
                return languages[self._korean], 1.0
            if _KANA.search(text):
                return languages[self._japanese], 1.0
            scores[self._not_chinese] = -np.inf
        scores += self._priors
        if english_wire:
            scores[self._english] += ENGLISH_WIRE_WEIGHT * english_wire
        best = int(scores.argmax())
        relatives = self._relatives[best]
        if relatives:
            # Close relatives within reach of the n-grams' choice compete on
            # their function words ("av"/"af", "els"/"los").
            near = [r for r in relatives if scores[r] >= scores[best] - MARKER_MARGIN]
            marker_index = self._marker_index
            for word in words:
                for language in marker_index.get(word, ()):
                    if language in near:
                        scores[language] += MARKER_WEIGHT
            if len(near) > 1:
                self._add_word_frequencies(scores, near, text)
            best = max(near, key=scores.__getitem__)
        # Posterior with a uniform prior: 1 / sum(exp(s_i - s_best)).
        total = float(np.exp(scores - scores[best]).sum())
        return languages[best], round(1.0 / total, 4)

    def _add_word_frequencies(self, scores: np.ndarray, near: list[int], text: str) -> None:
        """Add ``WORD_FREQUENCY_WEIGHT`` times each relative's word-frequency
        log-likelihood to its score, in place, if all of them have a list.

        Whole words tell close relatives apart where 1,600 trigrams a
        language cannot ("hvad"/"hva", "který"/"ktorý").
        """
        languages = self._model[0]
        codes = [languages[index] for index in near]
        if not all(WordFrequencies.covers(code) for code in codes):
            return
        likelihoods = self._word_frequencies.log_likelihoods(words_of(text), codes)
        if likelihoods is not None:
            # Relative to the likeliest: the relatives' scores fall, never
            # rise, so the choice stays among them.
            scores[near] += WORD_FREQUENCY_WEIGHT * (likelihoods - likelihoods.max())

    def _too_short(self, english_wire: int) -> tuple[str, float]:
        """Too little prose: English if the figures are English wire copy
        (confidence 0.5), else the default (confidence 0.0)."""
        if english_wire >= MIN_ENGLISH_WIRE:
            return "en", 0.5
        return self._default, 0.0

    def _add_word(self, word: str, rows: dict[str, int], log_probs) -> int:
        """Cache a word's summed n-gram log-probabilities; -1 if it has none."""
        found = _word_ngram_rows(word, rows)
        if not found:
            self._word_slot[word] = -1
            return -1
        if self._word_vectors is None or len(self._word_slot) >= _WORD_CACHE_SIZE:
            self._word_vectors = np.zeros((_WORD_CACHE_SIZE, log_probs.shape[1]), dtype=np.float32)
            self._word_slot = {}
            self._next_slot = 0
        slot = self._next_slot
        self._next_slot += 1
        self._word_vectors[slot] = log_probs[list(found)].sum(axis=0)
        self._word_slot[word] = slot
        return slot

    def _normalize(self, text: str) -> str:
        """langdetect's per-character normalization (punctuation and digits
        to spaces, CJK variants folded), memoised per character."""
        return text.translate(self._normalized)


class _CharTable(dict):
    """``str.translate`` table filled on first use with ``NGram.normalize``."""

    def __missing__(self, code: int) -> str:
        from langdetect.utils.ngram import NGram

        mapped = self[code] = " " if code in _CJK_PUNCTUATION else NGram.normalize(chr(code))
        return mapped


def _shared_word_frequencies() -> WordFrequencies:
    """One ``WordFrequencies`` per process: its lists load on first use."""
    global _word_frequencies
    with _factory_lock:
        if _word_frequencies is None:
            _word_frequencies = WordFrequencies()
        return _word_frequencies


def _word_ngram_rows(word: str, rows: dict[str, int]) -> tuple[int, ...]:
    """Profile rows of the 1-, 2- and 3-grams of `` word ``, as langdetect
    forms them (a space before and after each word)."""
    padded = f" {word} "
    found = []
    for n in (1, 2, 3):
        for start in range(len(padded) - n + 1):
            gram = padded[start:start + n]
            if gram != " ":
                row = rows.get(gram)
                if row is not None:
                    found.append(row)
    return tuple(found)


def _load_model() -> tuple:
    """``(languages, ngram -> row, log-probability matrix)`` from langdetect's
    profile files, built once per process (about 20 MB)."""
    import langdetect

    directory = os.path.join(os.path.dirname(langdetect.__file__), "profiles")
    with _factory_lock:
        cached = _model_cache.get(directory)
        if cached is not None:
            return cached
        # One profile at a time: holding all 55 parsed JSON profiles at once
        # would double the worker's peak memory (~140 MB) for a moment.
        languages: list[str] = []
        rows: dict[str, int] = {}
        columns = []
        floors = []
        for name in sorted(os.listdir(directory)):
            if name.startswith("."):
                continue
            with open(os.path.join(directory, name), encoding="utf-8") as handle:
                profile = json.load(handle)
            n_words = profile["n_words"]
            # Text is lower-cased before detection, so the profile's counts
            # of "S" and "s" are one count of "s" ("İ" and the like, whose
            # lower case is longer, are left out).
            folded: dict[str, int] = {}
            rarest = [float("inf")] * 3
            for gram, count in profile["freq"].items():
                if 1 <= len(gram) <= 3:
                    rarest[len(gram) - 1] = min(rarest[len(gram) - 1], count)
                    lower = gram.lower()
                    if len(lower) == len(gram):
                        folded[lower] = folded.get(lower, 0) + count
            for gram in folded:
                if gram not in rows:
                    rows[gram] = len(rows)
            index = np.fromiter((rows[gram] for gram in folded), dtype=np.int64, count=len(folded))
            counts = np.fromiter(folded.values(), dtype=np.float64, count=len(folded))
            totals = np.fromiter((n_words[len(gram) - 1] for gram in folded), dtype=np.float64,
                                 count=len(folded))
            columns.append((index, counts / totals))
            floors.append([FLOOR_SHARE * rarest[n] / n_words[n] for n in range(3)])
            languages.append(profile["name"])
            del profile, folded
        orders = np.zeros(len(rows), dtype=np.int64)
        for gram, row in rows.items():
            orders[row] = len(gram) - 1
        # In place, in float32: temporaries of the 87,598 x 55 matrix in
        # float64 would cost another ~130 MB at the peak.
        log_probs = np.zeros((len(rows), len(languages)), dtype=np.float32)
        for column, (index, values) in enumerate(columns):
            log_probs[index, column] = values
        del columns
        floor_by_order = np.asarray(floors, dtype=np.float32).T  # (3, languages)
        for order in range(3):
            block = orders == order
            log_probs[block] += floor_by_order[order]
        np.log(log_probs, out=log_probs)
        for order, weight in enumerate(ORDER_WEIGHTS):
            if weight != 1.0:
                log_probs[orders == order] *= np.float32(weight)
        model = (tuple(languages), rows, log_probs)
        _model_cache[directory] = model
        return model
