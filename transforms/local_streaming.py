"""A local streaming runner whose splittable DoFns resume and move the watermark.

Contract: ``local_streaming_runner()`` returns a ``BundleBasedDirectRunner``
that runs unbounded splittable DoFns (the drop-folder watcher, the Kafka
reader) the way the portable runners and Flink do:

* ``tracker.defer_remainder()`` checkpoints the element and the runner
  resumes it when asked (Beam 2.77's direct runner drops the deferred
  residual and ends the element after its first call);
* the output watermark of the splittable step follows the DoFn's watermark
  estimator (the direct runner holds it at -infinity while any residual is
  pending, so windows downstream never close and nothing windowed is ever
  written);
* a splittable DoFn can be used in ``--streaming`` pipelines at all (the
  GroupByKey that the runner's SDF expansion inserts is expanded before the
  streaming GroupByKey override runs, not after);
* the bundles of a keyed step (GroupByKey, stateful DoFns) run oldest first
  (the direct runner's serial queue pops the newest, so under a steady stream
  of small bundles an old one, e.g. a lone dead letter, waited for the stream
  to end);
* an idle pipeline does not spin a core (the runner's monitor rests briefly
  when a round finds nothing to do);
* an empty bundle is not handed on (the direct runner ran every step
  downstream of each empty bundle, although its watermark manager ignores
  them: every idle resume of a Kafka partition reader cost a bundle in every
  later step, and a keyed step, which runs one bundle at a time, fell behind
  by minutes under load, so the acknowledgements queued there and the Kafka
  offset commits lagged what was written);
* a DoFn is set up once and reused, bundle after bundle (the direct runner
  unpickled a fresh copy of every DoFn for every bundle, ran ``setup()`` and
  ``teardown()`` around it and inspected its signature again: a Kafka producer,
  a commit consumer and the language profiles were made per bundle, and on a
  live stream of small bundles that per-bundle cost, not the stories, was
  most of the work). Each step keeps a pool of set-up instances, one per
  bundle running at once; an instance whose bundle failed is dropped, as
  Beam drops it; the pool is torn down when the pipeline ends or is cancelled;
* a due timer fires once (the runner took due timers again every round
  until the bundle firing them committed, so a keyed step that was behind got
  a growing queue of copies of its timer bundles, and memory climbed; and its
  shutdown check marked timers as handed out that it never handed out);
* metrics count every bundle (the direct runner's executor threads keep one
  state sampler each, whose cached per-step states hold on to the metrics
  container of the step's first bundle on that thread, so every later bundle's
  counts were lost: a counter read 2 after 5 elements).

A deferred element resumes after the delay it asked for (a processing-time
timer), or at once when it gave none. The fixes are installed once per process into Beam's direct-runner
modules and change nothing for pipelines without splittable DoFns.
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import Any, Callable, Optional

__all__ = ["local_streaming_runner", "install_direct_runner_fixes"]

_INSTALL_LOCK = threading.Lock()
#: The runner's monitor task resubmits itself at once, forever: with nothing
#: to do it spun a core. Idle, it now rests this long per round.
_IDLE_MONITOR_REST_SECONDS = 0.005
_INSTALLED = False


def local_streaming_runner():
    """A ``BundleBasedDirectRunner`` for streaming pipelines with splittable DoFns."""
    from apache_beam.runners.direct import direct_runner as _direct
    from apache_beam.runners.direct.sdf_direct_runner import (
        ProcessKeyedElementsViaKeyedWorkItemsOverride,
    )

    install_direct_runner_fixes()

    class _LocalStreamingRunner(_direct.BundleBasedDirectRunner):
        def run_pipeline(self, pipeline, options):
            original = _direct._get_transform_overrides

            def overrides_in_order(pipeline_options):
                overrides = original(pipeline_options)
                for index, override in enumerate(overrides):
                    if isinstance(override, ProcessKeyedElementsViaKeyedWorkItemsOverride):
                        # The last override expands GroupByKey; run it right here too.
                        overrides.insert(index + 1, type(overrides[-1])())
                        break
                return overrides

            with _INSTALL_LOCK:
                _direct._get_transform_overrides = overrides_in_order
                try:
                    return super().run_pipeline(pipeline, options)
                finally:
                    _direct._get_transform_overrides = original

    return _LocalStreamingRunner()


def install_direct_runner_fixes() -> None:
    """Install the resuming invoker, the watermark-following ProcessFn and
    per-bundle metrics into Beam's direct runner (once per process)."""
    global _INSTALLED
    with _INSTALL_LOCK:
        if _INSTALLED:
            return
        from apache_beam.runners.direct import executor
        from apache_beam.runners.direct import sdf_direct_runner as sdf
        from apache_beam.runners.direct import transform_evaluator as evaluators
        from apache_beam.runners.worker import statesampler
        from apache_beam.utils import counters

        bundle_call = executor.TransformExecutor.call

        def call_with_fresh_sampler(self, state_sampler):
            fresh = statesampler.StateSampler("", counters.CounterFactory())
            previous = statesampler.get_current_tracker()
            statesampler.set_current_tracker(fresh)
            try:
                return bundle_call(self, fresh)
            finally:
                statesampler.set_current_tracker(previous)

        executor.TransformExecutor.call = call_with_fresh_sampler

        def oldest_first(self, new_work, completed_work):
            with self._lock:
                if new_work:
                    self.serial_queue.append(new_work)
                if completed_work:
                    assert self.currently_evaluating == completed_work
                    self.currently_evaluating = None
                if self.serial_queue and not self.currently_evaluating:
                    self.currently_evaluating = self.serial_queue.popleft()
                    executor._TransformEvaluationState.schedule(self, self.currently_evaluating)

        executor._SerialEvaluationState._update_currently_evaluating = oldest_first

        monitor_call = executor._ExecutorServiceParallelExecutor._MonitorTask.call

        def monitor_that_rests_when_idle(self, state_sampler):
            idle = self._executor.all_updates._queue.empty()
            try:
                return monitor_call(self, state_sampler)
            finally:
                if idle:
                    time.sleep(_IDLE_MONITOR_REST_SECONDS)

        executor._ExecutorServiceParallelExecutor._MonitorTask.call = monitor_that_rests_when_idle

        schedule_consumers = executor._ExecutorServiceParallelExecutor.schedule_consumers

        def schedule_consumers_of_elements(self, committed_bundle):
            if committed_bundle.has_elements():
                schedule_consumers(self, committed_bundle)

        executor._ExecutorServiceParallelExecutor.schedule_consumers = schedule_consumers_of_elements

        _install_dofn_reuse(executor, evaluators)
        _install_timers_fired_once(executor)

        invoker_cls, process_fn_cls = _fixed_classes()
        evaluators.SDFProcessElementInvoker = invoker_cls

        def new_process_fn(self, dofn):
            return process_fn_cls(dofn, self._process_keyed_elements_transform.ptransform_args,
                                  self._process_keyed_elements_transform.ptransform_kwargs)

        sdf.ProcessElements.new_process_fn = new_process_fn
        _INSTALLED = True


