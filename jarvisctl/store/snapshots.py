"""The backup snapshot aggregate: one entry per snapshot that was taken whole and checksummed,
with its manifest (one entry per file), its verification state, and nothing for a transfer that
did not complete. `jarvisctl backups list/show/verify/prune`, the freshness checks that `max_age`
derives and retention read it; the backup stage (jarvisctl/backup/) writes it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from jarvisctl.core.errors import EXIT_USAGE, JarvisError
from jarvisctl.core.frozen import frozen


class UnknownSnapshotError(JarvisError):
    """No snapshot with that id (or unique prefix) in the store."""

    exit_code = EXIT_USAGE  # the SNAPSHOT argument names none


class EntryType(str, Enum):
    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    HARDLINK = "hardlink"  # tar's link to a file earlier in the same stream (`target` names it)
    OTHER = "other"  # devices, FIFOs: recorded by type and mode, no content


class SnapshotState(str, Enum):
    UNVERIFIED = "unverified"  # stored and checksummed while receiving, not re-read since
    VERIFIED = "verified"  # re-read (checksum) or restored (restore) and matched its manifest
    UNUSABLE = "unusable"  # a verification failed: never restored from, never pruned for others


@dataclass(frozen=True, slots=True)  # one per file of a manifest in hand: no __dict__ each
class ManifestEntry:
    """One file of a snapshot as it was on the host. `path` is the absolute path on the host
    (a `command` backup has one entry: its `file` name, type file). `sha256` only for files."""

    path: str
    type: EntryType
    mode: int  # permission bits (0o7777), without the type
    owner: str  # "user:group" names as tar recorded them ("" when absent)
    uid: int
    gid: int
    size: int
    mtime: float
    sha256: str | None = None
    target: str | None = None  # a symlink's or hard link's target


@frozen
class Snapshot:
    """One snapshot taken whole and checksummed: where its store keeps it, what it holds, and
    whether it was verified since."""

    id: str  # unique, sortable by time: "<UTC yyyymmddThhmmssZ>-<host>-<backup>-<4 hex>"
    host: str
    backup: str  # the backup's name in its play
    play: str
    store: str  # the backup store's name from jarvisctl.yml ("local" by default)
    location: str  # where that store keeps it (a path, or a restic snapshot id)
    taken_at: float  # epoch seconds when the transfer started
    seconds: float  # how long the transfer took
    source: str  # "paths" or "command"
    compress: str  # "gzip", "zstd" or "none": how the stored data is compressed
    files: int  # manifest entries
    bytes: int  # content bytes (sum of file sizes, uncompressed)
    stored_bytes: int  # bytes the store holds for it
    state: SnapshotState = SnapshotState.UNVERIFIED
    verified_at: float | None = None
    problem: str | None = None  # why it is unusable (the first file that did not match)


class PendingSnapshot(Protocol):
    """A snapshot being taken: its manifest goes to the index a page at a time as the stream
    is read (never whole in memory), invisible to every reader until `record`. Leaving the
    block without `record` forgets every page written; a process killed meanwhile leaves its
    pages to the next `SnapshotIndex.pending` on the same controller, which sweeps them."""

    def write(self, page: Sequence[ManifestEntry]) -> None:
        """The next entries, in the order received."""
        ...

    def record(self, snapshot: Snapshot) -> None:
        """Make the snapshot (and the pages written) visible, in one transaction."""
        ...


class SnapshotIndex(Protocol):
    def add(self, snapshot: Snapshot, manifest: Iterable[ManifestEntry]) -> None:
        """Record a complete snapshot and its manifest in one transaction."""
        ...

    def pending(self, snapshot_id: str) -> AbstractContextManager[PendingSnapshot]:
        """A snapshot whose manifest is written in pages while it is taken (PendingSnapshot)."""
        ...

    def mark(
        self, snapshot_id: str, state: SnapshotState, at: float, problem: str | None = None
    ) -> Snapshot:
        """A verification's outcome; returns the updated entry."""
        ...

    def get(self, wanted: str) -> Snapshot:
        """By id or a unique prefix of it; raises UnknownSnapshotError."""
        ...

    def list(self, host: str | None = None, backup: str | None = None) -> tuple[Snapshot, ...]:
        """Newest first."""
        ...

    def manifest(self, snapshot_id: str) -> Iterator[ManifestEntry]:
        """In the order the files were received, read a page at a time."""
        ...

    def manifest_by_path(self, snapshot_id: str) -> Iterator[ManifestEntry]:
        """Ordered by path (as bytes), a path received twice in the order received; read a
        page at a time."""
        ...

    def remove(self, snapshot_id: str) -> None:
        """Forget a snapshot and its manifest (after its store has deleted the data)."""
        ...
