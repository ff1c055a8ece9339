"""wire-ingest on a real Apache Flink cluster, each run held against the same run locally.

The cluster is the one ``deploy/local/flink.sh`` starts (Flink 1.19 from the
apache-flink packages, a JobManager and a TaskManager on loopback, state in
this module's temporary folder); runs go through ``wire-ingest run --runner
FlinkRunner --flink_master HOST:PORT`` with no other Flink option, so they
also prove that the job-server jar is found in the cache. The Kafka broker is
the real one of ``tests/broker.py``.

Checked here, each against the DirectRunner:

* a Reuters-21578 file in batch: the same records;
* Kafka bounded (``--kafka-stop-at-end``): the same records, committed offsets
  equal to the end offsets (Kafka's own ``kafka-consumer-groups`` agrees);
* Kafka unbounded: stories reach the windowed files and the output topic, and
  offsets are committed while the job runs;
* stop with a savepoint, resubmit from it: a copy sent after the restart is a
  ``DUPLICATE`` of a story read before it (the dedup state was restored);
* ``kill -9`` of the TaskManager mid-stream: the job restarts from its last
  checkpoint and nothing is lost.

``deploy/local/flink.sh install`` needs Java and Maven; ``.ci/run`` runs it.
A cluster that cannot start fails these tests, it does not skip them.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Callable, Iterator, Optional

import fastavro
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from tests.broker import free_port, kafka_broker  # noqa: F401  (pytest fixture)
from tests.conftest import SEED, corpus_path
from tests.reliability import end_offsets
from transforms.io.replay import replay_to_kafka

REPO = Path(__file__).resolve().parents[1]
FLINK_SH = REPO / "deploy" / "local" / "flink.sh"
#: Wall-clock fields, different in every run.
WALL_CLOCK = ("ingested_at", "failed_at")
#: Generous bounds: two cores run the broker, the cluster, the job server and the SDK worker.
JOB_TIMEOUT = 420
WAIT = 240

pytestmark = pytest.mark.skipif(shutil.which("java") is None, reason="Flink needs Java (java not on PATH)")


# ----------------------------------------------------------------------------- cluster


class LocalFlink:
    """The cluster of ``deploy/local/flink.sh``, with its state in ``state_dir``."""

    def __init__(self, state_dir: Path):
        self.env = {**os.environ, "FLINK_STATE_DIR": str(state_dir)}
        self.state_dir = state_dir
        self.master = ""

    def script(self, *args: str, timeout: float = 900) -> str:
        done = subprocess.run([str(FLINK_SH), *args], env=self.env, capture_output=True,
                              text=True, timeout=timeout)
        assert done.returncode == 0, f"flink.sh {' '.join(args)}: {done.stderr[-3000:]}"
        return done.stdout

    def start(self) -> "LocalFlink":
        last = self.script("start").strip().splitlines()[-1]
        assert last.startswith("flink_master="), last
        self.master = last.split("=", 1)[1]
        return self

    def rest(self, path: str, method: str = "GET", body: Optional[dict] = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://{self.master}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
        return json.loads(text) if text else {}

    def jobs(self, state: str = "RUNNING") -> list[str]:
        return [job["id"] for job in self.rest("/jobs")["jobs"] if job["status"] == state]

    def taskmanagers(self) -> int:
        return self.rest("/overview")["taskmanagers"]

    def diagnose(self) -> str:
        """What the cluster says of its jobs: per vertex records in/out and
        watermark, the last exception, checkpoints; and the TaskManager log's
        last errors. Appended to a failed wait, so that a stuck job says where."""
        lines = []
        try:
            for job in self.rest("/jobs")["jobs"]:
                detail = self.rest(f"/jobs/{job['id']}")
                lines.append(f"job {job['id']} {job['status']}")
                for vertex in detail.get("vertices", []):
                    metrics = vertex.get("metrics", {})
                    try:
                        marks = self.rest(f"/jobs/{job['id']}/vertices/{vertex['id']}/watermarks")
                        watermark = min(int(m["value"]) for m in marks) if marks else None
                    except Exception as error:  # diagnostics only
                        watermark = f"? ({error})"
                    lines.append(f"  {vertex['status']:<9} in {metrics.get('read-records')} "
                                 f"out {metrics.get('write-records')} watermark {watermark} "
                                 f"{vertex['name'][:150]}")
                exceptions = self.rest(f"/jobs/{job['id']}/exceptions")
                root = (exceptions.get("root-exception") or "")[:1500]
                if root:
                    lines.append(f"  root exception: {root}")
                counts = self.rest(f"/jobs/{job['id']}/checkpoints").get("counts", {})
                lines.append(f"  checkpoints: {counts}")
        except Exception as error:  # diagnostics only
            lines.append(f"(REST: {error})")
        for log in sorted(self.state_dir.glob("log/*taskexecutor*.log")):
            errors = [line for line in log.read_text(errors="replace").splitlines()
                      if " ERROR " in line or " WARN " in line or "Exception" in line]
            lines.append(f"{log.name}, last warnings and errors:")
            lines.extend("  " + line[:400] for line in errors[-25:])
        return "\n".join(lines)


@pytest.fixture(scope="module")
def flink(tmp_path_factory) -> Iterator[LocalFlink]:
    cluster = LocalFlink(tmp_path_factory.mktemp("flink-state"))
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.script("stop", timeout=120)


# ----------------------------------------------------------------------------- runs


def wire_ingest(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipelines.cli", "run", *args]


def run_to_end(args: list[str], timeout: float = JOB_TIMEOUT) -> str:
    done = subprocess.run(wire_ingest(*args), cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, f"run {args}: rc {done.returncode}\n{done.stderr[-4000:]}"
    assert "balanced:" in done.stdout, done.stdout
    return done.stdout


def start_run(args: list[str], log: Path) -> subprocess.Popen:
    handle = open(log, "w", encoding="utf-8")  # noqa: SIM115  (closed with the process)
    return subprocess.Popen(wire_ingest(*args), cwd=REPO, stdout=handle, stderr=subprocess.STDOUT,
                            start_new_session=True)


def end_run(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = WAIT,
             log: Optional[Path] = None, cluster: Optional[LocalFlink] = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(1)
    tail = log.read_text(errors="replace")[-4000:] if log and log.exists() else ""
    state = cluster.diagnose() if cluster is not None else ""
    pytest.fail(f"not within {timeout:.0f} s: {what}\n{tail}\n{state}")


def read_avro(folder: Path, prefix: str) -> list[dict]:
    records = []
    for path in sorted(glob.glob(str(folder / "**" / f"{prefix}-*.avro"), recursive=True)):
        with open(path, "rb") as handle:
            records.extend(fastavro.reader(handle))
    return records


def comparable(records: list[dict]) -> list[str]:
    """Records as sorted canonical JSON, wall-clock fields left out."""
    def canonical(record: dict) -> str:
        kept = {k: v for k, v in record.items() if k not in WALL_CLOCK}
        return json.dumps(kept, sort_keys=True, default=repr)
    return sorted(canonical(record) for record in records)


def committed(bootstrap: str, topic: str, group: str, partitions: int) -> dict[int, Optional[int]]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        return {p: consumer.committed(TopicPartition(topic, p)) for p in range(partitions)}
    finally:
        consumer.close()


def topic_values(bootstrap: str, topic: str, partitions: int = 1) -> list[bytes]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             consumer_timeout_ms=3000)
    consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
    consumer.seek_to_beginning()
    values = [message.value for message in consumer]
    consumer.close()
    return values


def kafka_tool_lag(bootstrap: str, group: str) -> dict[int, tuple[int, int]]:
    """(CURRENT-OFFSET, LOG-END-OFFSET) per partition, from Kafka's own tool."""
    from tests.broker import kafka_tool

    out = kafka_tool("kafka-consumer-groups", "--bootstrap-server", bootstrap,
                     "--describe", "--group", group)
    rows = {}
    for line in out.splitlines():
        cells = line.split()
        if len(cells) >= 6 and cells[0] == group and cells[2].isdigit():
            rows[int(cells[2])] = (int(cells[3]) if cells[3].isdigit() else -1, int(cells[4]))
    return rows


