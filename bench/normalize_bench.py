"""Cost of the normalizer: its share of the pipeline's per-story time, and alone.

Target (issue #3): normalizing is under 5% of the pipeline's per-story time.

**Share.** Over the Reuters-21578 archives (../shared/corpora/reuters21578
beside the repo), each pass runs the plain pipeline loop of
``bench/pipeline_bench.py`` -- ``read_file_input``, ``parse_raw_input``,
``enrich_item`` (normalize, language, assemble), the dedup core
``SequentialDeduplicator`` and the Avro writer -- with ``normalize_item``
timed inside ``enrich_item``, and prints normalize's share of the whole loop.
Every pass starts with the normalizer's memos empty, as a fresh worker does:
what repeats within one pass over the corpus is remembered, nothing from an
earlier pass. Setup (language profiles, schemas, the agency registry) is
outside the timing, as in a DoFn's ``setup()``.

**Alone.** ``normalize_item`` per story, memos emptied before each pass, on
Reuters and on the agency-format samples (../shared/corpora/wire_formats and
the repo's ``seeds/``): mean and percentiles in microseconds.

The CPU is shared: a busy machine inflates means and tails; the share is a
ratio within one pass and suffers less. The verdict uses the median pass.
``--clock cpu`` times with the thread's CPU time instead of the wall clock:
steadier on a loaded machine, at about 1 µs per timed call (a system call).

    .venv/bin/python bench/normalize_bench.py [--passes 3] [--corpus DIR] [--files 11] [--clock wall|cpu]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from transforms.model import DeadLetter, ParsedItem, RawInput, SourcePosition  # noqa: E402
from transforms.normalize import default_registry, normalize_item  # noqa: E402
from transforms.normalize.memo import forget_all  # noqa: E402
from bench.pipeline_bench import STAGES  # noqa: E402

CORPORA = ROOT.parent / "shared" / "corpora"
DEFAULT_CORPUS = CORPORA / "reuters21578"
SAMPLES = (CORPORA / "wire_formats", ROOT / "seeds")
TARGET_SHARE = 0.05
CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}
clock = CLOCKS["wall"]


def forget_memos() -> None:
    """Empty every memo of the normalizer: the next story meets a cold worker."""
    forget_all()
    default_registry().forget()


def pipeline_pass(paths: list[str], detector, output_dir: str) -> tuple[int, dict]:
    """One pass of pipeline_bench's plain loop; items and seconds per stage."""
    from bench.pipeline_bench import run_baseline

    result = run_baseline(paths, output_dir, clock=clock, detector=detector)
    return result["items"], result["stage_seconds"]


def measure_share(paths: list[str], passes: int) -> list[tuple[int, dict]]:
    from transforms.language.detect import LanguageDetector

    detector = LanguageDetector(seed=0)
    detector.load()
    default_registry()
    runs = []
    with tempfile.TemporaryDirectory(prefix="normalize-bench-") as output_dir:
        for _ in range(passes):
            forget_memos()
            runs.append(pipeline_pass(paths, detector, output_dir))
    return runs


def sample_items(folders) -> list[ParsedItem]:
    """Every item the parsers make of the files under ``folders``."""
    from transforms.parse import parse_raw_input

    items = []
    for folder in folders:
        for path in sorted(Path(folder).rglob("*")):
            if not path.is_file() or path.name == "MANIFEST.tsv":
                continue
            raw = RawInput(raw=path.read_bytes(), source=SourcePosition(kind="file", uri=str(path)),
                           filename=path.name)
            items.extend(r.item for r in parse_raw_input(raw) if not isinstance(r, DeadLetter))
    return items


def reuters_items(paths: list[str]) -> list[ParsedItem]:
    from transforms.formats import reuters_sgml

    items = []
    for path in paths:
        items.extend(r for r in reuters_sgml.parse(Path(path).read_bytes()) if isinstance(r, ParsedItem))
    return items


def time_alone(items: list[ParsedItem], passes: int) -> list[float]:
    """Seconds of ``normalize_item`` per story, every pass starting with empty memos."""
    per_story: list[float] = []
    for _ in range(passes):
        forget_memos()
        for item in items:
            start = clock()
            normalize_item(item)
            per_story.append(clock() - start)
    return per_story


def describe(name: str, items: list[ParsedItem], per_story: list[float]) -> str:
    us = sorted(s * 1e6 for s in per_story)
    quantile = lambda q: us[min(len(us) - 1, int(q * len(us)))]  # noqa: E731
    results = [normalize_item(item) for item in items]
    return (f"{name}: {len(items)} stories  mean {statistics.fmean(us):.1f} µs/story  "
            f"p50 {quantile(0.5):.1f}  p95 {quantile(0.95):.1f}  p99 {quantile(0.99):.1f}  max {us[-1]:.0f}"
            f"\n  datelines: {sum(r.dateline is not None for r in results)}  "
            f"with bylines: {sum(bool(r.bylines) for r in results)}  "
            f"with agencies: {sum(bool(r.agencies) for r in results)}  "
            f"with captions: {sum(bool(r.captions) for r in results)}  "
            f"unparsed credit strings: {sum(r.unparsed for r in results)}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="Reuters-21578 folder")
    parser.add_argument("--passes", type=int, default=3, help="timed passes of each measure (default 3)")
    parser.add_argument("--files", type=int, default=11, help="Reuters files to read (default all 11)")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="wall (time.perf_counter, default) or cpu (time.thread_time)")
    args = parser.parse_args(argv)
    global clock
    clock = CLOCKS[args.clock]
    if not args.corpus.is_dir():
        print(f"corpus not found: {args.corpus}", file=sys.stderr)
        return 1
    paths = sorted(str(path) for path in args.corpus.glob("reut2-*.sgm"))[:args.files]

    runs = measure_share(paths, args.passes)
    print(f"Pipeline loop over Reuters-21578, {len(paths)} files, {args.passes} passes, {args.clock} clock "
          "(ms/story per stage; normalize's share of the loop):")
    print("| pass | " + " | ".join(STAGES) + " | total | normalize share |")
    print("|---|" + "---|" * (len(STAGES) + 2))
    shares = []
    for number, (items, seconds) in enumerate(runs, 1):
        total = sum(seconds.values())
        shares.append(seconds["normalize"] / total)
        print(f"| {number} | " + " | ".join(f"{1000 * seconds[s] / items:.3f}" for s in STAGES)
              + f" | {1000 * total / items:.3f} | {shares[-1]:.1%} |")
    share = statistics.median(shares)
    print(f"normalize share of the per-story time: median {share:.1%} "
          f"(passes: {', '.join(f'{s:.1%}' for s in shares)}); target < {TARGET_SHARE:.0%}: "
          f"{'met' if share < TARGET_SHARE else 'NOT met'}")

    print(f"\nnormalize_item alone, {args.passes} passes, {args.clock} clock, memos emptied before each:")
    items = reuters_items(paths)
    time_alone(items[:200], 1)  # warm-up: imports, regex caches
    print(describe("reuters21578", items, time_alone(items, args.passes)))
    samples = sample_items([folder for folder in SAMPLES if folder.is_dir()])
    if samples:
        print(describe("wire_formats + seeds", samples, time_alone(samples, args.passes)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
