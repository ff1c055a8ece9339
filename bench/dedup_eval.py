"""Evaluate deduplication on Reuters-21578: pair recall/precision, copy variants, speed, memory.

Usage (from the repository root; a few minutes on 2 cores):

    .venv/bin/python bench/dedup_eval.py [--corpus ../shared/corpora/reuters21578]
        [--variants 200] [--memory-stories 200000] [--skip-beam]
        [--streaming-stories 2000]

What it reports:

1. Ground truth: pairs of Reuters stories whose exact Jaccard similarity of
   5-word shingles of the folded body (``fold_for_hash``) is >= 0.8, found
   exactly: candidates by an inverted index over prefix shingles (prefix
   filtering: two sets with Jaccard >= t share one of the first
   |s| - ceil(t|s|) + 1 shingles in a global order), each verified on the
   full shingle sets. Dedup is run in event-time order over every story
   (horizon one year, so that time does not hide pairs, and the default 72 h).
   Pair recall/precision are given for cluster pairs (two stories with the
   same ``cluster_id``) and for links (a story and its ``duplicate_of``).
2. Agency-copy variants of real stories (headline rewritten, last
   paragraphs trimmed, re-wrapped, paragraph added as an update, typos,
   another agency's dateline), injected 30 minutes after their original:
   recall per kind (variant in its original's cluster) and wrong merges
   (variant in another story's cluster).
3. Throughput of the dedup core vs datasketch MinHash(num_perm=128) +
   MinHashLSH(threshold=0.8) on the same stories in the same run, and of the
   Beam composite on the FnApiRunner (with its statuses compared with the core's).
   Streaming: the band-keyed steps (``transforms/dedup_streaming.py``) against
   the previous single-key ledger (``_DedupLedgerFn``) on the local streaming
   runner, same stories (earliest first), TestStream in hourly slices with a
   watermark advance after each, same run; statuses compared with the core's.
4. Memory: a synthetic stream (default 200,000 stories over 30 days of event
   time, horizon 72 h) through the core, and through the streaming state
   layout (per-bucket entries and the cluster ledger, driven by the same pure
   functions as the Beam steps, with their timers' expiry): the deep size of
   the core's structures, and the serialized bytes of the streaming state
   (what Flink keeps, one copy per key), measured as the stream goes; both
   must stay flat once the horizon is full.

Nothing from the corpus is written anywhere.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import math
import random
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from transforms import minhash  # noqa: E402
from transforms.dedup import (  # noqa: E402
    DUPLICATE,
    NEAR_DUPLICATE,
    UNIQUE,
    UPDATE,
    DedupConfig,
    SequentialDeduplicator,
)
from transforms.formats import reuters_sgml  # noqa: E402
from transforms.model import ParsedItem, SourcePosition, Story  # noqa: E402
from transforms.text import content_hash, fold_for_hash  # noqa: E402

DEFAULT_CORPUS = ROOT.parent / "shared" / "corpora" / "reuters21578"
GROUND_TRUTH_THRESHOLD = 0.8
SHINGLE = 5
YEAR_SECONDS = 366 * 24 * 3600


# --------------------------------------------------------------------------
# Corpus
# --------------------------------------------------------------------------


def read_reuters(corpus: Path) -> list[tuple[Story, ParsedItem]]:
    """Every story of the eleven files, with the parsed item it came from."""
    stories = []
    for path in sorted(corpus.glob("reut2-*.sgm")):
        for result in reuters_sgml.parse(path.read_bytes()):
            if not isinstance(result, ParsedItem):
                continue
            stories.append((story_from_item(result, path.name), result))
    return stories


def story_from_item(item: ParsedItem, filename: str, *, suffix: str = "", delay_ms: int = 0) -> Story:
    body = "\n\n".join(item.body_paragraphs)
    return Story(
        id=f"reuters-{item.item_id}{suffix}",
        format="reuters_sgml",
        headline=item.headline,
        body=body,
        source=SourcePosition(kind="file", uri=filename, item_index=item.item_index),
        ingested_at=0,
        event_time=(item.published_at or 0) + delay_ms,
        slugline=item.slugline,
        version=item.version,
        content_hash=content_hash(body),
    )


def shingle_set(body: str) -> frozenset:
    words = fold_for_hash(body).split()
    return frozenset(" ".join(words[i : i + SHINGLE]) for i in range(len(words) - SHINGLE + 1))


def exact_pairs(stories: list[Story], threshold: float) -> dict[tuple[str, str], float]:
    """All pairs with exact shingle Jaccard >= threshold (prefix filtering + verification)."""
    sets = {s.id: shingle_set(s.body) for s in stories}
    sets = {k: v for k, v in sets.items() if v}
    frequency = collections.Counter(sh for v in sets.values() for sh in v)
    index: dict[str, list[str]] = collections.defaultdict(list)
    pairs = {}
    for story_id, shingles in sorted(sets.items(), key=lambda kv: len(kv[1])):
        ordered = sorted(shingles, key=lambda sh: (frequency[sh], sh))
        prefix = len(ordered) - math.ceil(threshold * len(ordered)) + 1
        candidates = set()
        for sh in ordered[:prefix]:
            candidates.update(index[sh])
            index[sh].append(story_id)
        for other in candidates:
            a, b = sets[story_id], sets[other]
            if len(b) < threshold * len(a):  # length filter (b is never longer)
                continue
            j = len(a & b) / len(a | b)
            if j >= threshold:
                pairs[tuple(sorted((story_id, other)))] = j
    return pairs


def run_sequential(stories: list[Story], config: DedupConfig) -> dict[str, "DedupInfo"]:  # noqa: F821
    dedup = SequentialDeduplicator(config)
    return {s.id: dedup.add(s) for s in sorted(stories, key=lambda s: (s.event_time, s.id))}


def cluster_pairs(infos: dict) -> set[tuple[str, str]]:
    clusters = collections.defaultdict(list)
    for story_id, info in infos.items():
        clusters[info.cluster_id].append(story_id)
    pairs = set()
    for members in clusters.values():
        members.sort()
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                pairs.add((a, b))
    return pairs


def link_pairs(infos: dict) -> set[tuple[str, str]]:
    return {tuple(sorted((k, v.duplicate_of))) for k, v in infos.items() if v.duplicate_of}


def recall_precision(predicted: set, truth: set, universe: set) -> tuple[float, float, int, int]:
    predicted = {p for p in predicted if p[0] in universe and p[1] in universe}
    hit = len(predicted & truth)
    recall = hit / len(truth) if truth else 1.0
    precision = hit / len(predicted) if predicted else 1.0
    return recall, precision, len(truth), len(predicted)


# --------------------------------------------------------------------------
# Variants
# --------------------------------------------------------------------------

KINDS = ("headline", "trimmed", "rewrapped", "update", "typos", "dateline")
#: Not one of the issue's kinds: three typos in one copy, a stress case.
STRESS_KINDS = ("typos3",)


def make_variant(kind: str, item: ParsedItem, rng: random.Random) -> ParsedItem:
    paragraphs = list(item.body_paragraphs)
    headline = item.headline
    if kind == "headline":
        words = headline.split()
        headline = "Report: " + " ".join(reversed(words)).title()
    elif kind == "trimmed":
        total = sum(len(p.split()) for p in paragraphs)
        while len(paragraphs) > 2 and sum(len(p.split()) for p in paragraphs[:-1]) >= 0.7 * total:
            paragraphs.pop()
            if sum(len(p.split()) for p in paragraphs) <= 0.85 * total:
                break
    elif kind == "rewrapped":
        paragraphs = [textwrap.fill(p, width=rng.choice((38, 52, 90))) for p in paragraphs]
    elif kind == "update":
        headline = "UPDATE 1-" + headline
        paragraphs.append(
            "Officials said later on Thursday that further details would be given at a news "
            "conference next week, and declined to comment on the figures."
        )
    elif kind in ("typos", "typos3"):
        # Two typos (a copy with "typos fixed" differs by one or two words).
        words = " ".join(paragraphs).split(" ")
        long_words = [i for i, w in enumerate(words) if len(w) >= 6 and w.isalpha()]
        for i in rng.sample(long_words, min(3 if kind == "typos3" else 2, len(long_words))):
            w = words[i]
            k = rng.randrange(1, len(w) - 2)
            words[i] = w[:k] + w[k + 1] + w[k] + w[k + 2 :]
        paragraphs = [" ".join(words)]
    elif kind == "dateline":
        place = (item.dateline or "LONDON").split(",")[0].strip()
        paragraphs[0] = f"{place} (AP) - {paragraphs[0]}"
    return dataclasses.replace(item, headline=headline, body_paragraphs=tuple(paragraphs))


def variant_recall(stories_items, n_per_kind: int, config: DedupConfig, seed: int = 7) -> dict:
    rng = random.Random(seed)
    eligible = [
        (s, item)
        for s, item in stories_items
        if len(item.body_paragraphs) >= 3 and len(fold_for_hash(s.body).split()) >= 80 and s.event_time
    ]
    chosen = rng.sample(eligible, n_per_kind)
    variants = []
    for kind in KINDS + STRESS_KINDS:
        for s, item in chosen:
            v = make_variant(kind, item, rng)
            variants.append((kind, s.id, story_from_item(v, s.source.uri, suffix=f"-{kind}", delay_ms=30 * 60 * 1000)))
    all_stories = [s for s, _ in stories_items] + [v for _, _, v in variants]
    infos = run_sequential(all_stories, config)
    found = collections.Counter()
    wrong = collections.Counter()
    statuses = collections.defaultdict(collections.Counter)
    for kind, original, v in variants:
        info = infos[v.id]
        statuses[kind][info.status] += 1
        if info.cluster_id == infos[original].cluster_id:
            found[kind] += 1
        elif info.status != UNIQUE:
            wrong[kind] += 1
    return {
        "per_kind": {kind: found[kind] / n_per_kind for kind in KINDS + STRESS_KINDS},
        "overall": sum(found[kind] for kind in KINDS) / (n_per_kind * len(KINDS)),
        "wrong_merges": sum(wrong.values()),
        "statuses": {kind: dict(statuses[kind]) for kind in KINDS + STRESS_KINDS},
        "n": n_per_kind,
    }


# --------------------------------------------------------------------------
# Speed
# --------------------------------------------------------------------------


def throughput(stories: list[Story], config: DedupConfig, rounds: int = 2) -> dict:
    """Best of ``rounds`` alternating runs of each (the CPU is shared)."""
    ordered = sorted(stories, key=lambda s: (s.event_time, s.id))
    best = {"ours": 0.0, "datasketch": 0.0}
    for _ in range(rounds):
        start = time.perf_counter()
        run_sequential(ordered, config)
        best["ours"] = max(best["ours"], len(ordered) / (time.perf_counter() - start))
        best["datasketch"] = max(best["datasketch"], _datasketch_rate(ordered))
    return best


def _datasketch_rate(ordered: list[Story]) -> float:

    from datasketch import MinHash, MinHashLSH

    start = time.perf_counter()
    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    permutations = MinHash(num_perm=128, seed=1)
    found = 0
    for story in ordered:
        words = fold_for_hash(story.body).split()
        shingles = [" ".join(words[i : i + SHINGLE]).encode() for i in range(len(words) - SHINGLE + 1)]
        if not shingles:
            continue
        m = MinHash(num_perm=128, permutations=permutations.permutations, scheme=permutations.scheme)
        m.update_batch(shingles)
        found += bool(lsh.query(m))
        lsh.insert(story.id, m, check_duplication=False)
    return len(ordered) / (time.perf_counter() - start)


def beam_run(stories: list[Story], config: DedupConfig) -> tuple[float, dict]:
    """Stories/s of ``DeduplicateStories`` on the FnApiRunner, and its statuses."""
    import json
    import tempfile

    import apache_beam as beam
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner
    from apache_beam.transforms.window import TimestampedValue

    from transforms.dedup import DeduplicateStories
    from transforms.model import DedupInfo

    options = dataclasses.asdict(config)
    options.pop("seed")
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        with beam.Pipeline(runner=FnApiRunner()) as p:
            result = (
                p
                | beam.Create(stories)
                | beam.Map(lambda s: TimestampedValue(s, s.event_time / 1000))
                | DeduplicateStories(**options)
            )
            (
                result[DeduplicateStories.STORIES]
                | beam.Map(lambda s: json.dumps([s.id, dataclasses.asdict(s.dedup)]))
                | beam.io.WriteToText(f"{tmp}/statuses")
            )
        rate = len(stories) / (time.perf_counter() - start)
        out = {}
        for path in Path(tmp).glob("statuses*"):
            for line in path.read_text().splitlines():
                story_id, info = json.loads(line)
                out[story_id] = DedupInfo(**info)
    return rate, out


def streaming_run(stories: list[Story], config: DedupConfig, layout: str) -> tuple[float, dict]:
    """Stories/s of the streaming dedup on the local streaming runner, and its statuses.

    ``layout`` "band": ``DeduplicateStories`` (band-keyed steps); "single": the
    previous one-key ``_DedupLedgerFn``.
    """
    import json
    import tempfile

    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
    from apache_beam.testing import test_stream
    from apache_beam.transforms.window import TimestampedValue
    from apache_beam.utils.timestamp import Timestamp

    from transforms.dedup import DeduplicateStories, _DedupLedgerFn
    from transforms.local_streaming import local_streaming_runner
    from transforms.model import DedupInfo

    hour = 3600 * 1000
    stream = test_stream.TestStream()
    slices: dict[int, list[Story]] = {}
    for story in sorted(stories, key=lambda s: (s.event_time, s.id)):
        slices.setdefault(story.event_time // hour, []).append(story)
    for index in sorted(slices):
        stream = stream.add_elements(
            [TimestampedValue(s, Timestamp(micros=s.event_time * 1000)) for s in slices[index]])
        stream = stream.advance_watermark_to(Timestamp(micros=(index + 1) * hour * 1000))
    stream = stream.advance_watermark_to_infinity()
    options = PipelineOptions()
    options.view_as(StandardOptions).streaming = True
    with tempfile.TemporaryDirectory() as tmp:
        sink = f"{tmp}/statuses.jsonl"

        def record(story):
            with open(sink, "a", encoding="utf-8") as handle:
                handle.write(json.dumps([story.id, dataclasses.asdict(story.dedup)]) + "\n")

        p = beam.Pipeline(runner=local_streaming_runner(), options=options)
        raw = p | stream
        if layout == "band":
            kwargs = dataclasses.asdict(config)
            kwargs.pop("seed")
            marked = (raw | DeduplicateStories(**kwargs))[DeduplicateStories.STORIES]
        else:
            marked = (
                raw
                | "KeyForLedger" >> beam.Map(lambda s: ("ledger", s))
                | "DedupLedger" >> beam.ParDo(_DedupLedgerFn(config)).with_outputs("dead", main="marked")
            )["marked"]
        _ = marked | beam.Map(record)
        start = time.perf_counter()
        p.run().wait_until_finish()
        rate = len(stories) / (time.perf_counter() - start)
        out = {}
        for line in Path(sink).read_text().splitlines():
            story_id, info = json.loads(line)
            out[story_id] = DedupInfo(**info)
    return rate, out


# --------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------


def deep_size(obj, seen=None) -> int:
    """Bytes held by dicts/lists/tuples/strings/arrays reachable from ``obj``."""
    seen = set() if seen is None else seen
    stack = [obj]
    total = 0
    while stack:
        o = stack.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        total += sys.getsizeof(o)
        if isinstance(o, np.ndarray):
            total += 0 if o.base is not None else 0  # getsizeof includes owned data
        elif isinstance(o, dict):
            stack.extend(o.keys())
            stack.extend(o.values())
        elif isinstance(o, (list, tuple, set, frozenset)):
            stack.extend(o)
        elif dataclasses.is_dataclass(o) and not isinstance(o, type):
            stack.extend(getattr(o, f.name) for f in dataclasses.fields(o))
    return total


class StreamingStateModel:
    """The streaming steps' state without Beam: per-key index entries (expired
    as by the keys' timers, the watermark at each story's event time) and the
    cluster ledger, driven by the same functions as ``_BandIndexFn`` and
    ``_ClusterLedgerFn``. ``serialized`` counts the bytes Flink would keep:
    each key's bag holds its own pickled copy of an entry."""

    def __init__(self, config: DedupConfig):
        import heapq
        import pickle

        from transforms.dedup_streaming import bucket_matches, expire_entries, index_entries

        self._heapq, self._pickle = heapq, pickle
        self._bucket_matches, self._expire, self._index_entries = bucket_matches, expire_entries, index_entries
        self.config = config
        self.hasher = minhash.MinHasher(config.num_perm, config.seed)
        self.keys: dict[str, list] = {}
        self.key_bytes: dict[str, int] = {}
        self.timers: list[tuple[int, str]] = []
        self.ledger: dict[str, tuple[str, int]] = {}
        self.serialized = 0

    def add(self, story: Story) -> "DedupInfo":  # noqa: F821
        from transforms.dedup import decide, fingerprint, prune_ledger

        config = self.config
        fp = fingerprint(story, config, self.hasher)
        horizon = config.horizon_millis
        while self.timers and self.timers[0][0] < fp.event_time:  # timers the watermark passed
            _, key = self._heapq.heappop(self.timers)
            held = self.keys.get(key)
            if held is None:
                continue
            keep, _ = self._expire(held, fp.event_time, horizon)
            if keep:
                self.keys[key] = keep
                size = sum(len(self._pickle.dumps(e)) for e in keep)
                self.serialized += size - self.key_bytes[key]
                self.key_bytes[key] = size
                self._heapq.heappush(self.timers, (min(e.event_time for e in keep) + horizon, key))
            else:
                del self.keys[key]
                self.serialized -= self.key_bytes.pop(key)
        matches = []
        for key, band, entry in self._index_entries(fp, config):
            held = self.keys.setdefault(key, [])
            matches.extend(self._bucket_matches(band, entry, held, config))
            if not held:
                self._heapq.heappush(self.timers, (entry.event_time + horizon, key))
                self.key_bytes[key] = 0
            held.append(entry)
            size = len(self._pickle.dumps(entry))
            self.key_bytes[key] += size
            self.serialized += size
        info = decide(fp, matches, self.ledger, config)
        prune_ledger(self.ledger, fp.event_time, horizon)
        return info

    def state_bytes(self) -> int:
        return self.serialized + len(self._pickle.dumps(self.ledger))

    def stories(self) -> int:
        return len(self.ledger)


