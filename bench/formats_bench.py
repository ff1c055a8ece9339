"""Parse throughput per delivery format on the real samples (stories/s, ms per story).

Reads ../shared/corpora/wire_formats (MANIFEST.tsv) and the Reuters-21578
archives beside the project; times ``parse_bytes`` (detection and
decoding included) on every sample of each format, repeated until each
format has run for ``--seconds``. Reports, per format:

  - stories/s: all stories the samples gave / all time spent on them,
    including samples that hold no story (pictures, events, packages), so
    it is conservative;
  - ms/story (typical): the median, over samples that give stories, of the
    sample's parse time divided by its stories; the 1 ms target applies to
    this figure (``--limit-ms``; exit status 1 when exceeded);
  - ms/story (worst): the slowest such sample, for the record.

Times are the process's CPU time (``time.process_time``), not wall time:
on a shared machine wall time mostly measures the wait for a CPU. The
load average is printed first for the record.

Usage: .venv/bin/python bench/formats_bench.py [--seconds 1.0] [--limit-ms 1.0]
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from transforms.formats import parse_bytes  # noqa: E402
from transforms.model import ParsedItem, ParseError  # noqa: E402

CORPORA = Path(__file__).resolve().parents[1].parent / "shared" / "corpora"


def _samples() -> dict[str, list[tuple[str, bytes, str | None]]]:
    by_format: dict[str, list[tuple[str, bytes, str | None]]] = defaultdict(list)
    manifest = CORPORA / "wire_formats" / "MANIFEST.tsv"
    with manifest.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            if row["format"] == "other_agency_xml":
                continue
            path = CORPORA / row["local_path"]
            hint = row["format"] if row["format"] == "aap_text" else None
            by_format[row["format"]].append((path.name, path.read_bytes(), hint))
    for path in sorted((CORPORA / "reuters21578").glob("reut2-*.sgm")):
        by_format["reuters_sgml"].append((path.name, path.read_bytes(), None))
    return by_format


def _stories(data: bytes, name: str, hint: str | None) -> int:
    try:
        _, results = parse_bytes(data, filename=name, hint=hint)
    except ParseError:
        return 0
    return sum(isinstance(r, ParsedItem) for r in results)


def _time_sample(data: bytes, name: str, hint: str | None, seconds: float) -> float:
    """Seconds per parse of one sample (best of repeated runs of ``seconds`` total)."""
    best = float("inf")
    deadline = time.perf_counter() + seconds
    while True:
        started = time.process_time()
        runs = 0
        while runs < 5 or time.process_time() - started < 0.02:
            try:
                parse_bytes(data, filename=name, hint=hint)
            except ParseError:
                pass
            runs += 1
        best = min(best, (time.process_time() - started) / runs)
        if time.perf_counter() >= deadline:
            return best


def bench(seconds: float) -> list[tuple[str, int, int, float, float, float]]:
    """``(format, inputs, stories, stories/s, typical ms/story, worst ms/story)`` per format."""
    rows = []
    for fmt, samples in sorted(_samples().items()):
        per_sample = seconds / len(samples)
        total_time = 0.0
        total_stories = 0
        per_story_ms = []
        for name, data, hint in samples:
            stories = _stories(data, name, hint)
            elapsed = _time_sample(data, name, hint, per_sample)
            total_time += elapsed
            total_stories += stories
            if stories:
                per_story_ms.append(elapsed / stories * 1000)
        rows.append((fmt, len(samples), total_stories, total_stories / total_time if total_time else 0.0,
                     statistics.median(per_story_ms) if per_story_ms else float("nan"),
                     max(per_story_ms) if per_story_ms else float("nan")))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="minimum run time per format, seconds")
    parser.add_argument("--limit-ms", type=float, default=1.0, help="fail above this many ms per story")
    args = parser.parse_args()
    if not (CORPORA / "wire_formats" / "MANIFEST.tsv").exists():
        print(f"samples not found in {CORPORA}", file=sys.stderr)
        return 2
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average {load:.2f} on {os.cpu_count()} CPUs")
    rows = bench(args.seconds)
    print(f"{'format':<20} {'inputs':>6} {'stories':>7} {'stories/s':>10} {'ms/story typ':>12} {'worst':>7}")
    slow = []
    for fmt, inputs, stories, rate, typical, worst in rows:
        print(f"{fmt:<20} {inputs:>6} {stories:>7} {rate:>10.0f} {typical:>12.3f} {worst:>7.3f}")
        if typical > args.limit_ms:
            slow.append(fmt)
    if slow:
        print(f"slower than {args.limit_ms} ms per story: {', '.join(slow)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
