"""How ``wire-ingest`` logs: text or JSON lines, without Beam's irrelevant
warnings, and a progress bar for bounded runs on a terminal.

``configure_logging`` is called once at CLI start, before Beam is imported:

* two warnings every run printed and no run can act on are dropped
  (``QuietBeamWarnings``): Beam's "apitools not found" (the BigQuery client,
  which wire-ingest does not use) and "Using yield and return in the process
  method" (Beam's check flags a DoFn whose ``process`` returns early before
  its ``yield``, which is deliberate here). Any other warning still shows;
* ``--log-format json`` writes every record as one JSON object a line
  (``JsonFormatter``): ``time``, ``level``, ``logger``, ``message``, and for
  the events of ``transforms.events`` their fields (dead letters: stage,
  source position, reason; start and stop of the broker and the sinks). The
  retry warnings of the Kafka client code and of drop-folder listings are
  recognised by their message and given an ``event`` and fields too.
"""

from __future__ import annotations

import datetime
import json
import logging
import re
import sys
from typing import Any, Iterable, Optional, TextIO

__all__ = ["LOG_FORMATS", "configure_logging", "QuietBeamWarnings", "JsonFormatter",
           "known_event", "progress_wanted", "open_progress_bar"]

LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(levelname)s %(name)s: %(message)s"

#: (logger name, message start) of the warnings that are dropped.
QUIET = (
    ("root", "apitools not found"),
    ("apache_beam.transforms.core", "Using yield and return in the process method"),
)


