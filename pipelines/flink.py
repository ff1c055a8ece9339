"""Running wire-ingest on Flink: deploy options, resolved options, state names.

Contract:

* ``FlinkDeployOptions``: ``--kafka-reader native|java`` (native, the
  kafka-python source of ``transforms.kafka_io``, is the default) and
  ``--kafka-expansion-service HOST:PORT`` (the Java expansion service that
  ``java`` needs: Beam's Flink job server serves one on port 8097), and
  ``--print-options``.
* ``normalize_beam_flags(argv)``: Beam spells its own options with
  underscores (``--flink_master``); the dashed spellings of the issue and of
  Java (``--flink-master``, ``--environment-type``) are rewritten to them.
  wire-ingest's own flags (``--kafka-topic``...) are left as they are.
* ``resolve_options(argv)``: the options a run would use (validated, with
  ``--streaming`` derived from the sources, the runner resolved) without
  building or submitting the pipeline; ``wire-ingest run ... --print-options``
  prints them as JSON.
* ``ReadWireStoriesFromJavaKafka``: Beam's Java KafkaIO (cross-language) read,
  converted to ``RawInput`` by the pure ``raw_input_from_kafka_record``.
  Offsets are committed by ``CommitKafkaOffsets`` once every item of a record
  is written, as with the native reader (KafkaIO's own commits on checkpoint
  finalization fail the job on Beam 2.62's Flink runner, and commit what is
  read, not what is written).
* ``apply_local_flink_defaults(options)``: ``--runner FlinkRunner`` needs
  no further option against the local cluster of ``deploy/local/flink.sh``:
  the job-server jar comes from the cache that script builds (Beam's Java
  runner ``BEAM_JAVA_VERSION`` for Flink ``FLINK_MINOR``), and a loopback
  ``--flink_master`` runs the SDK workers in this process (``LOOPBACK``).
  No jar in the cache is refused at once, naming the option; Beam would
  otherwise try to download one.
* ``stateful_steps(pipeline)``: the steps Flink keeps state for, read from
  the pipeline's runner-API graph: ParDos with user state or timers,
  splittable DoFns (the Kafka source's position) and GroupByKeys (buffered
  windows). Flink maps savepoint state to operators by uids built from these
  labels; ``deploy/flink/stateful-steps.txt`` records them and
  ``tests/test_deploy.py`` checks that the pipeline still has them.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional, TextIO

import apache_beam as beam
import numpy as np
from apache_beam.options.pipeline_options import (FlinkRunnerOptions, PipelineOptions,
                                                  PortableOptions, StandardOptions)
from apache_beam.portability import common_urns
from apache_beam.portability.api import beam_runner_api_pb2

from transforms.model import RawInput, SourcePosition

__all__ = [
    "FlinkDeployOptions",
    "KAFKA_READER_NATIVE",
    "KAFKA_READER_JAVA",
    "PRINT_OPTIONS_FLAG",
    "uses_java_kafka_reader",
    "validate_deploy_options",
    "normalize_beam_flags",
    "resolve_options",
    "print_options",
    "ReadWireStoriesFromJavaKafka",
    "raw_input_from_kafka_record",
    "StatefulStep",
    "stateful_steps",
    "render_stateful_steps",
    "parse_stateful_steps",
    "stateful_steps_configmap",
    "build_for_inspection",
    "refresh_manifest",
    "DEPLOYED_PIPELINE_ARGS",
    "EXTERNAL_ENVIRONMENT_URN",
    "FLINK_MINOR",
    "BEAM_JAVA_VERSION",
    "cached_job_server_jar",
    "apply_local_flink_defaults",
    "with_flink_flags",
]

_LOG = logging.getLogger(__name__)

KAFKA_READER_NATIVE = "native"
KAFKA_READER_JAVA = "java"
PRINT_OPTIONS_FLAG = "--print-options"
#: Environment URN of ``--environment_type=EXTERNAL`` (and LOOPBACK); it is
#: part of the Flink uid of every fused stage, see ``StatefulStep.flink_uid``.
EXTERNAL_ENVIRONMENT_URN = common_urns.environments.EXTERNAL.urn

#: The Flink minor version of the local cluster and of the job server.
FLINK_MINOR = "1.19"
#: Beam's Java runner version: the newest at which the modules of the Flink
#: job server (runner, job service, expansion service, KafkaIO) are all served
#: by the registry this project reaches; ``deploy/local/flink.sh`` pins the same.
BEAM_JAVA_VERSION = "2.62.0"
_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]", "::1")

_KIND_STATE = "state"
_KIND_SPLITTABLE = "splittable"
_KIND_GROUP = "group"


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
    from pipelines.ingest import IngestOptions

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


def with_flink_flags(argv: list[str]) -> list[str]:
    """``argv`` plus the flags every FlinkRunner run needs (see
    ``FINISH_BUNDLE_BEFORE_CHECKPOINTING``); other runners' argv unchanged."""
    if PipelineOptions(argv).view_as(StandardOptions).runner != "FlinkRunner":
        return list(argv)
    given = {arg.partition("=")[0] for arg in argv}
    return list(argv) + ([] if FINISH_BUNDLE_BEFORE_CHECKPOINTING in given
                         else [FINISH_BUNDLE_BEFORE_CHECKPOINTING])


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


