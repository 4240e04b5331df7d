"""`jarvisctl backups verify`: read snapshots back from their stores and compare them with
their manifests (backup/verify.py), marking each verified or unusable, and optionally each
store's own integrity pass; recorded as a run (app/backup_journal.py)."""

from __future__ import annotations

from pathlib import Path

from jarvisctl.app.backup_actions import Stores, backup_stores
from jarvisctl.app.backup_journal import ActionLog, ActionRequest, backup_action
from jarvisctl.app.backups import reader
from jarvisctl.config.project import Project
from jarvisctl.core.backup_events import BackupStoreCheck, BackupVerify
from jarvisctl.core.clock import SYSTEM_CLOCK, Clock
from jarvisctl.core.errors import JarvisError
from jarvisctl.core.frozen import frozen
from jarvisctl.core.secrets import SecretValues
from jarvisctl.store.snapshots import Snapshot


@frozen
class VerifyRequest:
    snapshot: str | None = None  # an id or a unique start of one; None: every snapshot
    mode: str = "checksum"  # or "restore": extract into a scratch directory and compare
    stores: bool = False  # also each store's own integrity pass (restic check; local files)
    arguments: tuple[str, ...] = ()  # how it was asked for, for the journal


@frozen
class SnapshotVerified:
    snapshot: Snapshot  # as the index holds it after the verification (its new state)
    ok: bool
    problem: str | None  # the first file that did not match, or why it could not be read
    seconds: float


@frozen
class StoreChecked:
    store: str
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


@frozen
class VerifyReport:
    run_id: str
    mode: str
    snapshots: tuple[SnapshotVerified, ...]
    stores: tuple[StoreChecked, ...] = ()

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.snapshots) and all(s.ok for s in self.stores)


def verify_snapshots(
    project: Project, request: VerifyRequest, secrets: SecretValues, clock: Clock = SYSTEM_CLOCK
) -> VerifyReport:
    """Verify one snapshot (or all), marking each verified or unusable in the index."""
    stores = backup_stores(project, secrets)
    with reader(project) as index:
        chosen = (
            (index.snapshots.get(request.snapshot),)
            if request.snapshot is not None
            else index.snapshots.list()
        )
    action = ActionRequest(request.arguments, tuple(s.host for s in chosen))
    opened = Stores(project, stores)
    with backup_action(project, action, secrets) as log:
        done = tuple(_verify_one(project, log, opened, s, request.mode, clock) for s in chosen)
        checked = _check_stores(opened, log, clock) if request.stores else ()
    return VerifyReport(log.run_id, request.mode, done, checked)


def _verify_one(
    project: Project, log: ActionLog, stores: Stores, snapshot: Snapshot, mode: str, clock: Clock
) -> SnapshotVerified:
    from jarvisctl.backup.verify import verify_snapshot

    started = clock.monotonic()
    after = snapshot
    try:
        store = stores.get(snapshot.store)
        outcome = verify_snapshot(
            snapshot, store, log.store.snapshots, mode, _scratch(project), clock
        )
        ok, problem, after = outcome.ok, outcome.problem, outcome.snapshot
    except JarvisError as exc:  # the store cannot be opened: not the snapshot's fault
        ok, problem = False, str(exc)
    except OSError as exc:  # no room for the scratch directory: neither
        ok, problem = False, f"cannot verify in {project.state_dir}: {exc.strerror or exc}"
    seconds = round(clock.monotonic() - started, 3)
    payload = BackupVerify(
        snapshot.backup, snapshot.store, snapshot.id, mode, ok, after.state.value, problem, seconds
    )
    log.emit(payload, snapshot.host)
    log.outcome(
        snapshot.host, "ok" if ok else "failed", None if ok else f"{snapshot.id}: {problem}"
    )
    return SnapshotVerified(after, ok, problem, seconds)


def _check_stores(stores: Stores, log: ActionLog, clock: Clock) -> tuple[StoreChecked, ...]:
    """The integrity pass of each store jarvisctl.yml declares and each the index names (the
    default local store only once it holds something), given the snapshots the index says it
    holds. A store with problems fails the action: its part is recorded under `store NAME`, as
    a host's would be."""
    from jarvisctl.backup.verify import check_store

    declared = stores.project.config.backup_stores
    names = sorted({*declared, *(s.store for s in log.store.snapshots.list())})
    checked = []
    for name in names:
        started = clock.monotonic()
        try:
            problems = check_store(stores.get(name), log.store.snapshots)
        except JarvisError as exc:
            problems = (str(exc),)
        seconds = round(clock.monotonic() - started, 3)
        log.emit(BackupStoreCheck(name, tuple(problems), seconds), None)
        log.outcome(f"store {name}", "failed" if problems else "ok", "; ".join(problems))
        checked.append(StoreChecked(name, tuple(problems)))
    return tuple(checked)


def _scratch(project: Project) -> Path:
    """Where a restore verification extracts (a held `.verify-*` directory of its own, as a
    run's): beside the state, not in a /tmp that may be a small tmpfs."""
    from jarvisctl.engine.backups import SCRATCH

    return project.state_dir / SCRATCH
