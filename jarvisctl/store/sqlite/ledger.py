"""The remediation ledger in SQLite: a row per attempt, a row per escalated check."""

from __future__ import annotations

from jarvisctl.store.ledger import Escalation, Ledger
from jarvisctl.store.sqlite.statefile import StateFile


class SqliteLedger:
    def __init__(self, file: StateFile) -> None:
        self.file = file

    def read(self, host: str, play: str, check: str) -> Ledger:
        key = (host, play, check)
        with self.file.connect() as db:
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
        with self.file.connect() as db:
            db.execute(
                "INSERT INTO remediation_attempt VALUES (?, ?, ?, ?, ?, ?)",
                (host, play, check, rung, at, outcome),
            )

    def escalate(self, host: str, play: str, check: str, at: float, reason: str) -> None:
        with self.file.connect() as db:
            db.execute(
                "INSERT OR IGNORE INTO escalation VALUES (?, ?, ?, ?, ?)",
                (host, play, check, at, reason),
            )

    def recovered(self, host: str, play: str, check: str, *, verified: bool) -> None:
        key = (host, play, check)
        with self.file.transaction() as db:
            db.execute("DELETE FROM escalation WHERE host = ? AND play = ? AND check_name = ?", key)
            if verified:
                db.execute(
                    "DELETE FROM remediation_attempt WHERE host = ? AND play = ? "
                    "AND check_name = ?",
                    key,
                )

    def reset(self, host: str, check: str | None = None) -> int:
        where, args = (
            ("host = ?", (host,))
            if check is None
            else ("host = ? AND check_name = ?", (host, check))
        )
        with self.file.transaction() as db:
            removed = db.execute(f"DELETE FROM escalation WHERE {where}", args).rowcount
            removed += db.execute(f"DELETE FROM remediation_attempt WHERE {where}", args).rowcount
        return int(removed)

    def escalations(self, host: str | None = None) -> list[Escalation]:
        with self.file.connect() as db:
            query = "SELECT host, play, check_name, since, reason FROM escalation"
            rows = db.execute(
                query + (" WHERE host = ?" if host else ""), (host,) if host else ()
            ).fetchall()
        return [Escalation(str(a), str(b), str(c), float(d), str(e)) for a, b, c, d, e in rows]
