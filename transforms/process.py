"""The processing chain every source feeds: parse, normalize, enrich, dedup.

In: ``RawInput`` from any source (files, drop folders, Kafka, a TestStream).
Out: a dict of three PCollections:

* ``stories``: ``Story`` records to write, with their dedup status;
* ``dead_letters``: ``DeadLetter`` records from every stage;
* ``dropped``: ``SourcePosition`` of duplicates not written (``drop`` mode),
  so that offset commits can acknowledge them.

The same composite runs in batch, in streaming and on portable runners, so
that a replay of the seed as a test stream gives the same records as a batch
run over the file.
"""

from __future__ import annotations

import apache_beam as beam

from transforms.dedup import DeduplicateStories
from transforms.enrich import EVENT_TIME_FROM_PUBLISHED, EnrichStories
from transforms.parse import ParseStories
from transforms.io.read import DEFAULT_MAX_INPUT_BYTES

__all__ = ["ProcessStories"]


class ProcessStories(beam.PTransform):
    """Parse, normalize, enrich and deduplicate raw wire inputs."""

    STORIES = "stories"
    DEAD_LETTERS = "dead_letters"
    DROPPED = "dropped"

    def __init__(
        self,
        dedup_mode: str = "mark",
        dedup_horizon_seconds: int = 72 * 3600,
        dedup_threshold: float | None = None,
        max_input_bytes: int = DEFAULT_MAX_INPUT_BYTES,
        event_time_from: str = EVENT_TIME_FROM_PUBLISHED,
        language_seed: int = 0,
        known_stories: tuple = (),
        dedup_order: str = "event-time",
    ):
        super().__init__()
        self._dedup = dict(mode=dedup_mode, horizon_seconds=dedup_horizon_seconds,
                           known_stories=tuple(known_stories), order=dedup_order)
        if dedup_threshold is not None:
            self._dedup["threshold"] = dedup_threshold
        self._max_input_bytes = max_input_bytes
        self._event_time_from = event_time_from
        self._language_seed = language_seed
        DeduplicateStories(**self._dedup)  # validate options before launch

    def expand(self, raw_inputs):
        parsed = raw_inputs | "ParseStories" >> ParseStories(self._max_input_bytes)
        enriched = parsed[ParseStories.ITEMS] | "EnrichStories" >> EnrichStories(
            self._language_seed, self._event_time_from)
        deduped = enriched[EnrichStories.STORIES] | "DeduplicateStories" >> DeduplicateStories(**self._dedup)
        dead_letters = (
            parsed[ParseStories.DEAD_LETTERS],
            enriched[EnrichStories.DEAD_LETTERS],
            deduped[DeduplicateStories.DEAD_LETTERS],
        ) | "CollectDeadLetters" >> beam.Flatten()
        return {
            self.STORIES: deduped[DeduplicateStories.STORIES],
            self.DEAD_LETTERS: dead_letters,
            self.DROPPED: deduped[DeduplicateStories.DROPPED]
            | "DroppedPositions" >> beam.Map(lambda story: story.source),
        }
