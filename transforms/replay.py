"""Deprecated: ``transforms.replay`` moved to ``transforms.io.replay`` (issue 19).

In: nothing. Out: the names this module held, re-exported from where they
live now, so imports and pickles that name ``transforms.replay`` keep working for one
release. Guarantees: a ``DeprecationWarning`` on import; nothing else.
See docs/architecture.md ("What moved").
"""

import warnings

warnings.warn("transforms.replay moved to transforms.io.replay; import from there (docs/architecture.md)",
              DeprecationWarning, stacklevel=2)

from transforms.io.replay import (
    EVENT_TIMESTAMPS,
    NOW_TIMESTAMPS,
    ReplayMessage,
    iter_replay_messages,
    replay_to_kafka,
)  # noqa: E402,F401

__all__ = [
    "ReplayMessage",
    "iter_replay_messages",
    "replay_to_kafka",
    "EVENT_TIMESTAMPS",
    "NOW_TIMESTAMPS",
]


# ----------------------------------------------------------------------------- moved (issue 19)

#: Names ``transforms.replay`` held before issue 19, and where they live now. Answered here
#: for one release (old imports and pickles), with a DeprecationWarning.
_MOVED = {
    "EVENT_TIMESTAMPS": "transforms.io.replay",
    "NOW_TIMESTAMPS": "transforms.io.replay",
    "ReplayMessage": "transforms.io.replay",
    "_DATE": "transforms.io.replay",
    "_MONTHS": "transforms.io.replay",
    "_NEWID": "transforms.io.replay",
    "_detect": "transforms.io.replay",
    "_messages_of_file": "transforms.io.replay",
    "_reuters_date": "transforms.io.replay",
    "_settle": "transforms.io.replay",
    "_split_reuters": "transforms.io.replay",
    "iter_replay_messages": "transforms.io.replay",
    "replay_to_kafka": "transforms.io.replay",
}


def __getattr__(name):
    try:
        module = _MOVED[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    import importlib
    import warnings

    warnings.warn(f"transforms.replay.{name} moved to {module}.{name}", DeprecationWarning, stacklevel=2)
    return getattr(importlib.import_module(module), name)
