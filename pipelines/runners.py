"""Choosing a Beam runner that never waits on the network.

Beam's ``DirectRunner`` picks its engine per pipeline and may pick Prism,
which downloads a binary at start. wire-ingest resolves ``DirectRunner``
itself: Beam's FnApiRunner for batch (the engine DirectRunner uses for
batch, with ``--direct_num_workers`` and ``--direct_running_mode``) and the
BundleBasedDirectRunner for streaming (TestStream, unbounded sources,
event-time timers). Any other runner name (``PortableRunner``,
``FlinkRunner``...) is passed to Beam unchanged.

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
from typing import Union

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.runners.runner import PipelineRunner

__all__ = ["resolve_runner", "LOCAL_RUNNER_NAMES"]

LOCAL_RUNNER_NAMES = ("DirectRunner", "SwitchingDirectRunner", None, "")

_LOG = logging.getLogger(__name__)
_MALLOC_ARENAS = "2"
_M_ARENA_MAX = -8  # mallopt parameter, glibc's malloc.h


def resolve_runner(options: PipelineOptions) -> Union[str, PipelineRunner]:
    """The runner to hand to ``beam.Pipeline`` for these options."""
    standard = options.view_as(StandardOptions)
    if standard.runner not in LOCAL_RUNNER_NAMES:
        return standard.runner
    limit_malloc_arenas()
    if standard.streaming:
        # A BundleBasedDirectRunner whose splittable DoFns (drop folders, Kafka)
        # resume after defer_remainder() and move the watermark.
        from transforms.local_streaming import local_streaming_runner

        return local_streaming_runner()
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    return FnApiRunner()


def limit_malloc_arenas() -> None:
    """Cap glibc malloc arenas in this process and in the processes it starts."""
    arenas = os.environ.setdefault("MALLOC_ARENA_MAX", _MALLOC_ARENAS)
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(_M_ARENA_MAX, int(arenas))
    except (OSError, AttributeError, ValueError):  # not glibc: nothing to tune
        _LOG.debug("malloc arenas not capped: no glibc mallopt")
