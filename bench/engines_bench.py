"""The real engines side by side, in one run: batch, streaming latency, held rate, start cost, memory.

Everything is the whole ``wire-ingest run`` command as a child process, so the
figures include what a user waits for (Beam's start, the job server, the SDK
worker). Engines:

* ``fnapi``: the DirectRunner as wire-ingest resolves it for batch (Beam's FnApiRunner);
* ``prism``: ``--runner PrismRunner`` (the binary of ``deploy/local/prism.sh``);
* ``flink``: ``--runner FlinkRunner`` on the cluster of ``deploy/local/flink.sh``
  (started here, its start timed), ``--parallelism 2``.

Parts (all by default):

1. ``batch``: the eleven Reuters-21578 files of ``../shared/corpora`` on each
   engine: seconds, stories/s, ratio to the FnApiRunner of the same run, peak
   memory of the process tree (for Flink also the JobManager's and
   TaskManager's JVMs, sampled together).
2. ``latency``: an unbounded Kafka run (``--kafka-output-topic``) on Prism and
   on Flink, once per ``--dedup-orders`` (event-time, arrival), fed at
   ``--rate`` stories/s for ``--seconds``; latency of a story = broker
   timestamp of its output message - that of its input message; p50, p99,
   and the p99 of the second half of the feed (steady state).
3. ``hold`` (``--hold-rates``): Prism and Flink fed at each rate for
   ``--hold-seconds``, once per ``--dedup-orders``;
   the consumer lag (end offsets - committed) sampled every 10 s; "held" when
   the lag of the last minute stays under 2 s of input and does not grow.
   Both streaming parts also give the peak memory of each process tree,
   sampled every 0.2 s: the pipeline's (the CLI with Prism, or with Beam's
   Flink job server, and the SDK workers), the Flink cluster's JVMs, the
   Kafka broker's.
4. start costs: the Kafka broker, the Flink cluster, and each engine's run over
   one story (Beam's fixed cost on that engine).

Usage: .venv/bin/python bench/engines_bench.py [--parts batch,latency,hold]
           [--rate 100] [--seconds 60] [--hold-rates 300] [--hold-seconds 300]
           [--dedup-orders event-time,arrival]
Writes a JSON report to bench/results/engines.json and prints it as Markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.kafka_bench import output_latencies  # noqa: E402
from bench.pipeline_bench import tree_rss_bytes  # noqa: E402
from tests.broker import KafkaBroker  # noqa: E402
from transforms.io.replay import replay_to_kafka  # noqa: E402

CORPUS = REPO.parent / "shared" / "corpora" / "reuters21578"
SEED = REPO / "seeds" / "000_47ad94e21230f2f9.txt"
FLINK_SH = REPO / "deploy" / "local" / "flink.sh"
RESULTS = REPO / "bench" / "results"
#: ``--kafka-watermark-delay`` of the streaming runs (``--watermark-delay``).
WATERMARK_DELAY = 5.0


# ----------------------------------------------------------------------------- processes


class PeakMemory:
    """Samples the summed RSS of some process trees every 0.2 s; keeps the peak."""

    def __init__(self, pids: list[int]):
        self.pids = pids
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, sum(tree_rss_bytes(pid) for pid in self.pids))
            time.sleep(0.2)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


def wire_ingest(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "pipelines.cli", "run", *args]


def timed_run(args: list[str], extra_pids: list[int], log: Path) -> dict:
    """Run ``wire-ingest run args`` to its end: seconds, peak memory, summary."""
    started = time.monotonic()
    with open(log, "w", encoding="utf-8") as handle:
        child = subprocess.Popen(wire_ingest(args), cwd=REPO, stdout=handle, stderr=subprocess.STDOUT)
        with PeakMemory([child.pid, *extra_pids]) as memory:
            code = child.wait()
    seconds = time.monotonic() - started
    text = log.read_text(errors="replace")
    if code != 0:
        raise RuntimeError(f"wire-ingest run {' '.join(args)} exited {code}:\n{text[-3000:]}")
    read = next(int(line.split()[1]) for line in text.splitlines() if line.strip().startswith("read "))
    return {"seconds": round(seconds, 2), "read": read, "stories_per_s": round(read / seconds, 1),
            "peak_rss_mb": round(memory.peak / 2 ** 20)}


class Flink:
    """The local cluster of ``deploy/local/flink.sh``, state in a temporary folder."""

    def __init__(self, state: Path, backend: str = "rocksdb"):
        # RocksDB with incremental checkpoints by default, as deploy/flink runs: the hashmap
        # backend copies the whole dedup state at every checkpoint.
        self.env = {**os.environ, "FLINK_STATE_DIR": str(state), "FLINK_STATE_BACKEND": backend}
        self.state = state
        self.master = ""
        self.start_seconds = 0.0

    def start(self) -> "Flink":
        subprocess.run([str(FLINK_SH), "install"], env=self.env, check=True, capture_output=True)
        started = time.monotonic()
        out = subprocess.run([str(FLINK_SH), "start"], env=self.env, check=True,
                             capture_output=True, text=True).stdout
        self.start_seconds = round(time.monotonic() - started, 1)
        self.master = out.strip().splitlines()[-1].split("=", 1)[1]
        return self

    def pids(self) -> list[int]:
        """The JobManager's and TaskManagers' JVMs (flink-daemon.sh's pid files)."""
        return [int(word) for path in self.state.glob("flink-*.pid")
                for word in path.read_text().split() if word.isdigit()]

    def stop(self) -> None:
        subprocess.run([str(FLINK_SH), "stop"], env=self.env, capture_output=True)

    #: Extra options for every Flink run (``--flink-extra``), e.g. bundle sizes.
    extra: list[str] = []

    def args(self) -> list[str]:
        return ["--runner", "FlinkRunner", "--flink_master", self.master, "--parallelism", "2",
                *self.extra]

    def cancel_all(self) -> None:
        import urllib.request

        with urllib.request.urlopen(f"http://{self.master}/jobs", timeout=10) as response:
            jobs = json.load(response)["jobs"]
        for job in jobs:
            if job["status"] == "RUNNING":
                request = urllib.request.Request(f"http://{self.master}/jobs/{job['id']}?mode=cancel",
                                                 method="PATCH")
                urllib.request.urlopen(request, timeout=10).close()


ENGINE_ARGS = {"fnapi": lambda flink: [], "prism": lambda flink: ["--runner", "PrismRunner"],
               "flink": lambda flink: flink.args()}


# ----------------------------------------------------------------------------- batch


def batch(engines: list[str], flink: Optional[Flink], work: Path) -> dict:
    files = sorted(str(p) for p in CORPUS.glob("reut2-*.sgm"))
    report: dict = {"files": len(files)}
    for engine in engines:
        extra = flink.pids() if engine == "flink" else []
        one = timed_run([*ENGINE_ARGS[engine](flink), "--input", str(SEED),
                         "--output", str(work / f"{engine}-one")], extra, work / f"{engine}-one.log")
        args = [*ENGINE_ARGS[engine](flink)] + [a for f in files for a in ("--input", f)] + [
            "--output", str(work / f"{engine}-batch")]
        result = timed_run(args, extra, work / f"{engine}-batch.log")
        result["fixed_cost_seconds"] = one["seconds"]
        report[engine] = result
    if "fnapi" in report:
        base = report["fnapi"]["stories_per_s"]
        for engine in engines:
            report[engine]["ratio_to_fnapi"] = round(report[engine]["stories_per_s"] / base, 2)
    return report


# ----------------------------------------------------------------------------- streaming


def _stream(broker: KafkaBroker, runner_args: list[str], work: Path, name: str, order: str):
    topic, out = broker.new_topic(f"{name}-in", 3), broker.new_topic(f"{name}-out", 1)
    group = f"bench-{name}"
    log = work / f"{name}.log"
    handle = open(log, "w", encoding="utf-8")  # noqa: SIM115  (closed with the child)
    child = subprocess.Popen(wire_ingest([*runner_args, "--kafka-bootstrap", broker.bootstrap,
                                          "--kafka-topic", topic, "--kafka-group", group,
                                          "--kafka-start", "earliest", "--kafka-output-topic", out,
                                          "--output", str(work / f"{name}-out"),
                                          "--kafka-watermark-delay", str(WATERMARK_DELAY),
                                          "--dedup-order", order,
                                          *(["--checkpointing_interval", "5000"]
                                            if "FlinkRunner" in runner_args else [])]),
                             cwd=REPO, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
    return topic, out, group, child, log


def _lag(bootstrap: str, topic: str, group: str) -> int:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    partitions = [TopicPartition(topic, p) for p in range(3)]
    ends = consumer.end_offsets(partitions)
    lag = sum(ends[tp] - (consumer.committed(tp) or 0) for tp in partitions)
    consumer.close()
    return lag


def _stop(child: subprocess.Popen, flink: Optional[Flink]) -> None:
    import signal

    if flink:
        flink.cancel_all()
    if child.poll() is None:
        os.killpg(child.pid, signal.SIGTERM)
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)


def _memory(child: subprocess.Popen, flink: Optional[Flink], broker: KafkaBroker) -> dict[str, PeakMemory]:
    """Peak RSS of each process tree of a streaming run: the pipeline's (the CLI with
    Prism or the job server and its SDK workers), Flink's JVMs, the broker's."""
    trees = {"pipeline": [child.pid], "broker": [broker._process.pid] if broker._process else []}
    if flink:
        trees["flink_cluster"] = flink.pids()
    return {name: PeakMemory(pids).__enter__() for name, pids in trees.items() if pids}


def _peaks(memory: dict[str, PeakMemory]) -> dict[str, int]:
    for sampler in memory.values():
        sampler.__exit__()
    return {f"peak_rss_mb_{name}": round(sampler.peak / 2 ** 20) for name, sampler in memory.items()}


def latency(engine: str, broker: KafkaBroker, flink: Optional[Flink], rate: float, seconds: float,
            work: Path, order: str) -> dict:
    topic, out, _group, child, log = _stream(broker, ENGINE_ARGS[engine](flink), work,
                                             f"lat-{engine}-{order}", order)
    memory = _memory(child, flink, broker)
    try:
        warm = replay_to_kafka([CORPUS / "reut2-003.sgm"], broker.bootstrap, topic,
                               timestamps="now", max_messages=20)
        if len(output_latencies(broker.bootstrap, out, warm, time.monotonic() + 240)) < warm:
            return {"error": "warm-up stories never came out", "log": log.read_text()[-3000:]}
        started = time.monotonic()
        sent = replay_to_kafka([CORPUS / f"reut2-00{n}.sgm" for n in range(1, 5)],
                               broker.bootstrap, topic, rate=rate, timestamps="now", loop=True,
                               max_messages=int(rate * seconds))
        send_seconds = time.monotonic() - started
        in_order = output_latencies(broker.bootstrap, out, warm + sent, time.monotonic() + 120)[warm:]
        second_half = sorted(in_order[len(in_order) // 2:])
        latencies = sorted(in_order)
        return {"order": order, "rate": rate, "sent": sent, "sent_per_s": round(sent / send_seconds, 1),
                "received": len(latencies),
                "p99_second_half_ms": second_half[int(len(second_half) * 0.99)] if second_half else None,
                "p50_ms": latencies[len(latencies) // 2] if latencies else None,
                "p99_ms": latencies[int(len(latencies) * 0.99)] if latencies else None,
                "max_ms": latencies[-1] if latencies else None, **_peaks(memory)}
    finally:
        _peaks(memory)
        _stop(child, flink)


def hold(engine: str, broker: KafkaBroker, flink: Optional[Flink], rate: float, seconds: float, work: Path,
         order: str) -> dict:
    topic, _out, group, child, log = _stream(broker, ENGINE_ARGS[engine](flink), work,
                                             f"hold-{engine}-{int(rate)}-{order}", order)
    memory = _memory(child, flink, broker)
    samples: list[tuple[float, int]] = []
    try:
        replay_to_kafka([SEED], broker.bootstrap, topic, timestamps="now")
        deadline = time.monotonic() + 240
        while _lag(broker.bootstrap, topic, group) > 0 and time.monotonic() < deadline:
            time.sleep(1)
        feeder = threading.Thread(target=replay_to_kafka, daemon=True, kwargs=dict(
            paths=sorted(CORPUS.glob("reut2-*.sgm")), bootstrap=broker.bootstrap, topic=topic,
            rate=rate, loop=True, timestamps="now", max_messages=int(rate * seconds)))
        started = time.monotonic()
        feeder.start()
        while feeder.is_alive():
            time.sleep(10)
            samples.append((round(time.monotonic() - started), _lag(broker.bootstrap, topic, group)))
        achieved = (int(rate * seconds)) / (time.monotonic() - started)
        last_minute = [lag for at, lag in samples if at >= samples[-1][0] - 60]
        held = max(last_minute) < 2 * rate and last_minute[-1] <= max(last_minute[0], rate)
        return {"engine": engine, "order": order, "rate": rate, "seconds": seconds,
                "fed_per_s": round(achieved, 1),
                "lag_samples": samples, "held": held, **_peaks(memory)}
    finally:
        _peaks(memory)
        _stop(child, flink)


# ----------------------------------------------------------------------------- report


def _memory_text(result: dict) -> str:
    peaks = [f"{key.removeprefix('peak_rss_mb_').replace('_', ' ')} {value} MB"
             for key, value in result.items() if key.startswith("peak_rss_mb_")]
    return "peak memory: " + ", ".join(peaks) if peaks else ""


def markdown(report: dict) -> str:
    lines = ["| part | engine | result |", "|---|---|---|"]
    for engine, result in report.get("batch", {}).items():
        if isinstance(result, dict):
            lines.append(f"| batch, {report['batch']['files']} Reuters files | {engine} | "
                         f"{result['read']} items in {result['seconds']} s = {result['stories_per_s']}/s, "
                         f"{result.get('ratio_to_fnapi')}x FnApiRunner, peak {result['peak_rss_mb']} MB, "
                         f"one-story run {result['fixed_cost_seconds']} s |")
    for name, result in report.get("latency", {}).items():
        lines.append(f"| latency at {result.get('rate')}/s | {name} | p50 {result.get('p50_ms')} ms, "
                     f"p99 {result.get('p99_ms')} ms (second half {result.get('p99_second_half_ms')} ms), "
                     f"max {result.get('max_ms')} ms, {result.get('received')}/{result.get('sent')} received, "
                     f"{_memory_text(result)} |")
    for result in report.get("hold", []):
        lags = [lag for _, lag in result["lag_samples"]]
        lines.append(f"| hold {result['rate']}/s for {result['seconds']} s | {result.get('engine', 'flink')}, "
                     f"{result['order']} | fed "
                     f"{result['fed_per_s']}/s, lag {min(lags)}–{max(lags)}, held: {result['held']}, "
                     f"{_memory_text(result)} |")
    for name, seconds in report.get("start_seconds", {}).items():
        lines.append(f"| start | {name} | {seconds} s |")
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", default="batch,latency,hold")
    parser.add_argument("--engines", default="fnapi,prism,flink")
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--hold-rates", default="300")
    parser.add_argument("--hold-seconds", type=float, default=300)
    parser.add_argument("--flink-extra", default="",
                        help="Space-separated options added to every Flink run "
                             "(e.g. '--max_bundle_time_mills=100').")
    parser.add_argument("--flink-state-backend", choices=("rocksdb", "hashmap"), default="rocksdb",
                        help="State backend of the benchmark's Flink cluster (FLINK_STATE_BACKEND of "
                             "deploy/local/flink.sh; default rocksdb, incremental checkpoints).")
    parser.add_argument("--keep", action="store_true",
                        help="Keep the work folder (logs of every run, the Flink cluster's state).")
    parser.add_argument("--dedup-orders", default="event-time,arrival",
                        help="--dedup-order of the streaming runs; each part runs once per order.")
    parser.add_argument("--watermark-delay", type=float, default=5.0,
                        help="--kafka-watermark-delay of the streaming runs (seconds).")
    args = parser.parse_args(argv)
    global WATERMARK_DELAY  # noqa: PLW0603  (one setting for the whole run)
    WATERMARK_DELAY = args.watermark_delay
    report_settings = {"watermark_delay": args.watermark_delay, "flink_extra": args.flink_extra,
                       "flink_state_backend": args.flink_state_backend,
                       "dedup_orders": args.dedup_orders}
    orders = args.dedup_orders.split(",")
    Flink.extra = args.flink_extra.split()
    parts, engines = args.parts.split(","), args.engines.split(",")
    work = Path(tempfile.mkdtemp(prefix="engines-bench-"))
    report: dict = {"start_seconds": {}, "settings": report_settings}
    flink = None
    broker = None
    try:
        if "flink" in engines:
            flink = Flink(work / "flink-state", args.flink_state_backend).start()
            report["start_seconds"]["flink cluster (JobManager + TaskManager registered)"] = flink.start_seconds
        if "batch" in parts:
            report["batch"] = batch(engines, flink, work)
        if "latency" in parts or "hold" in parts:
            started = time.monotonic()
            broker = KafkaBroker().start()
            report["start_seconds"]["kafka broker"] = round(time.monotonic() - started, 1)
        if "latency" in parts:
            report["latency"] = {f"{engine}, {order}": latency(
                engine, broker, flink if engine == "flink" else None, args.rate, args.seconds, work, order)
                for engine in engines if engine in ("prism", "flink") for order in orders}
        if "hold" in parts:
            report["hold"] = [hold(engine, broker, flink if engine == "flink" else None, float(rate),
                                   args.hold_seconds, work, order)
                              for engine in engines if engine in ("prism", "flink")
                              for order in orders for rate in args.hold_rates.split(",")]
    finally:
        if broker:
            broker.stop()
        if flink:
            flink.stop()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "engines.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    print(markdown(report))
    if args.keep:
        print(f"work folder kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
