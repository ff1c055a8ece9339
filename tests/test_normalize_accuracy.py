"""Field accuracy of the normalizer on real bylines, photo credits and datelines.

``tests/data/normalize/labelled_credits.jsonl`` holds short factual strings
quoted from ../shared/corpora (Reuters-21578 <AUTHOR> and <DATELINE>, agency
feed samples, Fundus author and image-credit fields, the seed story), each
with the fields a careful reader expects, written by hand. Fundus splits some
credits into a list; those elements are joined with " | " as German and
Canadian sites print them.

``labelled_holdout.jsonl`` was labelled after the rules were frozen (Reuters
bylines and datelines not in the first set): an out-of-sample check, reported
separately. There is no held-out photo-credit set: every real credit string
in the corpora is in the first set.

A field is one output value compared whole: for a byline the contributors'
names, roles, organizations and locations (each as a list) and the agencies;
for a credit the photographers, agencies, distributor and the two flags; for
a dateline place, date and agency. Run with ``-s`` to see the figures.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from transforms.normalize import parse_caption
from transforms.normalize.cli import normalize_one

DATA_DIR = Path(__file__).parent / "data" / "normalize"
DATA = DATA_DIR / "labelled_credits.jsonl"
HOLDOUT = DATA_DIR / "labelled_holdout.jsonl"
THRESHOLD = 0.97


def _rows(path: Path = DATA):
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _byline_fields(row):
    expected = {
        "names": [c[0] for c in row["contributors"]],
        "roles": [c[1] for c in row["contributors"]],
        "organizations": [c[2] for c in row["contributors"]],
        "locations": [c[3] for c in row["contributors"]],
        "agencies": row["agencies"],
    }
    got = normalize_one("byline", row["input"])
    contributors = got["contributors"]
    actual = {
        "names": [c["name"] for c in contributors],
        "roles": [c["role"] for c in contributors],
        "organizations": [c["organization"] for c in contributors],
        "locations": [c["location"] for c in contributors],
        "agencies": got["agencies"],
    }
    return expected, actual


def _credit_fields(row):
    keys = ("photographers", "agencies", "distributor", "is_file_photo", "is_handout")
    expected = {k: row[k] for k in keys}
    caption = parse_caption("", credit=row["input"]).to_avro()
    actual = {k: caption[k] for k in keys}
    return expected, actual


def _dateline_fields(row):
    keys = ("place", "date", "agency")
    expected = {k: row[k] for k in keys}
    got = normalize_one("dateline", row["input"])
    return expected, {k: got[k] for k in keys}


FAMILIES = {"byline": _byline_fields, "credit": _credit_fields, "dateline": _dateline_fields}


def evaluate(path: Path = DATA):
    """{family: (fields right, fields, records right, records, misses)}."""
    totals = defaultdict(lambda: [0, 0, 0, 0, []])
    for row in _rows(path):
        expected, actual = FAMILIES[row["family"]](row)
        entry = totals[row["family"]]
        right = sum(expected[k] == actual[k] for k in expected)
        entry[0] += right
        entry[1] += len(expected)
        entry[2] += right == len(expected)
        entry[3] += 1
        if right != len(expected):
            diff = {k: (expected[k], actual[k]) for k in expected if expected[k] != actual[k]}
            entry[4].append((row["input"], diff))
    return totals


def test_labelled_set_is_large_and_real():
    rows = _rows()
    assert len(rows) >= 200
    assert {r["family"] for r in rows} == set(FAMILIES)
    assert all(r["source"] in {"reuters21578", "wire_formats", "fundus_articles", "seeds"} for r in rows)
    inputs = [(r["family"], r["input"]) for r in rows]
    assert len(inputs) == len(set(inputs)), "duplicate labelled inputs"


@pytest.mark.parametrize(
    "path, family",
    [(DATA, family) for family in sorted(FAMILIES)] + [(HOLDOUT, "byline"), (HOLDOUT, "dateline")],
    ids=lambda v: v.stem if isinstance(v, Path) else v,
)
def test_field_accuracy_per_family(path, family, capsys):
    totals = evaluate(path)
    right, fields, records_right, records, misses = totals[family]
    accuracy = right / fields
    with capsys.disabled():
        print(
            f"\n[{path.stem}] {family}: field accuracy {accuracy:.1%} ({right}/{fields} fields), "
            f"records fully right {records_right}/{records}"
        )
        for text, diff in misses:
            print(f"  miss {text!r}: {diff}")
    assert accuracy >= THRESHOLD, f"{family} field accuracy {accuracy:.1%} < {THRESHOLD:.0%}"
