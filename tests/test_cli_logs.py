"""``wire-ingest run``'s logs and progress: no irrelevant Beam warnings,
``--log-format json``, and a progress bar on a terminal only.

The runs are real CLI processes (``python -m pipelines.cli``) on the batch
runner, their output read from pipes or from a pseudo-terminal.
"""

from __future__ import annotations

import fcntl
import io
import json
import logging
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import fastavro
import pytest

from pipelines import cli
from pipelines.logs import JsonFormatter, QuietBeamWarnings, known_inputs, strip_ansi
from tests.conftest import REPO
from tests.report_fixture import write_inputs

NOISE = ("apitools not found", "yield and return")


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipelines.cli", *args]


def _run_piped(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(_cli(*args), cwd=REPO, capture_output=True, text=True, timeout=300)


def _run_in_pty(*args: str, columns: int = 100, rows: int = 30) -> tuple[int, str]:
    """Run the CLI with stdin, stdout and stderr on a pseudo-terminal; its exit
    code and everything it wrote there."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    process = subprocess.Popen(_cli(*args), cwd=REPO, stdin=slave, stdout=slave, stderr=slave,
                               close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    return process.wait(timeout=300), b"".join(chunks).decode("utf-8", "replace")


# ---- the demo's noise ------------------------------------------------------------------------

def test_a_run_on_the_seeds_prints_neither_beam_warning(tmp_path):
    done = _run_piped("run", "--input", "seeds", "--output", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert "balanced: read 1 = written 1" in done.stdout
    for noise in NOISE:
        assert noise not in done.stdout + done.stderr


_YIELD_AND_RETURN = """
import logging, sys
if sys.argv[1] == "quiet":
    from pipelines.logs import configure_logging
    configure_logging("text")
else:
    logging.basicConfig(level=logging.WARNING)
import apache_beam as beam

class Both(beam.DoFn):
    def process(self, element):
        if element:
            return []
        yield element

beam.ParDo(Both())
logging.getLogger("apache_beam.transforms.core").warning("another Beam warning")
logging.warning("another root warning")
"""


@pytest.mark.parametrize("mode", ["quiet", "plain"])
def test_exactly_the_two_warnings_are_dropped(mode, tmp_path):
    # "plain" is the control: without the filter Beam prints both. A file, not
    # -c: Beam's check reads the DoFn's source.
    script = tmp_path / "both.py"
    script.write_text(_YIELD_AND_RETURN)
    done = subprocess.run([sys.executable, str(script), mode], cwd=REPO, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    assert "another Beam warning" in done.stderr and "another root warning" in done.stderr
    for noise in NOISE:
        assert (noise in done.stderr) == (mode == "plain"), noise


def test_the_filter_passes_other_records_of_the_same_loggers():
    quiet = QuietBeamWarnings()

    def record(name, msg):
        return logging.LogRecord(name, logging.WARNING, "x.py", 1, msg, (), None)

    assert not quiet.filter(record("root", "apitools not found, and bigquery ..."))
    assert not quiet.filter(record("apache_beam.transforms.core",
                                   "Using yield and return in the process method of %s can ..."))
    assert quiet.filter(record("root", "something else"))
    assert quiet.filter(record("some.module", "apitools not found"))  # same words, other logger


# ---- --log-format json -----------------------------------------------------------------------

def test_json_logs_give_every_dead_letter_and_the_sinks_start_and_stop(tmp_path):
    inputs = write_inputs(tmp_path / "in")
    out = tmp_path / "out"
    done = _run_piped("run", "--input", str(inputs), "--output", str(out), "--log-format", "json")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]  # every line is one object
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    events = [line for line in lines if "event" in line]
    dead = []
    for path in sorted(out.glob("dead-letters-*.avro")):
        with open(path, "rb") as handle:
            dead.extend(fastavro.reader(handle))
    logged = sorted((e["stage"], e["reason"], e["source"]["uri"], e["source"]["position"])
                    for e in events if e["event"] == "dead_letter")
    assert logged == sorted((d["stage"], d["reason"], d["source"]["uri"], d["source"]["position"])
                            for d in dead)
    assert len(logged) == 2
    starts = [e for e in events if e["event"] == "sink_start"]
    stops = [e for e in events if e["event"] == "sink_stop"]
    assert [(e["sink"], e["target"]) for e in starts] == [("files", str(out))]
    assert [(e["sink"], e["stories"], e["dead_letters"]) for e in stops] == [("files", 4, 2)]
    assert not any(noise in done.stderr for noise in NOISE)


def test_json_logs_announce_the_metrics_server_as_a_json_event_too(tmp_path):
    """With --metrics-port, the line giving the metrics address is an event like the
    rest: stderr stays one JSON object a line."""
    done = _run_piped("run", "--input", str(write_inputs(tmp_path / "in")), "--output",
                      str(tmp_path / "out"), "--log-format", "json", "--metrics-port", "0",
                      "--progress", "off")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]  # every line is one object
    [start] = [line for line in lines if line.get("event") == "metrics_start"]
    assert start["url"] == f"http://127.0.0.1:{start['port']}/metrics" and start["port"] > 0
    assert start["url"] in start["message"]


def test_broker_retries_are_json_events():
    from kafka.errors import NodeNotReadyError

    from transforms.io.kafka_common import retry_while_broker_away

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("transforms.io.kafka_common")
    logger.addHandler(handler)
    tries = []

    def commit():
        tries.append(1)
        if len(tries) < 3:
            raise NodeNotReadyError("broker away")
        return "committed"

    try:
        assert retry_while_broker_away(commit, "kafka offset commit", sleep=lambda _: None) == "committed"
    finally:
        logger.removeHandler(handler)
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(e["event"], e["what"], e["try"]) for e in events] == [
        ("broker_retry", "kafka offset commit", 1), ("broker_retry", "kafka offset commit", 2)]
    assert events[1]["pause_seconds"] == 1.0 and "broker away" in events[0]["error"]


@pytest.mark.parametrize("args, option", [
    (["--log-format", "xml"], "--log-format"),
    (["--log-format"], "--log-format"),
    (["--progress", "always"], "--progress"),
])
def test_bad_log_and_progress_options_exit_2_naming_the_option(args, option, tmp_path, capsys):
    code = cli.main(["run", "--input", "seeds", "--output", str(tmp_path)] + args)
    assert code == 2
    assert option in capsys.readouterr().err


@pytest.mark.parametrize("extra", [["--log-format", "json", "--progress", "off"],
                                   ["--log-format=text", "--progress=auto"]])
def test_log_and_progress_options_combine_with_a_run(extra, tmp_path, capsys, monkeypatch):
    import threading

    # The JSON format installs exception hooks: this process gets its own back.
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    assert cli.main(["run", "--input", "seeds", "--output", str(tmp_path)] + extra) == 0
    assert "balanced" in capsys.readouterr().out


# ---- progress --------------------------------------------------------------------------------

def test_a_bounded_run_on_a_terminal_shows_inputs_against_the_total(tmp_path):
    inputs = write_inputs(tmp_path / "in")
    code, output = _run_in_pty("run", "--input", str(inputs), "--output", str(tmp_path / "out"))
    assert code == 0, output
    text = strip_ansi(output)
    assert "wire-ingest: 100%" in text and "6/6" in text and "input/s" in text
    assert "0/6" in text  # it started from the known total
    assert not any(noise in text for noise in NOISE)


def test_no_bar_when_the_output_is_not_a_terminal_or_progress_is_off(tmp_path):
    inputs = write_inputs(tmp_path / "in")
    done = _run_piped("run", "--input", str(inputs), "--output", str(tmp_path / "piped"))
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stdout + done.stderr and "input/s" not in done.stderr
    code, output = _run_in_pty("run", "--input", str(inputs), "--output", str(tmp_path / "off"),
                               "--progress", "off")
    assert code == 0 and "balanced" in output
    assert "input/s" not in output and "%|" not in output


def test_known_inputs_counts_matched_files(tmp_path):
    from pipelines.options import IngestOptions

    inputs = write_inputs(tmp_path / "in")
    (inputs / ".hidden").write_text("x")
    options = IngestOptions(["--input", str(inputs), "--input", str(inputs / "a-*.txt")])
    assert known_inputs(options) == 7


_THREAD_FAILS = """
import threading
from pipelines.logs import configure_logging
configure_logging("json")
thread = threading.Thread(target=lambda: 1 / 0, name="worker-1")
thread.start()
thread.join()
raise KeyboardInterrupt
"""


def test_json_logs_carry_uncaught_exceptions_as_json_lines_too():
    done = subprocess.run([sys.executable, "-c", _THREAD_FAILS], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode != 0
    lines = [json.loads(line) for line in done.stderr.splitlines()]  # no bare traceback line
    assert [line["message"] for line in lines] == ["exception in thread worker-1",
                                                   "uncaught KeyboardInterrupt"]
    assert "ZeroDivisionError" in lines[0]["exception"]
