"""This process's connections to the state files, shared per file and reopened after a fork.

Within a process, every store on one file shares one connection and one lock: threads queue on
the lock instead of meeting in SQLite's busy handler, which sleeps (up to 100 ms at a time)
between retries, and no call pays for opening the file, reading its schema and (the last
connection's) checkpoint on close: an update is 0.1 ms instead of 1.

A reader (`runs`, `report`, `audit verify`) opens the file read-only and never creates, migrates
or writes anything, so that it works on a full or read-only state directory: `mode=ro` first; when
SQLite cannot set up the WAL's shared-memory file beside the database (the directory is read-only
or the disk is full, so the -shm file cannot be created or grown), the file is opened `immutable`,
which needs neither the -shm nor the -wal. A state file that does not exist reads as empty.

The connections are closed at the interpreter's exit (`close_databases`), not left to the
collector (the CLI freezes its objects before it exits, cli/main.py): the last connection's
close checkpoints the WAL into the file and removes the -wal and -shm files, so that a
read-only state directory can be read afterwards.
"""

from __future__ import annotations

import atexit
import os
import sqlite3
import threading
import urllib.parse
from collections import OrderedDict
from pathlib import Path

OPEN_FILES = 8  # shared connections kept open at once (tests make many state files)
_UNOPENABLE = (8, 10, 14)  # SQLITE_READONLY, SQLITE_IOERR, SQLITE_CANTOPEN (primary codes)
_ANY_TABLE = "SELECT 1 FROM sqlite_master LIMIT 1"


class Database:
    """This process's connection to one state file and the lock its users take turns on."""

    def __init__(self, path: Path, readonly: bool, schema: str) -> None:
        self.path = path
        self.readonly = readonly
        self.schema = schema  # what an absent file reads as (readers only)
        self.lock = threading.RLock()
        self.initialized = False  # the schema is known to be in place
        self.depth = 0  # nesting of `StateStore.connect` in the thread holding the lock
        self.busy_timeout = 0.0
        self._connection: sqlite3.Connection | None = None
        self._identity: tuple[int, int, int] | None = None

    def connection(self, busy_timeout: float) -> sqlite3.Connection:
        """The open connection (call with the lock held); reopened in a forked child, or when
        the file was removed or replaced since."""
        if self._connection is None or _identity(self.path) != self._identity:
            self.close()
            opened = self._open_reader() if self.readonly else self._open_writer(busy_timeout)
            self._connection, self._identity = opened, _identity(self.path)
            self.initialized = self.readonly
            self.busy_timeout = busy_timeout
        if busy_timeout != self.busy_timeout:
            self._connection.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
            self.busy_timeout = busy_timeout
        return self._connection

    def _open_writer(self, busy_timeout: float) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        connection.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        connection.execute("PRAGMA synchronous=NORMAL")
        return connection

    def _open_reader(self) -> sqlite3.Connection:
        connection = self._open_file() if self.path.exists() else None
        if connection is not None and connection.execute(_ANY_TABLE).fetchone() is not None:
            return connection
        if connection is not None:  # an empty file: a first run that could not write
            connection.close()
        connection = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        connection.executescript(self.schema)
        return connection

    def _open_file(self) -> sqlite3.Connection:
        uri = "file:" + urllib.parse.quote(str(self.path.absolute()))
        try:
            return _first_read(uri + "?mode=ro")
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", 0) & 0xFF not in _UNOPENABLE:
                raise
        # Immutable ignores a -wal file: only what was checkpointed is read. A -wal with
        # content and no -shm (the case that gets here with content in it) is left by a writer
        # killed between the two files' removal, so at most its last transaction is missed.
        return _first_read(uri + "?immutable=1")

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        if self._identity is not None and self._identity[0] != os.getpid():
            _INHERITED.append(connection)  # a parent's: never touched (nor closed) after fork
        else:
            connection.close()


def _first_read(uri: str) -> sqlite3.Connection:
    """Open and read once: SQLite sets up the -shm file (or fails to) on the first read."""
    connection = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    try:
        connection.execute("PRAGMA user_version").fetchone()
    except sqlite3.Error:
        connection.close()
        raise
    return connection


def _identity(path: Path) -> tuple[int, int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return (os.getpid(), info.st_dev, info.st_ino)


_DATABASES: OrderedDict[tuple[Path, bool], Database] = OrderedDict()
_DATABASES_GUARD = threading.Lock()
_INHERITED: list[sqlite3.Connection] = []


def shared_database(path: Path, readonly: bool, schema: str) -> Database:
    """The shared database of `path` (one per file, however named, and per mode); the least
    recently used beyond OPEN_FILES is closed (its stores reopen it if used again)."""
    key = (path.resolve(), readonly)
    with _DATABASES_GUARD:
        database = _DATABASES.pop(key, None) or Database(path, readonly, schema)
        _DATABASES[key] = database
        evicted = _DATABASES.popitem(last=False)[1] if len(_DATABASES) > OPEN_FILES else None
    if evicted is not None and evicted.lock.acquire(blocking=False):
        try:
            if evicted.depth == 0:  # not in use by this thread either
                evicted.close()
        finally:
            evicted.lock.release()
    return database


def close_databases() -> None:
    """Close this process's shared connections that no thread is using (at exit)."""
    with _DATABASES_GUARD:
        databases = list(_DATABASES.values())
    for database in databases:
        if not database.lock.acquire(timeout=1.0):  # a daemon thread stuck inside: leave it
            continue
        try:
            if database.depth == 0:
                database.close()
        finally:
            database.lock.release()


atexit.register(close_databases)
