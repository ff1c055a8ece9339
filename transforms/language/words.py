"""Word frequencies: evidence among close relatives for ``transforms.language.detect``.

langdetect's profiles keep about 1,600 trigrams per language: enough to
choose a family, too few to tell Danish from Norwegian or Czech from Slovak
in a short sentence. Whole words do ("hvad"/"hva", "který"/"ktorý"), and
wordfreq (``pip install wordfreq``; code Apache-2.0, word lists CC BY-SA
4.0, used as an installed package, not copied) ships frequency lists of
30,000-60,000 words per language built from Wikipedia, subtitles, news and
web text: nothing here is learnt from an evaluation set.

In: a sentence's lower-case words and the langdetect codes of the close
relatives still in contention. Out: per language, the sum of the words'
log-frequencies in that language (a unigram language model), a word
missing from a list counting as ``FLOOR_FREQUENCY``.

Each list is read on first use of its language (most feeds never need
any) and kept compactly: a sorted array of 64-bit word hashes and one of
log-frequencies, about 12 bytes a word, instead of a dict of strings
(~120 bytes a word). Hashes are blake2b, not ``hash()``, so every worker
and run gives the same answer.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
import unicodedata
from typing import Iterable, Optional, Sequence

import numpy as np

__all__ = ["WORD_LIST_CODES", "FLOOR_FREQUENCY", "WordFrequencies", "commonest_words", "words_of"]

#: langdetect code -> wordfreq list: Norwegian is Bokmål's list ("nb"),
#: Croatian the shared Serbo-Croatian one ("sh", in Latin script).
WORD_LIST_CODES = {
    "da": "da", "no": "nb", "sv": "sv",
    "cs": "cs", "sk": "sk", "sl": "sl", "hr": "sh", "pl": "pl",
    "ru": "ru", "uk": "uk", "bg": "bg", "mk": "mk",
    "es": "es", "ca": "ca", "pt": "pt", "it": "it", "fr": "fr", "ro": "ro",
}
#: Frequency given to a word a list lacks (the lists stop near 1e-6 to
#: 1e-7): a rare or unknown word says little, a missing common one a lot.
FLOOR_FREQUENCY = 1e-7
#: wordfreq's "small" lists: the same size for every language it has.
_WORD_LIST = "small"
#: Module-level, so that a ``WordFrequencies`` pickles (a lock does not).
_LOAD_LOCK = threading.Lock()

#: Words as wordfreq lists them: runs of letters and combining marks
#: ("l'escola" is "l" and "escola", as in its Catalan and French lists).
_WORD = re.compile(r"(?:[^\W\d_]|[\u0300-\u036f])+")


def words_of(text: str) -> list[str]:
    """The words of lower-cased text, split at anything not a letter."""
    return _WORD.findall(text)


def commonest_words(list_code: str, n: int) -> list[str]:
    """The ``n`` commonest words of wordfreq's list ``list_code`` (its own
    codes: "nb", "sh"...), commonest first, letters and marks only: numbers
    ("2", "00") and words with an apostrophe ("zo'n") are skipped.

    Read from the list's file like ``WordFrequencies`` does, not through
    ``wordfreq.top_n_list``, which would keep the whole list in a
    process-wide cache.
    """
    words: dict[str, None] = {}  # ordered, without repeats
    for bucket in _read_buckets(list_code):
        for word in bucket:
            if word not in words and _is_word(word):
                words[word] = None
                if len(words) == n:
                    return list(words)
    return list(words)


def _is_word(word: str) -> bool:
    """Letters and combining marks only (Devanagari vowel signs are marks)."""
    return all(char.isalpha() or unicodedata.category(char)[0] == "M" for char in word)


def _read_buckets(list_code: str) -> list[list[str]]:
    """wordfreq's list ``list_code`` as buckets of words, commonest first."""
    from wordfreq import available_languages, read_cBpack

    return read_cBpack(available_languages(_WORD_LIST)[list_code])


def _keys(words: Sequence[str]) -> np.ndarray:
    """Stable 64-bit hashes of words (blake2b: the same in every process,
    unlike ``hash()``), as one uint64 array."""
    blake2b = hashlib.blake2b
    digests = b"".join([blake2b(word.encode("utf-8"), digest_size=8).digest() for word in words])
    return np.frombuffer(digests, dtype="<u8")


class WordFrequencies:
    """Unigram log-likelihoods from wordfreq's lists, loaded per language on
    first use. Thread-safe; one per process is enough."""

    def __init__(self, floor: float = FLOOR_FREQUENCY):
        self._floor = floor
        self._tables: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    @staticmethod
    def covers(code: str) -> bool:
        """True if ``code`` (langdetect's) has a word list."""
        return code in WORD_LIST_CODES

    def log_likelihoods(self, words: Iterable[str], codes: Iterable[str]) -> Optional[np.ndarray]:
        """Sum over ``words`` of ln(frequency + floor), for each of ``codes``
        (all must be ``covers``); None when there are no words."""
        words = list(words)
        if not words:
            return None
        keys = _keys(words)
        totals = []
        for code in codes:
            hashes, logs = self._table(code)
            at = np.minimum(np.searchsorted(hashes, keys), len(hashes) - 1)
            found = hashes[at] == keys
            totals.append(float(np.where(found, logs[at], math.log(self._floor)).sum()))
        return np.array(totals)

    def _table(self, code: str) -> tuple[np.ndarray, np.ndarray]:
        table = self._tables.get(code)
        if table is None:
            with _LOAD_LOCK:
                table = self._tables.get(code)
                if table is None:
                    table = self._tables[code] = _load_table(WORD_LIST_CODES[code], self._floor)
        return table


def _load_table(list_code: str, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """``(sorted word hashes, ln(frequency + floor))`` of one wordfreq list.

    The list is read from its file, not through ``get_frequency_dict``,
    which would keep every word as a string in a process-wide cache.
    """
    buckets = _read_buckets(list_code)
    # Bucket i holds the words of frequency 10^(-i/100), commonest first.
    bucket_logs = np.log(10.0 ** (-np.arange(len(buckets)) / 100) + floor).astype(np.float32)
    logs = np.repeat(bucket_logs, [len(bucket) for bucket in buckets])
    # A word listed twice keeps its first, higher frequency.
    hashes, first = np.unique(_keys([word for bucket in buckets for word in bucket]), return_index=True)
    return hashes, logs[first]
