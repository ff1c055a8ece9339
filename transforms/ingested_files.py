"""Deprecated: ``transforms.ingested_files`` moved to ``transforms.io.ingested_files`` (issue 19).

In: nothing. Out: the names this module held, re-exported from where they
live now, so imports and pickles that name ``transforms.ingested_files`` keep working for one
release. Guarantees: a ``DeprecationWarning`` on import; nothing else.
See docs/architecture.md ("What moved").
"""

import warnings

warnings.warn("transforms.ingested_files moved to transforms.io.ingested_files; import from there (docs/architecture.md)",
              DeprecationWarning, stacklevel=2)

from transforms.io.ingested_files import (
    IngestedFile,
    IngestedFilesStore,
    ListedFile,
    Observation,
    STATUS_ERROR,
    STATUS_INGESTED,
    STATUS_UNCHANGED,
    SettleResult,
    is_in_progress_name,
    journal_path,
    list_folder,
    settle,
)  # noqa: E402,F401

__all__ = [
    "IngestedFile",
    "IngestedFilesStore",
    "ListedFile",
    "Observation",
    "SettleResult",
    "settle",
    "is_in_progress_name",
    "list_folder",
    "journal_path",
    "STATUS_INGESTED",
    "STATUS_ERROR",
    "STATUS_UNCHANGED",
]


# ----------------------------------------------------------------------------- moved (issue 19)

#: Names ``transforms.ingested_files`` held before issue 19, and where they live now. Answered here
#: for one release (old imports and pickles), with a DeprecationWarning.
_MOVED = {
    "IN_PROGRESS_SUFFIXES": "transforms.io.ingested_files",
    "IngestedFile": "transforms.io.ingested_files",
    "IngestedFilesStore": "transforms.io.ingested_files",
    "JOURNAL_NAME": "transforms.io.ingested_files",
    "ListedFile": "transforms.io.ingested_files",
    "Observation": "transforms.io.ingested_files",
    "STATE_DIRNAME": "transforms.io.ingested_files",
    "STATUS_ERROR": "transforms.io.ingested_files",
    "STATUS_INGESTED": "transforms.io.ingested_files",
    "STATUS_UNCHANGED": "transforms.io.ingested_files",
    "SettleResult": "transforms.io.ingested_files",
    "is_in_progress_name": "transforms.io.ingested_files",
    "journal_path": "transforms.io.ingested_files",
    "list_folder": "transforms.io.ingested_files",
    "settle": "transforms.io.ingested_files",
}


def __getattr__(name):
    try:
        module = _MOVED[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    import importlib
    import warnings

    warnings.warn(f"transforms.ingested_files.{name} moved to {module}.{name}", DeprecationWarning, stacklevel=2)
    return getattr(importlib.import_module(module), name)
