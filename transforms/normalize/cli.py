"""``wire-ingest normalize byline|caption|dateline [TEXT ...]``.

Contract: one JSON object per input (each argument, or each stdin line --
blank lines included, so output line N always answers input line N), written
one per line to ``out``, in input order. A byline gives
``{"contributors": [{"name", "role", "organization", "location"}],
"agencies": [...]}``; a caption the ``Caption`` fields; a dateline
``{"place", "date", "agency"}`` (nulls where absent). Input the rules do not
understand still gives an object, with empty fields. Returns the exit status:
0, or 2 for an unknown kind.
"""

from __future__ import annotations

import json
import sys
from typing import Iterable, Optional, TextIO

from transforms.model import Dateline
from transforms.normalize.agencies import AgencyRegistry, default_registry
from transforms.normalize.byline import parse_byline
from transforms.normalize.caption import parse_caption
from transforms.normalize.dateline import parse_dateline_text

__all__ = ["KINDS", "normalize_command", "normalize_one"]

KINDS = ("byline", "caption", "dateline")


def normalize_one(kind: str, text: str, registry: Optional[AgencyRegistry] = None) -> dict:
    """The JSON-ready result for one input of one kind."""
    registry = registry or default_registry()
    if kind == "byline":
        return parse_byline(text, registry).to_json()
    if kind == "caption":
        return parse_caption(text, None, registry).to_avro()
    if kind == "dateline":
        return (parse_dateline_text(text, registry) or Dateline()).to_avro()
    raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")


def normalize_command(kind: str, texts: Iterable[str], out: TextIO, err: TextIO = sys.stderr) -> int:
    """Print one JSON object per input line; 2 for an unknown kind."""
    if kind not in KINDS:
        print(f"wire-ingest normalize: kind must be one of {', '.join(KINDS)}, not {kind!r}", file=err)
        return 2
    registry = default_registry()
    for text in texts:
        text = text.rstrip("\r\n")
        out.write(json.dumps(normalize_one(kind, text, registry), ensure_ascii=False) + "\n")
    return 0
