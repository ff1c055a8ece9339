"""Streaming dedup with its index state in a fixed set of LSH bucket shards.

Contract
--------
``band_keyed_dedup(stories, config, known, dead_letter_tag, shards)`` is the
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
Three steps; only the first two hold state. This module holds the Beam
steps; the layout of their state (buckets, postings, the index and ledger
blocks and their bytes, the block cache, merge and expiry helpers) is
``transforms.dedup.state_blocks``.

1. ``FingerprintStories`` (stateless): shingles, MinHash signature and
   version level of each story (``transforms.dedup.core.fingerprint``), or a dead
   letter. It sends the fingerprint to each index key that holds one of its
   buckets (``index_entries``), and a stub (id, event time, level: no
   shingles) with the story to the cluster ledger.
2. ``DedupBandIndex`` (the heavy state). A *fixed* set of ``shards`` keys
   (default ``INDEX_SHARDS``), ``"s<bucket value mod shards>"``, whatever
   the length of the stream: a story has one bucket per LSH band (a 64-bit
   value of the band number and rows) and one for its content hash, and
   goes once to each key that holds one of its buckets, with the list of
   those buckets (its *postings* there). A key holds the entries of many
   buckets; an arriving fingerprint is paired only with the entries of its
   own buckets (same band and value; same content hash for exact copies)
   whose event time is within the horizon of its own, in
   *both* directions (the later story of a pair may arrive first), so the
   pairs found do not depend on the arrival order. A band key verifies a
   pair (exact Jaccard on the shingle hashes, ``transforms.dedup.core.compare``)
   only if its band is the *lowest* band the two signatures share, so every
   pair is verified once; an exact key matches a story with the first earlier
   story of its content hash. A confirmed pair leaves as a ``Match``
   timestamped at the later story's event time.

   State layout (measured on Beam's BundleBasedDirectRunner, the local
   streaming runner before Prism, which encodes every value with its coder
   on each write and decodes on each read, as Flink's RocksDB backend does): entries live in *blocks* (``IndexBlock``: columns
   of numpy arrays stored raw behind a fixed header, ``BytesCoder``, which
   decode as views on the stored bytes; a story's shingles
   and signature once per key, its postings as (bucket, band, row)
   columns), in two bags:
   ``recent`` takes one small block per arriving story (an append, no
   rewrite), and every ``_COMPACT_RECENT`` blocks they are merged into
   ``sealed`` as one block per event-time cell (a horizon / ``_CELLS``); when
   ``sealed`` holds more than about two blocks per cell it is merged by cell.
   So a story reads a bounded number of blocks (a few dozen), decoding them
   is ``numpy.frombuffer`` (and decoded blocks are kept by content, so a
   runner that hands back the same bytes decodes each block once),
   and selecting a bucket is one vectorized comparison over the key's
   posting values (8 bytes a posting); no per-story rewrite of the key's
   state. One event-time timer
   per key, at the end of the cell of the oldest entry + horizon, rewrites
   the key without the entries the watermark has left a horizon behind.
3. ``DedupClusterLedger`` (one key; light): the decision. A story's
   ``cluster_id`` is the cluster of the story it matches, which was itself
   decided the same way, so decisions are sequential in event time and
   cannot be spread over keys without a cycle in the graph. The ledger holds
   (id, cluster id, event time) of the stories inside the horizon, as
   appended blocks with sorted 64-bit id hashes (a lookup is a binary search
   per block, a release appends one block: no rewrite of the whole ledger per
   release), and, until the watermark passes them, the waiting stories and
   their matches. A story waits for the watermark (one event-time timer per
   distinct waiting event time, dynamic tags, so that a watermark leap
   releases every waiting story in one round; a timer at or behind what was
   already released returns without reading state) because a match for it
   can still come from the index; once the watermark passes, every match
   with its timestamp has arrived, and the waiting stories are decided in
   (event time, id) order by ``transforms.dedup.core.decide``. A second timer
   forgets ledger entries a horizon old (cell granularity) and compacts the
   blocks.

Bounds (H = horizon, n = stories with event time inside H, b = bands, S =
shards): the index holds (b + 1) * n postings and about min(S, b + 1) * n
copies of a story's shingle hashes and signature (one per key it reaches),
plus at most one cell (H / ``_CELLS``) of
entries the timers have not reached yet; the ledger holds n (id, cluster id,
event time) triples (plus up to a cell) and the stories the watermark has
not passed yet. Neither grows with the length of the stream, nor does the
number of keys (and so of timers).

Not guaranteed: a story that arrives *behind* the watermark (late) is
decided when it arrives, with the matches that reached the ledger by then,
and entries more than a horizon older than the watermark may be gone; such a
story can come out ``UNIQUE`` where the batch branch would have linked it.
A record re-delivered with an id already in the ledger is ``DUPLICATE`` of
itself (in its first cluster), as in the batch branch; if it is re-sent with
a *different* body, its new bands may still propose matches, which the
ledger ignores. Changing ``shards`` (or ``bands``/``rows``) changes the
index keys: a savepoint's index state is then not found by the new keys.

Warm start: ``known`` stories (written by an earlier run into the same
output, at most a horizon old) are configuration, not input: they are
fingerprinted once when the pipeline is built; each index key takes in its
block of known entries the first time a story reaches it, and the ledger
starts from their clusters (``warm_deduplicator``, as in batch) the first
time it releases, so a re-delivered copy finds its id there and new copies of
known stories find them.

Only portable state and timers are used: ``BagState``,
``ReadModifyWriteState``, event-time ``TimerSpec`` (the ledger's release
timer with dynamic tags). The step labels are a Flink deploy contract
(``transforms.dedup.core.STATEFUL_STEP_NAMES``; deploy/flink/stateful-steps.txt).
"""

