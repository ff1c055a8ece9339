"""Choosing a Beam runner that never waits on the network.

Beam's ``DirectRunner`` picks its engine per pipeline and may pick Prism,
which it would download at start. wire-ingest resolves ``DirectRunner``
itself:

* batch: Beam's FnApiRunner (the engine DirectRunner uses for batch, with
  ``--direct_num_workers`` and ``--direct_running_mode``);
* streaming (``--streaming``: drop folders, unbounded Kafka, TestStream):
  Beam's Prism runner, a local Go binary that runs the pipeline the way the
  portable runners and Flink do (splittable DoFns that checkpoint and resume,
  watermarks, event- and processing-time timers, bundle finalization), with
  the Python workers in this process (``--environment_type=LOOPBACK``).

``PrismRunner`` may also be named explicitly (batch or streaming); it gets the
same binary and the same local settings. Any other runner name is passed to
Beam unchanged, except the job-service runners (``PrismRunner``,
``FlinkRunner``, ``PortableRunner``): they are Beam's, with one change.
Beam waits on a job through the job service's state and message streams and
gives those streams the deadline of its single requests,
``--job_server_timeout`` (300 s by default). A job that ran longer lost its
driver at the deadline: the CLI failed with "Deadline Exceeded" and stopped
the Prism or job-server process it had started, so an unbounded Kafka or
drop-folder run ended after five minutes. ``JobHandleWithoutStreamDeadline``
keeps the timeout for the requests that prepare, stage and start the job
(so an unreachable job server still fails fast) and opens the two streams
without a deadline.

The Prism binary is never downloaded. ``prism_binary()`` finds it:
``$WIRE_INGEST_PRISM`` if set, else
``${WIRE_INGEST_CACHE:-~/.cache/wire-ingest}/prism/<apache_beam version>/prism``,
which ``deploy/local/prism.sh`` builds (Go needed, about two minutes once).
When it is absent, a streaming run fails at once with ``PrismNotFound``,
saying what to run; it does not build the binary itself, so a run never
stalls on a two-minute compile it did not ask for (the test suite builds it
once, in ``tests/conftest.py``, when Go is there).

Local runs also cap glibc's malloc arenas (``MALLOC_ARENA_MAX``, default 2
here) in the runner and, through the environment, in the SDK worker
processes it starts: gRPC's threads otherwise each get an arena of their
own, and freed buffers stay resident in them (about 130 MB of the process
tree's peak on the Reuters benchmark). An explicit ``MALLOC_ARENA_MAX`` in
the environment is kept.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
from pathlib import Path
from typing import Union

from apache_beam.options.pipeline_options import (
    PipelineOptions,
    PortableOptions,
    PrismRunnerOptions,
    StandardOptions,
)
from apache_beam.runners.portability.flink_runner import FlinkRunner
from apache_beam.runners.portability.portable_runner import JobServiceHandle, PortableRunner
from apache_beam.runners.portability.prism_runner import PrismRunner
from apache_beam.runners.runner import PipelineRunner

__all__ = [
    "beam_runner_name",
    "JobHandleWithoutStreamDeadline",
    "LongJobFlinkRunner",
    "LongJobPortableRunner",
    "LongJobPrismRunner",
    "resolve_runner",
    "streaming_runner",
    "prism_binary",
    "prism_cache_path",
    "PrismNotFound",
    "LOCAL_RUNNER_NAMES",
    "PRISM_RUNNER_NAMES",
]

LOCAL_RUNNER_NAMES = ("DirectRunner", "SwitchingDirectRunner", None, "")
PRISM_RUNNER_NAMES = ("PrismRunner", "prism")
#: Environment variable naming a Prism binary; it wins over the cache.
PRISM_ENV = "WIRE_INGEST_PRISM"
#: Environment variable naming the cache that ``deploy/local/prism.sh`` builds into.
CACHE_ENV = "WIRE_INGEST_CACHE"
BUILD_SCRIPT = "deploy/local/prism.sh"

_LOG = logging.getLogger(__name__)
_MALLOC_ARENAS = "2"
_M_ARENA_MAX = -8  # mallopt parameter, glibc's malloc.h


class PrismNotFound(RuntimeError):
    """No Prism binary where wire-ingest looks for one (it never downloads one)."""


# ----------------------------------------------------------------------------- job-service runners


class JobHandleWithoutStreamDeadline(JobServiceHandle):
    """Beam's job-service handle, whose job state and message streams have no
    deadline: they last as long as the job (see the module docstring)."""

    def run(self, preparation_id: str):
        request_timeout, self.timeout = self.timeout, None
        try:
            return super().run(preparation_id)
        finally:
            self.timeout = request_timeout


class _LongJobs:
    """Mixin for Beam's job-service runners: their handle, without the stream deadline."""

    def create_job_service_handle(self, job_service, options) -> JobServiceHandle:
        beams = super().create_job_service_handle(job_service, options)
        return JobHandleWithoutStreamDeadline(
            job_service, options, retain_unknown_options=beams._retain_unknown_options)


