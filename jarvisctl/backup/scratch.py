"""Extracting a snapshot's tar stream into a scratch directory on the controller, safely.

A stored snapshot is data from a host, and a host can be hostile: a member named
`../../etc/cron.d/x`, a symlink `d -> /etc` followed by a member `d/passwd`, a hard link to
`/etc/shadow`. So every member lands at `root / <its name without a leading '/' or './'>`; a name
with a `..` component is refused, and so is a hard link whose target has one or is not a file or
a symlink made before it (a link to a symlink is a second name of the symlink, never followed);
every directory on the way is opened with O_NOFOLLOW (a symlink where a directory is expected
is refused), and every
file is created with O_CREAT|O_EXCL|O_NOFOLLOW relative to its directory's descriptor, so that
nothing is ever written through a symlink. Symlinks themselves are made as recorded (their
targets may point anywhere: they are compared, never followed). Devices and FIFOs are not made
(the checksum pass has compared their type and mode already). Owners are not applied: the
controller need not be root, and the checksum pass compared them in the tar headers.

Directories are made 0700 while extracting and given their recorded modes at the end, so that a
read-only directory does not stop its own files from being written.

Each extraction has its own `.verify-*` directory, held while in use (backup/leftovers.py): one
left by a process that was killed is removed, and reported, when the next one is made, as are
those older versions left directly in the state directory.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from jarvisctl.backup.leftovers import hold, sweep
from jarvisctl.backup.manifest import tar_members
from jarvisctl.core.frozen import frozen

_CHUNK = 1024 * 1024
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
SCRATCH_PREFIX = ".verify-"
# Where runs and `backups verify` extract, under the state directory (engine/backups.SCRATCH).
STATE_SCRATCH = "scratch"


class UnsafeMemberError(Exception):
    """A tar member that would land outside the scratch directory or write through a link."""


class ScratchError(Exception):
    """The scratch directory itself failed (full, read-only, not permitted): a failure of the
    controller, which says nothing of the snapshot."""


# errors of the filesystem written to, not of the data written
SCRATCH_ERRNOS = frozenset(
    {
        errno.ENOSPC,
        errno.EDQUOT,
        errno.EACCES,
        errno.EPERM,
        errno.EROFS,
        errno.EMFILE,
        errno.ENFILE,
        errno.ENOMEM,
    }
)


@frozen
class Extracted:
    members: int  # made in the scratch directory
    skipped: int  # devices and FIFOs, not made


def relative_parts(name: str) -> tuple[str, ...]:
    """A member's (or manifest path's) place under the scratch root: its components without
    a leading '/' or '.', refused when one is '..'."""
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if ".." in parts:
        raise UnsafeMemberError(f"{name!r}: a '..' in the name would leave the scratch directory")
    return parts


@contextlib.contextmanager
def open_directory(root_fd: int, parts: tuple[str, ...], create: bool) -> Iterator[int]:
    """A descriptor of root/parts, every step opened without following a symlink."""
    fd = os.dup(root_fd)
    try:
        for part in parts:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o700, dir_fd=fd)
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                raise UnsafeMemberError(
                    f"{'/'.join(parts)!r}: {part!r} is not a directory of the scratch "
                    f"directory ({exc.strerror}): a symlink or a file is in the way"
                ) from None
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def _clear(name: str, dir_fd: int) -> None:
    """A member given twice: the later one wins (as tar extracts it). A directory stays."""
    try:
        info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(info.st_mode):
        os.unlink(name, dir_fd=dir_fd)


class _Extraction:
    def __init__(self, root_fd: int) -> None:
        self.root_fd = root_fd
        self.modes: list[tuple[tuple[str, ...], int]] = []  # directories, applied at the end

    def member(self, archive: tarfile.TarFile, member: tarfile.TarInfo) -> bool:
        parts = relative_parts(member.name)
        if not parts:
            return True  # the root itself ('.' or '/'): the scratch directory stands for it
        with open_directory(self.root_fd, parts[:-1], create=True) as parent:
            name = parts[-1]
            if member.isdir():
                self._dir(parent, parts, member.mode)
            elif member.isreg():
                self._file(archive, member, parent, name)
            elif member.issym():
                _clear(name, parent)
                os.symlink(member.linkname, name, dir_fd=parent)
            elif member.islnk():
                if relative_parts(member.linkname) != parts:
                    self._hard_link(member.linkname, parent, name)
                # else: a link to itself: GNU tar's second copy of a file given twice
                # (overlapping paths), already there
            else:
                return False
        return True

    def _dir(self, parent: int, parts: tuple[str, ...], mode: int) -> None:
        with contextlib.suppress(FileExistsError):
            os.mkdir(parts[-1], 0o700, dir_fd=parent)
        with open_directory(parent, parts[-1:], create=False):
            pass  # a symlink or a file in its place is refused here
        self.modes.append((parts, stat.S_IMODE(mode)))

    def _file(
        self, archive: tarfile.TarFile, member: tarfile.TarInfo, parent: int, name: str
    ) -> None:
        _clear(name, parent)
        source = archive.extractfile(member)
        assert source is not None  # a regular file has content
        fd = os.open(name, _FILE_FLAGS, 0o600, dir_fd=parent)
        with os.fdopen(fd, "wb") as target:
            while chunk := source.read(_CHUNK):
                target.write(chunk)
            os.fchmod(target.fileno(), stat.S_IMODE(member.mode))

    def _hard_link(self, target: str, parent: int, name: str) -> None:
        parts = relative_parts(target)
        if not parts:
            raise UnsafeMemberError(f"{name!r}: a hard link to the root directory")
        with open_directory(self.root_fd, parts[:-1], create=False) as source_dir:
            info = os.stat(parts[-1], dir_fd=source_dir, follow_symlinks=False)
            if not (stat.S_ISREG(info.st_mode) or stat.S_ISLNK(info.st_mode)):
                raise UnsafeMemberError(
                    f"{name!r}: a hard link to {target!r}, neither a file nor a symlink"
                )
            _clear(name, parent)
            os.link(
                parts[-1], name, src_dir_fd=source_dir, dst_dir_fd=parent, follow_symlinks=False
            )

    def apply_modes(self) -> None:
        for parts, mode in sorted(self.modes, key=lambda m: len(m[0]), reverse=True):
            with open_directory(self.root_fd, parts, create=False) as fd:
                os.fchmod(fd, mode)


def extract_tar(stream: BinaryIO, root: Path) -> Extracted:
    """Extract the tar stream (read once, in order) under `root`, an existing directory.
    Raises UnsafeMemberError for a member it refuses, tarfile.TarError for a damaged stream."""
    root_fd = os.open(root, _DIR_FLAGS)
    try:
        extraction = _Extraction(root_fd)
        made = skipped = 0
        with tarfile.open(fileobj=stream, mode="r|", errors="surrogateescape") as archive:
            for member in tar_members(archive):
                if _extract(extraction, archive, member):
                    made += 1
                else:
                    skipped += 1
        try:
            extraction.apply_modes()
        except OSError as exc:
            raise _located(exc, "the directories' modes") from exc
    finally:
        os.close(root_fd)
    return Extracted(made, skipped)


def _extract(extraction: _Extraction, archive: tarfile.TarFile, member: tarfile.TarInfo) -> bool:
    try:
        return extraction.member(archive, member)
    except OSError as exc:
        raise _located(exc, repr(member.name)) from exc


def _located(exc: OSError, what: str) -> Exception:
    """The error with the member it met: ScratchError when the scratch filesystem failed."""
    reason = f"{what}: {exc.strerror or exc}"
    return ScratchError(reason) if exc.errno in SCRATCH_ERRNOS else OSError(exc.errno, reason)


def remove_scratch(root: Path) -> None:
    """Remove an extraction, read-only directories included, never following a symlink."""
    for directory, names, _ in os.walk(root):
        for name in names:  # opened before os.walk lists them: make each one listable
            with contextlib.suppress(OSError):
                fd = os.open(os.path.join(directory, name), _DIR_FLAGS)
                try:
                    os.fchmod(fd, 0o700)
                finally:
                    os.close(fd)
    shutil.rmtree(root, ignore_errors=True)


class HeldScratch:
    """A new, empty `.verify-*` directory under `parent` (made 0700 if missing), made (after
    sweeping those no live process holds) and held at once: OSError when it cannot be made.
    Its block yields the directory and removes it at the end."""

    def __init__(self, parent: Path) -> None:
        parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        sweep_scratch(parent)
        while True:
            self.root = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=parent))
            try:
                self._fd = os.open(self.root, _DIR_FLAGS)
            except FileNotFoundError:  # another process swept it before we could hold it
                continue
            if hold(self._fd, self.root):
                return
            os.close(self._fd)  # swept between its creation and its lock: make another

    def __enter__(self) -> Path:
        return self.root

    def __exit__(self, *exc_info: object) -> None:
        try:
            remove_scratch(self.root)
        finally:
            os.close(self._fd)


def sweep_scratch(parent: Path) -> list[Path]:
    """Remove (and report) the scratch directories under `parent` that no live process holds;
    when `parent` is the state directory's STATE_SCRATCH, also those directly in the state
    directory, where `backups verify` extracted before it had one (unheld, so any there is a
    leftover unless a process of such an older version is verifying right now)."""
    removed = sweep(parent, _is_scratch, _remove_directory, "a scratch directory")
    if parent.name == STATE_SCRATCH:
        removed += sweep(parent.parent, _is_scratch, _remove_directory, "a scratch directory")
    return removed


def _is_scratch(name: str) -> bool:
    return name.startswith(SCRATCH_PREFIX)


def _remove_directory(path: Path) -> None:
    if path.is_symlink() or not path.is_dir():
        return  # not one of ours
    remove_scratch(path)
    if path.exists():
        raise OSError(errno.ENOTEMPTY, "some of it could not be removed")