def _firing_identity(firing: Any) -> tuple:
    return (firing.encoded_key, firing.window, firing.name, firing.time_domain, firing.timestamp,
            firing.dynamic_timer_tag)


def _install_timers_fired_once(executor) -> None:
    """A due timer is handed to one bundle, not to one more every round.

    The watermark manager takes due timers from the keyed state, which keeps
    them until the bundle that fires them commits; until then every round of
    the monitor took them again and queued another bundle for them. A keyed
    step that was behind (one bundle at a time) got a growing queue of
    copies, each firing the DoFn's callback again, and memory climbed while
    it lasted. Due timers already handed to a bundle are now left out. The
    shutdown check, which only asks whether real-time timers are set, no
    longer marks the timers it sees as handed out either (they were never
    released: the set of outstanding firings of a step grew all run long).
    """
    from apache_beam.runners.direct import watermark_manager
    from apache_beam.runners.direct.util import TimerFiring

    peeking = threading.local()

    def extract_timers_not_in_flight(self):
        with self._lock:
            in_flight = {_firing_identity(firing) for firing in self._fired_timers}
            fired, has_realtime_timer = [], False
            for encoded_key, state in self._keyed_states.items():
                timers, had_realtime_timer = state.get_timers(
                    watermark=self._input_watermark, processing_time=self._clock.time())
                has_realtime_timer = has_realtime_timer or had_realtime_timer
                for window, (name, time_domain, timestamp, dynamic_timer_tag) in timers:
                    firing = TimerFiring(encoded_key, window, name, time_domain, timestamp,
                                         dynamic_timer_tag=dynamic_timer_tag)
                    if _firing_identity(firing) not in in_flight:
                        fired.append(firing)
            if not getattr(peeking, "active", False):
                self._fired_timers.update(fired)
            return fired, has_realtime_timer

    watermark_manager._TransformWatermarks.extract_transform_timers = extract_timers_not_in_flight

    monitor = executor._ExecutorServiceParallelExecutor._MonitorTask
    should_shutdown = monitor._should_shutdown

    def should_shutdown_peeking(self):
        peeking.active = True
        try:
            return should_shutdown(self)
        finally:
            peeking.active = False

    monitor._should_shutdown = should_shutdown_peeking


