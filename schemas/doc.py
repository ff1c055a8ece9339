"""Render the record contract as Markdown, for the README.

``python -m schemas.doc`` prints the tables; a test checks that the README
holds exactly this text between its ``<!-- schema:begin -->`` and
``<!-- schema:end -->`` markers, so the README never drifts from the schema.
"""

from __future__ import annotations

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


if __name__ == "__main__":
    print(render_markdown(), end="")
