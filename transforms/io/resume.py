"""Resuming a self-checkpointing splittable DoFn after a pause, on every runner.

Contract: ``runner_honours_resume_delays(pipeline)`` says whether the
pipeline's runner can be trusted with a residual that asks to be resumed
later (``tracker.defer_remainder(delay)``); ``pause_then_defer(tracker,
seconds, delays)`` then either asks for the delay, or, where it cannot be
trusted, waits here (at most ``longest_wait``) and asks to be resumed at once.

Why: on Prism (Beam 2.77) a delayed residual is parked until its time, and
parked residuals were seen not to come back under load: a Kafka partition,
or the partition watcher (whose parked residual holds every reader's
watermark, and so every story waiting for it in the dedup ledger), then
stopped for good (the streaming fault tests: stories never written, offsets
never committed after a broker restart). A residual resumed at once is
scheduled like any pending element.
"""

from __future__ import annotations

import time

from apache_beam.utils.timestamp import Duration

__all__ = ["runner_honours_resume_delays", "pause_then_defer"]


def runner_honours_resume_delays(pipeline) -> bool:
    """False on Prism, Beam's or a subclass (see the module docstring); True elsewhere."""
    from apache_beam.runners.portability.prism_runner import PrismRunner

    return not isinstance(getattr(pipeline, "runner", None), PrismRunner)


def pause_then_defer(tracker, seconds: float, delays: bool, longest_wait: float = 1.0,
                     sleep=time.sleep) -> None:
    """Checkpoint the remainder, to be resumed ``seconds`` from now: by the
    runner when ``delays``, else after waiting here (capped at ``longest_wait``)."""
    if delays:
        tracker.defer_remainder(Duration(seconds=seconds))
        return
    if seconds > 0:
        sleep(min(seconds, longest_wait))
    tracker.defer_remainder()
