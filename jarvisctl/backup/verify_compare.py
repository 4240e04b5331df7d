"""Comparing a snapshot's data with its manifest, and saying where they first differ: for the
stored stream (entry by entry, in the order received) and for a restore on disk (file by file).
Each function returns the problem, naming the file, or None when everything matched."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

from jarvisctl.backup.scratch import open_directory, relative_parts
from jarvisctl.store.snapshots import EntryType, ManifestEntry

# in the order a difference is named: what most likely explains the others comes first
_FIELDS = ("type", "size", "sha256", "mode", "target", "owner", "uid", "gid", "mtime")
_CHUNK = 1024 * 1024


def shown(path: str) -> str:
    """A path as a message shows it: as is, or quoted when it holds a newline or another
    character that would break a line of output (or bytes that are not UTF-8)."""
    return path if path.isprintable() else ascii(path)


def _value(field: str, value: object) -> str:
    if value is None:
        return "none"
    if field == "mode" and isinstance(value, int):
        return oct(value)
    if field == "sha256" and isinstance(value, str):
        return value[:16] + "..."
    if field == "size":
        return f"{value} bytes"
    if isinstance(value, EntryType):
        return value.value
    return repr(value) if isinstance(value, str) else str(value)


def _differs(stored: ManifestEntry, recorded: ManifestEntry) -> str | None:
    for field in _FIELDS:
        got, want = getattr(stored, field), getattr(recorded, field)
        if got != want:
            return (
                f"{shown(recorded.path)}: {field} differs (stored data: {_value(field, got)}, "
                f"manifest: {_value(field, want)})"
            )
    return None


def compare_tar(stored: Iterator[ManifestEntry], recorded: Iterator[ManifestEntry]) -> str | None:
    """The manifest read back from the stored tar stream against the recorded one. An error
    while reading the stream names the file that was being read."""
    previous: ManifestEntry | None = None
    while True:
        want = next(recorded, None)
        try:
            got = next(stored, None)
        except Exception as exc:  # the store's, the decompressor's or tar's
            return _damaged(exc, want, previous)
        if got is None and want is None:
            return None
        if got is None:
            assert want is not None
            return f"{shown(want.path)}: in the manifest, missing from the stored data"
        if want is None or got.path != want.path:
            return _misplaced(got, want, recorded)
        if (problem := _differs(got, want)) is not None:
            return problem
        previous = want


def _damaged(exc: Exception, want: ManifestEntry | None, previous: ManifestEntry | None) -> str:
    """The stream broke off: the files before matched, this one and those after are unread.
    (Read ahead in chunks, the damage itself can lie in this file or a little after it.)"""
    reason = str(exc) or type(exc).__name__
    if want is None:
        return f"the stored data is damaged after its last file: {reason} (every file matched)"
    before = "" if previous is None else " (the files before it matched)"
    return f"{shown(want.path)}: cannot be read back, the stored data is damaged: {reason}{before}"


def _misplaced(
    got: ManifestEntry, want: ManifestEntry | None, rest: Iterator[ManifestEntry]
) -> str:
    """Where the two lists part: the manifest's file is missing when the stored one comes
    later in the manifest, else the stored one is extra."""
    if want is not None and any(e.path == got.path for e in rest):
        return f"{shown(want.path)}: in the manifest, missing from the stored data"
    return f"{shown(got.path)}: in the stored data, not in the manifest"


def compare_stream(read: tuple[int, str], entry: ManifestEntry | None) -> str | None:
    """A command's output (its size and sha256) against its one manifest entry."""
    if entry is None:
        return "the manifest has no entry for the command's output"
    size, digest = read
    if size != entry.size:
        return (
            f"{shown(entry.path)}: size differs (stored data: {size} bytes, manifest: "
            f"{entry.size} bytes)"
        )
    if digest != entry.sha256:
        return (
            f"{shown(entry.path)}: sha256 differs (stored data: {_value('sha256', digest)}, "
            f"manifest: {_value('sha256', entry.sha256)})"
        )
    return None


