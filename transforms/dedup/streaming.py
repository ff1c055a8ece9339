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
Three steps; only the first two hold state.

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

import bisect
import collections
import dataclasses
import hashlib
import logging
import pickle
import struct
import threading
from typing import Iterable, Iterator, NamedTuple, Optional

import apache_beam as beam
import numpy as np
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
    STAGE,
    STATEFUL_STEP_NAMES,
    DedupConfig,
    Fingerprint,
    Match,
    _within_horizon,
    compare,
    decide,
    fingerprint,
    warm_deduplicator,
)
from transforms.model import DeadLetter, DeadLetterReason, DedupInfo, Story, now_millis

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
#: Index keys: a story's buckets (its bands and its content hash) go to
#: ``bucket value mod INDEX_SHARDS``, so it reaches at most this many keys
#: (about 7 of 8 for 17 buckets). More shards: more parallelism on Flink and
#: smaller keys; fewer: fewer index elements per story (a local runner's
#: cost is per element and per key). Measured on 2,000 Reuters stories on
#: the BundleBasedDirectRunner: 4 shards 112 stories/s, 8 104/s, 16 54/s.
INDEX_SHARDS = 8
#: Output tag of the fingerprint step towards the band index.
_INDEX = "index"
_LEDGER_KEY = "ledger"
#: Band number of the exact-copy keys (content hash).
_EXACT = -1
#: Event-time cells per horizon: expiry timers fire at cell ends, sealed
#: blocks are merged per cell.
_CELLS = 8
#: Small blocks in a key's ``recent`` bag before they are merged into ``sealed``.
_COMPACT_RECENT = 16
#: Ledger blocks before they are merged into one.
_COMPACT_LEDGER = 32
_STATE_CODER = PickleCoder()
_BLOCK_CODER = BytesCoder()
_MILLI = 1000  # micros
_U64 = np.uint64
_BUCKET_MULTIPLIERS = np.array(
    [0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93,
     0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53, 0x27D4EB2F165667C5, 0x85EBCA77C2B2AE63],
    dtype=_U64)
_EMPTY_U64 = np.empty(0, dtype=_U64)


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
# Pure logic of the index (shared with bench/dedup_eval.py's memory mode)
# --------------------------------------------------------------------------


def bucket_values(signature: np.ndarray, config: DedupConfig) -> np.ndarray:
    """One uint64 per LSH band: a hash of the band's number and rows. Equal
    rows in one band give equal values; unequal ones may collide, which costs
    a comparison, never a wrong pair (a pair is checked on the signature
    rows)."""
    rows = signature[: config.bands * config.rows].astype(_U64).reshape(config.bands, config.rows)
    mixed = (rows * _BUCKET_MULTIPLIERS[np.arange(config.rows) % len(_BUCKET_MULTIPLIERS)]).sum(
        axis=1, dtype=_U64)
    mixed += np.arange(1, config.bands + 1, dtype=_U64) * _U64(0x94D049BB133111EB)
    mixed ^= mixed >> _U64(29)
    mixed *= _U64(0xBF58476D1CE4E5B9)
    mixed ^= mixed >> _U64(32)
    return mixed


def _hash_bucket(content_hash: str) -> int:
    return int.from_bytes(hashlib.blake2b(content_hash.encode(), digest_size=8).digest(), "little")


def index_postings(fp: Fingerprint, config: DedupConfig) -> list[tuple[int, int]]:
    """(band, bucket value) of every bucket ``fp`` belongs to: its content
    hash (band -1) and each LSH band."""
    out = []
    if fp.content_hash:
        out.append((_EXACT, _hash_bucket(fp.content_hash)))
    if fp.signature is not None:
        out.extend(enumerate(bucket_values(fp.signature, config).tolist()))
    return out


def index_entries(
    fp: Fingerprint, config: DedupConfig, shards: int = INDEX_SHARDS
) -> list[tuple[str, list[tuple[int, int]], Fingerprint]]:
    """(key, postings, fingerprint) for each index key ``fp`` goes to: key
    ``"s<bucket value mod shards>"``, postings the (band, bucket value) pairs
    of ``fp`` that fall in that shard (so a story's buckets go to at most
    ``shards`` keys, and two stories that share a bucket meet in one key)."""
    by_key: dict[str, list] = {}
    for band, bucket in index_postings(fp, config):
        by_key.setdefault(f"s{bucket % shards}", []).append((band, bucket))
    return [(key, postings, fp) for key, postings in sorted(by_key.items())]