from __future__ import annotations

import dataclasses
import logging
import pickle
from typing import Iterable, Iterator, Optional

import apache_beam as beam
from apache_beam.coders import BytesCoder, PickleCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import BagStateSpec, ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import Timestamp

from transforms.dedup import minhash
from transforms.dedup.core import (
    DUPLICATE,
    NAMESPACE,
    STATEFUL_STEP_NAMES,
    DedupConfig,
    Fingerprint,
    Match,
    decide,
    fingerprint,
    signature_dead_letter,
    warm_deduplicator,
)
# The state layout (buckets, postings, blocks and their bytes, the block cache,
# merge and expiry helpers) lives in transforms.dedup.state_blocks. Every name
# it defines is imported here as well, so imports, pickles and the deprecated
# stub transforms.dedup_streaming that name them at this module keep working.
from transforms.dedup.state_blocks import (  # noqa: F401 - re-exported (see above)
    INDEX_SHARDS,
    _BLOCK_COLUMNS,
    _BLOCK_HEADER,
    _BLOCK_HEADER_SIZE,
    _BLOCK_MAGIC,
    _BLOCKS,
    _BUCKET_MULTIPLIERS,
    _CELLS,
    _EMPTY_U64,
    _EXACT,
    _LEDGER_HEADER,
    _LEDGER_MAGIC,
    _MILLI,
    _U64,
    IndexBlock,
    _BlockCache,
    _LedgerBlock,
    _LedgerView,
    _cell_millis,
    _expiry_at_cell_end,
    _expiry_micros,
    _first_shared_band,
    _hash_bucket,
    _id_hash,
    _merge_ledger,
    _select_all,
    _text_column,
    _utf8,
    bucket_matches,
    bucket_values,
    expire_entries,
    index_entries,
    index_postings,
)
from transforms.model import DedupInfo, Story

__all__ = [
    "band_keyed_dedup",
    "index_entries",
    "bucket_matches",
    "expire_entries",
    "known_index_blocks",
    "IndexBlock",
    "INDEX_SHARDS",
    "BAND_INDEX_STEP",
    "CLUSTER_LEDGER_STEP",
]

_LOG = logging.getLogger(__name__)

BAND_INDEX_STEP, CLUSTER_LEDGER_STEP = STATEFUL_STEP_NAMES
#: Output tag of the fingerprint step towards the band index.
_INDEX = "index"
_LEDGER_KEY = "ledger"
#: Small blocks in a key's ``recent`` bag before they are merged into ``sealed``.
_COMPACT_RECENT = 16
#: Ledger blocks before they are merged into one.
_COMPACT_LEDGER = 32
_STATE_CODER = PickleCoder()
_BLOCK_CODER = BytesCoder()


