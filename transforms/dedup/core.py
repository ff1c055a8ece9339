"""The pure core of deduplication: fingerprints, comparison and decision.

In: ``Story`` records and a ``DedupConfig``. Out: ``Fingerprint``s,
``Match``es and ``DedupInfo`` decisions (``UNIQUE``, ``DUPLICATE``,
``NEAR_DUPLICATE``, ``UPDATE``); ``SequentialDeduplicator`` applies them in
(event time, id) order. Guarantees: no Beam, no I/O; the same stories in the
same order give the same decisions.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional

import numpy as np

from transforms.dedup import minhash
from transforms.model import DeadLetter, DeadLetterReason, DedupInfo, Story, now_millis
from transforms.text import content_hash as compute_content_hash, count_words, fold_for_hash

__all__ = [
    "DedupConfig",
    "Fingerprint",
    "SequentialDeduplicator",
    "STATEFUL_STEP_NAMES",
    "signature_dead_letter",
    "DEDUP_ORDERS",
    "EVENT_TIME_ORDER",
    "ARRIVAL_ORDER",
    "UNIQUE",
    "DUPLICATE",
    "NEAR_DUPLICATE",
    "UPDATE",
    "fingerprint",
    "headline_identity",
    "update_level",
]

_LOG = logging.getLogger(__name__)


UNIQUE = "UNIQUE"
DUPLICATE = "DUPLICATE"
NEAR_DUPLICATE = "NEAR_DUPLICATE"
UPDATE = "UPDATE"

NAMESPACE = "wire_ingest"
STAGE = "dedup"

#: Labels of the stateful steps inside ``DeduplicateStories`` (streaming):
#: the band-bucket index and the one-key cluster ledger. Flink restores
#: operator state by name: keep these labels (and the composite's own label
#: in the pipeline) stable across releases. Beam's Flink job server names a
#: fused stateful stage after its input, so the labels of the steps feeding
#: them (``FingerprintStories``, ``StoriesAndMatches``) are part of the
#: contract too. (They replaced the single ``DedupLedger`` before the first
#: release; a savepoint with ``DedupLedger`` state does not restore into them.)
STATEFUL_STEP_NAMES = ("DedupBandIndex", "DedupClusterLedger")
#: How streaming dedup orders stories: by event time once the watermark
#: passes them (``transforms.dedup.streaming``), or as they arrive
#: (``transforms.dedup.arrival``).
EVENT_TIME_ORDER, ARRIVAL_ORDER = DEDUP_ORDERS = ("event-time", "arrival")

_MODES = ("mark", "drop")
_VERIFY = ("exact", "minhash")
#: Contained shingle sets smaller than this do not count as trimmed/grown copies.
_MIN_CONTAINED_SHINGLES = 8
_LEDGER_KEY = "ledger"


# --------------------------------------------------------------------------
# Configuration and pure logic (no Beam)
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class DedupConfig:
    """Validated dedup options; see ``DeduplicateStories`` for their meaning."""

    mode: str = "mark"
    horizon_seconds: int = 72 * 3600
    threshold: float = 0.8
    shingle_size: int = 5
    num_perm: int = 48
    bands: int = 16
    rows: int = 3
    containment: Optional[float] = 0.9
    update_threshold: Optional[float] = 0.5
    verify: str = "exact"
    seed: int = 1
    short_body_words: int = 20

    def __post_init__(self) -> None:
        if self.mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {self.mode!r}")
        if not isinstance(self.horizon_seconds, int) or self.horizon_seconds <= 0:
            raise ValueError(f"horizon_seconds must be a positive int, got {self.horizon_seconds!r}")
        for name in ("threshold", "containment", "update_threshold"):
            value = getattr(self, name)
            if value is None and name != "threshold":
                continue  # that rule is off
            if not isinstance(value, (int, float)) or not 0.0 < value <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {value!r}")
        if not isinstance(self.shingle_size, int) or not 1 <= self.shingle_size <= 8:
            raise ValueError(f"shingle_size must be an int in 1..8, got {self.shingle_size!r}")
        for name in ("num_perm", "bands", "rows"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.bands * self.rows > self.num_perm:
            raise ValueError(
                f"bands x rows ({self.bands} x {self.rows}) must not exceed num_perm ({self.num_perm})"
            )
        if self.verify not in _VERIFY:
            raise ValueError(f"verify must be one of {_VERIFY}, got {self.verify!r}")
        if (not isinstance(self.short_body_words, int) or isinstance(self.short_body_words, bool)
                or self.short_body_words < 0):
            raise ValueError(f"short_body_words must be an int >= 0, got {self.short_body_words!r}")

    @property
    def horizon_millis(self) -> int:
        return self.horizon_seconds * 1000


_HEADLINE_UPDATE = re.compile(r"\b(?:UPDATE|Update)\s?-?\s?(\d{1,2})\b")
_HEADLINE_CORRECTION = re.compile(
    r"\b(?:CORRECTED|CORRECTION|Corrected|Correction|REFILE|REFILED|Refile|RECASTS?)\b"
)
_SLUG_NUMBER = re.compile(
    r"(?:^|[-\s_])(\d{1,2})(?:ST|ND|RD|TH)?[-\s_]?(?:LD|LEAD|TAKE|ADD|UPDATE|WRITETHRU|WRITETHROUGH)\b"
    r"|\b(?:UPDATE|TAKE|ADD|LEAD|WRITETHRU|WRITETHROUGH)[-\s_]?(\d{1,2})\b",
    re.IGNORECASE,
)


def update_level(headline: str, slugline: Optional[str] = None, version: Optional[str] = None) -> int:
    """How many times a story says it was re-sent: 0 for an original.

    ``UPDATE 2`` in the headline is 2, ``CORRECTED``/``REFILE`` at least 1,
    a slugline take or lead number (``BC-OIL-2NDLD``, ``UPDATE-3``) that
    number, ``Story.version`` "3" (1 is the original) 2. The maximum wins.
    """
    level = 0
    headline = headline or ""
    match = _HEADLINE_UPDATE.search(headline)
    if match:
        level = max(level, int(match.group(1)))
    if _HEADLINE_CORRECTION.search(headline):
        level = max(level, 1)
    if slugline:
        match = _SLUG_NUMBER.search(slugline)
        if match:
            level = max(level, int(match.group(1) or match.group(2)))
    if version and version.strip().isdigit():
        level = max(level, int(version.strip()) - 1)
    return level


def headline_identity(headline: str) -> str:
    """The headline as it tells short bodies apart: folded like a body, with
    the version markers ``update_level`` reads taken out, so that
    ``CORRECTED - ACME SETS PAYOUT`` is the same story as ``ACME SETS
    PAYOUT`` (and an ``UPDATE`` of it) while ``BRAXTON MILLS SETS PAYOUT``
    is another."""
    unmarked = _HEADLINE_CORRECTION.sub(" ", _HEADLINE_UPDATE.sub(" ", headline or ""))
    return fold_for_hash(unmarked)


def _short_body_key(identity: str, folded_body: str) -> str:
    """Exact key of a short body: hex SHA-256 of its headline identity and
    folded body (never equal to a ``content_hash``, which hashes a body alone)."""
    data = "short\0" + identity + "\0" + folded_body
    return hashlib.sha256(data.encode("utf-8", "surrogatepass")).hexdigest()


def _headline_salt(identity: str) -> int:
    """64-bit salt of a short body's shingles: its headline identity's hash."""
    digest = hashlib.blake2b(identity.encode("utf-8", "surrogatepass"), digest_size=8,
                             person=b"wi-headline").digest()
    return int.from_bytes(digest, "little")


_EMPTY = np.empty(0, dtype=np.uint64)


@dataclass(frozen=True)
class Fingerprint:
    """What dedup keeps of a story: small, picklable, no body text."""

    story_id: str
    event_time: int  # millis
    # The exact-copy key: the body's content hash; for a short body, a hash of
    # headline and body (``_short_body_key``); "" for an empty body: never an
    # exact duplicate.
    content_hash: str
    shingles: np.ndarray  # sorted unique uint64 shingle hashes (salted for a short body), maybe empty
    signature: Optional[np.ndarray]  # uint32[num_perm]; None without shingles
    level: int

    @property
    def order(self) -> tuple[int, str]:
        return (self.event_time, self.story_id)

    @property
    def entry(self) -> tuple[int, str, int]:
        """What a bucket keeps: (event time, id, update level)."""
        return (self.event_time, self.story_id, self.level)

    def stub(self) -> "Fingerprint":
        """The fingerprint without shingles and signature, for the ledger."""
        return dataclasses.replace(self, shingles=_EMPTY, signature=None)


def fingerprint(story: Story, config: DedupConfig, hasher: minhash.MinHasher) -> Fingerprint:
    """Shingles, signature and markers of one story.

    A body of fewer than ``config.short_body_words`` words is identified with
    its headline: its exact key hashes headline and body, and its shingles are
    salted with the headline, so stories under different headlines never
    match on a few words that many stories share.

    Raises (TypeError, ValueError, ...) when the story cannot be signed; the
    caller dead-letters it.
    """
    if not isinstance(story.body, str):
        raise TypeError(f"story body is {type(story.body).__name__}, not str")
    if not isinstance(story.event_time, int):
        raise TypeError(f"story event_time is {type(story.event_time).__name__}, not int")
    folded = fold_for_hash(story.body)
    # Words as the record's word_count counts them: folding splits "1,200,000"
    # into three, which made an earnings brief of 14 words look long.
    short = bool(folded) and count_words(story.body) < config.short_body_words
    if not folded:
        digest = ""
    elif short:
        if not isinstance(story.headline, str):
            raise TypeError(f"story headline is {type(story.headline).__name__}, not str")
        identity = headline_identity(story.headline)
        digest = _short_body_key(identity, folded)
    else:
        digest = story.content_hash or compute_content_hash(story.body)
    shingles = minhash.shingle_hashes(folded, config.shingle_size)
    if short and shingles.size:
        shingles = minhash.salted(shingles, _headline_salt(identity))
    signature = hasher.signature(shingles) if shingles.size else None
    return Fingerprint(
        story_id=story.id,
        event_time=story.event_time,
        content_hash=digest,
        shingles=shingles,
        signature=signature,
        # The normalizer takes 'UPDATE 2-' / 'CORRECTED-' off the headline
        # into editorial_markers: they are read with it.
        level=update_level(" ".join((*story.editorial_markers, story.headline)),
                           story.slugline, story.version),
    )


def signature_dead_letter(story: Story, error: Exception) -> DeadLetter:
    """The dead letter of a story whose fingerprint cannot be computed (the
    streaming steps' ``dead_letter_dedup``)."""
    return DeadLetter(
        raw=story.body.encode("utf-8", "replace") if isinstance(story.body, str) else b"",
        source=story.source, stage=STAGE, reason=DeadLetterReason.ERROR,
        error=f"cannot compute dedup signature: {type(error).__name__}: {error}",
        failed_at=now_millis(), format=story.format)


def index_keys(fp: Fingerprint, config: DedupConfig) -> list[str]:
    """State keys this story is indexed under: one per LSH band, plus its hash."""
    keys = []
    if fp.content_hash:
        keys.append("x" + fp.content_hash)
    if fp.signature is not None:
        keys.extend("b" + key for key in minhash.band_keys(fp.signature, config.bands, config.rows))
    return keys


def _is_exact_key(key: str) -> bool:
    return key.startswith("x")


def _within_horizon(candidate: tuple, story: tuple, horizon_millis: int) -> bool:
    """``candidate`` is strictly before ``story`` (by event time, then id) and
    at most a horizon older. Both start with (event time, id)."""
    return (candidate[0], candidate[1]) < (story[0], story[1]) and story[0] - candidate[0] <= horizon_millis


def bucket_step(key: str, fp: "Fingerprint", known: list, horizon_millis: int):
    """What one bucket says about ``fp``: (exact match or None, candidate ids).

    ``known`` holds the bucket's entries (event time, id, level); the caller
    appends ``fp``'s entry afterwards.
    """
    earlier = [entry for entry in known if _within_horizon(entry, fp.order, horizon_millis)]
    if not earlier:
        return None, []
    if _is_exact_key(key):
        first = min(earlier)
        return (
            Match(
                story_id=fp.story_id,
                story_time=fp.event_time,
                candidate_id=first[1],
                candidate_time=first[0],
                exact=True,
                similarity=1.0,
                candidate_level=first[2],
            ),
            [],
        )
    return None, [entry[1] for entry in earlier]


@dataclass(frozen=True)
class Match:
    """A confirmed pair: ``story_id`` (later) matches ``candidate_id`` (earlier)."""

    story_id: str
    story_time: int
    candidate_id: str
    candidate_time: int
    exact: bool
    similarity: float
    # Share of the candidate's shingles found in the story (growing body) and
    # of the story's shingles found in the candidate (trimmed copy).
    grown: float = 0.0
    trimmed: float = 0.0
    story_size: int = 0
    candidate_size: int = 0
    candidate_level: int = 0


def compare(story: Fingerprint, candidate: Fingerprint, config: DedupConfig) -> Optional[Match]:
    """The pair's similarities, or None when it cannot be any kind of match."""
    if story.signature is None or candidate.signature is None:
        return None
    size_s, size_c = story.shingles.size, candidate.shingles.size
    if config.verify == "minhash":
        similarity = minhash.estimate_jaccard(story.signature, candidate.signature)
        inter = similarity * (size_s + size_c) / (1.0 + similarity)
    else:
        inter = float(np.intersect1d(story.shingles, candidate.shingles, assume_unique=True).size)
        similarity = inter / (size_s + size_c - inter)
    grown = min(1.0, inter / size_c) if size_c >= _MIN_CONTAINED_SHINGLES else 0.0
    trimmed = min(1.0, inter / size_s) if size_s >= _MIN_CONTAINED_SHINGLES else 0.0
    weakest = min(config.threshold, config.update_threshold or 1.0)
    contained = config.containment is not None and max(grown, trimmed) >= config.containment
    if similarity < weakest and not contained:
        return None
    return Match(
        story_id=story.story_id,
        story_time=story.event_time,
        candidate_id=candidate.story_id,
        candidate_time=candidate.event_time,
        exact=False,
        similarity=round(similarity, 6),
        grown=grown,
        trimmed=trimmed,
        story_size=size_s,
        candidate_size=size_c,
        candidate_level=candidate.level,
    )


def classify(story: Fingerprint, match: Match, config: DedupConfig) -> Optional[str]:
    """The status ``story`` gets from one match, or None if the match is too weak."""
    newer = story.level > match.candidate_level
    if match.exact:
        return UPDATE if newer else DUPLICATE
    if match.similarity >= config.threshold:
        return UPDATE if newer else NEAR_DUPLICATE
    if newer and config.update_threshold is not None and match.similarity >= config.update_threshold:
        return UPDATE
    if config.containment is None:
        return None
    if match.grown >= config.containment and match.story_size > match.candidate_size:
        return UPDATE
    if match.trimmed >= config.containment and match.story_size < match.candidate_size:
        return NEAR_DUPLICATE
    return None


def decide(
    story: Fingerprint,
    matches: Iterable[Match],
    ledger: dict[str, tuple[str, int]],
    config: DedupConfig,
) -> DedupInfo:
    """One status for ``story`` from all its matches, and record it in ``ledger``.

    ``ledger`` maps the id of every earlier story inside the horizon to
    (cluster id, event time); it is updated in place, so call this in
    (event time, id) order.
    """
    best: Optional[tuple[tuple, Match, str]] = None
    seen = set()
    for match in matches:
        if match.candidate_id in seen and not match.exact:
            continue
        seen.add(match.candidate_id)
        status = classify(story, match, config)
        if status is None:
            continue
        similarity = 1.0 if match.exact else match.similarity
        rank = (not match.exact, -similarity, match.candidate_time, match.candidate_id)
        if best is None or rank < best[0]:
            best = (rank, match, status)
    if best is None:
        info = DedupInfo(status=UNIQUE, cluster_id=story.story_id)
    else:
        _, match, status = best
        cluster = ledger.get(match.candidate_id, (match.candidate_id, match.candidate_time))[0]
        info = DedupInfo(
            status=status,
            cluster_id=cluster,
            duplicate_of=match.candidate_id,
            similarity=1.0 if match.exact else match.similarity,
        )
    ledger[story.story_id] = (info.cluster_id, story.event_time)
    return info


def prune_ledger(ledger: dict[str, tuple[str, int]], now_millis_: int, horizon_millis: int) -> None:
    """Forget stories older than the horizon (the ledger is in event-time order)."""
    cutoff = now_millis_ - horizon_millis
    while ledger:
        first = next(iter(ledger))
        if ledger[first][1] >= cutoff:
            break
        del ledger[first]


class SequentialDeduplicator:
    """The same algorithm without Beam, one story at a time in event-time order.

    The reference for tests and the evaluation; state is bounded the same way
    as in the pipeline (buckets, fingerprints and ledger forget stories older
    than the horizon).
    """

    def __init__(self, config: Optional[DedupConfig] = None):
        self.config = config or DedupConfig()
        self.hasher = minhash.MinHasher(self.config.num_perm, self.config.seed)
        self.buckets: dict[str, list[tuple[int, str]]] = {}
        self.fingerprints: dict[str, Fingerprint] = {}
        self.ledger: dict[str, tuple[str, int]] = {}
        self._expiry: list[tuple[int, str, list[str]]] = []  # (time, id, keys) in order

    def add(self, story: Story) -> DedupInfo:
        """Status of ``story``; call in (event_time, id) order."""
        return self.add_fingerprint(fingerprint(story, self.config, self.hasher))

    def add_fingerprint(self, fp: Fingerprint, keys: Optional[list[str]] = None) -> DedupInfo:
        """Status of the story ``fp`` was made from (``keys``: its
        ``index_keys``, when already computed); call in (event_time, id) order.

        The sequential part of ``add``: the batch pipeline computes
        fingerprints and keys in parallel and walks only this.
        """
        config = self.config
        self._expire(fp.event_time)
        matches = []
        candidates = set()
        if keys is None:
            keys = index_keys(fp, config)
        entry = fp.entry
        for key in keys:
            bucket = self.buckets.get(key)
            if bucket is None:
                self.buckets[key] = [entry]
                continue
            exact, found = bucket_step(key, fp, bucket, config.horizon_millis)
            if exact is not None:
                matches.append(exact)
            candidates.update(found)
            bucket.append(entry)
        for candidate_id in sorted(candidates):
            match = compare(fp, self.fingerprints[candidate_id], config)
            if match is not None:
                matches.append(match)
        self.fingerprints[fp.story_id] = fp
        self._expiry.append((fp.event_time, fp.story_id, keys))
        info = decide(fp, matches, self.ledger, config)
        prune_ledger(self.ledger, fp.event_time, config.horizon_millis)
        return info

    def remember(self, fp: Fingerprint, cluster_id: str) -> None:
        """Take in the story ``fp`` was made from as already decided, into
        ``cluster_id``, without deciding it again: a ledger rebuilt from a log
        (the cluster's first story may be past the horizon by now). Call in
        (event_time, id) order, as ``add``."""
        self._expire(fp.event_time)
        keys = index_keys(fp, self.config)
        entry = fp.entry
        for key in keys:
            self.buckets.setdefault(key, []).append(entry)
        self.fingerprints[fp.story_id] = fp
        self._expiry.append((fp.event_time, fp.story_id, keys))
        self.ledger[fp.story_id] = (cluster_id, fp.event_time)

    def remembered(self) -> Iterator[tuple[Fingerprint, str]]:
        """(fingerprint, cluster id) of every story inside the horizon, in the
        order they were taken in: what ``remember`` needs to rebuild this ledger."""
        for _, story_id, _keys in self._expiry:
            fp = self.fingerprints.get(story_id)
            if fp is not None:
                yield fp, self.ledger.get(story_id, (story_id, 0))[0]

    def _expire(self, now: int) -> None:
        cutoff = now - self.config.horizon_millis
        dropped = 0
        while dropped < len(self._expiry) and self._expiry[dropped][0] < cutoff:
            _, story_id, keys = self._expiry[dropped]
            self.fingerprints.pop(story_id, None)
            for key in keys:
                bucket = self.buckets.get(key)
                if bucket is not None:
                    if bucket[0][1] == story_id:  # entries expire in the order they came
                        del bucket[0]
                    else:
                        bucket[:] = [entry for entry in bucket if entry[1] != story_id]
                    if not bucket:
                        del self.buckets[key]
            dropped += 1
        if dropped:
            del self._expiry[:dropped]


def warm_deduplicator(config: DedupConfig, known: Iterable[Story]) -> "SequentialDeduplicator":
    """A ledger that has already seen ``known`` (in event-time order)."""
    deduplicator = SequentialDeduplicator(config)
    for story in sorted(known, key=lambda story: (story.event_time, story.id)):
        try:
            deduplicator.add(story)
        except Exception:  # noqa: BLE001 - a record we cannot fingerprint just isn't remembered
            _LOG.warning("dedup: cannot remember earlier story %s", story.id)
    return deduplicator
