"""Rollouts in SQLite: a row per rollout (rollouts), per host (rollout_hosts, numbered in plan
order) and per step a host started (rollout_steps), and the rollouts' leases (rollout_lease).

Every write is one `BEGIN IMMEDIATE` transaction, committed before the call returns: two
controllers writing at once serialize on SQLite's lock (each waits up to the store's lock
timeout) instead of losing an update. Durability against a killed controller: the state file is
in WAL mode with `synchronous=NORMAL` (database.py); a COMMIT has written its frames to the
-wal file with write(2) before it returns, so a process killed at any moment afterwards (SIGKILL
included) leaves the transaction in the operating system's cache, and the next opener recovers
it from the WAL. Only a power cut or a kernel crash can lose the last commits (NORMAL does not
fsync each one), which SQLite documents as the price of WAL with NORMAL.

A reader of a store older than version 5 (a reader never migrates) finds no rollout.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from jarvisctl.store.rollouts import (
    ENDED,
    HostState,
    Rollout,
    RolloutActiveError,
    RolloutHost,
    RolloutState,
    StepRecord,
    StepState,
    UnknownRolloutError,
)
from jarvisctl.store.sqlite.leases import SqliteLeases
from jarvisctl.store.sqlite.statefile import StateFile

_COLUMNS = (
    "id, play, playbook, inventory, lim, plan_digest, batches, started_at, updated_at, state, "
    "batch, reason, run_id, tags"
)
_HOST_COLUMNS = (
    "rollout, host, batch, state, reason, phase, step, deferred_until, attempts, updated_at, failed"
)
_STEP_COLUMNS = (
    "rollout, host, phase, step_index, name, state, outcome, started_at, finished_at, starts"
)
_NEWEST = "ORDER BY started_at DESC, id DESC"
_SHOWN = 5  # ids named when a prefix is ambiguous


class SqliteRollouts:
    def __init__(self, file: StateFile) -> None:
        self.file = file
        self.leases = SqliteLeases(file, "rollout_lease")

    def create(self, rollout: Rollout, hosts: Sequence[RolloutHost]) -> None:
        # BEGIN IMMEDIATE: a second controller's create waits here, then sees this one's row
        with self.file.transaction() as db:
            active = _active(db, rollout.play)
            if active is not None:
                raise RolloutActiveError(active)
            db.execute(
                f"INSERT INTO rollouts ({_COLUMNS}) VALUES ({', '.join('?' * 14)})",
                _rollout_row(rollout),
            )
            db.executemany(
                f"INSERT INTO rollout_hosts (seq, {_HOST_COLUMNS}) VALUES ({', '.join('?' * 12)})",
                [(seq, *_host_row(rollout.id, h)) for seq, h in enumerate(hosts)],
            )

    def get(self, rollout_id: str) -> Rollout:
        if not rollout_id:
            raise UnknownRolloutError("no rollout id given (an id, a unique start of one, or last)")
        with self.file.connect() as db:
            if not _has_tables(db):
                rows: list[Sequence[object]] = []
            elif rollout_id == "last":
                columns = _read_columns(db)
                rows = db.execute(f"SELECT {columns} FROM rollouts {_NEWEST} LIMIT 1").fetchall()
            else:
                rows = db.execute(
                    f"SELECT {_read_columns(db)} FROM rollouts WHERE id LIKE ? ESCAPE '\\' "
                    f"{_NEWEST}",
                    (_like_prefix(rollout_id),),
                ).fetchall()
        if rollout_id == "last":
            if not rows:
                raise UnknownRolloutError("no rollout recorded yet, so none is `last`")
            return _rollout(rows[0])
        return _rollout(_one(rollout_id, rows))

    def recent(self, limit: int = 50) -> list[Rollout]:
        with self.file.connect() as db:
            if not _has_tables(db):
                return []
            rows = db.execute(
                f"SELECT {_read_columns(db)} FROM rollouts {_NEWEST} LIMIT ?", (int(limit),)
            ).fetchall()
        return [_rollout(row) for row in rows]

    def active(self, play: str) -> Rollout | None:
        with self.file.connect() as db:
            return _active(db, play) if _has_tables(db) else None

    def update(
        self,
        rollout_id: str,
        *,
        state: RolloutState | None = None,
        batch: int | None = None,
        reason: str | None = None,
        run_id: str | None = None,
        at: float,
    ) -> Rollout:
        given = {
            "state": None if state is None else RolloutState(state).value,
            "batch": batch,
            "reason": reason,
            "run_id": run_id,
        }
        changes = {column: value for column, value in given.items() if value is not None}
        sets = ", ".join(f"{column} = ?" for column in [*changes, "updated_at"])
        with self.file.transaction() as db:
            cursor = db.execute(
                f"UPDATE rollouts SET {sets} WHERE id = ?", (*changes.values(), at, rollout_id)
            )
            if cursor.rowcount == 0:
                raise _unknown(rollout_id)
            row = db.execute(
                f"SELECT {_read_columns(db)} FROM rollouts WHERE id = ?", (rollout_id,)
            )
            return _rollout(row.fetchone())

    def hosts(self, rollout_id: str) -> list[RolloutHost]:
        with self.file.connect() as db:
            if not _has_tables(db):
                return []
            rows = db.execute(
                f"SELECT {_HOST_COLUMNS} FROM rollout_hosts WHERE rollout = ? ORDER BY batch, seq",
                (rollout_id,),
            ).fetchall()
        return [_host(row) for row in rows]

    def set_host(
        self,
        rollout_id: str,
        host: str,
        state: HostState,
        *,
        at: float,
        reason: str = "",
        phase: str = "",
        step: int | None = None,
        deferred_until: float | None = None,
        started: bool = False,
        failed: bool = False,
    ) -> RolloutHost:
        with self.file.transaction() as db:
            cursor = db.execute(
                "UPDATE rollout_hosts SET state = ?, reason = ?, phase = ?, step = ?, "
                "deferred_until = ?, attempts = attempts + ?, updated_at = ?, failed = ? "
                "WHERE rollout = ? AND host = ?",
                (
                    HostState(state).value,
                    reason,
                    phase,
                    step,
                    deferred_until,
                    int(started),
                    at,
                    int(failed),
                    rollout_id,
                    host,
                ),
            )
            if cursor.rowcount == 0:
                raise _unknown_host(db, rollout_id, host)
            db.execute("UPDATE rollouts SET updated_at = ? WHERE id = ?", (at, rollout_id))
            row = db.execute(
                f"SELECT {_HOST_COLUMNS} FROM rollout_hosts WHERE rollout = ? AND host = ?",
                (rollout_id, host),
            ).fetchone()
        return _host(row)

    def step_started(
        self, rollout_id: str, host: str, phase: str, index: int, name: str, at: float
    ) -> None:
        with self.file.transaction() as db:
            _known_host(db, rollout_id, host)
            # a step started again keeps its row (and its place in the order of first starts)
            db.execute(
                f"INSERT INTO rollout_steps ({_STEP_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, '', ?, NULL, 1) "
                "ON CONFLICT (rollout, host, phase, step_index) DO UPDATE SET "
                "name = excluded.name, state = excluded.state, outcome = '', "
                "started_at = excluded.started_at, finished_at = NULL, starts = starts + 1",
                (rollout_id, host, phase, index, name, StepState.STARTED.value, at),
            )
            db.execute("UPDATE rollouts SET updated_at = ? WHERE id = ?", (at, rollout_id))

    def step_finished(
        self,
        rollout_id: str,
        host: str,
        phase: str,
        index: int,
        state: StepState,
        outcome: str,
        at: float,
    ) -> None:
        if StepState(state) is StepState.STARTED:
            raise ValueError("a step finishes done or failed, not started")
        with self.file.transaction() as db:
            cursor = db.execute(
                "UPDATE rollout_steps SET state = ?, outcome = ?, finished_at = ? "
                "WHERE rollout = ? AND host = ? AND phase = ? AND step_index = ?",
                (StepState(state).value, outcome, at, rollout_id, host, phase, index),
            )
            if cursor.rowcount == 0:
                _known_host(db, rollout_id, host)
                raise ValueError(
                    f"rollout {rollout_id}: {host}'s {phase} step {index} finished without "
                    "having started (step_started is written before a step runs)"
                )
            db.execute("UPDATE rollouts SET updated_at = ? WHERE id = ?", (at, rollout_id))

    def steps(self, rollout_id: str, host: str | None = None) -> list[StepRecord]:
        where, args = "rollout = ?", [rollout_id]
        if host is not None:
            where, args = where + " AND host = ?", [*args, host]
        with self.file.connect() as db:
            if not _has_tables(db):
                return []
            rows = db.execute(
                f"SELECT {_STEP_COLUMNS} FROM rollout_steps WHERE {where} ORDER BY rowid", args
            ).fetchall()
        return [_step(row) for row in rows]


def _active(db: sqlite3.Connection, play: str) -> Rollout | None:
    """The play's most recent rollout that has not ended, if any."""
    ended = [s.value for s in ENDED]
    row = db.execute(
        f"SELECT {_read_columns(db)} FROM rollouts WHERE play = ? AND state NOT IN "
        f"({', '.join('?' * len(ended))}) {_NEWEST} LIMIT 1",
        (play, *ended),
    ).fetchone()
    return None if row is None else _rollout(row)


