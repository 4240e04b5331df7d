"""A snapshot's manifest, read from its tar stream as it goes by: one entry per member, with the
sha256 of every file's content. Taking a backup runs it while receiving; verification runs it
again over the stored data and compares.

The stream is read once, in order (tarfile's stream mode): nothing is held but one chunk of one
file (and one member: tar_members). Names are as on the host: GNU tar strips the leading '/' of
absolute paths, which is put back, so a manifest path is the absolute path the file had (a hard
link's target likewise).
"""

from __future__ import annotations

import hashlib
import tarfile
from collections.abc import Iterator
from typing import BinaryIO

from jarvisctl.store.snapshots import EntryType, ManifestEntry

_CHUNK = 1024 * 1024


class TarStreamError(ValueError):
    """The stream is not a whole tar archive (cut short, or not tar at all)."""


def manifest_of_tar(stream: BinaryIO) -> Iterator[ManifestEntry]:
    """The entries of the tar archive `stream` holds, in its order. Raises TarStreamError when
    the stream is not tar or ends inside a member; reading stops at the archive's end."""
    try:
        # bufsize: tarfile reads the stream in pieces of this size (its default is 10 KiB)
        with tarfile.open(
            fileobj=stream, mode="r|", bufsize=_CHUNK, errors="surrogateescape"
        ) as archive:
            for member in tar_members(archive):
                yield _entry(member, archive)
    except (tarfile.TarError, EOFError) as exc:
        raise TarStreamError(f"the tar stream is not whole: {exc}") from exc


def tar_members(archive: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    """An archive opened as a stream (`r|`), member by member, each forgotten once the next is
    asked for: iterating a TarFile keeps every member read in `archive.members` (some 0.7 KiB
    a file: 70 MiB for 100,000 files), which a stream read once, in order, never needs. (Only
    `extractfile` of a hard link looks there; no caller extracts one through tarfile.)"""
    while (member := archive.next()) is not None:
        yield member
        archive.members.clear()  # type: ignore[attr-defined]  # typeshed omits the list


def host_path(name: str) -> str:
    """A member's name as the absolute path it had on the host."""
    return name if name.startswith("/") else "/" + name.removeprefix("./")


def _entry(member: tarfile.TarInfo, archive: tarfile.TarFile) -> ManifestEntry:
    kind = _type_of(member)
    digest = _sha256(archive, member) if kind is EntryType.FILE else None
    if kind is EntryType.HARDLINK:
        target: str | None = host_path(member.linkname)
    else:
        target = member.linkname if kind is EntryType.SYMLINK else None
    owner = f"{member.uname}:{member.gname}" if member.uname or member.gname else ""
    return ManifestEntry(
        path=host_path(member.name),
        type=kind,
        mode=member.mode & 0o7777,
        owner=owner,
        uid=member.uid,
        gid=member.gid,
        size=member.size if kind is EntryType.FILE else 0,
        mtime=float(member.mtime),
        sha256=digest,
        target=target,
    )


def _type_of(member: tarfile.TarInfo) -> EntryType:
    if member.isreg():
        return EntryType.FILE
    if member.isdir():
        return EntryType.DIR
    if member.issym():
        return EntryType.SYMLINK
    if member.islnk():
        return EntryType.HARDLINK
    return EntryType.OTHER


def _sha256(archive: tarfile.TarFile, member: tarfile.TarInfo) -> str:
    digest = hashlib.sha256()
    content = archive.extractfile(member)
    if content is None:  # isreg() members always have content; this is tarfile's typing
        return digest.hexdigest()
    read = 0
    while chunk := content.read(_CHUNK):
        digest.update(chunk)
        read += len(chunk)
    if read != member.size:
        raise TarStreamError(f"the tar stream ends inside {host_path(member.name)!r}")
    return digest.hexdigest()


def digest_stream(stream: BinaryIO) -> tuple[str, int]:
    """sha256 and size of a whole stream (a `command` backup's single file)."""
    digest, size = hashlib.sha256(), 0
    while chunk := stream.read(_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size
