"""Tests for transforms/dedup/__init__.py and transforms/dedup/minhash.py.

Pure functions directly; the composite under FnApiRunner (batch) and under
TestStream on Prism, the local streaming runner (streaming), which must agree.
"""

from __future__ import annotations

import dataclasses

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing import test_stream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import Timestamp

from pipelines.runners import resolve_runner
from transforms.dedup import minhash
from transforms.dedup.core import (
    DUPLICATE,
    NEAR_DUPLICATE,
    STATEFUL_STEP_NAMES,
    UNIQUE,
    UPDATE,
    DedupConfig,
    SequentialDeduplicator,
    update_level,
)
from transforms.dedup import DeduplicateStories
from transforms.model import DeadLetter, SourcePosition, Story
from transforms.text import content_hash, fold_for_hash

HOUR = 3600 * 1000
T0 = 1_700_000_000_000

# --- stories written for these tests (modelled on agency copy, not copied) ---

PORT = (
    "ROTTERDAM, March 3 - Dock workers at the port of Rotterdam will strike for 48 hours "
    "from Thursday in a dispute over pay and staffing levels, the transport union said on Tuesday. "
    "The union said talks with the employers association had broken down after three weeks "
    "without an agreement on the new contract. "
    "A spokesman for the port authority said ships would be diverted to Antwerp and Hamburg "
    "during the strike and that perishable cargo would be handled first. "
    "The union represents about 6,000 workers at the container and bulk terminals."
)
PORT_COPY_OTHER_AGENCY = PORT.replace("ROTTERDAM, March 3 -", "ROTTERDAM (AP) -")
PORT_UPDATE = PORT + (
    " Employers said late on Tuesday they would present a new offer on Wednesday morning, "
    "and the union said it would consider it before deciding whether to go ahead."
)
OIL = (
    "TOKYO, March 4 - Japan's crude oil imports rose 4.2 pct in February from a year earlier "
    "to 14.1 mln kilolitres, the ministry of international trade and industry said. "
    "Imports from the Middle East accounted for 68 pct of the total against 71 pct a year ago, "
    "while imports from China and Indonesia increased sharply."
)
BRIEF_A = "Shr 45 cts vs 58 cts Net 1,234,000 vs 1,567,000 Revs 12.3 mln vs 10.1 mln Year Shr 1.80 dlrs vs 2.10 dlrs"
BRIEF_B = "Shr 12 cts vs 31 cts Net 402,000 vs 988,000 Revs 7.6 mln vs 8.9 mln Year Shr 0.95 dlrs vs 1.12 dlrs"


def make_story(story_id: str, body: str, hours: float = 0.0, headline: str = "HEADLINE", **fields) -> Story:
    """A minimal enriched Story as the enrich step hands it to dedup."""
    return Story(
        id=story_id,
        format="plain_text",
        headline=headline,
        body=body,
        source=SourcePosition(kind="file", uri=f"file:///tmp/{story_id}.txt"),
        ingested_at=T0,
        event_time=T0 + int(hours * HOUR),
        content_hash=content_hash(body) if isinstance(body, str) else "",
        **fields,
    )


def statuses(stories) -> dict[str, tuple]:
    return {s.id: (s.dedup.status, s.dedup.cluster_id, s.dedup.duplicate_of) for s in stories}


def sequential(stories, **options) -> dict[str, tuple]:
    dedup = SequentialDeduplicator(DedupConfig(**options))
    out = []
    for story in sorted(stories, key=lambda s: (s.event_time, s.id)):
        out.append(dataclasses.replace(story, dedup=dedup.add(story)))
    return statuses(out)


SCENARIO = [
    make_story("a1", PORT, 0),
    make_story("a2", PORT_COPY_OTHER_AGENCY, 1),
    make_story("a3", PORT, 2),
    make_story("a4", PORT_UPDATE, 3, headline="UPDATE 1-Rotterdam dock workers to strike"),
    make_story("o1", OIL, 0.5),
    make_story("b1", BRIEF_A, 1),
    make_story("b2", BRIEF_B, 1),
    make_story("s1", "No comment.", 0),
    make_story("s2", "No  comment!", 1),
    make_story("e1", "", 0),
    make_story("e2", "", 1),
]
EXPECTED = {
    "a1": (UNIQUE, "a1", None),
    "a2": (NEAR_DUPLICATE, "a1", "a1"),
    "a3": (DUPLICATE, "a1", "a1"),
    "a4": (UPDATE, "a1", "a1"),
    "o1": (UNIQUE, "o1", None),
    "b1": (UNIQUE, "b1", None),
    "b2": (UNIQUE, "b2", None),
    "s1": (UNIQUE, "s1", None),
    "s2": (DUPLICATE, "s1", "s1"),
    "e1": (UNIQUE, "e1", None),
    "e2": (UNIQUE, "e2", None),
}


