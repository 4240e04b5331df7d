"""The state store: SQLite in the state directory, shared by runs, the daemon and CI.

Each host's update is one `BEGIN IMMEDIATE` transaction (read, compute, write), so two processes
running checks on the same host at once serialize instead of losing an update; WAL lets readers
proceed meanwhile. Within a process, every store on one file shares one connection (statedb.py).
Commits are `synchronous=NORMAL`, as SQLite recommends with WAL: a crash never corrupts the
database or loses a committed transaction, only a power cut can lose the last few.

Every SQLite error met inside `connect()` leaves as a StoreError that names the path and what to
do (full, read-only, locked and by whom, ...: store_faults.py), and is told to `on_fault`, so that
a run learns that it can no longer record. A store opened `readonly` never writes.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from jarvisctl.core.errors import StoreError
from jarvisctl.core.results import Status
from jarvisctl.engine.statuses import CheckState
from jarvisctl.store.faults import check_state_dir, store_fault
from jarvisctl.store.statedb import shared_database

SCHEMA_VERSION = 2  # 2: run_index and run_host (additive)
LOCK_TIMEOUT = 30.0  # seconds a writer waits for another's lock (timeouts.state_lock)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS check_state (
    host TEXT NOT NULL,
    play TEXT NOT NULL,
    check_name TEXT NOT NULL,
    status TEXT NOT NULL,
    pending TEXT,
    pending_count INTEGER NOT NULL DEFAULT 0,
    history TEXT NOT NULL DEFAULT '[]',
    flapping INTEGER NOT NULL DEFAULT 0,
    value REAL,
    since REAL NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (host, play, check_name)
);
CREATE TABLE IF NOT EXISTS remediation_attempt (
    host TEXT NOT NULL,
    play TEXT NOT NULL,
    check_name TEXT NOT NULL,
    rung TEXT NOT NULL,
    at REAL NOT NULL,
    outcome TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS remediation_attempt_key
    ON remediation_attempt (host, play, check_name, rung);
CREATE TABLE IF NOT EXISTS escalation (
    host TEXT NOT NULL,
    play TEXT NOT NULL,
    check_name TEXT NOT NULL,
    since REAL NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (host, play, check_name)
);
CREATE TABLE IF NOT EXISTS run_index (
    run_id TEXT PRIMARY KEY,
    started REAL NOT NULL,
    finished REAL,
    status TEXT NOT NULL,
    mode TEXT NOT NULL,
    source TEXT NOT NULL,
    user TEXT NOT NULL,
    controller TEXT NOT NULL,
    pid INTEGER NOT NULL,
    playbooks TEXT NOT NULL DEFAULT '[]',
    counts TEXT NOT NULL DEFAULT '{}',
    records INTEGER,
    last_hash TEXT
);
CREATE INDEX IF NOT EXISTS run_index_started ON run_index (started);
CREATE TABLE IF NOT EXISTS run_host (
    run_id TEXT NOT NULL,
    host TEXT NOT NULL,
    PRIMARY KEY (run_id, host)
);
CREATE INDEX IF NOT EXISTS run_host_host ON run_host (host);
"""


class StateError(StoreError):
    """The state database cannot be opened or is not ours."""


CheckKey = tuple[str, str]  # (play, check)
Update = Callable[[dict[CheckKey, CheckState]], dict[CheckKey, CheckState]]


class StateStore:
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
        self._db = shared_database(path, readonly, _SCHEMA)
        with self.connect() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StateError(
                    f"{path}: state schema version {version} is newer than this jarvisctl "
                    f"understands ({SCHEMA_VERSION}); upgrade jarvisctl"
                )
            if readonly and version < SCHEMA_VERSION and version != 0:
                raise StateError(
                    f"{path}: state schema version {version} is older than this jarvisctl's "
                    f"({SCHEMA_VERSION}) and a reader does not upgrade it: run `jarvisctl run` "
                    "once with the state directory writable"
                )
            if not self._db.initialized:
                self._migrate(db, version)

    def _migrate(self, db: sqlite3.Connection, version: int) -> None:
        """Writes only when something is missing: opening an up-to-date store writes nothing,
        so that a store another process holds locked is not waited for until a real write."""
        if str(db.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
            db.execute("PRAGMA journal_mode=WAL")
        if version < SCHEMA_VERSION:
            db.executescript(
                f"BEGIN IMMEDIATE; {_SCHEMA}; PRAGMA user_version={SCHEMA_VERSION}; COMMIT;"
            )
        self._db.initialized = True

    @property
    def _lock(self) -> threading.RLock:
        return self._db.lock

    def _fault(self, exc: BaseException) -> StoreError:
        error = store_fault(self.path, exc, lock_timeout=self.lock_timeout)
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

    def update_host(
        self, host: str, keys: Sequence[CheckKey], update: Update
    ) -> dict[CheckKey, CheckState]:
        """Read the host's states for `keys`, let `update` compute the new ones, write them,
        all in one transaction."""
        with self.transaction() as db:
            current = self._read(db, host, keys)
            new = update(current)
            self._write(db, host, new)
        return new

    def force(self, host: str, key: CheckKey, state: CheckState) -> None:
        """Set one check's state (after a verified remediation: the check is OK now)."""
        with self.connect() as db:
            self._write(db, host, {key: state})

    def read_host(self, host: str) -> dict[CheckKey, CheckState]:
        with self.connect() as db:
            rows = db.execute("SELECT * FROM check_state WHERE host = ?", (host,)).fetchall()
        return {(row[1], row[2]): _state(row) for row in rows}

    def _read(
        self, db: sqlite3.Connection, host: str, keys: Sequence[CheckKey]
    ) -> dict[CheckKey, CheckState]:
        found: dict[CheckKey, CheckState] = {}
        for play, check in keys:
            row = db.execute(
                "SELECT * FROM check_state WHERE host = ? AND play = ? AND check_name = ?",
                (host, play, check),
            ).fetchone()
            if row is not None:
                found[(play, check)] = _state(row)
        return found

    def _write(self, db: sqlite3.Connection, host: str, states: dict[CheckKey, CheckState]) -> None:
        db.executemany(
            "INSERT OR REPLACE INTO check_state VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    host,
                    play,
                    check,
                    s.status.value,
                    s.pending.value if s.pending else None,
                    s.pending_count,
                    json.dumps([h.value for h in s.history]),
                    int(s.flapping),
                    s.value,
                    s.since,
                    s.updated,
                )
                for (play, check), s in states.items()
            ],
        )


