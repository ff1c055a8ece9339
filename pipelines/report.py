"""``wire-ingest report DIR``: what a run left in its output folder, summed up.

In: a run's output directory, i.e. what ``--output DIR`` leaves there:
``stories-*.avro`` and ``dead-letters-*.avro`` (batch shards and streaming
window files alike; hidden ``.*.tmp`` files of writes in progress are not
read), and the end-of-run counts when the run wrote them there
(``--summary-json DIR/summary.json``; ``--summary FILE`` names another
file). Out: counts by outcome, languages, agencies, dedup statuses, the
largest clusters with their headlines, and dead-letter reasons with an
example of each, as text, or with ``--html FILE`` as one self-contained
page (inline SVG charts, no script, nothing fetched when it is viewed).

The counts come from the records in the files. Duplicates a ``--dedup-mode
drop`` run did not write are in no file: only the run summary has them, so
without one the report says so instead of showing 0. A folder that several
runs wrote to is reported as a whole; its summary is the last run's only.
An Avro file that cannot be read is listed, not fatal.
"""

from __future__ import annotations

import argparse
import glob
import html
import json
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Optional

__all__ = ["Report", "build_report", "load_report", "render_text", "render_html",
           "story_facts", "dead_letter_example", "report_command"]

#: The summary ``report`` looks for in DIR when ``--summary`` is not given.
DEFAULT_SUMMARY_NAME = "summary.json"
#: Clusters shown (largest first).
TOP_CLUSTERS = 10
#: Characters of a dead letter's raw bytes and error shown in its example.
EXAMPLE_CHARS = 160


@dataclass
class Report:
    """Everything the report shows; built by ``build_report`` from plain dicts."""

    story_files: int = 0
    dead_letter_files: int = 0
    stories: int = 0
    dead_letters: int = 0
    languages: dict[str, int] = field(default_factory=dict)
    agencies: dict[str, int] = field(default_factory=dict)
    dedup: dict[str, int] = field(default_factory=dict)
    #: Largest clusters: ``{"cluster_id", "size", "headline", "statuses"}``.
    clusters: list[dict[str, Any]] = field(default_factory=list)
    #: Dead-letter reason -> count, and one example of each.
    reasons: dict[str, int] = field(default_factory=dict)
    examples: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The run summary (``RunSummary.to_json()``) when there is one.
    summary: Optional[dict[str, Any]] = None
    summary_path: Optional[str] = None
    #: Files that could not be read: ``(path, error)``.
    unreadable: list[tuple[str, str]] = field(default_factory=list)

    @property
    def outcomes(self) -> dict[str, Optional[int]]:
        """written / duplicates dropped / dead-lettered / read; None where unknown."""
        dropped = self.summary.get("duplicates_dropped") if self.summary else None
        read = self.stories + self.dead_letters + dropped if dropped is not None else None
        return {"written": self.stories, "duplicates_dropped": dropped,
                "dead_lettered": self.dead_letters, "read": read}

    def to_json(self) -> dict[str, Any]:
        return {
            "outcomes": self.outcomes, "languages": self.languages, "agencies": self.agencies,
            "dedup": self.dedup, "clusters": self.clusters, "dead_letter_reasons": self.reasons,
            "dead_letter_examples": self.examples, "files": {
                "stories": self.story_files, "dead_letters": self.dead_letter_files,
                "unreadable": [list(item) for item in self.unreadable]},
            "summary": self.summary,
        }


# ---- reading ---------------------------------------------------------------------------------

def output_files(directory: str) -> tuple[list[str], list[str]]:
    """The story and dead-letter Avro files a run wrote to ``directory``."""
    from transforms.io.write import DEAD_LETTERS_PREFIX, STORIES_PREFIX

    def files(prefix: str) -> list[str]:
        return sorted(glob.glob(os.path.join(glob.escape(directory), f"{prefix}-*.avro")))

    return files(STORIES_PREFIX), files(DEAD_LETTERS_PREFIX)


