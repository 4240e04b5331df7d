"""The state database's file: SQLite in the state directory, shared by runs, the daemon and CI.

Each host's update is one `BEGIN IMMEDIATE` transaction (read, compute, write), so two processes
running checks on the same host at once serialize instead of losing an update; WAL lets readers
proceed meanwhile. Within a process, every store on one file shares one connection (database.py).
Commits are `synchronous=NORMAL`, as SQLite recommends with WAL: a crash never corrupts the
database or loses a committed transaction, only a power cut can lose the last few.

Every SQLite error met inside `connect()` leaves as a StoreError that names the path and what to
do (full, read-only, locked and by whom, ...: faults.py), and is told to `on_fault`, so that
a run learns that it can no longer record. A file opened `readonly` is never written.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from jarvisctl.core.errors import StoreError
from jarvisctl.store.base import LOCK_TIMEOUT
from jarvisctl.store.faults import check_state_dir
from jarvisctl.store.sqlite import schema
from jarvisctl.store.sqlite.database import shared_database
from jarvisctl.store.sqlite.faults import sqlite_fault
from jarvisctl.store.sqlite.schema import StateError


class StateFile:
    def __init__(
        self,
        path: Path,
        *,
        readonly: bool = False,
        lock_timeout: float = LOCK_TIMEOUT,
        on_fault: Callable[[StoreError], None] | None = None,
    ) -> None:
        self.path = path
        self.readonly = readonly
        self.lock_timeout = lock_timeout
        self.on_fault = on_fault
        check_state_dir(path.parent)
        if not readonly:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise self._fault(exc) from None
        self._db = shared_database(path, readonly, schema.script(schema.STATE))
        with self.connect() as db:
            version = schema.version(db)
            schema.refuse_newer(path, version, schema.STATE)
            if readonly and version < schema.STATE_READABLE_FROM and version != 0:
                raise StateError(
                    f"{path}: state schema version {version} is older than this jarvisctl's "
                    f"({schema.latest(schema.STATE)}) and a reader does not upgrade it: run "
                    "`jarvisctl run` once with the state directory writable"
                )
            if not self._db.initialized:
                self._migrate(db)

    def _migrate(self, db: sqlite3.Connection) -> None:
        """Writes only when something is missing: opening an up-to-date store writes nothing,
        so that a store another process holds locked is not waited for until a real write."""
        if str(db.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
            db.execute("PRAGMA journal_mode=WAL")
        schema.migrate(self.path, db, schema.STATE)
        self._db.initialized = True

    @property
    def _lock(self) -> threading.RLock:
        return self._db.lock

    def _fault(self, exc: BaseException) -> StoreError:
        error = sqlite_fault(self.path, exc, lock_timeout=self.lock_timeout)
        if self.on_fault is not None:
            self.on_fault(error)
        return error

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """The process's connection to the file, held (with its lock) for the block.

        A transaction the block left open is rolled back when the outermost block ends. A
        SQLite error in the block leaves it as a StoreError.
        """
        with self._db.lock:
            try:
                connection = self._db.connection(self.lock_timeout)
            except sqlite3.Error as exc:
                raise self._fault(exc) from None
            self._db.depth += 1
            try:
                yield connection
            except sqlite3.Error as exc:
                raise self._fault(exc) from None
            finally:
                self._db.depth -= 1
                if self._db.depth == 0:
                    _roll_back(connection)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One `BEGIN IMMEDIATE` transaction, committed when the block ends, else rolled back."""
        with self.connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            finally:
                _roll_back(db)


def _roll_back(connection: sqlite3.Connection) -> None:
    """End an open transaction; after a failed COMMIT, SQLite may already have ended it."""
    if connection.in_transaction:
        # the transaction is gone either way; the error that got here is what matters
        with contextlib.suppress(sqlite3.Error):
            connection.rollback()
