"""The run index in SQLite: a row per run (run_index) and per host it covered (run_host)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from jarvisctl.store.runs import RunEnd, RunEntry, RunStart
from jarvisctl.store.sqlite.statefile import StateFile

_COLUMNS = (
    "run_id, started, finished, status, mode, source, user, controller, pid, playbooks, counts, "
    "records, last_hash"
)


class SqliteRunIndex:
    def __init__(self, file: StateFile) -> None:
        self.file = file

    def start(self, run: RunStart) -> None:
        row = (
            run.run_id,
            run.started,
            run.mode,
            run.source,
            run.user,
            run.controller,
            run.pid,
            json.dumps(list(run.playbooks)),
        )
        with self.file.transaction() as db:
            db.execute(
                "INSERT INTO run_index (run_id, started, status, mode, source, user, controller, "
                "pid, playbooks) VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?)",
                row,
            )
            db.executemany(
                "INSERT OR IGNORE INTO run_host VALUES (?, ?)",
                [(run.run_id, h) for h in run.hosts],
            )

    def finish(self, run_id: str, end: RunEnd) -> None:
        with self.file.connect() as db:
            db.execute(
                "UPDATE run_index SET status = ?, finished = ?, counts = ?, records = ?, "
                "last_hash = ? WHERE run_id = ?",
                (
                    end.status,
                    end.finished,
                    json.dumps(dict(end.counts or {})),
                    end.records,
                    end.last_hash,
                    run_id,
                ),
            )

    def abandon(self, run_id: str, end: RunEnd) -> None:
        with self.file.connect() as db:
            db.execute(
                "UPDATE run_index SET status = ?, finished = ?, records = ?, last_hash = ? "
                "WHERE run_id = ? AND status = 'running'",
                (end.status, end.finished, end.records, end.last_hash, run_id),
            )

    def forget(self, run_id: str) -> None:
        with self.file.transaction() as db:
            db.execute("DELETE FROM run_host WHERE run_id = ?", (run_id,))
            db.execute("DELETE FROM run_index WHERE run_id = ?", (run_id,))

    def newest(
        self, *, host: str | None = None, since: float | None = None, limit: int | None = None
    ) -> list[RunEntry]:
        where, args = ["1 = 1"], list[object]()
        if host is not None:
            where.append("run_id IN (SELECT run_id FROM run_host WHERE host = ?)")
            args.append(host)
        if since is not None:
            where.append("started >= ?")
            args.append(since)
        query = (
            f"SELECT {_COLUMNS} FROM run_index WHERE {' AND '.join(where)} ORDER BY started DESC"
        )
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        with self.file.connect() as db:
            rows = db.execute(query, args).fetchall()
            return [_entry(db, row) for row in rows]

    def find(self, wanted: str) -> list[RunEntry]:
        with self.file.connect() as db:
            if wanted == "last":
                rows = db.execute(
                    f"SELECT {_COLUMNS} FROM run_index ORDER BY started DESC LIMIT 1"
                ).fetchall()
            else:
                pattern = wanted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                rows = db.execute(
                    f"SELECT {_COLUMNS} FROM run_index WHERE run_id LIKE ? ESCAPE '\\' "
                    "ORDER BY started DESC LIMIT 6",
                    (pattern + "%",),
                ).fetchall()
                exact = [r for r in rows if r[0] == wanted]
                rows = exact or rows
            return [_entry(db, row) for row in rows]

    def run_ids(self) -> frozenset[str]:
        with self.file.connect() as db:
            return frozenset(str(row[0]) for row in db.execute("SELECT run_id FROM run_index"))


def _entry(db: sqlite3.Connection, row: Sequence[object]) -> RunEntry:
    run_id = str(row[0])
    hosts = db.execute(
        "SELECT host FROM run_host WHERE run_id = ? ORDER BY host", (run_id,)
    ).fetchall()
    return RunEntry(
        run_id=run_id,
        started=float(row[1]),  # type: ignore[arg-type]
        finished=None if row[2] is None else float(row[2]),  # type: ignore[arg-type]
        status=str(row[3]),
        mode=str(row[4]),
        source=str(row[5]),
        user=str(row[6]),
        controller=str(row[7]),
        pid=int(row[8]),  # type: ignore[call-overload]
        playbooks=tuple(json.loads(str(row[9]))),
        hosts=tuple(str(h[0]) for h in hosts),
        counts=json.loads(str(row[10])),
        records=None if row[11] is None else int(row[11]),  # type: ignore[call-overload]
        last_hash=None if row[12] is None else str(row[12]),
    )
