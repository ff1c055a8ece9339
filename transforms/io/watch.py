"""Drop folders: stream wire files as they land, each once, restart-safe.

In: local folders that agencies upload into (FTP/SFTP drop folders).
Out of ``ReadDropFolders``: ``RawInput`` for every complete file (one
``read_file_input`` each, exactly as the batch file source reads), and
``DeadLetter`` for files that cannot be read (too large, unreadable). Out of
``RecordIngestedFiles`` (fed the sinks' acknowledgements): ``IngestedFile``
entries, each appended to the state store once all of a file's items were
written, after which the file is optionally moved to ``_PROCESSED/`` or, when
any item was dead-lettered, to ``_ERROR/`` (both inside the watched folder).

Guarantees:

* One listing per folder per poll (``os.scandir``), however many files it holds.
* A file is taken once complete (see ``ingested_files.settle``: size and mtime
  still for ``settle_seconds``, or renamed from a temporary name; hidden and
  ``.tmp``/``.part`` names are never taken).
* Within a run, a file version is emitted once: the poller keeps the versions
  it emitted (the in-flight set, in its restriction, so a runner checkpoint
  keeps it) until the state store records them or they leave the folder.
* Across restarts, the state store (``<output>/_state/ingested-files.jsonl``)
  is written only after a file's records are durably written (the sinks
  fsync each file and its directory before acknowledging), so a restart
  re-ingests what was not finished and nothing that was. A file that
  reappears with other content is ingested again (dedup links it); with the
  same content it is recorded ``unchanged`` and not ingested again.
* Once for a consumer: a file whose records were written but that a crash
  kept out of the store is ingested again after the restart, and its stories
  come out with the same ids marked ``DUPLICATE`` of themselves (dropped and
  counted with ``--dedup-mode drop``): the restarted pipeline's dedup ledger
  starts from the stories already in the output
  (``transforms.io.write.load_written_stories``), where it finds those ids.
  So, counting stories not marked ``DUPLICATE``, every story of a dropped
  file appears exactly once, provided the first copy is still inside the
  dedup horizon (``--dedup-horizon``, 72 h) when the pipeline restarts: its
  output file is younger than that, and its event time (the file's mtime, or
  the watermark when that was later) is not that far behind the newest story
  in the output. Dead letters of a re-ingested file are written again with
  the same source position (path, mtime, item), which identifies them.
  Why marking and not deterministic output names replaced atomically: a
  file's records are written per bundle and per event-time window together
  with other files' records, and the replacement would have to hold the
  very same records; but a re-read file's stories may fall in another
  window (the event time is the mtime, or the watermark when that was
  behind), and are decided again by a ledger that has since seen the first
  copies. Marking needs nothing of the sink, is decided by id alone, and is
  what a Kafka record re-delivered after a crash gets too.
* Event time: the file's mtime; a file that turns up with an mtime behind the
  watermark (a rename of an old file, a copy that kept its mtime) takes the
  watermark instead, so it is never late and never dropped by a window. The
  watermark follows wall time: the poll time, held back to the oldest mtime
  of a file still settling.

Not guaranteed: order; exactly-once *records* (a re-ingested file's records
are in the output twice, the second time marked as above; a reader that
takes every record, whatever its status, sees them twice). Local folders only.

Runs on Flink and the portable runners (a splittable DoFn with
``defer_remainder``, a manual watermark estimator and ReadModifyWrite state),
and locally on Prism (``pipelines.runners``), which resumes a deferred poller
at the time it asked for.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Iterator, Optional, Sequence

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.io.iobase import RestrictionProgress, RestrictionTracker
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.metrics import Metrics
from apache_beam.transforms import window
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec
from apache_beam.utils.timestamp import MIN_TIMESTAMP, Timestamp

from transforms import telemetry
from transforms.io.ingested_files import (
    STATUS_ERROR,
    STATUS_INGESTED,
    STATUS_UNCHANGED,
    IngestedFile,
    IngestedFilesStore,
    Observation,
    list_folder,
    settle,
)
from transforms.model import DeadLetter, SourcePosition, now_millis
from transforms.io.read import DEFAULT_MAX_INPUT_BYTES, read_file_input
from transforms.io.resume import runner_honours_resume_delays

__all__ = [
    "ReadDropFolders",
    "RecordIngestedFiles",
    "DropFile",
    "PROCESSED_DIR",
    "ERROR_DIR",
]

_LOG = logging.getLogger(__name__)
_NAMESPACE = "wire_ingest"

PROCESSED_DIR = "_PROCESSED"
ERROR_DIR = "_ERROR"

#: A runner may resume a deferred poller before the time it asked for; the
#: poller then sleeps at most this long per call before deferring again, so a
#: runner thread is never held long.
_MAX_PACE_SLEEP_SECONDS = 0.25


@dataclass(frozen=True)
class DropFile:
    """A complete file found in a drop folder, not yet read."""

    path: str
    size: int
    mtime_ns: int
    folder: str


class ReadDropFolders(beam.PTransform):
    """Watch drop folders and read each complete file once as a ``RawInput``.

    Args:
      folders: local directories to watch (files directly inside; subfolders
        such as ``_PROCESSED`` are not read).
      poll_interval_seconds: time between two listings of a folder.
      settle_seconds: how long a file's size and mtime must hold still.
      state_dir: the output directory holding the state store; files recorded
        there are not read again. None: no store (every file is new).
      max_input_bytes: larger files are dead-lettered ``too_large``.
      max_polls: stop after this many polls of each folder (tests, benches);
        None (default) watches until the pipeline is cancelled.
      move_processed: move a file re-sent unchanged to ``_PROCESSED/`` at once
        (``RecordIngestedFiles`` moves the others once written).

    Returns:
      dict-like with ``INPUTS`` (``RawInput``) and ``DEAD_LETTERS`` (``DeadLetter``).
    """

    INPUTS = "inputs"
    DEAD_LETTERS = "dead_letters"

    def __init__(
        self,
        folders: Sequence[str],
        poll_interval_seconds: float = 5.0,
        settle_seconds: float = 2.0,
        state_dir: Optional[str] = None,
        max_input_bytes: int = DEFAULT_MAX_INPUT_BYTES,
        max_polls: Optional[int] = None,
        move_processed: bool = False,
    ):
        super().__init__()
        folders = [os.path.abspath(f) for f in folders]
        if not folders:
            raise ValueError("--watch: give at least one folder")
        if len(set(folders)) != len(folders):
            raise ValueError("--watch: a folder is given twice")
        for folder in folders:
            if "://" in folder or not os.path.isdir(folder):
                raise ValueError(f"--watch: {folder!r} is not a local directory")
        if poll_interval_seconds <= 0:
            raise ValueError("--poll-interval must be a positive number of seconds")
        if settle_seconds < 0:
            raise ValueError("--settle-seconds must be >= 0")
        if max_input_bytes <= 0:
            raise ValueError("--max-input-bytes must be positive")
        if max_polls is not None and max_polls <= 0:
            raise ValueError("max_polls must be positive")
        if state_dir is not None:
            IngestedFilesStore(state_dir)  # fail before launch on a remote directory
        self._folders = folders
        self._poll_interval = float(poll_interval_seconds)
        self._settle = float(settle_seconds)
        self._state_dir = os.path.abspath(state_dir) if state_dir else None
        self._max_input_bytes = max_input_bytes
        self._max_polls = max_polls
        self._move = move_processed

    def expand(self, pbegin):
        folders, max_polls = self._folders, self._max_polls
        return (
            pbegin
            | "Impulse" >> beam.Impulse()
            | "Folders" >> beam.FlatMap(lambda _: [(folder, max_polls) for folder in folders])
            # Earliest-timestamp grouping: a runner whose splittable-DoFn
            # expansion groups the folders (Beam's BundleBasedDirectRunner did)
            # would otherwise stamp them at the end of the window, and its
            # watermark jump to the end of time before the first poll.
            | "EarliestTimestamps" >> beam.WindowInto(
                window.GlobalWindows(), timestamp_combiner=window.TimestampCombiner.OUTPUT_AT_EARLIEST)
            | "PollFolders" >> beam.ParDo(_PollFolderFn(
                self._poll_interval, self._settle, self._state_dir,
                resume_delays=runner_honours_resume_delays(pbegin.pipeline)))
            | "DefaultWindowing" >> beam.WindowInto(window.GlobalWindows())
            | "ReadFiles" >> beam.ParDo(_ReadDropFileFn(
                self._state_dir, self._max_input_bytes, self._move)).with_outputs(
                    self.DEAD_LETTERS, main=self.INPUTS)
        )


class RecordIngestedFiles(beam.PTransform):
    """Record files whose items are all written; optionally move them away.

    Input: the sinks' acknowledgements (``SourcePosition``), either one
    PCollection (every item counts as written) or a dict with ``WRITTEN``
    (stories written or dropped as duplicates) and ``FAILED`` (dead letters
    written). A file of N items (``SourcePosition.item_count``) is done once
    N distinct items are acknowledged; acknowledgements of other sources
    (Kafka, batch ``--input`` files outside the watched folders) are ignored.

    Output: ``IngestedFile`` entries, each already appended to the store.
    """

    WRITTEN = "written"
    FAILED = "failed"

    def __init__(self, state_dir: str, move_processed: bool = False,
                 folders: Optional[Sequence[str]] = None):
        super().__init__()
        if not state_dir:
            raise ValueError("--output: the drop-folder state store needs an output directory")
        IngestedFilesStore(state_dir)  # fail before launch on a remote directory
        self._state_dir = os.path.abspath(state_dir)
        self._move = move_processed
        self._folders = tuple(os.path.abspath(f) for f in folders) if folders else None

    def expand(self, acks):
        if isinstance(acks, dict):
            written, failed = acks[self.WRITTEN], acks.get(self.FAILED)
        else:
            written, failed = acks, None
        folders = self._folders
        tagged = [written | "TagWritten" >> beam.FlatMap(_ack_key, False, folders)]
        if failed is not None:
            tagged.append(failed | "TagFailed" >> beam.FlatMap(_ack_key, True, folders))
        return (
            tagged
            | "AllAcks" >> beam.Flatten()
            | "GlobalWindow" >> beam.WindowInto(window.GlobalWindows())
            | "RecordFiles" >> beam.ParDo(_RecordFileFn(self._state_dir, self._move))
        )


def _ack_key(source: SourcePosition, failed: bool, folders: Optional[tuple[str, ...]]) -> Iterator:
    if source.kind != "file":
        return
    if folders is not None and os.path.dirname(source.uri) not in folders:
        return
    mtime_ms = source.timestamp or 0  # read_file_input gives None for an mtime of 0
    yield f"{source.uri}\n{mtime_ms}", (source.item_index, max(1, source.item_count), failed)


# --------------------------------------------------------------------------- the poller


@dataclass
class _PollState:
    """The restriction of one folder's poller: polls done, and what to remember."""

    next_poll: int = 0
    stop_poll: Optional[int] = None  # exclusive; None = poll forever
    next_poll_at: float = 0.0  # wall seconds
    observations: dict[str, Observation] = field(default_factory=dict)
    temp_inodes: dict[int, int] = field(default_factory=dict)
    in_flight: dict[str, tuple[int, int]] = field(default_factory=dict)  # path -> (size, mtime_ns)
    finished: bool = False


