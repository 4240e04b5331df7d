"""A restore step: the host's newest VERIFIED snapshot of a backup (or the one the step names)
put back where it was taken, on the step's connection, as `jarvisctl backups restore` does
(backup/restore.py: each file beside its target, renamed into place, the replaced ones kept
aside until the restore verifies, and put back when it does not). A snapshot never re-read
since it was taken is not restored from: a rollback must not trust what was never proven.

backup/ is imported only when such a step runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jarvisctl.core.backup_events import BackupRestore
from jarvisctl.core.errors import JarvisError, UnreachableError
from jarvisctl.core.results import StepOutcome
from jarvisctl.engine.step_attempt import Ran, StepHost
from jarvisctl.kinds.step_base import RestoreAction
from jarvisctl.plan.model import BackupStorePlan, StepPlan
from jarvisctl.store.snapshots import Snapshot, SnapshotIndex, SnapshotState, UnknownSnapshotError

if TYPE_CHECKING:
    from jarvisctl.backup.restore import RestoreOutcome


def restore_attempt(runner: StepHost, step: StepPlan, action: RestoreAction) -> Ran:
    from jarvisctl.backup.restore import restore_snapshot

    work, host = runner.backups, runner.session.host
    if work is None or work.stores is None or work.index is None:
        return _failed("no snapshot index to restore from (the run has no state directory)")
    snapshot, problem = chosen(work.index, host.host, action)
    if snapshot is None:
        return _failed(problem)
    store_plan = _store_plan(runner, snapshot)
    if store_plan is None:
        return _failed(
            f"snapshot {snapshot.id} is in the backup store {snapshot.store!r}, which no "
            f"backup of play {runner.session.play.name!r} uses on this host"
        )
    declared = next((b for b in host.backups if b.name == action.backup), None)
    become = step.become or (declared.become if declared is not None else False)
    try:
        store = work.stores.get(store_plan)
        outcome = restore_snapshot(
            runner.connection,
            snapshot,
            store,
            work.index,
            to=None,
            check=runner.checking,
            become=become,
        )
    except UnreachableError:
        raise  # the step's: the connection was lost
    except (JarvisError, OSError) as exc:  # a refusal, a store that cannot be read
        _record(runner, snapshot, None, str(exc))
        return _failed(f"restoring snapshot {snapshot.id}: {exc}")
    _record(runner, snapshot, outcome, outcome.problem)
    return _ran(runner, snapshot, outcome)


def chosen(index: SnapshotIndex, host: str, action: RestoreAction) -> tuple[Snapshot | None, str]:
    """The snapshot to restore, or why there is none to use."""
    name = f"backup {action.backup!r} of host {host!r}"
    if action.snapshot is not None:
        try:
            snapshot = index.get(action.snapshot)
        except UnknownSnapshotError as exc:
            return None, str(exc)
        if (snapshot.host, snapshot.backup) != (host, action.backup):
            return None, f"snapshot {snapshot.id} is not of {name}"
        return snapshot, ""
    taken = index.list(host, action.backup)
    verified = [s for s in taken if s.state is SnapshotState.VERIFIED]
    if verified:
        return verified[0], ""
    if not taken:
        return None, f"no snapshot of {name} has been taken: nothing to restore"
    states = ", ".join(sorted({s.state.value for s in taken}))
    return None, (
        f"no verified snapshot of {name} to restore ({len(taken)} taken, {states}; "
        "`jarvisctl backups verify` proves one)"
    )


def _store_plan(runner: StepHost, snapshot: Snapshot) -> BackupStorePlan | None:
    stores = {b.store.name: b.store for b in runner.session.host.backups}
    return stores.get(snapshot.store)


def _ran(runner: StepHost, snapshot: Snapshot, outcome: RestoreOutcome) -> Ran:
    of = f"{outcome.changed} of {outcome.files} files from snapshot {snapshot.id}"
    if not outcome.ok:
        return _failed(f"restoring snapshot {snapshot.id} failed: {outcome.problem}")
    if outcome.changed == 0:
        return Ran(StepOutcome.OK, f"every file already as in snapshot {snapshot.id}")
    if runner.checking:
        return Ran(StepOutcome.WOULD_CHANGE, f"would restore {of}", False)
    return Ran(StepOutcome.CHANGED, f"restored {of}")


def _failed(reason: str) -> Ran:
    return Ran(StepOutcome.FAILED, reason)


def _record(
    runner: StepHost, snapshot: Snapshot, outcome: RestoreOutcome | None, error: str | None
) -> None:
    """The restore in the journal as `backups restore` records one."""
    runner.session.emit(
        BackupRestore(
            backup=snapshot.backup,
            store=snapshot.store,
            snapshot=snapshot.id,
            to=None,
            check=runner.checking,
            ok=outcome is not None and outcome.ok,
            files=outcome.files if outcome is not None else snapshot.files,
            changed=0,
            seconds=round(outcome.seconds, 3) if outcome is not None else 0.0,
            error=error,
        ).counted(outcome)
    )