def _first_shared_band(first: np.ndarray, second: np.ndarray, config: DedupConfig) -> int:
    width = config.bands * config.rows
    same = (first[:width] == second[:width]).reshape(config.bands, config.rows).all(axis=1)
    return int(np.argmax(same)) if same.any() else -1


def bucket_matches(
    band: int, fp: Fingerprint, entries: list[Fingerprint], config: DedupConfig
) -> list[Match]:
    """The matches ``fp`` completes in a bucket that already holds ``entries``
    (none with ``fp``'s id), whatever order the stories arrived in.

    ``band`` is the LSH band of the bucket, or -1 for a content-hash bucket.
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


def _cell_millis(horizon_millis: int) -> int:
    return max(1, horizon_millis // _CELLS)


def _expiry_at_cell_end(event_time_millis: int, horizon_millis: int) -> int:
    """``_expiry_micros`` rounded up to the end of the entry's event-time
    cell: one timer firing per key and cell, not per entry."""
    cell = _cell_millis(horizon_millis)
    cell_end = (event_time_millis // cell + 1) * cell - 1
    return _expiry_micros(cell_end, horizon_millis)


class IndexBlock(NamedTuple):
    """Entries of one index key, as columns: one row per story (its shingles
    and signature stored once however many of its buckets the key holds) and
    one posting per (bucket, story). ``encode()`` lays the columns one after
    another behind a fixed header; ``decode`` makes every column a
    ``numpy.frombuffer`` view on the stored bytes (ids and content hashes
    too, as fixed-width byte strings), so a decoded block costs a few hundred
    bytes beside the bytes the state already holds, and reading a key's
    blocks allocates nothing in proportion to them."""

    ids: np.ndarray  # story ids, UTF-8 (fixed-width bytes)
    hashes: np.ndarray  # content hashes, UTF-8 (fixed-width bytes; b"" for an empty body)
    times: np.ndarray  # int64 event time (ms)
    levels: np.ndarray  # int64 update level
    signed: np.ndarray  # bool: has a signature (>= one shingle)
    signatures: np.ndarray  # uint32 (stories, num_perm), zeros when unsigned
    offsets: np.ndarray  # int64 (stories + 1): story i's shingles are shingles[offsets[i]:offsets[i+1]]
    shingles: np.ndarray  # uint64
    buckets: np.ndarray  # uint64 bucket value per posting
    bands: np.ndarray  # int64 band per posting (-1: content hash)
    rows: np.ndarray  # int64 story row per posting

    @classmethod
    def of(cls, items: list[tuple[Fingerprint, list[tuple[int, int]]]], num_perm: int) -> "IndexBlock":
        """A block of (fingerprint, its postings in this key)."""
        fps = [fp for fp, _ in items]
        signatures = np.zeros((len(fps), num_perm), dtype=np.uint32)
        for i, fp in enumerate(fps):
            if fp.signature is not None:
                signatures[i] = fp.signature
        sizes = [fp.shingles.size if fp.signature is not None else 0 for fp in fps]
        postings = [(bucket, band, row) for row, (_, pairs) in enumerate(items) for band, bucket in pairs]
        return cls(
            ids=_text_column([fp.story_id for fp in fps]),
            hashes=_text_column([fp.content_hash for fp in fps]),
            times=np.array([fp.event_time for fp in fps], dtype=np.int64),
            levels=np.array([fp.level for fp in fps], dtype=np.int64),
            signed=np.array([fp.signature is not None for fp in fps], dtype=bool),
            signatures=signatures,
            offsets=np.concatenate(([0], np.cumsum(sizes))).astype(np.int64),
            shingles=(np.concatenate([fp.shingles for fp in fps if fp.signature is not None]).astype(_U64)
                      if sum(sizes) else _EMPTY_U64),
            buckets=np.array([p[0] for p in postings], dtype=_U64),
            bands=np.array([p[1] for p in postings], dtype=np.int64),
            rows=np.array([p[2] for p in postings], dtype=np.int64),
        )

    def __len__(self) -> int:
        return len(self.ids)

    def encode(self) -> bytes:
        """The header, then the columns in ``_BLOCK_COLUMNS`` order (8-byte
        columns first, so every column of the stored bytes stays aligned)."""
        header = _BLOCK_HEADER.pack(_BLOCK_MAGIC, len(self.ids), self.signatures.shape[1],
                                    self.ids.dtype.itemsize, self.hashes.dtype.itemsize, len(self.buckets))
        return b"".join([header.ljust(_BLOCK_HEADER_SIZE, b"\0")]
                        + [np.ascontiguousarray(getattr(self, name)).tobytes() for name, _ in _BLOCK_COLUMNS])

    @classmethod
    def decode(cls, data: bytes) -> "IndexBlock":
        if not data.startswith(_BLOCK_MAGIC):
            return cls._decode_pickled(data)
        _, stories, width, id_width, hash_width, postings = _BLOCK_HEADER.unpack_from(data)
        counts = {"times": stories, "levels": stories, "offsets": stories + 1, "shingles": None,
                  "buckets": postings, "bands": postings, "rows": postings, "signatures": stories * width,
                  "signed": stories, "ids": stories, "hashes": stories}
        dtypes = dict(_BLOCK_COLUMNS, ids=np.dtype(f"S{id_width}"), hashes=np.dtype(f"S{hash_width}"))
        columns = {}
        at = _BLOCK_HEADER_SIZE
        for name, _ in _BLOCK_COLUMNS:
            count = counts[name] if name != "shingles" else int(columns["offsets"][-1])
            columns[name] = np.frombuffer(data, dtype=dtypes[name], count=count, offset=at)
            at += count * dtypes[name].itemsize
        columns["signatures"] = columns["signatures"].reshape(stories, width)
        return cls(**columns)

    @classmethod
    def _decode_pickled(cls, data: bytes) -> "IndexBlock":
        """A block as the first layout stored it (a pickled tuple: ids and
        hashes as tuples of str, the columns as raw bytes), so that state
        written before the current layout is still read."""
        ids, hashes, width, times, levels, signed, signatures, offsets, shingles, buckets, bands, rows = (
            pickle.loads(data))
        return cls(
            ids=_text_column(ids), hashes=_text_column(hashes), times=np.frombuffer(times, dtype=np.int64),
            levels=np.frombuffer(levels, dtype=np.int64), signed=np.frombuffer(signed, dtype=bool),
            signatures=np.frombuffer(signatures, dtype=np.uint32).reshape(len(ids), width),
            offsets=np.frombuffer(offsets, dtype=np.int64), shingles=np.frombuffer(shingles, dtype=_U64),
            buckets=np.frombuffer(buckets, dtype=_U64), bands=np.frombuffer(bands, dtype=np.int64),
            rows=np.frombuffer(rows, dtype=np.int64))

    def story_id(self, i: int) -> str:
        return self.ids[i].decode("utf-8", "surrogatepass")

    def entry(self, i: int) -> Fingerprint:
        """Story row ``i`` as the ``Fingerprint`` the pure functions take."""
        signed = bool(self.signed[i])
        return Fingerprint(
            story_id=self.story_id(i), event_time=int(self.times[i]),
            content_hash=self.hashes[i].decode("utf-8", "surrogatepass"),
            shingles=self.shingles[self.offsets[i]:self.offsets[i + 1]] if signed else _EMPTY_U64,
            signature=self.signatures[i] if signed else None, level=int(self.levels[i]))

    def select(self, band: int, bucket: int, content_hash: str = "") -> list[Fingerprint]:
        """The stories in one bucket of one band (and with ``content_hash``,
        for band -1)."""
        found = []
        for p in np.flatnonzero(self.buckets == _U64(bucket)).tolist():
            entry = self.posting_entry(p, band, content_hash)
            if entry is not None:
                found.append(entry)
        return found

    def posting_entry(self, p: int, band: int, content_hash: str = "") -> Optional[Fingerprint]:
        """The story of posting ``p`` if the posting is of ``band`` (and of
        ``content_hash``, for band -1), else None."""
        if int(self.bands[p]) != band:
            return None
        row = int(self.rows[p])
        if band == _EXACT and self.hashes[row] != _utf8(content_hash):
            return None  # two hashes with one 64-bit bucket value
        return self.entry(row)

    def take(self, stories: np.ndarray) -> "IndexBlock":
        """The block with only the given story rows (and their postings)."""
        stories = np.asarray(stories, dtype=np.int64)
        remap = np.full(len(self.ids), -1, dtype=np.int64)
        remap[stories] = np.arange(len(stories))
        keep = remap[self.rows] >= 0
        starts, ends = self.offsets[stories], self.offsets[stories + 1]
        sizes = ends - starts
        shingles = (np.concatenate([self.shingles[a:b] for a, b in zip(starts.tolist(), ends.tolist())])
                    if sizes.sum() else _EMPTY_U64)
        return IndexBlock(
            ids=self.ids[stories], hashes=self.hashes[stories],
            times=self.times[stories], levels=self.levels[stories], signed=self.signed[stories],
            signatures=self.signatures[stories],
            offsets=np.concatenate(([0], np.cumsum(sizes))).astype(np.int64),
            shingles=shingles.astype(_U64), buckets=self.buckets[keep], bands=self.bands[keep],
            rows=remap[self.rows[keep]])

    @staticmethod
    def merge(blocks: list["IndexBlock"]) -> "IndexBlock":
        if len(blocks) == 1:
            return blocks[0]
        sizes = np.concatenate([np.diff(b.offsets) for b in blocks])
        firsts = np.cumsum([0] + [len(b.ids) for b in blocks[:-1]])
        return IndexBlock(
            ids=np.concatenate([b.ids for b in blocks]),
            hashes=np.concatenate([b.hashes for b in blocks]),
            times=np.concatenate([b.times for b in blocks]),
            levels=np.concatenate([b.levels for b in blocks]),
            signed=np.concatenate([b.signed for b in blocks]),
            signatures=np.concatenate([b.signatures for b in blocks]),
            offsets=np.concatenate(([0], np.cumsum(sizes))).astype(np.int64),
            shingles=np.concatenate([b.shingles for b in blocks]).astype(_U64),
            buckets=np.concatenate([b.buckets for b in blocks]),
            bands=np.concatenate([b.bands for b in blocks]),
            rows=np.concatenate([b.rows + first for b, first in zip(blocks, firsts.tolist())]))

    def by_cell(self, cell_millis: int) -> list["IndexBlock"]:
        """This block split into one block per event-time cell."""
        cells = self.times // cell_millis
        distinct = np.unique(cells)
        if len(distinct) == 1:
            return [self]
        return [self.take(np.flatnonzero(cells == cell)) for cell in distinct.tolist()]

    def keep_from(self, oldest_millis: int) -> Optional["IndexBlock"]:
        """The stories with event time >= ``oldest_millis`` (None if none)."""
        keep = self.times >= oldest_millis
        if keep.all():
            return self
        if not keep.any():
            return None
        return self.take(np.flatnonzero(keep))


def _utf8(text) -> bytes:
    return text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")


def _text_column(texts) -> np.ndarray:
    """Strings as one fixed-width bytes column (UTF-8; at least 1 byte wide)."""
    encoded = [_utf8(text) for text in texts]
    width = max([1] + [len(text) for text in encoded])
    return np.array(encoded, dtype=f"S{width}")


#: The stored layout of an ``IndexBlock``: this header, then the columns.
_BLOCK_MAGIC = b"WIB2"
#: magic, stories, signature width, id width, hash width, postings
_BLOCK_HEADER = struct.Struct("<4sIIIIQ")
_BLOCK_HEADER_SIZE = 32
_BLOCK_COLUMNS = (
    ("times", np.dtype(np.int64)), ("levels", np.dtype(np.int64)), ("offsets", np.dtype(np.int64)),
    ("shingles", np.dtype(_U64)), ("buckets", np.dtype(_U64)), ("bands", np.dtype(np.int64)),
    ("rows", np.dtype(np.int64)), ("signatures", np.dtype(np.uint32)), ("signed", np.dtype(bool)),
    ("ids", None), ("hashes", None),
)
#: The stored layout of a ledger block: magic, entries, id width, cluster id
#: width (padded to ``_BLOCK_HEADER_SIZE``), then hashes, times, ids, clusters.
_LEDGER_MAGIC = b"WLB2"
_LEDGER_HEADER = struct.Struct("<4sIII")


def _select_all(blocks: list[IndexBlock], postings: list[tuple[int, int]], content_hash: str) -> list:
    """[(band, entries of that bucket in ``blocks``)] for each posting: one
    scan of all the blocks' bucket values per posting."""
    blocks = [block for block in blocks if len(block.buckets)]
    if not blocks:
        return [(band, []) for band, _ in postings]
    starts = np.cumsum([0] + [len(block.buckets) for block in blocks]).tolist()
    buckets = np.concatenate([block.buckets for block in blocks])
    found = []
    for band, bucket in postings:
        entries = []
        for p in np.flatnonzero(buckets == _U64(bucket)).tolist():
            at = bisect.bisect_right(starts, p) - 1
            entry = blocks[at].posting_entry(p - starts[at], band, content_hash)
            if entry is not None:
                entries.append(entry)
        found.append((band, entries))
    return found


