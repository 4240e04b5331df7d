"""Snapshots made by hand for restore tests: a real tar stream of a real tree (GNU tar on the
host), its manifest read from that stream, kept in a directory, indexed in a real SQLite store.

The backup stage's own take_backup makes them in the issue-level tests; these tests of restore
build the same things from their parts, so that each failure is restore's own.
"""

from __future__ import annotations

import hashlib
import posixpath
import tarfile
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO

from jarvisctl.store.snapshots import (
    EntryType,
    ManifestEntry,
    Snapshot,
    SnapshotIndex,
)


class DirectoryStore:
    """Snapshots as files `<id>.data` in a directory: the uncompressed stream, as stored."""

    def __init__(self, name: str, directory: Path) -> None:
        self.name = name
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def path(self, snapshot: Snapshot) -> Path:
        return self.directory / f"{snapshot.id}.data"

    def open(self, snapshot: Snapshot) -> AbstractContextManager[BinaryIO]:
        return self.path(snapshot).open("rb")


def manifest_of_tar(stream: BinaryIO) -> Iterator[ManifestEntry]:
    """Each member of an uncompressed tar stream as a manifest entry (absolute paths)."""
    with tarfile.open(fileobj=stream, mode="r|") as archive:
        for member in archive:
            digest = None
            if member.isreg():
                data = archive.extractfile(member)
                assert data is not None
                digest = hashlib.sha256(data.read()).hexdigest()
            yield ManifestEntry(
                path=_absolute(member.name),
                type=_type(member),
                mode=member.mode & 0o7777,
                owner=f"{member.uname}:{member.gname}",
                uid=member.uid,
                gid=member.gid,
                size=member.size if member.isreg() else 0,
                mtime=float(member.mtime),
                sha256=digest,
                target=_absolute(member.linkname)
                if member.islnk()
                else (member.linkname if member.issym() else None),
            )


def _absolute(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return posixpath.normpath("/" + name.lstrip("/"))


def _type(member: tarfile.TarInfo) -> EntryType:
    if member.isreg():
        return EntryType.FILE
    if member.isdir():
        return EntryType.DIR
    if member.issym():
        return EntryType.SYMLINK
    if member.islnk():
        return EntryType.HARDLINK
    return EntryType.OTHER


def add_snapshot(
    index: SnapshotIndex,
    store: DirectoryStore,
    *,
    snapshot_id: str,
    host: str,
    data: bytes,
    source: str = "paths",
    file: str = "dump",
    backup: str = "tree",
) -> Snapshot:
    """Keep `data` (a tar stream, or a command's output for source "command") as a snapshot."""
    snapshot = Snapshot(
        id=snapshot_id,
        host=host,
        backup=backup,
        play="play",
        store=store.name,
        location=str(store.directory / f"{snapshot_id}.data"),
        taken_at=1_800_000_000.0,
        seconds=0.1,
        source=source,
        compress="none",
        files=0,
        bytes=len(data),
        stored_bytes=len(data),
    )
    store.path(snapshot).write_bytes(data)
    if source == "command":
        entry = ManifestEntry(
            file,
            EntryType.FILE,
            0o600,
            "root:root",
            0,
            0,
            len(data),
            1_800_000_000.0,
            hashlib.sha256(data).hexdigest(),
        )
        manifest = [entry]
    else:
        with store.path(snapshot).open("rb") as stream:
            manifest = list(manifest_of_tar(stream))
    index.add(snapshot, manifest)
    return snapshot
