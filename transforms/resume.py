"""Deprecated: ``transforms.resume`` moved to ``transforms.io.resume`` (issue 19).

In: nothing. Out: the names this module held, re-exported from where they
live now, so imports and pickles that name ``transforms.resume`` keep working for one
release. Guarantees: a ``DeprecationWarning`` on import; nothing else.
See docs/architecture.md ("What moved").
"""

import warnings

warnings.warn("transforms.resume moved to transforms.io.resume; import from there (docs/architecture.md)",
              DeprecationWarning, stacklevel=2)

from transforms.io.resume import pause_then_defer, runner_honours_resume_delays  # noqa: E402,F401

__all__ = [
    "runner_honours_resume_delays",
    "pause_then_defer",
]


# ----------------------------------------------------------------------------- moved (issue 19)

#: Names ``transforms.resume`` held before issue 19, and where they live now. Answered here
#: for one release (old imports and pickles), with a DeprecationWarning.
_MOVED = {
    "pause_then_defer": "transforms.io.resume",
    "runner_honours_resume_delays": "transforms.io.resume",
}


def __getattr__(name):
    try:
        module = _MOVED[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    import importlib
    import warnings

    warnings.warn(f"transforms.resume.{name} moved to {module}.{name}", DeprecationWarning, stacklevel=2)
    return getattr(importlib.import_module(module), name)
