"""wire-ingest's options, their validation, and the flags each runner needs.

In: command-line arguments. Out: ``IngestOptions`` and ``FlinkDeployOptions``
(``PipelineOptions`` subclasses), ``validate`` (``ValueError`` naming the
option, before anything is built), the configured sinks, and the Flink
defaults (``with_flink_flags``, ``apply_local_flink_defaults``).
Guarantees: imports no pipeline graph, so both the graph (``pipelines.ingest``)
and the Flink tools (``pipelines.flink``) import it, never each other.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Optional

from apache_beam.options.pipeline_options import (
    PipelineOptions,
    FlinkRunnerOptions,
    PortableOptions,
    StandardOptions,
)

from pipelines.logs import add_log_args, validate_log_args
from pipelines.metrics import add_metrics_args, validate_metrics
from transforms.dedup.core import DEDUP_ORDERS
from transforms.io.read import DEFAULT_MAX_INPUT_BYTES, expand_pattern

__all__ = [
    "IngestOptions",
    "configured_sinks",
    "FlinkDeployOptions",
    "KAFKA_READER_NATIVE",
    "KAFKA_READER_JAVA",
    "PRINT_OPTIONS_FLAG",
    "uses_java_kafka_reader",
    "validate_deploy_options",
    "FLINK_MINOR",
    "BEAM_JAVA_VERSION",
    "cached_job_server_jar",
    "apply_local_flink_defaults",
    "with_flink_flags",
    "FLINK_STREAMING_BUNDLE_FLAGS",
]


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
        parser.add_argument("--dedup-order", dest="dedup_order", choices=DEDUP_ORDERS,
                            default="event-time",
                            help="Streaming only. event-time (default): a story is decided once the "
                                 "watermark passes it, the same statuses whatever order partitions "
                                 "deliver in (latency: --kafka-watermark-delay and more); arrival: "
                                 "decided the moment it arrives, the first copy to arrive is the "
                                 "original (lowest latency).")
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
    if options.dedup_order == "arrival" and not is_streaming_source(options):
        raise ValueError("--dedup-order arrival: streaming sources only (--watch, or --kafka-topic "
                         "without --kafka-stop-at-end); a bounded run decides in event-time order")
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
    from transforms.io.kafka_sink import check_confluent_schema_id

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


KAFKA_READER_NATIVE = "native"
KAFKA_READER_JAVA = "java"
PRINT_OPTIONS_FLAG = "--print-options"

#: The Flink minor version of the local cluster and of the job server.
FLINK_MINOR = "1.19"
#: Beam's Java runner version: the newest at which the modules of the Flink
#: job server (runner, job service, expansion service, KafkaIO) are all served
#: by the registry this project reaches; ``deploy/local/flink.sh`` pins the same.
BEAM_JAVA_VERSION = "2.62.0"
_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]", "::1")


class FlinkDeployOptions(PipelineOptions):
    """Options for running on a cluster; any Beam/Flink option passes through."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        parser.add_argument("--kafka-reader", dest="kafka_reader",
                            choices=(KAFKA_READER_NATIVE, KAFKA_READER_JAVA),
                            default=KAFKA_READER_NATIVE,
                            help="native: the kafka-python source (default); java: Beam's Java "
                                 "KafkaIO, cross-language, needs --kafka-expansion-service.")
        parser.add_argument("--kafka-expansion-service", dest="kafka_expansion_service",
                            default=None,
                            help="HOST:PORT of a Beam Java expansion service for --kafka-reader "
                                 "java (Beam's Flink job server serves one on port 8097).")
        parser.add_argument("--print-options", dest="print_options", action="store_true",
                            help="Print the resolved pipeline options as JSON and exit "
                                 "without building or submitting the pipeline.")


def uses_java_kafka_reader(options: PipelineOptions) -> bool:
    """True for ``--kafka-reader java``, after checking its options (``ValueError``)."""
    if options.view_as(FlinkDeployOptions).kafka_reader != KAFKA_READER_JAVA:
        return False
    validate_deploy_options(options)
    return True


