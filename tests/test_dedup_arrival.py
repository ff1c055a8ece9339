"""Tests for transforms/dedup/arrival.py: dedup in arrival order (``--dedup-order arrival``).

The pure parts directly (log entries, the arrival ledger, restore from its
log); the stateful DoFn against state that a failed bundle rolls back and
that a second worker shares; the composite on Prism under TestStream. The
Kafka and drop-folder runs of the CLI with this order are in
tests/test_config_matrix.py (the ``-arrival`` combinations).
"""

from __future__ import annotations

import copy

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.util import assert_that, equal_to

from tests.test_dedup import EXPECTED, OIL, PORT, SCENARIO, make_story, streaming_statuses
from transforms.dedup import DeduplicateStories, minhash
from transforms.dedup.arrival import (
    ArrivalDeduplicator,
    _ArrivalLedgerFn,
    _FingerprintForArrivalFn,
    decode_entry,
    encode_entry,
)
from transforms.dedup.core import DUPLICATE, UNIQUE, DedupConfig, fingerprint


def fp_of(story, config=None):
    config = config or DedupConfig()
    return fingerprint(story, config, minhash.MinHasher(config.num_perm, config.seed))


def in_arrival_order(stories, config=None):
    ledger = ArrivalDeduplicator(config or DedupConfig())
    out = {}
    for story in stories:
        info, _ = ledger.decide(fp_of(story, config))
        out[story.id] = (info.status, info.cluster_id, info.duplicate_of)
    return out


# ----------------------------------------------------------------------------- log entries


@pytest.mark.parametrize("body", [PORT, "", "Kurz."])
def test_a_log_entry_gives_back_the_fingerprint_and_cluster(body):
    fp = fp_of(make_story("dpa-ü/1", body, 2))
    back, cluster = decode_entry(encode_entry(fp, "cluster-é"))
    assert cluster == "cluster-é"
    assert (back.story_id, back.event_time, back.content_hash, back.level) == \
        (fp.story_id, fp.event_time, fp.content_hash, fp.level)
    assert np.array_equal(back.shingles, fp.shingles)
    assert (back.signature is None) == (fp.signature is None)
    if fp.signature is not None:
        assert np.array_equal(back.signature, fp.signature)


@pytest.mark.parametrize("data", [b"", b"garbage bytes", encode_entry(fp_of(make_story("x", PORT)), "x")[:-3]])
def test_bytes_that_are_not_a_log_entry_are_refused(data):
    with pytest.raises(ValueError):
        decode_entry(data)


# ----------------------------------------------------------------------------- the arrival ledger


def test_in_event_time_order_it_decides_as_the_sequential_ledger():
    ordered = sorted(SCENARIO, key=lambda s: (s.event_time, s.id))
    assert in_arrival_order(ordered) == EXPECTED


def test_the_first_copy_to_arrive_is_the_original():
    later, earlier = make_story("late-original", PORT, 5), make_story("early-copy", PORT, 0)
    assert in_arrival_order([later, earlier]) == {
        "late-original": (UNIQUE, "late-original", None),
        "early-copy": (DUPLICATE, "late-original", "late-original"),
    }


def test_stories_arriving_with_one_event_time_still_match_each_other():
    """Ids in any order at one event time: the arrival clock keeps each after the one before."""
    stories = [make_story("z", PORT, 1), make_story("a", PORT, 1), make_story("m", PORT, 1)]
    got = in_arrival_order(stories)
    assert got["z"] == (UNIQUE, "z", None)
    assert got["a"] == got["m"] == (DUPLICATE, "z", "z")


def test_a_ledger_restored_from_its_log_decides_as_the_uninterrupted_one():
    """Restored mid-stream from its live entries (the first story already past the
    horizon), it decides the rest as if never stopped, clusters included."""
    config = DedupConfig(horizon_seconds=2 * 3600)
    stream = [make_story("x1", PORT, 0), make_story("o1", OIL, 0.5), make_story("x2", PORT, 1.5),
              make_story("x3", PORT, 3.0), make_story("o2", OIL, 3.2)]
    whole = in_arrival_order(stream, config)
    assert whole["x3"] == (DUPLICATE, "x1", "x2"), "x1 is past the horizon; its cluster goes on"

    first = ArrivalDeduplicator(config)
    for story in stream[:3]:
        first.decide(fp_of(story, config))
    first.decide(fp_of(make_story("tick", "A short note on nothing at all.", 2.9), config))
    restored = ArrivalDeduplicator(config)
    entries = first.live_entries()
    assert "x1" not in {decode_entry(e)[0].story_id for e in entries}, "the log keeps only live entries"
    for entry in entries:
        restored.restore(*decode_entry(entry))
    got = {}
    for story in stream[3:]:
        info, _ = restored.decide(fp_of(story, config))
        got[story.id] = (info.status, info.cluster_id, info.duplicate_of)
    assert got == {k: whole[k] for k in ("x3", "o2")}


# ----------------------------------------------------------------------------- the stateful DoFn


