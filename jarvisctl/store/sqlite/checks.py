"""Check states in SQLite: one row per (host, play, check); a host's update is one
`BEGIN IMMEDIATE` transaction."""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Sequence

from jarvisctl.core.results import Status
from jarvisctl.store.checks import CheckKey, CheckState, Update
from jarvisctl.store.sqlite.statefile import StateFile


class SqliteCheckStates:
    def __init__(self, file: StateFile) -> None:
        self.file = file

    def update_host(
        self, host: str, keys: Sequence[CheckKey], update: Update
    ) -> dict[CheckKey, CheckState]:
        with self.file.transaction() as db:
            current = _read(db, host, keys)
            new = update(current)
            _write(db, host, new)
        return new

    def force(self, host: str, key: CheckKey, state: CheckState) -> None:
        with self.file.connect() as db:
            _write(db, host, {key: state})

    def read_host(self, host: str) -> dict[CheckKey, CheckState]:
        with self.file.connect() as db:
            rows = db.execute("SELECT * FROM check_state WHERE host = ?", (host,)).fetchall()
        return {(row[1], row[2]): _state(row) for row in rows}


def _read(
    db: sqlite3.Connection, host: str, keys: Sequence[CheckKey]
) -> dict[CheckKey, CheckState]:
    """One query per play (a host's checks are one play's, mostly), not one per check."""
    wanted = set(keys)
    found: dict[CheckKey, CheckState] = {}
    for play in dict.fromkeys(play for play, _ in keys):
        rows = db.execute(
            "SELECT * FROM check_state WHERE host = ? AND play = ?", (host, play)
        ).fetchall()
        for row in rows:
            key = (play, str(row[2]))
            if key in wanted:
                found[key] = _state(row)
    return found


def _write(db: sqlite3.Connection, host: str, states: dict[CheckKey, CheckState]) -> None:
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
                _history_text(s.history),
                int(s.flapping),
                s.value,
                s.since,
                s.updated,
            )
            for (play, check), s in states.items()
        ],
    )


# a status by its stored value (a dict lookup: Status(value) costs ten times more, and a host's
# checks keep a few hundred of them between them)
_STATUS: dict[object, Status] = {status.value: status for status in Status}


def _state(row: tuple[object, ...]) -> CheckState:
    _, _, _, status, pending, count, history, flapping, value, since, updated = row
    return CheckState(
        status=_STATUS[status],
        pending=_STATUS[pending] if pending else None,
        pending_count=int(count),  # type: ignore[call-overload]
        history=_history(str(history)),
        flapping=bool(flapping),
        value=None if value is None else float(value),  # type: ignore[arg-type]
        since=float(since),  # type: ignore[arg-type]
        updated=float(updated),  # type: ignore[arg-type]
    )


# A check's history is 21 statuses, and a fleet's checks share few of them (all OK, mostly):
# each is encoded and decoded once, not once per check per cycle (6 µs a check).
@functools.lru_cache(maxsize=4096)
def _history_text(history: tuple[Status, ...]) -> str:
    return json.dumps([h.value for h in history])


@functools.lru_cache(maxsize=4096)
def _history(text: str) -> tuple[Status, ...]:
    return tuple(_STATUS[h] for h in json.loads(text))
