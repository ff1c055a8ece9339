"""Speed-ups keep the output identical: records before and after, compared.

Two checks, both through the pure functions the pipeline's DoFns call
(``parse_raw_input``, ``enrich_item``, the dedup core
``SequentialDeduplicator``, ``Story.to_avro``):

* ``tests/data/golden/stories.jsonl``: every record (stories and dead
  letters) made from the project's own inputs in ``tests/data/golden/inputs``
  (the seed and stories written for this test), compared field by field,
  ignoring ``ingested_at`` and ``failed_at`` (wall-clock times).
* ``tests/data/golden/reuters_first300.jsonl``: for the first 300 stories of
  Reuters-21578 (``../shared/corpora``, skipped when absent) only hashes and
  counts are committed, never text: item id, content hash, language, the
  language detected with the declaration ignored, word count, dedup status
  and a SHA-256 of the whole record.

After an intended change of output, regenerate both files and review the
diff: ``.venv/bin/python tests/test_output_identical.py --write``.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from transforms.dedup.core import DedupConfig, SequentialDeduplicator  # noqa: E402
from transforms.enrich import enrich_item  # noqa: E402
from transforms.language.detect import LanguageDetector  # noqa: E402
from transforms.model import DeadLetter, ParseError, RawInput, SourcePosition  # noqa: E402
from transforms.parse import parse_raw_input  # noqa: E402

GOLDEN = ROOT / "tests" / "data" / "golden"
INPUTS = GOLDEN / "inputs"
STORIES_FILE = GOLDEN / "stories.jsonl"
REUTERS_FILE = GOLDEN / "reuters_first300.jsonl"
REUTERS = ROOT.parent / "shared" / "corpora" / "reuters21578" / "reut2-000.sgm"
REUTERS_STORIES = 300

#: Fixed clocks, so that records do not depend on when or where they are made.
EVENT_MILLIS = 1_700_000_000_000
INGESTED_MILLIS = 1_700_000_100_000
#: Wall-clock fields left out of the comparison.
IGNORED = ("ingested_at", "failed_at")


def run_chain(inputs: list[tuple[str, bytes]]) -> list[dict]:
    """Parse, enrich, deduplicate: the Avro dicts of stories, then dead letters."""
    detector = LanguageDetector(seed=0)
    stories, dead_letters = [], []
    for name, data in inputs:
        raw = RawInput(raw=data, source=SourcePosition(kind="file", uri=name, timestamp=EVENT_MILLIS),
                       filename=name.rsplit("/", 1)[-1], event_time=EVENT_MILLIS)
        for parsed in parse_raw_input(raw):
            if isinstance(parsed, DeadLetter):
                dead_letters.append(parsed)
                continue
            try:
                story, _ = enrich_item(parsed, detector, ingested_at=INGESTED_MILLIS)
            except ParseError as error:
                dead_letters.append(DeadLetter(
                    raw=parsed.raw, source=parsed.source, stage="normalize", reason=error.reason,
                    error=str(error), failed_at=0, format=parsed.item.format))
                continue
            stories.append(story)
    deduplicator = SequentialDeduplicator(DedupConfig())
    stories.sort(key=lambda story: (story.event_time, story.id))
    stories = [dataclasses.replace(story, dedup=deduplicator.add(story)) for story in stories]
    return [_comparable(s.to_avro()) for s in stories] + [_comparable(d.to_avro()) for d in dead_letters]


def _comparable(record: dict) -> dict:
    """The record as JSON would give it back, without wall-clock fields."""
    record = {key: value for key, value in record.items() if key not in IGNORED}
    return json.loads(_dumps(record))


def _dumps(value) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=_bytes)


def _bytes(value):
    if isinstance(value, bytes):
        return {"base64": base64.b64encode(value).decode("ascii")}
    raise TypeError(f"not JSON: {type(value).__name__}")


def golden_inputs() -> list[tuple[str, bytes]]:
    return [(f"golden/{path.name}", path.read_bytes()) for path in sorted(INPUTS.iterdir())]


def reuters_rows() -> list[dict]:
    """Hashes and counts of the first ``REUTERS_STORIES`` Reuters stories."""
    data = REUTERS.read_bytes()
    first = _first_elements(data, REUTERS_STORIES)
    records = run_chain([("reuters21578/reut2-000.sgm", first)])
    detector = LanguageDetector(seed=0)
    rows = []
    for record in records:
        if "content_hash" not in record:  # a dead letter
            rows.append({"dead_letter": record["reason"], "position": record["source"]["position"],
                         "sha256": hashlib.sha256(_dumps(record).encode()).hexdigest()})
            continue
        detected = detector.detect(record["headline"], record["body"].replace("\n\n", "\n"), None)
        rows.append({
            "item_id": record["item_id"],
            "content_hash": record["content_hash"],
            "language": record["language"],
            "detected_language": detected[0],
            "word_count": record["word_count"],
            "dedup": record["dedup"]["status"],
            "sha256": hashlib.sha256(_dumps(record).encode()).hexdigest(),
        })
    return rows


def _first_elements(data: bytes, count: int) -> bytes:
    end = 0
    for _ in range(count):
        end = data.index(b"</REUTERS>", end) + len(b"</REUTERS>")
    return data[:end]


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(_dumps(row) + "\n" for row in rows), encoding="utf-8")


def test_golden_records_are_unchanged():
    expected = _read_jsonl(STORIES_FILE)
    actual = run_chain(golden_inputs())
    assert len(actual) == len(expected)
    for want, got in zip(expected, actual):
        assert got == want, f"record {want.get('id') or want.get('source')} changed"


def test_golden_inputs_cover_the_interesting_cases():
    records = _read_jsonl(STORIES_FILE)
    stories = [r for r in records if "content_hash" in r]
    assert {r["dedup"]["status"] for r in stories} >= {"UNIQUE", "DUPLICATE", "UPDATE"}
    assert {r["language"] for r in stories} >= {"en", "fr"}
    assert any(r.get("reason") == "empty" for r in records)
    assert any(r["format"] == "reuters_sgml" for r in stories)


@pytest.mark.skipif(not REUTERS.is_file(), reason="Reuters-21578 not found in ../shared/corpora")
def test_reuters_slice_is_unchanged():
    expected = _read_jsonl(REUTERS_FILE)
    actual = reuters_rows()
    assert len(actual) == len(expected) == REUTERS_STORIES
    changed = [want.get("item_id") for want, got in zip(expected, actual) if want != got]
    assert not changed, f"{len(changed)} records changed, first item ids: {changed[:10]}"


if __name__ == "__main__":
    if "--write" not in sys.argv:
        sys.exit("usage: tests/test_output_identical.py --write   (regenerates the golden files)")
    _write_jsonl(STORIES_FILE, run_chain(golden_inputs()))
    print(f"wrote {STORIES_FILE}")
    if REUTERS.is_file():
        _write_jsonl(REUTERS_FILE, reuters_rows())
        print(f"wrote {REUTERS_FILE}")
