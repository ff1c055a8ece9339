"""Streaming dedup in arrival order: each story decided the moment it arrives.

Why a second streaming mode
---------------------------
The event-time mode (``transforms.dedup.streaming``) decides a story once
the watermark has passed it, so its statuses do not depend on the order in
which partitions deliver; the price is the watermark delay plus a shuffle to
the sharded band index and another to the ledger, which on two cores is
seconds per story. Newsroom wire systems mostly decide the other way: the
first copy to *arrive* is the original, every later copy within the horizon
is a duplicate. ``--dedup-order arrival`` does that, in one keyed step and
without waiting for the watermark.

Contract
--------
``arrival_dedup(stories, config, known, dead_letter_tag)``. In: ``Story``
records of an unbounded source. Out: a dict with ``"marked"`` (every story
once, with ``dedup`` set, at its own timestamp) and ``dead_letter_tag``
(a ``DeadLetter`` for every story whose signature cannot be computed). The
statuses, ``duplicate_of`` and ``cluster_id`` are those of
``SequentialDeduplicator`` fed the stories in the order the step receives
them, each at ``arrival_clock`` time (its event time, moved forward to
stay after every story before it), so the horizon counts from the latest
event time seen.

How
---
``FingerprintStories`` (stateless, in parallel) computes each fingerprint;
``DedupArrivalLedger`` (one key) holds an ``ArrivalDeduplicator`` in the
DoFn's memory and, in Beam state, an append-only log of what it decided
(fingerprint and cluster id, ``encode_entry``) plus a random token that
changes with every write. A worker whose cached token differs from the
state's (a retried bundle, another worker, a restore from a savepoint)
rebuilds from the log before deciding, so the cache is never trusted past
what the state holds. The log is rewritten with the live entries whenever
it has grown to twice their number, so its size stays bounded by the
horizon.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import struct
import threading
import uuid
from typing import Iterable, Iterator, Optional

import apache_beam as beam
import numpy as np
from apache_beam.coders import BytesCoder, VarIntCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.userstate import BagStateSpec, ReadModifyWriteStateSpec
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import Timestamp

from transforms.dedup import minhash
from transforms.dedup.core import (
    NAMESPACE,
    DedupConfig,
    Fingerprint,
    SequentialDeduplicator,
    fingerprint,
    signature_dead_letter,
)
from transforms.model import DedupInfo, Story

__all__ = [
    "ARRIVAL_LEDGER_STEP",
    "ArrivalDeduplicator",
    "arrival_dedup",
    "decode_entry",
    "encode_entry",
]

_LOG = logging.getLogger(__name__)

#: Label of the stateful step (part of the deploy contract: a savepoint
#: restores its state by this name).
ARRIVAL_LEDGER_STEP = "DedupArrivalLedger"
_KEY = "arrival"
_MILLI = 1000
#: Entries a log may hold beyond its live ones before it is rewritten.
_SLACK = 1000

# ----------------------------------------------------------------------------- log entries

_ENTRY = struct.Struct("<4sqiiHHH")  # magic, event time, level, shingles, id, hash, cluster lengths
_MAGIC = b"WIA1"


def encode_entry(fp: Fingerprint, cluster_id: str) -> bytes:
    """One log entry: what the ledger keeps of a decided story, as bytes."""
    story_id, content_hash, cluster = (s.encode("utf-8") for s in (fp.story_id, fp.content_hash, cluster_id))
    shingles = np.ascontiguousarray(fp.shingles, dtype=np.uint64)
    signature = b"" if fp.signature is None else np.ascontiguousarray(fp.signature, dtype=np.uint32).tobytes()
    header = _ENTRY.pack(_MAGIC, fp.event_time, fp.level, shingles.size, len(story_id), len(content_hash),
                         len(cluster))
    return b"".join((header, story_id, content_hash, cluster, struct.pack("<H", len(signature) // 4),
                     signature, shingles.tobytes()))


def decode_entry(data: bytes) -> tuple[Fingerprint, str]:
    """The (fingerprint, cluster id) of ``encode_entry``.

    Raises:
      ValueError: on bytes that are not a log entry.
    """
    if len(data) < _ENTRY.size or data[:4] != _MAGIC:
        raise ValueError("not an arrival-ledger entry")
    _, event_time, level, n_shingles, n_id, n_hash, n_cluster = _ENTRY.unpack_from(data)
    at = _ENTRY.size
    story_id = data[at:at + n_id].decode("utf-8")
    at += n_id
    content_hash = data[at:at + n_hash].decode("utf-8")
    at += n_hash
    cluster = data[at:at + n_cluster].decode("utf-8")
    at += n_cluster
    (n_signature,) = struct.unpack_from("<H", data, at)
    at += 2
    signature = np.frombuffer(data, dtype=np.uint32, count=n_signature, offset=at) if n_signature else None
    at += 4 * n_signature
    shingles = np.frombuffer(data, dtype=np.uint64, count=n_shingles, offset=at)
    if at + 8 * n_shingles != len(data):
        raise ValueError("arrival-ledger entry has the wrong length")
    return Fingerprint(story_id=story_id, event_time=event_time, content_hash=content_hash,
                       shingles=shingles, signature=signature, level=level), cluster


# ----------------------------------------------------------------------------- the ledger, without Beam


class ArrivalDeduplicator:
    """``SequentialDeduplicator`` over stories in arrival order.

    Each story is decided at its *arrival clock*: its event time, or one
    millisecond after the story before it if that is later. So every story
    is strictly after those that arrived before it (the sequential ledger
    only matches earlier stories), and the horizon runs from the latest
    event time seen.
    """

    def __init__(self, config: DedupConfig):
        self.config = config
        self._ledger = SequentialDeduplicator(config)
        self.clock = -(2 ** 62)

    def arrival_clock(self, fp: Fingerprint) -> Fingerprint:
        """``fp`` at the time it is decided."""
        at = max(fp.event_time, self.clock + 1)
        return fp if at == fp.event_time else dataclasses.replace(fp, event_time=at)

    def decide(self, fp: Fingerprint) -> tuple[DedupInfo, Fingerprint]:
        """The status of the story ``fp`` was made from, and the fingerprint
        as the log keeps it."""
        fp = self.arrival_clock(fp)
        self.clock = fp.event_time
        return self._ledger.add_fingerprint(fp), fp

    def restore(self, fp: Fingerprint, cluster_id: str) -> None:
        """Take back a decided story from the log, without deciding it again
        (its cluster may point at a story the horizon has already dropped)."""
        self._ledger.remember(fp, cluster_id)
        self.clock = max(self.clock, fp.event_time)

    def live_entries(self) -> list[bytes]:
        """Encoded entries of every story still inside the horizon, in order."""
        return [encode_entry(fp, cluster) for fp, cluster in self._ledger.remembered()]

    def __len__(self) -> int:
        return len(self._ledger.fingerprints)


# ----------------------------------------------------------------------------- Beam steps


def arrival_dedup(stories: beam.PCollection, config: DedupConfig, known: Iterable[Story],
                  dead_letter_tag: str) -> dict:
    """Apply the arrival-order steps in the caller's composite (their labels
    are part of the deploy contract)."""
    known_entries = _known_entries(tuple(known), config)
    fingerprinted = stories | "FingerprintStories" >> beam.ParDo(
        _FingerprintForArrivalFn(config, dead_letter_tag)).with_outputs(dead_letter_tag, main="keyed")
    marked = fingerprinted["keyed"] | ARRIVAL_LEDGER_STEP >> beam.ParDo(
        _ArrivalLedgerFn(config, known_entries))
    return {"marked": marked, dead_letter_tag: fingerprinted[dead_letter_tag]}


def _known_entries(known: tuple, config: DedupConfig) -> tuple[bytes, ...]:
    """Log entries of the stories an earlier run wrote (in event-time order,
    decided as that run would have), so the ledger starts with them."""
    if not known:
        return ()
    warm = ArrivalDeduplicator(config)
    hasher = minhash.MinHasher(config.num_perm, config.seed)
    for story in sorted(known, key=lambda story: (story.event_time, story.id)):
        try:
            warm.decide(fingerprint(story, config, hasher))
        except Exception:  # noqa: BLE001 - a record we cannot fingerprint just isn't remembered
            _LOG.warning("dedup: cannot remember earlier story %s", story.id)
    return tuple(warm.live_entries())


class _FingerprintForArrivalFn(beam.DoFn):
    """Each story with its encoded fingerprint, under the ledger's one key;
    stories that cannot be signed become dead letters."""

    def __init__(self, config: DedupConfig, dead_letter_tag: str):
        self._config = config
        self._dead_letter_tag = dead_letter_tag

    def setup(self) -> None:
        self._hasher = minhash.MinHasher(self._config.num_perm, self._config.seed)
        self._dead_letters = Metrics.counter(NAMESPACE, "dead_letter_dedup")

    def process(self, story: Story, timestamp=beam.DoFn.TimestampParam) -> Iterator:
        try:
            entry = encode_entry(fingerprint(story, self._config, self._hasher), "")
        except Exception as error:  # noqa: BLE001 - any failure dead-letters the story
            yield beam.pvalue.TaggedOutput(self._dead_letter_tag, signature_dead_letter(story, error))
            self._dead_letters.inc()
            return
        yield _KEY, (timestamp.micros, entry, story)


class _Cached:
    """What a worker process holds of the ledger, valid while the state's token is ``token``."""

    def __init__(self, deduplicator: ArrivalDeduplicator, token: Optional[int], log_size: int):
        self.deduplicator = deduplicator
        self.token = token
        self.log_size = log_size


