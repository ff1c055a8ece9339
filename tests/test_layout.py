"""The package layout of issue 19: no import cycles, dependencies one way, a contract on top.

Reads the source with ``ast`` (tests/import_graph.py): every import counts,
lazy ones inside functions too.
"""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

import pytest

from tests.import_graph import cycles, edges, layer, modules

ROOT = Path(__file__).resolve().parents[1]


def test_no_module_imports_one_that_imports_it_back():
    assert cycles(edges(ROOT)) == []


def test_dependencies_point_one_way_pipelines_transforms_model():
    graph = edges(ROOT)
    upward = [(a, b) for a in sorted(graph) for b in sorted(graph[a]) if layer(b) > layer(a)]
    assert upward == []


def test_every_module_opens_with_its_contract():
    missing = [name for name, path in sorted(modules(ROOT).items())
               if not ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))]
    assert missing == []


@pytest.mark.parametrize("old, name, new", [
    ("transforms.kafka_io", "decode_message", "transforms.io.kafka_sink"),
    ("transforms.kafka_io", "ReadWireStoriesFromKafka", "transforms.io.kafka_source"),
    ("transforms.kafka_io", "_ReadPartitionFn", "transforms.io.kafka_source"),
    ("transforms.write", "WriteStories", "transforms.io.write"),
    ("transforms.minhash", "__name__", None),
])
def test_old_paths_still_answer_with_a_deprecation_warning(old, name, new):
    import importlib
    import sys

    sys.modules.pop(old, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(old)
        value = getattr(module, name)
    assert any(issubclass(w.category, DeprecationWarning) for w in caught)
    if new is not None:
        assert value is getattr(importlib.import_module(new), name)


def test_the_dedup_package_answers_for_the_old_module_names_with_a_warning():
    from transforms.dedup import core

    import transforms.dedup as dedup

    with pytest.warns(DeprecationWarning, match="transforms.dedup.fingerprint moved"):
        assert dedup.fingerprint is core.fingerprint
