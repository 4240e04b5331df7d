"""`jarvisctl backups restore HOST NAME`: put a snapshot back on its host (or under --to), over
a connection opened as a run opens it (the inventory's connection settings, the project's host
key policy), holding the host's lease as a run does, recorded as a run (app/backup_journal.py).

The snapshot is the newest usable one of HOST's backup NAME unless --snapshot names another;
what happens on the host is backup/restore.py's (each file beside its target, renamed into
place, the replaced one kept aside until the restore verifies).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from jarvisctl.app.backup_actions import Stores, backup_stores
from jarvisctl.app.backup_journal import ActionLog, ActionRequest, backup_action
from jarvisctl.app.backups import UnknownBackupError, reader
from jarvisctl.config.project import Project
from jarvisctl.core.backup_events import BackupRestore
from jarvisctl.core.errors import JarvisError, UnreachableError, known_list
from jarvisctl.core.frozen import frozen
from jarvisctl.core.secrets import SecretValues
from jarvisctl.plan.model import BackupPlan, HostPlan, Plan
from jarvisctl.store.snapshots import Snapshot, SnapshotState

if TYPE_CHECKING:
    from jarvisctl.backup.restore import RestoreOutcome


@frozen
class RestoreRequest:
    host: str
    backup: str
    snapshot: str | None = None  # an id or a unique start of one; None: the newest usable
    to: str | None = None  # an absolute path on the host to restore under; None: in place
    check: bool = False  # list what would change, change nothing
    playbooks: tuple[Path, ...] = ()  # where HOST's backups are declared
    inventory: tuple[Path, ...] = ()  # how HOST is reached
    arguments: tuple[str, ...] = ()


@frozen
class RestoreReport:
    run_id: str
    snapshot: Snapshot
    outcome: RestoreOutcome | None  # None: not attempted (`skipped` or `error` says why)
    skipped: str | None = None  # another run holds the host's lease: nothing was done
    error: str | None = None  # the host could not be reached, the store not read (raised)

    @property
    def ok(self) -> bool:
        return self.outcome is not None and self.outcome.ok


def restore_backup(
    project: Project, request: RestoreRequest, secrets: SecretValues
) -> RestoreReport:
    """Restore (or, with `check`, list what a restore would change). Arguments that name
    nothing raise UnknownBackupError (or UnknownSnapshotError) before anything is recorded;
    an error on the way (the host unreachable: exit 4; the store unreadable; a refusal) is
    recorded in the action's journal, then raised."""
    from jarvisctl.app.plan import PlanRequest, plan_to_run

    plan = plan_to_run(project, PlanRequest(request.playbooks, request.inventory), secrets)
    host = _host_plan(plan, request.host, request.backup)
    declared = next((b for b in host.backups if b.name == request.backup), None)
    snapshot = _chosen(project, request, declared)
    stores = Stores(project, backup_stores(project, secrets))
    action = ActionRequest(request.arguments, (host.host,), request.check, plan.inventory)
    with backup_action(project, action, secrets) as log:
        report, error = _restore(project, log, stores, host, snapshot, declared, request)
    if error is not None:  # recorded in the journal first; the error's exit code follows
        raise error
    return report


