"""transforms.io.resume: delayed resumes only where the runner honours them."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.prism_runner import PrismRunner
from apache_beam.utils.timestamp import Duration

from transforms.io.resume import pause_then_defer, runner_honours_resume_delays


class _Tracker:
    def __init__(self):
        self.deferred = []

    def defer_remainder(self, delay=None):
        self.deferred.append(delay)


def test_a_trusted_runner_gets_the_delay_and_nothing_waits_here():
    tracker, slept = _Tracker(), []
    pause_then_defer(tracker, 10.0, delays=True, sleep=slept.append)
    assert tracker.deferred == [Duration(seconds=10.0)] and slept == []


def test_elsewhere_the_pause_is_taken_here_capped_and_the_resume_is_immediate():
    tracker, slept = _Tracker(), []
    pause_then_defer(tracker, 10.0, delays=False, longest_wait=1.0, sleep=slept.append)
    pause_then_defer(tracker, 0.0, delays=False, sleep=slept.append)
    assert tracker.deferred == [None, None] and slept == [1.0]


def test_only_prism_is_not_trusted_with_delays():
    assert not runner_honours_resume_delays(beam.Pipeline(runner=PrismRunner(), options=PipelineOptions()))
    assert runner_honours_resume_delays(beam.Pipeline(options=PipelineOptions()))
    from pipelines.runners import resolve_runner

    cli_prism = resolve_runner(PipelineOptions(["--runner=PrismRunner"]))
    assert not runner_honours_resume_delays(beam.Pipeline(runner=cli_prism, options=PipelineOptions()))
