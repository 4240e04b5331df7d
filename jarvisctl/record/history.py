"""Run history: an index of runs in the state store, written when a run starts and finishes.

A run killed before it finished stays 'running' in the index; once its process is gone it is
shown as 'incomplete' (its journal has no run_finished record).
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from jarvisctl.core.errors import EXIT_USAGE, JarvisError, StoreError
from jarvisctl.core.events import RUN_FINISHED, RUN_STARTED, Event
from jarvisctl.core.processes import pid_alive
from jarvisctl.core.results import RunStatus
from jarvisctl.core.results import run_status as status_of
from jarvisctl.record.audit import Journal
from jarvisctl.store.state import StateStore

FIRST_RECORD_BYTES = 1 << 20  # what is read of an unindexed journal: its run_started record
STATUSES = ("ok", "not_ok", "unreachable", "skipped", "interrupted", "running", "incomplete")
NOT_OK_COUNTS = ("warning", "critical", "unknown", "failed")


class UnknownRunError(JarvisError):
    """No run with that id (or prefix) in the run index."""

    exit_code = EXIT_USAGE  # the RUN_ID argument names no run


@dataclass(frozen=True)
class RunEntry:
    run_id: str
    started: float
    finished: float | None
    status: str  # as recorded: ok, not_ok, unreachable, skipped, interrupted, running
    mode: str
    source: str
    user: str
    controller: str
    pid: int
    playbooks: tuple[str, ...]
    hosts: tuple[str, ...]
    counts: Mapping[str, int] = field(default_factory=dict)
    records: int | None = None
    last_hash: str | None = None

    @property
    def shown_status(self) -> str:
        """'incomplete' for a run still marked running whose process is gone."""
        if self.status == "running" and not _alive(self.controller, self.pid):
            return "incomplete"
        return self.status

    @property
    def anchor(self) -> tuple[int, str] | None:
        """The sealed (records, last hash) of a finished run, for `audit verify`."""
        if self.records is None or self.last_hash is None:
            return None
        return self.records, self.last_hash


def _alive(controller: str, pid: int) -> bool:
    if controller != socket.gethostname():
        return True  # another controller's process: we cannot tell, so trust the index
    return pid_alive(pid)


def run_status(interrupted: bool, recap: Mapping[str, Mapping[str, int]]) -> str:
    """From a run's recap, as `jarvisctl run` decides its exit code (RunStatus's order)."""

    def some(*keys: str) -> bool:
        return any(c.get(k, 0) for c in recap.values() for k in keys)

    status: RunStatus = status_of(
        interrupted=interrupted or some("interrupted"),
        unreachable=some("unreachable"),
        skipped=some("skipped"),
        not_ok=some(*NOT_OK_COUNTS),
    )
    return status.value


def totals(recap: Mapping[str, Mapping[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for counts in recap.values():
        for key, n in counts.items():
            out[key] = out.get(key, 0) + int(n)
    return out


class RunIndex:
    """An EventSink that records the run in the index at its start and finish. It must follow
    the journal in a Fanout, so that the journal's tail includes run_finished when sealed."""

    def __init__(self, store: StateStore, journal: Journal) -> None:
        self.store = store
        self.journal = journal

    def emit(self, event: Event) -> None:
        if event.kind == RUN_STARTED:
            self._started(event)
        elif event.kind == RUN_FINISHED:
            recap = event.data.get("recap", {})
            status = run_status(bool(event.data.get("interrupted")), recap)
            self._finish(status, totals(recap), event.at)

    def abandon(self, status: str = "interrupted") -> None:
        """The run ended without run_finished (an exception, or a store fault: 'incomplete'):
        not running any more. Best effort: a row left 'running' shows as incomplete once the
        process is gone."""
        records, last_hash = self.journal.tail
        try:
            with self.store.connect() as db:
                db.execute(
                    "UPDATE run_index SET status = ?, finished = ?, records = ?, last_hash = ? "
                    "WHERE run_id = ? AND status = 'running'",
                    (status, time.time(), records, last_hash, self.journal.run_id),
                )
        except StoreError:
            pass

    def forget(self) -> None:
        """A run refused before it did anything: its row goes (best effort, as in abandon)."""
        try:
            with self.store.transaction() as db:
                db.execute("DELETE FROM run_host WHERE run_id = ?", (self.journal.run_id,))
                db.execute("DELETE FROM run_index WHERE run_id = ?", (self.journal.run_id,))
        except StoreError:
            pass

    def _started(self, event: Event) -> None:
        data = event.data
        row = (
            self.journal.run_id,
            event.at,
            str(data.get("mode", "run")),
            str(data.get("source", "cli")),
            str(data.get("user", "")),
            str(data.get("controller", socket.gethostname())),
            int(data.get("pid", os.getpid())),
            json.dumps(sorted(data.get("playbooks", {}))),
        )
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO run_index (run_id, started, status, mode, source, user, controller, "
                "pid, playbooks) VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?)",
                row,
            )
            db.executemany(
                "INSERT OR IGNORE INTO run_host VALUES (?, ?)",
                [(self.journal.run_id, h) for h in data.get("hosts", [])],
            )

    def _finish(self, status: str, counts: Mapping[str, int], at: float) -> None:
        records, last_hash = self.journal.tail
        with self.store.connect() as db:
            db.execute(
                "UPDATE run_index SET status = ?, finished = ?, counts = ?, records = ?, "
                "last_hash = ? WHERE run_id = ?",
                (status, at, json.dumps(counts), records, last_hash, self.journal.run_id),
            )


