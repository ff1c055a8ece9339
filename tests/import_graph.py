#!/usr/bin/env python3
"""Import-cycle check for wire-ingest (issue 19), with ``ast``; run from a checkout's root.

Every ``import`` / ``from ... import`` in pipelines/, transforms/ and schemas/
counts, module level and inside functions alike (a lazy import is still a
dependency). ``from pkg import name`` is an edge to ``pkg.name`` when that is a
module, else to ``pkg``. The implicit import of a parent package's __init__ is
not counted (every submodule would otherwise "import" its package). Reports
every strongly connected component of more than one module (a cycle of any
length) and every upward import (transforms -> pipelines, model -> the rest).
Exit 1 when there is any.
"""

import ast
import sys
from pathlib import Path

ROOTS = ("pipelines", "transforms", "schemas")


def modules(root: Path) -> dict[str, Path]:
    found = {}
    for top in ROOTS:
        for path in (root / top).rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def edges(root: Path) -> dict[str, set[str]]:
    mods = modules(root)
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[:len(anchor) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.append(sub if sub in mods else base)
            for target in targets:
                while target and target not in mods:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def layer(module: str) -> int:
    if module == "transforms.model" or module.startswith("transforms.model.") or module.startswith("schemas"):
        return 0
    if module.startswith("transforms"):
        return 1
    return 2


def main() -> int:
    graph = edges(Path.cwd())
    bad = 0
    for component in cycles(graph):
        bad += 1
        pairs = [f"{a} -> {b}" for a in component for b in sorted(graph[a]) if b in component]
        print("cycle: " + ", ".join(component) + "\n    " + "\n    ".join(pairs))
    for a in sorted(graph):
        for b in sorted(graph[a]):
            if layer(b) > layer(a):
                bad += 1
                print(f"upward: {a} -> {b}")
    n_edges = sum(len(v) for v in graph.values())
    print(f"{len(graph)} modules, {n_edges} imports: "
          + ("no cycles, nothing upward" if not bad else f"{bad} problem(s)"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
