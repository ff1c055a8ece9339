"""Deprecated: ``transforms.minhash`` moved to ``transforms.dedup.minhash`` (issue 19).

In: nothing. Out: the names this module held, re-exported from where they
live now, so imports and pickles that name ``transforms.minhash`` keep working for one
release. Guarantees: a ``DeprecationWarning`` on import; nothing else.
See docs/architecture.md ("What moved").
"""

import warnings

warnings.warn("transforms.minhash moved to transforms.dedup.minhash; import from there (docs/architecture.md)",
              DeprecationWarning, stacklevel=2)

from transforms.dedup.minhash import (
    MinHasher,
    band_keys,
    containment,
    estimate_jaccard,
    jaccard,
    lsh_candidate_probability,
    salted,
    shingle_hashes,
)  # noqa: E402,F401

__all__ = [
    "shingle_hashes",
    "salted",
    "MinHasher",
    "band_keys",
    "estimate_jaccard",
    "jaccard",
    "containment",
    "lsh_candidate_probability",
]


# ----------------------------------------------------------------------------- moved (issue 19)

#: Names ``transforms.minhash`` held before issue 19, and where they live now. Answered here
#: for one release (old imports and pickles), with a DeprecationWarning.
_MOVED = {
    "MinHasher": "transforms.dedup.minhash",
    "_INVERSE_POWERS": "transforms.dedup.minhash",
    "_P": "transforms.dedup.minhash",
    "_POSITION_MULTIPLIERS": "transforms.dedup.minhash",
    "_POWERS": "transforms.dedup.minhash",
    "_P_INVERSE": "transforms.dedup.minhash",
    "_U64": "transforms.dedup.minhash",
    "_intersection_size": "transforms.dedup.minhash",
    "_mix64": "transforms.dedup.minhash",
    "_powers": "transforms.dedup.minhash",
    "_word_hashes": "transforms.dedup.minhash",
    "band_keys": "transforms.dedup.minhash",
    "containment": "transforms.dedup.minhash",
    "estimate_jaccard": "transforms.dedup.minhash",
    "jaccard": "transforms.dedup.minhash",
    "lsh_candidate_probability": "transforms.dedup.minhash",
    "salted": "transforms.dedup.minhash",
    "shingle_hashes": "transforms.dedup.minhash",
}


def __getattr__(name):
    try:
        module = _MOVED[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    import importlib
    import warnings

    warnings.warn(f"transforms.minhash.{name} moved to {module}.{name}", DeprecationWarning, stacklevel=2)
    return getattr(importlib.import_module(module), name)
