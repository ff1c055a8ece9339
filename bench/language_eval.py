"""Evaluate language detection on real corpora; prints the issue's three figures.

Figures are given for all the data and for two halves: the detector's
weights (``transforms.language``) were tuned on the "tune" half (Reuters
files 000-005; the first 250 lingua sentences of each language) and the
"held-out" half was not looked at while tuning.

1. Reuters-21578 (``../shared/corpora/reuters21578/*.sgm``, parsed with
   ``transforms.formats.reuters_sgml`` and normalized like the pipeline
   does): the share of stories detected English. The format declares
   ``en``; the declaration is ignored here so that the detector itself is
   measured on wire copy with earnings tables and ALL-CAPS headlines.
2. lingua's labelled sentences (``../shared/corpora/langid_lingua``):
   the share detected right, over the labels langdetect supports
   (``MANIFEST.tsv`` maps labels to langdetect codes).
3. Cost: language detection's share of the per-story time of parse +
   normalize + language on the Reuters stories.

Usage::

    .venv/bin/python bench/language_eval.py [--limit-reuters N] [--per-language N]
        [--json bench/results/language_eval.json] [--compare-langdetect]
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from transforms.language import LanguageDetector  # noqa: E402

CORPORA = ROOT.parent / "shared" / "corpora"
REUTERS = CORPORA / "reuters21578"
LINGUA = CORPORA / "langid_lingua"


#: Reuters files the detector's weights were tuned on; the rest are held out.
REUTERS_TUNE_FILES = 6
#: lingua sentences tuned on: the first this many of each language file.
LINGUA_TUNE_LINES = 250


def reuters_items(limit: int | None = None, half: str | None = None):
    """``ParsedItem`` of every Reuters story, in file order (parse time returned too).

    ``half``: ``"tune"`` (files 000-005), ``"held-out"`` (006-010) or None (all).
    """
    from transforms.formats import reuters_sgml
    from transforms.model import ParsedItem

    items, seconds = [], 0.0
    paths = sorted(REUTERS.glob("reut2-*.sgm"))
    if half == "tune":
        paths = paths[:REUTERS_TUNE_FILES]
    elif half == "held-out":
        paths = paths[REUTERS_TUNE_FILES:]
    for path in paths:
        data = path.read_bytes()
        start = time.perf_counter()
        results = reuters_sgml.parse(data)
        seconds += time.perf_counter() - start
        items.extend(r for r in results if isinstance(r, ParsedItem))
        if limit and len(items) >= limit:
            return items[:limit], seconds
    return items, seconds


def eval_reuters(detector: LanguageDetector, limit: int | None = None, half: str | None = None) -> dict:
    from transforms.normalize import normalize_item

    items, parse_seconds = reuters_items(limit, half)
    counts: collections.Counter = collections.Counter()
    wrong = []
    normalize_seconds = language_seconds = 0.0
    for item in items:
        start = time.perf_counter()
        normalized = normalize_item(item)
        middle = time.perf_counter()
        code, _ = detector.detect(normalized.headline, "\n".join(normalized.body_paragraphs), None)
        language_seconds += time.perf_counter() - middle
        normalize_seconds += middle - start
        counts[code] += 1
        if code != "en":
            wrong.append((item.item_id, code, normalized.headline[:60]))
    total = len(items)
    story_seconds = parse_seconds + normalize_seconds + language_seconds
    return {
        "stories": total,
        "english": counts["en"],
        "english_share": counts["en"] / total if total else 0.0,
        "not_english": dict(counts.most_common()) | {"en": None},
        "examples_not_english": wrong[:15],
        "ms_per_story": {
            "parse": 1000 * parse_seconds / total,
            "normalize": 1000 * normalize_seconds / total,
            "language": 1000 * language_seconds / total,
        },
        "language_share_of_story_time": language_seconds / story_seconds if story_seconds else 0.0,
    }


def lingua_sentences(per_language: int | None = None, half: str | None = None):
    """``(text, accepted codes, label)`` for every sentence with a langdetect code.

    ``half``: ``"tune"`` (the first ``LINGUA_TUNE_LINES`` of each language),
    ``"held-out"`` (the rest) or None (all).
    """
    with open(LINGUA / "MANIFEST.tsv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    for row in rows:
        codes = row["langdetect_code_or_empty_if_unsupported"]
        if row["kind"] != "sentences" or not codes:
            continue
        accepted = frozenset(codes.split("|"))
        with open(CORPORA / row["local_path"], encoding="utf-8") as lines:
            taken = seen = 0
            for line in lines:
                line = line.strip()
                if not line:
                    continue
                seen += 1
                if (half == "tune" and seen > LINGUA_TUNE_LINES) or (
                        half == "held-out" and seen <= LINGUA_TUNE_LINES):
                    continue
                yield line, accepted, row["label_iso639_1"]
                taken += 1
                if per_language and taken >= per_language:
                    break


def eval_lingua(detect, per_language: int | None = None, half: str | None = None) -> dict:
    total = right = 0
    confusions: collections.Counter = collections.Counter()
    per_label: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    start = time.perf_counter()
    for text, accepted, label in lingua_sentences(per_language, half):
        code = detect(text)
        total += 1
        per_label[label][1] += 1
        if code in accepted:
            right += 1
            per_label[label][0] += 1
        else:
            confusions[f"{label}->{code}"] += 1
    seconds = time.perf_counter() - start
    worst = sorted(((k / n, label) for label, (k, n) in per_label.items()))[:8]
    return {
        "sentences": total,
        "right": right,
        "accuracy": right / total if total else 0.0,
        "ms_per_sentence": 1000 * seconds / total if total else 0.0,
        "worst_labels": [(label, round(share, 4)) for share, label in worst],
        "top_confusions": confusions.most_common(12),
    }


def langdetect_baseline(seed: int = 0):
    """The previous detector (seeded langdetect on the raw text), for comparison."""
    from langdetect import DetectorFactory, detector_factory
    from langdetect.detector_factory import init_factory
    from langdetect.lang_detect_exception import LangDetectException

    DetectorFactory.seed = seed
    init_factory()

    def detect(text: str) -> str:
        try:
            detector = detector_factory._factory.create()
            detector.append(text[:1200])
            return detector.detect()
        except LangDetectException:
            return "und"

    return detect


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit-reuters", type=int, default=None,
                        help="Only the first N Reuters stories (default: all, ~10,300).")
    parser.add_argument("--per-language", type=int, default=None,
                        help="Only the first N sentences per language (default: all, ~500).")
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "language_eval.json"),
                        help="Write the results here as JSON.")
    parser.add_argument("--compare-langdetect", action="store_true",
                        help="Also score plain seeded langdetect on the sentences (slow: ~2 min).")
    args = parser.parse_args(argv)
    if not REUTERS.is_dir() or not LINGUA.is_dir():
        print(f"corpora not found under {CORPORA}", file=sys.stderr)
        return 2

    detector = LanguageDetector(seed=0)
    start = time.perf_counter()
    detector.load()
    load_seconds = time.perf_counter() - start
    reuters = eval_reuters(detector, args.limit_reuters)
    detect = lambda text: detector.detect("", text)[0]  # noqa: E731
    lingua = eval_lingua(detect, args.per_language)
    halves = {}
    for half in ("tune", "held-out"):
        halves[half] = {
            "reuters": eval_reuters(detector, args.limit_reuters, half),
            "lingua_sentences": eval_lingua(detect, args.per_language, half),
        }
    results = {"load_seconds": load_seconds, "reuters": reuters, "lingua_sentences": lingua,
               "halves": halves}
    if args.compare_langdetect:
        results["lingua_sentences_langdetect"] = eval_lingua(langdetect_baseline(), args.per_language)

    print("| figure | target | result |")
    print("|---|---|---|")
    print(f"| Reuters-21578 stories detected English (declared language ignored) | >= 99.5% | "
          f"{100 * reuters['english_share']:.2f}% ({reuters['english']}/{reuters['stories']}) |")
    print(f"| lingua sentences right (52 langdetect languages) | >= 99% | "
          f"{100 * lingua['accuracy']:.2f}% ({lingua['right']}/{lingua['sentences']}) |")
    if args.compare_langdetect:
        base = results["lingua_sentences_langdetect"]
        print(f"| same, plain seeded langdetect (before) | - | {100 * base['accuracy']:.2f}% "
              f"({base['ms_per_sentence']:.2f} ms/sentence) |")
    for half, figures in halves.items():
        r, s = figures["reuters"], figures["lingua_sentences"]
        print(f"| {half} half: Reuters English / lingua right | >= 99.5% / >= 99% | "
              f"{100 * r['english_share']:.2f}% ({r['english']}/{r['stories']}) / "
              f"{100 * s['accuracy']:.2f}% ({s['right']}/{s['sentences']}) |")
    ms = reuters["ms_per_story"]
    print(f"| language detection share of per-story time (parse+normalize+language) | <= 50% | "
          f"{100 * reuters['language_share_of_story_time']:.1f}% "
          f"(parse {ms['parse']:.3f}, normalize {ms['normalize']:.3f}, "
          f"language {ms['language']:.3f} ms/story) |")
    print(f"| language detection, ms per story (Reuters) / per sentence (lingua) | - | "
          f"{ms['language']:.3f} / {lingua['ms_per_sentence']:.3f} |")
    print(f"\nnot English on Reuters: {reuters['not_english']}")
    print(f"worst lingua labels: {lingua['worst_labels']}")
    print(f"top confusions: {lingua['top_confusions']}")
    print(f"Reuters not English, examples: {reuters['examples_not_english']}")
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