class _BlockCache:
    """Decoded blocks by their bytes, up to a byte budget. Content-addressed,
    so never stale: a runner that hands back the same bytes objects (one
    that keeps state as Python objects in process) decodes each block once; one
    that hands fresh copies pays a hash of the bytes instead of a decode.
    A decoded block is views on its bytes, so an entry costs its bytes (no
    more, and nothing at all where the state holds the same object), and
    the index step forgets the blocks it compacts or expires."""

    def __init__(self, budget_bytes: int):
        self._budget = budget_bytes
        self._used = 0
        self._blocks: "collections.OrderedDict[bytes, IndexBlock]" = collections.OrderedDict()
        self._lock = threading.Lock()  # runners call DoFns from several threads

    def decode(self, data: bytes) -> IndexBlock:
        with self._lock:
            block = self._blocks.get(data)
            if block is not None:
                self._blocks.move_to_end(data)
                return block
        block = IndexBlock.decode(data)
        with self._lock:
            if data not in self._blocks:
                self._blocks[data] = block
                self._used += len(data)
            while self._used > self._budget and len(self._blocks) > 1:
                old, _ = self._blocks.popitem(last=False)
                self._used -= len(old)
        return block

    def forget(self, stored: Iterable[bytes]) -> None:
        """Drop blocks the state no longer holds (compacted or expired): the
        cache then holds live blocks, not the garbage of every rewrite."""
        with self._lock:
            for data in stored:
                if self._blocks.pop(data, None) is not None:
                    self._used -= len(data)


