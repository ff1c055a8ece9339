"""Choosing a Beam runner that never waits on the network.

Beam's ``DirectRunner`` picks its engine per pipeline and may pick Prism,
which downloads a binary at start. wire-ingest resolves ``DirectRunner``
itself: Beam's FnApiRunner for batch (the engine DirectRunner uses for
batch, with ``--direct_num_workers`` and ``--direct_running_mode``) and the
BundleBasedDirectRunner for streaming (TestStream, unbounded sources,
event-time timers). Any other runner name (``PortableRunner``,
``FlinkRunner``...) is passed to Beam unchanged.
"""

from __future__ import annotations

from typing import Union

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.runners.runner import PipelineRunner

__all__ = ["resolve_runner", "LOCAL_RUNNER_NAMES"]

LOCAL_RUNNER_NAMES = ("DirectRunner", "SwitchingDirectRunner", None, "")


def resolve_runner(options: PipelineOptions) -> Union[str, PipelineRunner]:
    """The runner to hand to ``beam.Pipeline`` for these options."""
    standard = options.view_as(StandardOptions)
    if standard.runner not in LOCAL_RUNNER_NAMES:
        return standard.runner
    if standard.streaming:
        # A BundleBasedDirectRunner whose splittable DoFns (drop folders, Kafka)
        # resume after defer_remainder() and move the watermark.
        from transforms.local_streaming import local_streaming_runner

        return local_streaming_runner()
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    return FnApiRunner()
