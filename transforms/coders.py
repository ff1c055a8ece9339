"""Deprecated: ``transforms.coders`` moved to ``transforms.model.coders`` (issue 19).

In: nothing. Out: the names this module held, re-exported from where they
live now, so imports and pickles that name ``transforms.coders`` keep working for one
release. Guarantees: a ``DeprecationWarning`` on import; nothing else.
See docs/architecture.md ("What moved").
"""

import warnings

warnings.warn("transforms.coders moved to transforms.model.coders; import from there (docs/architecture.md)",
              DeprecationWarning, stacklevel=2)

from transforms.model.coders import (
    SourcePositionCoder,
    StoryCoder,
    story_from_tuple,
    story_to_tuple,
)  # noqa: E402,F401

__all__ = [
    "StoryCoder",
    "SourcePositionCoder",
    "story_to_tuple",
    "story_from_tuple",
]


# ----------------------------------------------------------------------------- moved (issue 19)

#: Names ``transforms.coders`` held before issue 19, and where they live now. Answered here
#: for one release (old imports and pickles), with a DeprecationWarning.
_MOVED = {
    "SourcePositionCoder": "transforms.model.coders",
    "StoryCoder": "transforms.model.coders",
    "_BYLINES": "transforms.model.coders",
    "_CAPTIONS": "transforms.model.coders",
    "_DATELINE": "transforms.model.coders",
    "_DEDUP": "transforms.model.coders",
    "_SOURCE": "transforms.model.coders",
    "_STORY_FIELDS": "transforms.model.coders",
    "_TupleBackedCoder": "transforms.model.coders",
    "_builder": "transforms.model.coders",
    "_caption_build": "transforms.model.coders",
    "_caption_tuple": "transforms.model.coders",
    "_contributor_build": "transforms.model.coders",
    "_contributor_tuple": "transforms.model.coders",
    "_dateline_build": "transforms.model.coders",
    "_dateline_tuple": "transforms.model.coders",
    "_dedup_build": "transforms.model.coders",
    "_dedup_tuple": "transforms.model.coders",
    "_fields": "transforms.model.coders",
    "_flattener": "transforms.model.coders",
    "_source_build": "transforms.model.coders",
    "_source_tuple": "transforms.model.coders",
    "_story_build": "transforms.model.coders",
    "_story_tuple": "transforms.model.coders",
    "source_from_tuple": "transforms.model.coders",
    "source_to_tuple": "transforms.model.coders",
    "story_from_tuple": "transforms.model.coders",
    "story_to_tuple": "transforms.model.coders",
}


def __getattr__(name):
    try:
        module = _MOVED[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    import importlib
    import warnings

    warnings.warn(f"transforms.coders.{name} moved to {module}.{name}", DeprecationWarning, stacklevel=2)
    return getattr(importlib.import_module(module), name)
