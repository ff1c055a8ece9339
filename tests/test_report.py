"""``wire-ingest report``: pure summing, and a real run's folder read back."""

from __future__ import annotations

import json
from collections import Counter

import fastavro
import pytest

from pipelines import cli
from pipelines.report import (build_report, dead_letter_example, load_report, render_html,
                              render_text, story_facts)
from tests.report_fixture import run_fixture


def _story(id_, cluster, status="UNIQUE", language="en", agencies=("Reuters",), headline=None):
    return {"id": id_, "headline": headline or f"headline {id_}", "language": language,
            "agencies": list(agencies), "status": status, "cluster_id": cluster}


def test_build_report_counts_and_orders_largest_first():
    stories = [_story("a", "a"), _story("b", "a", "DUPLICATE"), _story("c", "a", "NEAR_DUPLICATE"),
               _story("d", "d", language="fr", agencies=()), _story("e", "d", "UPDATE", "fr"),
               _story("f", "f", agencies=("AFP", "Reuters"))]
    dead = [{"reason": "empty", "stage": "parse", "error": "empty input", "raw": b"",
             "source": {"uri": "/in/x", "position": ""}},
            {"reason": "empty", "stage": "parse", "error": "second", "raw": b"",
             "source": {"uri": "/in/y", "position": ""}},
            {"reason": "malformed", "stage": "parse", "error": "bad\nxml", "raw": b"<a",
             "source": {"uri": "/in/z.sgm", "position": "item 3"}}]
    report = build_report(stories, dead, summary=None)
    assert report.languages == {"en": 4, "fr": 2}
    assert list(report.agencies.items()) == [("Reuters", 5), ("(none)", 1), ("AFP", 1)]
    assert report.dedup == {"UNIQUE": 3, "DUPLICATE": 1, "NEAR_DUPLICATE": 1, "UPDATE": 1}
    assert [(c["cluster_id"], c["size"], c["headline"]) for c in report.clusters] == [
        ("a", 3, "headline a"), ("d", 2, "headline d")]  # a cluster of one is not listed
    assert report.reasons == {"empty": 2, "malformed": 1}
    assert report.examples["empty"]["uri"] == "/in/x"  # the first one seen
    assert report.examples["malformed"]["position"] == "item 3"
    assert report.examples["malformed"]["error"] == "bad xml"
    # Without a run summary, dropped duplicates (and so what was read) are unknown, not 0.
    assert report.outcomes == {"written": 6, "duplicates_dropped": None, "dead_lettered": 3,
                               "read": None}
    assert "unknown (no run summary)" in render_text(report)


def test_the_canonical_story_names_its_cluster_whatever_the_order():
    report = build_report([_story("b", "a", "DUPLICATE"), _story("a", "a")], [])
    assert report.clusters[0]["headline"] == "headline a"


def test_outcomes_take_dropped_duplicates_from_the_run_summary():
    report = build_report([_story("a", "a")], [], summary={"duplicates_dropped": 4, "balanced": True})
    assert report.outcomes == {"written": 1, "duplicates_dropped": 4, "dead_lettered": 0, "read": 5}


def test_examples_are_clipped_to_one_printable_line():
    example = dead_letter_example({"reason": "undecodable", "stage": "parse", "error": "x" * 500,
                                   "raw": bytes(range(40)), "source": {"uri": "u", "position": ""}},
                                  chars=50)
    assert len(example["error"]) == 50 and example["error"].endswith("…")
    assert example["raw"].isprintable()


def test_html_escapes_what_the_stories_say():
    page = render_html(build_report([_story("a", "a", headline="<script>alert(1)</script>"),
                                     _story("b", "a", "DUPLICATE")], []))
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page


@pytest.fixture(scope="module")
def run_output(tmp_path_factory):
    return run_fixture(tmp_path_factory.mktemp("report"))


def _read_all(paths):
    records = []
    for path in paths:
        with open(path, "rb") as handle:
            records.extend(fastavro.reader(handle))
    return records


