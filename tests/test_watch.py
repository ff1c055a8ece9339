"""Drop folders: the settle rule and the state store directly, then the
streaming source on the local streaming runner with real files dropped into a
real folder while the pipeline runs, and a restart over the same output."""

from __future__ import annotations

import glob
import json
import os
import time
from pathlib import Path

import apache_beam as beam
import fastavro
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.runners import resolve_runner
from transforms.enrich import EnrichStories
from transforms.io.ingested_files import (
    STATUS_ERROR,
    STATUS_INGESTED,
    STATUS_UNCHANGED,
    IngestedFile,
    IngestedFilesStore,
    ListedFile,
    Observation,
    journal_path,
    list_folder,
    settle,
)
from transforms.parse import ParseStories
from transforms.io.watch import (
    ERROR_DIR,
    PROCESSED_DIR,
    ReadDropFolders,
    RecordIngestedFiles,
    _PollState,
    _PollTracker,
    move_file,
)
from transforms.io.write import WriteDeadLetters, WriteStories

SEED = Path(__file__).parents[1] / "seeds" / "000_47ad94e21230f2f9.txt"
S = 1_000_000_000  # ns per second


def story(headline: str, body: str) -> bytes:
    """A small wire story of our own, shaped like the seed (headline, standfirst, body)."""
    return (f"{headline}\n\nA short standfirst about {headline.lower()}.\n\n"
            f"{body}\n\nSource: News agencies\n").encode("utf-8")


# --------------------------------------------------------------------------- settle


