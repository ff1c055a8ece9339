"""Running wire-ingest on Flink: resolved options, state names (deploy options:
``pipelines.options``; the Java Kafka reader: ``transforms.io.kafka_java``).

Contract:

* ``FlinkDeployOptions`` (in ``pipelines.options``): ``--kafka-reader native|java`` (native, the
  kafka-python source of ``transforms.io.kafka_source``, is the default) and
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
* ``ReadWireStoriesFromJavaKafka`` (in ``transforms.io.kafka_java``): Beam's Java KafkaIO (cross-language) read,
  converted to ``RawInput`` by the pure ``raw_input_from_kafka_record``.
  Offsets are committed by ``CommitKafkaOffsets`` once every item of a record
  is written, as with the native reader (KafkaIO's own commits on checkpoint
  finalization fail the job on Beam 2.62's Flink runner, and commit what is
  read, not what is written).
* ``apply_local_flink_defaults(options)`` (in ``pipelines.options``): ``--runner FlinkRunner`` needs
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
import sys
from dataclasses import dataclass
from typing import Any, Iterable, Optional, TextIO

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.portability import common_urns
from apache_beam.portability.api import beam_runner_api_pb2

from pipelines.options import (
    FlinkDeployOptions,
    PRINT_OPTIONS_FLAG,
    apply_local_flink_defaults,
    validate_deploy_options,
    with_flink_flags,
)

__all__ = [
    "normalize_beam_flags",
    "resolve_options",
    "print_options",
    "StatefulStep",
    "stateful_steps",
    "render_stateful_steps",
    "parse_stateful_steps",
    "stateful_steps_configmap",
    "build_for_inspection",
    "refresh_manifest",
    "DEPLOYED_PIPELINE_ARGS",
    "EXTERNAL_ENVIRONMENT_URN",
]


#: Environment URN of ``--environment_type=EXTERNAL`` (and LOOPBACK); it is
#: part of the Flink uid of every fused stage, see ``StatefulStep.flink_uid``.
EXTERNAL_ENVIRONMENT_URN = common_urns.environments.EXTERNAL.urn

_KIND_STATE = "state"
_KIND_SPLITTABLE = "splittable"
_KIND_GROUP = "group"


# ----------------------------------------------------------------------------- flags


def _beam_flag_names() -> set[str]:
    """Every ``--flag`` Beam's own option classes define (not wire-ingest's)."""
    from apache_beam.options.pipeline_options import _BeamArgumentParser

    from pipelines.options import IngestOptions

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

    from pipelines.options import IngestOptions

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
    from pipelines.options import IngestOptions, is_streaming_source, validate
    from pipelines.runners import beam_runner_name, resolve_runner

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
        "runner": runner if isinstance(runner, str) else beam_runner_name(runner),
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
    from pipelines.options import IngestOptions, is_streaming_source, validate
    from pipelines.ingest import build_pipeline

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


# ----------------------------------------------------------------------------- moved (issue 19)

#: Names ``pipelines.flink`` held before issue 19, and where they live now. Answered here
#: for one release (old imports and pickles), with a DeprecationWarning.
_MOVED = {
    "BEAM_JAVA_VERSION": "pipelines.options",
    "FINISH_BUNDLE_BEFORE_CHECKPOINTING": "pipelines.options",
    "FLINK_MINOR": "pipelines.options",
    "FlinkDeployOptions": "pipelines.options",
    "JavaKafkaReadConfiguration": "transforms.io.kafka_java",
    "KAFKA_READER_JAVA": "pipelines.options",
    "KAFKA_READER_NATIVE": "pipelines.options",
    "PRINT_OPTIONS_FLAG": "pipelines.options",
    "ReadWireStoriesFromJavaKafka": "transforms.io.kafka_java",
    "_LOOPBACK_HOSTS": "pipelines.options",
    "_is_loopback": "pipelines.options",
    "_kafka_uri": "transforms.io.kafka_java",
    "apply_local_flink_defaults": "pipelines.options",
    "cached_job_server_jar": "pipelines.options",
    "raw_input_from_kafka_record": "transforms.io.kafka_java",
    "uses_java_kafka_reader": "pipelines.options",
    "validate_deploy_options": "pipelines.options",
    "with_flink_flags": "pipelines.options",
}


def __getattr__(name):
    try:
        module = _MOVED[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    import importlib
    import warnings

    warnings.warn(f"pipelines.flink.{name} moved to {module}.{name}", DeprecationWarning, stacklevel=2)
    return getattr(importlib.import_module(module), name)
