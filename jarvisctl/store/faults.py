"""Why the state directory, its databases or a journal cannot be used, told in the operator's
terms: which path, what is wrong with it (full, read-only, not writable, locked and by whom, not a
directory, not a database) and what to do.

Every SQLite or OS error met by the store goes through `store_fault`, so that a new query or file
cannot forget to explain itself. The diagnosis looks at the error and at the directory itself:
SQLite reports a full disk as SQLITE_FULL, SQLITE_IOERR or SQLITE_CANTOPEN depending on which file
it was extending, so the filesystem is asked (statvfs) rather than trusting the code alone.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

from jarvisctl.core.errors import (
    StoreError,
    StoreFullError,
    StoreLockedError,
    StoreNotDirectoryError,
    StoreReadOnlyError,
)

# SQLite's primary result codes (the low byte of an extended code)
_BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = 5, 6, 8, 10, 11, 13, 14, 26
_WAL_WRITE_LOCK = 120  # the byte of the -shm file a WAL writer holds (SQLite's WAL_WRITE_LOCK)
_SETTING = "state_dir in jarvisctl.yml (or $JARVISCTL_STATE_DIR)"


def store_fault(
    path: Path, exc: BaseException, *, lock_timeout: float = 0.0, state_dir: Path | None = None
) -> StoreError:
    """The error to show for `exc`, met while using `path` (a file in the state directory, or
    the directory itself)."""
    folder = state_dir or (path if path.is_dir() else path.parent)
    code = _sqlite_code(exc)
    number = exc.errno if isinstance(exc, OSError) else None
    blocker = _not_a_directory(path if path.is_dir() else path.parent)
    if blocker is not None or number == errno.ENOTDIR:
        return _not_directory(blocker or path.parent)
    if code in (_BUSY, _LOCKED):
        return _locked(path, lock_timeout)
    if code == _FULL or number in (errno.ENOSPC, errno.EDQUOT) or _full(folder):
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
        code in (_READONLY, _CANTOPEN) and not _writable(folder, path)
    ):
        return StoreReadOnlyError(
            f"the state directory {folder} or its files are not writable by this user (EACCES): "
            f"fix their ownership or mode, or set {_SETTING}"
        )
    if code in (_NOTADB, _CORRUPT):
        return StoreError(
            f"{path} is not a usable SQLite database ({exc}): move it aside (jarvisctl starts a "
            "new one) or restore it from a backup"
        )
    what = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return StoreError(f"cannot use {path}: {what}")


def check_state_dir(folder: Path) -> None:
    """A StoreError if `folder`, or the first of its parents that exists, is not a directory."""
    blocker = _not_a_directory(folder)
    if blocker is not None:
        raise _not_directory(blocker)


def lock_holders(database: Path) -> list[int]:
    """The other processes holding the write lock of a SQLite database (its -shm file's write
    byte in WAL mode, or any write lock on the file itself), from /proc/locks."""
    inodes = {}
    for file, wal in ((database, False), (Path(f"{database}-shm"), True)):
        try:
            info = file.stat()
        except OSError:
            continue
        key = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"
        inodes[key] = wal
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return []
    found: list[int] = []
    for line in lines:
        fields = line.split()
        if fields[1:2] == ["->"]:  # a waiter, not a holder
            continue
        if len(fields) < 7 or fields[3] != "WRITE" or fields[5] not in inodes:
            continue
        pid = int(fields[4]) if fields[4].lstrip("-").isdigit() else -1
        if inodes[fields[5]] and fields[6] != str(_WAL_WRITE_LOCK):
            continue  # a reader's slot in the -shm file, briefly written
        if pid > 0 and pid != os.getpid() and pid not in found:
            found.append(pid)
    return found


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


def _locked(path: Path, lock_timeout: float) -> StoreLockedError:
    database = path if path.suffix == ".db" else path.parent / "state.db"
    holders = lock_holders(database)
    who = (
        ", ".join(describe_process(pid) for pid in holders)
        if holders
        else "another process (which one is not known)"
    )
    if not lock_timeout:
        return StoreLockedError(
            f"the database {database} is locked by {who}: wait for it to finish, or stop it"
        )
    return StoreLockedError(
        f"the state database {database} is locked by {who} for longer than {lock_timeout:g}s "
        "(timeouts.state_lock): wait for it to finish, stop it, or raise timeouts.state_lock "
        "in jarvisctl.yml"
    )


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


def _sqlite_code(exc: BaseException) -> int | None:
    if not isinstance(exc, sqlite3.Error):
        return None
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF
    text = str(exc)  # an error raised before SQLite gave a code
    if "locked" in text:
        return _BUSY
    if "full" in text:
        return _FULL
    return None
