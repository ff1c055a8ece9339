"""Deprecated: ``transforms.write`` moved to ``transforms.io.write`` (issue 19).

In: nothing. Out: the names this module held, re-exported from where they
live now, so imports and pickles that name ``transforms.write`` keep working for one
release. Guarantees: a ``DeprecationWarning`` on import; nothing else.
See docs/architecture.md ("What moved").
"""

import warnings

warnings.warn("transforms.write moved to transforms.io.write; import from there (docs/architecture.md)",
              DeprecationWarning, stacklevel=2)

from transforms.io.write import (
    DEAD_LETTERS_PREFIX,
    STORIES_PREFIX,
    WriteAvroFiles,
    WriteDeadLetters,
    WriteStories,
    fsync_directory,
    load_written_stories,
    replace_durably,
    window_file_path,
)  # noqa: E402,F401

__all__ = [
    "WriteStories",
    "WriteDeadLetters",
    "WriteAvroFiles",
    "STORIES_PREFIX",
    "DEAD_LETTERS_PREFIX",
    "window_file_path",
    "load_written_stories",
    "replace_durably",
    "fsync_directory",
]


# ----------------------------------------------------------------------------- moved (issue 19)

#: Names ``transforms.write`` held before issue 19, and where they live now. Answered here
#: for one release (old imports and pickles), with a DeprecationWarning.
_MOVED = {
    "DEAD_LETTERS_PREFIX": "transforms.io.write",
    "STORIES_PREFIX": "transforms.io.write",
    "WriteAvroFiles": "transforms.io.write",
    "WriteDeadLetters": "transforms.io.write",
    "WriteStories": "transforms.io.write",
    "_AVRO_BLOCK_BYTES": "transforms.io.write",
    "_EPOCH": "transforms.io.write",
    "_EncodeAvroFn": "transforms.io.write",
    "_WriteShardFn": "transforms.io.write",
    "_WriteWindowFilesFn": "transforms.io.write",
    "_avro_long": "transforms.io.write",
    "_millis": "transforms.io.write",
    "_shard_of": "transforms.io.write",
    "_utc_tag": "transforms.io.write",
    "_write_atomically": "transforms.io.write",
    "_write_deflate_block": "transforms.io.write",
    "encode_avro_record": "transforms.io.write",
    "fsync_directory": "transforms.io.write",
    "load_written_stories": "transforms.io.write",
    "replace_durably": "transforms.io.write",
    "window_file_path": "transforms.io.write",
    "write_avro_file": "transforms.io.write",
    "write_encoded_avro_file": "transforms.io.write",
}


def __getattr__(name):
    try:
        module = _MOVED[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    import importlib
    import warnings

    warnings.warn(f"transforms.write.{name} moved to {module}.{name}", DeprecationWarning, stacklevel=2)
    return getattr(importlib.import_module(module), name)
