"""What the front doors show of what happened: the runs, one run with its audit journal, a run's
report, the checks whose remediation waits for an operator, the hosts' leases. Frozen values
read from the project's store and journals, never written by a reader; the CLI and the daemon's
/status render them, the dashboard will too. A front door never opens the store itself."""

from __future__ import annotations

from pathlib import Path

from jarvisctl.config.project import Project
from jarvisctl.core.frozen import frozen
from jarvisctl.record.audit import Verification, journal_path
from jarvisctl.record.history import (
    RunEntry,
    UnknownRunError,
    find_run,
    journal_entry,
    list_runs,
    unindexed_runs,
)
from jarvisctl.render.reports.document import RunDocument
from jarvisctl.render.reports.load import HISTORY_RUNS, load_document, verify_run
from jarvisctl.store.base import Store
from jarvisctl.store.factory import open_store
from jarvisctl.store.leases import Lease


@frozen
class RunFilter:
    host: str | None = None  # only runs that included this host
    since: float | None = None  # only runs started at or after (epoch seconds)
    status: str | None = None  # only runs shown with this status (history.STATUSES)
    count: int | None = None  # at most this many, the newest


def recent_runs(project: Project, wanted: RunFilter) -> tuple[RunEntry, ...]:
    """The recorded runs, newest first: the run index, and the journals it does not know (a
    run killed before indexing itself), as incomplete runs."""
    with _reader(project) as store:
        found = list_runs(store, host=wanted.host, since=wanted.since) + [
            entry
            for entry in unindexed_runs(store, project.state_dir / "runs")
            if (wanted.host is None or wanted.host in entry.hosts)
            and (wanted.since is None or entry.started >= wanted.since)
        ]
    found.sort(key=lambda entry: entry.started, reverse=True)
    shown = [e for e in found if not wanted.status or e.shown_status == wanted.status]
    return tuple(shown[: wanted.count])


@frozen
class RunDetail:
    entry: RunEntry
    journal: Path
    verification: Verification


def run_detail(project: Project, run_id: str) -> RunDetail:
    """One run (an id, a unique prefix, or 'last') and what its journal verifies to; an
    UnknownRunError says what exists, a JournalError what is wrong with its journal."""
    entry = _find(project, run_id)
    verification, path = verify_run(project.state_dir, entry.run_id)
    return RunDetail(entry, path, verification)


def run_verification(project: Project, run_id: str) -> tuple[Verification, Path]:
    """Whether a run's journal was edited, cut or left unfinished, and where it is."""
    return verify_run(project.state_dir, run_id)


def run_report(project: Project, run_id: str, history: bool = True) -> RunDocument:
    """A run's report, from its verified journal; with `history`, each check's earlier values
    (for the reports that chart them: the run's JSON has none)."""
    return load_document(project.state_dir, run_id, HISTORY_RUNS if history else 0)


def _find(project: Project, run_id: str) -> RunEntry:
    """From the index, or else from a journal the index does not know (an incomplete run)."""
    try:
        with _reader(project) as store:
            return find_run(store, run_id)
    except UnknownRunError:
        path = journal_path(project.state_dir, run_id)
        if not path.is_file():
            raise
        return journal_entry(run_id, path)


@frozen
class Escalation:
    """A check whose remediation budget is spent: it waits for an operator."""

    host: str
    play: str
    check: str
    since: float  # epoch seconds
    reason: str


def escalations(project: Project, host: str | None = None) -> tuple[Escalation, ...]:
    with _reader(project) as store:
        return tuple(Escalation(*row) for row in store.ledger.escalations(host))


def reset_remediations(project: Project, host: str, check: str | None = None) -> int:
    """An operator's reset of a host's (or one of its checks') remediation attempts and
    escalations, so that automatic remediation resumes; the ledger records removed."""
    with open_store(project.state_dir) as store:
        return store.ledger.reset(host, check)


def held_leases(project: Project) -> tuple[Lease, ...]:
    """The hosts claimed by a run (of the CLI, the daemon or CI), by host: expired ones too,
    until a run takes them over."""
    with _reader(project) as store:
        return tuple(store.leases.all())


def _reader(project: Project) -> Store:
    """The store for reading: never created, migrated or written (a full or read-only state
    directory still reads; a missing store reads as empty)."""
    return open_store(project.state_dir, readonly=True)
