"""Deprecated: ``transforms.read`` moved to ``transforms.io.read`` (issue 19).

In: nothing. Out: the names this module held, re-exported from where they
live now, so imports and pickles that name ``transforms.read`` keep working for one
release. Guarantees: a ``DeprecationWarning`` on import; nothing else.
See docs/architecture.md ("What moved").
"""

import warnings

warnings.warn("transforms.read moved to transforms.io.read; import from there (docs/architecture.md)",
              DeprecationWarning, stacklevel=2)

from transforms.io.read import (
    DEFAULT_MAX_INPUT_BYTES,
    ReadWireStories,
    expand_pattern,
    read_file_input,
)  # noqa: E402,F401

__all__ = [
    "ReadWireStories",
    "expand_pattern",
    "read_file_input",
    "DEFAULT_MAX_INPUT_BYTES",
]


# ----------------------------------------------------------------------------- moved (issue 19)

#: Names ``transforms.read`` held before issue 19, and where they live now. Answered here
#: for one release (old imports and pickles), with a DeprecationWarning.
_MOVED = {
    "DEFAULT_MAX_INPUT_BYTES": "transforms.io.read",
    "ReadWireStories": "transforms.io.read",
    "_IN_PROGRESS_SUFFIXES": "transforms.io.read",
    "_ReadFileFn": "transforms.io.read",
    "_is_wanted": "transforms.io.read",
    "expand_pattern": "transforms.io.read",
    "read_file_input": "transforms.io.read",
}


def __getattr__(name):
    try:
        module = _MOVED[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    import importlib
    import warnings

    warnings.warn(f"transforms.read.{name} moved to {module}.{name}", DeprecationWarning, stacklevel=2)
    return getattr(importlib.import_module(module), name)
