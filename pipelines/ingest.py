"""The wire-ingest pipeline: ``build_pipeline()`` and ``run()`` (options: ``pipelines.options``).

Sources: files (``--input``, batch), drop folders (``--watch``, streaming)
and Kafka (``--kafka-topic``, streaming or bounded). Every source feeds the
same ``ProcessStories`` chain; stories and dead letters go to Avro files
(``--output``) and, when asked, to Kafka topics. Kafka offsets are committed
only for inputs whose records were written (or dropped as duplicates).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import Any, Optional

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from pipelines.options import uses_java_kafka_reader
from pipelines.logs import log_starts, log_stops, start_progress, stop_progress
from pipelines.metrics import LiveMetrics
from pipelines.options import (
    FILES_SINK,
    IngestOptions,
    SINK_COUNTERS,
    configured_sinks,
    is_streaming_source,
    validate,
)
from pipelines.runners import resolve_runner
from transforms.dedup.core import ARRIVAL_ORDER
from transforms.enrich import EVENT_TIME_FROM_PUBLISHED, EVENT_TIME_FROM_SOURCE
from transforms.process import ProcessStories
from transforms.io.read import ReadWireStories
from transforms.io.write import WriteDeadLetters, WriteStories, load_written_stories

__all__ = [
    "build_pipeline",
    "run",
    "RunSummary",
    "summarize_metrics",
]


@dataclass(frozen=True)
class PipelineOutputs:
    """What ``build_pipeline`` returns, so tests can assert on it."""

    stories: Any
    dead_letters: Any
    dropped: Any
    acks: Any
    #: Acknowledgements split by outcome (stories written or dropped as
    #: duplicates; dead letters written), for the drop-folder state store.
    written_acks: Any = None
    dead_letter_acks: Any = None


def build_pipeline(pipeline: beam.Pipeline, options: IngestOptions,
                   count_progress: bool = False) -> PipelineOutputs:
    """Add the ingest steps to ``pipeline``; returns the main PCollections.
    ``count_progress`` adds a side branch counting the inputs read for the
    progress bar (``transforms.progress``)."""
    streaming = options.view_as(StandardOptions).streaming
    raw_inputs, read_dead_letters = read_sources(pipeline, options)
    if count_progress:
        from transforms.progress import CountProgress

        (raw_inputs, *read_dead_letters) | "ProgressInputs" >> beam.Flatten() \
            | "CountProgress" >> CountProgress()
    processed = raw_inputs | "ProcessStories" >> ProcessStories(
        dedup_mode=options.dedup_mode,
        dedup_order=options.dedup_order,
        dedup_horizon_seconds=int(options.dedup_horizon * 3600),
        dedup_threshold=options.dedup_threshold,
        max_input_bytes=options.max_input_bytes,
        event_time_from=EVENT_TIME_FROM_SOURCE if streaming else EVENT_TIME_FROM_PUBLISHED,
        language_seed=options.language_seed,
        known_stories=load_written_stories(options.output, options.dedup_horizon * 3600)
        if options.output else (),
    )
    dead_letters = (
        *read_dead_letters, processed[ProcessStories.DEAD_LETTERS]
    ) | "AllDeadLetters" >> beam.Flatten()
    if options.log_format == "json":
        from transforms.events import LogDeadLetters

        dead_letters | "LogDeadLetters" >> LogDeadLetters()
    outputs = write_outputs(processed[ProcessStories.STORIES], dead_letters,
                            processed[ProcessStories.DROPPED], options)
    if options.kafka_topic:  # either reader: commits what every sink has written
        from transforms.io.kafka_commit import CommitKafkaOffsets

        outputs.acks | "CommitKafkaOffsets" >> CommitKafkaOffsets(
            options.kafka_bootstrap, options.kafka_group)
    if options.watch:
        from transforms.io.watch import RecordIngestedFiles

        acks = {RecordIngestedFiles.WRITTEN: outputs.written_acks,
                RecordIngestedFiles.FAILED: outputs.dead_letter_acks}
        acks | "RecordIngestedFiles" >> RecordIngestedFiles(
            options.output, move_processed=options.move_processed, folders=options.watch)
    return outputs


def read_sources(pipeline: beam.Pipeline, options: IngestOptions):
    """All configured sources: one PCollection of ``RawInput``, and the
    dead-letter PCollections of the sources themselves."""
    raw_inputs, dead_letters = [], []
    if options.inputs:
        files = pipeline | "ReadWireStories" >> ReadWireStories(options.inputs, options.max_input_bytes)
        raw_inputs.append(files[ReadWireStories.INPUTS])
        dead_letters.append(files[ReadWireStories.DEAD_LETTERS])
    if options.watch:
        from transforms.io.watch import ReadDropFolders

        folders = pipeline | "ReadDropFolders" >> ReadDropFolders(
            options.watch, poll_interval_seconds=options.poll_interval,
            settle_seconds=options.settle_seconds, state_dir=options.output,
            max_input_bytes=options.max_input_bytes, move_processed=options.move_processed)
        raw_inputs.append(folders[ReadDropFolders.INPUTS])
        dead_letters.append(folders[ReadDropFolders.DEAD_LETTERS])
    if options.kafka_topic and uses_java_kafka_reader(options):
        from pipelines.options import FlinkDeployOptions
        from transforms.io.kafka_java import ReadWireStoriesFromJavaKafka

        raw_inputs.append(pipeline | "ReadWireStoriesFromJavaKafka" >> ReadWireStoriesFromJavaKafka(
            options.kafka_bootstrap, options.kafka_topic, group=options.kafka_group,
            start=options.kafka_start,
            expansion_service=options.view_as(FlinkDeployOptions).kafka_expansion_service))
    elif options.kafka_topic:
        from transforms.io.kafka_source import ReadWireStoriesFromKafka

        raw_inputs.append(pipeline | "ReadWireStoriesFromKafka" >> ReadWireStoriesFromKafka(
            options.kafka_bootstrap, options.kafka_topic, group=options.kafka_group,
            start=options.kafka_start, stop_at_end=options.kafka_stop_at_end,
            watermark_delay=options.kafka_watermark_delay,
            prompt=options.dedup_order == ARRIVAL_ORDER))
    if len(raw_inputs) == 1:
        return raw_inputs[0], dead_letters
    return tuple(raw_inputs) | "AllSources" >> beam.Flatten(), dead_letters


def write_outputs(stories, dead_letters, dropped, options: IngestOptions) -> PipelineOutputs:
    """Write stories and dead letters to every configured sink.

    Sinks are chained, not parallel: the Kafka sink passes on what the broker
    acknowledged, the file sink writes that and emits the positions of what
    it wrote. So an acknowledgement means "in every sink", which is what the
    offset commit needs.
    """
    window = options.window_seconds if options.view_as(StandardOptions).streaming else None
    # The last sink of a chain counts the summary's breakdown: the file sink
    # when there is one, else the Kafka sink.
    if options.kafka_output_topic:
        from transforms.io.kafka_sink import WriteStoriesToKafka

        stories = stories | "WriteStoriesToKafka" >> WriteStoriesToKafka(
            options.kafka_bootstrap, options.kafka_output_topic,
            confluent_schema_id=options.kafka_confluent_schema_id,
            breakdown=not options.output)
    if options.kafka_dead_letter_topic:
        from transforms.io.kafka_sink import WriteDeadLettersToKafka

        dead_letters = dead_letters | "WriteDeadLettersToKafka" >> WriteDeadLettersToKafka(
            options.kafka_bootstrap, options.kafka_dead_letter_topic,
            confluent_schema_id=options.kafka_dead_letter_confluent_schema_id,
            breakdown=not options.output)
    if options.output:
        story_acks = stories | "WriteStories" >> WriteStories(options.output, window, options.num_shards)
        dead_acks = dead_letters | "WriteDeadLetters" >> WriteDeadLetters(options.output, window)
    else:
        story_acks = stories | "StoryAcks" >> beam.Map(lambda story: story.source)
        dead_acks = dead_letters | "DeadLetterAcks" >> beam.Map(lambda dead: dead.source)
    acks = (story_acks, dead_acks, dropped) | "AllAcks" >> beam.Flatten()
    written_acks = ((story_acks, dropped) | "WrittenAcks" >> beam.Flatten()) if options.watch else None
    return PipelineOutputs(stories=stories, dead_letters=dead_letters, dropped=dropped, acks=acks,
                           written_acks=written_acks, dead_letter_acks=dead_acks)


@dataclass(frozen=True)
class RunSummary:
    """End-of-run counts; ``balanced`` when every item read is accounted for.

    Every sink counts what it writes (``SINK_COUNTERS``). A record written to
    two sinks is still one record read, so ``written`` and ``dead_letters``
    are the counts of the last sink of each chain (the one that
    acknowledges), and the run balances only when read = written + dropped +
    dead-lettered holds for every sink: each sink of a chain wrote exactly
    as many records as the last.
    """

    counters: dict[str, int]
    #: The sinks stories and dead letters went to, in chain order.
    story_sinks: tuple[str, ...] = (FILES_SINK,)
    dead_letter_sinks: tuple[str, ...] = (FILES_SINK,)

    def get(self, name: str) -> int:
        return self.counters.get(name, 0)

    @property
    def read(self) -> int:
        return self.get("read")

    @property
    def written(self) -> int:
        return self.get(SINK_COUNTERS[self.story_sinks[-1]][0]) if self.story_sinks else 0

    @property
    def dead_letters(self) -> int:
        return self.get(SINK_COUNTERS[self.dead_letter_sinks[-1]][1]) if self.dead_letter_sinks else 0

    @property
    def dropped(self) -> int:
        return self.get("duplicates_dropped")

    @property
    def sinks(self) -> dict[str, dict[str, int]]:
        """What each sink wrote, in chain order: ``{sink: {"stories": n, "dead_letters": n}}``
        (only the streams the sink takes)."""
        counts: dict[str, dict[str, int]] = {}
        for sink in dict.fromkeys(self.story_sinks + self.dead_letter_sinks):
            stories, dead_letters = SINK_COUNTERS[sink]
            counts[sink] = {}
            if sink in self.story_sinks:
                counts[sink]["stories"] = self.get(stories)
            if sink in self.dead_letter_sinks:
                counts[sink]["dead_letters"] = self.get(dead_letters)
        return counts

    @property
    def sinks_agree(self) -> bool:
        """Every sink of a chain wrote as many records as its last sink."""
        return all(counts.get("stories", self.written) == self.written
                   and counts.get("dead_letters", self.dead_letters) == self.dead_letters
                   for counts in self.sinks.values())

    @property
    def balanced(self) -> bool:
        return self.read == self.written + self.dropped + self.dead_letters and self.sinks_agree

    def by_prefix(self, prefix: str) -> dict[str, int]:
        return {k[len(prefix):]: v for k, v in sorted(self.counters.items()) if k.startswith(prefix)}

    def to_json(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "written": self.written,
            "duplicates_dropped": self.dropped,
            "dead_letters": self.dead_letters,
            "balanced": self.balanced,
            "sinks": self.sinks,
            "languages": self.by_prefix("written_language_"),
            "dedup": self.by_prefix("dedup_"),
            "dead_letter_reasons": self.by_prefix("dead_letter_"),
            "counters": dict(sorted(self.counters.items())),
        }

    def render(self) -> str:
        languages = ", ".join(f"{k} {v}" for k, v in self.by_prefix("written_language_").items())
        dedup = ", ".join(f"{k} {v}" for k, v in self.by_prefix("dedup_").items())
        reasons = ", ".join(f"{k} {v}" for k, v in self.by_prefix("dead_letter_").items())
        verdict = "balanced" if self.balanced else "NOT BALANCED"
        lines = [
            "wire-ingest summary",
            f"  read          {self.read}",
            f"  written       {self.written}" + (f"  (languages: {languages})" if languages else ""),
            f"  dedup         {dedup or '-'}",
            f"  dropped dups  {self.dropped}",
            f"  dead letters  {self.dead_letters}" + (f"  ({reasons})" if reasons else ""),
        ]
        balance = (f"  {verdict}: read {self.read} = written {self.written} + dropped {self.dropped}"
                   f" + dead-lettered {self.dead_letters}")
        if set(self.sinks) != {FILES_SINK}:
            lines.append("  sinks         " + "; ".join(
                f"{sink}: " + ", ".join(f"{stream.replace('_', ' ')} {n}" for stream, n in counts.items())
                for sink, counts in self.sinks.items()))
            where = next(iter(self.sinks)) if len(self.sinks) == 1 else \
                f"every sink ({', '.join(self.sinks)})"
            balance += f" in {where}" if self.sinks_agree else " (the sinks wrote different counts)"
        return "\n".join(lines + [balance])


def summarize_metrics(result, options: Optional[IngestOptions] = None) -> RunSummary:
    """Sum the pipeline's ``wire_ingest`` counters over all steps; ``options``
    name the sinks (default: files only)."""
    counters: dict[str, int] = {}
    query = result.metrics().query(MetricsFilter().with_namespace("wire_ingest"))
    for counter in query["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        counters[counter.key.metric.name] = counters.get(counter.key.metric.name, 0) + int(value or 0)
    if options is None:
        return RunSummary(counters)
    story_sinks, dead_letter_sinks = configured_sinks(options)
    return RunSummary(counters, story_sinks, dead_letter_sinks)


def run(argv: Optional[list[str]] = None) -> RunSummary:
    """Build and run the pipeline, wait for it, print and return the summary."""
    from pipelines.options import apply_local_flink_defaults, with_flink_flags

    options = PipelineOptions(with_flink_flags(argv if argv is not None else sys.argv[1:]))
    ingest = options.view_as(IngestOptions)
    validate(ingest)
    if is_streaming_source(ingest):
        options.view_as(StandardOptions).streaming = True

    apply_local_flink_defaults(options)
    pipeline = beam.Pipeline(runner=resolve_runner(options), options=options)
    bar = start_progress(options, ingest, pipeline.runner)
    build_pipeline(pipeline, ingest, count_progress=bar is not None)
    log_starts(ingest, configured_sinks(ingest))
    live = LiveMetrics(ingest) if ingest.metrics_port is not None else None
    try:
        if live is not None:
            live.running()
        result = pipeline.run()
        result.wait_until_finish()
    except BaseException as error:
        if live is not None:
            live.stopped(error)
        raise
    if live is not None:
        live.stopped()
    stop_progress(bar)
    summary = summarize_metrics(result, ingest)
    log_stops(ingest, summary.sinks)
    print(summary.render())
    if ingest.summary_json:
        os.makedirs(os.path.dirname(os.path.abspath(ingest.summary_json)), exist_ok=True)
        with open(ingest.summary_json, "w", encoding="utf-8") as handle:
            json.dump(summary.to_json(), handle, indent=2)
    return summary


# ----------------------------------------------------------------------------- moved (issue 19)

#: Names ``pipelines.ingest`` held before issue 19, and where they live now. Answered here
#: for one release (old imports and pickles), with a DeprecationWarning.
_MOVED = {
    "FILES_SINK": "pipelines.options",
    "IngestOptions": "pipelines.options",
    "KAFKA_SINK": "pipelines.options",
    "SINK_COUNTERS": "pipelines.options",
    "configured_sinks": "pipelines.options",
    "is_streaming_source": "pipelines.options",
    "validate": "pipelines.options",
    "validate_kafka_sinks": "pipelines.options",
}


def __getattr__(name):
    try:
        module = _MOVED[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    import importlib
    import warnings

    warnings.warn(f"pipelines.ingest.{name} moved to {module}.{name}", DeprecationWarning, stacklevel=2)
    return getattr(importlib.import_module(module), name)
