"""kill -9 on a drop-folder run: every dropped file once, as a consumer counts.

The pipeline runs as a process (``wire-ingest run --watch DROP --output OUT``,
streaming on Prism) while a thread drops files of distinct synthetic stories
(``tests.reliability.synthetic_story``, one per file, each headline carrying
its index) into the folder the way uploaders do (a ``.part`` name, then a
rename). The process group is SIGKILLed five times, restarted each time:
at random moments, and just after a story file appears in the output (the
narrow window: records written, the file not yet journalled, so the restart
ingests it again). Then it runs until the journal holds every file.

Checked: every dropped file's story is in the output; counting as a consumer
does (records not marked ``DUPLICATE``), each story appears exactly once; a
``DUPLICATE`` record is a re-ingested copy (its own id, ``duplicate_of``
itself); no story that was not dropped, no dead letter; every file is
journalled as ingested, once; and at least one kill landed between writing
and journalling (else the test proved nothing about re-ingestion).

Every wait is bounded and fails, never skips, when exceeded; every process
is stopped in a finalizer.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.reliability import PipelineProcess, read_avro_dir, story_index, synthetic_story
from transforms.io.ingested_files import STATUS_INGESTED, journal_path

#: Files dropped, one story each: enough to spread over the kills, few enough for 2 cores.
FILES = 40
#: Seconds between two drops: the drops last about as long as the kills.
DROP_EVERY = 1.0
KILLS = 5
#: After-write kills tried beyond ``KILLS`` while none landed before the journal.
EXTRA_TRIES = 3
#: Longest wait for one incarnation to write its first file, and for the last to finish.
FIRST_FILE_SECONDS = 90
FINISH_SECONDS = 150


def pipeline_args(folder: Path, output: Path) -> list[str]:
    return [f"--watch={folder}", f"--output={output}", "--poll-interval=0.5", "--settle-seconds=0.5",
            "--window-seconds=2"]


def drop_files(folder: Path, count: int, every: float, stop: threading.Event, result: dict) -> None:
    """Drop ``count`` story files, one each ``every`` seconds, as an uploader does."""
    try:
        for index in range(count):
            if stop.wait(every):
                return
            partial = folder / f"story-{index:04d}.txt.part"
            partial.write_bytes(synthetic_story(index, words=60))
            os.rename(partial, folder / f"story-{index:04d}.txt")
            result["dropped"] = index + 1
    except BaseException as error:  # reported by the test, not lost in a thread
        result["error"] = error


def journal(output: Path) -> list[dict]:
    path = Path(journal_path(str(output)))
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def story_files(output: Path) -> set[Path]:
    return set(output.glob("stories-*.avro")) if output.is_dir() else set()


def unjournalled_writes(output: Path) -> int:
    """Stories in the output whose file the journal does not hold yet."""
    done = {entry["path"] for entry in journal(output)}
    return sum(1 for r in read_avro_dir(output, "stories") if r["source"]["uri"] not in done)


def wait_for_new_story_file(output: Path, before: set[Path], process: PipelineProcess) -> None:
    deadline = time.monotonic() + FIRST_FILE_SECONDS
    while story_files(output) <= before:
        if not process.alive():
            pytest.fail(f"pipeline exited with {process.process.returncode}:\n{process.log_tail()}")
        if time.monotonic() > deadline:
            pytest.fail(f"no new story file in {FIRST_FILE_SECONDS} s:\n{process.stalled_report()}")
        time.sleep(0.02)


def test_kill_minus_nine_while_files_are_dropped_gives_each_story_once(tmp_path, pipelines):
    rng = random.Random(20261208)
    folder, output = tmp_path / "drop", tmp_path / "out"
    folder.mkdir()
    pipeline = PipelineProcess(pipeline_args(folder, output), tmp_path / "pipeline.log")
    pipelines.append(pipeline)
    stop, dropping = threading.Event(), {"dropped": 0}
    dropper = threading.Thread(target=drop_files, args=(folder, FILES, DROP_EVERY, stop, dropping),
                               daemon=True)
    dropper.start()
    kills = []  # (kind, files dropped, stories written, of which not journalled) at each kill

    def landed_after_write() -> bool:
        return any(kind == "after-write" and unjournalled for kind, _, _, unjournalled in kills)

    try:
        # Random and after-write kills in turn. Should no after-write kill
        # have landed before the journal (a fast journal) by the last one,
        # that one and up to three more are after-write, while files drop.
        for number in range(KILLS + EXTRA_TRIES):
            if number >= KILLS and (landed_after_write() or not dropper.is_alive()):
                break
            pipeline.start()
            if number % 2 == 0 and not (number >= KILLS - 1 and not landed_after_write()):
                time.sleep(rng.uniform(3.0, 9.0))
                kind = "random"
            else:
                # Records written, file not yet journalled: the moment to kill.
                wait_for_new_story_file(output, story_files(output), pipeline)
                kind = "after-write"
            assert pipeline.alive(), f"incarnation {number} exited:\n{pipeline.log_tail()}"
            pipeline.kill9()
            written = len(read_avro_dir(output, "stories")) if output.is_dir() else 0
            kills.append((kind, dropping["dropped"], written, unjournalled_writes(output)))
        dropper.join(FILES * DROP_EVERY + 30)
        assert not dropper.is_alive(), "the dropper did not finish"
    finally:
        stop.set()
    assert "error" not in dropping, dropping.get("error")
    assert dropping["dropped"] == FILES

    pipeline.start()
    deadline = time.monotonic() + FINISH_SECONDS
    while len({entry["path"] for entry in journal(output)}) < FILES:
        if not pipeline.alive():
            pytest.fail(f"pipeline exited with {pipeline.process.returncode}:\n{pipeline.log_tail()}")
        if time.monotonic() > deadline:
            done = {entry["path"] for entry in journal(output)}
            written = {r["source"]["uri"] for r in read_avro_dir(output, "stories")}
            pending = sorted(str(p) for p in folder.glob("story-*.txt") if str(p) not in done)
            pytest.fail(f"{len(pending)} files not journalled in {FINISH_SECONDS} s, of which "
                        f"{len([p for p in pending if p not in written])} have no record in the output: "
                        f"{[os.path.basename(p) for p in pending]} (kills: {kills}; output "
                        f"{output}):\n{pipeline.stalled_report()}")
        time.sleep(1)
    pipeline.stop()

    stories = read_avro_dir(output, "stories")
    status = Counter(r["dedup"]["status"] for r in stories)
    print(f"kill -9 x{len(kills)} (kind, files dropped, stories written, not journalled): {kills}; "
          f"records {len(stories)}, statuses {dict(status)}")
    indices = Counter(story_index(r["headline"]) for r in stories)
    assert None not in indices, "the output holds a story that was never dropped"
    assert set(indices) == set(range(FILES)), f"missing: {sorted(set(range(FILES)) - set(indices))}"
    as_consumed = Counter(story_index(r["headline"]) for r in stories if r["dedup"]["status"] != "DUPLICATE")
    repeated = {index: n for index, n in as_consumed.items() if n != 1}
    assert not repeated and set(as_consumed) == set(range(FILES)), \
        f"stories not exactly once for a consumer (index: copies not marked DUPLICATE): {repeated}"
    for record in stories:
        if record["dedup"]["status"] == "DUPLICATE":
            assert record["dedup"]["duplicate_of"] == record["id"], record["dedup"]
    assert len({r["id"] for r in stories}) == FILES, "one id per dropped file"
    assert read_avro_dir(output, "dead-letters") == []

    entries = journal(output)
    dropped = {str(folder / f"story-{index:04d}.txt") for index in range(FILES)}
    assert sorted(e["path"] for e in entries) == sorted(dropped), "every file journalled once"
    assert {e["status"] for e in entries} == {STATUS_INGESTED}
    assert landed_after_write(), \
        f"no kill landed between writing a file's records and journalling it: {kills}"
    assert len(stories) > FILES, "a file written but not journalled was not ingested again"


def test_sigusr1_prints_every_threads_stack_and_the_run_goes_on(tmp_path, pipelines):
    """The README's way to see where a stalled streaming job waits: SIGUSR1."""
    drop, output = tmp_path / "drop", tmp_path / "out"
    drop.mkdir()
    pipeline = PipelineProcess(pipeline_args(drop, output), tmp_path / "pipeline.log")
    pipelines.append(pipeline)
    pipeline.start()
    deadline = time.monotonic() + FIRST_FILE_SECONDS
    while "pipeline is running" not in pipeline.log_tail(100_000):
        assert pipeline.alive(), pipeline.log_tail()
        assert time.monotonic() < deadline, f"the run never started:\n{pipeline.log_tail()}"
        time.sleep(0.5)
    pipeline.dump_stacks()
    log = pipeline.log_tail(1_000_000)
    assert "Thread 0x" in log and "pipelines/cli.py" in log, log[-4000:]
    time.sleep(2)
    assert pipeline.alive(), f"the run ended after SIGUSR1:\n{pipeline.log_tail()}"
