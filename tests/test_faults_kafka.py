"""Faults on the streaming Kafka path, against a real broker: nothing is lost.

The pipeline runs as a process (``wire-ingest run --kafka-bootstrap ...
--kafka-topic ... --output ...``) reading a 3-partition topic of distinct
synthetic stories (``tests.reliability.synthetic_story``: every one UNIQUE,
each headline carrying its index), while a producer replays them into the
broker at a steady rate.

* kill -9: the pipeline is SIGKILLed at random moments, several times, and
  started again each time; at the end every story is in the output at least
  once, the output holds no story that was not sent, and the number of
  distinct stories equals the number sent. The committed offsets reach the
  end of every partition.
* broker outage: the broker becomes unreachable for a while (every
  connection cut and refused by a proxy in front of it; the broker and its
  data stay), then comes back; the same process waits, retries and resumes:
  every story once, none skipped.
* output unwritable mid-run: the process exits non-zero and the committed
  offsets do not move past what was written.

Every test is bounded in time; every process and broker is stopped in a
finalizer.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from pathlib import Path
from threading import Thread

import pytest

from tests.broker import broker_missing
from tests.reliability import (
    PipelineProcess,
    ProxiedBroker,
    committed_offsets,
    produce,
    read_avro_dir,
    story_index,
    synthetic_story,
)

pytestmark = pytest.mark.skipif(broker_missing() is not None, reason=str(broker_missing()))

#: Distinct stories per test: enough to spread over partitions and windows, few enough
#: for a shared CPU.
STORIES = 120
#: Longest wait for the output to hold every story after the last fault.
SETTLE_SECONDS = 240


@pytest.fixture
def broker():
    proxied = ProxiedBroker()
    try:
        yield proxied
    finally:
        proxied.stop()


@pytest.fixture(scope="module")
def streaming_path(tmp_path_factory) -> str:
    """Whether an unbounded ``wire-ingest run`` writes files at all, on this tree: one
    small probe, so that the unbounded tests report a broken path in 2 minutes, not 3 x 4."""
    work = tmp_path_factory.mktemp("probe")
    probe = ProxiedBroker()
    process = None
    try:
        topic = probe.new_topic("probe", 3)
        produce(probe.bootstrap, topic, messages(6))
        process = PipelineProcess(pipeline_args(probe.bootstrap, topic, work / "out", "probe"),
                                  work / "pipeline.log").start()
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline and process.alive():
            if len(read_avro_dir(work / "out", "stories") if (work / "out").is_dir() else []) >= 6:
                return ""
            time.sleep(2)
        return (f"the unbounded streaming pipeline wrote no complete output for 6 stories in 150 s "
                f"(alive: {process.alive()}); log: {work / 'pipeline.log'}")
    finally:
        if process is not None:
            process.stop(grace=5)
        probe.stop()


def require_streaming(problem: str) -> None:
    """A streaming pipeline that writes nothing is a failure, never an expected one."""
    if problem:
        pytest.fail(problem)


def pipeline_args(bootstrap: str, topic: str, output: Path, group: str) -> list[str]:
    return [f"--kafka-bootstrap={bootstrap}", f"--kafka-topic={topic}", f"--kafka-group={group}",
            f"--output={output}", "--window-seconds=2", "--num-shards=1"]


def messages(count: int):
    return [(str(index).encode(), synthetic_story(index, words=60)) for index in range(count)]


def replay_in_background(bootstrap: str, topic: str, count: int, rate: float):
    result: dict = {}

    def target():
        try:
            result["acks"] = produce(bootstrap, topic, messages(count), rate=rate)
        except BaseException as error:  # reported by the test, not lost in a thread
            result["error"] = error

    thread = Thread(target=target, daemon=True)
    thread.start()
    return thread, result


def indices_in(records: list[dict]) -> Counter:
    return Counter(story_index(r["headline"]) for r in records)


def wait_for_all(output: Path, count: int, process: PipelineProcess, seconds: float) -> list[dict]:
    deadline = time.monotonic() + seconds
    while True:
        stories = read_avro_dir(output, "stories") if output.is_dir() else []
        if set(range(count)) <= set(indices_in(stories)):
            return stories
        if not process.alive():
            pytest.fail(f"pipeline exited with {process.process.returncode}:\n{process.log_tail()}")
        if time.monotonic() > deadline:
            missing = sorted(set(range(count)) - set(indices_in(stories)))
            pytest.fail(f"{len(missing)} stories never written in {seconds}s (first: {missing[:10]}):\n"
                        f"{process.stalled_report()}")
        time.sleep(2)


def wait_for_commits(bootstrap: str, topic: str, group: str, ends: dict[int, int], seconds: float) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        committed = committed_offsets(bootstrap, topic, group)
        if all(committed.get(p, 0) >= end for p, end in ends.items()) or time.monotonic() > deadline:
            return committed
        time.sleep(2)


def end_offsets_of(acks: list[tuple[int, int]]) -> dict[int, int]:
    ends: dict[int, int] = {}
    for partition, offset in acks:
        ends[partition] = max(ends.get(partition, 0), offset + 1)
    return ends


def check_every_story_once_at_least(stories: list[dict], dead: list[dict], count: int) -> None:
    seen = indices_in(stories)
    assert None not in seen, "the output holds a story that was never sent"
    assert set(seen) == set(range(count)), f"missing: {sorted(set(range(count)) - set(seen))[:20]}"
    assert len({r["content_hash"] for r in stories}) == count, "distinct stories == distinct inputs"
    assert dead == [], [d["error"] for d in dead][:5]


#: ``unbounded``: the streaming reader that never stops (the production shape).
#: ``bounded``: ``--kafka-stop-at-end --streaming``: each incarnation reads to the end
#: offsets seen at its start, with windowed writes and commits as it goes.
#: ``batch``: ``--kafka-stop-at-end`` alone: the batch runner, writes and commits at its end.
MODES = {"unbounded": [], "bounded": ["--kafka-stop-at-end", "--streaming"],
         "batch": ["--kafka-stop-at-end"]}


@pytest.mark.parametrize("mode", sorted(MODES))
def test_kill_minus_nine_at_random_moments(tmp_path, broker, pipelines, mode, request):
    if mode != "batch":
        require_streaming(request.getfixturevalue("streaming_path"))
    rng = random.Random(20261127)
    topic = broker.new_topic(f"kill9-{mode}", 3)
    output = tmp_path / "out"
    group = f"wire-ingest-kill9-{mode}"
    args = pipeline_args(broker.bootstrap, topic, output, group) + MODES[mode]
    pipeline = PipelineProcess(args, tmp_path / "pipeline.log")
    pipelines.append(pipeline)
    replay, replayed = replay_in_background(broker.bootstrap, topic, STORIES, rate=4.0)  # ~30 s
    kills = []
    # Random kills until two have landed (a bounded incarnation may finish
    # first), at most eight tries; then one in the narrowest window.
    attempts = 0
    while True:
        random_phase = len(kills) < 2 and attempts < 8
        attempts += 1
        pipeline.start()
        if random_phase:
            # A bounded incarnation reads to the end offsets and exits within
            # seconds: kill it early enough to land while it is running.
            time.sleep(rng.uniform(5.0, 16.0) if mode == "unbounded" else rng.uniform(1.5, 4.0))
        else:
            # The narrowest window: files written, offsets not yet committed.
            before = set(output.glob("stories-*.avro")) if output.is_dir() else set()
            deadline = time.monotonic() + 120
            while pipeline.alive() and time.monotonic() < deadline and (
                    not output.is_dir() or set(output.glob("stories-*.avro")) <= before):
                time.sleep(0.05)
        if pipeline.alive():
            kills.append(len(read_avro_dir(output, "stories")) if output.is_dir() else 0)
            pipeline.kill9()
        elif random_phase:  # a bounded run may have reached its end offsets already
            assert mode != "unbounded" and pipeline.process.returncode == 0, pipeline.log_tail()
        if not random_phase:
            break
    replay.join(120)
    assert "error" not in replayed, replayed.get("error")
    assert len(kills) >= 2, f"the pipeline was killed only {len(kills)} times: {pipeline.log_tail()}"
    ends = end_offsets_of(replayed["acks"])
    committed_before_last = committed_offsets(broker.bootstrap, topic, group)
    pipeline.start()
    if mode != "unbounded":
        pipeline.process.wait(SETTLE_SECONDS)
        assert pipeline.process.returncode == 0, pipeline.log_tail()
    else:
        wait_for_all(output, STORIES, pipeline, SETTLE_SECONDS)
    committed = wait_for_commits(broker.bootstrap, topic, group, ends, 60)
    pipeline.stop()
    stories = read_avro_dir(output, "stories")
    dead = read_avro_dir(output, "dead-letters")
    check_every_story_once_at_least(stories, dead, STORIES)
    assert committed == ends, f"committed {committed}, end offsets {ends}"
    status = Counter(r["dedup"]["status"] for r in stories)
    print(f"{mode}: kill -9 x{len(kills)} (stories in the output at each kill: {kills}); "
          f"committed before the last start {committed_before_last}; "
          f"records {len(stories)}, re-delivered {len(stories) - STORIES}, statuses {dict(status)}")
    # Every record is either the story's first copy or a re-delivery of one: the
    # re-delivered ones carry the same record id (same topic, partition, offset).
    assert len({r["id"] for r in stories}) == STORIES
    # A restarted run warms its dedup memory from the stories already written, so a
    # copy re-delivered after a crash is never a second UNIQUE story.
    assert status["UNIQUE"] == STORIES, dict(status)


@pytest.mark.parametrize("outage_seconds", [15])
def test_broker_goes_away_and_comes_back(tmp_path, broker, pipelines, outage_seconds, streaming_path):
    require_streaming(streaming_path)
    topic = broker.new_topic("outage", 3)
    output = tmp_path / "out"
    group = "wire-ingest-outage"
    pipeline = PipelineProcess(pipeline_args(broker.bootstrap, topic, output, group), tmp_path / "pipeline.log")
    pipelines.append(pipeline)
    half = STORIES // 2
    first = produce(broker.bootstrap, topic, messages(half))
    pipeline.start()
    wait_for_all(output, half, pipeline, SETTLE_SECONDS)
    broker.go_away()
    time.sleep(outage_seconds)
    assert pipeline.alive(), f"the pipeline gave up during a {outage_seconds}s outage:\n{pipeline.log_tail()}"
    broker.come_back()
    rest = produce(broker.bootstrap, topic, messages(STORIES)[half:])
    back_at = time.monotonic()
    stories = wait_for_all(output, STORIES, pipeline, SETTLE_SECONDS)
    written_at = time.monotonic()
    ends = end_offsets_of(first + rest)
    committed = wait_for_commits(broker.bootstrap, topic, group, ends, 60)
    print(f"outage {outage_seconds}s: all written {written_at - back_at:.1f}s after the second half was sent, "
          f"committed to the end {time.monotonic() - written_at:.1f}s later")
    pipeline.stop()
    stories = read_avro_dir(output, "stories")
    check_every_story_once_at_least(stories, read_avro_dir(output, "dead-letters"), STORIES)
    # The same process resumed where it was: no offset read twice, none skipped.
    offsets = Counter((r["source"]["partition"], r["source"]["offset"]) for r in stories)
    assert max(offsets.values()) == 1, [k for k, v in offsets.items() if v > 1][:10]
    for partition, end in ends.items():
        assert sorted(o for p, o in offsets if p == partition) == list(range(end))
    # Every partition's commit reaches its end offset promptly once all is written.
    assert committed == ends, f"commits lag after the outage: committed {committed}, end offsets {ends}"


def test_output_unwritable_mid_run_fails_and_commits_nothing_unwritten(tmp_path, broker, pipelines,
                                                                      streaming_path):
    require_streaming(streaming_path)
    """The output directory is replaced by a file mid-run (root writes through modes, not this)."""
    topic = broker.new_topic("unwritable", 3)
    output = tmp_path / "out"
    group = "wire-ingest-unwritable"
    pipeline = PipelineProcess(pipeline_args(broker.bootstrap, topic, output, group), tmp_path / "pipeline.log")
    pipelines.append(pipeline)
    half = STORIES // 2
    first = produce(broker.bootstrap, topic, messages(half))
    pipeline.start()
    wait_for_all(output, half, pipeline, SETTLE_SECONDS)
    first_ends = end_offsets_of(first)
    committed = wait_for_commits(broker.bootstrap, topic, group, first_ends, 120)
    assert committed == first_ends, (f"the first half, all written, was not committed in 120 s: "
                                     f"{committed} of {first_ends}\n{pipeline.stalled_report()}")
    written_before = read_avro_dir(output, "stories")
    output.rename(tmp_path / "out-moved")
    output.write_text("the disk is gone")
    produce(broker.bootstrap, topic, messages(STORIES)[half:])
    deadline = time.monotonic() + SETTLE_SECONDS
    while pipeline.alive() and time.monotonic() < deadline:
        time.sleep(2)
    assert not pipeline.alive(), f"the pipeline kept running with an unwritable output:\n{pipeline.log_tail()}"
    assert pipeline.process.returncode != 0
    committed = committed_offsets(broker.bootstrap, topic, group)
    # Nothing beyond the first half was written, so nothing beyond it is committed.
    assert committed == first_ends, (f"committed {committed} past what was written ({first_ends})\n"
                                     f"{pipeline.log_tail()}")
    assert len(written_before) >= half


@pytest.mark.parametrize("fault", ["output_is_a_file", "disk_full"])
def test_bounded_run_with_unwritable_output_fails_and_commits_nothing(tmp_path, broker, pipelines, fault):
    """A bounded (batch) Kafka run whose output cannot be written exits non-zero and
    leaves the group's offsets where they were: the next run reads everything again."""
    from tests.test_faults_output import mount_tmpfs, unmount

    topic = broker.new_topic(f"unwritable-{fault}", 3)
    group = f"wire-ingest-{fault}"
    acks = produce(broker.bootstrap, topic, [(str(i).encode(), synthetic_story(i, words=400))
                                              for i in range(40)])
    if fault == "output_is_a_file":
        output = tmp_path / "out"
        output.write_text("not a directory")
    else:
        mount_tmpfs(tmp_path / "tiny", "16k")
        output = tmp_path / "tiny" / "out"
    try:
        pipeline = PipelineProcess(pipeline_args(broker.bootstrap, topic, output, group)
                                   + ["--kafka-stop-at-end"], tmp_path / "pipeline.log")
        pipelines.append(pipeline)
        pipeline.start()
        pipeline.process.wait(SETTLE_SECONDS)
        assert pipeline.process.returncode != 0, pipeline.log_tail()
        committed = committed_offsets(broker.bootstrap, topic, group)
        written = read_avro_dir(output, "stories") if output.is_dir() else []
        covered = {(r["source"]["partition"], r["source"]["offset"]) for r in written}
        # Nothing is acknowledged that was not written: every committed offset is in the output.
        for partition, offset in committed.items():
            assert all((partition, o) in covered for o in range(offset)), (committed, sorted(covered))
        assert sum(committed.values()) < len(acks), committed
    finally:
        if fault == "disk_full":
            unmount(tmp_path / "tiny")
