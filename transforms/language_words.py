"""Deprecated: ``transforms.language_words`` moved to ``transforms.language.words`` (issue 19).

In: nothing. Out: the names this module held, re-exported from where they
live now, so imports and pickles that name ``transforms.language_words`` keep working for one
release. Guarantees: a ``DeprecationWarning`` on import; nothing else.
See docs/architecture.md ("What moved").
"""

import warnings

warnings.warn("transforms.language_words moved to transforms.language.words; import from there (docs/architecture.md)",
              DeprecationWarning, stacklevel=2)

from transforms.language.words import (
    FLOOR_FREQUENCY,
    WORD_LIST_CODES,
    WordFrequencies,
    commonest_words,
    words_of,
)  # noqa: E402,F401

__all__ = [
    "WORD_LIST_CODES",
    "FLOOR_FREQUENCY",
    "WordFrequencies",
    "commonest_words",
    "words_of",
]


# ----------------------------------------------------------------------------- moved (issue 19)

#: Names ``transforms.language_words`` held before issue 19, and where they live now. Answered here
#: for one release (old imports and pickles), with a DeprecationWarning.
_MOVED = {
    "FLOOR_FREQUENCY": "transforms.language.words",
    "WORD_LIST_CODES": "transforms.language.words",
    "WordFrequencies": "transforms.language.words",
    "_LOAD_LOCK": "transforms.language.words",
    "_WORD": "transforms.language.words",
    "_WORD_LIST": "transforms.language.words",
    "_is_word": "transforms.language.words",
    "_keys": "transforms.language.words",
    "_load_table": "transforms.language.words",
    "_read_buckets": "transforms.language.words",
    "commonest_words": "transforms.language.words",
    "words_of": "transforms.language.words",
}


def __getattr__(name):
    try:
        module = _MOVED[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    import importlib
    import warnings

    warnings.warn(f"transforms.language_words.{name} moved to {module}.{name}", DeprecationWarning, stacklevel=2)
    return getattr(importlib.import_module(module), name)
