"""Leases in SQLite: one row per leased key, in `host_lease` (hosts, keyed by `host`) or
`rollout_lease` (rollouts, keyed by `rollout`: the controller working on one); a claim is one
`BEGIN IMMEDIATE` transaction, so two runs racing for a key cannot both win.

A reader of a store older than the table (a reader never migrates) finds no lease."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

from jarvisctl.store.leases import Claim, Holder, Lease
from jarvisctl.store.sqlite.statefile import StateFile

# table -> its key column; the table names are this module's, never an argument's
TABLES = {"host_lease": "host", "rollout_lease": "rollout"}


class SqliteLeases:
    def __init__(self, file: StateFile, table: str = "host_lease") -> None:
        self.file = file
        self.table, self.key = table, TABLES[table]

    def claim(
        self,
        hosts: Sequence[str],
        holder: Holder,
        now: float,
        expires: float,
        abandoned: Callable[[Lease], bool],
    ) -> Claim:
        granted: list[str] = []
        refused: dict[str, Lease] = {}
        taken: dict[str, Lease] = {}
        with self.file.transaction() as db:
            for host in sorted(set(hosts)):
                row = db.execute(
                    f"SELECT * FROM {self.table} WHERE {self.key} = ?", (host,)
                ).fetchone()
                current = None if row is None else _lease(row)
                if current is not None and current.holder.owner != holder.owner:
                    if not abandoned(current):
                        refused[host] = current
                        continue
                    taken[host] = current
                db.execute(
                    f"INSERT OR REPLACE INTO {self.table} VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (host, *_holder_row(holder), now, expires),
                )
                granted.append(host)
        return Claim(tuple(granted), refused, taken)

    def renew(self, hosts: Sequence[str], owner: str, expires: float) -> int:
        with self.file.connect() as db:
            cursor = db.executemany(
                f"UPDATE {self.table} SET expires = ? WHERE {self.key} = ? AND owner = ?",
                [(expires, host, owner) for host in hosts],
            )
            return int(cursor.rowcount)

    def release(self, hosts: Sequence[str], owner: str) -> None:
        with self.file.connect() as db:
            db.executemany(
                f"DELETE FROM {self.table} WHERE {self.key} = ? AND owner = ?",
                [(host, owner) for host in hosts],
            )

    def all(self) -> list[Lease]:
        with self.file.connect() as db:
            if not _has_table(db, self.table):
                return []
            rows = db.execute(f"SELECT * FROM {self.table} ORDER BY {self.key}").fetchall()
        return [_lease(row) for row in rows]


def _has_table(db: sqlite3.Connection, table: str) -> bool:
    found = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).fetchone()
    return found is not None


def _holder_row(holder: Holder) -> tuple[str, int, str, str]:
    return (holder.owner, holder.pid, holder.controller, holder.source)


def _lease(row: tuple[object, ...]) -> Lease:
    host, owner, pid, controller, source, acquired, expires = row
    holder = Holder(str(owner), str(source), int(str(pid)), str(controller))
    return Lease(str(host), holder, float(str(acquired)), float(str(expires)))
