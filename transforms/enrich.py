"""From parsed items to enriched stories: normalize, then enrich.

In: ``ParsedInput``. Out: ``Story`` with normalized text, bylines, dateline,
captions and agencies (``transforms.normalize``), headline markers and a
derived headline for stories sent without one, language and confidence
(detected, or the language the format declares, both as one canonical ISO
639-1 code; the declared tag is kept as written), word count and content
hash; element timestamps set to the story's event time. Items that
fail here become ``DeadLetter``s (stage ``normalize``), never dropped.
Deduplication is a later step: every story leaves here ``UNIQUE``.
"""

from __future__ import annotations

import logging
from typing import Iterator, Optional

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import TimestampedValue

from transforms import telemetry
from transforms.language.detect import LanguageDetector
from transforms.model import DeadLetter, DeadLetterReason, ParsedInput, ParseError, Story, now_millis
from transforms.normalize import NormalizedItem, normalize_item
from transforms.text import content_hash, count_words

__all__ = [
    "EnrichStories",
    "build_story",
    "enrich_item",
    "EVENT_TIME_FROM_SOURCE",
    "EVENT_TIME_FROM_PUBLISHED",
]

_LOG = logging.getLogger(__name__)


#: Where a story's event time comes from. Streaming pipelines keep the
#: source's clock (Kafka timestamp, file arrival), so that an old
#: ``published_at`` never makes a story late for its window; batch
#: backfills order stories by the agency's publication time.
EVENT_TIME_FROM_SOURCE = "source"
EVENT_TIME_FROM_PUBLISHED = "published"


def build_story(
    parsed: ParsedInput,
    normalized: NormalizedItem,
    language: tuple[str, float],
    ingested_at: int,
    event_time_from: str = EVENT_TIME_FROM_PUBLISHED,
) -> Story:
    """Assemble the ``Story`` record from its parts (pure)."""
    item = parsed.item
    body = "\n\n".join(normalized.body_paragraphs)
    if event_time_from == EVENT_TIME_FROM_SOURCE:
        event_time = parsed.event_time or item.published_at or ingested_at
    else:
        event_time = item.published_at or parsed.event_time or ingested_at
    return Story(
        id=parsed.source.record_id(),
        format=item.format,
        headline=normalized.headline,
        standfirst=normalized.standfirst,
        body=body,
        source=parsed.source,
        ingested_at=ingested_at,
        event_time=event_time,
        language=language[0],
        language_confidence=language[1],
        language_declared=item.language or None,
        headline_derived=normalized.headline_derived,
        editorial_markers=normalized.editorial_markers,
        update_number=normalized.update_number,
        word_count=count_words(body),
        dateline=normalized.dateline,
        bylines=normalized.bylines,
        agencies=normalized.agencies,
        captions=normalized.captions,
        credit_line=normalized.credit_line,
        published_at=item.published_at,
        item_id=item.item_id,
        version=item.version,
        slugline=item.slugline,
        urgency=item.urgency,
        content_hash=content_hash(body),
    )


def enrich_item(
    parsed: ParsedInput,
    detector: LanguageDetector,
    ingested_at: Optional[int] = None,
    event_time_from: str = EVENT_TIME_FROM_PUBLISHED,
) -> tuple[Story, int]:
    """Normalize and enrich one item; returns the story and the count of
    credit strings the normalizer did not understand.

    A story with a body but no headline gets a derived one (slugline, else
    first sentence; ``Story.headline_derived``), not a dead letter.

    Raises:
      ParseError: ``missing_headline`` when the story has neither a headline
        nor a body to derive one from.
    """
    normalized = normalize_item(parsed.item)
    if not normalized.headline:
        fmt = parsed.item.format
        raise ParseError(DeadLetterReason.MISSING_HEADLINE,
                         f"{fmt}: no headline after normalization, and no body to derive one from", fmt)
    language = detector.detect(
        normalized.headline, "\n".join(normalized.body_paragraphs), parsed.item.language
    )
    story = build_story(parsed, normalized, language, ingested_at or now_millis(), event_time_from)
    return story, normalized.unparsed


class EnrichStories(beam.PTransform):
    """Normalize and enrich parsed items into ``Story`` records.

    Returns a ``DoOutputsTuple``: main output ``Story`` (timestamped with its
    event time), and ``EnrichStories.DEAD_LETTERS``.
    """

    STORIES = "stories"
    DEAD_LETTERS = "dead_letters"

    def __init__(self, language_seed: int = 0, event_time_from: str = EVENT_TIME_FROM_PUBLISHED):
        super().__init__()
        if event_time_from not in (EVENT_TIME_FROM_SOURCE, EVENT_TIME_FROM_PUBLISHED):
            raise ValueError(f"event_time_from must be 'source' or 'published', not {event_time_from!r}")
        self._language_seed = language_seed
        self._event_time_from = event_time_from

    def expand(self, items):
        enrich = _EnrichFn(self._language_seed, self._event_time_from)
        return items | "NormalizeEnrich" >> beam.ParDo(enrich).with_outputs(
            self.DEAD_LETTERS, main=self.STORIES)


class _EnrichFn(beam.DoFn):
    def __init__(self, language_seed: int, event_time_from: str):
        self._language_seed = language_seed
        self._event_time_from = event_time_from
        self._detector: Optional[LanguageDetector] = None
        self._enriched = Metrics.counter("wire_ingest", "enriched")
        self._unparsed = Metrics.counter("wire_ingest", "credits_not_understood")

    def setup(self) -> None:
        self._detector = LanguageDetector(seed=self._language_seed)
        self._detector.load()

    def process(self, parsed: ParsedInput) -> Iterator:
        fmt = parsed.item.format
        try:
            with telemetry.stage_timer("normalize"):
                story, unparsed = enrich_item(parsed, self._detector,
                                              event_time_from=self._event_time_from)
        except ParseError as error:
            yield self._dead(parsed, error.reason, str(error))
            return
        except Exception as error:  # a normalizer bug must not lose the story
            _LOG.exception("normalize failed on %s", parsed.source.uri)
            yield self._dead(parsed, DeadLetterReason.ERROR, f"{fmt}: {type(error).__name__}: {error}")
            return
        self._enriched.inc()
        if unparsed:
            self._unparsed.inc(unparsed)
        if self._event_time_from == EVENT_TIME_FROM_SOURCE:
            yield story  # keeps the source's element timestamp
        else:
            yield TimestampedValue(story, story.event_time / 1000.0)

    @staticmethod
    def _dead(parsed: ParsedInput, reason: str, error: str):
        return beam.pvalue.TaggedOutput(EnrichStories.DEAD_LETTERS, DeadLetter(
            raw=parsed.raw, source=parsed.source, stage="normalize", reason=reason, error=error,
            failed_at=now_millis(), format=parsed.item.format))