def test_settle_takes_an_old_file_at_first_sight_and_waits_for_a_fresh_one():
    now = 1_000 * S
    old = ListedFile("/d/old.txt", 10, now - 60 * S, 1)
    fresh = ListedFile("/d/fresh.txt", 10, now - S // 2, 2)
    result = settle([old, fresh], [], {}, {}, now, 2 * S)
    assert result.ready == [old]
    assert result.observations == {"/d/fresh.txt": Observation(10, fresh.mtime_ns, now)}
    later = settle([old, fresh], [], result.observations, {}, now + 2 * S, 2 * S)
    assert [f.path for f in later.ready] == ["/d/old.txt", "/d/fresh.txt"]


def test_settle_restarts_the_clock_when_the_file_grows():
    now = 1_000 * S
    first = settle([ListedFile("/d/a", 5, now - S, 7)], [], {}, {}, now, 2 * S)
    grown = ListedFile("/d/a", 9, now + S, 7)
    second = settle([grown], [], first.observations, {}, now + 2 * S, 2 * S)
    assert second.ready == []
    assert second.observations["/d/a"] == Observation(9, now + S, now + 2 * S)
    third = settle([grown], [], second.observations, {}, now + 3 * S, 2 * S)
    assert third.ready == [grown]


def test_settle_takes_a_file_renamed_from_a_temporary_name_at_once():
    now = 1_000 * S
    temp = ListedFile("/d/.a.txt.part", 42, now, 99)
    first = settle([], [temp], {}, {}, now, 10 * S)
    assert first.ready == [] and first.temp_inodes == {99: 42}
    renamed = ListedFile("/d/a.txt", 42, now, 99)
    assert settle([renamed], [], first.observations, first.temp_inodes, now + S, 10 * S).ready == [renamed]
    # Same inode but the size changed after the rename: not proven complete.
    grown = ListedFile("/d/a.txt", 50, now + S, 99)
    assert settle([grown], [], {}, first.temp_inodes, now + S, 10 * S).ready == []


def test_settle_trusts_only_its_own_observations_for_an_mtime_in_the_future():
    now = 1_000 * S
    skewed = ListedFile("/d/a", 5, now + 3600 * S, 3)
    first = settle([skewed], [], {}, {}, now, 2 * S)
    assert first.ready == []
    assert settle([skewed], [], first.observations, {}, now + 2 * S, 2 * S).ready == [skewed]


def test_list_folder_skips_subfolders_hidden_and_partial_names(tmp_path):
    for name in ("a.txt", "b.xml", ".hidden", "c.txt.part", "d.TMP"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / PROCESSED_DIR).mkdir()
    (tmp_path / PROCESSED_DIR / "old.txt").write_bytes(b"x")
    wanted, in_progress = list_folder(str(tmp_path))
    assert sorted(os.path.basename(f.path) for f in wanted) == ["a.txt", "b.xml"]
    assert sorted(os.path.basename(f.path) for f in in_progress) == [".hidden", "c.txt.part", "d.TMP"]
    assert all(f.inode for f in wanted)


# --------------------------------------------------------------------------- store


def test_store_records_durably_and_a_second_reader_sees_it(tmp_path):
    writer = IngestedFilesStore(str(tmp_path))
    entry = IngestedFile("/d/a.txt", 10, 123, "ab" * 32, STATUS_INGESTED, items=2, recorded_at=1)
    writer.record([entry])
    reader = IngestedFilesStore(str(tmp_path))
    assert reader.refresh() == 1
    assert reader.contains("/d/a.txt", 10, 123)
    assert not reader.contains("/d/a.txt", 10, 124)
    assert reader.has_content("/d/a.txt", "ab" * 32)
    assert not reader.has_content("/d/b.txt", "ab" * 32)
    assert reader.refresh() == 0  # nothing new: read incrementally
    writer.record([IngestedFile("/d/b.txt", 1, 5, None, STATUS_ERROR)])
    assert reader.refresh() == 1 and reader.contains("/d/b.txt", 1, 5) and len(reader) == 2


def test_store_syncs_a_new_journal_and_state_directory_into_their_directories(tmp_path, monkeypatch):
    from tests.test_write import DiskOps

    ops = DiskOps(monkeypatch)
    store = IngestedFilesStore(str(tmp_path))
    store.record([IngestedFile("/d/a", 1, 1, None, STATUS_INGESTED)])
    state = os.path.dirname(journal_path(str(tmp_path)))
    journal = os.stat(journal_path(str(tmp_path))).st_ino
    assert ops.events == [("fsync-file", journal), ("fsync-dir", os.stat(state).st_ino),
                          ("fsync-dir", os.stat(tmp_path).st_ino)]
    ops.events.clear()
    store.record([IngestedFile("/d/b", 1, 1, None, STATUS_INGESTED)])
    assert ops.events == [("fsync-file", journal)]  # an append changes no directory


def test_store_skips_a_torn_last_line_until_it_is_complete(tmp_path):
    store = IngestedFilesStore(str(tmp_path))
    store.record([IngestedFile("/d/a", 1, 1, None, STATUS_INGESTED)])
    line = IngestedFile("/d/b", 2, 2, None, STATUS_INGESTED).to_json()
    with open(journal_path(str(tmp_path)), "a") as handle:
        handle.write(line[:10])  # a crash mid-append
    reader = IngestedFilesStore(str(tmp_path))
    assert reader.refresh() == 1 and not reader.contains("/d/b", 2, 2)
    with open(journal_path(str(tmp_path)), "a") as handle:
        handle.write(line[10:] + "\n")
    assert reader.refresh() == 1 and reader.contains("/d/b", 2, 2)


def test_store_refuses_a_remote_directory():
    with pytest.raises(ValueError, match="only local"):
        IngestedFilesStore("gs://bucket/out")


def test_move_file_keeps_both_when_the_name_is_taken(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"one")
    first = move_file(str(tmp_path / "a.txt"), PROCESSED_DIR)
    (tmp_path / "a.txt").write_bytes(b"two")
    second = move_file(str(tmp_path / "a.txt"), PROCESSED_DIR)
    assert first.endswith("_PROCESSED/a.txt") and second.endswith("_PROCESSED/a.txt.1")
    assert Path(first).read_bytes() == b"one" and Path(second).read_bytes() == b"two"
    assert move_file(str(tmp_path / "a.txt"), PROCESSED_DIR) is None  # gone: a retried bundle


# --------------------------------------------------------------------------- tracker


def test_tracker_claims_one_poll_and_checkpoints_the_state_after_it():
    tracker = _PollTracker(_PollState())
    after = _PollState(next_poll=1, in_flight={"/d/a": (1, 2)})
    assert tracker.try_claim(after)
    primary, residual = tracker.try_split(0)
    assert residual is after and primary.finished
    assert not tracker.try_claim(_PollState(next_poll=2))
    tracker.check_done()
    assert tracker.try_split(0.5) is None


def test_tracker_stops_at_max_polls_and_rejects_an_unfinished_call():
    done = _PollTracker(_PollState(next_poll=3, stop_poll=3))
    assert not done.try_claim(_PollState(next_poll=4))
    done.check_done()
    with pytest.raises(ValueError):
        _PollTracker(_PollState()).check_done()


def test_read_drop_folders_fails_before_launch_on_bad_options(tmp_path):
    with pytest.raises(ValueError, match="--watch"):
        ReadDropFolders([str(tmp_path / "missing")])
    with pytest.raises(ValueError, match="--poll-interval"):
        ReadDropFolders([str(tmp_path)], poll_interval_seconds=0)
    with pytest.raises(ValueError, match="--settle-seconds"):
        ReadDropFolders([str(tmp_path)], settle_seconds=-1)


# --------------------------------------------------------------------------- streaming runs


def _run_watch(folder: Path, out: Path, drops, *, polls: int, move: bool, settle_seconds=0.6):
    """Run the drop-folder chain for ``polls`` polls; ``drops()`` runs while it polls."""
    options = PipelineOptions(streaming=True)
    pipeline = beam.Pipeline(runner=resolve_runner(options), options=options)
    read = pipeline | "ReadDropFolders" >> ReadDropFolders(
        [str(folder)], poll_interval_seconds=0.3, settle_seconds=settle_seconds,
        state_dir=str(out), max_polls=polls, move_processed=move)
    parsed = read[ReadDropFolders.INPUTS] | "ParseStories" >> ParseStories()
    enriched = parsed[ParseStories.ITEMS] | "EnrichStories" >> EnrichStories(event_time_from="source")
    dead = (read[ReadDropFolders.DEAD_LETTERS], parsed[ParseStories.DEAD_LETTERS],
            enriched[EnrichStories.DEAD_LETTERS]) | "DeadLetters" >> beam.Flatten()
    written = enriched[EnrichStories.STORIES] | "WriteStories" >> WriteStories(str(out), window_seconds=1)
    failed = dead | "WriteDeadLetters" >> WriteDeadLetters(str(out), window_seconds=1)
    ({RecordIngestedFiles.WRITTEN: written, RecordIngestedFiles.FAILED: failed}
     | "RecordIngestedFiles" >> RecordIngestedFiles(str(out), move_processed=move, folders=[str(folder)]))
    result = pipeline.run()
    drops()
    result.wait_until_finish()
    counters = {}
    for counter in result.metrics().query(MetricsFilter().with_namespace("wire_ingest"))["counters"]:
        counters[counter.key.metric.name] = counters.get(counter.key.metric.name, 0) + counter.committed
    return counters


def _records(out: Path, prefix: str) -> list[dict]:
    records = []
    for path in sorted(glob.glob(str(out / f"{prefix}-*.avro"))):
        with open(path, "rb") as handle:
            records.extend(fastavro.reader(handle))
    return records


def _journal(out: Path) -> list[dict]:
    with open(journal_path(str(out))) as handle:
        return [json.loads(line) for line in handle]


def test_files_dropped_while_running_are_each_written_once_and_moved(tmp_path):
    folder, out = tmp_path / "drop", tmp_path / "out"
    folder.mkdir()
    out.mkdir()
    (folder / "before.txt").write_bytes(story("Harbour reopens after storm", "The harbour reopened on Monday."))

    def drops():
        time.sleep(1.0)
        (folder / "quick.txt").write_bytes(story("Council approves budget", "The council approved it."))
        # An uploader's convention: write under a temporary name, then rename.
        (folder / "renamed.txt.part").write_bytes(story("Rail strike ends", "Trains run again."))
        os.rename(folder / "renamed.txt.part", folder / "renamed.txt")
        # A slow upload: three chunks, each within the settle period of the last.
        with open(folder / "slow.txt", "wb") as handle:
            for chunk in (b"Floods close mountain roads\n\n", b"Rain fell for a third day.\n\n",
                          b"Crews cleared the last road by evening.\n"):
                handle.write(chunk)
                handle.flush()
                time.sleep(0.35)
        (folder / "garbage.bin").write_bytes(bytes(range(256)) * 4)

    counters = _run_watch(folder, out, drops, polls=20, move=True)

    stories = _records(out, "stories")
    by_file = {}
    for record in stories:
        by_file.setdefault(os.path.basename(record["source"]["uri"]), []).append(record)
    assert sorted(by_file) == ["before.txt", "quick.txt", "renamed.txt", "slow.txt"]
    assert all(len(records) == 1 for records in by_file.values()), "a file was ingested twice"
    assert "Crews cleared the last road by evening." in by_file["slow.txt"][0]["body"]
    assert by_file["slow.txt"][0]["headline"] == "Floods close mountain roads"

    dead = _records(out, "dead-letters")
    assert [os.path.basename(d["source"]["uri"]) for d in dead] == ["garbage.bin"]
    assert dead[0]["raw"] == bytes(range(256)) * 4

    assert sorted(os.listdir(folder / PROCESSED_DIR)) == ["before.txt", "quick.txt", "renamed.txt", "slow.txt"]
    assert os.listdir(folder / ERROR_DIR) == ["garbage.bin"]
    assert sorted(p for p in os.listdir(folder) if not p.startswith("_")) == []

    journal = {os.path.basename(e["path"]): e for e in _journal(out)}
    assert len(journal) == 5 and len(_journal(out)) == 5
    assert journal["garbage.bin"]["status"] == STATUS_ERROR and journal["garbage.bin"]["failed_items"] == 1
    assert journal["slow.txt"]["status"] == STATUS_INGESTED
    assert journal["slow.txt"]["size"] == os.path.getsize(folder / PROCESSED_DIR / "slow.txt")

    assert counters["drop_files_emitted"] == 5
    assert counters["drop_folder_listings"] == counters["drop_folder_polls"] == 20
    assert counters["read"] == 5
    assert counters["read"] == counters["written"] + counters.get("dead_letters", 0)
    assert counters["drop_files_recorded"] == 5


def test_a_restart_ingests_only_new_and_changed_files(tmp_path):
    folder, out = tmp_path / "drop", tmp_path / "out"
    folder.mkdir()
    out.mkdir()
    old = time.time() - 600
    for name, headline in (("a.txt", "Bridge repairs finish early"), ("b.txt", "Airport adds routes")):
        (folder / name).write_bytes(story(headline, f"{headline} today."))
        os.utime(folder / name, (old, old))
    first = _run_watch(folder, out, lambda: None, polls=3, move=False)
    assert first["written"] == 2 and first["drop_files_recorded"] == 2

    # While stopped: b is re-sent corrected, a is touched with the same bytes, c is new.
    (folder / "b.txt").write_bytes(story("Airport adds routes", "Airport adds three routes, not two."))
    os.utime(folder / "a.txt", (old + 60, old + 60))
    (folder / "c.txt").write_bytes(story("Library opens late", "The library opens late on Fridays."))
    os.utime(folder / "b.txt", (old + 120, old + 120))
    os.utime(folder / "c.txt", (old + 120, old + 120))
    second = _run_watch(folder, out, lambda: None, polls=3, move=False)

    assert second["drop_files_emitted"] == 3  # a (touched), b (changed), c (new); not the old versions
    assert second["drop_files_unchanged"] == 1
    assert second["written"] == 2
    bodies = sorted(r["body"] for r in _records(out, "stories") if r["source"]["uri"].endswith("b.txt"))
    assert len(bodies) == 2 and any("three routes" in body for body in bodies)
    statuses = [(os.path.basename(e["path"]), e["status"]) for e in _journal(out)]
    assert sorted(statuses) == sorted([("a.txt", STATUS_INGESTED), ("b.txt", STATUS_INGESTED),
                                       ("a.txt", STATUS_UNCHANGED), ("b.txt", STATUS_INGESTED),
                                       ("c.txt", STATUS_INGESTED)])

    third = _run_watch(folder, out, lambda: None, polls=2, move=False)
    assert third.get("drop_files_emitted", 0) == 0 and third.get("written", 0) == 0


def test_portable_runner_polls_and_emits_each_pending_file_once(tmp_path):
    """Flink's path (PortableRunner, LOOPBACK): the poller self-checkpoints after
    every poll and resumes from its restriction; with nothing recorded yet, the
    in-flight set alone keeps four polls from emitting a file twice."""
    from apache_beam.testing.util import assert_that, equal_to

    folder, out = tmp_path / "drop", tmp_path / "out"
    folder.mkdir()
    old = time.time() - 100
    for name in ("a.txt", "b.txt", "c.txt"):
        (folder / name).write_bytes(story(f"Headline {name}", "Body."))
        os.utime(folder / name, (old, old))
    (folder / "d.txt.part").write_bytes(b"still uploading")
    options = PipelineOptions(["--runner=PortableRunner", "--job_endpoint=embed",
                               "--environment_type=LOOPBACK"])
    with beam.Pipeline(options=options) as pipeline:
        read = pipeline | "ReadDropFolders" >> ReadDropFolders(
            [str(folder)], poll_interval_seconds=0.2, settle_seconds=0.1, state_dir=str(out), max_polls=4)
        names = read[ReadDropFolders.INPUTS] | "Names" >> beam.Map(lambda raw: os.path.basename(raw.source.uri))
        assert_that(names, equal_to(["a.txt", "b.txt", "c.txt"]))
        assert_that(read[ReadDropFolders.DEAD_LETTERS], equal_to([]), label="NoDeadLetters")


def test_wire_ingest_run_watch_writes_records_and_state_then_is_stopped(tmp_path):
    """The CLI end to end: ``wire-ingest run --watch`` until the state store
    shows both files done, then stopped as an operator would stop it."""
    import subprocess
    import sys

    from tests.reliability import interrupt

    folder, out = tmp_path / "drop", tmp_path / "out"
    folder.mkdir()
    (folder / "seed.txt").write_bytes(SEED.read_bytes())
    (folder / "noise.bin").write_bytes(bytes(range(256)) * 8)
    command = [sys.executable, "-m", "pipelines.cli", "run", "--watch", str(folder),
               "--output", str(out), "--poll-interval", "0.3", "--settle-seconds", "0.5",
               "--window-seconds", "1", "--move-processed"]
    process = subprocess.Popen(command, cwd=Path(__file__).parents[1], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 90
        while time.time() < deadline and process.poll() is None:
            if os.path.exists(journal_path(str(out))) and len(_journal(out)) >= 2:
                break
            time.sleep(0.5)
        assert process.poll() is None, process.stdout.read().decode(errors="replace")[-3000:]
        assert len(_journal(out)) == 2, "both files recorded within 90 s"
    finally:
        interrupt(process)
    journal = {os.path.basename(e["path"]): e for e in _journal(out)}
    assert journal["seed.txt"]["status"] == STATUS_INGESTED
    assert journal["noise.bin"]["status"] == STATUS_ERROR
    assert os.listdir(folder / PROCESSED_DIR) == ["seed.txt"]
    assert os.listdir(folder / ERROR_DIR) == ["noise.bin"]
    headlines = [r["headline"] for r in _records(out, "stories")]
    assert headlines == ["Putin ‘ready’ for talks with Ukraine in Minsk: Kremlin"]
    assert [os.path.basename(d["source"]["uri"]) for d in _records(out, "dead-letters")] == ["noise.bin"]