class _PollTracker(RestrictionTracker):
    """Claims one poll at a time; the claim carries the state after that poll.

    Splits only at checkpoints: the primary is the polls done, the residual the
    state to resume from.
    """

    def __init__(self, state: _PollState):
        self._state = state
        self._after_claim: Optional[_PollState] = None
        self._checkpointed = False
        self._exhausted = state.finished

    def current_restriction(self) -> _PollState:
        return self._state

    def try_claim(self, new_state: _PollState) -> bool:
        if self._checkpointed or self._exhausted:
            return False
        if self._state.stop_poll is not None and self._state.next_poll >= self._state.stop_poll:
            self._exhausted = True
            return False
        self._after_claim = new_state
        return True

    def try_split(self, fraction_of_remainder):
        if fraction_of_remainder > 0 or self._checkpointed or self._exhausted:
            return None
        self._checkpointed = True
        residual = self._after_claim or self._state
        primary = dataclasses.replace(self._state, finished=True)
        self._state = primary
        return primary, residual

    def check_done(self):
        if not (self._checkpointed or self._exhausted):
            raise ValueError("drop-folder poll ended without a checkpoint")

    def current_progress(self) -> RestrictionProgress:
        done = self._state.next_poll
        if self._state.stop_poll is None:
            return RestrictionProgress(completed=done, remaining=1)
        return RestrictionProgress(completed=done, remaining=max(0, self._state.stop_poll - done))

    def is_bounded(self) -> bool:
        return self._state.stop_poll is not None


