"""End-to-end throughput: the Beam pipeline on two workers against a plain loop.

Over the eleven Reuters-21578 archives (``../shared/corpora/reuters21578``,
about 11,000 stories) this runs, each in a process of its own:

* **beam**: ``pipelines.ingest.run`` in batch on the FnApiRunner with
  ``--direct_num_workers=N --direct_running_mode=multi_processing`` (the
  DirectRunner's batch engine), writing Avro to a temporary directory;
* **baseline**: one Python process calling the same pure functions in a
  loop: ``read_file_input``, ``parse_raw_input``, ``enrich_item`` (normalize,
  language, assemble), the dedup core (``SequentialDeduplicator``: the
  fingerprint, then the ledger walk) and the Avro writing the pipeline does
  (``Story.to_avro``, ``encode_avro_record``, ``write_encoded_avro_file``:
  fastavro, deflate).

* **fixed** (with the Beam side): the same Beam run over the one seed
  story, which costs what every run costs whatever its size (runner and
  worker start, the graph, each DoFn's set-up, output files). From it the
  report gives the highest ratio Beam could reach over this corpus on
  this machine with no per-story overhead at all and the loop's work split
  perfectly over the workers: loop / (fixed + loop / workers).

It reports stories/s of both and their ratio, the peak resident memory of
each process tree (the runner and its SDK worker processes, sampled every
0.25 s from /proc), and the baseline's cost per stage. With ``--repeat N``
the two sides run N times each, alternating, and the fastest run of each
side is compared (on a shared machine the load changes from run to run). With ``--latency`` it
also runs ``bench/watch_bench.py latency`` (drop folder, streaming runner)
and reports its p50/p99. Prints a Markdown table and writes JSON to
``bench/results/pipeline_bench.json``.

Usage::

    .venv/bin/python bench/pipeline_bench.py [--workers 2] [--repeat 3] [--latency]
        [--profile bench/results/baseline.prof]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from typing import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CORPUS = ROOT.parent / "shared" / "corpora" / "reuters21578"
#: One story: a Beam run over it costs what any run costs before and after its stories.
SEED = ROOT / "seeds" / "000_47ad94e21230f2f9.txt"
RESULTS = ROOT / "bench" / "results"
STAGES = ("read", "parse", "normalize", "language", "assemble", "dedup", "avro_write")


# --------------------------------------------------------------------------
# The baseline: the same pure functions in one process
# --------------------------------------------------------------------------


class _Timed:
    """Wraps a callable and adds its time (by ``clock``) to ``seconds``."""

    def __init__(self, function, clock: Callable[[], float] = time.perf_counter):
        self.function = function
        self.clock = clock
        self.seconds = 0.0

    def __call__(self, *args, **kwargs):
        start = self.clock()
        try:
            return self.function(*args, **kwargs)
        finally:
            self.seconds += self.clock() - start


def run_baseline(paths: list[str], output_dir: str, dedup: bool = True,
                 detect_declared: bool = False, clock: Callable[[], float] = time.perf_counter,
                 detector=None) -> dict:
    """Read, parse, enrich, dedup and write every story in one loop; seconds per stage.

    ``clock`` times the stages (``time.thread_time`` is steadier on a busy
    machine); a loaded ``detector`` can be shared by repeated passes.
    """
    import fastavro

    from schemas import load_schema
    from transforms import enrich
    from transforms.dedup.core import DedupConfig, SequentialDeduplicator
    from transforms.language.detect import LanguageDetector
    from transforms.model import DeadLetter, ParseError, now_millis
    from transforms.parse import parse_raw_input
    from transforms.io.read import read_file_input
    from transforms.io.write import encode_avro_record, write_encoded_avro_file

    started = clock()
    if detector is None:
        detector = LanguageDetector(seed=0)
        detector.load()
    story_schema = fastavro.parse_schema(load_schema("story"))
    dead_schema = fastavro.parse_schema(load_schema("dead_letter"))
    setup_seconds = clock() - started

    # Time the normalizer and the detector inside enrich_item without
    # changing what it calls.
    normalize = _Timed(enrich.normalize_item, clock)
    enrich.normalize_item = normalize
    if detect_declared:
        # Cost the detector on every story, as for a feed that declares no
        # language (Reuters-21578 declares English, so it is skipped there).
        detect_text = detector.detect
        language = _Timed(lambda headline, body, declared=None: detect_text(headline, body), clock)
    else:
        language = _Timed(detector.detect, clock)
    detector.detect = language
    seconds = dict.fromkeys(STAGES, 0.0)
    stories, dead_letters = [], []

    loop_start = clock()
    for path in paths:
        start = clock()
        stat = os.stat(path)
        raw = read_file_input(path, stat.st_size, stat.st_mtime)
        seconds["read"] += clock() - start
        start = clock()
        results = parse_raw_input(raw)
        seconds["parse"] += clock() - start
        start = clock()
        for parsed in results:
            if isinstance(parsed, DeadLetter):
                dead_letters.append(parsed)
                continue
            try:
                story, _ = enrich.enrich_item(parsed, detector)
            except ParseError as error:
                dead_letters.append(DeadLetter(
                    raw=parsed.raw, source=parsed.source, stage="normalize", reason=error.reason,
                    error=str(error), failed_at=now_millis(), format=parsed.item.format))
                continue
            stories.append(story)
        seconds["assemble"] += clock() - start
    enrich.normalize_item = normalize.function
    del detector.detect  # back to the class's method
    seconds["normalize"] = normalize.seconds
    seconds["language"] = language.seconds
    seconds["assemble"] -= normalize.seconds + language.seconds

    start = clock()
    if dedup:
        deduplicator = SequentialDeduplicator(DedupConfig())
        stories.sort(key=lambda story: (story.event_time, story.id))
        stories = [dataclasses.replace(story, dedup=deduplicator.add(story)) for story in stories]
    seconds["dedup"] = clock() - start

    start = clock()
    write_encoded_avro_file(os.path.join(output_dir, "stories-baseline.avro"), story_schema,
                            (encode_avro_record(story_schema, story.to_avro()) for story in stories))
    write_encoded_avro_file(os.path.join(output_dir, "dead-letters-baseline.avro"), dead_schema,
                            (encode_avro_record(dead_schema, dead.to_avro()) for dead in dead_letters))
    seconds["avro_write"] = clock() - start
    loop_seconds = clock() - loop_start

    statuses: dict[str, int] = {}
    for story in stories:
        statuses[story.dedup.status] = statuses.get(story.dedup.status, 0) + 1
    return {
        "stories": len(stories),
        "dead_letters": len(dead_letters),
        "items": len(stories) + len(dead_letters),
        "dedup": statuses,
        "setup_seconds": setup_seconds,
        "seconds": loop_seconds,
        "stage_seconds": seconds,
        "dead_letter_reasons": _count(dead.reason for dead in dead_letters),
    }


def _count(values) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


# --------------------------------------------------------------------------
# The Beam pipeline
# --------------------------------------------------------------------------


def run_beam(paths: list[str], output_dir: str, workers: int, dedup: bool = True) -> dict:
    """``pipelines.ingest.run`` in batch over ``paths`` on ``workers`` processes
    (without dedup: the same read, parse, enrich and write composites)."""
    from pipelines.ingest import run

    if not dedup:
        return _run_beam_without_dedup(paths, output_dir, workers)
    argv = [f"--input={path}" for path in paths] + [
        f"--output={output_dir}",
        "--runner=DirectRunner",
        f"--direct_num_workers={workers}",
        "--direct_running_mode=multi_processing" if workers > 1 else "--direct_running_mode=in_memory",
    ]
    start = time.perf_counter()
    try:
        summary = run(argv)
    except RecursionError:
        # FnApiRunner's metrics merge recurses once per bundle: thousands of
        # bundles (dedup timers) exceed the stack after the run has finished.
        seconds = time.perf_counter() - start
        items = _count_items(paths)
        return {"items": items, "stories": None, "dead_letters": None, "balanced": None,
                "dedup": {}, "seconds": seconds, "argv": argv,
                "note": "run finished; metrics unreadable (RecursionError in FnApiMetrics)"}
    seconds = time.perf_counter() - start
    return {
        "items": summary.read,
        "stories": summary.written,
        "dead_letters": summary.dead_letters,
        "balanced": summary.balanced,
        "dedup": summary.by_prefix("dedup_"),
        "seconds": seconds,
        "argv": argv,
    }


def _count_items(paths: list[str]) -> int:
    return sum(path_bytes.count(b"</REUTERS>") for path_bytes in (Path(p).read_bytes() for p in paths))


def _run_beam_without_dedup(paths: list[str], output_dir: str, workers: int) -> dict:
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines.ingest import summarize_metrics
    from pipelines.runners import resolve_runner
    from transforms.enrich import EnrichStories
    from transforms.parse import ParseStories
    from transforms.io.read import ReadWireStories
    from transforms.io.write import WriteDeadLetters, WriteStories

    argv = ["--runner=DirectRunner", f"--direct_num_workers={workers}",
            "--direct_running_mode=multi_processing" if workers > 1 else "--direct_running_mode=in_memory"]
    options = PipelineOptions(argv)
    start = time.perf_counter()
    pipeline = beam.Pipeline(runner=resolve_runner(options), options=options)
    read = pipeline | "ReadWireStories" >> ReadWireStories(paths)
    parsed = read[ReadWireStories.INPUTS] | "ParseStories" >> ParseStories()
    enriched = parsed[ParseStories.ITEMS] | "EnrichStories" >> EnrichStories()
    enriched[EnrichStories.STORIES] | "WriteStories" >> WriteStories(output_dir)
    dead = (read[ReadWireStories.DEAD_LETTERS], parsed[ParseStories.DEAD_LETTERS],
            enriched[EnrichStories.DEAD_LETTERS]) | "AllDeadLetters" >> beam.Flatten()
    dead | "WriteDeadLetters" >> WriteDeadLetters(output_dir)
    result = pipeline.run()
    result.wait_until_finish()
    seconds = time.perf_counter() - start
    summary = summarize_metrics(result)
    return {"items": summary.read, "stories": summary.written, "dead_letters": summary.dead_letters,
            "balanced": summary.balanced, "dedup": {}, "seconds": seconds,
            "argv": argv + ["(read, parse, enrich, write: no dedup)"]}


# --------------------------------------------------------------------------
# Process-tree memory and the driver
# --------------------------------------------------------------------------


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    parents = _parents()
    while todo:
        current = todo.pop()
        children = [child for child, parent in parents.items() if parent == current]
        found.extend(children)
        todo.extend(children)
    return found


def _kill(pid: int) -> None:
    try:
        os.kill(pid, 9)
    except OSError:
        pass


def _parents() -> dict[int, int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                    parents[int(entry)] = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    return parents


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` and all its descendants (one /proc scan)."""
    parents = _parents()
    children: dict[int, list[int]] = {}
    for child, parent in parents.items():
        children.setdefault(parent, []).append(child)
    total, todo, page = 0, [pid], os.sysconf("SC_PAGE_SIZE")
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/statm", encoding="ascii") as handle:
                total += int(handle.read().split()[1]) * page
        except OSError:
            continue
        todo.extend(children.get(current, ()))
    return total