def validate_deploy_options(options: PipelineOptions) -> None:
    """Fail before launch on a Java Kafka reader that cannot work."""
    deploy = options.view_as(FlinkDeployOptions)
    if deploy.kafka_reader != KAFKA_READER_JAVA:
        return
    

    ingest = options.view_as(IngestOptions)
    if not deploy.kafka_expansion_service:
        raise ValueError("--kafka-expansion-service: --kafka-reader java needs the HOST:PORT of "
                         "a Java expansion service (none can be downloaded at run time here)")
    if ":" not in deploy.kafka_expansion_service:
        raise ValueError("--kafka-expansion-service: expected HOST:PORT, got "
                         f"{deploy.kafka_expansion_service!r}")
    if ingest.kafka_stop_at_end:
        raise ValueError("--kafka-stop-at-end: bounded reads need --kafka-reader native")
    if not ingest.kafka_group:
        raise ValueError("--kafka-group: --kafka-reader java commits offsets for a group")
    if str(ingest.kafka_start).strip().lower() == "latest":
        raise ValueError("--kafka-start: 'latest' is not available with --kafka-reader java (where "
                         "its reads start must be known when the pipeline is built); give a time")


# ----------------------------------------------------------------------------- local cluster


def cached_job_server_jar() -> Path:
    """Where ``deploy/local/flink.sh install`` puts Beam's Flink job server."""
    cache = Path(os.environ.get("WIRE_INGEST_CACHE") or Path.home() / ".cache" / "wire-ingest")
    return (cache / "flink" / "job-server"
            / f"beam-runners-flink-{FLINK_MINOR}-job-server-{BEAM_JAVA_VERSION}.jar")


def _is_loopback(flink_master: Optional[str]) -> bool:
    if not flink_master:
        return False
    host = flink_master.split("://", 1)[-1].rsplit(":", 1)[0]
    return host in _LOOPBACK_HOSTS


#: Set on every FlinkRunner run. Without it, Beam's Flink runner buffers the
#: output of a bundle that ends while a checkpoint is taken, and flushes that
#: buffer when the operator starts its next bundle. The partition watcher's
#: operator gets one element (the impulse), ever: when its bundle ended during
#: a checkpoint the partitions stayed in that buffer and the job read nothing,
#: while every checkpoint completed (seen in 1 of 3 runs of the TaskManager
#: kill test at a 2 s checkpoint interval).
FINISH_BUNDLE_BEFORE_CHECKPOINTING = "--finish_bundle_before_checkpointing"


#: Set on FlinkRunner runs of streaming sources unless given. Beam's Flink
#: runner passes an operator's output on only when its bundle ends, and by
#: default a bundle ends after 1,000 elements or 1,000 ms (the Java option is
#: spelled ``maxBundleTimeMills``): every step of the graph could add a second
#: to a story's latency, and a resumed Kafka read waited that long to start.
#: Measured at 100 stories/s with ``--dedup-order arrival`` (bench/engines_bench.py):
#: p50 1.2 s, p99 2.8 s with the defaults; p50 0.27 s, p99 0.65 s with these.
FLINK_STREAMING_BUNDLE_FLAGS = ("--max_bundle_time_mills=50", "--max_bundle_size=100")


def with_flink_flags(argv: list[str]) -> list[str]:
    """``argv`` plus the flags every FlinkRunner run needs (see
    ``FINISH_BUNDLE_BEFORE_CHECKPOINTING``), and for streaming sources the
    short bundles of ``FLINK_STREAMING_BUNDLE_FLAGS`` (each unless given);
    other runners' argv unchanged."""
    options = PipelineOptions(argv)
    if options.view_as(StandardOptions).runner != "FlinkRunner":
        return list(argv)
    given = {arg.partition("=")[0] for arg in argv}
    flags = [FINISH_BUNDLE_BEFORE_CHECKPOINTING]
    if is_streaming_source(options.view_as(IngestOptions)):
        flags += FLINK_STREAMING_BUNDLE_FLAGS
    return list(argv) + [flag for flag in flags if flag.partition("=")[0] not in given]


def apply_local_flink_defaults(options: PipelineOptions) -> None:
    """Fill in what a FlinkRunner run needs and was not given (``ValueError``
    naming the option when it cannot be had without a download)."""
    if options.view_as(StandardOptions).runner != "FlinkRunner":
        return
    flink = options.view_as(FlinkRunnerOptions)
    portable = options.view_as(PortableOptions)
    if not (flink.flink_job_server_jar or portable.job_endpoint
            or portable.output_executable_path):
        jar = cached_job_server_jar()
        if not jar.is_file():
            raise ValueError(
                f"--flink_job_server_jar: no Flink job server at {jar}; build it with "
                "'deploy/local/flink.sh install' (needs Maven), or pass --flink_job_server_jar "
                "or --job_endpoint (Beam would try to download one, which cannot work here)")
        flink.flink_job_server_jar = str(jar)
        flink.flink_version = FLINK_MINOR
    if not portable.environment_type and _is_loopback(flink.flink_master):
        portable.environment_type = "LOOPBACK"