def read_avro(paths: Iterable[str], unreadable: list) -> Iterator[dict]:
    """Records of every readable file; a file that fails is added to ``unreadable``
    (the records read from it before the failure are kept)."""
    import fastavro

    for path in paths:
        try:
            with open(path, "rb") as handle:
                yield from fastavro.reader(handle)
        except Exception as error:  # a truncated or foreign file must not end the report
            unreadable.append((path, f"{type(error).__name__}: {error}"))


def load_summary(path: str) -> Optional[dict[str, Any]]:
    """The run summary JSON at ``path``, or None when there is none."""
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def load_report(directory: str, summary_path: Optional[str] = None,
                top_clusters: int = TOP_CLUSTERS) -> Report:
    """Read ``directory`` (see the module docstring) into a ``Report``."""
    if not os.path.isdir(directory):
        raise ValueError(f"DIR: {directory!r} is not a directory")
    if summary_path is not None and not os.path.isfile(summary_path):
        raise ValueError(f"--summary: {summary_path!r} is not a file")
    story_paths, dead_paths = output_files(directory)
    summary_path = summary_path or os.path.join(directory, DEFAULT_SUMMARY_NAME)
    try:
        summary = load_summary(summary_path)
    except (OSError, ValueError) as error:
        raise ValueError(f"--summary: {summary_path!r} is not a run summary: {error}") from error
    unreadable: list = []
    report = build_report((story_facts(r) for r in read_avro(story_paths, unreadable)),
                          read_avro(dead_paths, unreadable), summary, top_clusters)
    report.story_files, report.dead_letter_files = len(story_paths), len(dead_paths)
    report.summary_path = summary_path if summary is not None else None
    report.unreadable = unreadable
    return report


# ---- pure summing ----------------------------------------------------------------------------

def story_facts(record: dict) -> dict[str, Any]:
    """The few fields of a story record the report needs (the body is let go)."""
    dedup = record.get("dedup") or {}
    return {"id": record.get("id", ""), "headline": record.get("headline", ""),
            "language": record.get("language") or "und",
            "agencies": list(record.get("agencies") or []),
            "status": dedup.get("status") or "UNIQUE",
            "cluster_id": dedup.get("cluster_id") or record.get("id", "")}


def dead_letter_example(record: dict, chars: int = EXAMPLE_CHARS) -> dict[str, Any]:
    """One dead letter as the report shows it: where it came from and why."""
    source = record.get("source") or {}
    raw = record.get("raw") or b""
    return {"stage": record.get("stage", ""), "reason": record.get("reason", ""),
            "error": _clip(record.get("error", ""), chars),
            "uri": source.get("uri", ""), "position": source.get("position", ""),
            "format": record.get("format"), "raw_size": record.get("raw_size", len(raw)),
            "raw": _clip(raw.decode("utf-8", "replace"), chars)}


def _clip(text: str, chars: int) -> str:
    """One line of at most ``chars`` characters; control characters shown as '·'."""
    text = "".join(c if c.isprintable() else "·" for c in " ".join(text.split()))
    return text if len(text) <= chars else text[:chars - 1] + "…"