_BLOCKS = _BlockCache(64 << 20)


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
# Pure logic of the ledger
# --------------------------------------------------------------------------


def _id_hash(story_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(story_id.encode("utf-8", "surrogatepass"), digest_size=8).digest(),
                          "little")


class _LedgerBlock(NamedTuple):
    """(id, cluster id, event time) of decided stories, sorted by id hash.
    Stored like ``IndexBlock``: a header, then the columns, which decode as
    views on the stored bytes (ids and cluster ids as fixed-width UTF-8), so
    a release that reads the whole ledger makes no Python string per entry."""

    hashes: np.ndarray  # uint64, sorted
    ids: np.ndarray  # fixed-width UTF-8 bytes
    clusters: np.ndarray  # fixed-width UTF-8 bytes
    times: np.ndarray  # int64 ms

    @classmethod
    def of(cls, entries: dict) -> "_LedgerBlock":
        """From a dict id -> (cluster id, event time)."""
        ids = list(entries)
        hashes = np.array([_id_hash(i) for i in ids], dtype=_U64)
        order = np.argsort(hashes, kind="stable").tolist()
        return cls(hashes=hashes[order], ids=_text_column([ids[i] for i in order]),
                   clusters=_text_column([entries[ids[i]][0] for i in order]),
                   times=np.array([entries[ids[i]][1] for i in order], dtype=np.int64))

    def encode(self) -> bytes:
        header = _LEDGER_HEADER.pack(_LEDGER_MAGIC, len(self.ids), self.ids.dtype.itemsize,
                                     self.clusters.dtype.itemsize)
        return b"".join([header.ljust(_BLOCK_HEADER_SIZE, b"\0"), self.hashes.tobytes(), self.times.tobytes(),
                         self.ids.tobytes(), self.clusters.tobytes()])

    @classmethod
    def decode(cls, data: bytes) -> "_LedgerBlock":
        if not data.startswith(_LEDGER_MAGIC):  # the first layout: a pickled tuple
            hashes, ids, clusters, times = pickle.loads(data)
            return cls(np.frombuffer(hashes, dtype=_U64), _text_column(ids), _text_column(clusters),
                       np.frombuffer(times, dtype=np.int64))
        _, count, id_width, cluster_width = _LEDGER_HEADER.unpack_from(data)
        at = _BLOCK_HEADER_SIZE
        hashes = np.frombuffer(data, dtype=_U64, count=count, offset=at)
        times = np.frombuffer(data, dtype=np.int64, count=count, offset=at + 8 * count)
        ids = np.frombuffer(data, dtype=f"S{id_width}", count=count, offset=at + 16 * count)
        clusters = np.frombuffer(data, dtype=f"S{cluster_width}", count=count,
                                 offset=at + (16 + id_width) * count)
        return cls(hashes, ids, clusters, times)

    def get(self, story_id: str, hashed: int):
        i = int(np.searchsorted(self.hashes, _U64(hashed)))
        if i < len(self.ids) and int(self.hashes[i]) == hashed:
            wanted = _utf8(story_id)
            while i < len(self.ids) and int(self.hashes[i]) == hashed:
                if self.ids[i] == wanted:
                    return self.clusters[i].decode("utf-8", "surrogatepass"), int(self.times[i])
                i += 1
        return None

    def items(self):
        return zip((i.decode("utf-8", "surrogatepass") for i in self.ids.tolist()),
                   zip((c.decode("utf-8", "surrogatepass") for c in self.clusters.tolist()),
                       self.times.tolist()))