# ----------------------------------------------------------------------------- flags


def _beam_flag_names() -> set[str]:
    """Every ``--flag`` Beam's own option classes define (not wire-ingest's)."""
    from apache_beam.options.pipeline_options import _BeamArgumentParser

    from pipelines.ingest import IngestOptions

    ours = {IngestOptions, FlinkDeployOptions}
    parser = _BeamArgumentParser(allow_abbrev=False)
    seen: set[str] = set()
    for cls in _all_subclasses(PipelineOptions):
        if cls in ours or str(cls) in seen:
            continue
        seen.add(str(cls))
        try:
            cls._add_argparse_args(parser)  # pylint: disable=protected-access
        except Exception:  # a conflicting third-party class must not break the CLI
            continue
    return {flag for action in parser._actions for flag in action.option_strings}


def _our_flag_names() -> set[str]:
    """wire-ingest's own flags: never rewritten, even if Beam had a twin."""
    import argparse

    from pipelines.ingest import IngestOptions

    parser = argparse.ArgumentParser(add_help=False)
    for cls in (IngestOptions, FlinkDeployOptions):
        cls._add_argparse_args(parser)  # pylint: disable=protected-access
    return {flag for action in parser._actions for flag in action.option_strings}


def _all_subclasses(cls) -> Iterable[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_subclasses(sub)


def normalize_beam_flags(argv: list[str]) -> list[str]:
    """``--flink-master=X`` -> ``--flink_master=X`` for Beam's own options.

    Only a dashed flag whose underscored spelling is a Beam option (and
    which is not itself a known flag) is rewritten, so ``--kafka-topic``
    and other wire-ingest flags are untouched.
    """
    beam_flags = _beam_flag_names()
    ours = _our_flag_names()
    rewritten = []
    for arg in argv:
        name, sep, value = arg.partition("=")
        if name.startswith("--") and "-" in name[2:] and name not in beam_flags | ours:
            candidate = "--" + name[2:].replace("-", "_")
            if candidate in beam_flags:
                arg = candidate + sep + value
        rewritten.append(arg)
    return rewritten


# ----------------------------------------------------------------------------- resolved options

#: Shown by --print-options even when left at their defaults.
_ALWAYS_SHOWN = (
    "runner", "streaming", "job_endpoint", "artifact_endpoint", "environment_type",
    "environment_config", "flink_master", "flink_version", "parallelism", "max_parallelism",
    "sdk_worker_parallelism", "output_executable_path", "flink_job_server_jar",
)


def resolve_options(argv: list[str]) -> dict[str, Any]:
    """The options ``wire-ingest run argv`` would run with, without running.

    Validates like ``run()`` does (same ``ValueError`` naming the option),
    sets ``streaming`` for unbounded sources, and resolves the runner.
    Options Beam does not know here (Flink job-server options such as
    ``--checkpointing_interval``) are kept as given: the job server reads them.
    """
    from pipelines.ingest import IngestOptions, is_streaming_source, validate
    from pipelines.runners import resolve_runner

    argv = with_flink_flags([arg for arg in normalize_beam_flags(argv) if arg != PRINT_OPTIONS_FLAG])
    options = PipelineOptions(argv)
    ingest = options.view_as(IngestOptions)
    validate(ingest)
    validate_deploy_options(options)
    if is_streaming_source(ingest):
        options.view_as(StandardOptions).streaming = True
    runner = resolve_runner(options)
    apply_local_flink_defaults(options)
    every = options.get_all_options(retain_unknown_options=True)
    explicit = options.get_all_options(drop_default=True, retain_unknown_options=True)
    ours = set(_dests(IngestOptions)) | set(_dests(FlinkDeployOptions))
    shown = sorted(set(explicit) | ours | set(_ALWAYS_SHOWN))
    resolved = {name: every.get(name) for name in shown if name != "print_options"}
    return {
        "runner": runner if isinstance(runner, str) else type(runner).__name__,
        "submits_to": _submission_target(resolved),
        "options": resolved,
    }


def _dests(cls) -> list[str]:
    import argparse

    parser = argparse.ArgumentParser(add_help=False)
    cls._add_argparse_args(parser)  # pylint: disable=protected-access
    return [action.dest for action in parser._actions]


def _submission_target(options: dict[str, Any]) -> str:
    """Where ``run`` would send the job, in words an operator can check."""
    if options.get("output_executable_path"):
        return f"no job: writes an executable jar to {options['output_executable_path']}"
    runner = options.get("runner") or "DirectRunner"
    if runner in ("FlinkRunner", "PortableRunner"):
        if options.get("job_endpoint"):
            return f"job server {options['job_endpoint']}"
        if runner == "FlinkRunner":
            return (f"Flink {options.get('flink_master')} through a job server Beam starts "
                    f"from {options.get('flink_job_server_jar')}")
    return f"{runner} in this process"


def print_options(argv: list[str], out: TextIO = sys.stdout) -> int:
    """``wire-ingest run ... --print-options``: print JSON, submit nothing."""
    json.dump(resolve_options(argv), out, indent=2, sort_keys=True, default=str)
    out.write("\n")
    return 0


# ----------------------------------------------------------------------------- Java KafkaIO


#: The configuration Beam's Java KafkaIO reads (``KafkaIO.Read.External.Configuration``)
#: in ``BEAM_JAVA_VERSION``: the Python SDK's own ``ReadFromKafka`` sends fields
#: added to it since, which that version refuses ("missing a setter").
JavaKafkaReadConfiguration = typing.NamedTuple(
    "JavaKafkaReadConfiguration",
    [("consumer_config", typing.Mapping[str, str]), ("topics", list[str]),
     ("key_deserializer", str), ("value_deserializer", str),
     ("start_read_time", typing.Optional[int]), ("max_num_records", typing.Optional[int]),
     ("max_read_time", typing.Optional[int]), ("commit_offset_in_finalize", bool),
     ("timestamp_policy", str), ("consumer_polling_timeout", typing.Optional[int]),
     ("redistribute", typing.Optional[bool]), ("redistribute_num_keys", typing.Optional[np.int32]),
     ("allow_duplicates", typing.Optional[bool])])


class ReadWireStoriesFromJavaKafka(beam.PTransform):
    """Read raw stories with Beam's Java KafkaIO; outputs ``RawInput``.

    Cross-language: the Java transform is expanded by the service at
    ``expansion_service`` when the pipeline is built, and runs in a Java SDK
    environment on the cluster. Records keep their lineage (topic, partition,
    offset, key, timestamp, headers); the Kafka create time becomes the
    element's event time. KafkaIO does not commit: ``CommitKafkaOffsets``
    does, for what is written. Its frontier starts, per partition, at the
    offset the read starts at, which is looked up when the pipeline is built
    (``start_offsets``) and is where KafkaIO starts too: the group's committed
    offset (else the earliest), or the first offset at or after a start time.
    ``latest`` is refused: KafkaIO's end offsets at its own start would not be
    the ones looked up here, and the commits would wait forever for the gap.

    Args:
        bootstrap: ``HOST:PORT[,HOST:PORT...]``.
        topic: the topic to read.
        group: consumer group: start position (``committed``) and commits.
        start: ``committed`` (default; ``earliest`` where the group has no
            offset), ``earliest`` (the same: KafkaIO applies it only where the
            group has no committed offset), or a time (millis or ISO-8601).
        expansion_service: ``HOST:PORT`` of the Java expansion service.
        start_offsets: partition -> first offset to read; looked up from the
            broker when the pipeline is built when not given.

    Raises:
        ValueError: on a missing argument or ``start="latest"`` (named).
    """

    def __init__(self, bootstrap: str, topic: str, group: str, start: Any = "committed",
                 expansion_service: Optional[str] = None,
                 start_offsets: Optional[dict[int, int]] = None):
        super().__init__()
        from transforms.kafka_io import START_LATEST, parse_start

        if not bootstrap:
            raise ValueError("bootstrap: give HOST:PORT of a Kafka broker")
        if not topic:
            raise ValueError("topic: give the topic to read")
        if not group:
            raise ValueError("group: the Java reader commits offsets for a consumer group")
        if not expansion_service:
            raise ValueError("expansion_service: give HOST:PORT of a Java expansion service")
        parsed = parse_start(start)
        if parsed == START_LATEST:
            raise ValueError("start: 'latest' is not available with the Java reader (its start "
                             "offsets cannot be known when the pipeline is built); give a time")
        self._bootstrap = bootstrap
        self._topic = topic
        self._group = group
        self._start = parsed
        self._start_offsets = start_offsets
        self._expansion_service = expansion_service
        self._start_read_time = parsed if isinstance(parsed, int) else None
        self._consumer_config = {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
        }

    def start_offsets(self) -> dict[int, int]:
        """Per partition, the offset KafkaIO starts at (see the class docstring)."""
        if self._start_offsets is None:
            from transforms.kafka_io import START_COMMITTED, java_reader_start_offsets

            start = self._start if isinstance(self._start, int) else START_COMMITTED
            self._start_offsets = java_reader_start_offsets(self._bootstrap, self._topic,
                                                            self._group, start)
        return self._start_offsets

    def expand(self, pbegin):
        from apache_beam.io.kafka import ReadFromKafka
        from apache_beam.transforms.external import ExternalTransform, NamedTupleBasedPayloadBuilder

        uri = _kafka_uri(self._bootstrap, self._topic)
        _LOG.info("reading %s with Java KafkaIO, expanded by %s", uri, self._expansion_service)
        deserializer = "org.apache.kafka.common.serialization.ByteArrayDeserializer"
        configuration = JavaKafkaReadConfiguration(
            consumer_config=self._consumer_config, topics=[self._topic],
            key_deserializer=deserializer, value_deserializer=deserializer,
            start_read_time=self._start_read_time, max_num_records=None, max_read_time=None,
            commit_offset_in_finalize=False, timestamp_policy=ReadFromKafka.create_time_policy,
            consumer_polling_timeout=2, redistribute=False, redistribute_num_keys=np.int32(0),
            allow_duplicates=False)
        return (
            pbegin
            | "ReadFromKafka" >> ExternalTransform(
                ReadFromKafka.URN_WITH_METADATA,
                NamedTupleBasedPayloadBuilder(configuration),
                self._expansion_service,
            )
            # KafkaIO's CreateTime policy already made the record time the element time.
            | "ToRawInput" >> beam.Map(raw_input_from_kafka_record, uri,
                                       self.start_offsets()).with_output_types(RawInput)
        )


def _kafka_uri(bootstrap: str, topic: str) -> str:
    from transforms.kafka_io import kafka_uri

    return kafka_uri(bootstrap, topic)


def raw_input_from_kafka_record(record: Any, uri: str,
                                start_offsets: Optional[dict[int, int]] = None) -> RawInput:
    """One Java KafkaIO record (``with_metadata=True``) as a ``RawInput``.

    KafkaIO's rows have the fields ``topic, partition, offset, timestamp,
    key, value, headers (rows of key, value), timestampTypeId,
    timestampTypeName``. A negative timestamp (Kafka's "none") gives no event
    time. The ``wire-format`` header becomes the format hint, as with the
    native reader. ``kafka_span`` is (the partition's start offset from
    ``start_offsets``, 0 for a partition not in it; the record's own offset):
    ``CommitKafkaOffsets`` commits from there. KafkaIO does not say where the
    record before it was, so an offset gap (compaction, transaction markers)
    holds that partition's commits back.
    """
    from transforms.kafka_io import format_hint

    partition = int(record.partition)
    offset = int(record.offset)
    timestamp = record.timestamp
    timestamp = int(timestamp) if timestamp is not None and int(timestamp) >= 0 else None
    headers = tuple(
        (str(header.key), bytes(header.value or b"")) for header in (record.headers or ())
    )
    hint = format_hint(headers)
    source = SourcePosition(
        kind="kafka",
        uri=uri,
        position=f"partition {partition} offset {offset}",
        topic=str(record.topic),
        partition=partition,
        offset=offset,
        key=bytes(record.key) if record.key is not None else None,
        timestamp=timestamp,
        headers=headers,
        kafka_span=((start_offsets or {}).get(partition, 0), offset),
    )
    value = record.value
    return RawInput(raw=bytes(value) if value is not None else b"", source=source,
                    format_hint=hint, event_time=timestamp)


# ----------------------------------------------------------------------------- stateful steps


@dataclass(frozen=True)
class StatefulStep:
    """A step Flink keeps state for, by its full Beam label.

    ``input_step`` is the label of the step whose output feeds it. For a
    stateful ParDo, Beam's fuser roots a stage at that input and names the
    stage ``<input PCollection name>/<environment URN>``; the Flink job server
    uses that name as the operator uid, so the input step's label counts too.
    """

    kind: str  # state | splittable | group
    step: str
    input_step: str = ""
    flink_uid: str = ""


def stateful_steps(pipeline: beam.Pipeline,
                   environment_urn: str = EXTERNAL_ENVIRONMENT_URN) -> list[StatefulStep]:
    """The stateful steps of a built (not run) pipeline, sorted by label."""
    proto = pipeline.to_runner_api()
    components = proto.components
    producers = {}
    for transform in components.transforms.values():
        if transform.subtransforms:
            continue
        for pcoll in transform.outputs.values():
            producers[pcoll] = transform.unique_name
    # Flink translates a Reshuffle natively (a rebalance, no state): skip its GroupByKey.
    inside_reshuffle = set()
    pending = [tid for tid, t in components.transforms.items()
               if t.spec.urn == common_urns.composites.RESHUFFLE.urn]
    while pending:
        tid = pending.pop()
        inside_reshuffle.add(tid)
        pending.extend(components.transforms[tid].subtransforms)
    found = []
    for tid, transform in components.transforms.items():
        urn = transform.spec.urn
        if urn == common_urns.primitives.GROUP_BY_KEY.urn and tid not in inside_reshuffle:
            found.append(StatefulStep(_KIND_GROUP, transform.unique_name,
                                      flink_uid=transform.unique_name))
        elif urn == common_urns.primitives.PAR_DO.urn:
            payload = beam_runner_api_pb2.ParDoPayload.FromString(transform.spec.payload)
            main_inputs = [pc for tag, pc in transform.inputs.items()
                           if tag not in payload.side_inputs]
            input_pcoll = main_inputs[0] if main_inputs else ""
            if payload.state_specs or payload.timer_family_specs:
                name = components.pcollections[input_pcoll].unique_name if input_pcoll else ""
                found.append(StatefulStep(_KIND_STATE, transform.unique_name,
                                          producers.get(input_pcoll, ""),
                                          f"{name}/{environment_urn}"))
            elif payload.restriction_coder_id:
                found.append(StatefulStep(_KIND_SPLITTABLE, transform.unique_name,
                                          producers.get(input_pcoll, "")))
    return sorted(found, key=lambda s: (s.kind, s.step))


_COLUMNS = ("# kind", "step (full Beam label)", "input step", "Flink operator uid")


def render_stateful_steps(steps: Iterable[StatefulStep]) -> str:
    """Manifest lines (the format of deploy/flink/stateful-steps.txt).

    Columns are separated by at least two spaces and aligned; a missing
    value is ``-``. Beam labels never hold two spaces in a row here.
    """
    rows = [[step.kind, step.step, step.input_step or "-", step.flink_uid or "-"]
            for step in steps]
    widths = [max(len(row[i]) for row in rows + [list(_COLUMNS)]) for i in range(3)]

    def line(cells: list[str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths)) + "  " + cells[3]

    return "\n".join(line(cells).rstrip() for cells in [list(_COLUMNS)] + rows) + "\n"


def parse_stateful_steps(text: str) -> list[StatefulStep]:
    """Read manifest lines back (comments and blank lines skipped)."""
    import re

    steps = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) != 4:
            raise ValueError(f"stateful-steps manifest: expected 4 columns, got {line!r}")
        kind, step, input_step, uid = cells
        steps.append(StatefulStep(kind, step, "" if input_step == "-" else input_step,
                                  "" if uid == "-" else uid))
    return steps


