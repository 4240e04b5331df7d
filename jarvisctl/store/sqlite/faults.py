"""SQLite's errors, told in the operator's terms: a lock and who holds it, a file that is not a
database; the machine's faults (full, read-only, not writable, not a directory) are told by
store/faults.py, from the error's code and from the directory itself.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from jarvisctl.core.errors import StoreError, StoreLockedError
from jarvisctl.store.faults import (
    Symptom,
    describe_process,
    machine_fault,
    not_a_directory,
    store_fault,
)

# SQLite's primary result codes (the low byte of an extended code)
_BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = 5, 6, 8, 10, 11, 13, 14, 26
_WAL_WRITE_LOCK = 120  # the byte of the -shm file a WAL writer holds (SQLite's WAL_WRITE_LOCK)
_SYMPTOMS = {_FULL: Symptom.FULL, _READONLY: Symptom.DENIED, _CANTOPEN: Symptom.DENIED}


def sqlite_fault(path: Path, exc: BaseException, *, lock_timeout: float = 0.0) -> StoreError:
    """The error to show for `exc` (a SQLite or OS error), met while using the database
    `path`."""
    if not isinstance(exc, sqlite3.Error):
        return store_fault(path, exc)
    code = _sqlite_code(exc)
    blocked = not_a_directory(path, exc)
    if blocked is not None:
        return blocked
    if code in (_BUSY, _LOCKED):
        return _locked(path, lock_timeout)
    found = machine_fault(path, exc, _SYMPTOMS.get(code or 0))
    if found is not None:
        return found
    if code in (_NOTADB, _CORRUPT):
        return StoreError(
            f"{path} is not a usable SQLite database ({exc}): move it aside (jarvisctl starts a "
            "new one) or restore it from a backup"
        )
    return StoreError(f"cannot use {path}: {exc}")


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
