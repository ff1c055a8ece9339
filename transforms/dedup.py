"""Deduplicate agency copy: exact copies, near-duplicates and updates.

Contract
--------
``DeduplicateStories`` takes a ``PCollection[Story]`` whose element
timestamps are ``Story.event_time / 1000`` and returns a dict of
PCollections (keys are class constants):

- ``DeduplicateStories.STORIES`` (``"stories"``): every story with ``dedup``
  set (``mark`` mode), or only the ``UNIQUE`` ones (``drop`` mode).
- ``DeduplicateStories.DROPPED`` (``"dropped"``): in ``drop`` mode the
  non-``UNIQUE`` stories, already marked, so that an offset-commit stage can
  acknowledge them; empty in ``mark`` mode.
- ``DeduplicateStories.DEAD_LETTERS`` (``"dead_letters"``): a
  ``transforms.model.DeadLetter`` (stage ``"dedup"``) for every story whose
  signature cannot be computed. Nothing is dropped silently.

Each story is compared with the stories *before* it in event-time order
(ties broken by id) whose event time is at most ``horizon_seconds`` earlier:

- ``DUPLICATE``: same ``content_hash`` (body equal after folding case,
  whitespace and punctuation). Empty bodies are never duplicates of anything.
  A *short* body (fewer than ``short_body_words`` words, as ``word_count``
  counts them: "NIL",
  "Business nil.", a dealer's name, a dividend brief) cannot tell stories
  apart, so its exact key is its headline (folded, version markers off)
  with its body: two short stories with different headlines are never
  ``DUPLICATE``. The record's ``content_hash`` field keeps its meaning.
- ``NEAR_DUPLICATE``: Jaccard similarity of the word ``shingle_size``-shingles
  of the folded bodies >= ``threshold``, or a trimmed copy (at least
  ``containment`` of its shingles appear in the earlier story). Candidates
  come from MinHash LSH banding; the Jaccard is then computed on the stored
  shingle hashes (``verify="exact"``, default) or estimated from the
  signatures (``verify="minhash"``). Bodies with fewer words than a shingle
  are never near-duplicates (they are still exact-deduplicated). A short
  body's shingles are salted with its headline, so it is compared only with
  short bodies under the same headline (a corrected figure, ``UPDATE 1-``
  of a brief) and never with a story under another headline or with a
  long body.
- ``UPDATE``: a matched story that carries a higher version marker than the
  one it matches (``UPDATE 2``/``CORRECTED``/``REFILE`` in the headline, a
  take or lead number in the slugline, a higher ``Story.version``; then
  Jaccard >= ``update_threshold`` suffices), or a growing body that contains
  at least ``containment`` of the earlier story's shingles.

``duplicate_of`` is the earlier story matched (exact match first, then the
highest similarity, then the earliest); ``cluster_id`` is the id of the
canonical story of the cluster: the first by event time, which is ``UNIQUE``;
``similarity`` is the Jaccard (1.0 for ``DUPLICATE``, ``None`` for
``UNIQUE``).

How: a story's fingerprint is the MinHash signature of its shingles (our
numpy MinHash, see ``transforms/minhash.py``); LSH band buckets propose
candidates, which are confirmed on the stored shingle hashes. The reference
is ``SequentialDeduplicator``, one ordered ledger, because a story's cluster
depends on the decision about the earlier story it matches.

Guarantees: the same stories give the same statuses in batch and streaming,
whatever the bundling. Batch groups the run's stories and walks them in
(event time, id) order through ``SequentialDeduplicator``. Streaming
(unbounded input, or ``streaming=True``) runs ``transforms.dedup_streaming``:
the fingerprints live in keyed state, in a fixed set of LSH bucket shards
(their buckets: bands and content hash), where pairs are found and verified; a light one-key ledger of
cluster ids decides each story in (event time, id) order once the watermark
has passed it (stories that arrive behind the watermark go through when they
arrive). State is bounded by the horizon: event-time timers forget what is
older than ``horizon_seconds`` behind the watermark.

Stateful steps (Flink restores state by these names; never rename them):
``STATEFUL_STEP_NAMES``. Only portable state is used (``BagState``,
``ReadModifyWriteState``, event-time timers, dynamic tags on one).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import pickle
import re
from dataclasses import dataclass
from typing import Iterable, Iterator, NamedTuple, Optional, Tuple

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import Timestamp

from transforms import coders as _coders  # noqa: F401 - registers the Story coder
from transforms import minhash, telemetry
from transforms.model import DeadLetter, DeadLetterReason, DedupInfo, Story, now_millis
from transforms.text import content_hash as compute_content_hash
from transforms.text import count_words, fold_for_hash

__all__ = [
    "DeduplicateStories",
    "DedupConfig",
    "Fingerprint",
    "SequentialDeduplicator",
    "STATEFUL_STEP_NAMES",
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


# --------------------------------------------------------------------------
# Beam
# --------------------------------------------------------------------------


class DeduplicateStories(beam.PTransform):
    """Mark (or drop) exact copies, near-duplicates and updates of earlier stories.

    Args:
      mode: ``"mark"`` keeps every story and sets ``dedup``; ``"drop"`` emits
        only ``UNIQUE`` stories on ``STORIES`` and the rest on ``DROPPED``.
      horizon_seconds: how far back in event time a story is compared.
      threshold: Jaccard of word shingles from which a copy is a near-duplicate.
        0.8 by default: see bench/dedup_eval.py and the README.
      shingle_size: words per shingle.
      num_perm, bands, rows: MinHash permutations and LSH banding
        (``bands * rows <= num_perm``); 16 bands of 3 rows find pairs with
        Jaccard 0.8 with probability 0.99999 and 0.5 with 0.88.
      containment: share of shingles for a trimmed copy / growing body
        (None: off, near-duplicates by Jaccard only).
      update_threshold: Jaccard enough for a story with a higher version
        marker (None: markers only turn a near-duplicate into an UPDATE).
      verify: ``"exact"`` (Jaccard on stored shingle hashes) or ``"minhash"``.
      short_body_words: bodies with fewer words (folded) are identified with
        their headline, exactly and as near-duplicates (0: off). 20 by
        default: in Reuters-21578, different companies' dividend briefs of
        14 words ("Qtly div 20 cts vs 20 cts prior pay ...") are
        word-for-word equal.
      streaming: None (default) runs the band-keyed streaming steps on
        unbounded input and the grouped batch walk on bounded input; True
        forces the streaming steps (e.g. to test them on a batch runner).

    ``expand`` returns a dict of PCollections keyed by ``STORIES``,
    ``DROPPED`` and ``DEAD_LETTERS``.

    Raises:
      ValueError: naming the option, when an option is invalid.
    """

    STORIES = "stories"
    DROPPED = "dropped"
    DEAD_LETTERS = "dead_letters"

    def __init__(
        self,
        mode: str = "mark",
        horizon_seconds: int = 72 * 3600,
        threshold: float = 0.8,
        shingle_size: int = 5,
        num_perm: int = 48,
        bands: int = 16,
        rows: int = 3,
        containment: Optional[float] = 0.9,
        update_threshold: Optional[float] = 0.5,
        verify: str = "exact",
        label: Optional[str] = None,
        known_stories: Iterable[Story] = (),
        streaming: Optional[bool] = None,
        short_body_words: int = 20,
    ):
        super().__init__(label)
        self._streaming = streaming
        # Stories already written by an earlier run into the same output: the
        # ledger starts with them, so copies re-delivered after a crash are
        # marked, not written as new UNIQUE stories.
        self._known = tuple(known_stories)
        self.config = DedupConfig(
            mode=mode,
            horizon_seconds=horizon_seconds,
            threshold=threshold,
            shingle_size=shingle_size,
            num_perm=num_perm,
            bands=bands,
            rows=rows,
            containment=containment,
            update_threshold=update_threshold,
            verify=verify,
            short_body_words=short_body_words,
        )

    def expand(self, stories):
        config = self.config
        streaming = not stories.is_bounded if self._streaming is None else self._streaming
        if not streaming:
            marked = self._expand_bounded(stories)
        else:
            from transforms.dedup_streaming import band_keyed_dedup

            marked = band_keyed_dedup(stories, config, self._known, self.DEAD_LETTERS)
        routed = marked["marked"] | "CountAndRoute" >> beam.ParDo(
            _CountAndRouteFn(config.mode)).with_outputs(self.DROPPED, main=self.STORIES)
        return {
            self.STORIES: routed[self.STORIES],
            self.DROPPED: routed[self.DROPPED],
            self.DEAD_LETTERS: marked[self.DEAD_LETTERS],
        }

    def _expand_bounded(self, stories) -> dict:
        """Batch: fingerprints in parallel, one sequential walk of the ledger
        over fingerprints only, decisions joined back to the stories.

        Only the ledger entries (ids, times, hashes, shingle hashes, band
        keys: bytes) go through the one-key shuffle; the stories stay where
        they are and get their decision from a side input that holds only
        the stories that are not plainly ``UNIQUE``.
        """
        signed = stories | "FingerprintForLedger" >> beam.ParDo(_FingerprintFn(self.config)).with_output_types(
            Tuple[str, bytes], **{_TOKENED_STORIES: Tuple[bytes, Story]}
        ).with_outputs(_TOKENED_STORIES, main="entries")
        decisions = (
            signed["entries"]
            | "GroupForLedger" >> beam.GroupByKey()
            | "DedupInOrder" >> beam.ParDo(_DedupGroupFn(self.config, self._known))
        )
        return signed[_TOKENED_STORIES] | "MarkStories" >> beam.ParDo(
            _MarkStoriesFn(), beam.pvalue.AsDict(decisions)
        ).with_output_types(Story).with_outputs(self.DEAD_LETTERS, main="marked")


def warm_deduplicator(config: DedupConfig, known: Iterable[Story]) -> "SequentialDeduplicator":
    """A ledger that has already seen ``known`` (in event-time order)."""
    deduplicator = SequentialDeduplicator(config)
    for story in sorted(known, key=lambda story: (story.event_time, story.id)):
        try:
            deduplicator.add(story)
        except Exception:  # noqa: BLE001 - a record we cannot fingerprint just isn't remembered
            _LOG.warning("dedup: cannot remember earlier story %s", story.id)
    return deduplicator


_TOKENED_STORIES = "tokened_stories"
_SIGNATURE_ERROR = "cannot compute dedup signature: {}: {}"


class _LedgerEntry(NamedTuple):
    """What the batch ledger needs of one story, sent through the shuffle as bytes.

    ``token`` ties the entry to its story (two reads of one input give two
    stories with the same id); ``error`` is set, and the fingerprint fields
    empty, when the story could not be fingerprinted.
    """

    token: bytes
    story_id: str
    event_time: int
    content_hash: str = ""
    level: int = 0
    shingles: bytes = b""
    signature: Optional[bytes] = None
    keys: str = ""
    error: Optional[str] = None

    @classmethod
    def of(cls, token: bytes, fp: Fingerprint, keys: list[str]) -> "_LedgerEntry":
        signature = fp.signature.tobytes() if fp.signature is not None else None
        return cls(token, fp.story_id, fp.event_time, fp.content_hash, fp.level,
                   fp.shingles.tobytes(), signature, "\n".join(keys))

    def encode(self) -> bytes:
        return pickle.dumps(tuple(self), protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def decode(cls, data: bytes) -> "_LedgerEntry":
        return cls(*pickle.loads(data))

    def fingerprint(self) -> Fingerprint:
        signature = None if self.signature is None else np.frombuffer(self.signature, dtype=np.uint32)
        return Fingerprint(
            story_id=self.story_id, event_time=self.event_time, content_hash=self.content_hash,
            shingles=np.frombuffer(self.shingles, dtype=np.uint64), signature=signature,
            level=self.level)

    def index_keys(self) -> list[str]:
        return self.keys.split("\n") if self.keys else []


def _decide_in_order(deduplicator: "SequentialDeduplicator", entries: list[_LedgerEntry]) -> Iterator:
    """Walk ``entries`` through the ledger in (event time, id) order, as
    the retired single-key ledger walked stories; yields (token, decision) for every
    story whose decision is not the plain ``UNIQUE`` one: a ``DedupInfo``, or
    the error text of a story that goes to the dead letters."""
    entries.sort(key=lambda entry: (entry.event_time, entry.story_id, entry.token))
    for entry in entries:
        seen = deduplicator.ledger.get(entry.story_id)
        if seen is not None:
            # The same record again (re-delivered after a crash or a retry):
            # a copy of itself, in the cluster it was put in the first time.
            yield entry.token, DedupInfo(status=DUPLICATE, cluster_id=seen[0],
                                         duplicate_of=entry.story_id, similarity=1.0)
            continue
        if entry.error is not None:
            yield entry.token, entry.error
            continue
        try:
            info = deduplicator.add_fingerprint(entry.fingerprint(), entry.index_keys())
        except Exception as error:  # noqa: BLE001 - any failure dead-letters the story
            yield entry.token, _SIGNATURE_ERROR.format(type(error).__name__, error)
            continue
        if info != DedupInfo(status=UNIQUE, cluster_id=entry.story_id):
            yield entry.token, info


class _FingerprintFn(beam.DoFn):
    """Batch, in parallel: each story's ledger entry (main output, one key)
    and the story with the entry's token (``_TOKENED_STORIES``)."""

    def __init__(self, config: DedupConfig):
        self._config = config
        self._hasher: Optional[minhash.MinHasher] = None

    def setup(self) -> None:
        self._hasher = minhash.MinHasher(self._config.num_perm, self._config.seed)

    def process(self, story: Story) -> Iterator:
        token = os.urandom(8)
        try:
            fp = fingerprint(story, self._config, self._hasher)
            entry = _LedgerEntry.of(token, fp, index_keys(fp, self._config))
        except Exception as error:  # noqa: BLE001 - the ledger step dead-letters it, in order
            entry = _LedgerEntry(token, str(story.id), int(story.event_time) if isinstance(
                story.event_time, int) else 0, error=_SIGNATURE_ERROR.format(type(error).__name__, error))
        yield _LEDGER_KEY, entry.encode()
        yield beam.pvalue.TaggedOutput(_TOKENED_STORIES, (token, story))


