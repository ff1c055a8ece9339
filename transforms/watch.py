"""Deprecated: ``transforms.watch`` moved to ``transforms.io.watch`` (issue 19).

In: nothing. Out: the names this module held, re-exported from where they
live now, so imports and pickles that name ``transforms.watch`` keep working for one
release. Guarantees: a ``DeprecationWarning`` on import; nothing else.
See docs/architecture.md ("What moved").
"""

import warnings

warnings.warn("transforms.watch moved to transforms.io.watch; import from there (docs/architecture.md)",
              DeprecationWarning, stacklevel=2)

from transforms.io.watch import (
    DropFile,
    ERROR_DIR,
    PROCESSED_DIR,
    ReadDropFolders,
    RecordIngestedFiles,
)  # noqa: E402,F401

__all__ = [
    "ReadDropFolders",
    "RecordIngestedFiles",
    "DropFile",
    "PROCESSED_DIR",
    "ERROR_DIR",
]


# ----------------------------------------------------------------------------- moved (issue 19)

#: Names ``transforms.watch`` held before issue 19, and where they live now. Answered here
#: for one release (old imports and pickles), with a DeprecationWarning.
_MOVED = {
    "DropFile": "transforms.io.watch",
    "ERROR_DIR": "transforms.io.watch",
    "PROCESSED_DIR": "transforms.io.watch",
    "ReadDropFolders": "transforms.io.watch",
    "RecordIngestedFiles": "transforms.io.watch",
    "_MAX_PACE_SLEEP_SECONDS": "transforms.io.watch",
    "_NAMESPACE": "transforms.io.watch",
    "_PollFolderFn": "transforms.io.watch",
    "_PollState": "transforms.io.watch",
    "_PollStateProvider": "transforms.io.watch",
    "_PollTracker": "transforms.io.watch",
    "_ReadDropFileFn": "transforms.io.watch",
    "_RecordFileFn": "transforms.io.watch",
    "_ack_key": "transforms.io.watch",
    "finish_file": "transforms.io.watch",
    "move_file": "transforms.io.watch",
}


def __getattr__(name):
    try:
        module = _MOVED[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    import importlib
    import warnings

    warnings.warn(f"transforms.watch.{name} moved to {module}.{name}", DeprecationWarning, stacklevel=2)
    return getattr(importlib.import_module(module), name)
