"""Deprecated: ``transforms.dedup_streaming`` moved to ``transforms.dedup.streaming`` (issue 19).

In: nothing. Out: the names this module held, re-exported from where they
live now, so imports and pickles that name ``transforms.dedup_streaming`` keep working for one
release. Guarantees: a ``DeprecationWarning`` on import; nothing else.
See docs/architecture.md ("What moved").
"""

import warnings

warnings.warn("transforms.dedup_streaming moved to transforms.dedup.streaming; import from there (docs/architecture.md)",
              DeprecationWarning, stacklevel=2)

from transforms.dedup.streaming import (
    BAND_INDEX_STEP,
    CLUSTER_LEDGER_STEP,
    INDEX_SHARDS,
    IndexBlock,
    band_keyed_dedup,
    bucket_matches,
    expire_entries,
    index_entries,
    known_index_blocks,
)  # noqa: E402,F401

__all__ = [
    "band_keyed_dedup",
    "index_entries",
    "bucket_matches",
    "expire_entries",
    "known_index_blocks",
    "IndexBlock",
    "INDEX_SHARDS",
    "BAND_INDEX_STEP",
    "CLUSTER_LEDGER_STEP",
]


# ----------------------------------------------------------------------------- moved (issue 19)

#: Names ``transforms.dedup_streaming`` held before issue 19, and where they live now. Answered here
#: for one release (old imports and pickles), with a DeprecationWarning.
_MOVED = {
    "BAND_INDEX_STEP": "transforms.dedup.streaming",
    "CLUSTER_LEDGER_STEP": "transforms.dedup.streaming",
    "INDEX_SHARDS": "transforms.dedup.streaming",
    "IndexBlock": "transforms.dedup.streaming",
    "_BLOCKS": "transforms.dedup.streaming",
    "_BLOCK_CODER": "transforms.dedup.streaming",
    "_BLOCK_COLUMNS": "transforms.dedup.streaming",
    "_BLOCK_HEADER": "transforms.dedup.streaming",
    "_BLOCK_HEADER_SIZE": "transforms.dedup.streaming",
    "_BLOCK_MAGIC": "transforms.dedup.streaming",
    "_BUCKET_MULTIPLIERS": "transforms.dedup.streaming",
    "_BandIndexFn": "transforms.dedup.streaming",
    "_BlockCache": "transforms.dedup.streaming",
    "_CELLS": "transforms.dedup.streaming",
    "_COMPACT_LEDGER": "transforms.dedup.streaming",
    "_COMPACT_RECENT": "transforms.dedup.streaming",
    "_ClusterLedgerFn": "transforms.dedup.streaming",
    "_EMPTY_U64": "transforms.dedup.streaming",
    "_EXACT": "transforms.dedup.streaming",
    "_FingerprintFn": "transforms.dedup.streaming",
    "_INDEX": "transforms.dedup.streaming",
    "_LEDGER_HEADER": "transforms.dedup.streaming",
    "_LEDGER_KEY": "transforms.dedup.streaming",
    "_LEDGER_MAGIC": "transforms.dedup.streaming",
    "_LedgerBlock": "transforms.dedup.streaming",
    "_LedgerView": "transforms.dedup.streaming",
    "_MILLI": "transforms.dedup.streaming",
    "_STATE_CODER": "transforms.dedup.streaming",
    "_U64": "transforms.dedup.streaming",
    "_Waiting": "transforms.dedup.streaming",
    "_cell_millis": "transforms.dedup.streaming",
    "_expiry_at_cell_end": "transforms.dedup.streaming",
    "_expiry_micros": "transforms.dedup.streaming",
    "_first_shared_band": "transforms.dedup.streaming",
    "_hash_bucket": "transforms.dedup.streaming",
    "_id_hash": "transforms.dedup.streaming",
    "_merge_ledger": "transforms.dedup.streaming",
    "_select_all": "transforms.dedup.streaming",
    "_text_column": "transforms.dedup.streaming",
    "_utf8": "transforms.dedup.streaming",
    "band_keyed_dedup": "transforms.dedup.streaming",
    "bucket_matches": "transforms.dedup.streaming",
    "bucket_values": "transforms.dedup.streaming",
    "expire_entries": "transforms.dedup.streaming",
    "index_entries": "transforms.dedup.streaming",
    "index_postings": "transforms.dedup.streaming",
    "known_index_blocks": "transforms.dedup.streaming",
}


def __getattr__(name):
    try:
        module = _MOVED[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    import importlib
    import warnings

    warnings.warn(f"transforms.dedup_streaming.{name} moved to {module}.{name}", DeprecationWarning, stacklevel=2)
    return getattr(importlib.import_module(module), name)
