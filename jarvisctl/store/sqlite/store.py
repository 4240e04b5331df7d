"""The SQLite store: the state database's aggregates, and the daemon's job database beside it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from jarvisctl.core.errors import StoreError
from jarvisctl.store.base import LOCK_TIMEOUT
from jarvisctl.store.jobstore import SchedulerJobs
from jarvisctl.store.sqlite.checks import SqliteCheckStates
from jarvisctl.store.sqlite.leases import SqliteLeases
from jarvisctl.store.sqlite.ledger import SqliteLedger
from jarvisctl.store.sqlite.runs import SqliteRunIndex
from jarvisctl.store.sqlite.statefile import StateFile

if TYPE_CHECKING:
    from jarvisctl.store.alerts import AlertStore
    from jarvisctl.store.rollouts import RolloutStore
    from jarvisctl.store.snapshots import SnapshotIndex

JOBS_FILE = "scheduler.db"


class SqliteStore:
    def __init__(
        self,
        path: Path,
        *,
        readonly: bool = False,
        lock_timeout: float = LOCK_TIMEOUT,
        on_fault: Callable[[StoreError], None] | None = None,
    ) -> None:
        self.path = path
        self.file = StateFile(path, readonly=readonly, lock_timeout=lock_timeout, on_fault=on_fault)
        self.checks = SqliteCheckStates(self.file)
        self.ledger = SqliteLedger(self.file)
        self.leases = SqliteLeases(self.file)
        self.runs = SqliteRunIndex(self.file)
        self._rollouts: RolloutStore | None = None
        self._snapshots: SnapshotIndex | None = None
        self._alerts: AlertStore | None = None
        self._jobs: SchedulerJobs | None = None

    @property
    def rollouts(self) -> RolloutStore:
        if self._rollouts is None:
            # read and written by rollouts, `rollout status` and `resume` alone
            from jarvisctl.store.sqlite.rollouts import SqliteRollouts

            self._rollouts = SqliteRollouts(self.file)
        return self._rollouts

    @property
    def snapshots(self) -> SnapshotIndex:
        if self._snapshots is None:
            # read and written by backups, restores and freshness checks alone
            from jarvisctl.store.sqlite.snapshots import SqliteSnapshotIndex

            self._snapshots = SqliteSnapshotIndex(self.file)
        return self._snapshots

    @property
    def alerts(self) -> AlertStore:
        if self._alerts is None:
            # read and written by notifications alone (the daemon, `alerts`, `silence`)
            from jarvisctl.store.sqlite.alerts import SqliteAlerts

            self._alerts = SqliteAlerts(self.file)
        return self._alerts

    @property
    def lock_timeout(self) -> float:
        return self.file.lock_timeout

    @lock_timeout.setter
    def lock_timeout(self, seconds: float) -> None:
        self.file.lock_timeout = seconds

    @property
    def location(self) -> str:
        return str(self.path)

    @property
    def jobs(self) -> SchedulerJobs:
        if self._jobs is None:
            # APScheduler is imported only by the daemon, which alone has jobs
            from jarvisctl.store.sqlite.jobstore import SQLiteJobStore

            self._jobs = SQLiteJobStore(self.path.parent / JOBS_FILE)
        return self._jobs

    def close(self) -> None:
        """Nothing to release: the process's connection to the file is shared by every store
        on it (database.py) and lives as long as the process."""

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