def build_for_inspection(argv: list[str]) -> beam.Pipeline:
    """Build (never run) the pipeline ``wire-ingest run argv`` would run."""
    from pipelines.ingest import IngestOptions, build_pipeline, is_streaming_source, validate

    options = PipelineOptions(normalize_beam_flags(argv))
    ingest = options.view_as(IngestOptions)
    validate(ingest)
    validate_deploy_options(options)
    if is_streaming_source(ingest):
        options.view_as(StandardOptions).streaming = True
    pipeline = beam.Pipeline(options=options)
    build_pipeline(pipeline, ingest)
    return pipeline


def stateful_steps_configmap(manifest: str) -> str:
    """The Kubernetes ConfigMap that carries the manifest text unchanged."""
    body = "\n".join(f"    {line}" if line else "" for line in manifest.splitlines())
    return (
        "# The steps Flink restores wire-ingest's state by: never rename them (see\n"
        "# docs/deploy-flink.md). Generated from deploy/flink/stateful-steps.txt by\n"
        "#   python -m pipelines.flink configmap deploy/flink/stateful-steps.txt\n"
        "apiVersion: v1\n"
        "kind: ConfigMap\n"
        "metadata:\n"
        "  name: wire-ingest-stateful-steps\n"
        "  namespace: wire-ingest\n"
        "  labels:\n"
        "    app.kubernetes.io/name: wire-ingest\n"
        "data:\n"
        "  stateful-steps.txt: |\n"
        f"{body}\n"
    )