def _has_tables(db: sqlite3.Connection) -> bool:
    """False only on a store before version 5 opened by a reader (writers migrate it)."""
    found = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'rollouts'"
    ).fetchone()
    return found is not None


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _one(wanted: str, rows: list[Sequence[object]]) -> Sequence[object]:
    # LIKE ignores ASCII case; an id is matched as written
    rows = [r for r in rows if str(r[0]).startswith(wanted)]
    exact = [r for r in rows if r[0] == wanted]
    if exact or len(rows) == 1:
        return (exact or rows)[0]
    if not rows:
        raise _unknown(wanted)
    shown = ", ".join(str(r[0]) for r in rows[:_SHOWN])
    more = f" and {len(rows) - _SHOWN} more" if len(rows) > _SHOWN else ""
    raise UnknownRolloutError(
        f"{wanted!r} is the start of {len(rows)} rollout ids ({shown}{more}): give more of the id"
    )


def _unknown(rollout_id: str) -> UnknownRolloutError:
    return UnknownRolloutError(
        f"no rollout {rollout_id!r} in the store (`jarvisctl rollout list` lists them; "
        "`last` is the most recent)"
    )


def _known_host(db: sqlite3.Connection, rollout_id: str, host: str) -> None:
    found = db.execute(
        "SELECT 1 FROM rollout_hosts WHERE rollout = ? AND host = ?", (rollout_id, host)
    ).fetchone()
    if found is None:
        raise _unknown_host(db, rollout_id, host)


