"""Tests for the batch path of transforms/dedup/__init__.py: fingerprints computed in
parallel, one walk of the ledger over them, decisions joined back to the
stories. It must give what the sequential core gives, story for story."""

from __future__ import annotations

import dataclasses

import apache_beam as beam
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to

from tests.test_dedup import EXPECTED, PORT, SCENARIO, make_story, sequential
from transforms.dedup import minhash
from transforms.dedup.core import (
    DUPLICATE,
    UNIQUE,
    DedupConfig,
    SequentialDeduplicator,
    fingerprint,
    index_keys,
)
from transforms.dedup import DeduplicateStories
from transforms.dedup.batch import _decide_in_order, _LedgerEntry
from transforms.model import DedupInfo


def entries_of(stories, config=DedupConfig()):
    hasher = minhash.MinHasher(config.num_perm, config.seed)
    out = []
    for number, story in enumerate(stories):
        fp = fingerprint(story, config, hasher)
        out.append(_LedgerEntry.of(number.to_bytes(8, "big"), fp, index_keys(fp, config)))
    return out


def test_ledger_entry_round_trip_keeps_the_fingerprint():
    config = DedupConfig()
    hasher = minhash.MinHasher(config.num_perm, config.seed)
    fp = fingerprint(SCENARIO[0], config, hasher)
    entry = _LedgerEntry.decode(_LedgerEntry.of(b"t" * 8, fp, index_keys(fp, config)).encode())
    again = entry.fingerprint()
    assert (again.story_id, again.event_time, again.content_hash, again.level) == (
        fp.story_id, fp.event_time, fp.content_hash, fp.level)
    assert (again.shingles == fp.shingles).all() and (again.signature == fp.signature).all()
    assert entry.index_keys() == index_keys(fp, config)
    empty = fingerprint(make_story("e", ""), config, hasher)
    entry = _LedgerEntry.decode(_LedgerEntry.of(b"u" * 8, empty, index_keys(empty, config)).encode())
    assert entry.fingerprint().signature is None and entry.index_keys() == []


def test_walk_over_entries_gives_the_core_decisions():
    stories = sorted(SCENARIO, key=lambda s: (s.event_time, s.id))
    entries = entries_of(stories)
    decided = dict(_decide_in_order(SequentialDeduplicator(), list(reversed(entries))))
    reference = SequentialDeduplicator()
    for entry, story in zip(entries, stories):
        info = reference.add(story)
        # Plain UNIQUE decisions are not sent: the story keeps UNIQUE, its own cluster.
        assert decided.get(entry.token, DedupInfo(status=UNIQUE, cluster_id=story.id)) == info


def test_add_fingerprint_is_add():
    stories = sorted(SCENARIO, key=lambda s: (s.event_time, s.id))
    config = DedupConfig()
    split, whole = SequentialDeduplicator(config), SequentialDeduplicator(config)
    for story in stories:
        fp = fingerprint(story, config, split.hasher)
        assert split.add_fingerprint(fp, index_keys(fp, config)) == whole.add(story)


def test_the_same_record_twice_in_one_run_is_a_duplicate_of_itself():
    first = make_story("r1", PORT, 0)
    p = beam.Pipeline(runner=FnApiRunner())
    out = p | beam.Create([first, dataclasses.replace(first), make_story("r2", PORT, 1)]) | DeduplicateStories()
    assert_that(
        out[DeduplicateStories.STORIES] | beam.Map(lambda s: (s.id, s.dedup.status, s.dedup.cluster_id)),
        equal_to([("r1", UNIQUE, "r1"), ("r1", DUPLICATE, "r1"), ("r2", DUPLICATE, "r1")]),
    )
    p.run().wait_until_finish()


def test_batch_composite_matches_the_core_with_many_bundles():
    stories = [dataclasses.replace(s, id=f"{s.id}-{n}", event_time=s.event_time + n * 3_600_000 * 100)
               for n in range(20) for s in SCENARIO]
    expected = sequential(stories)
    p = beam.Pipeline(runner=FnApiRunner())
    out = p | beam.Create(stories, reshuffle=True) | DeduplicateStories()
    assert_that(
        out[DeduplicateStories.STORIES]
        | beam.Map(lambda s: (s.id, (s.dedup.status, s.dedup.cluster_id, s.dedup.duplicate_of))),
        equal_to(sorted(expected.items())),
    )
    p.run().wait_until_finish()
    assert {sid.split("-")[0]: v[0] for sid, v in expected.items()} == {k: v[0] for k, v in EXPECTED.items()}
