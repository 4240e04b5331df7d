"""Why the state directory, its databases or a journal cannot be used, told in the operator's
terms: which path, what is wrong with it (full, read-only, not writable, locked and by whom, not a
directory, not a database) and what to do.

Every OS error met by the store goes through `store_fault`, and a database's errors through its
dialect's diagnosis (store/sqlite/faults.py), which tells what it can (a lock and its holder, a
file that is not a database) and leaves the rest here, so that a new query or file cannot forget
to explain itself. The diagnosis looks at the error and at the directory itself: a database may
report a full disk as any of several errors depending on which file it was extending, so the
filesystem is asked (statvfs) rather than trusting the error alone.
"""

from __future__ import annotations

import errno
import os
from enum import Enum
from pathlib import Path

from jarvisctl.core.errors import (
    StoreError,
    StoreFullError,
    StoreNotDirectoryError,
    StoreReadOnlyError,
)

_SETTING = "state_dir in jarvisctl.yml (or $JARVISCTL_STATE_DIR)"


class Symptom(Enum):
    """What a database said, in terms the diagnosis here understands."""

    FULL = "full"  # the database says the disk is full
    DENIED = "denied"  # it could not open or write a file (permissions, or a read-only mount)


def store_fault(
    path: Path,
    exc: BaseException,
    *,
    symptom: Symptom | None = None,
    state_dir: Path | None = None,
) -> StoreError:
    """The error to show for `exc`, met while using `path` (a file in the state directory, or
    the directory itself)."""
    return (
        not_a_directory(path, exc)
        or machine_fault(path, exc, symptom, state_dir)
        or (StoreError(f"cannot use {path}: {_what(exc)}"))
    )


def not_a_directory(path: Path, exc: BaseException) -> StoreError | None:
    """The state directory (or a parent) is not a directory."""
    blocker = _not_a_directory(path if path.is_dir() else path.parent)
    if blocker is not None or (isinstance(exc, OSError) and exc.errno == errno.ENOTDIR):
        return _not_directory(blocker or path.parent)
    return None


def machine_fault(
    path: Path, exc: BaseException, symptom: Symptom | None, state_dir: Path | None = None
) -> StoreError | None:
    """A full disk, a read-only filesystem, or files this user may not write."""
    folder = state_dir or (path if path.is_dir() else path.parent)
    number = exc.errno if isinstance(exc, OSError) else None
    if symptom is Symptom.FULL or number in (errno.ENOSPC, errno.EDQUOT) or _full(folder):
        name = "EDQUOT" if number == errno.EDQUOT else "ENOSPC"
        return StoreFullError(
            f"the state directory {folder} is on a full filesystem ({name}): free space there "
            f"or set {_SETTING}"
        )
    if number == errno.EROFS or _read_only_mount(folder):
        return StoreReadOnlyError(
            f"the state directory {folder} is on a read-only filesystem (EROFS): remount it "
            f"read-write or set {_SETTING}; reading (runs, report, audit verify) still works"
        )
    if number in (errno.EACCES, errno.EPERM) or (
        symptom is Symptom.DENIED and not _writable(folder, path)
    ):
        return StoreReadOnlyError(
            f"the state directory {folder} or its files are not writable by this user (EACCES): "
            f"fix their ownership or mode, or set {_SETTING}"
        )
    return None


def _what(exc: BaseException) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


def check_state_dir(folder: Path) -> None:
    """A StoreError if `folder`, or the first of its parents that exists, is not a directory."""
    blocker = _not_a_directory(folder)
    if blocker is not None:
        raise _not_directory(blocker)


def describe_process(pid: int) -> str:
    """'another jarvisctl (pid N: jarvisctl run ...)' or 'another process (pid N: ...)'."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return f"another process (pid {pid})"
    words = [w.decode(errors="replace") for w in raw.split(b"\0") if w]
    command = " ".join(" ".join(words).split())
    if len(command) > 80:
        command = command[:77] + "..."
    # the console script (python .../bin/jarvisctl), `python -m jarvisctl`, or argv[0] itself
    ours = any(Path(w).name == "jarvisctl" for w in words[:3])
    who = "another jarvisctl" if ours else "another process"
    return f"{who} (pid {pid}: {command})" if command else f"{who} (pid {pid})"


def _not_directory(blocker: Path) -> StoreNotDirectoryError:
    kind = "a file" if blocker.is_file() else "not a directory"
    return StoreNotDirectoryError(
        f"the state directory {blocker} is {kind}: move it away or set {_SETTING} to a directory"
    )


def _not_a_directory(folder: Path) -> Path | None:
    """`folder` or the first parent that exists, when that is not a directory."""
    for candidate in (folder, *folder.parents):
        if candidate.exists() or candidate.is_symlink():
            return None if candidate.is_dir() else candidate
    return None


def _existing(folder: Path) -> Path:
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            return candidate
    return Path("/")


def _full(folder: Path) -> bool:
    try:
        info = os.statvfs(_existing(folder))
    except OSError:
        return False
    # root may use the reserved blocks (f_bfree), everyone else only f_bavail
    free = info.f_bfree if os.geteuid() == 0 else info.f_bavail
    return free * info.f_frsize < 64 * 1024 or (info.f_files > 0 and info.f_favail == 0)


def _read_only_mount(folder: Path) -> bool:
    try:
        return bool(os.statvfs(_existing(folder)).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _writable(folder: Path, path: Path) -> bool:
    if not os.access(_existing(folder), os.W_OK | os.X_OK):
        return False
    return not path.exists() or path.is_dir() or os.access(path, os.W_OK)
