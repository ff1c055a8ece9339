"""The wire-ingest pipeline: options, ``build_pipeline()`` and ``run()``.

Sources: files (``--input``, batch), drop folders (``--watch``, streaming)
and Kafka (``--kafka-topic``, streaming or bounded). Every source feeds the
same ``ProcessStories`` chain; stories and dead letters go to Avro files
(``--output``) and, when asked, to Kafka topics. Kafka offsets are committed
only for inputs whose records were written (or dropped as duplicates).
"""

from __future__ import annotations

import glob
import json
import logging
import os
import sys
from dataclasses import dataclass
from typing import Any, Optional

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from pipelines.flink import uses_java_kafka_reader
from pipelines.logs import add_log_args, log_starts, log_stops, start_progress, stop_progress, \
    validate_log_args
from pipelines.metrics import LiveMetrics, add_metrics_args, validate_metrics
from pipelines.runners import resolve_runner
from transforms.enrich import EVENT_TIME_FROM_PUBLISHED, EVENT_TIME_FROM_SOURCE
from transforms.process import ProcessStories
from transforms.read import DEFAULT_MAX_INPUT_BYTES, ReadWireStories, expand_pattern
from transforms.write import WriteDeadLetters, WriteStories, load_written_stories

__all__ = ["IngestOptions", "build_pipeline", "run", "RunSummary", "summarize_metrics",
           "configured_sinks"]

_LOG = logging.getLogger(__name__)


