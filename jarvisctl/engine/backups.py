"""A host's backups in a run: after its checks (and remediations), on the connection its checks
used, in the order the plan lists them. Each is taken (backup/take.py), then verified as its
`verify:` says (backup/verify.py), then pruned by its `keep:` (backup/retention.py); each step
is an event (core/backup_events.py) and the host's outcome says when one failed.

backup/ is imported here only inside the functions that take a backup: a run whose plan has no
backups never imports it (its start-up cost is every run's wall time).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from jarvisctl.connection.base import Connection
from jarvisctl.core.backup_events import Backup, BackupOutcome, BackupPrune, BackupVerify
from jarvisctl.core.events import Maintenance
from jarvisctl.core.frozen import frozen
from jarvisctl.core.results import BackupNote, HostRun, Outcome
from jarvisctl.engine.session import Session
from jarvisctl.plan.model import BackupPlan, BackupStorePlan
from jarvisctl.store.snapshots import Snapshot, SnapshotIndex

if TYPE_CHECKING:
    from jarvisctl.backup.stores.base import BackupStore

TAKEN, FAILED = BackupOutcome.TAKEN.value, BackupOutcome.FAILED.value
INTERRUPTED, SKIPPED = BackupOutcome.INTERRUPTED.value, BackupOutcome.SKIPPED.value
STOPPED_BEFORE = "the run was stopped before this backup started"
SCRATCH = "scratch"  # under the state directory: where `verify: restore` extracts a snapshot


@dataclass
class BackupStores:
    """The run's backup stores, each opened once, on first use, and shared by every host (a
    store that cannot be opened fails each backup that names it with the same reason)."""

    state_dir: Path
    _opened: dict[str, BackupStore | Exception] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, plan: BackupStorePlan) -> BackupStore:
        from jarvisctl.backup.stores.base import open_backup_store

        with self._lock:
            if plan.name not in self._opened:
                try:
                    self._opened[plan.name] = open_backup_store(plan, self.state_dir)
                except Exception as exc:  # its every backup fails with this reason
                    self._opened[plan.name] = exc
            found = self._opened[plan.name]
        if isinstance(found, Exception):
            raise found
        return found

    @property
    def scratch(self) -> Path:
        """Where `verify: restore` makes (and removes) a directory per verification."""
        return self.state_dir / SCRATCH


@frozen
class BackupWork:
    """What a host's backups need besides its session: the run's stores and snapshot index."""

    stores: BackupStores | None
    index: SnapshotIndex | None
    mode: str  # run | check


def take_backups(
    session: Session, connection: Connection, run: HostRun, work: BackupWork
) -> HostRun:
    """Every backup of the host, in order; the host is failed when one failed, interrupted when
    the run's stop ended one."""
    notes: list[BackupNote] = []
    for plan in session.host.backups:
        if work.mode == "check":
            note = _skipped(session, plan, f"check mode: {would(plan)}")
        elif session.cancel.is_set():
            note = _not_taken(session, plan, INTERRUPTED, STOPPED_BEFORE)
        else:
            note = _backup(session, connection, plan, work)
        notes.append(note)
    return with_backups(session, run, notes)


def not_attempted(session: Session, run: HostRun) -> HostRun:
    """A host whose session ended before its backups (unreachable, failed, interrupted):
    each backup is recorded as not attempted, with why."""
    reason = f"not attempted: the host's session ended {run.outcome.value}"
    return replace(run, backups=tuple(_skipped(session, p, reason) for p in session.host.backups))


def would(plan: BackupPlan) -> str:
    """What check mode says a backup would do."""
    return f"would back up {_what_text(plan)} into the backup store {plan.store.name!r}"


def with_backups(session: Session, run: HostRun, notes: Sequence[BackupNote]) -> HostRun:
    run = replace(run, backups=tuple(notes))
    stopped = next((n for n in notes if n.outcome == INTERRUPTED), None)
    if stopped is not None:
        error = f"interrupted during backup {stopped.name!r}: {stopped.reason}"
        outcome, error = session.broken_off(Outcome.INTERRUPTED, error)
        return replace(run, outcome=outcome, error=_joined(run.error, error))
    failed = [f"backup {n.name!r} failed at {n.stage}: {n.reason}" for n in notes if n.failed]
    if not failed:
        return run
    return replace(run, outcome=Outcome.FAILED, error=_joined(run.error, *failed))


