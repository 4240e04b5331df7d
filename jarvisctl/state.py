"""The state store: SQLite in the state directory, shared by runs, the daemon and CI.

Each host's update is one `BEGIN IMMEDIATE` transaction (read, compute, write), so two processes
running checks on the same host at once serialize instead of losing an update; WAL lets readers
proceed meanwhile. Every call opens its own short-lived connection, so threads share nothing.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path

from jarvisctl.errors import JarvisError
from jarvisctl.results import Status
from jarvisctl.statuses import CheckState

SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 30_000

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
"""


class StateError(JarvisError):
    """The state database cannot be opened or is not ours."""


CheckKey = tuple[str, str]  # (play, check)
Update = Callable[[dict[CheckKey, CheckState]], dict[CheckKey, CheckState]]


class StateStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StateError(
                    f"{path}: state schema version {version} is newer than this jarvisctl "
                    f"understands ({SCHEMA_VERSION}); upgrade jarvisctl"
                )
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            connection = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None
            )
        except sqlite3.Error as exc:
            raise StateError(f"cannot open the state database {self.path}: {exc}") from None
        with closing(connection):
            connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            yield connection

    def update_host(
        self, host: str, keys: Sequence[CheckKey], update: Update
    ) -> dict[CheckKey, CheckState]:
        """Read the host's states for `keys`, let `update` compute the new ones, write them,
        all in one transaction."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                current = self._read(db, host, keys)
                new = update(current)
                self._write(db, host, new)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return new

    def read_host(self, host: str) -> dict[CheckKey, CheckState]:
        with self._connect() as db:
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