class LongJobPrismRunner(_LongJobs, PrismRunner):
    """``PrismRunner`` whose driver waits on a job for as long as it runs."""


class LongJobFlinkRunner(_LongJobs, FlinkRunner):
    """``FlinkRunner`` whose driver waits on a job for as long as it runs."""


class LongJobPortableRunner(_LongJobs, PortableRunner):
    """``PortableRunner`` whose driver waits on a job for as long as it runs."""


def beam_runner_name(runner: PipelineRunner) -> str:
    """The name of the Beam runner class ``runner`` is or extends (``FnApiRunner``,
    ``PrismRunner``, ``FlinkRunner``...), as an operator knows it."""
    return next(cls.__name__ for cls in type(runner).__mro__ if cls.__module__.startswith("apache_beam."))


_JOB_SERVICE_RUNNERS = {"FlinkRunner": LongJobFlinkRunner, "PortableRunner": LongJobPortableRunner}


def resolve_runner(options: PipelineOptions) -> Union[str, PipelineRunner]:
    """The runner to hand to ``beam.Pipeline`` for these options.

    Raises:
      PrismNotFound: a streaming run (or ``--runner PrismRunner``) and no
        Prism binary; raised before anything starts.
    """
    standard = options.view_as(StandardOptions)
    runner = standard.runner
    if runner in PRISM_RUNNER_NAMES or (runner in LOCAL_RUNNER_NAMES and standard.streaming):
        return streaming_runner(options)
    if runner in _JOB_SERVICE_RUNNERS:
        return _JOB_SERVICE_RUNNERS[runner]()
    if runner not in LOCAL_RUNNER_NAMES:
        return runner
    limit_malloc_arenas()
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    return FnApiRunner()


def streaming_runner(options: PipelineOptions) -> PipelineRunner:
    """A ``PrismRunner`` (``LongJobPrismRunner``) on the local binary, its SDK
    workers in this process.

    Sets on ``options`` (unless already given): ``--prism_location`` (the
    binary ``prism_binary()`` finds) and ``--environment_type=LOOPBACK``.

    Raises:
      PrismNotFound: no binary given and none found.
    """
    limit_malloc_arenas()
    prism = options.view_as(PrismRunnerOptions)
    if not prism.prism_location:
        prism.prism_location = prism_binary()
    elif not os.access(prism.prism_location, os.X_OK):
        raise PrismNotFound(f"--prism_location {prism.prism_location!r} is not an executable file: "
                            f"wire-ingest runs a local Prism binary only ({_how_to_build()})")
    portable = options.view_as(PortableOptions)
    if not portable.environment_type:
        portable.environment_type = "LOOPBACK"
    return LongJobPrismRunner()


def prism_cache_path(beam_version: str | None = None) -> Path:
    """Where ``deploy/local/prism.sh`` puts the Prism binary for a Beam version
    (default: the installed apache_beam's)."""
    if beam_version is None:
        from apache_beam.version import __version__ as beam_version
    cache = os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "wire-ingest")
    return Path(cache) / "prism" / beam_version / "prism"


def prism_binary() -> str:
    """The Prism binary to run: ``$WIRE_INGEST_PRISM``, else the cache path.

    Raises:
      PrismNotFound: at once, naming the path looked at and the build step;
        nothing is downloaded or built.
    """
    explicit = os.environ.get(PRISM_ENV)
    if explicit:
        if os.path.isfile(explicit) and os.access(explicit, os.X_OK):
            return explicit
        raise PrismNotFound(f"{PRISM_ENV}={explicit} is not an executable file "
                            f"(unset it to use the cache; {_how_to_build()})")
    cached = prism_cache_path()
    if cached.is_file() and os.access(cached, os.X_OK):
        return str(cached)
    raise PrismNotFound(f"no Prism binary at {cached}: streaming runs need Beam's Prism runner; "
                        f"{_how_to_build()}, or set {PRISM_ENV} to a Prism binary of the same "
                        f"Beam version")


def _how_to_build() -> str:
    return f"build it once with {BUILD_SCRIPT} (needs Go 1.21 or newer, about two minutes)"


def limit_malloc_arenas() -> None:
    """Cap glibc malloc arenas in this process and in the processes it starts."""
    arenas = os.environ.setdefault("MALLOC_ARENA_MAX", _MALLOC_ARENAS)
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(_M_ARENA_MAX, int(arenas))
    except (OSError, AttributeError, ValueError):  # not glibc: nothing to tune
        _LOG.debug("malloc arenas not capped: no glibc mallopt")
