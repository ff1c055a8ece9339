"""Bounded memos for the normalizer's pure parses of short strings.

Contract: ``memoize(function)`` returns a function that gives the same
results as ``function(text, ...)`` and remembers the last ``MEMO_SIZE`` of
them, for ``text`` up to ``MEMO_MAX_CHARS`` characters (longer strings are
rare on the wire and would make the memo's memory unbounded: they are parsed
each time). Callers share the remembered results, so ``function`` must be
pure and return immutable values (strings, tuples, frozen dataclasses).
``forget_all()`` empties every memo made here (a cold-start benchmark).

Bylines, photo credits, agency names and dateline places repeat all day on
the wire: most of them are parsed once.
"""

from __future__ import annotations

import functools
from typing import Callable, TypeVar

__all__ = ["MEMO_MAX_CHARS", "MEMO_SIZE", "forget_all", "memoize"]

#: Results each memo keeps: a day's distinct credits and places fit.
MEMO_SIZE = 8192
#: Longer strings are parsed every time.
MEMO_MAX_CHARS = 256

_T = TypeVar("_T")
_FORGETS: list[Callable[[], None]] = []


def memoize(function: Callable[..., _T], register: bool = True) -> Callable[..., _T]:
    """``function(text, *args, **kwargs)`` remembered by all its arguments (hashable)."""
    cached = functools.lru_cache(maxsize=MEMO_SIZE)(function)

    @functools.wraps(function)
    def remembered(text, *args, **kwargs):
        if len(text) > MEMO_MAX_CHARS:
            return function(text, *args, **kwargs)
        return cached(text, *args, **kwargs)

    remembered.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
    remembered.cache_info = cached.cache_info  # type: ignore[attr-defined]
    if register:
        _FORGETS.append(cached.cache_clear)
    return remembered


def forget_all() -> None:
    """Empty the module-level memos (registries forget theirs in ``AgencyRegistry.forget``)."""
    for forget in _FORGETS:
        forget()
