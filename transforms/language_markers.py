"""Deprecated: ``transforms.language_markers`` moved to ``transforms.language.markers`` (issue 19).

In: nothing. Out: the names this module held, re-exported from where they
live now, so imports and pickles that name ``transforms.language_markers`` keep working for one
release. Guarantees: a ``DeprecationWarning`` on import; nothing else.
See docs/architecture.md ("What moved").
"""

import warnings

warnings.warn("transforms.language_markers moved to transforms.language.markers; import from there (docs/architecture.md)",
              DeprecationWarning, stacklevel=2)

from transforms.language.markers import (
    ENGLISH_WIRE,
    GROUPS,
    LIST_CODES,
    MARKER_TOP,
    OWN_WORDS,
    RELATIVE_TOP,
    marker_words,
)  # noqa: E402,F401

__all__ = [
    "GROUPS",
    "LIST_CODES",
    "OWN_WORDS",
    "MARKER_TOP",
    "RELATIVE_TOP",
    "ENGLISH_WIRE",
    "marker_words",
]


# ----------------------------------------------------------------------------- moved (issue 19)

#: Names ``transforms.language_markers`` held before issue 19, and where they live now. Answered here
#: for one release (old imports and pickles), with a DeprecationWarning.
_MOVED = {
    "ENGLISH_WIRE": "transforms.language.markers",
    "GROUPS": "transforms.language.markers",
    "LIST_CODES": "transforms.language.markers",
    "MARKER_TOP": "transforms.language.markers",
    "OWN_WORDS": "transforms.language.markers",
    "RELATIVE_TOP": "transforms.language.markers",
    "__getattr__": "transforms.language.markers",
    "_derive": "transforms.language.markers",
    "_lock": "transforms.language.markers",
    "_markers": "transforms.language.markers",
    "marker_words": "transforms.language.markers",
}


def __getattr__(name):
    try:
        module = _MOVED[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    import importlib
    import warnings

    warnings.warn(f"transforms.language_markers.{name} moved to {module}.{name}", DeprecationWarning, stacklevel=2)
    return getattr(importlib.import_module(module), name)
