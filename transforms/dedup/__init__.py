"""Deduplication of stories: ``DeduplicateStories`` picks batch or streaming.

In: ``Story`` records. Out: a dict of PCollections: ``stories`` (marked, or
only ``UNIQUE`` ones with ``mode="drop"``), ``dropped`` and
``dead_letters``. Bounded input runs the grouped batch walk
(``transforms.dedup.batch``), unbounded input the band-keyed streaming steps
(``transforms.dedup.streaming``); both decide with the pure core
(``transforms.dedup.core``). Stateful step names are a deploy contract
(``STATEFUL_STEP_NAMES``).

The names the old ``transforms/dedup.py`` module held are still answered
here for one release, with a ``DeprecationWarning``.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Iterator, Optional, Tuple

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import Timestamp

from transforms import telemetry
from transforms.dedup.batch import _DedupGroupFn, _FingerprintFn, _TOKENED_STORIES
from transforms.dedup.core import (
    ARRIVAL_ORDER,
    DEDUP_ORDERS,
    DUPLICATE,
    EVENT_TIME_ORDER,
    DedupConfig,
    NAMESPACE,
    NEAR_DUPLICATE,
    STAGE,
    UNIQUE,
    UPDATE,
)
from transforms.model import DeadLetter, DeadLetterReason, DedupInfo, Story, now_millis

__all__ = [
    "DeduplicateStories",
]


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
      order: how the streaming steps order stories: ``"event-time"``
        (default; decided once the watermark passes them, whatever the
        delivery order) or ``"arrival"`` (decided as they arrive, the first
        copy to arrive is the original; ``transforms.dedup.arrival``).
        Bounded input is always decided in event-time order.

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
        order: str = EVENT_TIME_ORDER,
    ):
        super().__init__(label)
        if order not in DEDUP_ORDERS:
            raise ValueError(f"order: expected one of {', '.join(DEDUP_ORDERS)}, got {order!r}")
        self._streaming = streaming
        self._order = order
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
        elif self._order == ARRIVAL_ORDER:
            from transforms.dedup.arrival import arrival_dedup

            marked = arrival_dedup(stories, config, self._known, self.DEAD_LETTERS)
        else:
            from transforms.dedup.streaming import band_keyed_dedup

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


# ----------------------------------------------------------------------------- moved (issue 19)

#: Names ``transforms.dedup`` held before issue 19, and where they live now. Answered here
#: for one release (old imports and pickles), with a DeprecationWarning.
_MOVED = {
    "DUPLICATE": "transforms.dedup.core",
    "DedupConfig": "transforms.dedup.core",
    "Fingerprint": "transforms.dedup.core",
    "Match": "transforms.dedup.core",
    "NAMESPACE": "transforms.dedup.core",
    "NEAR_DUPLICATE": "transforms.dedup.core",
    "STAGE": "transforms.dedup.core",
    "STATEFUL_STEP_NAMES": "transforms.dedup.core",
    "SequentialDeduplicator": "transforms.dedup.core",
    "UNIQUE": "transforms.dedup.core",
    "UPDATE": "transforms.dedup.core",
    "_DedupGroupFn": "transforms.dedup.batch",
    "_EMPTY": "transforms.dedup.core",
    "_FingerprintFn": "transforms.dedup.batch",
    "_HEADLINE_CORRECTION": "transforms.dedup.core",
    "_HEADLINE_UPDATE": "transforms.dedup.core",
    "_LEDGER_KEY": "transforms.dedup.core",
    "_LedgerEntry": "transforms.dedup.batch",
    "_MIN_CONTAINED_SHINGLES": "transforms.dedup.core",
    "_MODES": "transforms.dedup.core",
    "_SIGNATURE_ERROR": "transforms.dedup.batch",
    "_SLUG_NUMBER": "transforms.dedup.core",
    "_TOKENED_STORIES": "transforms.dedup.batch",
    "_VERIFY": "transforms.dedup.core",
    "_decide_in_order": "transforms.dedup.batch",
    "_headline_salt": "transforms.dedup.core",
    "_is_exact_key": "transforms.dedup.core",
    "_short_body_key": "transforms.dedup.core",
    "_within_horizon": "transforms.dedup.core",
    "bucket_step": "transforms.dedup.core",
    "classify": "transforms.dedup.core",
    "compare": "transforms.dedup.core",
    "decide": "transforms.dedup.core",
    "fingerprint": "transforms.dedup.core",
    "headline_identity": "transforms.dedup.core",
    "index_keys": "transforms.dedup.core",
    "prune_ledger": "transforms.dedup.core",
    "update_level": "transforms.dedup.core",
    "warm_deduplicator": "transforms.dedup.core",
}


def __getattr__(name):
    try:
        module = _MOVED[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    import importlib
    import warnings

    warnings.warn(f"transforms.dedup.{name} moved to {module}.{name}", DeprecationWarning, stacklevel=2)
    return getattr(importlib.import_module(module), name)
