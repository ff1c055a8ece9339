"""Accounting: every item read is written, dropped as a duplicate or dead-lettered.

A mixed corpus (stories we wrote in several formats, packages holding good
and bad items, exact copies, and every kind of bad input: empty, blank,
binary, undecodable, truncated XML and JSON, a corrupt gzip, an unknown XML
vocabulary, an XML entity bomb, a file over the size limit) runs through
``pipelines.ingest.run``. The balance ``read == written + duplicates dropped
+ dead-lettered`` is checked three ways: from the counters, from the Avro
files read back with the project's schemas, and against the number of items
the corpus holds by construction. Every input file is found again in the
output, with the reason we expect for the bad ones. Both dedup modes.
"""

from __future__ import annotations

import glob
import gzip
import shutil
from collections import Counter
from pathlib import Path

import fastavro
import pytest

from pipelines.ingest import run
from schemas import load_schema
from tests.reliability import BILLION_LAUGHS, DATA, SEED

#: The limit given to the runs: small, so the "huge" input stays cheap to make.
MAX_INPUT_BYTES = 1_000_000

OWN_STORY = (
    "Ferry service resumes after winter repairs\n\n"
    "The island ferry will run twice a day again from Monday.\n\n"
    "By Ines Hartmann\n\n"
    "HELSINKI (Example Wire) - The island ferry returned to service on Monday after three months of "
    "repairs to its hull and engines, the operator said.\n\n"
    "Passenger numbers are expected to recover quickly as the tourist season approaches.\n"
)


#: Sets of files holding the same story (the first as sent, then re-sent copies).
COPIES = ({"seed.txt", "seed-again.txt", "seed-rewrapped.txt.gz"}, {"cranes.xml", "cranes-again.xml"})


