"""What a restore would change: each manifest entry placed on the host (in place, or under
`--to`), compared with what the host has there now. Pure: no host, no store."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum

from jarvisctl.backup.restore_host import q
from jarvisctl.backup.restore_state import HostEntry
from jarvisctl.core.errors import UsageError
from jarvisctl.store.snapshots import EntryType, ManifestEntry

# Temporary and kept-aside names: hidden, in the target's own directory (a rename stays on one
# filesystem), short whatever the target's name (NAME_MAX), and telling an operator who finds
# one after a lost connection what it is.
_NEW = ".jarvisctl-new-"
_OLD = ".jarvisctl-old-"

# What a host's `s` calls each manifest type.
_HOST_TYPE = {
    EntryType.FILE: "file",
    EntryType.HARDLINK: "file",
    EntryType.DIR: "dir",
    EntryType.SYMLINK: "symlink",
    EntryType.OTHER: "other",
}


class RestoreRefusedError(UsageError):
    """A restore that cannot be done as asked: an unusable snapshot, a command backup without
    `--to`, a path that is not absolute."""


class Change(str, Enum):
    CREATE = "create"  # nothing there now
    REPLACE = "replace"  # something different there now (`differs` says what)
    UNCHANGED = "unchanged"  # already as in the snapshot: not written


@dataclass(frozen=True, slots=True)
class FileChange:
    """One manifest entry's fate: the path on the host and what a restore does (or did) to it."""

    path: str
    type: EntryType
    change: Change
    differs: tuple[str, ...] = ()  # for replace: of content, type, mode, owner, target

    def describe(self) -> str:
        if self.change is Change.REPLACE:
            return f"replace {self.path!r} ({', '.join(self.differs)} differs)"
        return f"{self.change.value} {self.path!r}"


@dataclass(frozen=True, slots=True)
class Placed:
    """A manifest entry with its place on the host and the names written beside it (made
    when asked for: a restore of 100,000 files would hold 200,000 more strings)."""

    index: int
    entry: ManifestEntry
    path: str  # where it goes on the host
    token: str  # the restore's, in every name it writes beside its targets

    @property
    def temporary(self) -> str:
        """Beside it: the new file before its rename."""
        return posixpath.join(posixpath.dirname(self.path), f"{_NEW}{self.token}-{self.index}")

    @property
    def kept(self) -> str:
        """Beside it: what was there before, until verified."""
        return posixpath.join(posixpath.dirname(self.path), f"{_OLD}{self.token}-{self.index}")


def host_root(to: str | None) -> str | None:
    """`--to` as a normalized absolute path (None: in place); refused when relative."""
    if to is None:
        return None
    if not to.startswith("/") or "\0" in to:
        raise RestoreRefusedError(
            f"--to {to!r}: give an absolute path on the host (such as /srv/restored)"
        )
    return posixpath.normpath(to)


def snapshot_path(entry: ManifestEntry) -> str:
    """The manifest's path, absolute and normalized; refused when it climbs with `..`."""
    path = posixpath.normpath("/" + entry.path.lstrip("/"))
    if ".." in entry.path.split("/") or "\0" in path:
        raise RestoreRefusedError(f"the snapshot's manifest names {entry.path!r}: not restorable")
    return path


def latest_entries(entries: Iterable[ManifestEntry]) -> list[ManifestEntry]:
    """Each path once, as its last entry says (tar holds a path twice when two backed-up paths
    overlap; extracting it, the later one wins), where it first appeared (parents first). GNU
    tar stores a file's second appearance as a hard link to itself: that one adds nothing."""
    by_path: dict[str, ManifestEntry] = {}
    for entry in entries:
        path = snapshot_path(entry)
        if path in by_path and entry.type is EntryType.HARDLINK and _link_target(entry) == path:
            continue
        by_path[path] = entry
    return list(by_path.values())


def place(
    entries: Sequence[ManifestEntry], root: str | None, token: str, *, single: str | None = None
) -> list[Placed]:
    """Each entry's place: its own path, under `root`, or (`single`: a command backup's one
    file) exactly there."""
    placed = []
    for index, entry in enumerate(entries):
        if single is not None:
            path = single
        elif root is None or root == "/":
            path = snapshot_path(entry)
        else:
            path = root + snapshot_path(entry) if snapshot_path(entry) != "/" else root
        placed.append(Placed(index, entry, path, token))
    return placed


