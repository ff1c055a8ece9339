"""The local streaming runner fires each due timer once, even when the keyed
step that owns it is busy (``transforms.local_streaming``)."""

from __future__ import annotations

import time

import apache_beam as beam
from apache_beam.coders import VarIntCoder
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing import test_stream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.utils.timestamp import Timestamp

from transforms.local_streaming import install_direct_runner_fixes, local_streaming_runner

#: Each element keeps its key's bundle busy this long, so that due timers
#: wait behind it for many rounds of the runner's monitor.
_SLOW_ELEMENT_SECONDS = 0.25


class _SlowWithTimers(beam.DoFn):
    """Sets one event-time timer per element (at its timestamp + 1 s) and is
    slow per element; a fired timer emits ("fired", its time in seconds)."""

    FIRE = TimerSpec("fire", TimeDomain.WATERMARK)
    SEEN = ReadModifyWriteStateSpec("seen", VarIntCoder())

    def process(self, element, timestamp=beam.DoFn.TimestampParam,
                fire=beam.DoFn.TimerParam(FIRE), seen=beam.DoFn.StateParam(SEEN)):
        time.sleep(_SLOW_ELEMENT_SECONDS)
        seen.write((seen.read() or 0) + 1)
        fire.set(timestamp + 1, dynamic_timer_tag=str(int(timestamp)))
        yield ("element", element[1])

    @on_timer(FIRE)
    def fired(self, fired_at=beam.DoFn.TimestampParam):
        yield ("fired", int(fired_at.micros // 1_000_000))


def test_every_timer_fires_exactly_once_with_slow_elements():
    """End to end on the runner: no timer lost and none fired twice (the
    unit tests below pin the hand-out rule itself)."""
    stream = (
        test_stream.TestStream()
        .add_elements([beam.window.TimestampedValue(("k", i), Timestamp(i)) for i in range(3)])
        .advance_watermark_to(Timestamp(10))  # all three timers due at once
        .add_elements([beam.window.TimestampedValue(("k", i), Timestamp(i)) for i in range(20, 24)])
        .advance_watermark_to(Timestamp(100))
        .advance_watermark_to_infinity()
    )
    with beam.Pipeline(runner=local_streaming_runner(), options=PipelineOptions(streaming=True)) as p:
        out = p | stream | beam.ParDo(_SlowWithTimers())
        expected = ([("element", i) for i in list(range(3)) + list(range(20, 24))]
                    + [("fired", i + 1) for i in list(range(3)) + list(range(20, 24))])
        assert_that(out, equal_to(expected))


def _watermarks_with_due_timer():
    """A step's watermarks at 10 s over one key whose event-time timer (5 s) is due."""
    from apache_beam.runners.direct.watermark_manager import _TransformWatermarks
    from apache_beam.transforms.trigger import InMemoryUnmergedState
    from apache_beam.transforms.window import GlobalWindow

    install_direct_runner_fixes()
    state = InMemoryUnmergedState()
    state.set_timer(GlobalWindow(), "user/fire", TimeDomain.WATERMARK, Timestamp(5), dynamic_timer_tag="")
    watermarks = _TransformWatermarks(clock=type("Clock", (), {"time": lambda self: Timestamp(0)})(),
                                      keyed_states={b"k": state}, transform="step")
    watermarks._input_watermark = Timestamp(10)
    return watermarks, state


def test_a_due_timer_is_handed_to_one_bundle_until_that_bundle_commits():
    watermarks, state = _watermarks_with_due_timer()
    handed, _ = watermarks.extract_transform_timers()
    assert [(f.encoded_key, f.name, f.timestamp) for f in handed] == [(b"k", "user/fire", Timestamp(5))]
    # The bundle has not committed: the timer is still in the keyed state, and is not handed out again.
    assert watermarks.extract_transform_timers()[0] == []
    watermarks.update_timers(handed)  # the bundle commits; its DoFn set the timer again
    again, _ = watermarks.extract_transform_timers()
    assert [f.timestamp for f in again] == [Timestamp(5)]


def test_the_shutdown_check_does_not_take_due_timers():
    from types import SimpleNamespace

    from apache_beam.runners.direct import executor

    watermarks, _ = _watermarks_with_due_timer()

    class _Manager:
        def extract_all_timers(self):
            fired, _ = watermarks.extract_transform_timers()
            return [("step", fired)], True  # a real-time timer is set: no shutdown

    monitor = SimpleNamespace(_is_executing=lambda: False, _executor=SimpleNamespace(
        evaluation_context=SimpleNamespace(_watermark_manager=_Manager())))
    assert executor._ExecutorServiceParallelExecutor._MonitorTask._should_shutdown(monitor) is False
    # It only looked: nothing is recorded as handed to a bundle, and the next round hands the timer out.
    assert not watermarks._fired_timers
    assert len(watermarks.extract_transform_timers()[0]) == 1