class IngestOptions(PipelineOptions):
    """Options of ``wire-ingest run``; any other Beam option passes through."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        parser.add_argument("--input", dest="inputs", action="append", default=[],
                            help="File glob or directory of raw stories to read (batch); repeatable. "
                                 "Plain text, agency formats, Reuters-21578 .sgm archives, .gz.")
        parser.add_argument("--output", dest="output",
                            help="Directory for stories-*.avro and dead-letters-*.avro.")
        parser.add_argument("--max-input-bytes", dest="max_input_bytes", type=int,
                            default=DEFAULT_MAX_INPUT_BYTES,
                            help="Inputs larger than this many bytes are dead-lettered "
                                 f"as too_large (default {DEFAULT_MAX_INPUT_BYTES}).")
        parser.add_argument("--dedup-mode", dest="dedup_mode", choices=("mark", "drop"),
                            default="mark",
                            help="mark: write every story with its dedup status (default); "
                                 "drop: count duplicates and do not write them.")
        parser.add_argument("--dedup-horizon", dest="dedup_horizon", type=float, default=72.0,
                            help="Hours of event time a story is remembered for dedup (default 72).")
        parser.add_argument("--dedup-threshold", dest="dedup_threshold", type=float, default=None,
                            help="Estimated Jaccard similarity (0-1) from which a story is a "
                                 "near-duplicate (default: the evaluated one, see README).")
        parser.add_argument("--window-seconds", dest="window_seconds", type=int, default=300,
                            help="Streaming only: length in seconds of the fixed event-time "
                                 "windows that stories and dead letters are filed by, "
                                 "DIR/stories-<window start>-<window end>-<token>.avro (UTC); "
                                 "each bundle writes one file per window at once, without "
                                 "waiting for the window to close (default 300).")
        parser.add_argument("--num-shards", dest="num_shards", type=int, default=2,
                            help="Batch only: story files written per run (default 2).")
        parser.add_argument("--language-seed", dest="language_seed", type=int, default=0,
                            help="Seed of the language detector; fixed so results are "
                                 "deterministic (default 0).")
        parser.add_argument("--watch", dest="watch", action="append", default=[],
                            help="Drop folder to watch for new wire files (streaming); repeatable.")
        parser.add_argument("--poll-interval", dest="poll_interval", type=float, default=5.0,
                            help="Seconds between two listings of a watched folder (default 5).")
        parser.add_argument("--settle-seconds", dest="settle_seconds", type=float, default=2.0,
                            help="A watched file is read once its size and mtime have not changed "
                                 "for this many seconds (default 2).")
        parser.add_argument("--move-processed", dest="move_processed", action="store_true",
                            help="Move ingested files to _PROCESSED/ and failed ones to _ERROR/.")
        parser.add_argument("--kafka-bootstrap", dest="kafka_bootstrap", default=None,
                            help="Kafka bootstrap servers HOST:PORT[,HOST:PORT].")
        parser.add_argument("--kafka-topic", dest="kafka_topic", default=None,
                            help="Topic of raw stories to read (streaming unless --kafka-stop-at-end).")
        parser.add_argument("--kafka-group", dest="kafka_group", default="wire-ingest",
                            help="Consumer group whose offsets are committed (default wire-ingest).")
        parser.add_argument("--kafka-start", dest="kafka_start", default="committed",
                            help="Where to start: committed (default; earliest if none), earliest, "
                                 "latest, or an ISO-8601 time.")
        parser.add_argument("--kafka-stop-at-end", dest="kafka_stop_at_end", action="store_true",
                            help="Bounded read: stop at the end offsets seen at start (backfills).")
        parser.add_argument("--kafka-watermark-delay", dest="kafka_watermark_delay", type=float,
                            default=5.0,
                            help="Seconds the event-time watermark stays behind Kafka record times "
                                 "(default 5). Streaming dedup decides a story once the watermark "
                                 "passes it, so this is the floor of a story's latency; records "
                                 "later than this are decided as late arrivals.")
        parser.add_argument("--kafka-output-topic", dest="kafka_output_topic", default=None,
                            help="Write stories to this topic (Avro single-object encoding, or "
                                 "see --kafka-confluent-schema-id), as well as to --output if "
                                 "given; without --output, --kafka-dead-letter-topic is needed.")
        parser.add_argument("--kafka-dead-letter-topic", dest="kafka_dead_letter_topic", default=None,
                            help="Write dead letters to this topic (Avro single-object encoding, "
                                 "or see --kafka-dead-letter-confluent-schema-id), as well as to "
                                 "--output if given.")
        parser.add_argument("--kafka-confluent-schema-id", dest="kafka_confluent_schema_id",
                            type=int, default=None,
                            help="Write the stories of --kafka-output-topic in Confluent wire "
                                 "format with this schema registry id of schemas/story.avsc, "
                                 "instead of Avro single-object encoding. With "
                                 "--kafka-dead-letter-topic, give "
                                 "--kafka-dead-letter-confluent-schema-id too.")
        parser.add_argument("--kafka-dead-letter-confluent-schema-id",
                            dest="kafka_dead_letter_confluent_schema_id", type=int, default=None,
                            help="Write the dead letters of --kafka-dead-letter-topic in Confluent "
                                 "wire format with this schema registry id of "
                                 "schemas/dead_letter.avsc (not the story schema's id). With "
                                 "--kafka-output-topic, give --kafka-confluent-schema-id too.")
        parser.add_argument("--summary-json", dest="summary_json", default=None,
                            help="Also write the end-of-run counts to this JSON file.")
        add_log_args(parser)
        add_metrics_args(parser)


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


def validate(options: IngestOptions) -> None:
    """Fail before launch on bad configuration, naming the option."""
    if not (options.inputs or options.watch or options.kafka_topic):
        raise ValueError("--input, --watch or --kafka-topic: give at least one source")
    if not options.output and not options.kafka_output_topic:
        raise ValueError("--output: give an output directory (or --kafka-output-topic)")
    for pattern in options.inputs:
        if "://" not in pattern and not glob.glob(expand_pattern(pattern)):
            raise ValueError(f"--input: {pattern!r} matches no file")
    for folder in options.watch:
        if not os.path.isdir(folder):
            raise ValueError(f"--watch: {folder!r} is not a directory")
    if options.watch and not options.output:
        raise ValueError("--output: drop folders (--watch) keep their journal of ingested files in "
                         "OUTPUT/_state; give --output (Kafka-only sinks are for Kafka sources)")
    if (options.kafka_topic or options.kafka_output_topic or options.kafka_dead_letter_topic) \
            and not options.kafka_bootstrap:
        raise ValueError("--kafka-bootstrap: needed with a Kafka topic")
    if options.dedup_horizon <= 0:
        raise ValueError("--dedup-horizon must be a positive number of hours")
    if options.dedup_threshold is not None and not 0 < options.dedup_threshold <= 1:
        raise ValueError("--dedup-threshold must be in (0, 1]")
    if options.poll_interval <= 0:
        raise ValueError("--poll-interval must be a positive number of seconds")
    if options.window_seconds <= 0:
        raise ValueError("--window-seconds must be a positive number of seconds")
    if options.kafka_watermark_delay < 0:
        raise ValueError("--kafka-watermark-delay must be zero or a positive number of seconds")
    validate_kafka_sinks(options)
    validate_log_args(options)
    validate_metrics(options)


def validate_kafka_sinks(options: IngestOptions) -> None:
    """Every dead letter must land somewhere, and both topics speak one framing."""
    from transforms.kafka_io import check_confluent_schema_id

    story_id, dead_id = options.kafka_confluent_schema_id, options.kafka_dead_letter_confluent_schema_id
    if options.kafka_output_topic and not options.output and not options.kafka_dead_letter_topic:
        raise ValueError("--kafka-dead-letter-topic: needed with --kafka-output-topic when there is "
                         "no --output, or dead letters would be written nowhere")
    check_confluent_schema_id(story_id, "--kafka-confluent-schema-id")
    check_confluent_schema_id(dead_id, "--kafka-dead-letter-confluent-schema-id")
    if story_id is not None and not options.kafka_output_topic:
        raise ValueError("--kafka-confluent-schema-id: frames the stories of --kafka-output-topic; "
                         "give that topic too")
    if dead_id is not None and not options.kafka_dead_letter_topic:
        raise ValueError("--kafka-dead-letter-confluent-schema-id: frames the dead letters of "
                         "--kafka-dead-letter-topic; give that topic too")
    if options.kafka_output_topic and options.kafka_dead_letter_topic:
        # One framing for both topics: a consumer set up for Confluent's could not read the other.
        if story_id is not None and dead_id is None:
            raise ValueError("--kafka-dead-letter-confluent-schema-id: needed with "
                             "--kafka-confluent-schema-id and --kafka-dead-letter-topic (the "
                             "dead-letter schema has its own registry id)")
        if dead_id is not None and story_id is None:
            raise ValueError("--kafka-confluent-schema-id: needed with "
                             "--kafka-dead-letter-confluent-schema-id and --kafka-output-topic "
                             "(the story schema has its own registry id)")
    if story_id is not None and story_id == dead_id:
        raise ValueError("--kafka-dead-letter-confluent-schema-id: must differ from "
                         "--kafka-confluent-schema-id (one registry id names one schema)")


def is_streaming_source(options: IngestOptions) -> bool:
    """Drop folders and unbounded Kafka reads never end: they need streaming."""
    return bool(options.watch) or bool(options.kafka_topic and not options.kafka_stop_at_end)


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
        from transforms.kafka_io import CommitKafkaOffsets

        outputs.acks | "CommitKafkaOffsets" >> CommitKafkaOffsets(
            options.kafka_bootstrap, options.kafka_group)
    if options.watch:
        from transforms.watch import RecordIngestedFiles

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
        from transforms.watch import ReadDropFolders

        folders = pipeline | "ReadDropFolders" >> ReadDropFolders(
            options.watch, poll_interval_seconds=options.poll_interval,
            settle_seconds=options.settle_seconds, state_dir=options.output,
            max_input_bytes=options.max_input_bytes, move_processed=options.move_processed)
        raw_inputs.append(folders[ReadDropFolders.INPUTS])
        dead_letters.append(folders[ReadDropFolders.DEAD_LETTERS])
    if options.kafka_topic and uses_java_kafka_reader(options):
        from pipelines.flink import FlinkDeployOptions, ReadWireStoriesFromJavaKafka

        raw_inputs.append(pipeline | "ReadWireStoriesFromJavaKafka" >> ReadWireStoriesFromJavaKafka(
            options.kafka_bootstrap, options.kafka_topic, group=options.kafka_group,
            start=options.kafka_start,
            expansion_service=options.view_as(FlinkDeployOptions).kafka_expansion_service))
    elif options.kafka_topic:
        from transforms.kafka_io import ReadWireStoriesFromKafka

        raw_inputs.append(pipeline | "ReadWireStoriesFromKafka" >> ReadWireStoriesFromKafka(
            options.kafka_bootstrap, options.kafka_topic, group=options.kafka_group,
            start=options.kafka_start, stop_at_end=options.kafka_stop_at_end,
            watermark_delay=options.kafka_watermark_delay))
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
        from transforms.kafka_io import WriteStoriesToKafka

        stories = stories | "WriteStoriesToKafka" >> WriteStoriesToKafka(
            options.kafka_bootstrap, options.kafka_output_topic,
            confluent_schema_id=options.kafka_confluent_schema_id,
            breakdown=not options.output)
    if options.kafka_dead_letter_topic:
        from transforms.kafka_io import WriteDeadLettersToKafka

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


FILES_SINK = "files"
KAFKA_SINK = "kafka"
#: The counters each sink counts its own writes with: (stories, dead letters).
SINK_COUNTERS = {
    FILES_SINK: ("written", "dead_letters"),
    KAFKA_SINK: ("kafka_story_messages_written", "kafka_dead_letter_messages_written"),
}


def configured_sinks(options: IngestOptions) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The sinks of stories and of dead letters, in chain order (Kafka, then
    files: the last one acknowledges), as ``write_outputs`` chains them."""
    stories = ((KAFKA_SINK,) if options.kafka_output_topic else ()) + \
        ((FILES_SINK,) if options.output else ())
    dead_letters = ((KAFKA_SINK,) if options.kafka_dead_letter_topic else ()) + \
        ((FILES_SINK,) if options.output else ())
    return stories, dead_letters


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
    from pipelines.flink import apply_local_flink_defaults, with_flink_flags

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
