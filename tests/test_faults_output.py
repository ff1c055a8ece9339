"""Faults at the output: an unwritable directory or a full disk fails the run loudly.

The pipeline runs as a process (``wire-ingest run``), as an operator would
run it. Tests run as root, who can write through file modes, so "unwritable"
is made so that root cannot write either: a regular file where the output
directory is expected, a read-only tmpfs mounted over it, a tmpfs too small
for the output ("disk full"). In every case: the exit code is non-zero, the
error is on stderr, and no partial file is visible (every ``*.avro`` file in
the output reads back whole: files are written under a temporary name and
renamed only once complete).

Faults during a streaming Kafka run (offsets not committed for what was not
written) are in ``test_faults_kafka.py``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.reliability import cli_command, cli_env, read_avro_dir, synthetic_story

RUN_SECONDS = 240


def mount_tmpfs(where: Path, size: str, readonly: bool = False) -> None:
    where.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if readonly else "")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN): {done.stderr.strip()}")


def unmount(where: Path) -> None:
    subprocess.run(["umount", "-l", str(where)], capture_output=True)


#: Stories in the corpus: their Avro output (deflated) is about 1.5 KB each, well over
#: the 16 KB "full disk" below; few enough for a quick run on a shared CPU.
STORIES = 40


@pytest.fixture
def corpus(tmp_path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for index in range(STORIES):
        (folder / f"story-{index:04d}.txt").write_bytes(synthetic_story(index, words=400))
    return folder


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(cli_command("run", *args), capture_output=True, text=True, env=cli_env(),
                          timeout=RUN_SECONDS)


def assert_failed_loudly(done: subprocess.CompletedProcess, *words: str) -> None:
    assert done.returncode != 0, f"run succeeded on an unwritable output:\n{done.stdout}\n{done.stderr}"
    assert "balanced:" not in done.stdout, "a failed run must not print a summary as if it had worked"
    error = done.stderr.lower()
    assert any(word in error for word in words), done.stderr[-3000:]


def assert_no_partial_files(output: Path) -> None:
    """Whatever is visible reads back whole; temporary files are hidden (dot-names)."""
    if not output.is_dir():
        return
    read_avro_dir(output, "stories")
    read_avro_dir(output, "dead-letters")


def test_output_path_is_a_regular_file(tmp_path, corpus):
    output = tmp_path / "out"
    output.write_text("not a directory")
    done = run_cli(f"--input={corpus}", f"--output={output}")
    assert_failed_loudly(done, "not a directory", "file exists", "errno")
    assert output.read_text() == "not a directory"


def test_output_on_a_read_only_filesystem(tmp_path, corpus):
    mount = tmp_path / "ro"
    mount_tmpfs(mount, "1m", readonly=True)
    try:
        done = run_cli(f"--input={corpus}", f"--output={mount / 'out'}")
        assert_failed_loudly(done, "read-only", "errno 30")
        assert list(mount.iterdir()) == []
    finally:
        unmount(mount)


def test_disk_full(tmp_path, corpus):
    mount = tmp_path / "tiny"
    mount_tmpfs(mount, "16k")
    try:
        output = mount / "out"
        done = run_cli(f"--input={corpus}", f"--output={output}", "--num-shards=1")
        assert_failed_loudly(done, "no space left", "errno 28")
        assert_no_partial_files(output)
        stories = read_avro_dir(output, "stories") if output.is_dir() else []
        assert len(stories) < STORIES, "the disk was too small for all of them: something is wrong"
    finally:
        unmount(mount)