class _LedgerView:
    """The ledger as ``decide`` uses it (``get`` and item assignment): the
    stored blocks, plus what this release decided (``new``). Entries older
    than ``oldest`` (the current story's event time - horizon) are not seen,
    as the core has pruned them by then."""

    def __init__(self, blocks: list[_LedgerBlock]):
        self.blocks = blocks
        self.new: dict[str, tuple[str, int]] = {}
        self.oldest = None

    def get(self, story_id: str, default=None):
        found = self.new.get(story_id)
        if found is None:
            hashed = _id_hash(story_id)
            for block in self.blocks:
                found = block.get(story_id, hashed)
                if found is not None:
                    break
        if found is None or (self.oldest is not None and found[1] < self.oldest):
            return default
        return found

    def __setitem__(self, story_id: str, value: tuple[str, int]) -> None:
        self.new[story_id] = value


def _merge_ledger(blocks: list[_LedgerBlock], oldest_millis: Optional[int] = None) -> Optional[_LedgerBlock]:
    """All blocks as one, without entries older than ``oldest_millis``."""
    entries = {}
    for block in blocks:
        for story_id, (cluster, event_time) in block.items():
            if oldest_millis is None or event_time >= oldest_millis:
                entries[story_id] = (cluster, event_time)
    return _LedgerBlock.of(entries) if entries else None


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
            yield beam.pvalue.TaggedOutput(self._dead_letter_tag, DeadLetter(
                raw=story.body.encode("utf-8", "replace") if isinstance(story.body, str) else b"",
                source=story.source, stage=STAGE, reason=DeadLetterReason.ERROR,
                error=f"cannot compute dedup signature: {type(error).__name__}: {error}",
                failed_at=now_millis(), format=story.format))
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