def memory_stream(n: int, days: int = 30, seed: int = 11, layout: str = "core") -> list[tuple[float, int, int]]:
    """(day, stories in state, state bytes) every n/40 stories of a synthetic stream.

    ``layout`` "core": deep size of ``SequentialDeduplicator``'s structures;
    "streaming": serialized bytes of the band-keyed streaming state.
    """
    rng = np.random.default_rng(seed)
    vocabulary = np.array([f"w{i}x{rng.integers(1 << 30)}" for i in range(20000)])
    config = DedupConfig()
    dedup = SequentialDeduplicator(config) if layout == "core" else StreamingStateModel(config)
    span = days * 24 * 3600 * 1000
    step = span // n
    recent: collections.deque = collections.deque(maxlen=500)
    points = []
    for i in range(n):
        if recent and rng.random() < 0.2:
            words = list(recent[rng.integers(len(recent))])
            for k in rng.integers(0, len(words), 4):
                words[k] = vocabulary[rng.integers(len(vocabulary))]
        else:
            words = list(vocabulary[rng.integers(0, len(vocabulary), int(rng.integers(60, 250)))])
        recent.append(words)
        story = Story(
            id=f"s{i:07d}",
            format="synthetic",
            headline="",
            body=" ".join(words),
            source=SourcePosition(kind="file", uri="synthetic"),
            ingested_at=0,
            event_time=i * step,
        )
        dedup.add(story)
        if (i + 1) % max(1, n // 40) == 0:
            if layout == "core":
                state = (dedup.buckets, dedup.fingerprints, dedup.ledger, dedup._expiry)
                points.append((i * step / 86400000, len(dedup.fingerprints), deep_size(state)))
            else:
                points.append((i * step / 86400000, dedup.stories(), dedup.state_bytes()))
    return points


# --------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="Reuters-21578 folder")
    parser.add_argument("--variants", type=int, default=200, help="stories per variant kind")
    parser.add_argument("--memory-stories", type=int, default=200000, help="synthetic stream length")
    parser.add_argument("--skip-beam", action="store_true", help="do not time the Beam composite")
    parser.add_argument(
        "--beam-stories", type=int, default=2000, help="stories (earliest first) for the Beam run"
    )
    parser.add_argument(
        "--streaming-stories", type=int, default=2000,
        help="stories (earliest first) for the streaming runs on the local runner (0: skip)")
    parser.add_argument(
        "--only", choices=("all", "streaming", "memory"), default="all",
        help="run only the streaming comparison or only the memory figures")
    args = parser.parse_args(argv)

    if args.only == "memory":
        memory_report(args.memory_stories)
        return 0
    t0 = time.perf_counter()
    items = read_reuters(args.corpus)
    stories = [s for s, _ in items]
    with_body = [s for s in stories if shingle_set(s.body)]
    print(f"corpus: {len(stories)} stories, {len(with_body)} with >= {SHINGLE} words ({time.perf_counter() - t0:.1f}s)")

    if args.only == "streaming":
        streaming_report(stories, args.streaming_stories)
        return 0
    t0 = time.perf_counter()
    truth = exact_pairs(stories, GROUND_TRUTH_THRESHOLD)
    print(f"ground truth: {len(truth)} pairs with exact Jaccard >= {GROUND_TRUTH_THRESHOLD} ({time.perf_counter() - t0:.1f}s)")
    universe = {s.id for s in with_body}
    truth_set = set(truth)

    for label, config in (
        ("defaults, horizon 1 year", DedupConfig(horizon_seconds=YEAR_SECONDS)),
        ("defaults, horizon 72 h", DedupConfig()),
        (
            "Jaccard only (containment and marker rules off), horizon 1 year",
            DedupConfig(horizon_seconds=YEAR_SECONDS, containment=None, update_threshold=None),
        ),
    ):
        infos = run_sequential(stories, config)
        counts = collections.Counter(i.status for i in infos.values())
        r, p, nt, npred = recall_precision(cluster_pairs(infos), truth_set, universe)
        lr, lp, _, nlink = recall_precision(link_pairs(infos), truth_set, universe)
        # Links that are not in the ground truth, by status: what precision loses.
        misses = collections.Counter(
            infos[a if infos[a].duplicate_of == b else b].status
            for a, b in link_pairs(infos)
            if (a, b) not in truth_set and a in universe and b in universe
        )
        print(f"\n[{label}] statuses: {dict(counts)}")
        print(f"  cluster pairs: recall {r:.4f} precision {p:.4f} (truth {nt}, predicted {npred})")
        print(f"  links:         recall {lr:.4f} precision {lp:.4f} (predicted {nlink}); links below 0.8 by status: {dict(misses)}")

    threshold_rows = []
    for threshold in (0.7, 0.75, 0.8, 0.85, 0.9):
        config = DedupConfig(
            horizon_seconds=YEAR_SECONDS, threshold=threshold, containment=None, update_threshold=None
        )
        infos = run_sequential(stories, config)
        r, p, _, _ = recall_precision(cluster_pairs(infos), truth_set, universe)
        threshold_rows.append((threshold, r, p))
    print("\nthreshold sweep (Jaccard only, horizon 1 year, cluster pairs): " + ", ".join(f"{t}: R {r:.4f} P {p:.4f}" for t, r, p in threshold_rows))

    t0 = time.perf_counter()
    variants = variant_recall(items, args.variants, DedupConfig(horizon_seconds=YEAR_SECONDS))
    print(f"\nvariants ({variants['n']} per kind, {time.perf_counter() - t0:.1f}s): overall recall {variants['overall']:.4f}, wrong merges {variants['wrong_merges']}")
    for kind in KINDS + STRESS_KINDS:
        print(f"  {kind:10s} recall {variants['per_kind'][kind]:.4f}  statuses {variants['statuses'][kind]}")

    speed = throughput(stories, DedupConfig())
    print(f"\nthroughput ({len(stories)} stories, same run, best of 2): dedup core {speed['ours']:.0f} stories/s, datasketch MinHash(128)+MinHashLSH(0.8) {speed['datasketch']:.0f} stories/s")

    if not args.skip_beam:
        config = DedupConfig()
        subset = sorted(stories, key=lambda s: (s.event_time, s.id))[: args.beam_stories]
        rate, beam_infos = beam_run(subset, config)
        reference = run_sequential(subset, config)
        same = sum(1 for k, v in reference.items() if beam_infos.get(k) == v)
        linked = sum(1 for v in reference.values() if v.status != UNIQUE)
        print(
            f"Beam composite on FnApiRunner, first {len(subset)} stories ({linked} not UNIQUE): "
            f"{rate:.1f} stories/s; statuses identical to the core for {same}/{len(reference)}"
        )

    if args.streaming_stories:
        streaming_report(stories, args.streaming_stories)
    if args.memory_stories:
        memory_report(args.memory_stories)
    return 0


def streaming_report(stories: list[Story], count: int) -> None:
    config = DedupConfig()
    subset = sorted(stories, key=lambda s: (s.event_time, s.id))[:count]
    reference = run_sequential(subset, config)
    linked = sum(1 for v in reference.values() if v.status != UNIQUE)
    span = (subset[-1].event_time - subset[0].event_time) / 3600000
    print(f"\nstreaming, local streaming runner, first {len(subset)} stories ({linked} not UNIQUE, "
          f"{span:.0f} h of event time, hourly watermark steps), same run:")
    for layout, label in (("single", "single-key ledger (previous DedupLedger)"),
                          ("band", "band-keyed steps (DedupBandIndex + DedupClusterLedger)")):
        rate, infos = streaming_run(subset, config, layout)
        same = sum(1 for k, v in reference.items() if infos.get(k) == v)
        print(f"  {label}: {rate:.1f} stories/s; statuses identical to the core for {same}/{len(reference)}")


def memory_report(n: int) -> None:
    for layout, what in (("core", "deep size of the core's structures"),
                         ("streaming", "serialized bytes of the streaming steps' state")):
        t0 = time.perf_counter()
        points = memory_stream(n, layout=layout)
        full = [p for p in points if p[0] >= 3.0]
        print(f"\nmemory ({what}), synthetic stream of {n} stories over 30 days, horizon 72 h ({time.perf_counter() - t0:.0f}s):")
        for day, kept, size in points[:: max(1, len(points) // 10)]:
            print(f"  day {day:5.1f}: {kept:6d} stories in state, {size / 1e6:6.1f} MB")
        if full:
            sizes = [p[2] for p in full]
            print(f"  after the horizon is full: min {min(sizes) / 1e6:.1f} MB, max {max(sizes) / 1e6:.1f} MB, last {sizes[-1] / 1e6:.1f} MB")


if __name__ == "__main__":
    sys.exit(main())
