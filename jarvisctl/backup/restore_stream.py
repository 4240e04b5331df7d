"""The tar stream a restore sends to the host's `tar -x`: the snapshot's entries that change,
each named for its temporary place beside its target, read from the store a chunk at a time.

The controller checks each file's sha256 against the manifest as it passes: stored data that
does not match raises StoredDataError from inside the stream, so the connection ends `tar`
before its input ends (connection/stdin.py) and nothing is renamed into place.
"""

from __future__ import annotations

import hashlib
import posixpath
import tarfile
from collections.abc import Iterator, Sequence
from typing import IO, BinaryIO

from jarvisctl.backup.manifest import tar_members
from jarvisctl.backup.restore_plan import Placed, link_target, snapshot_path
from jarvisctl.store.snapshots import EntryType

_CHUNK = 262144
_BLOCK = tarfile.BLOCKSIZE
_RECORD = tarfile.RECORDSIZE


class StoredDataError(Exception):
    """The stored data does not match the snapshot's manifest (the message names the file)."""


def tar_for_host(
    source: BinaryIO, placed: Sequence[Placed], sending: set[int], *, raw: bool
) -> Iterator[bytes]:
    """The tar stream of the entries in `sending` (indices) under their temporary names; `raw`:
    `source` is a command backup's one file, not a tar stream."""
    sent = 0
    members = _raw_members(source, placed) if raw else _tar_members(source, placed, sending)
    for chunk in members:
        sent += len(chunk)
        yield chunk
    end = 2 * _BLOCK
    yield bytes(end + (-(sent + end) % _RECORD))


def _raw_members(source: BinaryIO, placed: Sequence[Placed]) -> Iterator[bytes]:
    (only,) = placed
    yield _header(only, only.entry.size, tarfile.REGTYPE)
    yield from _content(only, _chunks(source), only.entry.size)


def _tar_members(source: BinaryIO, placed: Sequence[Placed], sending: set[int]) -> Iterator[bytes]:
    by_path = {snapshot_path(p.entry): p for p in placed}
    waiting = {i for i in sending if placed[i].entry.type is not EntryType.DIR}
    try:
        with tarfile.open(fileobj=source, mode="r|") as archive:
            for member in tar_members(archive):
                one = by_path.get(_member_path(member.name))
                if one is None:
                    raise StoredDataError(
                        f"{member.name!r} is in the stored data but not in the manifest"
                    )
                if one.index not in waiting:
                    continue
                waiting.discard(one.index)
                yield from _member(archive, member, one, by_path)
    except tarfile.TarError as exc:
        raise StoredDataError(f"the stored data is not a readable tar stream: {exc}") from exc
    if waiting:
        missing = placed[min(waiting)].entry.path
        raise StoredDataError(f"{missing!r} is in the manifest but not in the stored data")


def _member(
    archive: tarfile.TarFile, member: tarfile.TarInfo, one: Placed, by_path: dict[str, Placed]
) -> Iterator[bytes]:
    kind = one.entry.type
    if kind in (EntryType.FILE, EntryType.HARDLINK) and member.isreg():
        stream = archive.extractfile(member)
        if stream is None:
            raise StoredDataError(f"{one.entry.path!r}: no data in the stored tar stream")
        yield _header(one, member.size, tarfile.REGTYPE)
        yield from _content(one, _chunks(stream), member.size)
    elif kind is EntryType.HARDLINK:
        target = link_target(one, by_path)
        if target is None:
            raise StoredDataError(f"{one.entry.path!r}: its hard link target is not restored")
        yield _header(one, 0, tarfile.LNKTYPE, link=target.temporary.lstrip("/"))
    elif kind is EntryType.SYMLINK:
        yield _header(one, 0, tarfile.SYMTYPE, link=one.entry.target or member.linkname)
    elif kind is EntryType.OTHER:
        yield _header(one, 0, member.type, major=member.devmajor, minor=member.devminor)
    else:
        raise StoredDataError(
            f"{one.entry.path!r}: the manifest says {kind.value}, the stored data differs"
        )


def _header(
    one: Placed, size: int, kind: bytes, *, link: str = "", major: int = 0, minor: int = 0
) -> bytes:
    """A GNU tar header (long names as GNU ././@LongLink records, which busybox reads too).
    Files are written 0600 and owned by whoever extracts them: the commit sets owner and mode."""
    info = tarfile.TarInfo(one.temporary.lstrip("/"))
    info.type, info.size, info.linkname = kind, size, link
    info.mode = 0o600 if kind == tarfile.REGTYPE else one.entry.mode & 0o7777
    info.mtime = int(one.entry.mtime)
    info.devmajor, info.devminor = major, minor
    return info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")


def _content(one: Placed, chunks: Iterator[bytes], size: int) -> Iterator[bytes]:
    """The file's bytes and the padding to a block, its digest checked against the manifest."""
    digest, seen = hashlib.sha256(), 0
    for chunk in chunks:
        seen += len(chunk)
        if seen > size:
            break
        digest.update(chunk)
        yield chunk
    expected = one.entry.sha256
    if seen != size or (expected is not None and digest.hexdigest() != expected):
        raise StoredDataError(
            f"{one.entry.path!r}: the stored data does not match the manifest "
            f"({seen} bytes, sha256 {digest.hexdigest()[:16]}..., manifest {size} bytes, "
            f"sha256 {(expected or '?')[:16]}...)"
        )
    yield bytes(-size % _BLOCK)


def _chunks(stream: IO[bytes]) -> Iterator[bytes]:
    while chunk := stream.read(_CHUNK):
        yield chunk


def _member_path(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return posixpath.normpath("/" + name.lstrip("/"))
