"""The ``wire-ingest`` command.

``run`` runs the pipeline (every Beam option passes through), ``inspect``
prints Avro output as JSON lines, ``normalize`` checks bylines, captions and
datelines against the normalizer, ``replay`` publishes stories to Kafka.
Exit codes: 0 success, 1 the run failed or its counts do not balance, 2 bad
configuration (the message names the option), 3 the Kafka broker could not
be reached after bounded retries. A running ``run`` prints every thread's
stack to stderr on SIGUSR1 (and goes on): the way to see where a stalled
streaming job waits.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import json
import logging
import os
import sys
from typing import Any, Iterable, Optional, TextIO

__all__ = ["main", "inspect_files", "to_json_value"]

_USAGE = """wire-ingest <command> [options]

commands:
  run        run the pipeline: wire-ingest run --input GLOB --output DIR [Beam options]
  inspect    print Avro records as JSON lines: wire-ingest inspect FILE...
  normalize  parse bylines, captions or datelines: wire-ingest normalize byline|caption|dateline [TEXT...]
  replay     publish stories to Kafka: wire-ingest replay PATH... --kafka-bootstrap H:P --kafka-topic T
  report     sum up a run's output folder: wire-ingest report DIR [--html FILE]

'wire-ingest <command> --help' describes a command's options."""


def main(argv: Optional[list[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    handlers = {"run": _run, "inspect": _inspect, "normalize": _normalize, "replay": _replay,
                "report": _report}
    if command not in handlers:
        print(f"wire-ingest: unknown command {command!r}\n\n{_USAGE}", file=sys.stderr)
        return 2
    from pipelines.logs import configure_logging

    try:
        # Before Beam is imported: its import-time warning is one of those dropped.
        configure_logging(_log_format(rest) if command == "run" else "text")
    except ValueError as error:
        print(f"wire-ingest {command}: {error}", file=sys.stderr)
        return 2
    from transforms.io.kafka_common import BrokerUnavailableError

    try:
        return handlers[command](rest)
    except ValueError as error:
        print(f"wire-ingest {command}: {error}", file=sys.stderr)
        return 2
    except BrokerUnavailableError as error:
        print(f"wire-ingest {command}: Kafka broker unavailable: {error}", file=sys.stderr)
        return 3


def _log_format(argv: list[str]) -> str:
    """The value of ``--log-format`` in ``run``'s arguments (default text)."""
    found = "text"
    for i, arg in enumerate(argv):
        if arg == "--log-format":
            if i + 1 >= len(argv):
                raise ValueError("--log-format: give text or json")
            found = argv[i + 1]
        elif arg.startswith("--log-format="):
            found = arg.split("=", 1)[1]
    return found


def _dump_stacks_on_sigusr1() -> None:
    """SIGUSR1 prints every thread's stack to stderr; the run goes on."""
    import faulthandler
    import signal

    # The process's own stderr: a caller may have replaced sys.stderr with an
    # object that has no file descriptor.
    stream = sys.__stderr__
    if hasattr(signal, "SIGUSR1") and stream is not None:
        faulthandler.register(signal.SIGUSR1, file=stream, all_threads=True, chain=False)


#: Comma-separated logger names (e.g. ``transforms``) a run logs at DEBUG: what a
#: stalled streaming job's sources and commits were last doing.
DEBUG_LOGGERS_ENV = "WIRE_INGEST_DEBUG"


def _debug_loggers_from_env() -> None:
    for name in filter(None, (n.strip() for n in os.environ.get(DEBUG_LOGGERS_ENV, "").split(","))):
        logging.getLogger(name).setLevel(logging.DEBUG)


def _run(argv: list[str]) -> int:
    if "--help" in argv or "-h" in argv:
        from pipelines.options import IngestOptions

        parser = argparse.ArgumentParser(prog="wire-ingest run")
        IngestOptions._add_argparse_args(parser)
        from pipelines.options import FlinkDeployOptions

        FlinkDeployOptions._add_argparse_args(parser)
        parser.print_help()
        print("\nAny Beam pipeline option (--runner, --streaming, --direct_num_workers, ...) "
              "passes through.")
        return 0
    from pipelines.options import PRINT_OPTIONS_FLAG
    from pipelines.flink import normalize_beam_flags, print_options

    argv = normalize_beam_flags(argv)  # --flink-master -> --flink_master, Beam's spelling
    if PRINT_OPTIONS_FLAG in argv:
        return print_options(argv, sys.stdout)
    from pipelines.ingest import run

    _dump_stacks_on_sigusr1()
    _debug_loggers_from_env()
    summary = run(argv)
    return 0 if summary.balanced else 1


def _inspect(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="wire-ingest inspect",
                                     description="Print Avro container files as JSON lines.")
    parser.add_argument("files", nargs="+", help="Avro files (stories-*.avro, dead-letters-*.avro).")
    parser.add_argument("--limit", type=int, default=None, help="Print at most this many records.")
    args = parser.parse_args(argv)
    inspect_files(args.files, sys.stdout, args.limit)
    return 0


def inspect_files(paths: Iterable[str], out: TextIO, limit: Optional[int] = None) -> int:
    """Write every record of the Avro files at ``paths`` to ``out`` as JSON lines."""
    import fastavro

    printed = 0
    for path in paths:
        with open(path, "rb") as handle:
            for record in fastavro.reader(handle):
                if limit is not None and printed >= limit:
                    return printed
                out.write(json.dumps(to_json_value(record), ensure_ascii=False) + "\n")
                printed += 1
    return printed


def to_json_value(value: Any) -> Any:
    """Avro values as JSON: bytes as UTF-8 text when they are, else base64."""
    if isinstance(value, dict):
        return {key: to_json_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [to_json_value(item) for item in value]
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return "base64:" + base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime.datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value


def _normalize(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="wire-ingest normalize",
        description="Print one JSON object per input line: from TEXT arguments, else stdin.")
    parser.add_argument("kind", choices=("byline", "caption", "dateline"))
    parser.add_argument("texts", nargs="*")
    args = parser.parse_args(argv)
    from transforms.normalize.cli import normalize_command

    texts = args.texts or (line.rstrip("\n") for line in sys.stdin)
    return normalize_command(args.kind, texts, sys.stdout)


def _replay(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="wire-ingest replay",
        description="Publish stories to Kafka, one message per story, with event timestamps.")
    parser.add_argument("paths", nargs="+", help="Story files, folders, .gz files, .sgm archives.")
    parser.add_argument("--kafka-bootstrap", required=True, help="Broker HOST:PORT.")
    parser.add_argument("--kafka-topic", required=True, help="Topic to publish to.")
    parser.add_argument("--rate", type=float, default=None,
                        help="Messages per second (default: as fast as the broker takes them).")
    parser.add_argument("--loop", action="store_true", help="Replay again and again until stopped.")
    args = parser.parse_args(argv)
    from transforms.io.replay import replay_to_kafka

    sent = replay_to_kafka(args.paths, args.kafka_bootstrap, args.kafka_topic,
                           rate=args.rate, loop=args.loop)
    print(f"replayed {sent} stories to {args.kafka_topic}")
    return 0


def _report(argv: list[str]) -> int:
    from pipelines.report import report_command

    return report_command(argv, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
