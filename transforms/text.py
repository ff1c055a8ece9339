"""Text normalization shared by every parser and the normalizer.

Pure functions, no Beam. ``normalize_text`` is what every text field of a
record goes through: Unicode NFC, control characters removed, runs of
whitespace folded to one space. Typographic quotes and dashes are kept as the
agency wrote them: they are part of the copy, and downstream consumers who
want ASCII can fold them themselves.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Iterable

__all__ = [
    "normalize_text",
    "normalize_paragraphs",
    "fold_for_hash",
    "content_hash",
    "count_words",
]

# C0 and C1 control characters, DEL, and zero-width/bidi formatting marks that
# wire systems leak into copy. Tab, newline and carriage return are whitespace
# and are folded with the rest.
_CONTROL = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b\u200e\u200f\u202a-\u202e\u2060\ufeff\ufffe]"
)
_WORD = re.compile(r"\w", re.UNICODE)
_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)
# A token with no word character: punctuation between spaces ("-", "--").
_NO_WORD_TOKEN = re.compile(r"(?<!\S)[^\w\s]+(?!\S)")
# ASCII letters and digits kept, every other byte (and "_") a space: the
# ASCII case of ``_NOT_WORD``, done by bytes.translate.
_ASCII_FOLD = bytes(c if c < 128 and chr(c).isalnum() else 32 for c in range(256))


def normalize_text(text: str) -> str:
    """NFC, no control characters, single spaces, no leading/trailing space."""
    if not text:
        return ""
    if not text.isascii():  # ASCII is already NFC
        text = unicodedata.normalize("NFC", text)
    text = _CONTROL.sub("", text)
    return " ".join(text.split())


def normalize_paragraphs(paragraphs: Iterable[str]) -> list[str]:
    """Normalize each paragraph and drop the ones left empty."""
    out = []
    for paragraph in paragraphs:
        cleaned = normalize_text(paragraph)
        if cleaned:
            out.append(cleaned)
    return out


def fold_for_hash(body: str) -> str:
    """Body folded so that case, whitespace and punctuation do not matter.

    Two copies of a story that differ only in those (re-wrapped lines, a
    straight quote for a curly one, ALL-CAPS from a teleprinter feed) fold to
    the same string and so get the same ``content_hash``.
    """
    folded = unicodedata.normalize("NFKC", body).casefold()
    if folded.isascii():  # the same result, five times faster
        return " ".join(folded.encode("ascii").translate(_ASCII_FOLD).decode("ascii").split())
    return _NOT_WORD.sub(" ", folded).strip()


def content_hash(body: str) -> str:
    """Hex SHA-256 of ``fold_for_hash(body)``: the exact-duplicate key."""
    return hashlib.sha256(fold_for_hash(body).encode("utf-8")).hexdigest()


def count_words(text: str) -> int:
    """Whitespace-separated tokens that contain a letter or a digit."""
    # All tokens less the punctuation-only ones: one pass in C, not a
    # regex search per token.
    return len(text.split()) - len(_NO_WORD_TOKEN.findall(text))
