"""Word shingles, MinHash signatures and LSH band keys, vectorized with numpy.

Contract: text in (already folded with ``transforms.text.fold_for_hash``),
numbers out. Everything here is deterministic across processes, machines and
Python versions (no use of the salted built-in ``hash``), because band keys
are Beam state keys and signatures are compared between workers.

- ``shingle_hashes(folded, size)``: the sorted, unique 64-bit hashes of the
  word ``size``-shingles of a folded body. Empty when the body has fewer than
  ``size`` words. ``jaccard(a, b)`` on two of these is the exact Jaccard
  similarity of the shingle sets (up to 64-bit hash collisions).
- ``MinHasher.signature(hashes)``: ``num_perm`` minimum values of
  multiply-shift hash functions over the shingle hashes (uint32).
  ``estimate_jaccard`` compares two signatures.
- ``band_keys(signature, bands, rows)``: one string per LSH band; two bodies
  share a band key with probability ``J**rows`` per band.
- ``salted(hashes, salt)``: shingle hashes re-hashed under a salt. Two sets
  salted alike keep their exact Jaccard; sets salted differently share no
  shingle (up to 64-bit collisions), so they are never candidates.

Why not datasketch's ``MinHash``: it hashes every shingle with SHA-1 in a
Python loop; here each word is hashed once (CRC-32) and the shingle and
permutation hashing are whole-array numpy operations. ``bench/dedup_eval.py``
measures both on the same stories.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "shingle_hashes",
    "salted",
    "MinHasher",
    "band_keys",
    "estimate_jaccard",
    "jaccard",
    "containment",
    "lsh_candidate_probability",
]

_U64 = np.uint64
# Odd 64-bit multipliers for combining word hashes into a shingle hash
# (position-dependent, so "a b c" and "c b a" differ).
_POSITION_MULTIPLIERS = np.array(
    [
        0x9E3779B97F4A7C15,
        0xC2B2AE3D27D4EB4F,
        0x165667B19E3779F9,
        0xD6E8FEB86659FD93,
        0xFF51AFD7ED558CCD,
        0xC4CEB9FE1A85EC53,
        0x27D4EB2F165667C5,
        0x85EBCA77C2B2AE63,
    ],
    dtype=_U64,
)


# Polynomial hashing of every word at once: with prefix sums of byte * P**i
# (wrapping uint64 arithmetic), a word's hash is (S[end] - S[start]) times
# P**-start, whatever its position. P is odd, so it has an inverse mod 2**64.
_P = 0x100000001B3
_P_INVERSE = pow(_P, -1, 1 << 64)
_POWERS = np.ones(1, dtype=_U64)
_INVERSE_POWERS = np.ones(1, dtype=_U64)


def _powers(length: int) -> tuple[np.ndarray, np.ndarray]:
    """P**i and P**-i for i in 0..length (cached, grown on demand)."""
    global _POWERS, _INVERSE_POWERS
    if len(_POWERS) <= length:
        size = max(length + 1, 2 * len(_POWERS))
        powers = np.empty(size, dtype=_U64)
        inverse = np.empty(size, dtype=_U64)
        powers[0] = inverse[0] = 1
        powers[1:] = np.cumprod(np.full(size - 1, _P, dtype=_U64))
        inverse[1:] = np.cumprod(np.full(size - 1, _P_INVERSE, dtype=_U64))
        _POWERS, _INVERSE_POWERS = powers, inverse
    return _POWERS, _INVERSE_POWERS


def _word_hashes(folded: str, count: int) -> np.ndarray:
    """uint64 hash of each space-separated word of ``folded``, in order."""
    data = np.frombuffer(folded.encode("utf-8"), dtype=np.uint8)
    size = len(data)
    powers, inverse = _powers(size)
    is_word = data > 32
    edges = np.flatnonzero(np.diff(np.concatenate(([False], is_word, [False])).astype(np.int8)))
    starts, ends = edges[0::2], edges[1::2]
    if len(starts) != count:  # never for text from str.split(); keep the contract
        raise ValueError("word boundaries disagree with str.split()")
    prefix = np.zeros(size + 1, dtype=_U64)
    np.cumsum((data.astype(_U64) + _U64(1)) * powers[:size], out=prefix[1:])
    hashes = (prefix[ends] - prefix[starts]) * inverse[starts]
    return hashes ^ (ends - starts).astype(_U64)


def _mix64(values: np.ndarray) -> np.ndarray:
    """SplitMix64 finalizer: spreads the bits of every value (wrapping uint64)."""
    values = values ^ (values >> _U64(30))
    values = values * _U64(0xBF58476D1CE4E5B9)
    values = values ^ (values >> _U64(27))
    values = values * _U64(0x94D049BB133111EB)
    return values ^ (values >> _U64(31))


def shingle_hashes(folded: str, size: int = 5) -> np.ndarray:
    """Sorted unique uint64 hashes of the word ``size``-shingles of ``folded``.

    ``folded`` is a body passed through ``fold_for_hash`` (single spaces,
    casefolded, no punctuation). Returns an empty array when there are fewer
    than ``size`` words: such bodies have no shingles and are only ever exact
    duplicates.
    """
    if size < 1 or size > len(_POSITION_MULTIPLIERS):
        raise ValueError(f"shingle size must be 1..{len(_POSITION_MULTIPLIERS)}, got {size}")
    words = folded.split()
    count = len(words) - size + 1
    if count <= 0:
        return np.empty(0, dtype=_U64)
    word_hashes = _mix64(_word_hashes(folded, len(words)))
    combined = np.zeros(count, dtype=_U64)
    for offset in range(size):
        combined += word_hashes[offset : offset + count] * _POSITION_MULTIPLIERS[offset]
    return np.unique(_mix64(combined))


def salted(hashes: np.ndarray, salt: int) -> np.ndarray:
    """Sorted unique ``hashes`` re-hashed under ``salt`` (a 64-bit int).

    XOR with the salt and the SplitMix64 finalizer are both bijections of
    uint64, so the set keeps its size and two sets salted alike keep their
    intersection; under different salts they share nothing but collisions.
    """
    if hashes.size == 0:
        return hashes
    return np.unique(_mix64(hashes ^ _U64(salt & 0xFFFFFFFFFFFFFFFF)))


class MinHasher:
    """``num_perm`` multiply-shift hash functions, seeded, applied as one matrix op.

    h_i(x) = (a_i * x + b_i) mod 2**64 >> 32 with odd a_i: a universal family
    that needs no modulo, so a signature is one broadcast multiply-add and a
    column minimum.
    """

    def __init__(self, num_perm: int = 48, seed: int = 1):
        if num_perm < 1:
            raise ValueError(f"num_perm must be >= 1, got {num_perm}")
        rng = np.random.default_rng(seed)
        self.num_perm = num_perm
        self._a = rng.integers(1, 2**63, size=num_perm, dtype=np.uint64) * _U64(2) + _U64(1)
        self._b = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)

    def signature(self, hashes: np.ndarray) -> np.ndarray:
        """uint32[num_perm] signature of a non-empty array of shingle hashes."""
        if hashes.size == 0:
            raise ValueError("cannot sign an empty shingle set")
        products = hashes[:, None] * self._a[None, :] + self._b[None, :]
        return (products >> _U64(32)).min(axis=0).astype(np.uint32)


def band_keys(signature: np.ndarray, bands: int, rows: int) -> list[str]:
    """One key per LSH band: band index + the band's rows as hex.

    The band index is part of the key so that equal row values in different
    bands do not collide.
    """
    if bands * rows > len(signature):
        raise ValueError(f"{bands} bands x {rows} rows need {bands * rows} permutations")
    raw = signature[: bands * rows].astype(">u4").tobytes()
    width = rows * 4
    return [f"{band:02d}{raw[band * width:(band + 1) * width].hex()}" for band in range(bands)]


def estimate_jaccard(first: np.ndarray, second: np.ndarray) -> float:
    """Fraction of equal signature positions: an unbiased Jaccard estimate."""
    return float(np.count_nonzero(first == second)) / len(first)


def _intersection_size(first: np.ndarray, second: np.ndarray) -> int:
    if first.size == 0 or second.size == 0:
        return 0
    return int(np.intersect1d(first, second, assume_unique=True).size)


def jaccard(first: np.ndarray, second: np.ndarray) -> float:
    """Jaccard similarity of two sorted unique shingle-hash arrays."""
    union = first.size + second.size
    if union == 0:
        return 0.0
    inter = _intersection_size(first, second)
    return inter / (union - inter)


def containment(inner: np.ndarray, outer: np.ndarray) -> float:
    """Share of ``inner``'s shingles that are also in ``outer``."""
    if inner.size == 0:
        return 0.0
    return _intersection_size(inner, outer) / inner.size


def lsh_candidate_probability(similarity: float, bands: int, rows: int) -> float:
    """Probability that two bodies with Jaccard ``similarity`` share a band."""
    return 1.0 - (1.0 - similarity**rows) ** bands

