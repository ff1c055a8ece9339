"""Peer expectations: Superdesk's parser-test assertions on our half of the corpora.

``tests/data/peer_expectations.json`` holds what Superdesk's own parser tests
assert for the Superdesk fixtures of ``../shared/corpora/wire_formats`` (the
half in its MANIFEST.tsv), mapped onto our ``Story`` record, with the cases
where Superdesk's convention differs from our contract marked not comparable
and why. ``bench/peer_eval.py`` does the comparing; this test keeps the share
met from falling below ``PEER_FLOOR`` (raise it as the parsers improve) and
checks that every fixture named is there and parses without crashing (a dead
letter is an answer, an exception other than ``ParseError`` is not).
"""

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))

import peer_eval  # noqa: E402

#: Share of comparable peer expectations met, in %, rounded down (measured 100.0%: 155 of 155).
PEER_FLOOR = 95

CORPORA = peer_eval.DEFAULT_CORPORA

pytestmark = pytest.mark.skipif(
    not os.path.isdir(CORPORA), reason=f"corpora absent: {CORPORA} (the peer expectations need its fixtures)"
)


def test_every_fixture_exists_and_parses_without_crashing():
    from transforms.language.detect import LanguageDetector

    detector = LanguageDetector(seed=0)
    detector.load()
    fixtures = sorted({exp["fixture"] for exp in peer_eval.load_expectations()})
    absent = [f for f in fixtures if not os.path.isfile(os.path.join(CORPORA, f))]
    assert not absent, f"fixtures named by expectations but absent: {absent}"
    for fixture in fixtures:
        stories, why = peer_eval.parse_fixture(os.path.join(CORPORA, fixture), detector)  # raises on a crash
        assert stories or why, fixture


def test_expectations_are_well_formed():
    for exp in peer_eval.load_expectations():
        assert {"fixture", "field", "compare", "source", "comparable"} <= set(exp), exp
        assert {"repo", "file", "test"} <= set(exp["source"]), exp
        if not exp["comparable"]:
            assert exp.get("not_comparable_reason"), exp
        elif exp["compare"].endswith("_hash"):
            assert len(exp["sha256"]) == 64 and exp["length"] > 0, exp


def test_share_of_peer_expectations_met():
    result = peer_eval.evaluate(CORPORA)
    misses = [row for row in result["rows"] if row["status"] == "missed"]
    print()
    for row in misses:
        print(peer_eval.format_row(row))
    print(peer_eval.summary(result))
    assert result["percent"] >= PEER_FLOOR, (
        f"peer expectations met {result['percent']:.1f}% < floor {PEER_FLOOR}%; misses:\n"
        + "\n".join(peer_eval.format_row(row) for row in misses)
    )
