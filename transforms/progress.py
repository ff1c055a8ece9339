"""Progress of a bounded run: inputs read against the total known.

The CLI opens a bar (``pipelines.logs.progress_bar``) and installs its
``update`` here with ``install``; ``CountProgress``, a side branch on the
inputs the pipeline reads, calls it once per input. The count is process-
local: it moves on the runners whose workers run in the CLI's process (the
batch FnApiRunner in its default in-memory mode, Prism with LOOPBACK
workers), which are the only ones the CLI shows a bar for.
"""

from __future__ import annotations

import threading
from typing import Callable, Optional

import apache_beam as beam

__all__ = ["install", "uninstall", "advance", "CountProgress"]

_LOCK = threading.Lock()
_UPDATE: Optional[Callable[[int], object]] = None


def install(update: Callable[[int], object]) -> None:
    global _UPDATE
    with _LOCK:
        _UPDATE = update


def uninstall() -> None:
    install(None)  # type: ignore[arg-type]


def advance(count: int = 1) -> None:
    """Count ``count`` inputs read; nothing when no bar is installed."""
    with _LOCK:
        if _UPDATE is not None:
            _UPDATE(count)


class CountProgress(beam.PTransform):
    """Call ``advance`` once per element; outputs nothing."""

    def expand(self, inputs):
        return inputs | "Advance" >> beam.ParDo(_AdvanceFn())


class _AdvanceFn(beam.DoFn):
    def process(self, element):
        advance(1)
        return ()
