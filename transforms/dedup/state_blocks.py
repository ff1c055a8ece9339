"""The layout of the streaming dedup state: index buckets and blocks, ledger blocks, their bytes.

In: ``Fingerprint`` records (``transforms.dedup.core``) with their postings
(band, bucket value); ledger entries (story id -> cluster id, event time);
stored block bytes. Out: a story's bucket values, postings and index keys
(``index_entries``); the matches a story completes in a bucket
(``bucket_matches``); ``IndexBlock`` and ``_LedgerBlock`` (numpy columns)
and their bytes; the merge, split-by-cell and expiry helpers the streaming
steps apply to them; a content-addressed cache of decoded blocks.

Guarantees:
- Pure: no Beam, no I/O. The only module state is ``_BLOCKS``, a decode
  cache keyed by the stored bytes (so never stale) and safe across threads.
- Bucket values and index keys depend only on the fingerprint and the
  config (fixed multipliers, blake2b; never Python's ``hash``), so every
  worker and every restart agrees on them. Changing them moves entries to
  other keys: a savepoint's index state is then not found.
- Stored blocks stay readable: blocks written by earlier versions still
  decode, in the current layout (``WIB2`` / ``WLB2`` header, then the
  columns) and in the first one (a pickled tuple of columns). Blocks of the
  current layout decode as views on the stored bytes, not copies.
- ``bucket_matches`` finds each pair once, whatever order the two stories
  arrive in (a band pair only in the lowest band the two share).

The Beam steps that keep this state in keyed bags and timers are in
``transforms.dedup.streaming``, whose docstring describes the design.
"""

from __future__ import annotations

import bisect
import collections
import hashlib
import pickle
import struct
import threading
from typing import Iterable, NamedTuple, Optional

import numpy as np

from transforms.dedup.core import DedupConfig, Fingerprint, Match, _within_horizon, compare

__all__ = [
    "INDEX_SHARDS",
    "IndexBlock",
    "bucket_values",
    "index_postings",
    "index_entries",
    "bucket_matches",
    "expire_entries",
]

#: Index keys: a story's buckets (its bands and its content hash) go to
#: ``bucket value mod INDEX_SHARDS``, so it reaches at most this many keys
#: (about 7 of 8 for 17 buckets). More shards: more parallelism on Flink and
#: smaller keys; fewer: fewer index elements per story (a local runner's
#: cost is per element and per key). Measured on 2,000 Reuters stories on
#: the BundleBasedDirectRunner: 4 shards 112 stories/s, 8 104/s, 16 54/s.
INDEX_SHARDS = 8
#: Band number of the exact-copy keys (content hash).
_EXACT = -1
#: Event-time cells per horizon: expiry timers fire at cell ends, sealed
#: blocks are merged per cell.
_CELLS = 8
_MILLI = 1000  # micros
_U64 = np.uint64
_BUCKET_MULTIPLIERS = np.array(
    [0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93,
     0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53, 0x27D4EB2F165667C5, 0x85EBCA77C2B2AE63],
    dtype=_U64)
_EMPTY_U64 = np.empty(0, dtype=_U64)


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