# --- pure functions ---


def test_shingles_ignore_case_spacing_and_punctuation():
    first = minhash.shingle_hashes(fold_for_hash("The Port, of Rotterdam will strike on Thursday"))
    second = minhash.shingle_hashes(fold_for_hash("the port of   ROTTERDAM will strike -- on thursday!"))
    assert first.size == 4
    assert np.array_equal(first, second)


def test_short_body_has_no_shingles():
    assert minhash.shingle_hashes("four words only here", 5).size == 0
    with pytest.raises(ValueError):
        minhash.MinHasher(8).signature(minhash.shingle_hashes("", 5))


def test_signature_estimates_jaccard():
    hasher = minhash.MinHasher(256, seed=3)
    words = [f"w{i}" for i in range(400)]
    a = minhash.shingle_hashes(" ".join(words))
    b = minhash.shingle_hashes(" ".join(words[:300] + [f"x{i}" for i in range(100)]))
    exact = minhash.jaccard(a, b)
    estimate = minhash.estimate_jaccard(hasher.signature(a), hasher.signature(b))
    assert 0.55 < exact < 0.65
    assert abs(estimate - exact) < 0.1


def test_band_keys_are_deterministic_and_band_specific():
    sig = np.array([7, 7, 7, 7, 7, 7], dtype=np.uint32)
    keys = minhash.band_keys(sig, 3, 2)
    assert keys == minhash.band_keys(sig.copy(), 3, 2)
    assert len(set(keys)) == 3
    with pytest.raises(ValueError):
        minhash.band_keys(sig, 4, 2)


def test_lsh_probability_favours_near_duplicates():
    assert minhash.lsh_candidate_probability(0.8, 16, 3) > 0.9999
    assert minhash.lsh_candidate_probability(0.1, 16, 3) < 0.02


@pytest.mark.parametrize(
    "headline,slugline,version,level",
    [
        ("Dock workers to strike", None, None, 0),
        ("UPDATE 2-Dock workers to strike", None, None, 2),
        ("CORRECTED - DOCK WORKERS TO STRIKE", None, None, 1),
        ("Dock workers to strike", "BC-PORT-STRIKE-2NDLD", None, 2),
        ("Dock workers to strike", "BC-PORT-STRIKE", "3", 2),
        ("Company sees update of systems", None, None, 0),
    ],
)
def test_update_level(headline, slugline, version, level):
    assert update_level(headline, slugline, version) == level


@pytest.mark.parametrize(
    "option,value",
    [
        ("mode", "delete"),
        ("horizon_seconds", 0),
        ("threshold", 1.5),
        ("shingle_size", 0),
        ("bands", 40),
        ("verify", "sometimes"),
    ],
)
def test_invalid_options_name_the_option(option, value):
    with pytest.raises(ValueError, match=option):
        DeduplicateStories(**{option: value})


def test_sequential_statuses():
    assert sequential(SCENARIO) == EXPECTED


def test_earnings_briefs_with_different_figures_do_not_merge():
    result = sequential([make_story("b1", BRIEF_A, 0), make_story("b2", BRIEF_B, 0)], threshold=0.3)
    assert result["b2"][0] == UNIQUE


def test_chain_of_updates_keeps_the_canonical_cluster():
    second = PORT_UPDATE + " The port handled 440 mln tonnes of cargo last year, a record."
    result = sequential(
        [
            make_story("u0", PORT, 0),
            make_story("u1", PORT_UPDATE, 1, headline="UPDATE 1-Strike"),
            make_story("u2", second, 2, headline="UPDATE 2-Strike"),
        ]
    )
    assert result["u1"] == (UPDATE, "u0", "u0")
    assert result["u2"][0] == UPDATE and result["u2"][1] == "u0"


def test_copy_after_the_horizon_is_unique_again():
    stories = [make_story("h1", PORT, 0), make_story("h2", PORT, 73), make_story("h3", PORT, 74)]
    result = sequential(stories, horizon_seconds=72 * 3600)
    assert result == {
        "h1": (UNIQUE, "h1", None),
        "h2": (UNIQUE, "h2", None),
        "h3": (DUPLICATE, "h2", "h2"),
    }


def test_ties_in_event_time_are_broken_by_id():
    result = sequential([make_story("z", PORT, 0), make_story("m", PORT, 0)])
    assert result == {"m": (UNIQUE, "m", None), "z": (DUPLICATE, "m", "m")}


# --- Beam ---