def build_report(stories: Iterable[dict], dead_letters: Iterable[dict],
                 summary: Optional[dict[str, Any]] = None,
                 top_clusters: int = TOP_CLUSTERS) -> Report:
    """Sum ``story_facts`` dicts and dead-letter records (Avro dicts) into a ``Report``."""
    languages, agencies, statuses, sizes = Counter(), Counter(), Counter(), Counter()
    headlines: dict[str, str] = {}
    cluster_statuses: dict[str, Counter] = {}
    count = 0
    for story in stories:
        count += 1
        languages[story["language"]] += 1
        agencies.update(story["agencies"] or ["(none)"])
        statuses[story["status"]] += 1
        cluster = story["cluster_id"]
        sizes[cluster] += 1
        cluster_statuses.setdefault(cluster, Counter())[story["status"]] += 1
        # The canonical story's headline names its cluster; any member's until it is seen.
        if story["id"] == cluster or cluster not in headlines:
            headlines[cluster] = story["headline"]
    reasons: Counter = Counter()
    examples: dict[str, dict[str, Any]] = {}
    dead_count = 0
    for record in dead_letters:
        dead_count += 1
        reason = record.get("reason", "")
        reasons[reason] += 1
        examples.setdefault(reason, dead_letter_example(record))
    largest = sorted(sizes.items(), key=lambda item: (-item[1], item[0]))[:top_clusters]
    return Report(
        stories=count, dead_letters=dead_count, languages=_ordered(languages),
        agencies=_ordered(agencies), dedup=_ordered(statuses),
        clusters=[{"cluster_id": cluster, "size": size, "headline": headlines[cluster],
                   "statuses": dict(sorted(cluster_statuses[cluster].items()))}
                  for cluster, size in largest if size > 1],
        reasons=_ordered(reasons), examples={reason: examples[reason] for reason in _ordered(reasons)},
        summary=summary)


def _ordered(counts: Counter) -> dict[str, int]:
    """Largest first, ties by name: the order every table and chart uses."""
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


# ---- text ------------------------------------------------------------------------------------

def _number(value: Optional[int]) -> str:
    return "unknown (no run summary)" if value is None else str(value)


def render_text(report: Report) -> str:
    """The report as the terminal shows it."""
    lines = [f"wire-ingest report: {report.story_files} story files, "
             f"{report.dead_letter_files} dead-letter files"]
    lines.append("outcomes")
    for name, value in report.outcomes.items():
        lines.append(f"  {name.replace('_', ' '):<20}{_number(value)}")
    if report.summary is not None:
        verdict = "balanced" if report.summary.get("balanced") else "NOT BALANCED"
        lines.append(f"  run summary ({report.summary_path}): read {report.summary.get('read')}, "
                     f"written {report.summary.get('written')}, dropped "
                     f"{report.summary.get('duplicates_dropped')}, dead-lettered "
                     f"{report.summary.get('dead_letters')}: {verdict}")
    for title, counts in (("languages", report.languages), ("agencies", report.agencies),
                          ("dedup statuses", report.dedup)):
        lines.append(title)
        width = max((len(key) for key in counts), default=0) + 2
        lines.extend(f"  {key:<{width}}{value}" for key, value in counts.items())
        if not counts:
            lines.append("  -")
    lines.append("largest clusters")
    for cluster in report.clusters:
        statuses = ", ".join(f"{k.lower()} {v}" for k, v in cluster["statuses"].items())
        lines.append(f"  {cluster['size']:>4}  {cluster['headline']}  ({statuses}; {cluster['cluster_id']})")
    if not report.clusters:
        lines.append("  - (no cluster holds more than one story)")
    lines.append("dead-letter reasons")
    for reason, count in report.reasons.items():
        example = report.examples[reason]
        where = example["uri"] + (f" {example['position']}" if example["position"] else "")
        lines.append(f"  {reason:<20}{count}")
        lines.append(f"      e.g. stage {example['stage']}, {where}: {example['error']}")
    if not report.reasons:
        lines.append("  -")
    for path, error in report.unreadable:
        lines.append(f"unreadable file {path}: {error}")
    return "\n".join(lines)


