"""Peer expectations: do our parsers give what Superdesk's parser tests assert?

In: ``tests/data/peer_expectations.json`` (values that Superdesk's own parser
tests assert for the Superdesk fixtures of ``corpora/wire_formats``, the half
listed in its MANIFEST.tsv) and the fixtures themselves. Out: one line per
expectation, met or missed, and the share met among the comparable ones.

Each fixture goes through ``parse_bytes`` and ``enrich_item`` (as the pipeline
does, without Beam), and the expectation's ``item`` (0: the first story) is
compared with the ``Story`` record. Expectations marked ``comparable: false``
say why Superdesk's convention differs from our record contract; they are
listed, never counted.

Comparison modes (text is compared NFC, whitespace collapsed, never stored):

* ``exact``: the field equals ``expected``.
* ``empty`` / ``none``: the field is empty or null; for ``bylines``, no person named.
* ``nonempty``: the field is not empty.
* ``text_hash``: sha256 of the whole field is ``sha256`` (length ``length``).
* ``prefix_hash``: the field's first ``length`` characters hash to ``sha256``.
* ``contains_hash``: some ``length``-character window of the field hashes to ``sha256``.
* ``contains`` / ``not_contains``: a short, non-story string is (not) in the field.
* ``int_tolerance``: within 5% (and at least 3) of ``expected``; Superdesk
  counts words in the HTML, dateline included, so counts differ by a little.
* ``gt``: the number is greater than ``expected``.
* ``timestamp`` / ``timestamp_any``: ``published_at`` equals the ISO time (or one of them).
* ``names_ci``: the persons named in ``bylines`` are ``expected``, case-insensitive.
* ``names_include_ci``: those names are among the persons in ``bylines``.
* ``language_primary``: ``language`` equals the ISO 639-1 code ``expected``.
* ``dateline_place_ci`` / ``dateline_place_prefix_ci``: ``dateline.place`` (its
  first comma-separated part) equals / starts with ``expected``, case-insensitive.
* ``dateline_date`` / ``dateline_agency``: ``dateline.date`` / ``dateline.agency`` equal ``expected``.

Usage: .venv/bin/python bench/peer_eval.py [--corpora DIR] [--misses-only]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import unicodedata
from collections import Counter
from datetime import datetime
from typing import Any, Optional

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from transforms.enrich import enrich_item  # noqa: E402
from transforms.formats import parse_bytes  # noqa: E402
from transforms.language.detect import LanguageDetector  # noqa: E402
from transforms.model import ParsedInput, ParsedItem, ParseError, SourcePosition, Story  # noqa: E402

__all__ = ["DATA", "DEFAULT_CORPORA", "load_expectations", "parse_fixture", "evaluate", "main"]

DATA = os.path.join(REPO, "tests", "data", "peer_expectations.json")
DEFAULT_CORPORA = os.path.join(os.path.dirname(REPO), "shared", "corpora", "wire_formats")

TOLERANCE = 0.05
TOLERANCE_MIN = 3


def load_expectations(path: str = DATA) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)["expectations"]


def parse_fixture(path: str, detector: LanguageDetector) -> tuple[list[Story], Optional[str]]:
    """Stories of a fixture and, when it gives none, why (the dead letter's reason).

    Only a ``ParseError`` is an answer (a dead letter); any other exception
    is a crash and propagates.
    """
    with open(path, "rb") as handle:
        raw = handle.read()
    try:
        _, results = parse_bytes(raw, filename=os.path.basename(path))
    except ParseError as error:
        return [], f"{error.reason}: {error}"
    stories, reasons = [], []
    for result in results:
        if not isinstance(result, ParsedItem):
            reasons.append(f"{result.reason}: {result.error}")
            continue
        try:
            story, _ = enrich_item(ParsedInput(item=result, source=SourcePosition("file", path), raw=raw), detector)
        except ParseError as error:
            reasons.append(f"{error.reason}: {error}")
            continue
        stories.append(story)
    return stories, (None if stories else "; ".join(reasons) or "no story")


def _collapse(text: Optional[str]) -> str:
    return " ".join(unicodedata.normalize("NFC", text or "").split())


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _millis(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


def _iso(millis: Optional[int]) -> Optional[str]:
    if millis is None:
        return None
    return datetime.utcfromtimestamp(millis / 1000).isoformat() + "Z"


def _names(story: Story) -> list[str]:
    return [c.name for c in story.bylines if c.name]


def _field(story: Story, field: str) -> Any:
    if field == "bylines":
        return _names(story)
    return getattr(story, field)


def _describe(value: Any, hashed: bool) -> str:
    """What we give, said without quoting story text when the field is text."""
    if hashed:
        text = _collapse(value)
        return f"text of {len(text)} chars (sha256 {_sha(text)[:12]})" if text else "no text"
    return json.dumps(value, ensure_ascii=False)


def _check(exp: dict[str, Any], story: Story) -> tuple[bool, str]:
    """(met, what we give) for one comparable expectation."""
    mode, field = exp["compare"], exp["field"]
    expected = exp.get("expected")
    value = _field(story, field)
    if mode == "text_hash":
        text = _collapse(value)
        return _sha(text) == exp["sha256"], _describe(value, True)
    if mode == "prefix_hash":
        text = _collapse(value)
        return _sha(text[: exp["length"]]) == exp["sha256"], _describe(value, True) + ", lead differs"
    if mode == "contains_hash":
        text, size = _collapse(value), exp["length"]
        found = any(_sha(text[i : i + size]) == exp["sha256"] for i in range(max(0, len(text) - size + 1)))
        return found, _describe(value, True) + ", passage not found"
    if mode == "contains":
        return expected in _collapse(value), "string not found in " + _describe(value, True)
    if mode == "not_contains":
        return expected not in _collapse(value), "string found in " + _describe(value, True)
    if mode == "exact":
        return value == expected, _describe(value, False)
    if mode in ("empty", "none"):
        return not value, _describe(value, False)
    if mode == "nonempty":
        return bool(_collapse(value) if isinstance(value, str) else value), _describe(value, False)
    if mode == "int_tolerance":
        slack = max(TOLERANCE_MIN, round(TOLERANCE * expected))
        return abs(value - expected) <= slack, f"{value} (allowed {expected}±{slack})"
    if mode == "gt":
        return value > expected, _describe(value, False)
    if mode == "timestamp":
        return story.published_at == _millis(expected), f"{_iso(story.published_at)}"
    if mode == "timestamp_any":
        return story.published_at in {_millis(x) for x in expected}, f"{_iso(story.published_at)}"
    if mode == "names_ci":
        got = [name.casefold() for name in value]
        return got == [name.casefold() for name in expected], _describe(value, False)
    if mode == "names_include_ci":
        got = {name.casefold() for name in value}
        return all(name.casefold() in got for name in expected), _describe(value, False)
    if mode == "language_primary":
        return value == expected, _describe(value, False)
    dateline = story.dateline
    if mode in ("dateline_place_ci", "dateline_place_prefix_ci"):
        place = (dateline.place or "") if dateline else ""
        first = place.split(",")[0].strip().casefold()
        if mode == "dateline_place_ci":
            ok = first == expected.casefold() or place.casefold() == expected.casefold()
        else:
            ok = bool(first) and first.startswith(expected.casefold())
        return ok, _describe(dateline.to_avro() if dateline else None, False)
    if mode == "dateline_date":
        return bool(dateline) and dateline.date == expected, _describe(dateline.date if dateline else None, False)
    if mode == "dateline_agency":
        return bool(dateline) and dateline.agency == expected, _describe(dateline.agency if dateline else None, False)
    raise ValueError(f"unknown compare mode {mode!r}")


def _expected_text(exp: dict[str, Any]) -> str:
    if "sha256" in exp:
        return f"text of {exp['length']} chars (sha256 {exp['sha256'][:12]})"
    return json.dumps(exp.get("expected"), ensure_ascii=False)


def evaluate(corpora: str = DEFAULT_CORPORA, path: str = DATA) -> dict[str, Any]:
    """Compare every expectation; returns rows, counts and the share met.

    Raises:
      FileNotFoundError: a fixture named by an expectation is missing.
      Exception: whatever a parser raises other than ``ParseError`` (a crash).
    """
    detector = LanguageDetector(seed=0)
    detector.load()
    expectations = load_expectations(path)
    parsed: dict[str, tuple[list[Story], Optional[str]]] = {}
    rows = []
    for exp in expectations:
        fixture = exp["fixture"]
        if fixture not in parsed:
            parsed[fixture] = parse_fixture(os.path.join(corpora, fixture), detector)
        stories, why = parsed[fixture]
        row = {"exp": exp, "fixture": fixture, "field": exp["field"], "compare": exp["compare"]}
        if not exp.get("comparable", True):
            row.update(status="not comparable", got=exp.get("not_comparable_reason", ""))
        elif exp.get("item", 0) >= len(stories):
            row.update(status="missed", got=f"no story ({why})")
        else:
            met, got = _check(exp, stories[exp.get("item", 0)])
            row.update(status="met" if met else "missed", got=got)
        rows.append(row)
    counts = Counter(row["status"] for row in rows)
    comparable = counts["met"] + counts["missed"]
    share = 100.0 * counts["met"] / comparable if comparable else 0.0
    return {"rows": rows, "counts": counts, "percent": share, "fixtures": parsed}


def format_row(row: dict[str, Any]) -> str:
    exp = row["exp"]
    line = f"{row['status']:<15} {row['fixture']}  {row['field']} [{row['compare']}]"
    if row["status"] == "missed":
        line += f"\n{'':16}expected {_expected_text(exp)}; we give {row['got']}"
    elif row["status"] == "not comparable":
        line += f"\n{'':16}{row['got']}"
    return line + f"\n{'':16}({exp['source']['repo']} {exp['source']['file']} {exp['source']['test']})"


def summary(result: dict[str, Any]) -> str:
    counts, rows = result["counts"], result["rows"]
    by_repo: dict[str, Counter] = {}
    for row in rows:
        by_repo.setdefault(row["exp"]["source"]["repo"], Counter())[row["status"]] += 1
    lines = ["", "per source repository (met / missed / not comparable):"]
    for repo, c in sorted(by_repo.items()):
        lines.append(f"  {repo:<28} {c['met']:>3} / {c['missed']:>3} / {c['not comparable']:>3}")
    comparable = counts["met"] + counts["missed"]
    lines.append(
        f"peer expectations: {len(rows)} ({comparable} comparable, {counts['not comparable']} not comparable), "
        f"fixtures {len(result['fixtures'])}; met {counts['met']}/{comparable} = {result['percent']:.1f}%"
    )
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpora", default=DEFAULT_CORPORA, help="the wire_formats folder (default: %(default)s)")
    parser.add_argument("--misses-only", action="store_true", help="print only missed expectations")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.corpora):
        print(f"no corpora at {args.corpora}", file=sys.stderr)
        return 2
    result = evaluate(args.corpora)
    for row in result["rows"]:
        if not args.misses_only or row["status"] == "missed":
            print(format_row(row))
    print(summary(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