def test_batch_statuses_and_counters():
    p = beam.Pipeline(runner=FnApiRunner())
    out = p | beam.Create(SCENARIO) | beam.Map(lambda s: TimestampedValue(s, s.event_time / 1000)) | (
        "Dedup" >> DeduplicateStories()
    )
    assert_that(
        out[DeduplicateStories.STORIES] | beam.Map(lambda s: (s.id, (s.dedup.status, s.dedup.cluster_id, s.dedup.duplicate_of))),
        equal_to(sorted(EXPECTED.items())),
        label="Statuses",
    )
    assert_that(out[DeduplicateStories.DROPPED], equal_to([]), label="NothingDropped")
    assert_that(out[DeduplicateStories.DEAD_LETTERS], equal_to([]), label="NoDeadLetters")
    result = p.run()
    result.wait_until_finish()
    counters = {c.key.metric.name: c.committed for c in result.metrics().query()["counters"]}
    assert counters["dedup_unique"] == 7
    assert counters["dedup_duplicate"] == 2
    assert counters["dedup_near_duplicate"] == 1
    assert counters["dedup_update"] == 1
    steps = {c.key.step for c in result.metrics().query()["counters"]}
    assert all(step.startswith("Dedup/") for step in steps)


def test_similarity_is_set_for_near_duplicates():
    p = beam.Pipeline(runner=FnApiRunner())
    out = p | beam.Create(SCENARIO[:3]) | DeduplicateStories()
    assert_that(
        out[DeduplicateStories.STORIES] | beam.Map(lambda s: (s.id, s.dedup.similarity is not None and s.dedup.similarity >= 0.8 or s.dedup.similarity is None and s.dedup.status == UNIQUE)),
        equal_to([("a1", True), ("a2", True), ("a3", True)]),
    )
    p.run().wait_until_finish()


def test_drop_mode_counts_and_routes():
    p = beam.Pipeline(runner=FnApiRunner())
    out = p | beam.Create(SCENARIO) | DeduplicateStories(mode="drop")
    assert_that(
        out[DeduplicateStories.STORIES] | "Kept" >> beam.Map(lambda s: s.id),
        equal_to(sorted(k for k, v in EXPECTED.items() if v[0] == UNIQUE)),
        label="Kept",
    )
    assert_that(
        out[DeduplicateStories.DROPPED] | "Dropped" >> beam.Map(lambda s: (s.id, s.dedup.status)),
        equal_to(sorted((k, v[0]) for k, v in EXPECTED.items() if v[0] != UNIQUE)),
        label="Dropped",
    )
    result = p.run()
    result.wait_until_finish()
    counters = {c.key.metric.name: c.committed for c in result.metrics().query()["counters"]}
    assert counters["duplicates_dropped"] == 4


def test_unsignable_story_is_dead_lettered_not_dropped():
    bad = dataclasses.replace(make_story("bad", "x"), body=None)
    p = beam.Pipeline(runner=FnApiRunner())
    out = p | beam.Create([bad, SCENARIO[0]]) | DeduplicateStories()
    assert_that(
        out[DeduplicateStories.DEAD_LETTERS] | beam.Map(lambda d: (isinstance(d, DeadLetter), d.stage, d.source.uri)),
        equal_to([(True, "dedup", "file:///tmp/bad.txt")]),
        label="DeadLetters",
    )
    assert_that(out[DeduplicateStories.STORIES] | beam.Map(lambda s: s.id), equal_to(["a1"]), label="Good")
    p.run().wait_until_finish()


def test_horizon_expiry_in_batch():
    stories = [make_story("h1", PORT, 0), make_story("h2", PORT, 73), make_story("h3", PORT, 74)]
    p = beam.Pipeline(runner=FnApiRunner())
    out = p | beam.Create(stories) | beam.Map(lambda s: TimestampedValue(s, s.event_time / 1000)) | DeduplicateStories()
    assert_that(
        out[DeduplicateStories.STORIES] | beam.Map(lambda s: (s.id, s.dedup.status, s.dedup.cluster_id)),
        equal_to([("h1", UNIQUE, "h1"), ("h2", UNIQUE, "h2"), ("h3", DUPLICATE, "h2")]),
    )
    p.run().wait_until_finish()


def streaming_statuses(stories, **options):
    """Run the composite on TestStream, one watermark step per distinct event time."""
    ordered = sorted(stories, key=lambda s: (s.event_time, s.id))
    stream = test_stream.TestStream()
    for event_time in sorted({s.event_time for s in ordered}):
        stream = stream.add_elements(
            [TimestampedValue(s, Timestamp(micros=s.event_time * 1000)) for s in ordered if s.event_time == event_time]
        )
        stream = stream.advance_watermark_to(Timestamp(micros=(event_time + 1) * 1000))
    stream = stream.advance_watermark_to_infinity()
    options_ = PipelineOptions()
    options_.view_as(StandardOptions).streaming = True
    p = beam.Pipeline(runner=resolve_runner(options_), options=options_)
    out = p | stream | DeduplicateStories(**options)
    return p, out