# ---- HTML ------------------------------------------------------------------------------------

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:20px}h2{font-size:16px;margin:24px 0 8px}
.grid{display:flex;flex-wrap:wrap;gap:24px}.panel{min-width:320px}
table{border-collapse:collapse}td,th{padding:2px 8px;text-align:left;vertical-align:top}
td.count{text-align:right;font-variant-numeric:tabular-nums}
tr:nth-child(even){background:#f4f6f8}.muted{color:#777}code{font-size:12px}
"""
_COLOURS = ("#3b6ea5", "#e07b39", "#5b9a5b", "#b94a48", "#8067a8", "#c9a227", "#4a9ab9", "#888")


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


#: Bars a chart shows at most; the rest are summed into one "others" bar.
CHART_BARS = 20


def top_counts(counts: dict[str, Optional[int]], limit: int = CHART_BARS) -> dict[str, Optional[int]]:
    """The first ``limit - 1`` entries and one ``(N others)`` entry summing the
    rest, when there are more than ``limit``; else ``counts`` unchanged."""
    if len(counts) <= limit:
        return counts
    items = list(counts.items())
    shown, rest = dict(items[:limit - 1]), items[limit - 1:]
    shown[f"({len(rest)} others)"] = sum(value or 0 for _, value in rest)
    return shown


def svg_bars(name: str, counts: dict[str, Optional[int]], width: int = 420) -> str:
    """A horizontal bar chart as inline SVG; every bar carries its key and
    count (``data-key``, ``data-count``) so a browser test can read it back.
    At most ``CHART_BARS`` bars (``top_counts``); the table beside it lists all."""
    known = {key: value for key, value in top_counts(counts).items() if value is not None}
    if not known:
        return f'<p class="muted" data-chart="{_e(name)}">none</p>'
    label_w, row_h, top = 140, 22, 4
    longest = max(known.values()) or 1
    bar_room = width - label_w - 60
    rows = []
    for i, (key, value) in enumerate(known.items()):
        y = top + i * row_h
        bar = max(1, round(bar_room * value / longest)) if value else 0
        colour = _COLOURS[i % len(_COLOURS)]
        rows.append(
            f'<g class="bar" data-key="{_e(key)}" data-count="{value}">'
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{_e(_clip(key, 20))}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{bar}" height="{row_h - 6}" fill="{colour}"/>'
            f'<text x="{label_w + bar + 4}" y="{y + 15}">{value}</text></g>')
    height = top * 2 + row_h * len(known)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" data-chart="{_e(name)}" width="{width}" '
            f'height="{height}" viewBox="0 0 {width} {height}" font-size="12" role="img" '
            f'aria-label="{_e(name)}">' + "".join(rows) + "</svg>")


def _count_table(name: str, counts: dict[str, Optional[int]]) -> str:
    rows = "".join(
        f'<tr><td>{_e(key)}</td><td class="count" data-table="{_e(name)}" data-key="{_e(key)}">'
        f'{"unknown" if value is None else value}</td></tr>' for key, value in counts.items())
    return f"<table>{rows}</table>"


def render_html(report: Report, title: str = "wire-ingest run report") -> str:
    """One self-contained page: inline CSS and SVG, no script, no external resource."""
    panels = []
    for name, heading, counts in (("outcomes", "Outcomes", report.outcomes),
                                  ("languages", "Languages", report.languages),
                                  ("agencies", "Agencies", report.agencies),
                                  ("dedup", "Dedup statuses", report.dedup),
                                  ("reasons", "Dead-letter reasons", report.reasons)):
        panels.append(f'<section class="panel" id="{name}"><h2>{heading}</h2>'
                      f'{svg_bars(name, counts)}{_count_table(name, counts)}</section>')
    summary = ""
    if report.summary is not None:
        verdict = "balanced" if report.summary.get("balanced") else "NOT BALANCED"
        summary = (f'<p id="summary" data-balanced="{str(bool(report.summary.get("balanced"))).lower()}">'
                   f'Run summary ({_e(report.summary_path)}): read {_e(report.summary.get("read"))}, '
                   f'written {_e(report.summary.get("written"))}, dropped '
                   f'{_e(report.summary.get("duplicates_dropped"))}, dead-lettered '
                   f'{_e(report.summary.get("dead_letters"))}: <b>{verdict}</b></p>')
    else:
        summary = ('<p id="summary" class="muted">No run summary in this folder: duplicates a '
                   'drop-mode run did not write are not counted.</p>')
    clusters = "".join(
        f'<tr class="cluster" data-cluster="{_e(c["cluster_id"])}"><td class="count">{c["size"]}</td>'
        f'<td>{_e(c["headline"])}</td><td>{_e(", ".join(f"{k.lower()} {v}" for k, v in c["statuses"].items()))}'
        f'</td><td><code>{_e(c["cluster_id"])}</code></td></tr>' for c in report.clusters) \
        or '<tr><td class="muted" colspan="4">no cluster holds more than one story</td></tr>'
    examples = "".join(
        f'<tr class="example" data-reason="{_e(reason)}"><td>{_e(reason)}</td>'
        f'<td>{_e(ex["stage"])}</td><td><code>{_e(ex["uri"])}</code> {_e(ex["position"])}</td>'
        f'<td>{_e(ex["error"])}</td><td><code>{_e(ex["raw"])}</code></td></tr>'
        for reason, ex in report.examples.items()) \
        or '<tr><td class="muted" colspan="5">no dead letters</td></tr>'
    unreadable = "".join(f"<li><code>{_e(p)}</code>: {_e(err)}</li>" for p, err in report.unreadable)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{_e(title)}</h1><p>{report.story_files} story files, "
        f"{report.dead_letter_files} dead-letter files.</p>{summary}"
        f'<div class="grid">{"".join(panels)}</div>'
        '<h2>Largest clusters</h2><table id="clusters"><tr><th>stories</th><th>headline</th>'
        f"<th>statuses</th><th>cluster</th></tr>{clusters}</table>"
        '<h2>Dead letters: an example of each reason</h2><table id="examples"><tr><th>reason</th>'
        f"<th>stage</th><th>source</th><th>error</th><th>raw</th></tr>{examples}</table>"
        + (f"<h2>Unreadable files</h2><ul id=\"unreadable\">{unreadable}</ul>" if unreadable else "")
        + "</body></html>\n")


# ---- command ---------------------------------------------------------------------------------

def report_command(argv: list[str], out=None) -> int:
    """``wire-ingest report DIR [--summary FILE] [--html FILE] [--json]``; exit 1
    when a file of DIR could not be read (the report covers the rest)."""
    out = out or sys.stdout
    parser = argparse.ArgumentParser(
        prog="wire-ingest report",
        description="Sum up a run's output folder: outcomes, languages, agencies, dedup statuses, "
                    "largest clusters, dead-letter reasons with an example of each.")
    parser.add_argument("directory", metavar="DIR", help="The run's --output directory.")
    parser.add_argument("--summary", default=None,
                        help=f"The run's --summary-json file (default DIR/{DEFAULT_SUMMARY_NAME} "
                             "when it exists).")
    parser.add_argument("--html", default=None, metavar="FILE",
                        help="Also write a self-contained HTML page with charts to FILE.")
    parser.add_argument("--json", action="store_true", help="Print the report as JSON instead of text.")
    parser.add_argument("--top", type=int, default=TOP_CLUSTERS,
                        help=f"Largest clusters shown (default {TOP_CLUSTERS}).")
    args = parser.parse_args(argv)
    if args.top <= 0:
        raise ValueError("--top must be a positive number of clusters")
    if args.html and not os.path.isdir(os.path.dirname(os.path.abspath(args.html))):
        raise ValueError(f"--html: the folder of {args.html!r} does not exist")
    report = load_report(args.directory, args.summary, args.top)
    if args.json:
        out.write(json.dumps(report.to_json(), ensure_ascii=False, indent=1, default=str) + "\n")
    else:
        out.write(render_text(report) + "\n")
    if args.html:
        with open(args.html, "w", encoding="utf-8") as handle:
            handle.write(render_html(report))
    return 1 if report.unreadable else 0