def band_keyed_dedup(
    stories: beam.PCollection, config: DedupConfig, known: Iterable[Story], dead_letter_tag: str,
    shards: int = INDEX_SHARDS,
) -> dict:
    """Apply the streaming steps in the caller's composite (their labels are
    part of the deploy contract, so they sit directly inside it).

    Raises:
      ValueError: when ``shards`` is not a positive int.
    """
    if not isinstance(shards, int) or shards < 1:
        raise ValueError(f"shards must be a positive int, got {shards!r}")
    known = tuple(known)
    known_blocks = known_index_blocks(known, config, shards)
    known_ledger = warm_deduplicator(config, known).ledger if known else {}
    fingerprinted = stories | "FingerprintStories" >> beam.ParDo(
        _FingerprintFn(config, dead_letter_tag, shards)).with_outputs(dead_letter_tag, _INDEX, main=_LEDGER_KEY)
    matches = fingerprinted[_INDEX] | BAND_INDEX_STEP >> beam.ParDo(_BandIndexFn(config, known_blocks))
    marked = (
        (fingerprinted[_LEDGER_KEY], matches)
        | "StoriesAndMatches" >> beam.Flatten()
        | CLUSTER_LEDGER_STEP >> beam.ParDo(_ClusterLedgerFn(config, known_ledger))
    )
    return {"marked": marked, dead_letter_tag: fingerprinted[dead_letter_tag]}


# --------------------------------------------------------------------------
# Warm start
# --------------------------------------------------------------------------


def known_index_blocks(known: Iterable[Story], config: DedupConfig, shards: int = INDEX_SHARDS) -> dict:
    """Encoded ``IndexBlock`` per index key of the ``known`` stories (those
    that cannot be fingerprinted are left out with a warning)."""
    hasher = minhash.MinHasher(config.num_perm, config.seed)
    grouped: dict[str, list] = {}
    for story in known:
        try:
            fp = fingerprint(story, config, hasher)
        except Exception:  # noqa: BLE001 - a record we cannot fingerprint just isn't remembered
            _LOG.warning("dedup: cannot remember earlier story %s", story.id)
            continue
        for key, postings, entry in index_entries(fp, config, shards):
            grouped.setdefault(key, []).append((entry, postings))
    return {key: IndexBlock.of(items, config.num_perm).encode() for key, items in grouped.items()}


# --------------------------------------------------------------------------
# DoFns
# --------------------------------------------------------------------------


