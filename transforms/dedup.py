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
- ``NEAR_DUPLICATE``: Jaccard similarity of the word ``shingle_size``-shingles
  of the folded bodies >= ``threshold``, or a trimmed copy (at least
  ``containment`` of its shingles appear in the earlier story). Candidates
  come from MinHash LSH banding; the Jaccard is then computed on the stored
  shingle hashes (``verify="exact"``, default) or estimated from the
  signatures (``verify="minhash"``). Bodies with fewer words than a shingle
  are never near-duplicates (they are still exact-deduplicated).
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

Guarantees: the same stories give the same statuses in batch and streaming,
whatever the bundling, because every stateful step buffers its input and
processes it sorted by (event time, id) once the watermark has passed it
(stories behind the watermark are processed when they arrive). State is
bounded by the horizon: band buckets and stored fingerprints expire on
event-time timers, the cluster ledger is pruned as event time advances.

Stateful steps (Flink restores state by these names; never rename them):
``STATEFUL_STEP_NAMES``. Only portable state is used (``BagState``,
``ReadModifyWriteState``, event-time timers).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Optional

import apache_beam as beam
import numpy as np
from apache_beam.coders import PickleCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import BagStateSpec, ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.transforms.window import GlobalWindow, TimestampedValue
from apache_beam.utils.timestamp import Timestamp

from transforms import minhash
from transforms.model import DeadLetter, DeadLetterReason, DedupInfo, Story, now_millis
from transforms.text import content_hash as compute_content_hash
from transforms.text import fold_for_hash

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
    "update_level",
]

_LOG = logging.getLogger(__name__)

UNIQUE = "UNIQUE"
DUPLICATE = "DUPLICATE"
NEAR_DUPLICATE = "NEAR_DUPLICATE"
UPDATE = "UPDATE"

NAMESPACE = "wire_ingest"
STAGE = "dedup"

#: Labels of the stateful steps inside ``DeduplicateStories``. Flink restores
#: operator state by name: keep these labels (and the composite's own label
#: in the pipeline) stable across releases. Beam's Flink job server names a
#: fused stateful stage after its input, so the labels of the steps feeding
#: them, ``SignStories`` and ``MergeLedgerInputs``, are part of the contract.
STATEFUL_STEP_NAMES = (
    "DedupIndexBands",
    "DedupResolveClusters",
)

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


_EMPTY = np.empty(0, dtype=np.uint64)