def test_streaming_matches_batch():
    p, out = streaming_statuses(SCENARIO)
    assert_that(
        out[DeduplicateStories.STORIES] | beam.Map(lambda s: (s.id, (s.dedup.status, s.dedup.cluster_id, s.dedup.duplicate_of))),
        equal_to(sorted(EXPECTED.items())),
    )
    p.run().wait_until_finish()


def test_streaming_horizon_expiry():
    stories = [make_story("h1", PORT, 0), make_story("h2", PORT, 73), make_story("h3", PORT, 74)]
    p, out = streaming_statuses(stories)
    assert_that(
        out[DeduplicateStories.STORIES] | beam.Map(lambda s: (s.id, s.dedup.status, s.dedup.cluster_id)),
        equal_to([("h1", UNIQUE, "h1"), ("h2", UNIQUE, "h2"), ("h3", DUPLICATE, "h2")]),
    )
    p.run().wait_until_finish()


def test_stateful_step_names_are_stable():
    """Flink restores dedup state by these labels: changing them is a breaking change."""
    assert STATEFUL_STEP_NAMES == ("DedupBandIndex", "DedupClusterLedger")


def mixed_stream(count: int = 36, seed: int = 5) -> list[Story]:
    """Copies, trims, updates and unrelated stories spread over 100 hours."""
    import random

    rng = random.Random(seed)
    sentences = [sentence.strip() + "." for base in (PORT, OIL) for sentence in base.split(". ") if sentence]
    bases = [PORT, OIL, " ".join(reversed(sentences)), BRIEF_A, BRIEF_B]
    stories = []
    for index in range(count):
        body = rng.choice(bases)
        roll = rng.random()
        headline = "HEADLINE"
        if roll < 0.2:
            body = body.rsplit(". ", 1)[0] + "."
        elif roll < 0.4:
            body = body + " A spokesman declined to give further details on Wednesday evening."
            headline = "UPDATE 1-HEADLINE"
        elif roll < 0.5:
            body = f"Unrelated story number {index} about the weather in region {index * 7} " * 3
        stories.append(make_story(f"m{index:02d}", body, rng.uniform(0, 100), headline=headline))
    return stories


def test_batch_streaming_and_reference_agree_on_a_mixed_stream():
    stories = mixed_stream()
    expected = sequential(stories)
    assert any(status[0] == UNIQUE for status in expected.values())
    assert any(status[0] == NEAR_DUPLICATE for status in expected.values())
    assert any(status[0] == UPDATE for status in expected.values())
    as_pairs = sorted(expected.items())

    p = beam.Pipeline(runner=FnApiRunner())
    out = p | beam.Create(stories) | beam.Map(lambda s: TimestampedValue(s, s.event_time / 1000)) | DeduplicateStories()
    assert_that(
        out[DeduplicateStories.STORIES] | beam.Map(lambda s: (s.id, (s.dedup.status, s.dedup.cluster_id, s.dedup.duplicate_of))),
        equal_to(as_pairs),
    )
    p.run().wait_until_finish()

    p, out = streaming_statuses(stories)
    assert_that(
        out[DeduplicateStories.STORIES] | beam.Map(lambda s: (s.id, (s.dedup.status, s.dedup.cluster_id, s.dedup.duplicate_of))),
        equal_to(as_pairs),
    )
    p.run().wait_until_finish()


def test_portable_runner_loopback_matches_batch():
    from apache_beam.runners.portability.portable_runner import PortableRunner

    options = PipelineOptions(["--job_endpoint=embed", "--environment_type=LOOPBACK"])
    p = beam.Pipeline(runner=PortableRunner(), options=options)
    out = p | beam.Create(SCENARIO) | beam.Map(lambda s: TimestampedValue(s, s.event_time / 1000)) | DeduplicateStories()
    assert_that(
        out[DeduplicateStories.STORIES] | beam.Map(lambda s: (s.id, (s.dedup.status, s.dedup.cluster_id, s.dedup.duplicate_of))),
        equal_to(sorted(EXPECTED.items())),
    )
    p.run().wait_until_finish()


# --- band-keyed streaming steps (transforms/dedup/streaming.py) ---