def compare_on_disk(root: Path, by_path: Iterable[ManifestEntry]) -> str | None:
    """Every file restored under `root` against its manifest entry (the last one, when a path
    was received twice), never following a symlink. `by_path`: the manifest ordered by path,
    a path received twice in the order received (SnapshotIndex.manifest_by_path), read once:
    nothing of it is held but the entry at hand."""
    for entry in _last_of_each_path(by_path):
        if entry.type is EntryType.OTHER:
            continue  # devices and FIFOs are not made
        parts = relative_parts(entry.path)
        if not parts:
            continue  # the root: the scratch directory stands for it
        try:
            problem = _on_disk(root, parts, entry)
        except FileNotFoundError:
            problem = "missing"
        except OSError as exc:
            problem = f"cannot be read ({exc.strerror or exc})"
        if problem is not None:
            return f"{shown(entry.path)}: after restoring, {problem}"
    return None


def _last_of_each_path(by_path: Iterable[ManifestEntry]) -> Iterator[ManifestEntry]:
    """Each path's last entry (extracting, the later one wins), from entries grouped by path."""
    last: ManifestEntry | None = None
    for entry in by_path:
        if _itself(entry):
            continue
        if last is not None and entry.path != last.path:
            yield last
        last = entry
    if last is not None:
        yield last


def _itself(entry: ManifestEntry) -> bool:
    """GNU tar's second copy of a file archived twice (overlapping paths): a hard link to its
    own path, which says nothing of the file (its first copy does)."""
    return entry.type is EntryType.HARDLINK and entry.target == entry.path


def _on_disk(root: Path, parts: tuple[str, ...], entry: ManifestEntry) -> str | None:
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        with open_directory(root_fd, parts[:-1], create=False) as parent:
            return _compare_file(parent, parts[-1], entry, root_fd)
    finally:
        os.close(root_fd)


def _compare_file(parent: int, name: str, entry: ManifestEntry, root_fd: int) -> str | None:
    info = os.stat(name, dir_fd=parent, follow_symlinks=False)
    if entry.type is EntryType.HARDLINK:  # a file or a symlink: the same one as its target
        return _same_file(info, entry, root_fd)
    kind = _kind(info.st_mode)
    if kind is not entry.type:
        return f"it is a {kind.value}, the manifest has a {entry.type.value}"
    if entry.type is EntryType.SYMLINK:
        target = os.readlink(name, dir_fd=parent)
        return None if target == entry.target else f"it points to {target!r}, not {entry.target!r}"
    if stat.S_IMODE(info.st_mode) != entry.mode:
        return f"its mode is {oct(stat.S_IMODE(info.st_mode))}, the manifest has {oct(entry.mode)}"
    if entry.type is EntryType.FILE:
        return _same_content(parent, name, entry)
    return None


def _kind(mode: int) -> EntryType:
    if stat.S_ISREG(mode):
        return EntryType.FILE
    if stat.S_ISDIR(mode):
        return EntryType.DIR
    if stat.S_ISLNK(mode):
        return EntryType.SYMLINK
    return EntryType.OTHER


def _same_content(parent: int, name: str, entry: ManifestEntry) -> str | None:
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
    digest, size = hashlib.sha256(), 0
    with os.fdopen(fd, "rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    if size != entry.size:
        return f"its size is {size} bytes, the manifest has {entry.size}"
    if digest.hexdigest() != entry.sha256:
        return (
            f"its sha256 is {_value('sha256', digest.hexdigest())}, the manifest has "
            f"{_value('sha256', entry.sha256)}"
        )
    return None


def _same_file(info: os.stat_result, entry: ManifestEntry, root_fd: int) -> str | None:
    parts = relative_parts(entry.target or "")
    with open_directory(root_fd, parts[:-1], create=False) as parent:
        linked = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
    if (linked.st_dev, linked.st_ino) != (info.st_dev, info.st_ino):
        return f"it is not a hard link to {shown(entry.target or '')}"
    return None
