"""Drop-folder benchmark: latency at a steady drop rate, and a 10,000-file folder.

latency: files are dropped at ``--rate`` files/s for ``--seconds`` while the
drop-folder pipeline (read, parse, enrich, write Avro, record) runs on the local
streaming runner. A file's completion is the moment its upload finished (the
rename from ``.part`` in ``rename`` mode, the close in ``plain`` mode, which must
then wait out the settle period); its record is written when the Avro file
holding it is renamed into place (that file's mtime). Prints p50/p99/max.

With ``--cli`` the real command runs instead, as a subprocess: ``wire-ingest
run --watch`` (the whole chain: parse, normalize, enrich, dedup, write, record);
a warm-up file is dropped and recorded first so that start-up is not counted,
and the command is stopped once every file's record is written.

listing: a folder already holding ``--files`` files is watched for ``--polls``
polls by the source alone; counts directory listings (the source's counter and,
independently, calls of ``os.scandir`` on that folder) and files emitted, and
times one listing.

Usage:
  python bench/watch_bench.py latency --rate 2 --seconds 30 [--mode rename|plain] [--cli]
  python bench/watch_bench.py listing --files 10000 --polls 5
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import apache_beam as beam  # noqa: E402
import fastavro  # noqa: E402
from apache_beam.metrics.metric import MetricsFilter  # noqa: E402
from apache_beam.options.pipeline_options import PipelineOptions  # noqa: E402

from pipelines.runners import resolve_runner  # noqa: E402
from transforms.io import ingested_files  # noqa: E402
from transforms.enrich import EnrichStories  # noqa: E402
from transforms.parse import ParseStories  # noqa: E402
from transforms.io.watch import ReadDropFolders, RecordIngestedFiles  # noqa: E402
from transforms.io.write import WriteDeadLetters, WriteStories  # noqa: E402


def _streaming_pipeline() -> beam.Pipeline:
    """A pipeline on the local streaming runner (Prism)."""
    options = PipelineOptions(streaming=True)
    return beam.Pipeline(runner=resolve_runner(options), options=options)

def _story(index: int) -> bytes:
    return (f"Bench story number {index} on regional transport\n\n"
            f"A standfirst for bench story {index}.\n\n"
            f"Officials said on day {index} that buses and trains would run on a new timetable. "
            "Passengers were told to check departure times before travelling.\n\n"
            "Source: News agencies\n").encode("utf-8")


def _counters(result) -> dict[str, int]:
    counters: dict[str, int] = {}
    for counter in result.metrics().query(MetricsFilter().with_namespace("wire_ingest"))["counters"]:
        counters[counter.key.metric.name] = counters.get(counter.key.metric.name, 0) + int(counter.committed or 0)
    return counters


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def _drop_files(folder: Path, count: int, rate: float, mode: str) -> dict[str, float]:
    """Drop ``count`` stories at ``rate`` per second; returns path -> completion time."""
    completed: dict[str, float] = {}
    start = time.time()
    for index in range(count):
        time.sleep(max(0.0, start + index / rate - time.time()))
        path = folder / f"story-{index:05d}.txt"
        if mode == "rename":
            temp = folder / f"story-{index:05d}.txt.part"
            temp.write_bytes(_story(index))
            os.rename(temp, path)
        else:
            path.write_bytes(_story(index))
        completed[str(path)] = time.time()
    return completed


def _written_at(out: Path) -> dict[str, float]:
    """uri -> when the Avro file holding its record was renamed into place."""
    written: dict[str, float] = {}
    for path in glob.glob(str(out / "stories-*.avro")):
        at = os.stat(path).st_mtime
        with open(path, "rb") as handle:
            for record in fastavro.reader(handle):
                written[record["source"]["uri"]] = at
    return written


def _latency_report(args, completed: dict[str, float], written: dict[str, float], elapsed: float) -> dict:
    latencies = [written[uri] - done for uri, done in completed.items() if uri in written]
    return {
        "mode": args.mode, "path": "wire-ingest run --watch" if args.cli else "drop-folder chain",
        "rate_per_second": args.rate, "files": len(completed),
        "poll_interval_s": args.poll_interval, "settle_s": args.settle, "window_s": args.window,
        "written": sum(1 for uri in completed if uri in written), "run_seconds": round(elapsed, 1),
        "latency_p50_s": round(statistics.median(latencies), 2) if latencies else None,
        "latency_p99_s": round(_percentile(latencies, 0.99), 2) if latencies else None,
        "latency_max_s": round(max(latencies), 2) if latencies else None,
    }


def bench_latency_cli(args) -> dict:
    import signal
    import subprocess

    work = Path(tempfile.mkdtemp(prefix="watch-bench-"))
    folder, out = work / "drop", work / "out"
    folder.mkdir()
    out.mkdir()
    (folder / "warmup.txt").write_bytes(_story(99999))
    command = [sys.executable, "-m", "pipelines.cli", "run", "--watch", str(folder),
               "--output", str(out), "--poll-interval", str(args.poll_interval),
               "--settle-seconds", str(args.settle), "--window-seconds", str(args.window)]
    log = open(work / "wire-ingest.log", "wb")
    process = subprocess.Popen(command, cwd=Path(__file__).resolve().parents[1],
                               stdout=log, stderr=subprocess.STDOUT)
    journal = ingested_files.journal_path(str(out))
    try:
        deadline = time.time() + 120
        while not os.path.exists(journal) and time.time() < deadline and process.poll() is None:
            time.sleep(0.2)
        if not os.path.exists(journal):
            raise SystemExit("wire-ingest run --watch did not record the warm-up file in 120 s")
        started = time.time()
        completed = _drop_files(folder, int(args.rate * args.seconds), args.rate, args.mode)
        deadline = time.time() + args.drain
        written = _written_at(out)
        while time.time() < deadline and not all(uri in written for uri in completed):
            time.sleep(0.5)
            written = _written_at(out)
        elapsed = time.time() - started
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
    report = _latency_report(args, completed, written, elapsed)
    report["exit_code"] = process.returncode
    if report["written"] < report["files"]:
        report["log_tail"] = (work / "wire-ingest.log").read_text(errors="replace")[-2000:]
    shutil.rmtree(work, ignore_errors=True)
    return report


def bench_latency(args) -> dict:
    if args.cli:
        return bench_latency_cli(args)
    work = Path(tempfile.mkdtemp(prefix="watch-bench-"))
    folder, out = work / "drop", work / "out"
    folder.mkdir()
    out.mkdir()
    polls = int((args.seconds + args.drain) / args.poll_interval)
    pipeline = _streaming_pipeline()
    read = pipeline | "ReadDropFolders" >> ReadDropFolders(
        [str(folder)], poll_interval_seconds=args.poll_interval, settle_seconds=args.settle,
        state_dir=str(out), max_polls=polls)
    parsed = read[ReadDropFolders.INPUTS] | "ParseStories" >> ParseStories()
    enriched = parsed[ParseStories.ITEMS] | "EnrichStories" >> EnrichStories(event_time_from="source")
    dead = (read[ReadDropFolders.DEAD_LETTERS], parsed[ParseStories.DEAD_LETTERS],
            enriched[EnrichStories.DEAD_LETTERS]) | "DeadLetters" >> beam.Flatten()
    written = enriched[EnrichStories.STORIES] | "WriteStories" >> WriteStories(
        str(out), window_seconds=args.window)
    failed = dead | "WriteDeadLetters" >> WriteDeadLetters(str(out), window_seconds=args.window)
    ({RecordIngestedFiles.WRITTEN: written, RecordIngestedFiles.FAILED: failed}
     | "RecordIngestedFiles" >> RecordIngestedFiles(str(out), folders=[str(folder)]))

    started = time.time()
    result = pipeline.run()
    completed = _drop_files(folder, int(args.rate * args.seconds), args.rate, args.mode)
    result.wait_until_finish()
    elapsed = time.time() - started
    report = _latency_report(args, completed, _written_at(out), elapsed)
    counters = _counters(result)
    report["counters"] = {k: counters.get(k, 0) for k in (
        "drop_folder_polls", "drop_folder_listings", "drop_files_emitted", "read", "written",
        "dead_letters", "drop_files_recorded")}
    shutil.rmtree(work, ignore_errors=True)
    return report


def bench_listing(args) -> dict:
    work = Path(tempfile.mkdtemp(prefix="watch-bench-"))
    folder, out = work / "drop", work / "out"
    folder.mkdir()
    out.mkdir()
    old = time.time() - 3600
    for index in range(args.files):
        path = folder / f"story-{index:05d}.txt"
        path.write_bytes(_story(index))
        os.utime(path, (old, old))

    timings = []
    for _ in range(3):
        began = time.perf_counter()
        wanted, _ = ingested_files.list_folder(str(folder))
        timings.append(time.perf_counter() - began)
    assert len(wanted) == args.files

    scandir_calls = {"count": 0}
    real_scandir = os.scandir

    def counting_scandir(path=".", *rest):
        if isinstance(path, str) and os.path.abspath(path) == str(folder):
            scandir_calls["count"] += 1
        return real_scandir(path, *rest)

    os.scandir = counting_scandir
    try:
        pipeline = _streaming_pipeline()
        read = pipeline | "ReadDropFolders" >> ReadDropFolders(
            [str(folder)], poll_interval_seconds=args.poll_interval, settle_seconds=2.0,
            state_dir=str(out), max_polls=args.polls)
        read[ReadDropFolders.INPUTS] | "Discard" >> beam.Map(lambda raw: None)
        started = time.time()
        result = pipeline.run()
        result.wait_until_finish()
        elapsed = time.time() - started
    finally:
        os.scandir = real_scandir
    counters = _counters(result)
    shutil.rmtree(work, ignore_errors=True)
    return {
        "files": args.files, "polls": counters.get("drop_folder_polls", 0),
        "listings_counted_by_source": counters.get("drop_folder_listings", 0),
        "scandir_calls_on_folder": scandir_calls["count"],
        "files_emitted": counters.get("drop_files_emitted", 0),
        "files_read": counters.get("raw_inputs", 0),
        "one_listing_ms": round(1000 * min(timings), 1),
        "run_seconds": round(elapsed, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="bench", required=True)
    latency = sub.add_parser("latency", help="completion-to-written latency at a steady drop rate")
    latency.add_argument("--rate", type=float, default=2.0, help="files dropped per second (default 2)")
    latency.add_argument("--seconds", type=float, default=30.0, help="how long to drop (default 30)")
    latency.add_argument("--drain", type=float, default=20.0,
                         help="seconds of polling after the last drop (default 20)")
    latency.add_argument("--mode", choices=("rename", "plain"), default="rename",
                         help="rename: upload as .part then rename; plain: write in place")
    latency.add_argument("--poll-interval", type=float, default=1.0, help="seconds (default 1)")
    latency.add_argument("--settle", type=float, default=1.0, help="seconds (default 1)")
    latency.add_argument("--window", type=int, default=1, help="output window seconds (default 1)")
    latency.add_argument("--cli", action="store_true",
                         help="run the real 'wire-ingest run --watch' as a subprocess")
    listing = sub.add_parser("listing", help="listings per poll over a folder of many files")
    listing.add_argument("--files", type=int, default=10_000, help="files in the folder (default 10000)")
    listing.add_argument("--polls", type=int, default=5, help="polls to run (default 5)")
    listing.add_argument("--poll-interval", type=float, default=0.5, help="seconds (default 0.5)")
    args = parser.parse_args()
    report = bench_latency(args) if args.bench == "latency" else bench_listing(args)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