_COLUMNS = (
    "run_id, started, finished, status, mode, source, user, controller, pid, playbooks, counts, "
    "records, last_hash"
)


def list_runs(
    store: StateStore,
    *,
    host: str | None = None,
    since: float | None = None,
    limit: int | None = None,
) -> list[RunEntry]:
    """Newest first. Status is filtered by the caller, on the shown status."""
    where, args = ["1 = 1"], list[object]()
    if host is not None:
        where.append("run_id IN (SELECT run_id FROM run_host WHERE host = ?)")
        args.append(host)
    if since is not None:
        where.append("started >= ?")
        args.append(since)
    query = f"SELECT {_COLUMNS} FROM run_index WHERE {' AND '.join(where)} ORDER BY started DESC"
    if limit is not None:
        query += f" LIMIT {int(limit)}"
    with store.connect() as db:
        rows = db.execute(query, args).fetchall()
        return [_entry(db, row) for row in rows]


def unindexed_runs(store: StateStore, journals: Path) -> list[RunEntry]:
    """The journals in `journals` that have no row in the run index (a run killed between
    creating its journal and indexing itself; or one whose index could not be written), as
    incomplete runs read from their run_started record."""
    try:
        found = {path.stem: path for path in journals.glob("*.jsonl")}
    except OSError:
        return []
    if not found:
        return []
    with store.connect() as db:
        known = {str(row[0]) for row in db.execute("SELECT run_id FROM run_index")}
    return [journal_entry(run_id, path) for run_id, path in found.items() if run_id not in known]


def journal_entry(run_id: str, path: Path) -> RunEntry:
    """An incomplete run, as much as its journal's first record tells."""
    started, data = 0.0, {}
    try:
        started = path.stat().st_mtime
        with path.open("rb") as journal:
            first = json.loads(journal.readline(FIRST_RECORD_BYTES))
        if isinstance(first, dict) and first.get("kind") == RUN_STARTED:
            started, data = float(first["at"]), dict(first["data"])
    except (OSError, ValueError, TypeError, KeyError):
        pass  # an empty or torn first record: the file's time, and nothing else is known
    return RunEntry(
        run_id=run_id,
        started=started,
        finished=None,
        status="incomplete",
        mode=str(data.get("mode", "run")),
        source=str(data.get("source", "")),
        user=str(data.get("user", "")),
        controller=str(data.get("controller", "")),
        pid=int(data["pid"]) if isinstance(data.get("pid"), int) else 0,
        playbooks=tuple(sorted(str(p) for p in data.get("playbooks") or ())),
        hosts=tuple(sorted(str(h) for h in data.get("hosts") or ())),
    )


def find_run(store: StateStore, wanted: str) -> RunEntry:
    """By id, unique prefix, or 'last'; UnknownRunError says what exists."""
    with store.connect() as db:
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
        if len(rows) == 1:
            return _entry(db, rows[0])
    raise UnknownRunError(_unknown_message(store, wanted, [str(r[0]) for r in rows]))


def _unknown_message(store: StateStore, wanted: str, matches: Sequence[str]) -> str:
    if matches:
        return f"run id {wanted!r} is ambiguous: it starts {', '.join(matches[:5])}"
    recent = [e.run_id for e in list_runs(store, limit=3)]
    hint = f"recent: {', '.join(recent)}" if recent else "no runs are recorded yet"
    return f"no run {wanted!r} in {store.path} ({hint}; see `jarvisctl runs`)"


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
