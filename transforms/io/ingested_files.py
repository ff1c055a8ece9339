"""Which drop-folder files are ingested, and when a file counts as complete.

Two pure pieces, usable without Beam:

* ``IngestedFilesStore``: an append-only journal, ``<output>/_state/ingested-files.jsonl``,
  one JSON line per file version that is done: its path, size, mtime (ns), content
  hash (SHA-256), how many items it held and how many were dead-lettered, and where
  it was moved. A line is appended (and fsynced) only after every record of that
  file was durably written, so after a crash a file is either recorded or ingested
  again, never lost (ingested again, its stories are marked ``DUPLICATE`` of
  their first copies: see ``transforms.io.watch``). Readers tail the journal; a torn last line (a crash mid-append) is
  skipped until it is complete. Several writers may append: each entry is one
  ``write()`` on an ``O_APPEND`` descriptor. Local filesystems only.
* ``settle()``: decides from one listing which files are complete. A file is
  complete once its size and mtime have not changed for the settle period, or at
  once when it was renamed from a temporary name (same inode, seen under an
  in-progress name by an earlier listing). Hidden names and ``.tmp``/``.part``
  style suffixes are never taken.

A file is identified by (path, size, mtime_ns): a file that reappears with other
content has another mtime and is a new version; the store answers both "was this
version done?" and "was this content already ingested from this path?".
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import asdict, dataclass, field
from typing import Iterable, Optional

__all__ = [
    "IngestedFile",
    "IngestedFilesStore",
    "ListedFile",
    "Observation",
    "SettleResult",
    "settle",
    "is_in_progress_name",
    "list_folder",
    "journal_path",
    "STATUS_INGESTED",
    "STATUS_ERROR",
    "STATUS_UNCHANGED",
]

_LOG = logging.getLogger(__name__)

STATE_DIRNAME = "_state"
JOURNAL_NAME = "ingested-files.jsonl"

#: Every item of the file was written (or dropped as a duplicate).
STATUS_INGESTED = "ingested"
#: At least one item of the file was dead-lettered.
STATUS_ERROR = "error"
#: Same content as a version of this path already ingested: nothing was written.
STATUS_UNCHANGED = "unchanged"

#: Names agencies' uploaders give files while writing them.
IN_PROGRESS_SUFFIXES = (".tmp", ".part", ".partial", ".filepart", ".crdownload", ".temp")


def journal_path(state_dir: str) -> str:
    return os.path.join(state_dir, STATE_DIRNAME, JOURNAL_NAME)


def is_in_progress_name(name: str) -> bool:
    """Hidden files and temporary upload names are not (yet) wire files."""
    return name.startswith(".") or name.lower().endswith(IN_PROGRESS_SUFFIXES)


@dataclass(frozen=True)
class IngestedFile:
    """One journal line: a file version that is done."""

    path: str
    size: int
    mtime_ns: int
    sha256: Optional[str]
    status: str
    items: int = 1
    failed_items: int = 0
    recorded_at: int = 0  # millis
    moved_to: Optional[str] = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))


class IngestedFilesStore:
    """The journal of done files, read incrementally and appended durably."""

    def __init__(self, state_dir: str):
        if "://" in state_dir:
            raise ValueError(f"state directory {state_dir!r}: only local directories are supported")
        self.path = journal_path(state_dir)
        self._offset = 0
        self._versions: set[tuple[str, int, int]] = set()
        self._hashes: dict[str, set[str]] = {}
        self._entries = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self._entries

    def refresh(self) -> int:
        """Read lines appended since the last call; returns how many were new."""
        with self._lock:
            try:
                with open(self.path, "rb") as handle:
                    handle.seek(self._offset)
                    data = handle.read()
            except FileNotFoundError:
                return 0
            end = data.rfind(b"\n")
            if end < 0:
                return 0
            added = 0
            for line in data[: end + 1].splitlines():
                if line.strip() and self._add_line(line):
                    added += 1
            self._offset += end + 1
            return added

    def _add_line(self, line: bytes) -> bool:
        try:
            record = json.loads(line)
            entry = IngestedFile(**record)
        except (ValueError, TypeError) as error:
            _LOG.warning("%s: skipping unreadable journal line: %s", self.path, error)
            return False
        self._remember(entry)
        return True

    def _remember(self, entry: IngestedFile) -> None:
        self._versions.add((entry.path, entry.size, entry.mtime_ns))
        if entry.sha256:
            self._hashes.setdefault(entry.path, set()).add(entry.sha256)
        self._entries += 1

    def contains(self, path: str, size: int, mtime_ns: int) -> bool:
        """Was this version of the file done (as of the last ``refresh``)?"""
        return (path, size, mtime_ns) in self._versions

    def has_content(self, path: str, sha256: str) -> bool:
        """Was this content already ingested from this path?"""
        return sha256 in self._hashes.get(path, ())

    def record(self, entries: Iterable[IngestedFile]) -> None:
        """Append entries durably (write, fsync). Raises ``OSError`` on failure."""
        entries = list(entries)
        if not entries:
            return
        # Imported here: the sink's helper, without loading Beam with this module.
        from transforms.io.write import fsync_directory

        payload = "".join(entry.to_json() + "\n" for entry in entries).encode("utf-8")
        directory = os.path.dirname(self.path)
        created_directory = not os.path.isdir(directory)
        os.makedirs(directory, exist_ok=True)
        created_journal = not os.path.exists(self.path)
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            written = os.write(descriptor, payload)
            if written != len(payload):
                raise OSError(f"{self.path}: short append ({written} of {len(payload)} bytes)")
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        # A new journal (or ``_state``) is a new name in its directory: on
        # disk only once the directory is.
        if created_journal:
            fsync_directory(directory)
        if created_directory:
            fsync_directory(os.path.dirname(directory))


@dataclass(frozen=True)
class ListedFile:
    """One regular file as a listing saw it."""

    path: str
    size: int
    mtime_ns: int
    inode: int = 0


@dataclass(frozen=True)
class Observation:
    """A file not yet complete: its size and mtime, and since when they held (ns)."""

    size: int
    mtime_ns: int
    since_ns: int


@dataclass(frozen=True)
class SettleResult:
    ready: list[ListedFile]
    observations: dict[str, Observation] = field(default_factory=dict)
    temp_inodes: dict[int, int] = field(default_factory=dict)


def list_folder(folder: str) -> tuple[list[ListedFile], list[ListedFile]]:
    """One listing of ``folder``: (wanted files, in-progress files). Subfolders are skipped."""
    wanted: list[ListedFile] = []
    in_progress: list[ListedFile] = []
    with os.scandir(folder) as entries:
        for entry in entries:
            try:
                if not entry.is_file(follow_symlinks=False):
                    continue
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # moved away between listing and stat
            listed = ListedFile(entry.path, info.st_size, info.st_mtime_ns, info.st_ino)
            (in_progress if is_in_progress_name(entry.name) else wanted).append(listed)
    return wanted, in_progress


def settle(
    wanted: Iterable[ListedFile],
    in_progress: Iterable[ListedFile],
    observations: dict[str, Observation],
    temp_inodes: dict[int, int],
    now_ns: int,
    settle_ns: int,
) -> SettleResult:
    """Split one listing into complete files and files still being written.

    Args:
      wanted: files under final names.
      in_progress: files under temporary names (remembered for rename detection).
      observations: from the previous call, for files not yet complete.
      temp_inodes: from the previous call, inode -> size of in-progress files.
      now_ns: wall time of the listing.
      settle_ns: how long size and mtime must hold still.

    Returns:
      ``SettleResult`` with the complete files and the state for the next call.
      A complete file has been quiet for ``settle_ns``: since its mtime, or, when
      that is in the future, since the first listing that saw its current size
      and mtime. A file
      renamed from a temporary name with its size unchanged is complete at once.
    """
    ready: list[ListedFile] = []
    pending: dict[str, Observation] = {}
    for listed in wanted:
        previous = observations.get(listed.path)
        if previous and (previous.size, previous.mtime_ns) == (listed.size, listed.mtime_ns):
            since = previous.since_ns
        else:
            since = now_ns
        renamed = listed.inode and temp_inodes.get(listed.inode) == listed.size
        # An mtime in the future (a writer's clock ahead of ours) proves nothing:
        # then only our own observations count.
        quiet_since = min(listed.mtime_ns, since) if listed.mtime_ns <= now_ns else since
        if renamed or now_ns - quiet_since >= settle_ns:
            ready.append(listed)
        else:
            pending[listed.path] = Observation(listed.size, listed.mtime_ns, since)
    temps = {listed.inode: listed.size for listed in in_progress if listed.inode}
    return SettleResult(ready=ready, observations=pending, temp_inodes=temps)