def compare(
    entry: ManifestEntry,
    now: HostEntry,
    *,
    owners: bool,
    digest: str | None = None,
) -> tuple[Change, tuple[str, ...]]:
    """How the host's `now` differs from `entry` (`digest`: a hard link's, its target's sha256;
    `owners`: compare uid/gid too)."""
    if now.type == "missing":
        return Change.CREATE, ()
    if now.type != _HOST_TYPE[entry.type]:
        return Change.REPLACE, ("type",)
    differs = []
    if now.type == "file" and (now.sha256 is None or now.sha256 != (digest or entry.sha256)):
        differs.append("content")
    if now.type == "symlink" and now.target != entry.target:
        differs.append("target")
    if now.type != "symlink" and now.mode != entry.mode & 0o7777:
        differs.append("mode")
    if owners and (now.uid, now.gid) != (entry.uid, entry.gid):
        differs.append("owner")
    return (Change.REPLACE, tuple(differs)) if differs else (Change.UNCHANGED, ())


def hardlink_digests(placed: Sequence[Placed]) -> dict[int, str | None]:
    """A hard link's expected sha256 (its target's), by index."""
    by_path = {snapshot_path(p.entry): p.entry for p in placed}
    return {
        p.index: by_path[_link_target(p.entry)].sha256 if _link_target(p.entry) in by_path else None
        for p in placed
        if p.entry.type is EntryType.HARDLINK
    }


def hardlink_groups(placed: Sequence[Placed], changed: set[int]) -> set[int]:
    """`changed`, plus every member of a hard-link group one of whose members changes: a
    link is only made to a file written in the same restore."""
    index_of = {snapshot_path(p.entry): p.index for p in placed}
    groups: dict[int, set[int]] = {}
    for p in placed:
        target = index_of.get(_link_target(p.entry))
        if p.entry.type is EntryType.HARDLINK and target is not None:
            groups.setdefault(target, {target}).add(p.index)
    grown = set(changed)
    for members in groups.values():
        if members & grown:
            grown |= members
    return grown


def link_target(placed: Placed, by_path: dict[str, Placed]) -> Placed | None:
    """The entry a hard link points at."""
    return by_path.get(_link_target(placed.entry))


def _link_target(entry: ManifestEntry) -> str:
    return posixpath.normpath("/" + (entry.target or "").lstrip("/"))


def parents_outside(placed: Iterable[Placed]) -> list[str]:
    """Directories the restored entries need that the snapshot does not hold (the parents of
    a backed-up path, `--to`'s own directories), shallowest first."""
    directories = {p.path for p in placed if p.entry.type is EntryType.DIR}
    needed = {
        posixpath.dirname(p.path)
        for p in placed
        if posixpath.dirname(p.path) not in directories and p.path != "/"
    }
    return sorted(needed - directories, key=lambda d: (d.count("/"), d))


def ancestors_outside(placed: Iterable[Placed]) -> list[str]:
    """Every directory above a restored path that the snapshot does not hold (up to, without,
    /), shallowest first: what the restore would create with `mkdir -p` or write through."""
    placed = list(placed)
    directories = {p.path for p in placed if p.entry.type is EntryType.DIR}
    found: set[str] = set()
    for p in placed:
        parent = posixpath.dirname(p.path)
        while parent not in ("/", "") and parent not in found:
            found.add(parent)
            parent = posixpath.dirname(parent)
    return sorted(found - directories, key=lambda d: (d.count("/"), d))


def refuse_under_links(placed: Iterable[Placed]) -> None:
    """A path the snapshot holds below a symbolic link it also holds (overlapping backup
    paths through a link) would be written, or removed on undo, through that link: refused."""
    placed = list(placed)
    links = {p.path for p in placed if p.entry.type is EntryType.SYMLINK}
    if not links:
        return
    for p in placed:
        parent = posixpath.dirname(p.path)
        while parent not in ("/", ""):
            if parent in links:
                raise RestoreRefusedError(
                    f"the snapshot holds {p.path!r} below {parent!r}, which it also holds as a "
                    "symbolic link (backup paths that overlap through a link): restoring it "
                    "would write through the link, so nothing is restored; back the link's "
                    "target up as a path of its own"
                )
            parent = posixpath.dirname(parent)


def linked_ancestor_lines(directories: Iterable[str]) -> list[str]:
    """Host lines that stop (exit 3) at a directory above the restored paths that is a
    symbolic link owned by someone else than root or the restoring user: with `become`, such
    a link would steer root's writes anywhere. Root's own links (/lib -> usr/lib) are
    followed."""
    lines = ["me=$(id -u)"]
    for d in directories:
        lines.append(
            f"if [ -L {q(d)} ]; then o=$(stat -c %u {q(d)}) || exit 3; "
            f'if [ "$o" != 0 ] && [ "$o" != "$me" ]; then '
            f"printf '%s is a symbolic link owned by uid %s: nothing is restored through it\\n' "
            f'{q(d)} "$o" >&2; exit 3; fi; fi'
        )
    return lines