def reuters_file_stories(path) -> list[Story]:
    """The stories of one Reuters-21578 file as dedup gets them, in (event time, id) order."""
    from transforms.formats import reuters_sgml
    from transforms.model import ParsedItem

    stories = []
    for item in reuters_sgml.parse(path.read_bytes()):
        if not isinstance(item, ParsedItem):
            continue
        body = "\n\n".join(item.body_paragraphs)
        stories.append(Story(
            id=f"reuters-{item.item_id}", format="reuters_sgml", headline=item.headline, body=body,
            source=SourcePosition(kind="file", uri=path.name, item_index=item.item_index),
            ingested_at=0, event_time=item.published_at or 0, slugline=item.slugline,
            version=item.version, content_hash=content_hash(body)))
    return sorted(stories, key=lambda s: (s.event_time, s.id))


def reuters_slice(count: int) -> list[Story]:
    """The ``count`` earliest stories of the first Reuters-21578 file, as dedup gets them."""
    from tests.conftest import corpus_path

    return reuters_file_stories(corpus_path("reuters21578", "reut2-000.sgm"))[:count]


def shuffled_stream(stories, step_millis: int, seed: int = 3) -> test_stream.TestStream:
    """Stories in event-time slices of ``step_millis``, each slice in a random
    order, the watermark advanced to the end of each slice."""
    import random

    rng = random.Random(seed)
    slices: dict[int, list[Story]] = {}
    for story in stories:
        slices.setdefault(story.event_time // step_millis, []).append(story)
    stream = test_stream.TestStream()
    for index in sorted(slices):
        batch = list(slices[index])
        rng.shuffle(batch)
        stream = stream.add_elements(
            [TimestampedValue(s, Timestamp(micros=s.event_time * 1000)) for s in batch])
        stream = stream.advance_watermark_to(Timestamp(micros=(index + 1) * step_millis * 1000))
    return stream.advance_watermark_to_infinity()


def run_streaming(stream, **options):
    options_ = PipelineOptions()
    options_.view_as(StandardOptions).streaming = True
    p = beam.Pipeline(runner=resolve_runner(options_), options=options_)
    out = p | stream | "Dedup" >> DeduplicateStories(**options)
    return p, out


def as_statuses(pcoll, label="Statuses"):
    return pcoll | label >> beam.Map(
        lambda s: (s.id, (s.dedup.status, s.dedup.cluster_id, s.dedup.duplicate_of)))


def counters_of(result) -> dict[str, int]:
    return {c.key.metric.name: c.committed for c in result.metrics().query()["counters"]}


def test_bucket_pairs_do_not_depend_on_arrival_order():
    from transforms.dedup.streaming import bucket_matches, index_entries

    config = DedupConfig()
    hasher = minhash.MinHasher(config.num_perm, config.seed)
    from transforms.dedup.core import fingerprint

    first = fingerprint(make_story("p1", PORT, 0), config, hasher)
    copy = fingerprint(make_story("p2", PORT_COPY_OTHER_AGENCY, 1), config, hasher)
    same = fingerprint(make_story("p3", PORT, 2), config, hasher)

    def pairs(order):
        buckets: dict[str, list] = {}
        found = set()
        for fp in order:
            for key, postings, entry in index_entries(fp, config):
                for band, bucket in postings:
                    held = buckets.setdefault((key, band, bucket), [])
                    for match in bucket_matches(band, entry, held, config):
                        found.add((match.story_id, match.candidate_id, match.exact))
                    held.append(entry)
        return found

    in_order = pairs([first, copy, same])
    # every pair once: the band pairs in their lowest shared band only
    assert pairs([same, copy, first]) == pairs([copy, same, first]) == in_order
    assert {("p2", "p1", False), ("p3", "p1", True), ("p3", "p1", False), ("p3", "p2", False)} == in_order


def test_index_keys_are_a_fixed_set():
    """Every story reaches at most INDEX_SHARDS keys, whatever the stream:
    the local runner's cost and Flink's timers grow with the number of keys."""
    from transforms.dedup.core import fingerprint
    from transforms.dedup.streaming import INDEX_SHARDS, index_entries

    config = DedupConfig()
    hasher = minhash.MinHasher(config.num_perm, config.seed)
    keys = set()
    for story in reuters_slice(300):
        fp = fingerprint(story, config, hasher)
        entries = index_entries(fp, config)
        assert len(entries) <= INDEX_SHARDS
        postings = [p for _, ps, _ in entries for p in ps]
        assert len(postings) == (config.bands if fp.signature is not None else 0) + bool(fp.content_hash)
        keys.update(key for key, _, _ in entries)
    assert keys <= {f"s{i}" for i in range(INDEX_SHARDS)}


def test_index_blocks_round_trip_merge_and_expire():
    from transforms.dedup.core import fingerprint
    from transforms.dedup.streaming import IndexBlock, index_entries

    config = DedupConfig()
    hasher = minhash.MinHasher(config.num_perm, config.seed)
    stories = [make_story("p1", PORT, 0), make_story("o1", OIL, 10), make_story("s1", "No comment.", 20)]
    blocks: dict[str, list] = {}
    for story in stories:
        fp = fingerprint(story, config, hasher)
        for key, postings, entry in index_entries(fp, config):
            blocks.setdefault(key, []).append(IndexBlock.of([(entry, postings)], config.num_perm))
    for key, parts in blocks.items():
        merged = IndexBlock.decode(IndexBlock.merge(parts).encode())
        assert len(merged.buckets) == sum(len(b.buckets) for b in parts)
        for part in parts:  # every posting of every part is found in the merged block
            for p in range(len(part.buckets)):
                band, bucket, row = int(part.bands[p]), int(part.buckets[p]), int(part.rows[p])
                found = merged.select(band, bucket, part.entry(row).content_hash)
                assert part.story_id(row) in [e.story_id for e in found]
                entry = next(e for e in found if e.story_id == part.story_id(row))
                assert np.array_equal(entry.shingles, part.entry(row).shingles)
        cells = merged.by_cell(HOUR)
        assert sum(len(c) for c in cells) == len(merged)
        kept = merged.keep_from(T0 + 10 * HOUR)
        assert kept is None or {kept.story_id(i) for i in range(len(kept))} <= {"o1", "s1"}
        if kept is not None:
            assert set(kept.rows.tolist()) == set(range(len(kept)))
        assert merged.keep_from(T0 + 21 * HOUR) is None


def _index_block_of(stories) -> tuple:
    from transforms.dedup.core import fingerprint
    from transforms.dedup.streaming import IndexBlock, index_entries

    config = DedupConfig()
    hasher = minhash.MinHasher(config.num_perm, config.seed)
    items = []
    for story in stories:
        fp = fingerprint(story, config, hasher)
        key, postings, entry = next(iter(index_entries(fp, config)))
        items.append((entry, postings))
    return IndexBlock, IndexBlock.of(items, config.num_perm)


def _assert_same_block(got, want) -> None:
    assert len(got) == len(want)
    for i in range(len(want)):
        a, b = got.entry(i), want.entry(i)
        assert (a.story_id, a.content_hash, a.event_time, a.level) == (b.story_id, b.content_hash, b.event_time, b.level)
        assert np.array_equal(a.shingles, b.shingles)
        assert (a.signature is None) == (b.signature is None)
        if a.signature is not None:
            assert np.array_equal(a.signature, b.signature)
    for column in ("buckets", "bands", "rows"):
        assert np.array_equal(getattr(got, column), getattr(want, column))


def test_decoded_index_blocks_are_views_on_the_stored_bytes():
    IndexBlock, block = _index_block_of([
        make_story("Zürich/ü-1", PORT, 0), make_story("s1", "No comment.", 1), make_story("o1", OIL, 2)])
    data = block.encode()
    decoded = IndexBlock.decode(data)
    _assert_same_block(decoded, block)
    assert decoded.story_id(0) == "Zürich/ü-1" and decoded.entry(1).signature is None
    # No column is a copy: each one's memory lies inside the stored bytes.
    stored = np.frombuffer(data, dtype=np.uint8)
    for name in IndexBlock._fields:
        column = getattr(decoded, name)
        if column.size:
            assert np.shares_memory(column, stored), name


def test_index_blocks_stored_in_the_first_layout_are_still_read():
    import pickle

    IndexBlock, block = _index_block_of([make_story("p1", PORT, 0), make_story("o1", OIL, 2)])
    ids = tuple(block.story_id(i) for i in range(len(block)))
    hashes = tuple(block.entry(i).content_hash for i in range(len(block)))
    first_layout = pickle.dumps((ids, hashes, block.signatures.shape[1], *(
        getattr(block, name).tobytes() for name in (
            "times", "levels", "signed", "signatures", "offsets", "shingles", "buckets", "bands", "rows"))))
    _assert_same_block(IndexBlock.decode(first_layout), block)


def test_ledger_blocks_decode_as_views_and_the_first_layout_is_still_read():
    import pickle

    from transforms.dedup.streaming import _LedgerBlock, _LedgerView, _merge_ledger

    entries = {"reuters:1": ("reuters:1", T0), "Zürich/ü-2": ("reuters:1", T0 + HOUR), "x": ("x", T0 + 2 * HOUR)}
    block = _LedgerBlock.of(entries)
    data = block.encode()
    decoded = _LedgerBlock.decode(data)
    stored = np.frombuffer(data, dtype=np.uint8)
    assert all(np.shares_memory(getattr(decoded, name), stored) for name in _LedgerBlock._fields)
    first_layout = pickle.dumps((block.hashes.tobytes(), tuple(entries_id for entries_id, _ in block.items()),
                                 tuple(cluster for _, (cluster, _) in block.items()), block.times.tobytes()))
    for read in (decoded, _LedgerBlock.decode(first_layout)):
        assert dict(read.items()) == entries
        view = _LedgerView([read])
        assert view.get("Zürich/ü-2") == ("reuters:1", T0 + HOUR)
        assert view.get("missing") is None
    merged = _merge_ledger([decoded, _LedgerBlock.of({"y": ("x", T0 + 3 * HOUR)})], T0 + HOUR)
    assert dict(merged.items()) == {k: v for k, v in entries.items() if v[1] >= T0 + HOUR} | {"y": ("x", T0 + 3 * HOUR)}


def test_block_cache_keeps_its_budget_and_forgets_rewritten_blocks():
    from transforms.dedup.streaming import _BlockCache

    IndexBlock, block = _index_block_of([make_story("p1", PORT, 0), make_story("o1", OIL, 2)])
    first = block.encode()
    second = block.take(np.array([0])).encode()
    cache = _BlockCache(budget_bytes=len(first) + len(second))
    assert cache.decode(first) is cache.decode(first)  # decoded once
    cache.decode(second)
    assert cache._used == len(first) + len(second)
    cache.forget([first])
    assert cache._used == len(second) and first not in cache._blocks
    third = block.take(np.array([1])).encode()
    cache.decode(first), cache.decode(third)  # over the budget: the least recently used goes
    assert cache._used <= len(first) + len(second) and second not in cache._blocks


def test_expire_entries_keeps_the_horizon():
    from transforms.dedup.streaming import expire_entries

    config = DedupConfig()
    hasher = minhash.MinHasher(config.num_perm, config.seed)
    from transforms.dedup.core import fingerprint

    old, new = (fingerprint(make_story(i, PORT, h), config, hasher) for i, h in (("o", 0), ("n", 10)))
    keep, dropped = expire_entries([old, new], T0 + 72 * HOUR + 1, config.horizon_millis)
    assert [e.story_id for e in keep] == ["n"] and dropped == 1
    keep, dropped = expire_entries([old, new], T0 + 72 * HOUR, config.horizon_millis)
    assert dropped == 0  # a story at exactly a horizon later still pairs with it


def test_streaming_matches_the_core_on_reuters_out_of_order():
    """300 Reuters stories (about 60 hours of event time) in hourly slices,
    each slice shuffled, horizon 24 hours: the band-keyed steps give the
    core's statuses; the timers expire index and ledger entries as the
    watermark moves, so the ledger never holds much more than a horizon."""
    stories = reuters_slice(300)
    horizon_hours = 24
    span_hours = (stories[-1].event_time - stories[0].event_time) / HOUR
    assert len(stories) == 300 and span_hours > 2 * horizon_hours
    expected = sequential(stories, horizon_seconds=horizon_hours * 3600)
    assert sum(1 for v in expected.values() if v[0] != UNIQUE) >= 4
    p, out = run_streaming(shuffled_stream(stories, HOUR), horizon_seconds=horizon_hours * 3600)
    assert_that(as_statuses(out[DeduplicateStories.STORIES]), equal_to(sorted(expected.items())))
    result = p.run()
    result.wait_until_finish()
    counters = counters_of(result)
    signed = sum(1 for s in stories if len(fold_for_hash(s.body).split()) >= 5)
    assert counters["dedup_index_entries_added"] >= 16 * signed
    assert counters["dedup_index_entries_expired"] == counters["dedup_index_entries_added"]
    assert counters["dedup_ledger_entries_added"] == 300
    assert counters["dedup_ledger_entries_expired"] == 300
    ledger = {d.key.metric.name: d.committed for d in result.metrics().query()["distributions"]}[
        "dedup_ledger_size"]
    hours = [s.event_time // HOUR for s in stories]
    busiest = max(sum(1 for h in hours if start <= h <= start + horizon_hours + 1) for start in set(hours))
    assert ledger.max <= busiest < 300


def test_streaming_story_behind_the_watermark_is_still_marked():
    """A late story (its event time already released) is decided when it
    arrives: it is never held back for good."""
    first, late = make_story("l1", PORT, 0), make_story("l2", PORT, 1)
    after = make_story("l3", OIL, 3)
    stream = (test_stream.TestStream()
              .add_elements([TimestampedValue(first, Timestamp(micros=first.event_time * 1000))])
              .add_elements([TimestampedValue(after, Timestamp(micros=after.event_time * 1000))])
              .advance_watermark_to(Timestamp(micros=(after.event_time + 1) * 1000))
              .add_elements([TimestampedValue(late, Timestamp(micros=late.event_time * 1000))])
              .advance_watermark_to_infinity())
    p, out = run_streaming(stream)
    assert_that(out[DeduplicateStories.STORIES] | beam.Map(lambda s: s.id), equal_to(["l1", "l2", "l3"]))
    p.run().wait_until_finish()


def test_streaming_late_story_at_an_already_released_time_is_marked_on_arrival():
    """Drop-folder files found after a restart take the watermark as event time, so
    several stories share one: a story arriving after that time was released is
    still decided (its timer, set again for a time and tag that already fired,
    fires again)."""
    first = make_story("s1", PORT, 0)
    same_time = dataclasses.replace(make_story("s2", OIL, 0), event_time=first.event_time)
    stamp = Timestamp(micros=first.event_time * 1000)
    stream = (test_stream.TestStream()
              .add_elements([TimestampedValue(first, stamp)])
              .advance_watermark_to(Timestamp(micros=(first.event_time + 1) * 1000))
              .add_elements([TimestampedValue(same_time, stamp)])
              .advance_watermark_to_infinity())
    p, out = run_streaming(stream)
    assert_that(as_statuses(out[DeduplicateStories.STORIES]), equal_to([
        ("s1", (UNIQUE, "s1", None)),
        ("s2", (UNIQUE, "s2", None)),
    ]))
    p.run().wait_until_finish()


def test_streaming_known_stories_and_redelivery():
    """A restarted pipeline: stories already written come back as known; the
    same ids re-delivered are DUPLICATE of themselves, new copies link to them."""
    written = [dataclasses.replace(s, dedup=None) for s in SCENARIO[:2]]
    again = SCENARIO[0]
    new_copy = make_story("a9", PORT, 5)
    stream = (test_stream.TestStream()
              .add_elements([TimestampedValue(again, Timestamp(micros=again.event_time * 1000))])
              .add_elements([TimestampedValue(new_copy, Timestamp(micros=new_copy.event_time * 1000))])
              .advance_watermark_to(Timestamp(micros=(new_copy.event_time + 1) * 1000))
              .advance_watermark_to_infinity())
    p, out = run_streaming(stream, known_stories=written)
    assert_that(as_statuses(out[DeduplicateStories.STORIES]), equal_to([
        ("a1", (DUPLICATE, "a1", "a1")),
        ("a9", (DUPLICATE, "a1", "a1")),
    ]))
    p.run().wait_until_finish()


def test_streaming_drop_mode_and_dead_letters():
    bad = dataclasses.replace(make_story("bad", "x", 0.5), body=None)
    stream = shuffled_stream(SCENARIO + [bad], HOUR)
    p, out = run_streaming(stream, mode="drop")
    assert_that(out[DeduplicateStories.STORIES] | "Kept" >> beam.Map(lambda s: s.id),
                equal_to(sorted(k for k, v in EXPECTED.items() if v[0] == UNIQUE)), label="Kept")
    assert_that(out[DeduplicateStories.DROPPED] | "Dropped" >> beam.Map(lambda s: (s.id, s.dedup.status)),
                equal_to(sorted((k, v[0]) for k, v in EXPECTED.items() if v[0] != UNIQUE)), label="Dropped")
    assert_that(out[DeduplicateStories.DEAD_LETTERS] | beam.Map(lambda d: (d.stage, d.source.uri)),
                equal_to([("dedup", "file:///tmp/bad.txt")]), label="DeadLetters")
    result = p.run()
    result.wait_until_finish()
    counters = counters_of(result)
    assert counters["duplicates_dropped"] == 4
    assert counters["dead_letter_dedup"] == 1


def test_portable_runner_loopback_runs_the_streaming_steps():
    """The band-keyed steps (state, timers, dynamic timer tags) on the portable
    runner the Flink path uses, forced on bounded input."""
    from apache_beam.runners.portability.portable_runner import PortableRunner

    stories = SCENARIO + mixed_stream()
    known = make_story("k0", OIL, -1)  # written by an earlier run
    expected = sequential([known] + stories)
    del expected["k0"]
    assert expected["o1"] == (DUPLICATE, "k0", "k0")
    options = PipelineOptions(["--job_endpoint=embed", "--environment_type=LOOPBACK"])
    p = beam.Pipeline(runner=PortableRunner(), options=options)
    out = (p | beam.Create(stories)
           | beam.Map(lambda s: TimestampedValue(s, s.event_time / 1000))
           | DeduplicateStories(streaming=True, known_stories=[known]))
    assert_that(as_statuses(out[DeduplicateStories.STORIES]), equal_to(sorted(expected.items())))
    p.run().wait_until_finish()