#: Run options of the deployed pipeline that shape its graph (deploy/flink/submit.sh;
#: the Kafka sinks hold no state). The broker is given apart: the source checks it.
DEPLOYED_PIPELINE_ARGS = ("--kafka-topic", "wire-raw", "--output", "/data/out")


def refresh_manifest(bootstrap: str, manifest_path: str, configmap_path: str) -> str:
    """Rewrite the manifest's rows (keeping its comment header) and the ConfigMap."""
    with open(manifest_path, encoding="utf-8") as handle:
        old = handle.read().splitlines(keepends=True)
    header = []
    for line in old:
        if line.startswith(_COLUMNS[0]) or not line.startswith("#"):
            break
        header.append(line)
    pipeline = build_for_inspection(["--kafka-bootstrap", bootstrap, *DEPLOYED_PIPELINE_ARGS])
    text = "".join(header) + render_stateful_steps(stateful_steps(pipeline))
    with open(manifest_path, "w", encoding="utf-8") as handle:
        handle.write(text)
    with open(configmap_path, "w", encoding="utf-8") as handle:
        handle.write(stateful_steps_configmap(text))
    return text


_USAGE = """usage:
  python -m pipelines.flink stateful-steps RUN-OPTIONS...   print the stateful steps of the
      pipeline `wire-ingest run RUN-OPTIONS` builds (built, never run)
  python -m pipelines.flink configmap MANIFEST              print the ConfigMap for a manifest
  python -m pipelines.flink refresh-manifest HOST:PORT      regenerate deploy/flink/stateful-steps.txt
      and its ConfigMap from the deployed pipeline (needs a Kafka broker at HOST:PORT)"""


def main(argv: Optional[list[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "stateful-steps":
        sys.stdout.write(render_stateful_steps(stateful_steps(build_for_inspection(argv[1:]))))
        return 0
    if len(argv) == 2 and argv[0] == "configmap":
        with open(argv[1], encoding="utf-8") as handle:
            sys.stdout.write(stateful_steps_configmap(handle.read()))
        return 0
    if len(argv) == 2 and argv[0] == "refresh-manifest":
        sys.stdout.write(refresh_manifest(argv[1], "deploy/flink/stateful-steps.txt",
                                          "deploy/flink/k8s/stateful-steps-configmap.yaml"))
        return 0
    print(_USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
