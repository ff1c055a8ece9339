"""End to end on files: the seed in, enriched Avro out, on real Beam runners.

Batch on the FnApiRunner (what DirectRunner uses for batch), the seed
replayed under TestStream on Prism (the local streaming runner), and the portable
path Flink uses (PortableRunner, embedded job service, LOOPBACK workers).
Output is always read back from the Avro files with the project's schema.
"""

from __future__ import annotations

import glob
import gzip
import io
import json
import os
import shutil
from pathlib import Path

import apache_beam as beam
import fastavro
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue

from pipelines.cli import main as cli_main
from pipelines.ingest import run
from pipelines.runners import resolve_runner
from schemas import load_schema
from tests.conftest import SEED
from transforms.model import RawInput, SourcePosition
from transforms.process import ProcessStories

SEED_HEADLINE = "Putin ‘ready’ for talks with Ukraine in Minsk: Kremlin"
SEED_CAPTION = ("Russian President Vladimir Putin announced the start of a military operation "
                "against Ukraine in the early hours of Thursday")


def read_avro(output: Path, prefix: str) -> list[dict]:
    """Every record of ``output/prefix-*.avro``, read with the project's schema."""
    reader_schema = fastavro.parse_schema(load_schema("story" if prefix == "stories" else "dead_letter"))
    records = []
    for path in sorted(glob.glob(str(output / f"{prefix}-*.avro"))):
        with open(path, "rb") as handle:
            records.extend(fastavro.reader(handle, reader_schema=reader_schema))
    return records


def run_files(inputs: list[Path], output: Path, *extra: str):
    argv = [f"--input={path}" for path in inputs] + [f"--output={output}", *extra]
    return run(argv)


@pytest.fixture(scope="module")
def seed_run(tmp_path_factory):
    """The seed alone, batch, on the local runner."""
    output = tmp_path_factory.mktemp("seed_out")
    summary = run_files([SEED], output)
    return summary, read_avro(output, "stories"), read_avro(output, "dead-letters")


def test_seed_parses_to_the_expected_fields(seed_run):
    summary, stories, dead = seed_run
    assert (summary.read, summary.written, summary.dead_letters) == (1, 1, 0)
    assert dead == []
    [story] = stories
    assert story["format"] == "plain_text"
    assert story["headline"] == SEED_HEADLINE
    assert story["standfirst"].startswith("Kremlin says Russian leader is ready")
    assert story["language"] == "en" and story["language_confidence"] > 0.9
    assert "Al Jazeera" in story["agencies"]
    assert "Reuters" in story["agencies"]
    assert story["credit_line"] == "Source: Al Jazeera and news agencies"
    assert "Source:" not in story["body"]
    assert "[File:" not in story["body"]
    assert "control map" not in story["body"]
    assert story["body"].startswith("The Kremlin has said President Vladimir Putin is ready")
    assert story["body"].endswith("permanent members of the Security Council.")
    photo = story["captions"][0]
    assert photo["text"] == SEED_CAPTION
    assert photo["credit_raw"] == "[File: Sputnik/Sergey Guneev/Kremlin via Reuters]"
    assert photo["photographers"] == ["Sergey Guneev"]
    assert "Sputnik" in photo["agencies"]
    assert photo["distributor"] == "Reuters"
    assert photo["is_file_photo"] is True and photo["is_handout"] is False
    assert story["captions"][1]["text"].startswith("Russian invasion, control map Ukraine")
    assert story["word_count"] > 600
    assert len(story["content_hash"]) == 64
    assert story["dedup"] == {"status": "UNIQUE", "cluster_id": story["id"],
                              "duplicate_of": None, "similarity": None}
    assert story["source"]["kind"] == "file"
    assert story["source"]["uri"].endswith(SEED.name)


def test_seed_bylines_include_the_reporter(seed_run):
    _, [story], _ = seed_run
    reporter = [c for c in story["bylines"] if c["name"] == "Bernard Smith"]
    assert reporter and reporter[0]["organization"] == "Al Jazeera"
    assert reporter[0]["location"] == "Moscow"