class _FingerprintFn(beam.DoFn):
    """Fingerprint of each story, to its index keys and to the ledger."""

    def __init__(self, config: DedupConfig, dead_letter_tag: str, shards: int = INDEX_SHARDS):
        self._config = config
        self._dead_letter_tag = dead_letter_tag
        self._shards = shards

    def setup(self):
        self._hasher = minhash.MinHasher(self._config.num_perm, self._config.seed)
        self._dead_letters = Metrics.counter(NAMESPACE, "dead_letter_dedup")

    def process(self, element, timestamp=beam.DoFn.TimestampParam) -> Iterator:
        story = element
        try:
            fp = fingerprint(story, self._config, self._hasher)
            entries = index_entries(fp, self._config, self._shards)
        except Exception as error:  # noqa: BLE001 - any failure dead-letters the story
            yield beam.pvalue.TaggedOutput(self._dead_letter_tag, signature_dead_letter(story, error))
            self._dead_letters.inc()
        else:
            for key, postings, entry in entries:
                yield beam.pvalue.TaggedOutput(_INDEX, (key, (postings, entry)))
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
    """A fixed set of shard keys, each holding the entries of many buckets
    in blocks: pairs each arriving fingerprint with the entries of its
    buckets inside the horizon, verifies each pair in its lowest shared band,
    and forgets entries a horizon behind the watermark."""

    SEALED = BagStateSpec("sealed", _BLOCK_CODER)
    RECENT = BagStateSpec("recent", _BLOCK_CODER)
    #: (next expiry timer micros or None, known entries taken in)
    META = ReadModifyWriteStateSpec("meta", _STATE_CODER)
    EXPIRE = TimerSpec("expire", TimeDomain.WATERMARK)

    def __init__(self, config: DedupConfig, known_blocks: Optional[dict] = None):
        self._config = config
        self._known_blocks = known_blocks or {}

    def setup(self):
        self._added = Metrics.counter(NAMESPACE, "dedup_index_entries_added")
        self._expired = Metrics.counter(NAMESPACE, "dedup_index_entries_expired")
        self._pairs = Metrics.counter(NAMESPACE, "dedup_pairs_matched")

    def start_bundle(self):
        # A key's state as this bundle last left it, read from the runner once
        # per bundle: a runner without a state cache across requests (Prism)
        # answers every read with the key's whole bags, over gRPC, and the
        # keys' elements come many to a bundle. Only this step writes its
        # keys' state and a bundle holds a key on one instance, so the copy
        # stays exact until the bundle ends; a timer callback drops it.
        self._keys: dict = {}

    def process(
        self,
        element,
        window=beam.DoFn.WindowParam,
        sealed=beam.DoFn.StateParam(SEALED),
        recent=beam.DoFn.StateParam(RECENT),
        meta=beam.DoFn.StateParam(META),
        expire=beam.DoFn.TimerParam(EXPIRE),
    ):
        key, (postings, fp) = element
        config = self._config
        known_state = self._keys.get((key, window))
        if known_state is None:
            sealed_stored, recent_stored = list(sealed.read()), list(recent.read())
            sealed_blocks = [_BLOCKS.decode(data) for data in sealed_stored]
            recent_blocks = [_BLOCKS.decode(data) for data in recent_stored]
            due, warm = meta.read() or (None, False)
        else:
            sealed_stored, recent_stored, sealed_blocks, recent_blocks, due, warm = known_state
        warm_before = warm
        new_blocks = []
        if not warm:
            warm = True  # stories an earlier run wrote: candidates, already decided
            if key in self._known_blocks:
                known = IndexBlock.decode(self._known_blocks[key]).keep_from(
                    fp.event_time - config.horizon_millis)
                if known is not None:
                    new_blocks.append(known)
        found = _select_all(sealed_blocks + recent_blocks + new_blocks, postings, fp.content_hash)
        if all(entry.story_id != fp.story_id for _, entries in found for entry in entries):
            for band, entries in found:
                for match in bucket_matches(band, fp, entries, config):
                    self._pairs.inc()
                    yield TimestampedValue((_LEDGER_KEY, match), Timestamp(micros=match.story_time * _MILLI))
            new_blocks.append(IndexBlock.of([(fp, postings)], config.num_perm))
        # else: the same record again: indexed once, the ledger marks the copy
        if new_blocks:
            self._added.inc(sum(len(block.buckets) for block in new_blocks))
            recent_blocks = recent_blocks + new_blocks
            if len(recent_blocks) >= _COMPACT_RECENT:
                added, rewrote_sealed = self._compact(sealed, recent, sealed_blocks, recent_blocks)
                _BLOCKS.forget(recent_stored + (sealed_stored if rewrote_sealed else []))
                sealed_stored = [] if rewrote_sealed else list(sealed_stored)
                sealed_blocks = [] if rewrote_sealed else list(sealed_blocks)
                sealed_stored.extend(data for data, _ in added)
                sealed_blocks.extend(block for _, block in added)
                recent_stored, recent_blocks = [], []
            else:
                recent_stored = list(recent_stored)
                for block in new_blocks:
                    data = block.encode()
                    recent.add(data)
                    recent_stored.append(data)
            oldest = min(int(block.times.min()) for block in new_blocks)
            expiry = _expiry_at_cell_end(oldest, config.horizon_millis)
            if due is None or expiry < due:
                due = expiry
                expire.set(Timestamp(micros=due))
            meta.write((due, warm))
        elif not warm_before:
            meta.write((due, warm))
        self._keys[(key, window)] = (sealed_stored, recent_stored, sealed_blocks, recent_blocks,
                                     due, warm)

    def _compact(self, sealed, recent, sealed_blocks: list, recent_blocks: list) -> tuple[list, bool]:
        """Recent blocks into sealed, one block per cell; sealed merged per
        cell when it holds more than about two blocks per cell (then True).
        Returns the (bytes, block) pairs added to sealed, and that flag."""
        cell = _cell_millis(self._config.horizon_millis)
        merged = IndexBlock.merge(recent_blocks).by_cell(cell)
        recent.clear()
        rewrite = len(sealed_blocks) + len(merged) > 2 * (_CELLS + 2)
        if rewrite:
            sealed.clear()
            merged = IndexBlock.merge(sealed_blocks + merged).by_cell(cell)
        added = [(block.encode(), block) for block in merged]
        for data, _ in added:
            sealed.add(data)
        return added, rewrite

    @on_timer(EXPIRE)
    def expire_old(
        self,
        fired=beam.DoFn.TimestampParam,
        sealed=beam.DoFn.StateParam(SEALED),
        recent=beam.DoFn.StateParam(RECENT),
        meta=beam.DoFn.StateParam(META),
        expire=beam.DoFn.TimerParam(EXPIRE),
    ):
        self._keys.clear()  # rewritten below: read again
        horizon = self._config.horizon_millis
        oldest = fired.micros // _MILLI - horizon  # entries older than this expire
        _, warm = meta.read() or (None, True)
        kept_times = []
        dropped = 0
        for state in (sealed, recent):
            stored = list(state.read())
            state.clear()
            for data in stored:
                block = _BLOCKS.decode(data)
                kept = block.keep_from(oldest)
                dropped += len(block.buckets) - (len(kept.buckets) if kept is not None else 0)
                if kept is not None:
                    state.add(data if kept is block else kept.encode())
                    kept_times.append(int(kept.times.min()))
                if kept is not block:
                    _BLOCKS.forget([data])
        self._expired.inc(dropped)
        due = None
        if kept_times:
            due = _expiry_at_cell_end(min(kept_times), horizon)
            expire.set(Timestamp(micros=due))
        meta.write((due, warm))


