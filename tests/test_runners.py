"""Choosing the runner (``pipelines.runners``): FnApiRunner for batch, Prism for
streaming, on a local Prism binary that is found, never downloaded; and the
timer contract the streaming steps rely on, end to end on Prism."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import time
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.coders import VarIntCoder
from apache_beam.options.pipeline_options import PipelineOptions, PortableOptions, PrismRunnerOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.runners.portability.prism_runner import PrismRunner
from apache_beam.testing import test_stream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.utils.timestamp import Timestamp
from apache_beam.version import __version__ as BEAM_VERSION

from apache_beam.runners.portability.flink_runner import FlinkRunner
from apache_beam.runners.portability.portable_runner import JobServiceHandle, PortableRunner

from pipelines.runners import (
    JobHandleWithoutStreamDeadline,
    PrismNotFound,
    beam_runner_name,
    prism_binary,
    prism_cache_path,
    resolve_runner,
)
from transforms.io.ingested_files import journal_path

REPO = Path(__file__).resolve().parents[1]
#: A PATH with the shell's tools and, on this machine, no Go.
NO_GO_PATH = "/usr/bin:/bin"


def fake_binary(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def empty_cache(tmp_path, monkeypatch) -> Path:
    """No Prism anywhere wire-ingest looks."""
    monkeypatch.delenv("WIRE_INGEST_PRISM", raising=False)
    monkeypatch.setenv("WIRE_INGEST_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


# --------------------------------------------------------------------------- finding Prism


def test_the_cache_path_names_the_installed_beam_version(empty_cache):
    assert prism_cache_path() == empty_cache / "prism" / BEAM_VERSION / "prism"


def test_a_missing_binary_fails_at_once_saying_what_to_run(empty_cache):
    started = time.monotonic()
    with pytest.raises(PrismNotFound) as raised:
        prism_binary()
    assert time.monotonic() - started < 1  # no download, no build
    message = str(raised.value)
    assert str(prism_cache_path()) in message
    assert "deploy/local/prism.sh" in message and "Go" in message and "WIRE_INGEST_PRISM" in message
    # A streaming run stops there, before anything starts.
    with pytest.raises(PrismNotFound):
        resolve_runner(PipelineOptions(["--streaming"]))
    assert not (empty_cache / "prism").exists()


def test_the_cached_binary_is_found_and_the_environment_wins(empty_cache, tmp_path, monkeypatch):
    cached = fake_binary(prism_cache_path())
    assert prism_binary() == str(cached)
    explicit = fake_binary(tmp_path / "elsewhere" / "prism")
    monkeypatch.setenv("WIRE_INGEST_PRISM", str(explicit))
    assert prism_binary() == str(explicit)
    monkeypatch.setenv("WIRE_INGEST_PRISM", str(tmp_path / "absent"))
    with pytest.raises(PrismNotFound, match="WIRE_INGEST_PRISM"):
        prism_binary()


def test_the_build_script_reuses_a_built_binary_and_prints_its_path(empty_cache):
    cached = fake_binary(empty_cache / "prism" / "2.77.0" / "prism")
    done = subprocess.run(["bash", str(REPO / "deploy/local/prism.sh")], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "BEAM_VERSION": "2.77.0",
                                                      "PATH": NO_GO_PATH})  # no Go needed
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == f"prism={cached}"


def test_the_build_script_without_go_says_so(empty_cache):
    if shutil.which("go", path=NO_GO_PATH):
        pytest.skip(f"Go is installed in {NO_GO_PATH}: the script would build")
    done = subprocess.run(["bash", str(REPO / "deploy/local/prism.sh")], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "BEAM_VERSION": "2.77.0",
                                                      "PATH": NO_GO_PATH})
    assert done.returncode == 2 and "Go is not on PATH" in done.stderr


# --------------------------------------------------------------------------- choosing the runner


def test_batch_runs_on_the_fn_api_runner():
    assert isinstance(resolve_runner(PipelineOptions([])), FnApiRunner)
    assert isinstance(resolve_runner(PipelineOptions(["--runner=DirectRunner"])), FnApiRunner)


@pytest.mark.parametrize("argv", [["--streaming"], ["--runner=DirectRunner", "--streaming"],
                                  ["--runner=PrismRunner"]])
def test_streaming_and_explicit_prism_run_on_the_local_binary_with_loopback_workers(argv, empty_cache):
    cached = fake_binary(prism_cache_path())
    options = PipelineOptions(argv)
    assert isinstance(resolve_runner(options), PrismRunner)
    assert options.view_as(PrismRunnerOptions).prism_location == str(cached)
    assert options.view_as(PortableOptions).environment_type == "LOOPBACK"


def test_given_prism_options_are_kept(empty_cache, tmp_path):
    given = fake_binary(tmp_path / "mine" / "prism")
    options = PipelineOptions(["--runner=PrismRunner", f"--prism_location={given}",
                               "--environment_type=PROCESS"])
    resolve_runner(options)
    assert options.view_as(PrismRunnerOptions).prism_location == str(given)
    assert options.view_as(PortableOptions).environment_type == "PROCESS"
    with pytest.raises(PrismNotFound, match="--prism_location"):
        resolve_runner(PipelineOptions(["--runner=PrismRunner", "--prism_location=https://x/prism.zip"]))


def test_job_service_runners_are_beams_and_other_runners_are_passed_on_by_name():
    flink = resolve_runner(PipelineOptions(["--runner=FlinkRunner"]))
    portable = resolve_runner(PipelineOptions(["--runner=PortableRunner", "--streaming"]))
    assert isinstance(flink, FlinkRunner) and beam_runner_name(flink) == "FlinkRunner"
    assert isinstance(portable, PortableRunner) and beam_runner_name(portable) == "PortableRunner"
    assert resolve_runner(PipelineOptions(["--runner=DataflowRunner"])) == "DataflowRunner"


# --------------------------------------------------------------------------- jobs longer than --job_server_timeout


class _RecordingJobService:
    """Answers the job API calls ``JobServiceHandle.run`` makes, noting each call's timeout."""

    def __init__(self):
        self.timeouts: dict[str, object] = {}

    def _stream(self, name):
        def call(request, timeout=None):
            self.timeouts[name] = timeout
            return iter(["RUNNING"])
        return call

    def __getattr__(self, name):
        if name in ("GetStateStream", "GetMessageStream"):
            return self._stream(name)
        if name == "Run":
            return lambda request, timeout=None: type("RunJobResponse", (), {"job_id": "job-1"})()
        raise AttributeError(name)


