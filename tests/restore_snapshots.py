"""Snapshots made by hand for restore tests: a real tar stream of a real tree (GNU tar on the
host), its manifest read from that stream, kept in a real backup store through its writer,
indexed in a real SQLite store.

The backup stage's own take_backup makes them in the issue-level tests; these tests of restore
build the same things from their parts, so that each failure is restore's own.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import posixpath
import tarfile
from collections.abc import Iterator
from typing import BinaryIO

from jarvisctl.backup.stores.base import BackupStore
from jarvisctl.store.snapshots import (
    EntryType,
    ManifestEntry,
    Snapshot,
    SnapshotIndex,
)
from tests.backup.helpers import backup_plan


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
    store: BackupStore,
    *,
    snapshot_id: str,
    host: str,
    data: bytes,
    source: str = "paths",
    file: str | None = None,
    backup: str = "tree",
    compress: str = "gzip",
) -> Snapshot:
    """Keep `data` (a tar stream, or a command's output for source "command") in the store
    through its own writer (compressed as `compress` says, as it would arrive from a host) and
    index it with its manifest."""
    plan = backup_plan(name=backup, source=source, file=file, compress=compress)
    wire = gzip.compress(data, compresslevel=1) if compress == "gzip" else data
    assert compress in ("gzip", "none")
    with store.writer(snapshot_id, plan, host) as writer:
        writer.write(wire)
        location, stored = writer.commit()
    snapshot = Snapshot(
        id=snapshot_id,
        host=host,
        backup=backup,
        play=plan.play,
        store=store.name,
        location=location,
        taken_at=1_800_000_000.0,
        seconds=0.1,
        source=source,
        compress=writer.compress,
        files=0,
        bytes=len(data),
        stored_bytes=stored,
    )
    if source == "command":
        digest = hashlib.sha256(data).hexdigest()
        owner = "root:root"
        when = 1_800_000_000.0
        manifest = [
            ManifestEntry(
                file or "data", EntryType.FILE, 0o600, owner, 0, 0, len(data), when, digest
            )
        ]
    else:
        manifest = list(manifest_of_tar(io.BytesIO(data)))
    index.add(snapshot, manifest)
    return snapshot