class _DoFnPool:
    """Set-up DoFn instances of each step, handed to one bundle at a time."""

    def __init__(self):
        self._lock = threading.Lock()
        self._free: dict[Any, list] = {}
        self._made: list = []  # (dofn, teardown) of every instance set up

    def take(self, step: Any) -> Optional[Any]:
        with self._lock:
            free = self._free.get(step)
            return free.pop() if free else None

    def made(self, dofn: Any, teardown: Callable[[], None]) -> None:
        with self._lock:
            self._made.append((dofn, teardown))

    def give(self, step: Any, dofn: Any) -> None:
        with self._lock:
            self._free.setdefault(step, []).append(dofn)

    def teardown_all(self) -> None:
        with self._lock:
            made, self._made, self._free = self._made, [], {}
        for _, teardown in made:
            try:
                teardown()
            except Exception:  # noqa: BLE001 - teardown is best effort, as in Beam
                import logging

                logging.getLogger(__name__).warning("DoFn teardown failed", exc_info=True)


def _memoized_per_instance(function: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``function(dofn)`` remembered per DoFn instance (the specs of an instance never change)."""
    memo: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()

    def remembered(dofn):
        try:
            return memo[dofn]
        except KeyError:
            value = memo[dofn] = function(dofn)
            return value
        except TypeError:  # unhashable or not weakly referenceable: not remembered
            return function(dofn)

    remembered.__wrapped__ = function
    return remembered


_ARGUMENTS: "weakref.WeakKeyDictionary[Any, dict]" = weakref.WeakKeyDictionary()


def _remembered_function_arguments(function: Callable[[Any, str], Any]) -> Callable[[Any, str], Any]:
    """``core.get_function_arguments(obj, name)`` once per DoFn instance and method: the
    compiled ``DoFnRunner`` inspects every method's signature for every bundle."""

    def remembered(obj, func):
        try:
            known = _ARGUMENTS.get(obj)
            if known is None:
                known = _ARGUMENTS[obj] = {}
        except TypeError:  # unhashable or not weakly referenceable: not remembered
            return function(obj, func)
        if func not in known:
            known[func] = function(obj, func)
        args, defaults = known[func]
        return list(args), list(defaults)

    remembered.__wrapped__ = function
    return remembered


def _install_dofn_reuse(executor, evaluators) -> None:
    """Pooled, set-up DoFns for ``_ParDoEvaluator``; remembered DoFn specs and signatures."""
    from apache_beam import pvalue
    from apache_beam import coders
    from apache_beam.internal import pickler
    from apache_beam.runners import common
    from apache_beam.runners.direct.direct_userstate import DirectUserStateContext
    from apache_beam.transforms import core, userstate
    from apache_beam.utils import counters

    specs = _memoized_per_instance(userstate.get_dofn_specs)
    userstate.get_dofn_specs = specs
    evaluators.get_dofn_specs = specs
    stateful = _memoized_per_instance(userstate.is_stateful_dofn)
    userstate.is_stateful_dofn = stateful
    evaluators.is_stateful_dofn = stateful
    userstate.validate_stateful_dofn = _memoized_per_instance(userstate.validate_stateful_dofn)

    core.get_function_arguments = _remembered_function_arguments(core.get_function_arguments)

    ParDoEvaluator = evaluators._ParDoEvaluator
    original_start, original_finish = ParDoEvaluator.start_bundle, ParDoEvaluator.finish_bundle

    def pool_of(evaluation_context) -> _DoFnPool:
        pool = getattr(evaluation_context, "_wire_ingest_dofn_pool", None)
        if pool is None:
            pool = evaluation_context._wire_ingest_dofn_pool = _DoFnPool()
        return pool

    def start_bundle(self):
        if not self._perform_dofn_pickle_test:
            # The splittable DoFn's ProcessFn is made per evaluator, bound to its step context.
            self._pooled_dofn = None
            return original_start(self)
        applied = self._applied_ptransform
        transform = applied.transform
        self._tagged_receivers = evaluators._TaggedReceivers(self._evaluation_context)
        for output_tag in applied.outputs:
            output_pcollection = pvalue.PCollection(None, tag=output_tag)
            output_pcollection.producer = applied
            self._tagged_receivers[output_tag] = self._evaluation_context.create_bundle(output_pcollection)
            self._tagged_receivers[output_tag].tag = output_tag
        self._counter_factory = counters.CounterFactory()
        pool = pool_of(self._evaluation_context)
        dofn = pool.take(applied)
        fresh = dofn is None
        if fresh:
            dofn = pickler.roundtrip(transform.dofn)
        args = transform.args if hasattr(transform, "args") else []
        kwargs = transform.kwargs if hasattr(transform, "kwargs") else {}
        self.user_state_context = None
        self.user_timer_map = {}
        if userstate.is_stateful_dofn(dofn):
            kv_type_hint = applied.inputs[0].element_type
            if kv_type_hint and kv_type_hint != Any:
                self.key_coder = coders.registry.get_coder(kv_type_hint).key_coder()
            else:
                self.key_coder = coders.registry.get_coder(Any)
            self.user_state_context = DirectUserStateContext(self._step_context, dofn, self.key_coder)
            _, all_timer_specs = userstate.get_dofn_specs(dofn)
            for timer_spec in all_timer_specs:
                self.user_timer_map["user/%s" % timer_spec.name] = timer_spec
        self.runner = common.DoFnRunner(
            dofn, args, kwargs, self._side_inputs, applied.inputs[0].windowing,
            tagged_receivers=self._tagged_receivers, step_name=applied.full_label,
            state=common.DoFnState(self._counter_factory),
            user_state_context=self.user_state_context)
        if fresh:
            self.runner.setup()
            pool.made(dofn, self.runner.teardown)
        self._pooled_dofn = dofn
        self.runner.start()

    def finish_bundle(self):
        dofn = getattr(self, "_pooled_dofn", None)
        if dofn is None:
            return original_finish(self)
        self.runner.finish()
        bundles = list(self._tagged_receivers.values())
        result_counters = self._counter_factory.get_counters()
        if self.user_state_context:
            self.user_state_context.commit()
            self.user_state_context.reset()
        # Only a bundle that finished hands its DoFn back: a failed one's is dropped.
        pool_of(self._evaluation_context).give(self._applied_ptransform, dofn)
        return evaluators.TransformResult(self, bundles, [], result_counters, None)

    ParDoEvaluator.start_bundle = start_bundle
    ParDoEvaluator.finish_bundle = finish_bundle

    Parallel = executor._ExecutorServiceParallelExecutor
    await_completion, request_shutdown = Parallel.await_completion, Parallel.request_shutdown

    def teardown_pooled(self) -> None:
        pool = getattr(self.evaluation_context, "_wire_ingest_dofn_pool", None)
        if pool is not None:
            pool.teardown_all()

    def await_completion_then_teardown(self):
        try:
            return await_completion(self)
        finally:
            teardown_pooled(self)

    def request_shutdown_then_teardown(self):
        try:
            return request_shutdown(self)
        finally:
            teardown_pooled(self)

    Parallel.await_completion = await_completion_then_teardown
    Parallel.request_shutdown = request_shutdown_then_teardown


def _unwrap_residual(residual: Any) -> tuple[Any, Any, Optional[Any], Optional[Any]]:
    """(restriction, watermark estimator state, watermark, resume delay) of a checkpoint.

    Beam's invoker returns checkpoints as ``SplitResultResidual`` lists whose
    value is ``((element, (restriction, estimator_state)), size)``.
    """
    from apache_beam.runners.sdf_utils import SplitResultResidual

    if isinstance(residual, (list, tuple)) and residual and isinstance(residual[0], SplitResultResidual):
        residual = residual[0]
    if isinstance(residual, SplitResultResidual):
        (_, (restriction, estimator_state)), _ = residual.residual_value.value
        return restriction, estimator_state, residual.current_watermark, residual.deferred_timestamp
    return residual, None, None, None


def _fixed_classes():
    import apache_beam as beam
    from apache_beam import TimeDomain
    from apache_beam.runners.direct.sdf_direct_runner import (
        ElementAndRestriction,
        ProcessFn,
        SDFProcessElementInvoker,
    )
    from apache_beam.runners.direct.util import KeyedWorkItem
    from apache_beam.runners.direct.watermark_manager import WatermarkManager
    from apache_beam.transforms.core import ProcessContinuation
    from apache_beam.utils.timestamp import Timestamp
    from apache_beam.utils.windowed_value import WindowedValue

    class _ResumingInvoker(SDFProcessElementInvoker):
        """Also resumes what ``defer_remainder()`` checkpointed."""

        def invoke_process_element(self, sdf_invoker, output_processor, element, restriction,
                                   watermark_estimator_state, *args, **kwargs):
            checkpoint: dict[str, Any] = {}
            lock = threading.Lock()

            def initiate_checkpoint():
                with lock:
                    if "residual" in checkpoint:
                        return
                    split = sdf_invoker.try_split(0)
                    if split:
                        checkpoint["residual"] = split[1]

            # No checkpoint on a timer: a DoFn whose call outlasts it would be
            # split before its first claim on every call, and never progress.
            output_processor.reset()
            deferred = sdf_invoker.invoke_process(
                element, additional_args=args, restriction=restriction,
                watermark_estimator_state=watermark_estimator_state)
            for output in output_processor.output_iter:
                if isinstance(output, ProcessContinuation):
                    initiate_checkpoint()
                    continue
                yield output
            with lock:
                residual = checkpoint.get("residual") or deferred or None
                checkpoint["residual"] = residual or "done"
            yield SDFProcessElementInvoker.Result(residual_restriction=residual)

    class _WatermarkFollowingProcessFn(ProcessFn):
        """Holds the output watermark at the DoFn's estimate while it resumes."""

        def process(self, element, timestamp=beam.DoFn.TimestampParam,
                    window=beam.DoFn.WindowParam, *args, **kwargs):
            if isinstance(element, KeyedWorkItem):
                key, value = element.encoded_key, None
            else:
                key, values = element
                values = list(values)
                assert len(values) == 1, "splittable DoFn keys must be unique"
                value = values[0]
            state = self._step_context.get_keyed_state(key)
            stored = state.get_state(window, self._element_tag)
            if isinstance(value, ElementAndRestriction):
                item = value.element
                restriction = value.restriction
                estimator_state = value.watermark_estimator_state
                windowed = (WindowedValue(item, value.timestamp, value.windows)
                            if isinstance(value, WindowedValue)
                            else WindowedValue(item, timestamp, [window]))
            else:
                item = stored[0] if isinstance(stored, list) and stored else stored
                restriction = state.get_state(window, self._restriction_tag)
                estimator_state = state.get_state(window, self._watermark_state_tag)
                windowed = WindowedValue(item, timestamp, [window])
            result = None
            for output in self._process_element_invoker.invoke_process_element(
                    self.sdf_invoker, self._output_processor, windowed, restriction,
                    estimator_state, *args, **kwargs):
                if isinstance(output, SDFProcessElementInvoker.Result):
                    result = output
                    break
                yield output
            residual = result.residual_restriction if result else None
            if not residual:
                for tag in (self._element_tag, self._restriction_tag, self._watermark_state_tag):
                    state.clear_state(window, tag)
                state.add_state(window, self.watermark_hold_tag, WatermarkManager.WATERMARK_POS_INF)
                return
            next_restriction, next_estimator_state, watermark, delay = _unwrap_residual(residual)
            for tag in (self._element_tag, self._restriction_tag, self._watermark_state_tag):
                state.clear_state(window, tag)
            # Stored wrapped in a list: a falsy element (b'') must not look like "no element".
            state.add_state(window, self._element_tag, [item])
            state.add_state(window, self._restriction_tag, next_restriction)
            state.add_state(window, self._watermark_state_tag,
                            next_estimator_state if next_estimator_state is not None
                            else estimator_state)
            state.clear_state(window, self.watermark_hold_tag)
            state.add_state(window, self.watermark_hold_tag,
                            watermark if watermark is not None else WatermarkManager.WATERMARK_NEG_INF)
            if delay is not None and delay.micros > 0:
                # Resume at the time the DoFn asked for, on the wall clock; the
                # runner's single worker thread stays free meanwhile.
                state.set_timer(window, "", TimeDomain.REAL_TIME, Timestamp.now() + delay)
            else:
                state.set_timer(window, "", TimeDomain.WATERMARK, WatermarkManager.WATERMARK_NEG_INF)

    return _ResumingInvoker, _WatermarkFollowingProcessFn
