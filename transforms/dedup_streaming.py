"""Streaming dedup with its state keyed by LSH band bucket.

Contract
--------
``band_keyed_dedup(stories, config, known, dead_letter_tag)`` is the
unbounded branch of ``transforms.dedup.DeduplicateStories`` (which counts
and routes its output). In: ``Story`` records whose element timestamps are
their event times, in any order and any bundling. Out: a dict with
``"marked"`` (every story once, with ``dedup`` set, at its own timestamp)
and ``dead_letter_tag`` (a ``DeadLetter`` for every story whose signature
cannot be computed). For stories that are not late (event time at or ahead
of the watermark when they arrive) the statuses, ``duplicate_of`` and
``cluster_id`` are exactly those of ``SequentialDeduplicator`` (and so of
the batch branch) over the same stories in (event time, id) order.

Design
------
Three steps; only the first two hold state.

1. ``FingerprintStories`` (stateless): shingles, MinHash signature and
   version level of each story (``transforms.dedup.fingerprint``), or a dead
   letter. It sends the fingerprint to each of the story's index keys (one
   per LSH band, ``"b<band><rows hex>"``, and ``"x<content hash>"`` for the
   exact copy) and a stub (id, event time, level: no shingles) with the
   story to the cluster ledger.
2. ``DedupBandIndex`` (keyed by band bucket or content hash; the heavy
   state): a bag of the fingerprints in that bucket. A fingerprint arriving
   at a bucket is paired with every entry there whose event time is within
   the horizon of its own, in *both* directions (the later story of a pair
   may arrive first), so the pairs found do not depend on the arrival order.
   A band bucket verifies a pair (exact Jaccard on the shingle hashes,
   ``transforms.dedup.compare``) only if this band is the *lowest* band the
   two signatures share, so every pair is verified once however many bands
   it shares; an exact-hash bucket matches a story with the first earlier
   story of its bucket. A confirmed pair leaves as a ``Match`` timestamped at
   the later story's event time. One event-time timer per key, at the
   earliest entry's event time + horizon, removes entries the watermark has
   left a horizon behind, so the index holds only the stories inside the
   horizon; an empty bucket holds nothing.
3. ``DedupClusterLedger`` (one key; light): the decision. A story's
   ``cluster_id`` is the cluster of the story it matches, which was itself
   decided the same way, so decisions are sequential in event time and
   cannot be spread over keys without a cycle in the graph. This step holds
   only what the decision needs: a dict story id -> (cluster id, event time)
   of the stories inside the horizon (no shingles, no signatures), and, until
   the watermark passes them, the waiting stories and their matches. A story
   waits for the watermark (one event-time timer per distinct waiting event
   time, dynamic tags) because a match for it can still come from a bucket;
   once the watermark passes, every match with its timestamp has arrived,
   and the waiting stories are decided in (event time, id) order by
   ``transforms.dedup.decide``. A second timer forgets ledger entries a
   horizon old when no story comes to push them out.

Bounds (H = horizon, n = stories with event time inside H, b = bands): the
index holds about (b + 1) * n entries, b of them with the story's shingle
hashes and signature (each story's fingerprint is stored once per band, the
price of verifying a pair where it is found); the ledger holds n
(id, cluster id, event time) triples plus the stories the watermark has not
passed yet. Neither grows with the length of the stream.

Not guaranteed: a story that arrives *behind* the watermark (late) is
decided when it arrives, with the matches that reached the ledger by then,
and entries more than a horizon older than the watermark are gone; such a
story can come out ``UNIQUE`` where the batch branch would have linked it.
A record re-delivered with an id already in the ledger is ``DUPLICATE`` of
itself (in its first cluster), as in the batch branch; if it is re-sent with
a *different* body, its new bands may still propose matches, which the
ledger ignores.

Warm start: ``known`` stories (written by an earlier run into the same
output, at most a horizon old) are configuration, not input: the ledger
starts from their clusters (``warm_deduplicator``, as in batch) the first
time it runs, so a re-delivered copy finds its id there; each index worker
fingerprints them once in ``setup()`` and a bucket takes in its known
entries when a story reaches it (those a horizon older than that story are
not taken in), so new copies of known stories find them.

Only portable state and timers are used: ``BagState``,
``ReadModifyWriteState``, event-time ``TimerSpec`` (the ledger's release
timer with dynamic tags). The step labels are a Flink deploy contract
(``transforms.dedup.STATEFUL_STEP_NAMES``; deploy/flink/stateful-steps.txt).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Iterable, Iterator

import apache_beam as beam
import numpy as np
from apache_beam.coders import PickleCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import BagStateSpec, ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import Timestamp

from transforms import minhash
from transforms.dedup import (
    DUPLICATE,
    NAMESPACE,
    STAGE,
    STATEFUL_STEP_NAMES,
    DedupConfig,
    Fingerprint,
    Match,
    _within_horizon,
    compare,
    decide,
    fingerprint,
    prune_ledger,
    warm_deduplicator,
)
from transforms.model import DeadLetter, DeadLetterReason, DedupInfo, Story, now_millis

__all__ = [
    "band_keyed_dedup",
    "index_entries",
    "bucket_matches",
    "expire_entries",
    "BAND_INDEX_STEP",
    "CLUSTER_LEDGER_STEP",
]

_LOG = logging.getLogger(__name__)

BAND_INDEX_STEP, CLUSTER_LEDGER_STEP = STATEFUL_STEP_NAMES
#: Output tag of the fingerprint step towards the band index.
_INDEX = "index"
_LEDGER_KEY = "ledger"
#: Band number of the exact-copy key (content hash).
_EXACT = -1
_STATE_CODER = PickleCoder()
_MILLI = 1000  # micros


def band_keyed_dedup(
    stories: beam.PCollection, config: DedupConfig, known: Iterable[Story], dead_letter_tag: str
) -> dict:
    """Apply the streaming steps in the caller's composite (their labels are
    part of the deploy contract, so they sit directly inside it)."""
    known = tuple(known)
    fingerprinted = stories | "FingerprintStories" >> beam.ParDo(
        _FingerprintFn(config, dead_letter_tag)).with_outputs(dead_letter_tag, _INDEX, main=_LEDGER_KEY)
    matches = fingerprinted[_INDEX] | BAND_INDEX_STEP >> beam.ParDo(_BandIndexFn(config, known))
    marked = (
        (fingerprinted[_LEDGER_KEY], matches)
        | "StoriesAndMatches" >> beam.Flatten()
        | CLUSTER_LEDGER_STEP >> beam.ParDo(_ClusterLedgerFn(config, known))
    )
    return {"marked": marked, dead_letter_tag: fingerprinted[dead_letter_tag]}


# --------------------------------------------------------------------------
# Pure logic of one bucket (shared with bench/dedup_eval.py's memory mode)
# --------------------------------------------------------------------------


def index_entries(fp: Fingerprint, config: DedupConfig) -> list[tuple[str, int, Fingerprint]]:
    """(key, band, entry) for each bucket ``fp`` goes to: the content hash
    with a stub, each LSH band with the shingles and signature."""
    out = []
    if fp.content_hash:
        out.append(("x" + fp.content_hash, _EXACT, fp.stub()))
    if fp.signature is not None:
        entry = dataclasses.replace(fp, content_hash="")
        for band, key in enumerate(minhash.band_keys(fp.signature, config.bands, config.rows)):
            out.append(("b" + key, band, entry))
    return out


def _first_shared_band(first: np.ndarray, second: np.ndarray, config: DedupConfig) -> int:
    width = config.bands * config.rows
    same = (first[:width] == second[:width]).reshape(config.bands, config.rows).all(axis=1)
    return int(np.argmax(same)) if same.any() else -1


def bucket_matches(
    band: int, fp: Fingerprint, entries: list[Fingerprint], config: DedupConfig
) -> list[Match]:
    """The matches ``fp`` completes in a bucket that already holds ``entries``
    (none with ``fp``'s id), whatever order the stories arrived in.

    ``band`` is the LSH band of the bucket, or -1 for the content-hash bucket.
    """
    horizon = config.horizon_millis
    if band == _EXACT:
        # The exact match of a story is the first earlier story with its hash.
        everyone = entries + [fp]
        found = []
        for later in everyone:
            if later is not fp and not _within_horizon(fp.order, later.order, horizon):
                continue
            earlier = [e for e in everyone if _within_horizon(e.order, later.order, horizon)]
            if not earlier:
                continue
            first = min(earlier, key=lambda e: e.order)
            if later is fp or first is fp:
                found.append(Match(
                    story_id=later.story_id, story_time=later.event_time,
                    candidate_id=first.story_id, candidate_time=first.event_time,
                    exact=True, similarity=1.0, candidate_level=first.level))
        return found
    found = []
    for entry in entries:
        if _within_horizon(entry.order, fp.order, horizon):
            later, earlier = fp, entry
        elif _within_horizon(fp.order, entry.order, horizon):
            later, earlier = entry, fp
        else:
            continue
        if _first_shared_band(fp.signature, entry.signature, config) != band:
            continue  # a lower band the two share verifies this pair
        match = compare(later, earlier, config)
        if match is not None:
            found.append(match)
    return found


def expire_entries(entries: list[Fingerprint], watermark_millis: int, horizon_millis: int):
    """(entries to keep, number expired): an entry expires once the watermark
    is past its event time + horizon (no on-time story can pair with it)."""
    keep = [e for e in entries if e.event_time + horizon_millis >= watermark_millis]
    return keep, len(entries) - len(keep)


def _expiry_micros(event_time_millis: int, horizon_millis: int) -> int:
    """When an entry can go: 1 ms after its last on-time partner's event time."""
    return (event_time_millis + horizon_millis + 1) * _MILLI


# --------------------------------------------------------------------------
# DoFns
# --------------------------------------------------------------------------


class _FingerprintFn(beam.DoFn):
    """Fingerprint of each story, to its index keys and to the ledger."""

    def __init__(self, config: DedupConfig, dead_letter_tag: str):
        self._config = config
        self._dead_letter_tag = dead_letter_tag

    def setup(self):
        self._hasher = minhash.MinHasher(self._config.num_perm, self._config.seed)
        self._dead_letters = Metrics.counter(NAMESPACE, "dead_letter_dedup")

    def process(self, element, timestamp=beam.DoFn.TimestampParam) -> Iterator:
        story = element
        try:
            fp = fingerprint(story, self._config, self._hasher)
        except Exception as error:  # noqa: BLE001 - any failure dead-letters the story
            yield beam.pvalue.TaggedOutput(self._dead_letter_tag, DeadLetter(
                raw=story.body.encode("utf-8", "replace") if isinstance(story.body, str) else b"",
                source=story.source, stage=STAGE, reason=DeadLetterReason.ERROR,
                error=f"cannot compute dedup signature: {type(error).__name__}: {error}",
                failed_at=now_millis(), format=story.format))
            self._dead_letters.inc()
        else:
            for key, band, entry in index_entries(fp, self._config):
                yield beam.pvalue.TaggedOutput(_INDEX, (key, (band, entry)))
            yield (_LEDGER_KEY, _Waiting(timestamp.micros, fp.stub(), story))


@dataclasses.dataclass(frozen=True)
class _Waiting:
    """A story at the ledger, until the watermark passes it."""

    micros: int  # element timestamp, given back to the marked story
    fp: Fingerprint  # stub: id, event time, level
    story: Story

    @property
    def order(self) -> tuple:
        return self.fp.order


class _BandIndexFn(beam.DoFn):
    """One bucket per key: pairs each arriving fingerprint with the bucket's
    entries inside the horizon, verifies each pair in its lowest shared band,
    and forgets entries a horizon behind the watermark."""

    ENTRIES = BagStateSpec("entries", _STATE_CODER)
    NEXT_EXPIRY = ReadModifyWriteStateSpec("next_expiry", _STATE_CODER)
    EXPIRE = TimerSpec("expire", TimeDomain.WATERMARK)

    def __init__(self, config: DedupConfig, known: tuple = ()):
        self._config = config
        self._known = known

    def setup(self):
        hasher = minhash.MinHasher(self._config.num_perm, self._config.seed)
        self._known_entries: dict[str, list[Fingerprint]] = {}
        for story in self._known:
            try:
                fp = fingerprint(story, self._config, hasher)
            except Exception:  # noqa: BLE001 - a record we cannot fingerprint just isn't remembered
                _LOG.warning("dedup: cannot remember earlier story %s", story.id)
                continue
            for key, _, entry in index_entries(fp, self._config):
                self._known_entries.setdefault(key, []).append(entry)
        self._added = Metrics.counter(NAMESPACE, "dedup_index_entries_added")
        self._expired = Metrics.counter(NAMESPACE, "dedup_index_entries_expired")
        self._pairs = Metrics.counter(NAMESPACE, "dedup_pairs_matched")

    def process(
        self,
        element,
        entries=beam.DoFn.StateParam(ENTRIES),
        next_expiry=beam.DoFn.StateParam(NEXT_EXPIRY),
        expire=beam.DoFn.TimerParam(EXPIRE),
    ):
        key, (band, fp) = element
        horizon = self._config.horizon_millis
        held = list(entries.read())
        ids = {entry.story_id for entry in held}
        new = []
        for entry in self._known_entries.get(key, ()):
            if entry.story_id not in ids and entry.event_time + horizon >= fp.event_time:
                new.append(entry)  # a story an earlier run wrote: a candidate, already decided
                ids.add(entry.story_id)
        held.extend(new)
        if fp.story_id not in ids:
            for match in bucket_matches(band, fp, held, self._config):
                self._pairs.inc()
                yield TimestampedValue((_LEDGER_KEY, match), Timestamp(micros=match.story_time * _MILLI))
            new.append(fp)
        # else: the same record again: indexed once, the ledger marks the copy
        if new:
            self._remember(new, entries, next_expiry, expire)

    def _remember(self, new: list, entries, next_expiry, expire) -> None:
        for entry in new:
            entries.add(entry)
        self._added.inc(len(new))
        due = _expiry_micros(min(entry.event_time for entry in new), self._config.horizon_millis)
        current = next_expiry.read()
        if current is None or due < current:
            expire.set(Timestamp(micros=due))
            next_expiry.write(due)

    @on_timer(EXPIRE)
    def expire_old(
        self,
        fired=beam.DoFn.TimestampParam,
        entries=beam.DoFn.StateParam(ENTRIES),
        next_expiry=beam.DoFn.StateParam(NEXT_EXPIRY),
        expire=beam.DoFn.TimerParam(EXPIRE),
    ):
        horizon = self._config.horizon_millis
        keep, dropped = expire_entries(list(entries.read()), fired.micros // _MILLI, horizon)
        entries.clear()
        next_expiry.clear()
        self._expired.inc(dropped)
        if keep:
            for entry in keep:
                entries.add(entry)
            due = _expiry_micros(min(entry.event_time for entry in keep), horizon)
            expire.set(Timestamp(micros=due))
            next_expiry.write(due)


class _ClusterLedgerFn(beam.DoFn):
    """One key: decides waiting stories in (event time, id) order once the
    watermark has passed them, from their matches and the ledger of clusters
    inside the horizon."""

    WAITING = BagStateSpec("waiting", _STATE_CODER)
    LEDGER = ReadModifyWriteStateSpec("clusters", _STATE_CODER)
    RELEASE = TimerSpec("release", TimeDomain.WATERMARK)
    FORGET = TimerSpec("forget", TimeDomain.WATERMARK)

    def __init__(self, config: DedupConfig, known: tuple = ()):
        self._config = config
        self._known = known

    def setup(self):
        self._remembered = Metrics.counter(NAMESPACE, "dedup_ledger_entries_added")
        self._forgotten = Metrics.counter(NAMESPACE, "dedup_ledger_entries_expired")
        self._stale = Metrics.counter(NAMESPACE, "dedup_matches_unused")
        self._size = Metrics.distribution(NAMESPACE, "dedup_ledger_size")

    def process(
        self,
        element,
        waiting=beam.DoFn.StateParam(WAITING),
        release=beam.DoFn.TimerParam(RELEASE),
    ):
        _, record = element
        waiting.add(record)
        if isinstance(record, _Waiting):
            # One timer per distinct waiting event time: a watermark leap
            # releases every waiting story in one round.
            micros = record.fp.event_time * _MILLI
            release.set(Timestamp(micros=micros), dynamic_timer_tag=str(micros))

    @on_timer(RELEASE)
    def release_ready(
        self,
        fired=beam.DoFn.TimestampParam,
        waiting=beam.DoFn.StateParam(WAITING),
        ledger=beam.DoFn.StateParam(LEDGER),
        forget=beam.DoFn.TimerParam(FORGET),
    ):
        now = fired.micros // _MILLI
        records = list(waiting.read())
        ready = [r for r in records if isinstance(r, _Waiting) and r.fp.event_time <= now]
        if not ready:
            return  # released by an earlier timer of the same round
        matches: dict[str, list[Match]] = {}
        later = []
        for record in records:
            if isinstance(record, _Waiting):
                if record.fp.event_time > now:
                    later.append(record)
            elif record.story_time <= now:
                matches.setdefault(record.story_id, []).append(record)
            else:
                later.append(record)
        clusters = ledger.read()
        if clusters is None:  # first run: start from the clusters of what was written before
            clusters = warm_deduplicator(self._config, self._known).ledger
            self._remembered.inc(len(clusters))
        config = self._config
        for record in sorted(ready, key=lambda r: r.order):
            fp = record.fp
            seen = clusters.get(fp.story_id)
            found = matches.pop(fp.story_id, [])
            if seen is not None:
                # The same record again (re-delivered after a crash or a retry):
                # a copy of itself, in the cluster it was put in the first time.
                info = DedupInfo(status=DUPLICATE, cluster_id=seen[0], duplicate_of=fp.story_id,
                                 similarity=1.0)
            else:
                info = decide(fp, found, clusters, config)
                self._remembered.inc()
                before = len(clusters)
                prune_ledger(clusters, fp.event_time, config.horizon_millis)
                self._forgotten.inc(before - len(clusters))
            yield TimestampedValue(dataclasses.replace(record.story, dedup=info),
                                   Timestamp(micros=record.micros))
        self._stale.inc(sum(len(unused) for unused in matches.values()))
        self._size.update(len(clusters))
        ledger.write(clusters)
        waiting.clear()
        for record in later:
            waiting.add(record)
        self._set_forget(forget, clusters)

    @on_timer(FORGET)
    def forget_old(
        self,
        fired=beam.DoFn.TimestampParam,
        waiting=beam.DoFn.StateParam(WAITING),
        ledger=beam.DoFn.StateParam(LEDGER),
        forget=beam.DoFn.TimerParam(FORGET),
    ):
        """Forget clusters a horizon behind the watermark when no story came
        to push them out (never those a waiting story may still need)."""
        clusters = ledger.read() or {}
        records = list(waiting.read())
        now = fired.micros // _MILLI
        pending = [r.fp.event_time for r in records if isinstance(r, _Waiting)]
        if pending:
            now = min(now, min(pending))
        before = len(clusters)
        prune_ledger(clusters, now, self._config.horizon_millis)
        self._forgotten.inc(before - len(clusters))
        ledger.write(clusters)
        self._set_forget(forget, clusters)

    def _set_forget(self, forget, clusters: dict) -> None:
        if clusters:
            oldest = next(iter(clusters.values()))[1]  # decided in event-time order
            forget.set(Timestamp(micros=_expiry_micros(oldest, self._config.horizon_millis)))
