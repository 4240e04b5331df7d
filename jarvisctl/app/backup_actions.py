"""`jarvisctl backups prune`: a use case over the snapshot index and the backup stores,
recorded as a run (app/backup_journal.py); and the stores an action opens, by the names the
snapshots record (verify and restore open them too). Results are frozen values the front doors
render; a failure is in the value, with its reason, never only in an exit code."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING

from jarvisctl.app.backup_journal import ActionLog, ActionRequest, backup_action
from jarvisctl.app.backups import UnknownBackupError
from jarvisctl.config.project import Project
from jarvisctl.core.backup_events import BackupPrune
from jarvisctl.core.clock import SYSTEM_CLOCK, Clock
from jarvisctl.core.errors import JarvisError, known_list
from jarvisctl.core.frozen import frozen
from jarvisctl.core.secrets import SecretValues
from jarvisctl.plan.model import BackupPlan, BackupStorePlan

if TYPE_CHECKING:
    from jarvisctl.backup.retention import PruneOutcome
    from jarvisctl.backup.stores.base import BackupStore


class Stores:
    """The backup stores an action opens, each once, by the name a snapshot records."""

    def __init__(self, project: Project, plans: Mapping[str, BackupStorePlan]) -> None:
        self.project, self.plans = project, plans
        self._open: dict[str, BackupStore] = {}

    def get(self, name: str) -> BackupStore:
        from jarvisctl.backup.stores.base import BackupStoreError, open_backup_store

        if name not in self._open:
            plan = self.plans.get(name)
            if plan is None:
                raise BackupStoreError(
                    f"backup store {name!r} is not in jarvisctl.yml's backup_stores "
                    f"({known_list(self.plans, near=name)})"
                )
            self._open[name] = open_backup_store(plan, self.project.state_dir)
        return self._open[name]


def backup_stores(project: Project, secrets: SecretValues) -> Mapping[str, BackupStorePlan]:
    """The project's backup stores by name (the default `local` among them), their passwords
    rendered into `secrets` first."""
    from jarvisctl.plan.backup_stores import store_plans

    return store_plans(project, secrets)


@frozen
class PruneRequest:
    host: str | None = None
    backup: str | None = None
    dry_run: bool = False
    playbooks: tuple[Path, ...] = ()  # where the backups and their `keep:` are declared
    inventory: tuple[Path, ...] = ()
    arguments: tuple[str, ...] = ()


@frozen
class Pruned:
    host: str
    backup: BackupPlan
    outcome: PruneOutcome


@frozen
class PruneReport:
    run_id: str
    dry_run: bool
    pruned: tuple[Pruned, ...]
    # (host, backup) pairs with snapshots that no play declares any more: no keep applies
    undeclared: Mapping[tuple[str, str], int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(p.outcome.ok for p in self.pruned)


def prune_snapshots(
    project: Project, request: PruneRequest, secrets: SecretValues, clock: Clock = SYSTEM_CLOCK
) -> PruneReport:
    """Apply each declared backup's `keep:` to its snapshots (of HOST, of one backup)."""
    inventory, targets = _declared(project, request, secrets)
    stores = Stores(project, backup_stores(project, secrets))
    hosts = tuple(host for host, _ in targets)
    action = ActionRequest(request.arguments, hosts, request.dry_run, inventory)
    with backup_action(project, action, secrets) as log:
        done = tuple(
            _prune_one(log, stores, host, plan, request.dry_run, clock) for host, plan in targets
        )
        every = log.store.snapshots.list(request.host, request.backup)
    declared = {(host, plan.name) for host, plan in targets}
    undeclared: dict[tuple[str, str], int] = {}
    for snapshot in every:
        if (snapshot.host, snapshot.backup) not in declared:
            key = (snapshot.host, snapshot.backup)
            undeclared[key] = undeclared.get(key, 0) + 1
    return PruneReport(log.run_id, request.dry_run, done, undeclared)


def _prune_one(
    log: ActionLog, stores: Stores, host: str, plan: BackupPlan, dry_run: bool, clock: Clock
) -> Pruned:
    from jarvisctl.backup.retention import PruneOutcome, PrunePlan, plan_prune, prune

    index = log.store.snapshots
    wanted = plan_prune(index.list(host, plan.name), plan.keep, clock.now())
    forgotten: list[str] = []
    failed: dict[str, str] = {}
    for name in sorted({s.store for s in wanted.forget}):
        part = PrunePlan((), tuple(s for s in wanted.forget if s.store == name))
        try:
            done = prune(stores.get(name), index, part, dry_run=dry_run)
            forgotten += done.forgotten
            failed.update(done.failed)
        except JarvisError as exc:
            failed.update({s.id: str(exc) for s in part.forget})
    outcome = PruneOutcome(wanted, dry_run, tuple(forgotten), failed)
    kept = tuple(k.snapshot.id for k in wanted.keep)
    payload = BackupPrune(
        plan.name, plan.store.name, kept, tuple(forgotten), wanted.rules, dry_run, outcome.error
    )
    log.emit(payload, host)
    log.outcome(host, "ok" if outcome.ok else "failed", outcome.error)
    return Pruned(host, plan, outcome)


def _declared(
    project: Project, request: PruneRequest, secrets: SecretValues
) -> tuple[str, tuple[tuple[str, BackupPlan], ...]]:
    """The inventory's source, and each (host, backup) the plan declares that the request
    selects; an unknown HOST or backup NAME is an UnknownBackupError naming what is known."""
    from jarvisctl.app.plan import PlanRequest, plan_to_run

    plan = plan_to_run(project, PlanRequest(request.playbooks, request.inventory), secrets)
    found: dict[tuple[str, str], BackupPlan] = {}
    for book in plan.playbooks:
        for play in book.plays:
            for host in play.hosts:
                for backup in host.backups:
                    found.setdefault((host.host, backup.name), backup)
    hosts = {host.host for book in plan.playbooks for play in book.plays for host in play.hosts}
    if request.host is not None and request.host not in hosts:
        raise UnknownBackupError(
            f"unknown host {request.host!r}: no play of the project covers it "
            f"({known_list(hosts, near=request.host)})"
        )
    selected = {
        key: backup
        for key, backup in found.items()
        if request.host in (None, key[0]) and request.backup in (None, key[1])
    }
    if request.backup is not None and not selected:
        names = {name for host, name in found if request.host in (None, host)}
        whose = f" of host {request.host!r}" if request.host else ""
        raise UnknownBackupError(
            f"unknown backup {request.backup!r}{whose}: no play declares it "
            f"({known_list(names, near=request.backup)})"
        )
    return plan.inventory, tuple((host, selected[(host, name)]) for host, name in sorted(selected))