def flink_args(flink: LocalFlink, *args: str) -> list[str]:
    return ["--runner", "FlinkRunner", "--flink_master", flink.master, *args]


# ----------------------------------------------------------------------------- batch


def test_reuters_file_on_flink_gives_the_direct_runners_records(flink, tmp_path):
    reuters = corpus_path("reuters21578", "reut2-003.sgm")
    local, remote = tmp_path / "direct", tmp_path / "flink"
    run_to_end(["--input", str(reuters), "--output", str(local)])
    summary = run_to_end(flink_args(flink, "--input", str(reuters), "--output", str(remote),
                                    "--parallelism", "2"))
    assert "read          1000" in summary  # the counters come back from the cluster
    stories = read_avro(remote, "stories")
    assert len(stories) == 1000
    assert comparable(stories) == comparable(read_avro(local, "stories"))
    assert comparable(read_avro(remote, "dead-letters")) == comparable(read_avro(local, "dead-letters"))
    assert flink.rest("/jobs/overview")["jobs"][0]["state"] == "FINISHED"


def test_flink_runner_without_a_cached_job_server_is_refused_at_start(tmp_path):
    env = {**os.environ, "WIRE_INGEST_CACHE": str(tmp_path / "empty-cache")}
    done = subprocess.run(wire_ingest("--runner", "FlinkRunner", "--flink_master", "localhost:1",
                                      "--input", str(SEED), "--output", str(tmp_path / "out")),
                          cwd=REPO, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 2
    assert "--flink_job_server_jar" in done.stderr and "deploy/local/flink.sh install" in done.stderr


# ----------------------------------------------------------------------------- Kafka


def _send_reuters(bootstrap: str, topic: str, count: int, timestamps: str = "event") -> int:
    reuters = corpus_path("reuters21578", "reut2-004.sgm")
    return replay_to_kafka([SEED, reuters], bootstrap, topic, max_messages=count,
                           timestamps=timestamps)


def test_bounded_kafka_on_flink_gives_the_direct_runners_records(flink, kafka_broker, tmp_path):
    bootstrap = kafka_broker.bootstrap
    topic = kafka_broker.new_topic("raw", 3)
    sent = _send_reuters(bootstrap, topic, 150)
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    producer.send(topic, value=b"\x00\xff garbage", partition=1).get(timeout=10)
    producer.close()
    ends = end_offsets(bootstrap, topic, 3)
    assert sum(ends.values()) == sent + 1

    def run(where: str, runner_args: list[str]) -> Path:
        out = tmp_path / where
        run_to_end(runner_args + ["--kafka-bootstrap", bootstrap, "--kafka-topic", topic,
                                  "--kafka-group", f"g-{where}", "--kafka-stop-at-end",
                                  "--output", str(out)])
        return out

    local = run("direct", [])
    remote = run("flink", flink_args(flink))
    assert len(read_avro(remote, "stories")) + len(read_avro(remote, "dead-letters")) == sent + 1
    assert comparable(read_avro(remote, "stories")) == comparable(read_avro(local, "stories"))
    assert comparable(read_avro(remote, "dead-letters")) == comparable(read_avro(local, "dead-letters"))
    assert committed(bootstrap, topic, "g-flink", 3) == ends
    witness = kafka_tool_lag(bootstrap, "g-flink")
    assert {p: current for p, (current, _end) in witness.items()} == ends
    assert all(current == end for current, end in witness.values())


def _unbounded_args(flink: LocalFlink, bootstrap: str, topic: str, group: str, out: Path,
                    out_topic: str, *extra: str) -> list[str]:
    return flink_args(flink, "--kafka-bootstrap", bootstrap, "--kafka-topic", topic,
                      "--kafka-group", group, "--kafka-output-topic", out_topic,
                      "--output", str(out), "--window-seconds", "10",
                      "--checkpointing_interval", "2000", *extra)


def test_unbounded_kafka_on_flink_writes_windows_and_topic_and_commits_while_running(
        flink, kafka_broker, tmp_path):
    bootstrap = kafka_broker.bootstrap
    topic, out_topic = kafka_broker.new_topic("raw", 3), kafka_broker.new_topic("enriched", 1)
    out, log = tmp_path / "out", tmp_path / "run.log"
    process = start_run(_unbounded_args(flink, bootstrap, topic, "g-live", out, out_topic), log)
    try:
        wait_for(lambda: flink.jobs(), "the job is running on the cluster", log=log, cluster=flink)
        sent = _send_reuters(bootstrap, topic, 60, timestamps="now")  # a live feed
        ends = end_offsets(bootstrap, topic, 3)
        wait_for(lambda: len(read_avro(out, "stories")) + len(read_avro(out, "dead-letters")) >= sent,
                 f"{sent} records in the windowed files", log=log, cluster=flink)
        wait_for(lambda: len(topic_values(bootstrap, out_topic)) >= len(read_avro(out, "stories")),
                 "every story on the output topic", log=log, cluster=flink)
        wait_for(lambda: committed(bootstrap, topic, "g-live", 3) == ends,
                 f"offsets committed to {ends} while the job runs", log=log, cluster=flink)
        assert process.poll() is None and flink.jobs()  # still streaming
        files = glob.glob(str(out / "**" / "stories-*.avro"), recursive=True)
        assert files and all(Path(f).name.count("-") >= 3 for f in files)  # window-stamped names
    finally:
        for job in flink.jobs():
            flink.rest(f"/jobs/{job}?mode=cancel", method="PATCH")
        end_run(process)


# ----------------------------------------------------------------------------- state


def _savepoint(flink: LocalFlink, job: str, target: Path) -> str:
    """Stop ``job`` with a savepoint into ``target``; its location."""
    trigger = flink.rest(f"/jobs/{job}/stop", method="POST",
                         body={"targetDirectory": f"file://{target}", "drain": False})["request-id"]
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        status = flink.rest(f"/jobs/{job}/savepoints/{trigger}")
        if status["status"]["id"] == "COMPLETED":
            operation = status["operation"]
            assert "location" in operation, f"savepoint failed: {operation}"
            return operation["location"]
        time.sleep(1)
    pytest.fail(f"no savepoint of {job} within {WAIT} s")


def _written(out: Path) -> list[dict]:
    return read_avro(out, "stories")


@pytest.mark.parametrize("order", ["event-time", "arrival"])
def test_stop_with_savepoint_and_resubmit_restores_the_dedup_state(order, flink, kafka_broker, tmp_path):
    """Either order's stateful steps restore by name (arrival: ``DedupArrivalLedger``,
    whose worker rebuilds its ledger from the restored log)."""
    from tests.reliability import synthetic_story

    bootstrap = kafka_broker.bootstrap
    topic, out_topic = kafka_broker.new_topic("raw", 3), kafka_broker.new_topic("enriched", 1)
    stories = [synthetic_story(9000 + i) for i in range(12)]
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for story in stories:
        producer.send(topic, value=story).get(timeout=10)

    before, log = tmp_path / "before", tmp_path / "before.log"
    args = _unbounded_args(flink, bootstrap, topic, "g-savepoint", before, out_topic, "--dedup-order", order)
    process = start_run(args, log)
    try:
        wait_for(lambda: len(_written(before)) >= len(stories), "the first stories written", log=log, cluster=flink)
        wait_for(lambda: sum(v or 0 for v in committed(bootstrap, topic, "g-savepoint", 3).values())
                 == len(stories), "their offsets committed", log=log, cluster=flink)
        [job] = flink.jobs()
        location = _savepoint(flink, job, tmp_path / "savepoints")
        process.wait(timeout=WAIT)
    finally:
        end_run(process)
    assert {r["dedup"]["status"] for r in _written(before)} == {"UNIQUE"}

    # A fresh output folder: the copy can only be known through the restored state.
    after, log = tmp_path / "after", tmp_path / "after.log"
    process = start_run(_unbounded_args(flink, bootstrap, topic, "g-savepoint", after, out_topic,
                                        "--savepoint_path", location, "--dedup-order", order), log)
    try:
        wait_for(lambda: flink.jobs(), "the resubmitted job running", log=log, cluster=flink)
        producer.send(topic, value=stories[3]).get(timeout=10)
        producer.send(topic, value=synthetic_story(9999)).get(timeout=10)
        producer.close()
        wait_for(lambda: len(_written(after)) >= 2, "the copy and a new story written", log=log, cluster=flink)
    finally:
        for job in flink.jobs():
            flink.rest(f"/jobs/{job}?mode=cancel", method="PATCH")
        end_run(process)
    by_status = {r["headline"][:12]: r["dedup"] for r in _written(after)}
    assert by_status["Story 009003"]["status"] == "DUPLICATE"
    first = {r["headline"][:12]: r["id"] for r in _written(before)}
    assert by_status["Story 009003"]["duplicate_of"] == first["Story 009003"]
    assert by_status["Story 009999"]["status"] == "UNIQUE"
    assert len(_written(after)) == 2  # resumed at the committed offsets: nothing read twice


def test_taskmanager_killed_mid_stream_restarts_from_checkpoint_and_loses_nothing(
        flink, kafka_broker, tmp_path):
    from tests.reliability import story_index, synthetic_story

    bootstrap = kafka_broker.bootstrap
    topic, out_topic = kafka_broker.new_topic("raw", 3), kafka_broker.new_topic("enriched", 1)
    out, log = tmp_path / "out", tmp_path / "run.log"
    total = 80
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for i in range(total // 2):  # a backlog for the job to work through when it starts
        producer.send(topic, value=synthetic_story(i)).get(timeout=10)
    process = start_run(_unbounded_args(flink, bootstrap, topic, "g-kill", out, out_topic), log)
    try:
        wait_for(lambda: flink.jobs(), "the job running", log=log, cluster=flink)
        wait_for(lambda: len(_written(out)) >= 5, "the first stories written", log=log, cluster=flink)
        flink.script("taskmanager", "kill")
        for i in range(total // 2, total):
            producer.send(topic, value=synthetic_story(i)).get(timeout=10)
        producer.close()
        flink.script("taskmanager", "start")
        wait_for(lambda: flink.taskmanagers() >= 1 and flink.jobs(), "the job restarted", log=log, cluster=flink)
        wait_for(lambda: {story_index(r["headline"]) for r in _written(out)} >= set(range(total)),
                 f"all {total} stories written after the restart", log=log, cluster=flink)
    finally:
        for job in flink.jobs():
            flink.rest(f"/jobs/{job}?mode=cancel", method="PATCH")
        end_run(process)
    written = _written(out)
    assert {story_index(r["headline"]) for r in written} == set(range(total))  # nothing lost
    unique = {r["id"] for r in written if r["dedup"]["status"] == "UNIQUE"}
    assert len(unique) == total  # replays after the restore are the same records, not new ones
    assert {r["dedup"]["status"] for r in written} == {"UNIQUE"}
    exceptions = flink.rest(f"/jobs/{flink.rest('/jobs')['jobs'][0]['id']}/exceptions")
    assert exceptions  # the REST API answered for the restarted job


# ----------------------------------------------------------------------------- Java KafkaIO


def test_java_kafka_reader_runs_through_checkpoints_and_gives_the_native_readers_records(
        flink, kafka_broker, tmp_path):
    """``--kafka-reader java``: Beam's Java KafkaIO, expanded by the job-server jar's
    expansion service, on the cluster with checkpoints every 2 s. The job keeps
    running through them, writes what the native reader writes over the same topic
    (Prism, bounded streaming read), and ``CommitKafkaOffsets`` commits to the end."""
    bootstrap = kafka_broker.bootstrap
    topic, out_topic = kafka_broker.new_topic("raw", 3), kafka_broker.new_topic("enriched", 1)
    sent = _send_reuters(bootstrap, topic, 40, timestamps="now")
    ends = end_offsets(bootstrap, topic, 3)
    native = tmp_path / "native"
    run_to_end(["--streaming", "--kafka-stop-at-end", "--kafka-bootstrap", bootstrap,
                "--kafka-topic", topic, "--kafka-group", "g-native", "--output", str(native),
                "--window-seconds", "10"])
    last = flink.script("expansion-service", "start").strip().splitlines()[-1]
    assert last.startswith("expansion_service="), last
    expansion = last.split("=", 1)[1]
    out, log = tmp_path / "java", tmp_path / "run.log"
    process = start_run(_unbounded_args(flink, bootstrap, topic, "g-java", out, out_topic,
                                        "--kafka-reader", "java",
                                        "--kafka-expansion-service", expansion), log)
    try:
        wait_for(lambda: flink.jobs(), "the job running", log=log, cluster=flink)
        [job] = flink.jobs()
        wait_for(lambda: len(read_avro(out, "stories")) + len(read_avro(out, "dead-letters")) >= sent,
                 f"{sent} records in the windowed files", log=log, cluster=flink)
        wait_for(lambda: committed(bootstrap, topic, "g-java", 3) == ends,
                 f"offsets committed to {ends}", log=log, cluster=flink)
        checkpoints = flink.rest(f"/jobs/{job}/checkpoints")["counts"]["completed"]
        wait_for(lambda: flink.rest(f"/jobs/{job}/checkpoints")["counts"]["completed"] >= checkpoints + 3,
                 "three more checkpoints", log=log, cluster=flink)
        assert flink.jobs() == [job] and process.poll() is None, flink.diagnose()
        assert comparable(read_avro(out, "stories")) == comparable(read_avro(native, "stories"))
        assert comparable(read_avro(out, "dead-letters")) == comparable(read_avro(native, "dead-letters"))
    finally:
        for running in flink.jobs():
            flink.rest(f"/jobs/{running}?mode=cancel", method="PATCH")
        end_run(process)
        flink.script("expansion-service", "stop")
