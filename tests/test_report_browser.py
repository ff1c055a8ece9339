"""The report's HTML page in a real headless browser (Debian's Chromium).

Chromium loads the page from disk with the network switched off (a page that
fetched anything would render without it), its DOM after rendering is read
back and the numbers shown are checked against the run's own Avro files and
summary; a screenshot is kept in the test's tmp dir and, when
``WIRE_INGEST_ARTIFACTS`` is set, copied there. ``deploy/local/chromium.sh``
(run by ``make test``) installs Chromium.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import fastavro
import pytest

from pipelines import cli
from tests.report_fixture import run_fixture

#: No network, no GPU, no sandbox (root in a container), no first-run chrome.
_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
          "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>", "--hide-scrollbars"]


def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("chromium is not installed: run deploy/local/chromium.sh (make engines does)")
    return path


def _browse(page: Path, *args: str, profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run([_chromium(), *_FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
                          capture_output=True, text=True, timeout=120, check=True)


class _Numbers(HTMLParser):
    """The counts a rendered page shows: chart bars (``data-count`` of each
    ``g.bar``) and table cells (``td[data-table]``), by chart and key."""

    def __init__(self):
        super().__init__()
        self.bars: dict[str, dict[str, int]] = {}
        self.cells: dict[str, dict[str, str]] = {}
        self.clusters: list[str] = []
        self.examples: list[str] = []
        self._chart = None
        self._cell = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "svg" and "data-chart" in attrs:
            self._chart = attrs["data-chart"]
        elif tag == "g" and attrs.get("class") == "bar":
            self.bars.setdefault(self._chart, {})[attrs["data-key"]] = int(attrs["data-count"])
        elif tag == "td" and "data-table" in attrs:
            self._cell = (attrs["data-table"], attrs["data-key"])
        elif tag == "tr" and attrs.get("class") == "cluster":
            self.clusters.append(attrs["data-cluster"])
        elif tag == "tr" and attrs.get("class") == "example":
            self.examples.append(attrs["data-reason"])

    def handle_endtag(self, tag):
        if tag == "svg":
            self._chart = None
        elif tag == "td":
            self._cell = None

    def handle_data(self, data):
        if self._cell and data.strip():
            table, key = self._cell
            self.cells.setdefault(table, {})[key] = data.strip()


def _records(paths) -> list[dict]:
    out = []
    for path in paths:
        with open(path, "rb") as handle:
            out.extend(fastavro.reader(handle))
    return out


def test_the_report_page_renders_in_chromium_with_the_runs_numbers(tmp_path):
    out = run_fixture(tmp_path / "run")
    page = tmp_path / "report.html"
    assert cli.main(["report", str(out), "--html", str(page)]) == 0

    dom = _browse(page, "--dump-dom", profile=tmp_path / "profile").stdout
    assert "</svg>" in dom
    shown = _Numbers()
    shown.feed(dom)

    # What the run wrote, read here with the schema embedded in its files.
    stories = _records(sorted(out.glob("stories-*.avro")))
    dead = _records(sorted(out.glob("dead-letters-*.avro")))
    summary = json.loads((out / "summary.json").read_text())
    outcomes = {"written": len(stories), "duplicates_dropped": summary["duplicates_dropped"],
                "dead_lettered": len(dead), "read": summary["read"]}
    languages = dict(Counter(s["language"] for s in stories))
    statuses = dict(Counter(s["dedup"]["status"] for s in stories))
    reasons = dict(Counter(d["reason"] for d in dead))
    agencies = dict(Counter(a for s in stories for a in (s["agencies"] or ["(none)"])))
    assert outcomes == {"written": 4, "duplicates_dropped": 0, "dead_lettered": 2, "read": 6}
    for chart, expected in (("outcomes", outcomes), ("languages", languages), ("dedup", statuses),
                            ("reasons", reasons), ("agencies", agencies)):
        assert shown.bars[chart] == expected, chart
        assert shown.cells[chart] == {key: str(value) for key, value in expected.items()}, chart
    clusters = Counter(s["dedup"]["cluster_id"] for s in stories)
    assert shown.clusters == [cluster for cluster, size in clusters.most_common() if size > 1]
    assert sorted(shown.examples) == sorted(reasons)

    shot = tmp_path / "report.png"
    _browse(page, f"--screenshot={shot}", "--window-size=1200,1400", profile=tmp_path / "profile")
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1200, 1400)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    # Bars of the chart colours are on the screen, not just text on white.
    painted = {colour for count, colour in colours if count > 200}
    assert {(0x3B, 0x6E, 0xA5), (0xE0, 0x7B, 0x39)} <= painted
    artifacts = os.environ.get("WIRE_INGEST_ARTIFACTS")
    if artifacts:
        os.makedirs(artifacts, exist_ok=True)
        shutil.copy(shot, Path(artifacts) / "report.png")
        shutil.copy(page, Path(artifacts) / "report.html")
