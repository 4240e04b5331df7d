"""Run history: an index of runs in the state store, written when a run starts and finishes.

A run killed before it finished stays 'running' in the index; once its process is gone it is
shown as 'incomplete' (its journal has no run_finished record).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from jarvisctl.core.errors import EXIT_USAGE, JarvisError, StoreError
from jarvisctl.core.events import RUN_FINISHED, RUN_STARTED, Event
from jarvisctl.core.results import recap_totals, run_status
from jarvisctl.record.audit import Journal
from jarvisctl.store.base import Store
from jarvisctl.store.runs import RunEnd, RunStart
from jarvisctl.store.runs import RunEntry as RunEntry  # the index's record, for its readers

FIRST_RECORD_BYTES = 1 << 20  # what is read of an unindexed journal: its run_started record
STATUSES = ("ok", "not_ok", "unreachable", "skipped", "interrupted", "running", "incomplete")


class UnknownRunError(JarvisError):
    """No run with that id (or prefix) in the run index."""

    exit_code = EXIT_USAGE  # the RUN_ID argument names no run


class RunIndex:
    """An EventSink that records the run in the index at its start and finish. It must follow
    the journal in a Fanout, so that the journal's tail includes run_finished when sealed."""

    def __init__(self, store: Store, journal: Journal) -> None:
        self.store = store
        self.journal = journal

    def emit(self, event: Event) -> None:
        if event.kind == RUN_STARTED:
            self._started(event)
        elif event.kind == RUN_FINISHED:
            recap = event.data.get("recap", {})
            status = run_status(bool(event.data.get("interrupted")), recap)
            self._finish(status.value, recap_totals(recap), event.at)

    def abandon(self, status: str = "interrupted") -> None:
        """The run ended without run_finished (an exception, or a store fault: 'incomplete'):
        not running any more. Best effort: a row left 'running' shows as incomplete once the
        process is gone."""
        records, last_hash = self.journal.tail
        with contextlib.suppress(StoreError):
            self.store.runs.abandon(
                self.journal.run_id, RunEnd(status, time.time(), records, last_hash)
            )

    def forget(self) -> None:
        """A run refused before it did anything: its row goes (best effort, as in abandon)."""
        with contextlib.suppress(StoreError):
            self.store.runs.forget(self.journal.run_id)

    def _started(self, event: Event) -> None:
        data = event.data
        run = RunStart(
            run_id=self.journal.run_id,
            started=event.at,
            mode=str(data.get("mode", "run")),
            source=str(data.get("source", "cli")),
            user=str(data.get("user", "")),
            controller=str(data.get("controller", socket.gethostname())),
            pid=int(data.get("pid", os.getpid())),
            playbooks=tuple(sorted(data.get("playbooks", {}))),
            hosts=tuple(data.get("hosts", [])),
        )
        self.store.runs.start(run)

    def _finish(self, status: str, counts: Mapping[str, int], at: float) -> None:
        records, last_hash = self.journal.tail
        self.store.runs.finish(self.journal.run_id, RunEnd(status, at, records, last_hash, counts))


def list_runs(
    store: Store,
    *,
    host: str | None = None,
    since: float | None = None,
    limit: int | None = None,
) -> list[RunEntry]:
    """Newest first. Status is filtered by the caller, on the shown status."""
    return store.runs.newest(host=host, since=since, limit=limit)


def unindexed_runs(store: Store, journals: Path) -> list[RunEntry]:
    """The journals in `journals` that have no row in the run index (a run killed between
    creating its journal and indexing itself; or one whose index could not be written), as
    incomplete runs read from their run_started record."""
    try:
        found = {path.stem: path for path in journals.glob("*.jsonl")}
    except OSError:
        return []
    if not found:
        return []
    known = store.runs.run_ids()
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


def find_run(store: Store, wanted: str) -> RunEntry:
    """By id, unique prefix, or 'last'; UnknownRunError says what exists."""
    found = store.runs.find(wanted)
    if len(found) == 1:
        return found[0]
    raise UnknownRunError(_unknown_message(store, wanted, [e.run_id for e in found]))


def _unknown_message(store: Store, wanted: str, matches: Sequence[str]) -> str:
    if matches:
        return f"run id {wanted!r} is ambiguous: it starts {', '.join(matches[:5])}"
    recent = [e.run_id for e in list_runs(store, limit=3)]
    hint = f"recent: {', '.join(recent)}" if recent else "no runs are recorded yet"
    return f"no run {wanted!r} in {store.location} ({hint}; see `jarvisctl runs`)"