def _joined(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _backup(
    session: Session, connection: Connection, plan: BackupPlan, work: BackupWork
) -> BackupNote:
    if work.stores is None or work.index is None:
        reason = "no state store to keep snapshots in (the run has no state directory)"
        return _not_taken(session, plan, FAILED, reason)
    try:
        store = work.stores.get(plan.store)
    except Exception as exc:
        reason = f"cannot open the backup store {plan.store.name!r}: {exc}"
        return _not_taken(session, plan, FAILED, reason)
    # the take loads the host (and a `command` may stop a service): its alerts are silenced
    session.emit(Maintenance("backup", plan.name, f"backup:{plan.name}", plan.timeout))
    snapshot, note = _take(session, connection, plan, store, work.index)
    if snapshot is None:
        return note
    warning = note.reason  # a kept snapshot's warning (tar's "file changed as we read it")
    note = _verify(session, plan, snapshot, store, work)
    if not note.failed and not _no_keep(plan):
        note = _prune(session, plan, store, work.index, note)
    return note if note.failed else replace(note, reason=warning)


def _take(
    session: Session,
    connection: Connection,
    plan: BackupPlan,
    store: BackupStore,
    index: SnapshotIndex,
) -> tuple[Snapshot | None, BackupNote]:
    from jarvisctl.backup.take import take_backup

    host, clock, warning = session.host.host, session.clock, ""
    try:
        taken = take_backup(connection, host, plan, store, index, clock, session.cancel)
        snapshot, error, seconds = taken.snapshot, taken.error, taken.seconds
        interrupted = taken.interrupted or session.cancel.is_set()
        warning = f"warning: {taken.warning}" if taken.warning else ""
    except Exception as exc:  # take_backup says a failed transfer in its value; this is worse
        snapshot, error, seconds = None, f"{type(exc).__name__}: {exc}", 0.0
        interrupted = session.cancel.is_set()
    if snapshot is None:
        outcome = INTERRUPTED if interrupted else FAILED
        reason = error or "no snapshot was recorded, and no reason given"
        reason = reason.removeprefix(f"backup {plan.name!r} of {host}: ")  # the note names both
        return None, _not_taken(session, plan, outcome, reason, seconds)
    session.emit(
        Backup(
            backup=plan.name,
            store=plan.store.name,
            outcome=TAKEN,
            source=plan.source,
            what=_what(plan),
            snapshot=snapshot.id,
            files=snapshot.files,
            bytes=snapshot.bytes,
            stored_bytes=snapshot.stored_bytes,
            seconds=round(snapshot.seconds, 4),
            reason=warning,
        )
    )
    return snapshot, replace(_taken_note(plan, snapshot), reason=warning)


def _verify(
    session: Session, plan: BackupPlan, snapshot: Snapshot, store: BackupStore, work: BackupWork
) -> BackupNote:
    from jarvisctl.backup.verify import verify_snapshot

    assert work.stores is not None and work.index is not None
    clock, started = session.clock, session.clock.monotonic()
    try:
        work.stores.scratch.mkdir(parents=True, exist_ok=True)
        verified = verify_snapshot(
            snapshot, store, work.index, plan.verify, work.stores.scratch, clock
        )
        ok, problem, state = verified.ok, verified.problem, verified.snapshot.state.value
    except Exception as exc:  # the verification could not run: the snapshot stays unproven
        ok, problem = False, f"the verification could not run: {type(exc).__name__}: {exc}"
        state = _state(work.index, snapshot)
    seconds = round(clock.monotonic() - started, 4)
    session.emit(
        BackupVerify(
            plan.name, plan.store.name, snapshot.id, plan.verify, ok, state, problem, seconds
        )
    )
    note = _taken_note(plan, snapshot, verify=plan.verify, verified=ok)
    if ok:
        return note
    reason = f"verification ({plan.verify}) failed: {problem or 'no reason given'}"
    return replace(note, outcome=FAILED, stage="verify", reason=reason)


def _state(index: SnapshotIndex, snapshot: Snapshot) -> str:
    """The snapshot's state as the index has it, after a verification that could not run."""
    try:
        return str(index.get(snapshot.id).state.value)
    except Exception:  # nor can the index say: as it was recorded
        return str(snapshot.state.value)


def _no_keep(plan: BackupPlan) -> bool:
    """No `keep:` rule: every snapshot is kept, nothing is pruned."""
    keep = plan.keep
    return not any((keep.last, keep.daily, keep.weekly, keep.monthly))


def _prune(
    session: Session, plan: BackupPlan, store: BackupStore, index: SnapshotIndex, note: BackupNote
) -> BackupNote:
    from jarvisctl.backup.retention import plan_prune, prune

    try:
        # this store's snapshots only: those another store holds are its retention's business
        mine = [s for s in index.list(session.host.host, plan.name) if s.store == store.name]
        planned = plan_prune(mine, plan.keep, session.clock.now())
        outcome = prune(store, index, planned)
        kept, rules = tuple(k.snapshot.id for k in planned.keep), dict(planned.rules)
        forgotten, error = outcome.forgotten, outcome.error
    except Exception as exc:
        kept, rules, forgotten, error = (), {}, (), f"{type(exc).__name__}: {exc}"
    session.emit(BackupPrune(plan.name, plan.store.name, kept, forgotten, rules, False, error))
    note = replace(note, pruned=len(forgotten))
    if error is None:
        return note
    return replace(note, outcome=FAILED, stage="prune", reason=f"pruning failed: {error}")


def _taken_note(
    plan: BackupPlan, snapshot: Snapshot, verify: str = "", verified: bool | None = None
) -> BackupNote:
    return BackupNote(
        plan.name,
        plan.store.name,
        TAKEN,
        snapshot.id,
        snapshot.files,
        snapshot.bytes,
        snapshot.stored_bytes,
        snapshot.seconds,
        verify,
        verified,
    )


def _skipped(session: Session, plan: BackupPlan, reason: str) -> BackupNote:
    return _not_taken(session, plan, SKIPPED, reason)


def _not_taken(
    session: Session, plan: BackupPlan, outcome: str, reason: str, seconds: float = 0.0
) -> BackupNote:
    """A backup that recorded no snapshot: its event, and its note."""
    stage = "take" if outcome == FAILED else ""
    session.emit(
        Backup(
            backup=plan.name,
            store=plan.store.name,
            outcome=outcome,
            source=plan.source,
            what=_what(plan),
            seconds=round(seconds, 4),
            reason=reason,
            stage=stage,
        )
    )
    return BackupNote(
        plan.name, plan.store.name, outcome, seconds=seconds, stage=stage, reason=reason
    )


def _what(plan: BackupPlan) -> tuple[str, ...]:
    return plan.paths if plan.source == "paths" else (plan.command or "",)


def _what_text(plan: BackupPlan) -> str:
    if plan.source == "paths":
        return ", ".join(plan.paths)
    return f"the output of {plan.command!r} (as {plan.file})"