class QuietBeamWarnings(logging.Filter):
    """Drop exactly the records of ``QUIET``; everything else passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg if isinstance(record.msg, str) else ""
        return not any(record.name == name and message.startswith(start) for name, start in QUIET)


# Retry warnings logged by other modules, by logger and message template:
# (logger, template, event, field names of the template's arguments).
_KNOWN = (
    ("transforms.io.kafka_common", "%s failed (try %d), retrying in %.1fs: %s", "broker_retry",
     ("what", "try", "pause_seconds", "error")),
    ("transforms.io.kafka_source", "kafka %s[%d] at offset %d: %s (retry %d)", "broker_retry",
     ("topic", "partition", "offset", "error", "try")),
    ("transforms.io.kafka_source", "kafka partition discovery for %s failed, retrying: %s", "broker_retry",
     ("topic", "error")),
    ("transforms.io.kafka_source", "kafka %s partition %d: reading from offset %d to %s", "source_start",
     ("topic", "partition", "from_offset", "to_offset")),
    ("transforms.io.watch", "drop folder %s cannot be listed, retrying: %s", "source_retry",
     ("folder", "error")),
)


def known_event(record: logging.LogRecord) -> Optional[dict[str, Any]]:
    """The event fields of a record: its own (``transforms.events``), else
    those of a known retry message, else None."""
    from transforms.events import FIELDS_ATTRIBUTE

    fields = getattr(record, FIELDS_ATTRIBUTE, None)
    if isinstance(fields, dict):
        return fields
    args = record.args if isinstance(record.args, tuple) else ()
    for name, template, event, names in _KNOWN:
        if record.name == name and record.msg == template and len(args) == len(names):
            return {"event": event, **{key: _plain(value) for key, value in zip(names, args)}}
    return None


def _plain(value: Any) -> Any:
    return value if isinstance(value, (int, float, str, bool, type(None))) else str(value)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message,
    the event fields if any, and the exception if there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc)
            .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage(),
        }
        fields = known_event(record)
        if fields:
            entry.update({key: value for key, value in fields.items() if key not in entry})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record comes (as logging's
    last resort does): a caller that swaps stderr (a test capturing it) and
    closes its own leaves no handler writing to a closed stream."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def configure_logging(log_format: str = "text", stream: Optional[TextIO] = None) -> logging.Handler:
    """Set up the root logger for a CLI run; returns the handler installed.

    Raises ``ValueError`` naming ``--log-format`` for an unknown format.
    """
    if log_format not in LOG_FORMATS:
        raise ValueError(f"--log-format: {log_format!r} is not one of {', '.join(LOG_FORMATS)}")
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_wire_ingest", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    handler._wire_ingest = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    quiet = QuietBeamWarnings()
    handler.addFilter(quiet)
    # On the loggers too: a record logged straight on a logger meets that
    # logger's filters before any handler (Beam or pytest may add their own).
    for name in {name for name, _ in QUIET}:
        logger = logging.getLogger(None if name == "root" else name)
        if not any(isinstance(f, QuietBeamWarnings) for f in logger.filters):
            logger.addFilter(quiet)
    root.addHandler(handler)
    from transforms.events import EVENTS_LOGGER  # imports Beam: after the filters are in place

    if root.level == logging.NOTSET or root.level > logging.WARNING:
        root.setLevel(logging.WARNING)
    logging.getLogger(EVENTS_LOGGER).setLevel(logging.INFO if log_format == "json" else logging.WARNING)
    if log_format == "json":
        logging.getLogger("transforms.io.kafka_source").setLevel(logging.INFO)  # its source_start events
        _log_uncaught_exceptions()
    return handler


def _log_uncaught_exceptions() -> None:
    """Uncaught exceptions (of the main thread, and of the runner's threads a
    stop interrupts) are logged, so they come as JSON lines too, not as bare
    tracebacks between them."""
    import threading

    def thread_hook(args) -> None:
        if args.exc_type is SystemExit:
            return
        logging.getLogger("wire_ingest.uncaught").error(
            "exception in thread %s", getattr(args.thread, "name", "?"),
            exc_info=(args.exc_type, args.exc_value, args.exc_traceback))

    def main_hook(exc_type, exc_value, exc_traceback) -> None:
        logging.getLogger("wire_ingest.uncaught").error(
            "uncaught %s", exc_type.__name__, exc_info=(exc_type, exc_value, exc_traceback))

    threading.excepthook = thread_hook
    sys.excepthook = main_hook


# ---- progress --------------------------------------------------------------------------------

def progress_wanted(setting: str, bounded: bool, in_process: bool,
                    streams: Iterable[TextIO]) -> bool:
    """A bar only for a bounded run whose workers count in this process, and
    only when every one of ``streams`` (stdout, stderr) is a terminal."""
    if setting not in ("auto", "off"):
        raise ValueError(f"--progress: {setting!r} is not one of auto, off")
    return setting == "auto" and bounded and in_process and all(_is_tty(s) for s in streams)


def _is_tty(stream: Optional[TextIO]) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):
        return False


def open_progress_bar(total: Optional[int], stream: TextIO):
    """A ``tqdm`` bar of inputs read (total known, rate, ETA) on ``stream``."""
    import shutil

    from tqdm import tqdm

    # A terminal that reports no size (0x0) gets 80x24: tqdm would draw an
    # empty bar in 0 columns, and hide it altogether in 0 rows.
    size = shutil.get_terminal_size((80, 24))
    return tqdm(total=total, file=stream, unit="input", desc="wire-ingest", ncols=size.columns,
                nrows=size.lines, mininterval=0.2, leave=True)


def strip_ansi(text: str) -> str:
    """Text without terminal escapes (for tests reading a pty)."""
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


# ---- wiring into ``wire-ingest run`` (pipelines/ingest.py) -----------------------------------

PROGRESS_SETTINGS = ("auto", "off")


def add_log_args(parser) -> None:
    """``--log-format`` and ``--progress`` of ``IngestOptions``."""
    parser.add_argument("--log-format", dest="log_format", default="text",
                        help="text (default) or json: one JSON object a line, with the stage, "
                             "source position and reason of every dead letter, and the start, "
                             "stop and retries of the broker and the sinks.")
    parser.add_argument("--progress", dest="progress", default="auto",
                        help="auto (default): a progress bar of inputs read (total, rate, ETA) "
                             "for bounded runs on the local runners when stdout and stderr are "
                             "a terminal; off: never.")


def validate_log_args(options) -> None:
    if options.log_format not in LOG_FORMATS:
        raise ValueError(f"--log-format: {options.log_format!r} is not one of {', '.join(LOG_FORMATS)}")
    if options.progress not in PROGRESS_SETTINGS:
        raise ValueError(f"--progress: {options.progress!r} is not one of {', '.join(PROGRESS_SETTINGS)}")


def start_progress(options, ingest, runner):
    """Open the bar of a bounded run on a terminal and install it for
    ``transforms.progress``; None when no bar is wanted (see ``progress_wanted``)."""
    from apache_beam.options.pipeline_options import StandardOptions
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    from transforms.progress import install

    bounded = not options.view_as(StandardOptions).streaming
    # The batch FnApiRunner in memory runs its workers in this process.
    in_process = isinstance(runner, FnApiRunner) and \
        options.get_all_options().get("direct_running_mode") in (None, "in_memory")
    if not progress_wanted(ingest.progress, bounded, in_process, (sys.stdout, sys.stderr)):
        return None
    bar = open_progress_bar(known_inputs(ingest), sys.stderr)
    install(bar.update)
    return bar


def stop_progress(bar) -> None:
    if bar is not None:
        from transforms.progress import uninstall

        uninstall()
        bar.close()


def known_inputs(ingest) -> Optional[int]:
    """How many inputs a bounded run reads, when it can be known at start: the
    files its ``--input`` patterns match, plus the records of a Kafka backfill
    (end offsets minus start offsets); None when it cannot."""
    import glob
    import os

    from transforms.io.read import expand_pattern

    total = 0
    for pattern in ingest.inputs:
        if "://" in pattern:
            return None
        total += sum(1 for path in glob.glob(expand_pattern(pattern))
                     if os.path.isfile(path) and not os.path.basename(path).startswith("."))
    if ingest.kafka_topic:
        try:
            total += kafka_backlog(ingest.kafka_bootstrap, ingest.kafka_topic, ingest.kafka_group,
                                   ingest.kafka_start)
        except Exception as error:  # the bar goes on without a total, and so does the run
            logging.getLogger(__name__).debug("kafka backlog unknown: %s", error)
            return None
    return total


def kafka_backlog(bootstrap: str, topic: str, group: str, start: str) -> int:
    """Records between where a read of ``topic`` starts and its end offsets."""
    from kafka import KafkaConsumer, TopicPartition

    from transforms.io.kafka_source import java_reader_start_offsets

    starts = java_reader_start_offsets(bootstrap, topic, group, start)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    try:
        ends = consumer.end_offsets([TopicPartition(topic, p) for p in starts])
    finally:
        consumer.close()
    return sum(max(0, end - starts[tp.partition]) for tp, end in ends.items())


def log_starts(ingest, sinks: tuple) -> None:
    """``broker_start`` and ``sink_start`` events (``transforms.events``);
    ``sinks`` is ``configured_sinks(ingest)``."""
    from transforms.events import log_event

    if ingest.kafka_bootstrap:
        topics = [t for t in (ingest.kafka_topic, ingest.kafka_output_topic,
                              ingest.kafka_dead_letter_topic) if t]
        log_event("broker", "broker_start", f"kafka broker {ingest.kafka_bootstrap}: run starts",
                  bootstrap=ingest.kafka_bootstrap, topics=topics)
    story_sinks, dead_letter_sinks = sinks
    for sink in dict.fromkeys(story_sinks + dead_letter_sinks):
        target = ingest.output if sink == "files" else \
            [t for t in (ingest.kafka_output_topic, ingest.kafka_dead_letter_topic) if t]
        log_event("sink", "sink_start", f"{sink} sink: run starts", sink=sink, target=target)


def log_stops(ingest, sink_counts: dict) -> None:
    """``sink_stop`` (what each sink wrote, ``RunSummary.sinks``) and ``broker_stop`` events."""
    from transforms.events import log_event

    for sink, counts in sink_counts.items():
        log_event("sink", "sink_stop", f"{sink} sink: run ended", sink=sink, **counts)
    if ingest.kafka_bootstrap:
        log_event("broker", "broker_stop", f"kafka broker {ingest.kafka_bootstrap}: run ended",
                  bootstrap=ingest.kafka_bootstrap)