class _ClusterLedgerFn(beam.DoFn):
    """One key: decides waiting stories in (event time, id) order once the
    watermark has passed them, from their matches and the ledger of clusters
    inside the horizon."""

    WAITING = BagStateSpec("waiting", _STATE_CODER)
    CLUSTERS = BagStateSpec("cluster_blocks", _BLOCK_CODER)
    #: (released through micros, ledger started from the known stories,
    #: a story arrived at or behind what was released)
    META = ReadModifyWriteStateSpec("meta", _STATE_CODER)
    RELEASE = TimerSpec("release", TimeDomain.WATERMARK)
    FORGET = TimerSpec("forget", TimeDomain.WATERMARK)

    def __init__(self, config: DedupConfig, known_ledger: Optional[dict] = None):
        self._config = config
        self._known_ledger = known_ledger or {}

    def setup(self):
        self._remembered = Metrics.counter(NAMESPACE, "dedup_ledger_entries_added")
        self._forgotten = Metrics.counter(NAMESPACE, "dedup_ledger_entries_expired")
        self._stale = Metrics.counter(NAMESPACE, "dedup_matches_unused")
        self._size = Metrics.distribution(NAMESPACE, "dedup_ledger_size")

    def process(
        self,
        element,
        waiting=beam.DoFn.StateParam(WAITING),
        meta=beam.DoFn.StateParam(META),
        release=beam.DoFn.TimerParam(RELEASE),
    ):
        _, record = element
        # Held as (event time, story?, bytes): a release decodes only the
        # records it releases, and keeps the others without re-encoding them.
        is_story = isinstance(record, _Waiting)
        event_time = record.fp.event_time if is_story else record.story_time
        waiting.add((event_time, is_story, pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)))
        if is_story:
            # One timer per distinct waiting event time: a watermark leap
            # releases every waiting story in one round (timers fire in
            # time order). Not rounded up to fewer timers: a timer holds the
            # output watermark at its own time, so a story released by a
            # later timer than its event time would be late downstream.
            micros = event_time * _MILLI
            # 1 ms past its time (timers are in millis): Prism fires a timer once
            # the watermark *reaches* it, while matches stamped at that very time
            # (from the index) may still be on their way; the story was then
            # released without them (live exact copies with one event time both
            # came out UNIQUE). A timer at F releases the stories up to F - 1 ms.
            release.set(Timestamp(micros=micros + _MILLI), dynamic_timer_tag=str(micros))
            released, started, late = meta.read() or (None, False, False)
            if released is not None and micros <= released and not late:
                meta.write((released, started, True))  # late: its timer must not be skipped

    @on_timer(RELEASE)
    def release_ready(
        self,
        fired=beam.DoFn.TimestampParam,
        waiting=beam.DoFn.StateParam(WAITING),
        clusters=beam.DoFn.StateParam(CLUSTERS),
        meta=beam.DoFn.StateParam(META),
        forget=beam.DoFn.TimerParam(FORGET),
    ):
        released, started, late = meta.read() or (None, False, False)
        fired_through = fired.micros - _MILLI  # see process(): timers fire 1 ms late
        if released is not None and fired_through <= released and not late:
            return  # released by a later timer of the same round
        # The watermark has passed both the fired time and what was released.
        through = fired_through if released is None else max(fired_through, released)
        now = through // _MILLI
        held = list(waiting.read())
        ready = [pickle.loads(payload) for event_time, is_story, payload in held
                 if is_story and event_time <= now]
        meta.write((through, True, False))
        if not ready:
            if not started:
                self._start(clusters, forget)
            return
        matches: dict[str, list[Match]] = {}
        later = []
        for item in held:
            event_time, is_story, payload = item
            if event_time > now:
                later.append(item)
            elif not is_story:
                match = pickle.loads(payload)
                matches.setdefault(match.story_id, []).append(match)
        stored = [_LedgerBlock.decode(data) for data in clusters.read()]
        if not started:
            stored.extend(self._start(clusters, forget))
        view = _LedgerView(stored)
        config = self._config
        for record in sorted(ready, key=lambda r: r.order):
            fp = record.fp
            view.oldest = fp.event_time - config.horizon_millis
            seen = view.get(fp.story_id)
            found = matches.pop(fp.story_id, [])
            if seen is not None:
                # The same record again (re-delivered after a crash or a retry):
                # a copy of itself, in the cluster it was put in the first time.
                info = DedupInfo(status=DUPLICATE, cluster_id=seen[0], duplicate_of=fp.story_id,
                                 similarity=1.0)
            else:
                info = decide(fp, found, view, config)
                self._remembered.inc()
            yield TimestampedValue(dataclasses.replace(record.story, dedup=info),
                                   Timestamp(micros=record.micros))
        self._stale.inc(sum(len(unused) for unused in matches.values()))
        if view.new:
            block = _LedgerBlock.of(view.new)
            if len(stored) + 1 > _COMPACT_LEDGER:
                merged = _merge_ledger(stored + [block])
                clusters.clear()
                clusters.add(merged.encode())
                stored = [merged]
            else:
                clusters.add(block.encode())
                stored.append(block)
            self._set_forget(forget, stored)
        self._size.update(sum(len(block.ids) for block in stored))
        waiting.clear()
        for record in later:
            waiting.add(record)

    def _start(self, clusters, forget) -> list:
        """The ledger's first release: the clusters of the known stories."""
        if not self._known_ledger:
            return []
        block = _LedgerBlock.of(self._known_ledger)
        clusters.add(block.encode())
        self._remembered.inc(len(block.ids))
        self._set_forget(forget, [block])
        return [block]

    @on_timer(FORGET)
    def forget_old(
        self,
        fired=beam.DoFn.TimestampParam,
        waiting=beam.DoFn.StateParam(WAITING),
        clusters=beam.DoFn.StateParam(CLUSTERS),
        forget=beam.DoFn.TimerParam(FORGET),
    ):
        """Forget clusters a horizon behind the watermark (never those a
        waiting story may still need), and merge the ledger's blocks."""
        stored = [_LedgerBlock.decode(data) for data in clusters.read()]
        now = fired.micros // _MILLI
        pending = [event_time for event_time, is_story, _ in waiting.read() if is_story]
        if pending:
            now = min(now, min(pending))
        before = sum(len(block.ids) for block in stored)
        merged = _merge_ledger(stored, now - self._config.horizon_millis)
        clusters.clear()
        kept = [merged] if merged is not None else []
        for block in kept:
            clusters.add(block.encode())
        self._forgotten.inc(before - sum(len(block.ids) for block in kept))
        self._set_forget(forget, kept)

    def _set_forget(self, forget, stored: list) -> None:
        times = [int(block.times.min()) for block in stored if len(block.ids)]
        if times:
            forget.set(Timestamp(micros=_expiry_at_cell_end(min(times), self._config.horizon_millis)))