def _unknown_host(db: sqlite3.Connection, rollout_id: str, host: str) -> UnknownRolloutError:
    if db.execute("SELECT 1 FROM rollouts WHERE id = ?", (rollout_id,)).fetchone() is None:
        return _unknown(rollout_id)
    return UnknownRolloutError(f"rollout {rollout_id} has no host {host!r}")


def _read_columns(db: sqlite3.Connection) -> str:
    """The columns a reader selects: a store a reader finds at version 5 or 6 (readers never
    migrate) has no `tags` yet, and reads as started without --tags."""
    names = {str(row[1]) for row in db.execute("PRAGMA table_info(rollouts)")}
    return _COLUMNS if "tags" in names else _COLUMNS.replace(", tags", ", '[]'")


def _rollout_row(r: Rollout) -> tuple[object, ...]:
    return (
        r.id,
        r.play,
        r.playbook,
        json.dumps(list(r.inventory)),
        r.limit,
        r.plan_digest,
        json.dumps([list(batch) for batch in r.batches]),
        r.started_at,
        r.updated_at,
        RolloutState(r.state).value,
        r.batch,
        r.reason,
        r.run_id,
        json.dumps(list(r.tags)),
    )


def _rollout(row: Sequence[object]) -> Rollout:
    return Rollout(
        id=str(row[0]),
        play=str(row[1]),
        playbook=str(row[2]),
        inventory=tuple(str(p) for p in json.loads(str(row[3]))),
        limit=None if row[4] is None else str(row[4]),
        plan_digest=str(row[5]),
        batches=tuple(tuple(str(h) for h in batch) for batch in json.loads(str(row[6]))),
        started_at=float(row[7]),  # type: ignore[arg-type]
        updated_at=float(row[8]),  # type: ignore[arg-type]
        state=RolloutState(str(row[9])),
        batch=int(row[10]),  # type: ignore[call-overload]
        reason=str(row[11]),
        run_id=str(row[12]),
        tags=tuple(str(t) for t in json.loads(str(row[13]))),
    )


def _host_row(rollout_id: str, h: RolloutHost) -> tuple[object, ...]:
    return (
        rollout_id,
        h.host,
        h.batch,
        HostState(h.state).value,
        h.reason,
        h.phase,
        h.step,
        h.deferred_until,
        h.attempts,
        h.updated_at,
        int(h.failed),
    )


def _host(row: Sequence[object]) -> RolloutHost:
    return RolloutHost(
        rollout=str(row[0]),
        host=str(row[1]),
        batch=int(row[2]),  # type: ignore[call-overload]
        state=HostState(str(row[3])),
        reason=str(row[4]),
        phase=str(row[5]),
        step=None if row[6] is None else int(row[6]),  # type: ignore[call-overload]
        deferred_until=None if row[7] is None else float(row[7]),  # type: ignore[arg-type]
        attempts=int(row[8]),  # type: ignore[call-overload]
        updated_at=float(row[9]),  # type: ignore[arg-type]
        failed=bool(row[10]),
    )


def _step(row: Sequence[object]) -> StepRecord:
    return StepRecord(
        rollout=str(row[0]),
        host=str(row[1]),
        phase=str(row[2]),
        index=int(row[3]),  # type: ignore[call-overload]
        name=str(row[4]),
        state=StepState(str(row[5])),
        outcome=str(row[6]),
        started_at=float(row[7]),  # type: ignore[arg-type]
        finished_at=None if row[8] is None else float(row[8]),  # type: ignore[arg-type]
        starts=int(row[9]),  # type: ignore[call-overload]
    )
