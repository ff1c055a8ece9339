"""The agency registry: canonical names for agencies and outlets, with aliases.

Contract: ``canonical_agency(name)`` maps any alias (any case, with or without
surrounding punctuation or a leading "The") to one canonical name, or returns
None for names the registry does not know and for generic credits such as
"news agencies" (``is_generic`` says when a name is one of those).

The registry is a tab-separated data file shipped with the package
(``agencies.tsv``: canonical, kind, aliases separated by ``|``). Users add
their own agencies with files of the same shape, named in the environment
variable ``WIRE_INGEST_AGENCIES`` (paths separated by ``os.pathsep``) or
passed to ``load_registry(extra_paths)`` / ``use_registry``. Later files win
when an alias is defined twice.

Change a registry through ``add``/``load`` only: they also forget what
``memo`` remembered (parses that depend on the registry).
"""

from __future__ import annotations

import functools
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional, TypeVar, Union

from transforms.normalize.memo import MEMO_MAX_CHARS, MEMO_SIZE, memoize

__all__ = [
    "AgencyRegistry",
    "load_registry",
    "default_registry",
    "use_registry",
    "canonical_agency",
    "is_generic",
    "ENV_VAR",
    "BUILTIN_PATH",
]

ENV_VAR = "WIRE_INGEST_AGENCIES"
BUILTIN_PATH = Path(__file__).with_name("agencies.tsv")
GENERIC = "generic"

_STRIP = " \t.,;:()[]{}\"'‘’“”-–—/|"
_SPACES = re.compile(r"\s+")
_T = TypeVar("_T")
_UNSEEN = object()


@memoize
def _key(name: str) -> str:
    """Lookup key: case-folded, single-spaced, no surrounding punctuation or 'The'."""
    key = _SPACES.sub(" ", unicodedata.normalize("NFKC", name).replace("’", "'")).strip(_STRIP).casefold()
    if key.startswith("the "):
        key = key[4:]
    return key


@dataclass
class AgencyRegistry:
    """Alias -> canonical name, and which canonical names are generic credits."""

    canonical: dict[str, str] = field(default_factory=dict)  # key -> canonical
    kinds: dict[str, str] = field(default_factory=dict)  # canonical -> kind
    _memos: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    _agencies: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __getstate__(self) -> dict:
        return {"canonical": self.canonical, "kinds": self.kinds}  # memos are rebuilt, not shipped

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, _memos={}, _agencies={})

    def memo(self, parse: Callable[[str, "AgencyRegistry"], _T]) -> Callable[[str], _T]:
        """``parse(text, registry=self)``, remembered (see ``transforms.normalize.memo``).

        For pure parses that depend on the registry and return immutable
        results. ``add`` and ``load`` forget everything remembered, so
        results follow the registry.
        """
        bound = self._memos.get(parse)
        if bound is None:
            bound = self._memos[parse] = memoize(functools.partial(parse, registry=self), register=False)
        return bound

    def forget(self) -> None:
        """Forget every remembered parse (``add`` does it; so may a cold-start benchmark)."""
        self._memos.clear()
        self._agencies.clear()

    def add(self, canonical: str, kind: str = "agency", aliases: Iterable[str] = ()) -> None:
        self.forget()
        canonical = canonical.strip()
        self.kinds[canonical] = kind or "agency"
        for alias in (canonical, *aliases):
            if alias.strip():
                self.canonical[_key(alias)] = canonical

    def load(self, path: Union[str, os.PathLike]) -> None:
        """Add every line of a registry file; raises ValueError naming a bad line."""
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                line = line.rstrip("\n")
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                cols = line.split("\t")
                if not cols[0].strip():
                    raise ValueError(f"{path}:{number}: empty canonical agency name")
                kind = cols[1].strip() if len(cols) > 1 else "agency"
                aliases = cols[2].split("|") if len(cols) > 2 else ()
                self.add(cols[0], kind, aliases)

    def lookup(self, name: Optional[str]) -> Optional[str]:
        """Canonical name, including generic ones; None when unknown."""
        if not name:
            return None
        return self.canonical.get(_key(name))

    def canonical_agency(self, name: Optional[str]) -> Optional[str]:
        # Called for every credit of every story, on a few hundred distinct names.
        found = self._agencies.get(name, _UNSEEN)
        if found is not _UNSEEN:
            return found
        found = self.lookup(name)
        if found is not None and self.kinds.get(found) == GENERIC:
            found = None
        if name and len(name) <= MEMO_MAX_CHARS:
            if len(self._agencies) >= MEMO_SIZE:
                self._agencies.clear()
            self._agencies[name] = found
        return found

    def is_generic(self, name: Optional[str]) -> bool:
        found = self.lookup(name)
        return found is not None and self.kinds.get(found) == GENERIC


def load_registry(
    extra_paths: Iterable[Union[str, os.PathLike]] = (), use_env: bool = True
) -> AgencyRegistry:
    """The built-in registry, then ``$WIRE_INGEST_AGENCIES`` files, then ``extra_paths``."""
    registry = AgencyRegistry()
    registry.load(BUILTIN_PATH)
    paths: list = []
    if use_env and os.environ.get(ENV_VAR):
        paths.extend(p for p in os.environ[ENV_VAR].split(os.pathsep) if p)
    paths.extend(extra_paths)
    for path in paths:
        registry.load(path)
    return registry


_DEFAULT: Optional[AgencyRegistry] = None


def default_registry() -> AgencyRegistry:
    """The process-wide registry, loaded on first use."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = load_registry()
    return _DEFAULT


def use_registry(registry: Optional[AgencyRegistry] = None, extra_paths: Iterable = ()) -> AgencyRegistry:
    """Replace the process-wide registry (e.g. in a DoFn's ``setup()``)."""
    global _DEFAULT
    _DEFAULT = registry if registry is not None else load_registry(extra_paths)
    return _DEFAULT


def canonical_agency(name: Optional[str], registry: Optional[AgencyRegistry] = None) -> Optional[str]:
    """Canonical name of an agency or outlet; None if unknown or generic.

    >>> canonical_agency("REUTERS"), canonical_agency("AP Photo"), canonical_agency("news agencies")
    ('Reuters', 'Associated Press', None)
    """
    return (registry or default_registry()).canonical_agency(name)


def is_generic(name: Optional[str], registry: Optional[AgencyRegistry] = None) -> bool:
    """True for collective credits such as 'news agencies' or 'agencies'."""
    return (registry or default_registry()).is_generic(name)