@pytest.mark.parametrize("runner", ["PrismRunner", "FlinkRunner", "PortableRunner"])
def test_the_job_streams_have_no_deadline_and_requests_keep_the_timeout(runner, empty_cache):
    fake_binary(prism_cache_path())
    options = PipelineOptions([f"--runner={runner}", "--job_server_timeout=7"])
    service = _RecordingJobService()
    handle = resolve_runner(options).create_job_service_handle(service, options)
    assert isinstance(handle, JobHandleWithoutStreamDeadline)
    handle.run("prep-1")
    assert service.timeouts == {"GetStateStream": None, "GetMessageStream": None}
    assert handle.timeout == 7  # prepare and staging still fail fast
    # Beam's own handle gives the streams the request timeout: the deadline
    # that ended every job at 300 s.
    beams = _RecordingJobService()
    JobServiceHandle(beams, options).run("prep-1")
    assert beams.timeouts == {"GetStateStream": 7, "GetMessageStream": 7}


def test_a_watch_run_on_prism_outlives_the_job_server_timeout(tmp_path):
    """``wire-ingest run --watch`` with ``--job_server_timeout 4``: still running and
    ingesting well after the four seconds (Beam's deadline used to end the driver,
    and with it the Prism process, after ``--job_server_timeout``, 300 s by default)."""
    import json
    import sys

    from tests.reliability import interrupt

    seed = REPO / "seeds" / "000_47ad94e21230f2f9.txt"
    folder, out = tmp_path / "drop", tmp_path / "out"
    folder.mkdir()
    (folder / "first.txt").write_bytes(seed.read_bytes())
    journal = Path(journal_path(str(out)))
    command = [sys.executable, "-m", "pipelines.cli", "run", "--watch", str(folder), "--output", str(out),
               "--poll-interval", "0.3", "--settle-seconds", "0.3", "--window-seconds", "1",
               "--job_server_timeout", "4"]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def ingested() -> set[str]:
        if not journal.exists():
            return set()
        lines = journal.read_text().splitlines()
        return {os.path.basename(json.loads(line)["path"]) for line in lines if line.endswith("}")}

    def wait_for(name: str, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while name not in ingested() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.3)

    try:
        wait_for("first.txt", 120)
        assert "first.txt" in ingested(), "the first file was not ingested within 120 s"
        time.sleep(8)  # the job's streams were opened before the first file: now past 4 s
        assert process.poll() is None, process.stdout.read().decode(errors="replace")[-3000:]
        (folder / "second.txt").write_bytes(seed.read_bytes().replace(b"Minsk", b"Geneva"))
        wait_for("second.txt", 60)
        assert "second.txt" in ingested(), "a file dropped after the deadline was not ingested"
        assert process.poll() is None, process.stdout.read().decode(errors="replace")[-3000:]
    finally:
        interrupt(process, grace=20)


# --------------------------------------------------------------------------- timers on Prism

#: Each element keeps its key busy this long, so that due timers wait behind it.
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
    """Dynamic event-time timers of one busy key: none lost, none fired twice."""
    stream = (
        test_stream.TestStream()
        .add_elements([beam.window.TimestampedValue(("k", i), Timestamp(i)) for i in range(3)])
        .advance_watermark_to(Timestamp(10))  # all three timers due at once
        .add_elements([beam.window.TimestampedValue(("k", i), Timestamp(i)) for i in range(20, 24)])
        .advance_watermark_to(Timestamp(100))
        .advance_watermark_to_infinity()
    )
    options = PipelineOptions(["--streaming"])
    with beam.Pipeline(runner=resolve_runner(options), options=options) as p:
        # Typed keys: Prism finds a stateful step's keys through its input's KV coder.
        keyed = p | stream | "Keyed" >> beam.Map(lambda kv: kv).with_output_types(tuple[str, int])
        out = keyed | beam.ParDo(_SlowWithTimers())
        expected = ([("element", i) for i in list(range(3)) + list(range(20, 24))]
                    + [("fired", i + 1) for i in list(range(3)) + list(range(20, 24))])
        assert_that(out, equal_to(expected))
