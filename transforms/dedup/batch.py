"""Batch deduplication: one sequential walk of the ledger over fingerprints.

In: ``Story`` records of a bounded PCollection. Out: the stories with their
``dedup`` decision, and dead letters for stories that cannot be
fingerprinted. Guarantees: decisions equal ``SequentialDeduplicator``'s over
the stories in (event time, id) order; only fingerprints are shuffled.
"""

from __future__ import annotations

import os
import pickle
from typing import Iterator, NamedTuple, Optional

import apache_beam as beam
import numpy as np

from transforms.dedup import minhash
from transforms.dedup.core import (
    DUPLICATE,
    DedupConfig,
    Fingerprint,
    SequentialDeduplicator,
    UNIQUE,
    _LEDGER_KEY,
    fingerprint,
    index_keys,
    warm_deduplicator,
)
from transforms.model import DedupInfo, Story


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