def run_child(mode: str, args) -> dict:
    """Run one mode in a child process; returns its JSON and peak tree RSS."""
    command = [sys.executable, __file__, "--child", mode, "--workers", str(args.workers),
               "--files", str(args.files)]
    if args.without_dedup:
        command.append("--without-dedup")
    if args.detect_declared:
        command.append("--detect-declared")
    if args.profile and mode == "baseline":
        command += ["--profile", args.profile]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               cwd=str(ROOT))
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, tree_rss_bytes(process.pid))
            stop.wait(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        stdout, stderr = process.communicate(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        for pid in _descendants(process.pid):
            _kill(pid)
        process.communicate()
        stop.set()
        sampler.join()
        return {"error": f"did not finish in {args.timeout:.0f} s", "peak_rss_mb": peak / 2**20}
    stop.set()
    sampler.join()
    if process.returncode != 0:
        sys.stderr.write(stderr[-5000:])
        raise SystemExit(f"{mode} run failed with exit code {process.returncode}")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["peak_rss_mb"] = peak / 2**20
    return result


def child_main(mode: str, args) -> None:
    paths = sorted(str(path) for path in CORPUS.glob("reut2-*.sgm"))[:args.files]
    if mode == "fixed":
        paths = [str(SEED)]
    with tempfile.TemporaryDirectory(prefix=f"bench-{mode}-") as output_dir:
        if mode == "baseline":
            if args.profile:
                import cProfile

                profiler = cProfile.Profile()
                result = profiler.runcall(run_baseline, paths, output_dir, not args.without_dedup,
                                          args.detect_declared)
                profiler.dump_stats(args.profile)
            else:
                result = run_baseline(paths, output_dir, not args.without_dedup, args.detect_declared)
        else:  # "beam", or "fixed": the same run over the one seed story
            result = run_beam(paths, output_dir, args.workers, not args.without_dedup)
        result["output_bytes"] = sum(
            os.path.getsize(os.path.join(output_dir, name)) for name in os.listdir(output_dir))
    result["files"] = len(paths)
    print(json.dumps(result))


def _fixed_cost(args) -> dict:
    """The Beam side's cost that does not depend on the stories: the same
    pipeline on the same workers over one story (runner and worker start,
    graph, set-up of every DoFn, output files), fastest of ``--repeat``."""
    runs = [run_child("fixed", args) for _ in range(args.repeat)]
    fastest = min(run["seconds"] for run in runs)
    print(f"fixed cost (one story): {fastest:.2f} s", file=sys.stderr)
    return {"seconds": fastest, "runs": [run["seconds"] for run in runs]}


def best_possible_ratio(loop_seconds: float, fixed_seconds: float, workers: int) -> float:
    """The ratio Beam would reach with its fixed cost and nothing else: no
    per-story overhead and the loop's work split perfectly over the workers."""
    return loop_seconds / (fixed_seconds + loop_seconds / workers)


def run_latency(args) -> dict:
    command = [sys.executable, str(ROOT / "bench" / "watch_bench.py"), "latency",
               "--rate", str(args.latency_rate), "--seconds", str(args.latency_seconds)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=str(ROOT), check=False)
    if done.returncode != 0:
        return {"error": done.stderr[-2000:], "command": " ".join(command[1:])}
    text = done.stdout
    report = json.loads(text[text.index("{"):])
    report["command"] = " ".join(["python"] + command[1:])
    return report


def markdown(results: dict) -> str:
    beam, base = results["beam"], results["baseline"]
    scope = "" if results["dedup"] else ", without dedup"
    lines = [
        f"Reuters-21578, {results['files']} files{scope}; "
        f"`{' '.join(results['command'])}`", "",
        "| measure | target | result |",
        "|---|---|---|",
        f"| Beam, FnApiRunner, {results['workers']} workers (stories/s, end to end) | >= 400 | "
        f"{beam['stories_per_second']:.0f} ({beam['items']} items in {beam['seconds']:.1f} s) |",
        f"| Plain Python loop, 1 process (stories/s) | - | {base['stories_per_second']:.0f} "
        f"({base['items']} items in {base['seconds']:.1f} s; its set-up, {base['setup_seconds']:.1f} s, "
        f"not counted) |",
        f"| Beam / baseline | >= 1.5x | {results['ratio']:.2f}x |",
        *([f"| runs of each side (fastest shown; peak memory: highest) | - | {results['repeat']} |",
           f"| Beam / baseline of each pair run back to back (median) | - | "
           f"{', '.join(f'{r:.2f}x' for r in results['pair_ratios'])} "
           f"({sorted(results['pair_ratios'])[len(results['pair_ratios']) // 2]:.2f}x) |"]
          if results.get("repeat", 1) > 1 and results.get("pair_ratios") else []),
        *([f"| Beam's fixed cost: the same run over one story | - | {results['fixed']['seconds']:.2f} s |",
           f"| Highest ratio that fixed cost allows: loop / (fixed + loop / {results['workers']} workers) | - | "
           f"{results['best_possible_ratio']:.2f}x |"] if "best_possible_ratio" in results else []),
        f"| Peak memory, Beam process tree | < 1 GB | {beam['peak_rss_mb']:.0f} MB |",
        f"| Peak memory, baseline process | - | {base['peak_rss_mb']:.0f} MB |",
    ]
    latency = results.get("latency")
    if latency and "error" not in latency:
        lines.append(f"| Drop-folder latency, file complete to record written (p50 / p99) | - | "
                     f"{_fmt(latency.get('latency_p50_s'))} / {_fmt(latency.get('latency_p99_s'))} s "
                     f"at {latency.get('rate_per_second', '?')} files/s |")
    lines += ["", "Baseline cost per stage (ms per story; share of the loop):", "",
              "| stage | ms/story | share |", "|---|---|---|"]
    items = max(base["items"], 1)
    total = sum(base["stage_seconds"].values())
    for stage in STAGES:
        spent = base["stage_seconds"][stage]
        lines.append(f"| {stage} | {1000 * spent / items:.3f} | {100 * spent / total:.1f}% |")
    lines.append(f"| total | {1000 * total / items:.3f} | 100% |")
    return "\n".join(lines)


def _fmt(value) -> str:
    return f"{value:.2f}" if isinstance(value, (int, float)) else str(value)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="SDK worker processes (default 2).")
    parser.add_argument("--latency", action="store_true",
                        help="Also measure drop-folder latency with bench/watch_bench.py.")
    parser.add_argument("--latency-rate", type=float, default=2.0, help="Files/s dropped (default 2).")
    parser.add_argument("--latency-seconds", type=float, default=20.0, help="Seconds of drops (default 20).")
    parser.add_argument("--profile", default=None, help="Write a cProfile of the baseline loop here.")
    parser.add_argument("--only", choices=("beam", "baseline"), default=None, help="Run one side only.")
    parser.add_argument("--files", type=int, default=11, help="Reuters files to read (default all 11).")
    parser.add_argument("--repeat", type=int, default=1,
                        help="Runs of each side, alternating; the fastest of each is reported (default 1).")
    parser.add_argument("--detect-declared", action="store_true",
                        help="In the loop, detect the language even where the format declares it "
                             "(costs the detector on every story; the records then differ from Beam's).")
    parser.add_argument("--without-dedup", action="store_true",
                        help="Leave dedup out of both sides (read, parse, enrich, write only).")
    parser.add_argument("--timeout", type=float, default=900.0,
                        help="Give up on a side after this many seconds (default 900).")
    parser.add_argument("--child", choices=("beam", "baseline", "fixed"), help=argparse.SUPPRESS)
    parser.add_argument("--json", default=str(RESULTS / "pipeline_bench.json"), help="JSON results file.")
    args = parser.parse_args(argv)
    if args.child:
        child_main(args.child, args)
        return 0
    if not CORPUS.is_dir():
        print(f"Reuters-21578 not found at {CORPUS}", file=sys.stderr)
        return 2

    results: dict = {"workers": args.workers, "cpus": os.cpu_count(),
                     "command": ["python", "bench/pipeline_bench.py"] + list(argv if argv is not None else sys.argv[1:]),
                     "load_average_at_start": os.getloadavg()}
    runs: dict[str, list] = {"baseline": [], "beam": []}
    for _ in range(args.repeat):
        for mode in ("baseline", "beam"):
            if args.only not in (None, mode):
                continue
            result = run_child(mode, args)
            result["load_average_at_start"] = os.getloadavg()[0]
            runs[mode].append(result)
            if "error" in result:
                print(f"{mode}: {result['error']}, peak {result['peak_rss_mb']:.0f} MB", file=sys.stderr)
                continue
            result["stories_per_second"] = result["items"] / result["seconds"]
            print(f"{mode}: {result['items']} items in {result['seconds']:.1f} s "
                  f"({result['stories_per_second']:.0f}/s), peak {result['peak_rss_mb']:.0f} MB, "
                  f"load {result['load_average_at_start']:.1f}", file=sys.stderr)
    pairs = [base["seconds"] / beam["seconds"] for base, beam in zip(runs["baseline"], runs["beam"])
             if "error" not in base and "error" not in beam]
    if pairs:
        results["pair_ratios"] = pairs
    for mode, done in runs.items():
        if done:
            finished = [run for run in done if "error" not in run]
            best = min(finished, key=lambda run: run["seconds"]) if finished else done[-1]
            results[mode] = dict(best, peak_rss_mb=max(run["peak_rss_mb"] for run in done), runs=[
                {key: run.get(key) for key in ("seconds", "peak_rss_mb", "load_average_at_start", "error")}
                for run in done])
    if args.only in (None, "beam"):
        results["fixed"] = _fixed_cost(args)
    if args.latency:
        results["latency"] = run_latency(args)
    results["dedup"] = not args.without_dedup
    results["repeat"] = args.repeat
    results["files"] = args.files
    if all("stories_per_second" in results.get(mode, {}) for mode in ("beam", "baseline")):
        results["ratio"] = results["beam"]["stories_per_second"] / results["baseline"]["stories_per_second"]
        if "fixed" in results:
            results["best_possible_ratio"] = best_possible_ratio(
                results["baseline"]["seconds"], results["fixed"]["seconds"], args.workers)
        print(markdown(results))
    elif "stories_per_second" in results.get("baseline", {}) and "beam" in results:
        beam = results["beam"]
        results["beam"] = {"stories_per_second": 0.0, "items": 0, "seconds": args.timeout,
                           "peak_rss_mb": beam["peak_rss_mb"]}
        results["ratio"] = 0.0
        print(markdown(results).replace("| 0 (0 items in", f"| {beam['error']} (0 items in"))
        results["beam"] = beam
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)
    print(json.dumps({k: v for k, v in results.items() if k not in ("beam", "baseline")}, indent=2),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
