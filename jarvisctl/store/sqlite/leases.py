"""Host leases in SQLite: one row per leased host; a claim is one `BEGIN IMMEDIATE`
transaction, so two runs racing for a host cannot both win."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from jarvisctl.store.leases import Claim, Holder, Lease
from jarvisctl.store.sqlite.statefile import StateFile


class SqliteLeases:
    def __init__(self, file: StateFile) -> None:
        self.file = file

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
                row = db.execute("SELECT * FROM host_lease WHERE host = ?", (host,)).fetchone()
                current = None if row is None else _lease(row)
                if current is not None and current.holder.owner != holder.owner:
                    if not abandoned(current):
                        refused[host] = current
                        continue
                    taken[host] = current
                db.execute(
                    "INSERT OR REPLACE INTO host_lease VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (host, *_holder_row(holder), now, expires),
                )
                granted.append(host)
        return Claim(tuple(granted), refused, taken)

    def renew(self, hosts: Sequence[str], owner: str, expires: float) -> int:
        with self.file.connect() as db:
            cursor = db.executemany(
                "UPDATE host_lease SET expires = ? WHERE host = ? AND owner = ?",
                [(expires, host, owner) for host in hosts],
            )
            return int(cursor.rowcount)

    def release(self, hosts: Sequence[str], owner: str) -> None:
        with self.file.connect() as db:
            db.executemany(
                "DELETE FROM host_lease WHERE host = ? AND owner = ?",
                [(host, owner) for host in hosts],
            )

    def all(self) -> list[Lease]:
        with self.file.connect() as db:
            rows = db.execute("SELECT * FROM host_lease ORDER BY host").fetchall()
        return [_lease(row) for row in rows]


def _holder_row(holder: Holder) -> tuple[str, int, str, str]:
    return (holder.owner, holder.pid, holder.controller, holder.source)


def _lease(row: tuple[object, ...]) -> Lease:
    host, owner, pid, controller, source, acquired, expires = row
    holder = Holder(str(owner), str(source), int(str(pid)), str(controller))
    return Lease(str(host), holder, float(str(acquired)), float(str(expires)))
