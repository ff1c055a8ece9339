"""Deprecated: ``transforms.language_codes`` moved to ``transforms.language.codes`` (issue 19).

In: nothing. Out: the names this module held, re-exported from where they
live now, so imports and pickles that name ``transforms.language_codes`` keep working for one
release. Guarantees: a ``DeprecationWarning`` on import; nothing else.
See docs/architecture.md ("What moved").
"""

import warnings

warnings.warn("transforms.language_codes moved to transforms.language.codes; import from there (docs/architecture.md)",
              DeprecationWarning, stacklevel=2)

from transforms.language.codes import UNDETERMINED, canonical_language, is_known_language  # noqa: E402,F401

__all__ = [
    "UNDETERMINED",
    "canonical_language",
    "is_known_language",
]


# ----------------------------------------------------------------------------- moved (issue 19)

#: Names ``transforms.language_codes`` held before issue 19, and where they live now. Answered here
#: for one release (old imports and pickles), with a DeprecationWarning.
_MOVED = {
    "UNDETERMINED": "transforms.language.codes",
    "_CODES": "transforms.language.codes",
    "_ISO_639": "transforms.language.codes",
    "_PRIMARY": "transforms.language.codes",
    "_WITHDRAWN": "transforms.language.codes",
    "_table": "transforms.language.codes",
    "canonical_language": "transforms.language.codes",
    "is_known_language": "transforms.language.codes",
}


def __getattr__(name):
    try:
        module = _MOVED[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    import importlib
    import warnings

    warnings.warn(f"transforms.language_codes.{name} moved to {module}.{name}", DeprecationWarning, stacklevel=2)
    return getattr(importlib.import_module(module), name)