def build_corpus(folder: Path) -> dict:
    """Write the mixed corpus into ``folder``; return what a correct run must report.

    Returns a dict with ``items`` (how many items the corpus holds: one per
    story of a package, one per input that fails as a whole), ``stories``
    (file name -> number of stories it must yield), ``duplicates`` (names of
    exact copies of an earlier story) and ``dead`` (file name -> the reason
    its one dead letter must carry).
    """
    reliability = DATA / "reliability"
    reuters = DATA / "formats" / "reuters_sample.sgm"
    stories = {
        "seed.txt": 1,
        "ferry.txt.gz": 1,
        "fishermen.txt": 1,
        "cranes.xml": 1,
        "trains.json": 1,
        "package.json": 2,  # and one picture item: a dead letter, not_a_story
    }
    shutil.copy(SEED, folder / "seed.txt")
    (folder / "ferry.txt.gz").write_bytes(gzip.compress(OWN_STORY.encode()))
    shutil.copy(reliability / "story_cp1252.txt", folder / "fishermen.txt")
    shutil.copy(reliability / "story.nitf.xml", folder / "cranes.xml")
    shutil.copy(reliability / "story.ninjs.json", folder / "trains.json")
    shutil.copy(reliability / "story_array.ninjs.json", folder / "package.json")
    items = sum(stories.values()) + 1
    reuters_items = 0
    if reuters.exists():
        shutil.copy(reuters, folder / "reuters.sgm")
        reuters_items = reuters.read_bytes().count(b"<REUTERS ")
        items += reuters_items

    # Exact copies re-sent under other names, one re-wrapped and gzipped.
    duplicates = {"seed-again.txt", "cranes-again.xml", "seed-rewrapped.txt.gz"}
    shutil.copy(SEED, folder / "seed-again.txt")
    shutil.copy(reliability / "story.nitf.xml", folder / "cranes-again.xml")
    rewrapped = SEED.read_text(encoding="utf-8").replace(". ", ".\n", 3)
    (folder / "seed-rewrapped.txt.gz").write_bytes(gzip.compress(rewrapped.encode()))
    items += len(duplicates)

    nitf = (reliability / "story.nitf.xml").read_bytes()
    dead = {
        "empty.txt": ("empty", b""),
        "blank.txt": ("empty", b" \n\t\n  \n"),
        "garbage.bin": ("undecodable", bytes(range(256)) * 64),
        "bad-utf8.txt": ("undecodable", b"\xef\xbb\xbfHeadline\n\nBody \xff\xfe\xfa text\n"),
        "truncated.xml": ("malformed", nitf[: len(nitf) * 2 // 3]),
        "truncated.json": ("malformed", (reliability / "story.ninjs.json").read_bytes()[:300]),
        "corrupt.txt.gz": ("malformed", gzip.compress(OWN_STORY.encode())[:40]),
        "feed.xml": ("unrecognised_format", b"<?xml version='1.0'?><rss><channel><item><title>t</title>"
                                             b"</item></channel></rss>"),
        "headline-only.txt": ("missing_body", b"Just a headline and nothing else\n"),
        "bomb.xml": ("malformed", BILLION_LAUGHS),
        "huge.txt": ("too_large", b"Huge story\n\n" + b"word " * (MAX_INPUT_BYTES // 4)),
    }
    for name, (_, data) in dead.items():
        (folder / name).write_bytes(data)
    items += len(dead)
    # Uploads in progress and hidden files are not inputs yet: never read, never counted.
    (folder / "upload.txt.part").write_bytes(OWN_STORY.encode())
    (folder / ".hidden.txt").write_bytes(OWN_STORY.encode())
    return {"items": items, "stories": stories, "duplicates": duplicates,
            "dead": {name: reason for name, (reason, _) in dead.items()},
            "reuters_items": reuters_items}


def read_avro(output: Path, prefix: str, schema: str) -> list[dict]:
    reader_schema = fastavro.parse_schema(load_schema(schema))
    records = []
    for path in sorted(glob.glob(str(output / f"{prefix}-*.avro"))):
        with open(path, "rb") as handle:
            records.extend(fastavro.reader(handle, reader_schema=reader_schema))
    return records


def run_corpus(tmp_path: Path, *extra: str):
    corpus = tmp_path / "in"
    corpus.mkdir()
    expected = build_corpus(corpus)
    output = tmp_path / "out"
    summary = run([f"--input={corpus}", f"--output={output}", f"--max-input-bytes={MAX_INPUT_BYTES}",
                   *extra])
    stories = read_avro(output, "stories", "story")
    dead = read_avro(output, "dead-letters", "dead_letter")
    return expected, summary, stories, dead


def name_of(record: dict) -> str:
    return Path(record["source"]["uri"]).name


def check_balance(expected: dict, summary, stories: list[dict], dead: list[dict]) -> None:
    # 1. The counters balance, and the summary says so.
    assert summary.balanced, summary.render()
    assert summary.read == summary.written + summary.dropped + summary.dead_letters
    assert f"read {summary.read} = written {summary.written}" in summary.render()
    assert summary.sinks == {"files": {"stories": summary.written, "dead_letters": summary.dead_letters}}
    # 2. The files hold exactly what the counters say.
    assert len(stories) == summary.written
    assert len(dead) == summary.dead_letters
    # 3. The corpus holds exactly this many items, by construction.
    assert summary.read == expected["items"], summary.render()
    # Record ids are unique: nothing was written twice.
    assert len({r["id"] for r in stories}) == len(stories)
    # Every bad file gave one dead letter with the reason we expect, its bytes kept.
    reasons = {name_of(d): d["reason"] for d in dead if d["stage"] in ("read", "parse")}
    for name, reason in expected["dead"].items():
        assert reasons.get(name) == reason, (name, reasons.get(name), [d["error"] for d in dead
                                                                     if name_of(d) == name])
    huge = next(d for d in dead if name_of(d) == "huge.txt")
    assert huge["raw_size"] > MAX_INPUT_BYTES and "limit" in huge["error"]
    package_dead = [d for d in dead if name_of(d) == "package.json"]
    assert [d["reason"] for d in package_dead] == ["not_a_story"]
    # Nothing was lost: every input file is in the output, stories or dead letters.
    seen = Counter(name_of(r) for r in stories) + Counter(name_of(d) for d in dead)
    reuters_seen = seen.pop("reuters.sgm", 0)
    assert reuters_seen == expected["reuters_items"]
    for name in ("upload.txt.part", ".hidden.txt"):
        assert name not in seen


def test_batch_counts_balance_in_mark_mode(tmp_path):
    expected, summary, stories, dead = run_corpus(tmp_path, "--dedup-mode=mark")
    check_balance(expected, summary, stories, dead)
    assert summary.dropped == 0
    by_name = Counter(name_of(r) for r in stories)
    for name, count in expected["stories"].items():
        assert by_name[name] == count, (name, by_name[name])
    status = {name_of(r): r["dedup"]["status"] for r in stories}
    # Of each set of copies one is the UNIQUE original (the earliest by event time, ties by
    # id: which one is not ours to say) and the others are DUPLICATEs of it.
    for copies in COPIES:
        assert sorted(status[name] for name in copies) == ["DUPLICATE"] * (len(copies) - 1) + ["UNIQUE"], \
            {name: status[name] for name in copies}
    for name in ("ferry.txt.gz", "fishermen.txt", "trains.json"):
        assert status[name] == "UNIQUE"
    assert sum(summary.by_prefix("dedup_").values()) == summary.written


def test_batch_counts_balance_in_drop_mode(tmp_path):
    expected, summary, stories, dead = run_corpus(tmp_path, "--dedup-mode=drop")
    check_balance(expected, summary, stories, dead)
    assert summary.dropped >= len(expected["duplicates"])
    assert all(r["dedup"]["status"] == "UNIQUE" for r in stories)
    written = {name_of(r) for r in stories}
    # Of each set of copies exactly one is written.
    for copies in COPIES:
        assert len(written & copies) == 1, written & copies
    for name in ("ferry.txt.gz", "fishermen.txt", "trains.json"):
        assert name in written


def test_cli_exits_zero_and_prints_the_balance(tmp_path, capsys):
    from pipelines.cli import main

    corpus = tmp_path / "in"
    corpus.mkdir()
    build_corpus(corpus)
    code = main(["run", f"--input={corpus}", f"--output={tmp_path / 'out'}",
                 f"--max-input-bytes={MAX_INPUT_BYTES}"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "balanced: read" in printed and "NOT BALANCED" not in printed


# ---- the same corpus through Kafka --------------------------------------------------------------


def kafka_messages(corpus: Path) -> list[tuple[bytes, bytes]]:
    """The corpus as ``wire-ingest replay`` publishes it: one message per file (gunzipped),
    one per Reuters element; a corrupt .gz goes as it is."""
    from transforms.io.replay import iter_replay_messages

    return [(m.key, m.value) for m in iter_replay_messages([corpus])]


@pytest.fixture(scope="module")
def broker():
    from tests.broker import KafkaBroker, broker_missing

    missing = broker_missing()
    if missing:
        pytest.skip(missing)
    started = KafkaBroker().start()
    try:
        yield started
    finally:
        started.close()


def test_kafka_bounded_run_balances_and_commits_every_offset(tmp_path, broker):
    from tests.reliability import committed_offsets, produce

    corpus = tmp_path / "in"
    corpus.mkdir()
    expected = build_corpus(corpus)
    (corpus / "upload.txt.part").unlink()  # replay would send it: a file drop-folder detail only
    # Kafka messages stay under the broker's 1 MB default: a smaller "huge" input and limit.
    kafka_limit = 300_000
    (corpus / "huge.txt").write_bytes(b"Huge story\n\n" + b"word " * (kafka_limit // 4))
    topic = broker.new_topic("accounting", 3)
    acks = produce(broker.bootstrap, topic, kafka_messages(corpus))
    ends: dict[int, int] = {}
    for partition, offset in acks:
        ends[partition] = max(ends.get(partition, 0), offset + 1)
    output = tmp_path / "out"
    summary = run([f"--kafka-bootstrap={broker.bootstrap}", f"--kafka-topic={topic}", "--kafka-group=acct",
                   "--kafka-start=earliest", "--kafka-stop-at-end", f"--output={output}",
                   f"--max-input-bytes={kafka_limit}"])
    stories = read_avro(output, "stories", "story")
    dead = read_avro(output, "dead-letters", "dead_letter")
    assert summary.balanced, summary.render()
    assert (len(stories), len(dead)) == (summary.written, summary.dead_letters)
    assert summary.sinks == {"files": {"stories": len(stories), "dead_letters": len(dead)}}
    assert summary.read == expected["items"], summary.render()
    # Every offset of every partition is in the output, with its lineage.
    covered = {(r["source"]["partition"], r["source"]["offset"]) for r in stories + dead}
    assert covered == {(p, o) for p, end in ends.items() for o in range(end)}
    assert all(r["source"]["topic"] == topic and r["source"]["kind"] == "kafka" for r in stories + dead)
    assert Counter(r["dedup"]["status"] for r in stories)["DUPLICATE"] >= len(expected["duplicates"])
    assert committed_offsets(broker.bootstrap, topic, "acct") == ends


# ---- the balance per sink (RunSummary alone, no pipeline) ---------------------------------------

FILES_COUNTS = {"written": 7, "dead_letters": 3, "written_language_en": 7, "dead_letter_empty": 3}
KAFKA_COUNTS = {"kafka_story_messages_written": 7, "kafka_dead_letter_messages_written": 3}


@pytest.mark.parametrize("counters, story_sinks, dead_letter_sinks, sinks", [
    (FILES_COUNTS, ("files",), ("files",), {"files": {"stories": 7, "dead_letters": 3}}),
    (KAFKA_COUNTS, ("kafka",), ("kafka",), {"kafka": {"stories": 7, "dead_letters": 3}}),
    ({**KAFKA_COUNTS, **FILES_COUNTS}, ("kafka", "files"), ("kafka", "files"),
     {"kafka": {"stories": 7, "dead_letters": 3}, "files": {"stories": 7, "dead_letters": 3}}),
    ({"kafka_story_messages_written": 7, **FILES_COUNTS}, ("kafka", "files"), ("files",),
     {"kafka": {"stories": 7}, "files": {"stories": 7, "dead_letters": 3}}),
])
def test_a_record_in_two_sinks_is_counted_once_and_every_sink_balances(
        counters, story_sinks, dead_letter_sinks, sinks):
    from pipelines.ingest import RunSummary

    summary = RunSummary({"read": 12, "duplicates_dropped": 2, **counters}, story_sinks, dead_letter_sinks)
    assert (summary.written, summary.dropped, summary.dead_letters) == (7, 2, 3)
    assert summary.sinks == sinks and summary.to_json()["sinks"] == sinks
    assert summary.balanced, summary.render()
    assert "balanced: read 12 = written 7 + dropped 2 + dead-lettered 3" in summary.render()


@pytest.mark.parametrize("counters, story_sinks, dead_letter_sinks", [
    ({**FILES_COUNTS, "written": 6}, ("files",), ("files",)),                  # a story missing
    ({**KAFKA_COUNTS, "kafka_dead_letter_messages_written": 2}, ("kafka",), ("kafka",)),
    ({**KAFKA_COUNTS, **FILES_COUNTS, "kafka_story_messages_written": 8},      # kafka wrote one more
     ("kafka", "files"), ("kafka", "files")),
    ({**KAFKA_COUNTS, **FILES_COUNTS, "kafka_dead_letter_messages_written": 2},
     ("kafka", "files"), ("kafka", "files")),
    (FILES_COUNTS, ("kafka", "files"), ("files",)),                            # kafka wrote nothing
])
def test_a_sink_that_wrote_a_different_count_is_not_balanced(counters, story_sinks, dead_letter_sinks):
    from pipelines.ingest import RunSummary

    summary = RunSummary({"read": 12, "duplicates_dropped": 2, **counters}, story_sinks, dead_letter_sinks)
    assert not summary.balanced
    assert "NOT BALANCED" in summary.render() and not summary.to_json()["balanced"]


def test_kafka_only_summary_names_its_sink():
    from pipelines.ingest import RunSummary

    counters = {"read": 12, "duplicates_dropped": 2, **KAFKA_COUNTS}
    rendered = RunSummary(counters, ("kafka",), ("kafka",)).render()
    assert "sinks         kafka: stories 7, dead letters 3" in rendered
    assert rendered.endswith("balanced: read 12 = written 7 + dropped 2 + dead-lettered 3 in kafka")