@dataclass(frozen=True)
class Ledger:
    """One check's remediation history on one host."""

    attempts: Mapping[str, tuple[float, ...]]  # rung -> attempt times, oldest first
    escalated_since: float | None = None
    escalated_reason: str = ""

    def attempts_since(self, rung: str, since: float) -> int:
        return sum(1 for t in self.attempts.get(rung, ()) if t > since)

    def last_attempt(self) -> float | None:
        times = [t for ts in self.attempts.values() for t in ts]
        return max(times) if times else None


class RemediationLedger:
    """Attempts, counters and escalations, in the same database as the check states."""

    def __init__(self, store: StateStore) -> None:
        self.store = store

    def read(self, host: str, play: str, check: str) -> Ledger:
        key = (host, play, check)
        with self.store.connect() as db:
            rows = db.execute(
                "SELECT rung, at FROM remediation_attempt WHERE host = ? AND play = ? "
                "AND check_name = ? ORDER BY at",
                key,
            ).fetchall()
            escalated = db.execute(
                "SELECT since, reason FROM escalation WHERE host = ? AND play = ? "
                "AND check_name = ?",
                key,
            ).fetchone()
        attempts: dict[str, tuple[float, ...]] = {}
        for rung, at in rows:
            attempts[rung] = (*attempts.get(rung, ()), float(at))
        if escalated is None:
            return Ledger(attempts)
        return Ledger(attempts, float(escalated[0]), str(escalated[1]))

    def record(self, host: str, play: str, check: str, rung: str, at: float, outcome: str) -> None:
        with self.store.connect() as db:
            db.execute(
                "INSERT INTO remediation_attempt VALUES (?, ?, ?, ?, ?, ?)",
                (host, play, check, rung, at, outcome),
            )

    def escalate(self, host: str, play: str, check: str, at: float, reason: str) -> None:
        with self.store.connect() as db:
            db.execute(
                "INSERT OR IGNORE INTO escalation VALUES (?, ?, ?, ?, ?)",
                (host, play, check, at, reason),
            )

    def recovered(self, host: str, play: str, check: str, *, verified: bool) -> None:
        """The check is OK again: the escalation ends; a verified fix also resets the counters."""
        key = (host, play, check)
        with self.store.transaction() as db:
            db.execute("DELETE FROM escalation WHERE host = ? AND play = ? AND check_name = ?", key)
            if verified:
                db.execute(
                    "DELETE FROM remediation_attempt WHERE host = ? AND play = ? "
                    "AND check_name = ?",
                    key,
                )

    def reset(self, host: str, check: str | None = None) -> int:
        """An operator's reset: counters and escalations of a host (or one of its checks)."""
        where, args = (
            ("host = ?", (host,))
            if check is None
            else ("host = ? AND check_name = ?", (host, check))
        )
        with self.store.transaction() as db:
            removed = db.execute(f"DELETE FROM escalation WHERE {where}", args).rowcount
            removed += db.execute(f"DELETE FROM remediation_attempt WHERE {where}", args).rowcount
        return int(removed)

    def escalations(self, host: str | None = None) -> list[tuple[str, str, str, float, str]]:
        with self.store.connect() as db:
            query = "SELECT host, play, check_name, since, reason FROM escalation"
            rows = db.execute(
                query + (" WHERE host = ?" if host else ""), (host,) if host else ()
            ).fetchall()
        return [(str(a), str(b), str(c), float(d), str(e)) for a, b, c, d, e in rows]


def _roll_back(connection: sqlite3.Connection) -> None:
    """End an open transaction; after a failed COMMIT, SQLite may already have ended it."""
    if connection.in_transaction:
        # the transaction is gone either way; the error that got here is what matters
        with contextlib.suppress(sqlite3.Error):
            connection.rollback()


def _state(row: tuple[object, ...]) -> CheckState:
    _, _, _, status, pending, count, history, flapping, value, since, updated = row
    return CheckState(
        status=Status(status),
        pending=Status(pending) if pending else None,
        pending_count=int(count),  # type: ignore[call-overload]
        history=tuple(Status(h) for h in json.loads(str(history))),
        flapping=bool(flapping),
        value=None if value is None else float(value),  # type: ignore[arg-type]
        since=float(since),  # type: ignore[arg-type]
        updated=float(updated),  # type: ignore[arg-type]
    )
