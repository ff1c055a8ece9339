"""The record contract: Avro schemas shipped with wire-ingest.

``story.avsc`` describes every enriched story written, ``dead_letter.avsc``
every input that could not become one. Schemas evolve backward compatibly
only (fields added with defaults); ``schemas/history/`` keeps every released
version and a test checks that the current one can read them all.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

__all__ = ["load_schema", "schema_text", "SCHEMA_NAMES"]

SCHEMA_NAMES = ("story", "dead_letter")


def schema_text(name: str) -> str:
    """The ``.avsc`` text of schema ``name`` (``story`` or ``dead_letter``)."""
    if name not in SCHEMA_NAMES:
        raise ValueError(f"unknown schema {name!r}; expected one of {SCHEMA_NAMES}")
    return resources.files(__name__).joinpath(f"{name}.avsc").read_text(encoding="utf-8")


@functools.lru_cache(maxsize=None)
def _load(name: str) -> str:
    return schema_text(name)


def load_schema(name: str) -> dict[str, Any]:
    """Schema ``name`` as a fresh JSON dict (callers may let fastavro mutate it)."""
    return json.loads(_load(name))