class _PollStateProvider(beam.transforms.core.RestrictionProvider):
    """The element is (folder, max_polls)."""

    def initial_restriction(self, element: tuple[str, Optional[int]]) -> _PollState:
        return _PollState(stop_poll=element[1])

    def create_tracker(self, state: _PollState) -> _PollTracker:
        return _PollTracker(state)

    def split(self, folder, state):
        yield state

    def restriction_size(self, folder, state) -> int:
        return 1

    def restriction_coder(self):
        return PickleCoder()

    def truncate(self, folder, state):
        return None  # draining: stop polling


class _PollFolderFn(beam.DoFn):
    """One poll per call: list the folder once, emit its new complete files."""

    def __init__(self, poll_interval: float, settle_seconds: float, state_dir: Optional[str],
                 resume_delays: bool = True):
        # Where the runner's resume delays are not trusted (see
        # transforms.io.resume), the poller asks to be resumed at once and paces
        # itself with the sleep at the start of a call.
        self._resume_delays = resume_delays
        self._interval = poll_interval
        self._settle_ns = int(settle_seconds * 1e9)
        self._state_dir = state_dir
        self._polls = Metrics.counter(_NAMESPACE, "drop_folder_polls")
        self._listings = Metrics.counter(_NAMESPACE, "drop_folder_listings")
        self._emitted = Metrics.counter(_NAMESPACE, "drop_files_emitted")
        self._errors = Metrics.counter(_NAMESPACE, "drop_folder_listing_errors")
        self._in_flight = Metrics.gauge(_NAMESPACE, "drop_files_in_flight")

    def _get_store(self) -> Optional[IngestedFilesStore]:
        # Lazily: not every runner calls setup() on splittable DoFns.
        if self._state_dir is None:
            return None
        store = getattr(self, "_store", None)
        if store is None:
            store = self._store = IngestedFilesStore(self._state_dir)
        return store

    @beam.DoFn.unbounded_per_element()
    def process(
        self,
        element: tuple[str, Optional[int]],
        tracker=beam.DoFn.RestrictionParam(_PollStateProvider()),
        watermark=beam.DoFn.WatermarkEstimatorParam(ManualWatermarkEstimator.default_provider()),
    ) -> list:
        # A list, not a generator: a runner may check that the restriction is
        # done as soon as process() returns.
        folder = element[0]
        state: _PollState = tracker.current_restriction()
        if state.stop_poll is not None and state.next_poll >= state.stop_poll:
            tracker.try_claim(state)  # refused: the last poll is done
            return []
        wait = state.next_poll_at - time.time()
        if wait > 0:
            time.sleep(min(wait, _MAX_PACE_SLEEP_SECONDS))
            if time.time() < state.next_poll_at:
                self._defer(tracker, state.next_poll_at)
                return []
        now = time.time()
        try:
            wanted, in_progress = list_folder(folder)
        except OSError as error:  # folder unmounted or gone for a moment: try again later
            _LOG.warning("drop folder %s cannot be listed, retrying: %s", folder, error)
            self._errors.inc()
            retry = dataclasses.replace(state, next_poll_at=now + self._interval)
            if tracker.try_claim(retry):
                self._defer(tracker, retry.next_poll_at)
            return []
        self._listings.inc()
        telemetry.source_opened(folder, "drop_folder")
        store = self._get_store()
        if store is not None:
            store.refresh()
        now_ns = time.time_ns()
        settled = settle(wanted, in_progress, state.observations, state.temp_inodes,
                         now_ns, self._settle_ns)
        listed = {f.path: (f.size, f.mtime_ns) for f in wanted}
        in_flight = {
            path: version for path, version in state.in_flight.items()
            if listed.get(path) == version
            and not (store is not None and store.contains(path, *version))
        }
        new_files = [
            f for f in settled.ready
            if in_flight.get(f.path) != (f.size, f.mtime_ns)
            and not (store is not None and store.contains(f.path, f.size, f.mtime_ns))
        ]
        for f in new_files:
            in_flight[f.path] = (f.size, f.mtime_ns)
        next_state = _PollState(
            next_poll=state.next_poll + 1,
            stop_poll=state.stop_poll,
            next_poll_at=now + self._interval,
            observations=settled.observations,
            temp_inodes=settled.temp_inodes,
            in_flight=in_flight,
        )
        if not tracker.try_claim(next_state):
            return []
        floor = watermark.current_watermark() or MIN_TIMESTAMP
        outputs = []
        for f in sorted(new_files, key=lambda f: f.mtime_ns):
            stamp = max(Timestamp(micros=f.mtime_ns // 1000), floor)
            outputs.append(window.TimestampedValue(DropFile(f.path, f.size, f.mtime_ns, folder), stamp))
        # No file still settling is older than its mtime; anything else that
        # turns up later with an older mtime takes the watermark (see above).
        target = Timestamp.of(now)
        for pending in settled.observations.values():
            target = min(target, Timestamp(micros=pending.mtime_ns // 1000))
        if target > floor:
            watermark.set_watermark(target)
        self._polls.inc()
        self._emitted.inc(len(outputs))
        if outputs:
            telemetry.delivered(folder, "drop_folder")
        self._in_flight.set(len(in_flight))
        self._defer(tracker, next_state.next_poll_at)
        return outputs

    def _defer(self, tracker, poll_at: float) -> None:
        tracker.defer_remainder(Timestamp.of(poll_at) if self._resume_delays else None)


# --------------------------------------------------------------------------- reading


class _ReadDropFileFn(beam.DoFn):
    def __init__(self, state_dir: Optional[str], max_input_bytes: int, move: bool):
        self._state_dir = state_dir
        self._move = move
        self._max_input_bytes = max_input_bytes
        self._inputs = Metrics.counter(_NAMESPACE, "raw_inputs")
        # Inputs that fail here never reach the parser, which counts the rest.
        self._read = Metrics.counter(_NAMESPACE, "read")
        self._unchanged = Metrics.counter(_NAMESPACE, "drop_files_unchanged")

    def setup(self) -> None:
        self._store = IngestedFilesStore(self._state_dir) if self._state_dir else None

    def process(self, drop: DropFile, stamp=beam.DoFn.TimestampParam) -> Iterator:
        result = read_file_input(drop.path, drop.size, drop.mtime_ns / 1e9, self._max_input_bytes)
        if isinstance(result, DeadLetter):
            self._inputs.inc()
            self._read.inc()
            telemetry.count("read", source_kind=result.source.kind)
            yield beam.pvalue.TaggedOutput(ReadDropFolders.DEAD_LETTERS, result)
            return
        if self._store is not None:
            digest = hashlib.sha256(result.raw).hexdigest()
            self._store.refresh()
            if self._store.has_content(drop.path, digest):
                # Re-sent unchanged: nothing to write, so it is done now.
                moved_to = move_file(drop.path, PROCESSED_DIR) if self._move else None
                self._store.record([IngestedFile(
                    path=drop.path, size=drop.size, mtime_ns=drop.mtime_ns, sha256=digest,
                    status=STATUS_UNCHANGED, items=0, recorded_at=now_millis(),
                    moved_to=moved_to)])
                self._unchanged.inc()
                return
        self._inputs.inc()
        # Event time as the element's: the mtime, unless that was behind the watermark.
        yield dataclasses.replace(result, event_time=int(stamp.micros // 1000))


# --------------------------------------------------------------------------- recording


class _RecordFileFn(beam.DoFn):
    """Counts a file's acknowledged items; when all are in, records and moves it."""

    ACKED = ReadModifyWriteStateSpec("acked_items", PickleCoder())

    def __init__(self, state_dir: str, move: bool):
        self._state_dir = state_dir
        self._move = move
        self._recorded = Metrics.counter(_NAMESPACE, "drop_files_recorded")
        self._recorded_error = Metrics.counter(_NAMESPACE, "drop_files_recorded_with_dead_letters")
        self._moved = Metrics.counter(_NAMESPACE, "drop_files_moved")

    def setup(self) -> None:
        self._store = IngestedFilesStore(self._state_dir)

    def process(self, element, acked=beam.DoFn.StateParam(ACKED)) -> Iterator[IngestedFile]:
        key, (index, count, failed) = element
        items: dict[int, bool] = acked.read() or {}
        items[index] = items.get(index, False) or failed
        if len(items) < count:
            acked.write(items)
            return
        uri, mtime_ms = key.rsplit("\n", 1)
        entry = finish_file(uri, int(mtime_ms), count, sum(items.values()), self._move)
        self._store.record([entry])
        acked.clear()
        self._recorded.inc()
        if entry.status == STATUS_ERROR:
            self._recorded_error.inc()
        if entry.moved_to:
            self._moved.inc()
        yield entry


def finish_file(path: str, mtime_ms: int, items: int, failed_items: int, move: bool) -> IngestedFile:
    """The store entry for a done file, after moving it when asked.

    The file's size, mtime and hash are taken now; if it changed since it was
    read (a new version, which the poller takes on its own), only its path
    and the acknowledged mtime are recorded.
    """
    status = STATUS_ERROR if failed_items else STATUS_INGESTED
    size, mtime_ns, digest = -1, mtime_ms * 1_000_000, None
    try:
        info = os.stat(path)
        if abs(info.st_mtime_ns // 1_000_000 - mtime_ms) <= 1:
            with open(path, "rb") as handle:
                digest = hashlib.sha256(handle.read()).hexdigest()
            size, mtime_ns = info.st_size, info.st_mtime_ns
    except FileNotFoundError:
        pass
    moved_to = None
    if move and digest is not None:
        moved_to = move_file(path, ERROR_DIR if failed_items else PROCESSED_DIR)
    return IngestedFile(path=path, size=size, mtime_ns=mtime_ns, sha256=digest, status=status,
                        items=items, failed_items=failed_items, recorded_at=now_millis(),
                        moved_to=moved_to)


def move_file(path: str, subdir: str) -> Optional[str]:
    """Move ``path`` into ``subdir`` beside it; a name taken there gets a numeric suffix."""
    folder, name = os.path.split(path)
    target_dir = os.path.join(folder, subdir)
    os.makedirs(target_dir, exist_ok=True)
    target = os.path.join(target_dir, name)
    suffix = 1
    while os.path.exists(target):
        target = os.path.join(target_dir, f"{name}.{suffix}")
        suffix += 1
    try:
        os.replace(path, target)
    except FileNotFoundError:
        return None  # moved already (a retried bundle)
    return target