#: The ledger each step holds in this process, by the step's uid: shared by
#: the DoFn instances of the step (an SDK worker keeps one per concurrent
#: bundle, and hands successive bundles to any of them), so that a bundle
#: landing on another instance does not rebuild the whole ledger from its log.
_SHARED: dict[str, _Cached] = {}
_SHARED_LOCK = threading.Lock()


class _ArrivalLedgerFn(beam.DoFn):
    """Decides each story on arrival against the stories before it (one key)."""

    LOG = BagStateSpec("log", BytesCoder())
    TOKEN = ReadModifyWriteStateSpec("token", VarIntCoder())

    def __init__(self, config: DedupConfig, known_entries: tuple[bytes, ...] = ()):
        self._config = config
        self._known_entries = known_entries
        self._uid = uuid.uuid4().hex  # pickled with the step: its instances share one ledger

    def setup(self) -> None:
        self._random = random.SystemRandom()
        self._rebuilds = Metrics.counter(NAMESPACE, "dedup_arrival_rebuilds")

    def process(self, element, log=beam.DoFn.StateParam(LOG), token=beam.DoFn.StateParam(TOKEN)) -> Iterator:
        _, (micros, entry, story) = element
        with _SHARED_LOCK:
            cached = self._current(log, token)
            fp, _ = decode_entry(entry)
            info, kept = cached.deduplicator.decide(fp)
            log.add(encode_entry(kept, info.cluster_id))
            cached.log_size += 1
            if cached.log_size > 2 * len(cached.deduplicator) + _SLACK:
                live = cached.deduplicator.live_entries()
                log.clear()
                for item in live:
                    log.add(item)
                cached.log_size = len(live)
            cached.token = self._random.getrandbits(62)
            token.write(cached.token)
        yield TimestampedValue(dataclasses.replace(story, dedup=info), Timestamp(micros=micros))

    def _current(self, log, token) -> _Cached:
        """The shared ledger if the state still is what it was built from, else
        one rebuilt from the log (seeded with the known stories on a new key)."""
        stored = token.read()
        cached = _SHARED.get(self._uid)
        if cached is not None and stored is not None and cached.token == stored:
            return cached
        deduplicator = ArrivalDeduplicator(self._config)
        if stored is None:
            entries = list(self._known_entries)
            log.clear()
            for item in entries:
                log.add(item)
        else:
            entries = list(log.read())
            self._rebuilds.inc()
        for item in entries:
            fp, cluster = decode_entry(item)
            deduplicator.restore(fp, cluster)
        cached = _SHARED[self._uid] = _Cached(deduplicator, stored, len(entries))
        return cached