class _DedupGroupFn(beam.DoFn):
    """Batch: the ledger entries of every story of the run, in event-time
    order, through one ledger; emits (token, decision) for the stories that
    are not plainly ``UNIQUE``."""

    def __init__(self, config: DedupConfig, known: tuple = ()):
        self._config = config
        self._known = known

    def process(self, element) -> Iterator:
        _, encoded = element
        entries = [_LedgerEntry.decode(data) for data in encoded]
        yield from _decide_in_order(warm_deduplicator(self._config, self._known), entries)


class _MarkStoriesFn(beam.DoFn):
    """Batch, in parallel: each story with its ledger decision (``UNIQUE``
    when the ledger sent none), timestamped with its event time; stories the
    ledger could not take go to the dead letters."""

    def setup(self) -> None:
        self._dead_letters = Metrics.counter(NAMESPACE, "dead_letter_dedup")

    def process(self, element, decisions) -> Iterator:
        token, story = element
        decision = decisions.get(token)
        if isinstance(decision, str):
            yield beam.pvalue.TaggedOutput(DeduplicateStories.DEAD_LETTERS, DeadLetter(
                raw=story.body.encode("utf-8", "replace") if isinstance(story.body, str) else b"",
                source=story.source, stage=STAGE, reason=DeadLetterReason.ERROR,
                error=decision, failed_at=now_millis(), format=story.format))
            self._dead_letters.inc()
            return
        info = decision if decision is not None else DedupInfo(status=UNIQUE, cluster_id=story.id)
        yield TimestampedValue(dataclasses.replace(story, dedup=info),
                               Timestamp(micros=story.event_time * 1000))


class _CountAndRouteFn(beam.DoFn):
    """Counts statuses; in drop mode sends non-UNIQUE stories to DROPPED."""

    def __init__(self, mode: str):
        self._mode = mode

    def setup(self):
        self._counters = {
            status: Metrics.counter(NAMESPACE, f"dedup_{status.lower()}")
            for status in (UNIQUE, DUPLICATE, NEAR_DUPLICATE, UPDATE)
        }
        self._dropped = Metrics.counter(NAMESPACE, "duplicates_dropped")

    def process(self, story: Story):
        status = story.dedup.status
        if self._mode == "drop" and status != UNIQUE:
            yield beam.pvalue.TaggedOutput(DeduplicateStories.DROPPED, story)
            self._dropped.inc()
            telemetry.count("duplicates_dropped", source_kind=story.source.kind, status=status)
        else:
            yield story
        self._counters[status].inc()
        telemetry.count("dedup_decisions", source_kind=story.source.kind, status=status)
