"""The record contract stays backward compatible.

Every released version of each schema is kept in ``schemas/history/``. The
current schema must read data written with any of them (fields added with
defaults, nothing removed or retyped), every field must say what it is, and
the dead letter's source record must stay the story's.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import fastavro
import pytest

from schemas import SCHEMA_NAMES, load_schema

HISTORY = Path(__file__).resolve().parents[1] / "schemas" / "history"


def _history(name: str) -> list[Path]:
    return sorted(HISTORY.glob(f"{name}.v*.avsc"))


def _sample(schema, named: dict) -> object:
    """A valid value of ``schema`` that fills every field (nulls where allowed)."""
    if isinstance(schema, str):
        primitives = {"null": None, "boolean": True, "int": 7, "long": 7, "float": 0.5,
                      "double": 0.5, "bytes": b"\x00raw", "string": "text"}
        return primitives[schema] if schema in primitives else _sample(named[schema], named)
    if isinstance(schema, list):
        concrete = [branch for branch in schema if branch != "null"]
        return _sample(concrete[0], named) if concrete else None
    kind = schema["type"]
    if kind == "record":
        named[schema["name"]] = schema
        if "namespace" in schema:
            named[f"{schema['namespace']}.{schema['name']}"] = schema
        return {field["name"]: _sample(field["type"], named) for field in schema["fields"]}
    if kind == "enum":
        named[schema["name"]] = schema
        return schema["symbols"][-1]
    if kind == "array":
        return [_sample(schema["items"], named)]
    if kind == "map":
        return {"k": _sample(schema["values"], named)}
    return _sample(kind, named)


def _fields(schema, path="") -> list[tuple[str, dict]]:
    out = []
    if isinstance(schema, list):
        for branch in schema:
            out += _fields(branch, path)
    elif isinstance(schema, dict):
        if schema.get("type") == "record":
            for field in schema["fields"]:
                out.append((f"{path}{field['name']}", field))
                out += _fields(field["type"], f"{path}{field['name']}.")
        elif schema.get("type") == "array":
            out += _fields(schema["items"], path)
        elif schema.get("type") == "map":
            out += _fields(schema["values"], path)
    return out


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_history_exists(name):
    assert _history(name), f"schemas/history has no released version of {name}"


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_current_schema_reads_every_released_version(name):
    current = fastavro.parse_schema(load_schema(name))
    for old_path in _history(name):
        old_json = json.loads(old_path.read_text(encoding="utf-8"))
        record = _sample(old_json, {})
        buffer = io.BytesIO()
        fastavro.writer(buffer, fastavro.parse_schema(old_json), [record])
        buffer.seek(0)
        [read] = list(fastavro.reader(buffer, reader_schema=current))
        for field_name in record:
            assert field_name in read, f"{old_path.name}: field {field_name} was removed"


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_fields_added_since_each_release_have_defaults(name):
    current = load_schema(name)
    current_fields = dict(_fields(current))
    for old_path in _history(name):
        old_fields = dict(_fields(json.loads(old_path.read_text(encoding="utf-8"))))
        for path, field in current_fields.items():
            parent = path.rsplit(".", 1)[0] if "." in path else ""
            if path not in old_fields and (not parent or parent in old_fields):
                assert "default" in field, f"{name}.{path} was added after {old_path.name} without a default"


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_every_field_has_a_doc(name):
    schema = load_schema(name)
    assert schema.get("doc")
    undocumented = [path for path, field in _fields(schema) if not field.get("doc", "").strip()]
    assert undocumented == []


def test_dead_letter_source_is_the_story_source():
    story = {f["name"]: f for f in load_schema("story")["fields"]}
    dead = {f["name"]: f for f in load_schema("dead_letter")["fields"]}
    assert dead["source"]["type"] == story["source"]["type"]


def test_a_story_record_from_the_model_is_valid():
    from transforms.model import SourcePosition, Story

    story = Story(id="x", format="plain_text", headline="H", body="B",
                  source=SourcePosition(kind="file", uri="/a"), ingested_at=1, event_time=1)
    assert fastavro.validate(story.to_avro(), fastavro.parse_schema(load_schema("story")))


def test_the_schema_page_documents_the_current_schema():
    from schemas.doc import BEGIN, END, SCHEMA_PAGE, render_markdown

    page = SCHEMA_PAGE.read_text(encoding="utf-8")
    assert BEGIN in page and END in page, f"{SCHEMA_PAGE} lacks the schema markers"
    documented = page.split(BEGIN, 1)[1].split(END, 1)[0]
    assert documented == render_markdown(), "docs/schema.md is stale: run python -m schemas.doc --write"
