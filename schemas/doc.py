"""Render the record contract as Markdown, for docs/schema.md.

``python -m schemas.doc`` prints the tables, ``--write`` puts them into
docs/schema.md between its ``<!-- schema:begin -->`` and ``<!-- schema:end -->``
markers; a test checks that the page holds exactly this text, so the reference
never drifts from the schema.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from schemas import load_schema

__all__ = ["render_markdown"]


def _type_name(avro_type: Any) -> str:
    if isinstance(avro_type, list):
        names = [_type_name(t) for t in avro_type if t != "null"]
        return " | ".join(names) + (" (nullable)" if "null" in avro_type else "")
    if isinstance(avro_type, dict):
        kind = avro_type["type"]
        if kind == "array":
            return f"array<{_type_name(avro_type['items'])}>"
        if kind == "map":
            return f"map<{_type_name(avro_type['values'])}>"
        if kind in ("record", "enum"):
            return avro_type["name"]
        return avro_type.get("logicalType", kind)
    return str(avro_type)


def _records(schema: dict, seen: set) -> list[dict]:
    found = []

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for branch in node:
                walk(branch)
        elif isinstance(node, dict):
            if node.get("type") == "record" and node["name"] not in seen:
                seen.add(node["name"])
                found.append(node)
                for field in node["fields"]:
                    walk(field["type"])
            elif node.get("type") in ("array", "map"):
                walk(node.get("items", node.get("values")))

    walk(schema)
    return found


def render_markdown() -> str:
    """The Markdown tables of every record in the schemas, top level first."""
    lines: list[str] = []
    seen: set = set()
    for name in ("story", "dead_letter"):
        for record in _records(load_schema(name), seen):
            lines += [f"**{record['name']}**: {record.get('doc', '')}", "",
                      "| field | type | meaning |", "|---|---|---|"]
            for field in record["fields"]:
                doc = field.get("doc", "").replace("|", "\\|")
                lines.append(f"| `{field['name']}` | {_type_name(field['type'])} | {doc} |")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


#: The page that documents the schema, and the markers around its generated part.
SCHEMA_PAGE = Path(__file__).resolve().parents[1] / "docs" / "schema.md"
BEGIN, END = "<!-- schema:begin -->\n", "<!-- schema:end -->"


def write_schema_page(page: Path = SCHEMA_PAGE) -> None:
    """Replace the generated part of ``page`` with the current tables."""
    text = page.read_text(encoding="utf-8")
    before, rest = text.split(BEGIN, 1)
    after = rest.split(END, 1)[1]
    page.write_text(before + BEGIN + render_markdown() + END + after, encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write_schema_page()
    else:
        print(render_markdown(), end="")
