"""Cost of ``normalize_item`` per story on the Reuters-21578 corpus.

Reads the archives from ../shared/corpora/reuters21578 (beside the repo),
parses them with the Reuters SGML parser (not timed in the main figure), then
times ``normalize_item`` over every story, several passes, and prints the
mean and percentiles in microseconds per story, the part of it spent in the
shared ``normalize_text``, and the parser's own per-story cost for scale.
The CPU is shared: on a busy machine the mean and p99 suffer from
preemption, the median much less. Also prints how many stories got a dateline,
bylines and agencies, and how many credit strings went unparsed.

    .venv/bin/python bench/normalize_bench.py [--passes 3] [--corpus DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from transforms.formats import reuters_sgml  # noqa: E402
from transforms.model import ParsedItem  # noqa: E402
from transforms.normalize import default_registry, normalize_item  # noqa: E402
from transforms.text import normalize_text  # noqa: E402

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "reuters21578"


def load(corpus: Path) -> tuple[list[ParsedItem], float]:
    """Every parsed story, and the parser's seconds for all of them."""
    items: list[ParsedItem] = []
    parse_seconds = 0.0
    for path in sorted(corpus.glob("reut2-*.sgm")):
        data = path.read_bytes()
        start = time.perf_counter()
        results = reuters_sgml.parse(data)
        parse_seconds += time.perf_counter() - start
        items.extend(r for r in results if isinstance(r, ParsedItem))
    return items, parse_seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="Reuters-21578 folder")
    parser.add_argument("--passes", type=int, default=3, help="timed passes over the corpus (default 3)")
    args = parser.parse_args(argv)
    if not args.corpus.is_dir():
        print(f"corpus not found: {args.corpus}", file=sys.stderr)
        return 1
    items, parse_seconds = load(args.corpus)
    default_registry()  # load once, outside the timing, as a DoFn's setup() would
    for item in items[:200]:  # warm-up
        normalize_item(item)

    per_story: list[float] = []
    pass_means = []
    for _ in range(args.passes):
        start_pass = time.perf_counter()
        for item in items:
            start = time.perf_counter()
            normalize_item(item)
            per_story.append(time.perf_counter() - start)
        pass_means.append((time.perf_counter() - start_pass) / len(items))

    # How much of it is the shared text normalization every field goes through anyway.
    start = time.perf_counter()
    for item in items:
        normalize_text(item.headline)
        for paragraph in item.body_paragraphs:
            normalize_text(paragraph)
    text_us = (time.perf_counter() - start) / len(items) * 1e6

    results = [normalize_item(item) for item in items]
    per_story_us = sorted(s * 1e6 for s in per_story)
    quantile = lambda q: per_story_us[min(len(per_story_us) - 1, int(q * len(per_story_us)))]  # noqa: E731
    mean_us = statistics.fmean(per_story_us)
    parse_us = parse_seconds / len(items) * 1e6
    print(f"stories: {len(items)}  passes: {args.passes}")
    print(f"normalize_item: mean {mean_us:.1f} µs/story  (pass means "
          + ", ".join(f"{m * 1e6:.1f}" for m in pass_means)
          + f")  p50 {quantile(0.5):.1f}  p95 {quantile(0.95):.1f}  p99 {quantile(0.99):.1f}  max {per_story_us[-1]:.0f}")
    print(f"of which transforms.text.normalize_text on headline and body: {text_us:.1f} µs/story")
    print(f"reuters_sgml.parse for scale: {parse_us:.1f} µs/story; normalize is "
          f"{mean_us / (mean_us + parse_us):.0%} of parse+normalize")
    print(f"datelines: {sum(r.dateline is not None for r in results)}  "
          f"with bylines: {sum(bool(r.bylines) for r in results)}  "
          f"with agencies: {sum(bool(r.agencies) for r in results)}  "
          f"unparsed credit strings: {sum(r.unparsed for r in results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