def test_a_real_runs_folder_is_reported_as_its_files_and_summary_say(run_output):
    stories = _read_all(sorted(run_output.glob("stories-*.avro")))
    dead = _read_all(sorted(run_output.glob("dead-letters-*.avro")))
    summary = json.loads((run_output / "summary.json").read_text())
    report = load_report(str(run_output))
    assert report.summary == summary
    assert report.outcomes == {"written": summary["written"], "duplicates_dropped": 0,
                               "dead_lettered": summary["dead_letters"], "read": summary["read"]}
    assert (report.stories, report.dead_letters) == (4, 2)
    assert report.languages == dict(Counter(s["language"] for s in stories)) == {"en": 2, "fr": 1, "de": 1}
    assert report.dedup == {"UNIQUE": 3, "DUPLICATE": 1}
    assert report.reasons == summary["dead_letter_reasons"] == {"empty": 1, "undecodable": 1}
    assert report.examples["empty"]["uri"].endswith("e-empty.txt")
    assert report.examples["undecodable"]["uri"].endswith("f-junk.txt")
    [cluster] = report.clusters
    assert cluster["size"] == 2 and cluster["headline"].startswith("Putin")
    assert report.agencies["Reuters"] == sum("Reuters" in s["agencies"] for s in stories) == 2
    assert not report.unreadable
    assert len(dead) == 2


def test_report_command_prints_text_json_and_writes_html(run_output, tmp_path, capsys):
    page = tmp_path / "report.html"
    assert cli.main(["report", str(run_output), "--html", str(page)]) == 0
    text = capsys.readouterr().out
    assert "dead lettered       2" in text and "undecodable" in text and "Putin" in text
    assert page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert cli.main(["report", str(run_output), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["outcomes"]["read"] == 6 and data["dedup"] == {"UNIQUE": 3, "DUPLICATE": 1}


def test_an_unreadable_file_is_listed_and_the_rest_reported(run_output, tmp_path, capsys):
    import shutil

    folder = tmp_path / "out"
    shutil.copytree(run_output, folder)
    (folder / "stories-all-009-broken.avro").write_bytes(b"Obj\x01 not really avro")
    assert cli.main(["report", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "unreadable file" in out and "stories-all-009-broken.avro" in out
    assert "written             4" in out


@pytest.mark.parametrize("args, option", [
    (["/no/such/folder"], "DIR"),
    (["{out}", "--summary", "/no/such/summary.json"], "--summary"),
    (["{out}", "--html", "/no/such/folder/r.html"], "--html"),
    (["{out}", "--top", "0"], "--top"),
])
def test_bad_report_options_exit_2_naming_the_option(args, option, tmp_path, capsys):
    argv = ["report"] + [arg.format(out=tmp_path) for arg in args]
    assert cli.main(argv) == 2
    assert option in capsys.readouterr().err


def test_a_summary_that_is_not_json_is_refused(tmp_path, capsys):
    (tmp_path / "summary.json").write_text("not json")
    assert cli.main(["report", str(tmp_path)]) == 2
    assert "--summary" in capsys.readouterr().err


def test_a_chart_folds_the_long_tail_into_one_bar_and_the_table_keeps_all():
    from pipelines.report import CHART_BARS, top_counts

    counts = {f"agency {i:02d}": 100 - i for i in range(30)}
    shown = top_counts(counts)
    assert len(shown) == CHART_BARS
    assert shown["(11 others)"] == sum(100 - i for i in range(19, 30))
    assert sum(shown.values()) == sum(counts.values())
    assert top_counts({"a": 1}) == {"a": 1}
    stories = [_story(str(i), str(i), agencies=(f"agency {i:02d}",)) for i in range(30)]
    page = render_html(build_report(stories, []))
    assert page.count('data-table="agencies"') == 30
    assert 'data-key="(11 others)" data-count="11"' in page