def test_exact_copies_are_kept_and_marked(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(SEED, inputs / "a.txt")
    # The same story re-sent through a second channel: gzipped, re-wrapped.
    rewrapped = SEED.read_text(encoding="utf-8").replace("Kyiv, on the second day", "Kyiv,\non the second day")
    (inputs / "b.txt.gz").write_bytes(gzip.compress(rewrapped.encode("utf-8")))
    os.utime(inputs / "a.txt", (1_600_000_000, 1_600_000_000))
    os.utime(inputs / "b.txt.gz", (1_600_000_100, 1_600_000_100))
    summary = run_files([inputs], tmp_path / "out")
    stories = {Path(s["source"]["uri"]).name: s for s in read_avro(tmp_path / "out", "stories")}
    assert summary.written == 2 and summary.balanced
    first, second = stories["a.txt"], stories["b.txt.gz"]
    assert first["content_hash"] == second["content_hash"]
    assert first["dedup"]["status"] == "UNIQUE"
    assert second["dedup"]["status"] == "DUPLICATE"
    assert second["dedup"]["duplicate_of"] == first["id"]
    assert second["dedup"]["cluster_id"] == first["id"]


def _raw(path: Path, event_time_ms: int) -> RawInput:
    return RawInput(raw=path.read_bytes(), source=SourcePosition(kind="file", uri=str(path)),
                    filename=path.name, event_time=event_time_ms)


def _comparable(story) -> dict:
    record = story.to_avro()
    record.pop("ingested_at")
    return record


def test_seed_replayed_as_a_test_stream_gives_the_batch_records():
    seed = _raw(SEED, 1_645_700_000_000)
    copy = RawInput(raw=seed.raw, source=SourcePosition(kind="file", uri="copy.txt"),
                    filename="copy.txt", event_time=1_645_700_060_000)

    with beam.Pipeline(runner=FnApiRunner()) as batch:
        stories = batch | beam.Create([seed, copy]) | ProcessStories(event_time_from="source")
        stories[ProcessStories.STORIES] | "Collect" >> beam.Map(_collect, "batch")

    options = PipelineOptions()
    options.view_as(StandardOptions).streaming = True
    with beam.Pipeline(runner=resolve_runner(options), options=options) as streaming:
        stream = (TestStream()
                  .advance_watermark_to(1_645_699_000)
                  .add_elements([TimestampedValue(seed, seed.event_time / 1000)])
                  .advance_watermark_to(1_645_700_030)
                  .add_elements([TimestampedValue(copy, copy.event_time / 1000)])
                  .advance_watermark_to_infinity())
        stories = streaming | stream | ProcessStories(event_time_from="source")
        assert_that(stories[ProcessStories.STORIES] | "Comparable" >> beam.Map(_comparable),
                    equal_to(_COLLECTED["batch"]))

    statuses = sorted(r["dedup"]["status"] for r in _COLLECTED["batch"])
    assert statuses == ["DUPLICATE", "UNIQUE"]


#: Records collected by the in-process batch runner.
_COLLECTED: dict[str, list] = {"batch": []}


def _collect(story, run: str) -> None:
    _COLLECTED[run].append(_comparable(story))


def test_portable_runner_gives_the_same_records(tmp_path, seed_run):
    _, batch_stories, _ = seed_run
    summary = run_files([SEED], tmp_path / "out", "--runner=PortableRunner",
                        "--job_endpoint=embed", "--environment_type=LOOPBACK")
    [story] = read_avro(tmp_path / "out", "stories")
    expected = dict(batch_stories[0])
    for record in (story, expected):
        record.pop("ingested_at")
    assert story == expected
    assert summary.read == 1 and summary.written == 1 and summary.balanced


def test_bad_input_is_dead_lettered_and_counted(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "empty.txt").write_bytes(b"")
    (inputs / "blank.txt").write_bytes(b"  \n\n \t\n")
    garbage = bytes(range(256)) * 40
    (inputs / "garbage.bin").write_bytes(garbage)
    (inputs / "huge.txt").write_bytes(b"Headline\n\n" + b"word " * (10 * 1024 * 1024))  # 50 MB
    (inputs / "latin1.txt").write_bytes(
        "Café society\n\nThe café on the corner reopened on Monday, its owner said, "
        "after a long winter of renovation and a naïve plan that worked.\n".encode("latin-1"))
    (inputs / "cp1252.txt").write_bytes(
        "Prices rise \u2013 again\n\n\u201cWe expected it,\u201d the minister said of the "
        "rise in prices, which reached 5 \u20ac a kilo in the capital\u2019s markets.\n".encode("cp1252"))
    (inputs / "truncated.gz").write_bytes(gzip.compress(SEED.read_bytes())[:500])
    many = inputs / "many"
    many.mkdir()
    for index in range(1500):
        (many / f"story-{index:04d}.txt").write_text(
            f"Market report number {index}\n\nTrading in lot {index} closed at {index * 3} "
            f"points, dealers said, with volume at {index * 7} contracts.\n", encoding="utf-8")
    (many / "upload.txt.part").write_text("half a story")  # still being uploaded: not read

    summary = run_files([inputs, many], tmp_path / "out")
    dead = read_avro(tmp_path / "out", "dead-letters")
    stories = read_avro(tmp_path / "out", "stories")
    reasons = {Path(d["source"]["uri"]).name: d["reason"] for d in dead}
    assert reasons == {
        "empty.txt": "empty",
        "blank.txt": "empty",
        "garbage.bin": "undecodable",
        "huge.txt": "too_large",
        "truncated.gz": "malformed",
    }
    by_name = {Path(d["source"]["uri"]).name: d for d in dead}
    assert by_name["garbage.bin"]["raw"] == garbage
    assert by_name["huge.txt"]["raw_size"] == len(b"Headline\n\n") + 50 * 1024 * 1024
    assert by_name["huge.txt"]["raw_truncated"] is False and len(by_name["huge.txt"]["raw"]) == 1 << 20
    headlines = {s["headline"] for s in stories}
    assert "Café society" in headlines
    assert "Prices rise \u2013 again" in headlines
    assert summary.read == 1507 and summary.written == 1502 and summary.dead_letters == 5
    assert summary.balanced
    assert summary.get("dead_letter_too_large") == 1
    assert summary.get("files_skipped_in_progress") == 1


def test_cli_run_inspect_and_bad_options(tmp_path, capsys):
    output = tmp_path / "out"
    assert cli_main(["run", f"--input={SEED}", f"--output={output}",
                     f"--summary-json={tmp_path / 'summary.json'}"]) == 0
    assert "balanced: read 1 = written 1" in capsys.readouterr().out
    assert json.loads((tmp_path / "summary.json").read_text())["languages"] == {"en": 1}
    files = sorted(glob.glob(str(output / "stories-*.avro")))
    assert cli_main(["inspect", *files]) == 0
    [line] = capsys.readouterr().out.strip().splitlines()
    assert json.loads(line)["headline"] == SEED_HEADLINE
    assert cli_main(["run", f"--input={tmp_path / 'nothing-*.txt'}", f"--output={output}"]) == 2
    assert "--input" in capsys.readouterr().err
    assert cli_main(["run", f"--input={SEED}", f"--output={output}", "--dedup-horizon=0"]) == 2