class Bag:
    def __init__(self):
        self.items = []

    def read(self):
        return list(self.items)

    def add(self, item):
        self.items.append(item)

    def clear(self):
        self.items = []


class Value:
    def __init__(self):
        self.value = None

    def read(self):
        return self.value

    def write(self, value):
        self.value = value


class State:
    """The ledger key's state as a runner keeps it: a bundle works on a copy,
    committed only if the bundle succeeds."""

    def __init__(self):
        self.log, self.token = Bag(), Value()

    def bundle(self):
        return copy.deepcopy(self)


def keyed(story, config):
    fn = _FingerprintForArrivalFn(config, "dead")
    fn.setup()
    [element] = list(fn.process(story, timestamp=beam.utils.timestamp.Timestamp(micros=story.event_time * 1000)))
    return element


def decide(fn, state, story, config):
    [out] = list(fn.process(keyed(story, config), log=state.log, token=state.token))
    return out.value.dedup


def test_a_failed_bundle_is_not_remembered():
    """A bundle's decisions live in the worker's memory before the runner commits
    them; when the bundle fails, its state changes are gone and so must they be."""
    config = DedupConfig()
    fn = _ArrivalLedgerFn(config)
    fn.setup()
    committed = State()
    decide(fn, committed, make_story("port", PORT, 0), config)
    failed = committed.bundle()
    assert decide(fn, failed, make_story("oil", OIL, 1), config).status == UNIQUE
    # The retry of that bundle, against the committed state: "oil" was never stored.
    retried = decide(fn, committed.bundle(), make_story("oil-copy", OIL, 1), config)
    assert (retried.status, retried.duplicate_of) == (UNIQUE, None)
    again = decide(fn, committed, make_story("port-copy", PORT, 2), config)
    assert (again.status, again.duplicate_of) == (DUPLICATE, "port")


def test_a_second_worker_sees_what_the_first_one_stored():
    config = DedupConfig()
    first, second = _ArrivalLedgerFn(config), _ArrivalLedgerFn(config)
    first.setup()
    second.setup()
    state = State()
    decide(first, state, make_story("port", PORT, 0), config)
    assert decide(second, state, make_story("oil", OIL, 1), config).status == UNIQUE
    info = decide(first, state, make_story("oil-copy", OIL, 2), config)
    assert (info.status, info.duplicate_of) == (DUPLICATE, "oil")


def test_instances_of_one_step_share_the_ledger_without_rebuilding_it():
    """An SDK worker hands bundles to any instance of a step: the second one must not
    replay the whole log (that cost grows with the horizon)."""
    import pickle

    import transforms.dedup.arrival as arrival

    config = DedupConfig()
    first = _ArrivalLedgerFn(config)
    second = pickle.loads(pickle.dumps(first))
    first.setup()
    second.setup()
    state = State()
    decide(first, state, make_story("port", PORT, 0), config)
    shared = arrival._SHARED[first._uid].deduplicator
    state.log.items = []  # a rebuild would now start from nothing and miss "port"
    info = decide(second, state, make_story("port-copy", PORT, 1), config)
    assert (info.status, info.duplicate_of) == (DUPLICATE, "port")
    assert arrival._SHARED[second._uid].deduplicator is shared


def test_the_log_is_rewritten_so_it_stays_within_the_horizon(monkeypatch):
    import transforms.dedup.arrival as arrival

    monkeypatch.setattr(arrival, "_SLACK", 5)
    config = DedupConfig(horizon_seconds=3600)
    fn = _ArrivalLedgerFn(config)
    fn.setup()
    state = State()
    for index in range(40):
        decide(fn, state, make_story(f"s{index}", f"{PORT} Paragraph number {index} of the file.", index), config)
    assert len(state.log.items) <= 2 * 2 + 5 + 1, len(state.log.items)
    ids = [decode_entry(entry)[0].story_id for entry in state.log.items]
    assert "s39" in ids and "s0" not in ids


def test_known_stories_seed_a_new_key():
    config = DedupConfig()
    from transforms.dedup.arrival import _known_entries

    fn = _ArrivalLedgerFn(config, _known_entries((make_story("written-before", PORT, 0),), config))
    fn.setup()
    info = decide(fn, State(), make_story("redelivered", PORT, 1), config)
    assert (info.status, info.duplicate_of) == (DUPLICATE, "written-before")


# ----------------------------------------------------------------------------- on Prism


def test_the_composite_on_prism_decides_in_arrival_order():
    p, out = streaming_statuses(SCENARIO, order="arrival")
    assert_that(
        out[DeduplicateStories.STORIES]
        | beam.Map(lambda s: (s.id, (s.dedup.status, s.dedup.cluster_id, s.dedup.duplicate_of))),
        equal_to(sorted(EXPECTED.items())),
    )
    p.run().wait_until_finish()


def test_an_unknown_order_is_refused():
    with pytest.raises(ValueError, match="order"):
        DeduplicateStories(order="alphabetical")