def _restore(
    project: Project,
    log: ActionLog,
    stores: Stores,
    host: HostPlan,
    snapshot: Snapshot,
    declared: BackupPlan | None,
    request: RestoreRequest,
) -> tuple[RestoreReport, JarvisError | None]:
    from jarvisctl.backup.restore import restore_snapshot
    from jarvisctl.engine.pool import ConnectionPool
    from jarvisctl.store.leases import Holder, LeaseStore, hold_leases

    leases = LeaseStore(log.store.leases, project.config.lease_ttl)
    with hold_leases(leases, [host.host], Holder(log.run_id, "cli"), log.events) as skipped:
        if host.host in skipped:
            reason = skipped[host.host].reason
            _record(log, snapshot, request, None, f"not restored: {reason}", "skipped")
            return RestoreReport(log.run_id, snapshot, None, skipped=reason), None
        pool = ConnectionPool()
        try:
            store = stores.get(snapshot.store)
            connection = pool.get(host.settings)
            outcome = restore_snapshot(
                connection,
                snapshot,
                store,
                log.store.snapshots,
                to=request.to,
                check=request.check,
                become=declared.become if declared is not None else host.settings.become,
            )
        except JarvisError as exc:
            count = "unreachable" if isinstance(exc, UnreachableError) else "failed"
            _record(log, snapshot, request, None, str(exc), count)
            return RestoreReport(log.run_id, snapshot, None, error=str(exc)), exc
        finally:
            pool.close_all()
    _record(log, snapshot, request, outcome, outcome.problem, "ok" if outcome.ok else "failed")
    return RestoreReport(log.run_id, snapshot, outcome), None


def _record(
    log: ActionLog,
    snapshot: Snapshot,
    request: RestoreRequest,
    outcome: RestoreOutcome | None,
    error: str | None,
    count: str,
) -> None:
    payload = BackupRestore(
        backup=snapshot.backup,
        store=snapshot.store,
        snapshot=snapshot.id,
        to=request.to,
        check=request.check,
        ok=count == "ok",
        files=outcome.files if outcome is not None else snapshot.files,
        changed=0,
        seconds=round(outcome.seconds, 3) if outcome is not None else 0.0,
        error=error,
    )
    log.emit(payload.counted(outcome), snapshot.host)
    log.outcome(snapshot.host, count, error)


def _host_plan(plan: Plan, name: str, backup: str) -> HostPlan:
    """HOST as the play declaring its backup NAME resolves it (how to reach it, and the
    backup's `become`), else as any play covering it does."""
    covering = [h for book in plan.playbooks for play in book.plays for h in play.hosts]
    hosts = [h for h in covering if h.host == name]
    if not hosts:
        raise UnknownBackupError(
            f"unknown host {name!r}: no play of the project covers it, so how to reach it is "
            f"not known ({known_list({h.host for h in covering}, near=name)})"
        )
    declaring = [h for h in hosts if any(b.name == backup for b in h.backups)]
    return (declaring or hosts)[0]


def _chosen(project: Project, request: RestoreRequest, declared: BackupPlan | None) -> Snapshot:
    """The snapshot --snapshot names (it must be of HOST's backup NAME), else the newest
    usable one; an UnknownBackupError says what exists when there is none."""
    with reader(project) as store:
        if request.snapshot is not None:
            snapshot = store.snapshots.get(request.snapshot)
            if (snapshot.host, snapshot.backup) != (request.host, request.backup):
                raise UnknownBackupError(
                    f"--snapshot {snapshot.id} is of host {snapshot.host!r}, backup "
                    f"{snapshot.backup!r}: not of host {request.host!r}, backup "
                    f"{request.backup!r}"
                )
            return snapshot
        taken = store.snapshots.list(request.host, request.backup)
        every = store.snapshots.list(request.host) if not taken else ()
    usable = [s for s in taken if s.state is not SnapshotState.UNUSABLE]
    if usable:
        return usable[0]
    if taken:
        raise UnknownBackupError(
            f"no usable snapshot of backup {request.backup!r} of host {request.host!r}: "
            f"all {len(taken)} are unusable (the newest: {taken[0].problem}); see "
            f"`jarvisctl backups list {request.host} --backup {request.backup}`"
        )
    if declared is not None:
        raise UnknownBackupError(
            f"no snapshot of backup {request.backup!r} of host {request.host!r} has been "
            "taken yet (a run of its play takes it)"
        )
    names = {s.backup for s in every}
    raise UnknownBackupError(
        f"unknown backup {request.backup!r} of host {request.host!r}: no play declares it "
        f"and no snapshot of it is recorded ({known_list(names, near=request.backup)})"
    )