@dataclass(frozen=True)
class Fingerprint:
    """What dedup keeps of a story: small, picklable, no body text."""

    story_id: str
    event_time: int  # millis
    content_hash: str  # "" for an empty body: never an exact duplicate
    shingles: np.ndarray  # sorted unique uint64 shingle hashes, maybe empty
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

    Raises (TypeError, ValueError, ...) when the story cannot be signed; the
    caller dead-letters it.
    """
    if not isinstance(story.body, str):
        raise TypeError(f"story body is {type(story.body).__name__}, not str")
    if not isinstance(story.event_time, int):
        raise TypeError(f"story event_time is {type(story.event_time).__name__}, not int")
    folded = fold_for_hash(story.body)
    if folded:
        digest = story.content_hash or compute_content_hash(story.body)
    else:
        digest = ""
    shingles = minhash.shingle_hashes(folded, config.shingle_size)
    signature = hasher.signature(shingles) if shingles.size else None
    return Fingerprint(
        story_id=story.id,
        event_time=story.event_time,
        content_hash=digest,
        shingles=shingles,
        signature=signature,
        level=update_level(story.headline, story.slugline, story.version),
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
        config = self.config
        fp = fingerprint(story, config, self.hasher)
        self._expire(fp.event_time)
        matches = []
        candidates = set()
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
                    bucket[:] = [entry for entry in bucket if entry[1] != story_id]
                    if not bucket:
                        del self.buckets[key]
            dropped += 1
        if dropped:
            del self._expiry[:dropped]


# --------------------------------------------------------------------------
# Beam
# --------------------------------------------------------------------------


def _timestamp(millis: int, step: int = 0) -> Timestamp:
    """Beam time of an event time in millis, ``step`` microseconds later.

    A watermark at T still admits elements stamped T, so a step that releases
    stories of time T fires at T + 1 us and stamps what it emits with that
    time; the next step fires at T + 2 us. Outputs of ``DeduplicateStories``
    are stamped event time + 2 us: never late, and in the same millisecond.
    """
    return Timestamp(micros=millis * 1000 + step)


#: Microseconds after a story's event time at which each step releases it.
_INDEX_STEP, _LEDGER_STEP = 1, 2


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
    ):
        super().__init__(label)
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
        )

    def expand(self, stories):
        config = self.config
        signed = stories | "SignStories" >> beam.ParDo(_SignStoriesFn(config)).with_outputs(
            _SignStoriesFn.DEAD_LETTER, _SignStoriesFn.INDEX, main=_SignStoriesFn.LEDGER
        )
        found = signed[_SignStoriesFn.INDEX] | STATEFUL_STEP_NAMES[0] >> beam.ParDo(_IndexBandsFn(config))
        marked = (
            (signed[_SignStoriesFn.LEDGER], found)
            | "MergeLedgerInputs" >> beam.Flatten()
            | STATEFUL_STEP_NAMES[1] >> beam.ParDo(_ResolveClustersFn(config))
        )
        routed = marked | "CountAndRoute" >> beam.ParDo(_CountAndRouteFn(config.mode)).with_outputs(
            self.DROPPED, main=self.STORIES
        )
        return {
            self.STORIES: routed[self.STORIES],
            self.DROPPED: routed[self.DROPPED],
            self.DEAD_LETTERS: signed[_SignStoriesFn.DEAD_LETTER],
        }


# Kinds of ledger input.
_STORY, _MATCH, _CANDIDATES = "story", "match", "candidates"
_EXACT_INDEX = "exact"


class _SignStoriesFn(beam.DoFn):
    """Fingerprint each story; send it to the ledger and its band entries to the index."""

    LEDGER = "ledger"
    INDEX = "index"
    DEAD_LETTER = "dead_letter"

    def __init__(self, config: DedupConfig):
        self._config = config
        self._hasher: Optional[minhash.MinHasher] = None

    def setup(self):
        self._hasher = minhash.MinHasher(self._config.num_perm, self._config.seed)
        self._dead = Metrics.counter(NAMESPACE, "dead_letter_dedup")

    def process(self, story: Story):
        try:
            fp = fingerprint(story, self._config, self._hasher)
            keys = index_keys(fp, self._config)
        except Exception as error:  # noqa: BLE001 - any failure dead-letters the story
            body = story.body if isinstance(getattr(story, "body", None), str) else repr(story)
            yield beam.pvalue.TaggedOutput(
                self.DEAD_LETTER,
                DeadLetter(
                    raw=body.encode("utf-8", "replace"),
                    source=story.source,
                    stage=STAGE,
                    reason=DeadLetterReason.ERROR,
                    error=f"cannot compute dedup signature: {type(error).__name__}: {error}",
                    failed_at=now_millis(),
                    format=getattr(story, "format", None),
                ),
            )
            self._dead.inc()
            return
        at = _timestamp(fp.event_time)
        if self._config.verify != "minhash":
            fp = dataclasses.replace(fp, signature=None if fp.signature is None else _NO_SIGNATURE)
        yield TimestampedValue((_LEDGER_KEY, (_STORY, (story, fp))), at)
        for key in keys:
            # Keyed by band index (two digits) or "exact"; the bucket is the rest.
            index = _EXACT_INDEX if _is_exact_key(key) else key[1:3]
            yield beam.pvalue.TaggedOutput(self.INDEX, TimestampedValue((index, (fp.entry, key)), at))


# In "exact" verification the ledger needs only to know that a signature exists.
_NO_SIGNATURE = np.zeros(0, dtype=np.uint32)


class _OrderedBuffer:
    """Event-time ordered release shared by the stateful DoFns.

    Elements wait in a bag until the watermark passes their time, then are
    handed over sorted by the caller. ``release`` fires at the earliest
    waiting time; ``flush`` at the end of the global window, so that a bounded
    run releases everything in one round instead of one timer round per
    distinct timestamp.
    """

    @staticmethod
    def add(value, at_millis, step, buffer, earliest, release, flush):
        buffer.add(value)
        current = earliest.read()
        if current is None or at_millis < current:
            earliest.write(at_millis)
            release.set(_timestamp(at_millis, step))
            if current is None:
                flush.set(GlobalWindow().max_timestamp())

    @staticmethod
    def take(fire_millis, step, buffer, earliest, release, flush, time_of) -> list:
        """Waiting values with time <= ``fire_millis`` (all when None)."""
        waiting = list(buffer.read())
        if fire_millis is None:
            ready, rest = waiting, []
        else:
            ready = [value for value in waiting if time_of(value) <= fire_millis]
            rest = [value for value in waiting if time_of(value) > fire_millis]
        if not ready:
            return []
        buffer.clear()
        if rest:
            for value in rest:
                buffer.add(value)
            next_time = min(time_of(value) for value in rest)
            earliest.write(next_time)
            release.set(_timestamp(next_time, step))
        else:
            earliest.clear()
            release.clear()
            flush.clear()
        return ready


_STATE_CODER = PickleCoder()


def _expiry_delay(horizon_millis: int) -> int:
    """When to look for expired entries, after the oldest one's event time.

    A quarter of a horizon late: expiry then drops a quarter horizon's worth
    of stories at once (state holds at most 1.25 horizons), and a bounded run
    needs a few timer rounds per horizon of event time instead of one per
    story (every round is a bundle, and every bundle commits the state).
    """
    return horizon_millis + horizon_millis // 4 + 1


def _expiry_cutoff(fired: Timestamp, earliest, horizon_millis: int) -> int:
    """Entries older than this can match no story still to come.

    Stories still waiting may be older than the timer (in a bounded run every
    timer fires at the end), so the cutoff never passes the earliest of them.
    """
    now = fired.micros // 1000
    waiting = earliest.read()
    if waiting is not None:
        now = min(now, waiting)
    return now - horizon_millis


class _IndexBandsFn(beam.DoFn):
    """Keyed by LSH band index (and one ``exact`` key for content hashes).

    State per key: the buckets of that band, each the (event time, id,
    update level) of the stories inside the horizon that fell into it, and
    the same entries in event-time order for expiry. For each story, in
    (event time, id) order, emits to the ledger the earlier stories sharing a
    bucket: candidate ids for a band, the earliest exact copy for the hash.
    """

    BUFFER = BagStateSpec("buffer", _STATE_CODER)
    EARLIEST = ReadModifyWriteStateSpec("earliest", _STATE_CODER)
    INDEX = ReadModifyWriteStateSpec("index", _STATE_CODER)
    RELEASE = TimerSpec("release", TimeDomain.WATERMARK)
    FLUSH = TimerSpec("flush", TimeDomain.WATERMARK)
    EXPIRE = TimerSpec("expire", TimeDomain.WATERMARK)

    def __init__(self, config: DedupConfig):
        self._config = config

    @staticmethod
    def _time_of(value) -> int:
        return value[0][0]

    def process(
        self,
        element,
        buffer=beam.DoFn.StateParam(BUFFER),
        earliest=beam.DoFn.StateParam(EARLIEST),
        release=beam.DoFn.TimerParam(RELEASE),
        flush=beam.DoFn.TimerParam(FLUSH),
    ):
        _, value = element
        _OrderedBuffer.add(value, self._time_of(value), _INDEX_STEP, buffer, earliest, release, flush)

    @on_timer(RELEASE)
    def on_release(
        self,
        fired=beam.DoFn.TimestampParam,
        buffer=beam.DoFn.StateParam(BUFFER),
        earliest=beam.DoFn.StateParam(EARLIEST),
        index=beam.DoFn.StateParam(INDEX),
        release=beam.DoFn.TimerParam(RELEASE),
        flush=beam.DoFn.TimerParam(FLUSH),
        expire=beam.DoFn.TimerParam(EXPIRE),
    ):
        ready = _OrderedBuffer.take(
            fired.micros // 1000, _INDEX_STEP, buffer, earliest, release, flush, self._time_of
        )
        yield from self._index(ready, index, expire)

    @on_timer(FLUSH)
    def on_flush(
        self,
        buffer=beam.DoFn.StateParam(BUFFER),
        earliest=beam.DoFn.StateParam(EARLIEST),
        index=beam.DoFn.StateParam(INDEX),
        release=beam.DoFn.TimerParam(RELEASE),
        flush=beam.DoFn.TimerParam(FLUSH),
        expire=beam.DoFn.TimerParam(EXPIRE),
    ):
        ready = _OrderedBuffer.take(None, _INDEX_STEP, buffer, earliest, release, flush, self._time_of)
        yield from self._index(ready, index, expire)

    def _index(self, ready: list, index_state, expire) -> Iterator:
        if not ready:
            return
        horizon = self._config.horizon_millis
        index = index_state.read() or _BandIndex()
        for entry, key in sorted(ready):
            story = Fingerprint(entry[1], entry[0], "", _EMPTY, None, entry[2])
            bucket = index.buckets.setdefault(key, [])
            exact, candidates = bucket_step(key, story, bucket, horizon)
            at = _timestamp(entry[0], _INDEX_STEP)
            # One report per story and key, even empty: the ledger counts them.
            if exact is not None:
                yield TimestampedValue((_LEDGER_KEY, (_MATCH, exact)), at)
            else:
                yield TimestampedValue((_LEDGER_KEY, (_CANDIDATES, (entry[1], entry[0], candidates))), at)
            bucket.append(entry)
            index.order.append((entry[0], entry[1], key))
        index_state.write(index)
        expire.set(_timestamp(index.order[0][0] + _expiry_delay(horizon)))

    @on_timer(EXPIRE)
    def on_expire(
        self,
        fired=beam.DoFn.TimestampParam,
        earliest=beam.DoFn.StateParam(EARLIEST),
        index=beam.DoFn.StateParam(INDEX),
        expire=beam.DoFn.TimerParam(EXPIRE),
    ):
        state = index.read()
        if state is None:
            return
        horizon = self._config.horizon_millis
        if state.expire(_expiry_cutoff(fired, earliest, horizon)):
            if state.order:
                index.write(state)
            else:
                index.clear()
        if state.order:
            expire.set(_timestamp(max(state.order[0][0] + _expiry_delay(horizon), fired.micros // 1000 + 1)))


class _BandIndex:
    """The buckets of one band, and their entries in event-time order."""

    def __init__(self):
        self.buckets: dict[str, list[tuple[int, str, int]]] = {}
        self.order: list[tuple[int, str, str]] = []  # (event time, id, bucket)

    def expire(self, cutoff: int) -> bool:
        """Drop entries older than ``cutoff``; True if any was dropped."""
        old = 0
        while old < len(self.order) and self.order[old][0] < cutoff:
            old += 1
        if not old:
            return False
        for _, story_id, key in self.order[:old]:
            bucket = [entry for entry in self.buckets.get(key, ()) if entry[1] != story_id]
            if bucket:
                self.buckets[key] = bucket
            else:
                self.buckets.pop(key, None)
        del self.order[:old]
        return True


class _ResolveClustersFn(beam.DoFn):
    """One key: decides each story's status, in (event time, id) order.

    For each story it confirms the candidates the band index found against
    the stored shingles of earlier stories, picks the best match and takes
    its cluster id from the ledger (id -> cluster id) of earlier stories.
    This step is sequential by nature: a story's cluster is the cluster of
    the story it matches, which must be decided first. Its work per story is
    a few set intersections and dict operations; signing is done in parallel
    upstream. State: shingles and ledger entries of the stories inside the
    horizon, expired by an event-time timer and as event time advances.

    A story is decided once the watermark has passed its time and every index
    key it was sent to has reported (the index reports even when it found
    nothing), so the result does not depend on whether the runner holds the
    watermark for the index's timers (the BundleBasedDirectRunner does not).
    """

    BUFFER = BagStateSpec("buffer", _STATE_CODER)
    EARLIEST = ReadModifyWriteStateSpec("earliest", _STATE_CODER)
    PASSED = ReadModifyWriteStateSpec("passed", _STATE_CODER)
    MEMORY = ReadModifyWriteStateSpec("memory", _STATE_CODER)
    RELEASE = TimerSpec("release", TimeDomain.WATERMARK)
    FLUSH = TimerSpec("flush", TimeDomain.WATERMARK)
    EXPIRE = TimerSpec("expire", TimeDomain.WATERMARK)

    def __init__(self, config: DedupConfig):
        self._config = config

    @staticmethod
    def _time_of(item) -> int:
        kind, value = item
        if kind == _STORY:
            return value[1].event_time
        if kind == _MATCH:
            return value.story_time
        return value[1]

    def process(
        self,
        element,
        buffer=beam.DoFn.StateParam(BUFFER),
        earliest=beam.DoFn.StateParam(EARLIEST),
        passed=beam.DoFn.StateParam(PASSED),
        memory=beam.DoFn.StateParam(MEMORY),
        release=beam.DoFn.TimerParam(RELEASE),
        flush=beam.DoFn.TimerParam(FLUSH),
        expire=beam.DoFn.TimerParam(EXPIRE),
    ):
        _, item = element
        _OrderedBuffer.add(item, self._time_of(item), _LEDGER_STEP, buffer, earliest, release, flush)
        upto = passed.read()
        if upto is not None and self._time_of(item) <= upto:
            # The watermark is already past this story: a report it waited for.
            yield from self._release(upto, False, buffer, earliest, release, flush, memory, expire)

    @on_timer(RELEASE)
    def on_release(
        self,
        fired=beam.DoFn.TimestampParam,
        buffer=beam.DoFn.StateParam(BUFFER),
        earliest=beam.DoFn.StateParam(EARLIEST),
        passed=beam.DoFn.StateParam(PASSED),
        memory=beam.DoFn.StateParam(MEMORY),
        release=beam.DoFn.TimerParam(RELEASE),
        flush=beam.DoFn.TimerParam(FLUSH),
        expire=beam.DoFn.TimerParam(EXPIRE),
    ):
        upto = max(passed.read() or 0, fired.micros // 1000)
        passed.write(upto)
        yield from self._release(upto, False, buffer, earliest, release, flush, memory, expire)

    @on_timer(FLUSH)
    def on_flush(
        self,
        buffer=beam.DoFn.StateParam(BUFFER),
        earliest=beam.DoFn.StateParam(EARLIEST),
        memory=beam.DoFn.StateParam(MEMORY),
        release=beam.DoFn.TimerParam(RELEASE),
        flush=beam.DoFn.TimerParam(FLUSH),
        expire=beam.DoFn.TimerParam(EXPIRE),
    ):
        yield from self._release(None, True, buffer, earliest, release, flush, memory, expire)

    def _release(self, upto, final, buffer, earliest, release, flush, memory_state, expire) -> Iterator:
        """Decide the waiting stories up to time ``upto`` (all when None) whose
        reports are complete, in order; stop at the first incomplete one."""
        waiting = list(buffer.read())
        if not waiting:
            return
        config = self._config
        stories = []
        found: dict[str, list] = {}
        for item in waiting:
            kind, value = item
            if kind == _STORY:
                stories.append(value)
            else:
                story_id = value.story_id if kind == _MATCH else value[0]
                found.setdefault(story_id, []).append(item)
        stories.sort(key=lambda pair: pair[1].order)
        memory = memory_state.read() or _Memory()
        decided = 0
        for story, fp in stories:
            if upto is not None and fp.event_time > upto:
                break
            reports = found.get(fp.story_id, ())
            if len(reports) < _expected_reports(fp, config) and not final:
                break
            found.pop(fp.story_id, None)
            decided += 1
            matches = []
            candidates = set()
            for kind, value in reports:
                if kind == _MATCH:
                    matches.append(value)
                else:
                    candidates.update(value[2])
            for candidate_id in sorted(candidates):
                candidate = memory.fingerprints.get(candidate_id)
                if candidate is not None:
                    match = compare(fp, candidate, config)
                    if match is not None:
                        matches.append(match)
            info = decide(fp, matches, memory.ledger, config)
            memory.remember(fp)
            memory.expire(fp.event_time - config.horizon_millis)
            yield TimestampedValue(
                dataclasses.replace(story, dedup=info), _timestamp(fp.event_time, _LEDGER_STEP)
            )
        if decided:
            memory_state.write(memory)
            if memory.fingerprints or memory.ledger:
                expire.set(_timestamp(memory.oldest() + _expiry_delay(config.horizon_millis)))
        waiting_ids = {fp.story_id for _, fp in stories[decided:]}
        rest = [(_STORY, pair) for pair in stories[decided:]]
        for story_id, items in found.items():
            if story_id in waiting_ids or (not final and story_id not in memory.ledger):
                rest.extend(items)
            else:
                _LOG.warning("dedup: %d late index reports for story %s dropped", len(items), story_id)
        if len(rest) == len(waiting):
            return
        buffer.clear()
        for item in rest:
            buffer.add(item)
        later = [self._time_of(item) for item in rest if upto is None or self._time_of(item) > upto]
        if later:
            earliest.write(min(later))
            release.set(_timestamp(min(later), _LEDGER_STEP))
        elif rest:
            earliest.write(min(self._time_of(item) for item in rest))
        else:
            earliest.clear()
            release.clear()
            flush.clear()

    @on_timer(EXPIRE)
    def on_expire(
        self,
        fired=beam.DoFn.TimestampParam,
        earliest=beam.DoFn.StateParam(EARLIEST),
        memory=beam.DoFn.StateParam(MEMORY),
        expire=beam.DoFn.TimerParam(EXPIRE),
    ):
        state = memory.read()
        if state is None:
            return
        horizon = self._config.horizon_millis
        state.expire(_expiry_cutoff(fired, earliest, horizon))
        if state.fingerprints or state.ledger:
            memory.write(state)
            expire.set(_timestamp(max(state.oldest() + _expiry_delay(horizon), fired.micros // 1000 + 1)))
        else:
            memory.clear()


def _expected_reports(fp: Fingerprint, config: DedupConfig) -> int:
    """How many index keys report on a story: its hash and its bands."""
    return (1 if fp.content_hash else 0) + (config.bands if fp.signature is not None else 0)


class _Memory:
    """What the ledger remembers of the stories inside the horizon."""

    def __init__(self):
        self.fingerprints: dict[str, Fingerprint] = {}  # in event-time order
        self.ledger: dict[str, tuple[str, int]] = {}

    def remember(self, fp: Fingerprint) -> None:
        if fp.signature is not None:
            self.fingerprints[fp.story_id] = fp

    def expire(self, cutoff: int) -> None:
        while self.fingerprints:
            first = next(iter(self.fingerprints))
            if self.fingerprints[first].event_time >= cutoff:
                break
            del self.fingerprints[first]
        prune_ledger(self.ledger, cutoff, 0)

    def oldest(self) -> int:
        times = []
        if self.fingerprints:
            times.append(next(iter(self.fingerprints.values())).event_time)
        if self.ledger:
            times.append(next(iter(self.ledger.values()))[1])
        return min(times)


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
        else:
            yield story
        self._counters[status].inc()
