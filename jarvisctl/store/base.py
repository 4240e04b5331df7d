"""The store: one object per project's state, with one attribute per aggregate. Callers see
records and protocols only (no SQL, no connection); the SQLite implementation is store/sqlite/,
opened by `jarvisctl.store.factory.open_store`."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Protocol

from jarvisctl.store.checks import CheckStates
from jarvisctl.store.jobstore import SchedulerJobs
from jarvisctl.store.leases import Leases
from jarvisctl.store.ledger import RemediationLedger
from jarvisctl.store.runs import RunIndex

if TYPE_CHECKING:  # a run that sends no notification (takes no backup, has no rollout) does not
    # import them
    from jarvisctl.store.alerts import AlertStore
    from jarvisctl.store.rollouts import RolloutStore
    from jarvisctl.store.snapshots import SnapshotIndex

LOCK_TIMEOUT = 30.0  # seconds a writer waits for another's lock (timeouts.state_lock)


class Store(Protocol):
    # how long a writer waits for another's lock; a run that met a held lock lowers it, so that
    # what is left to write waits briefly
    lock_timeout: float

    @property
    def location(self) -> str:
        """Where the store is, for messages (the state database's path)."""
        ...

    @property
    def checks(self) -> CheckStates: ...

    @property
    def ledger(self) -> RemediationLedger: ...

    @property
    def leases(self) -> Leases: ...

    @property
    def runs(self) -> RunIndex: ...

    @property
    def snapshots(self) -> SnapshotIndex:
        """The backup snapshot index and each snapshot's manifest."""
        ...

    @property
    def rollouts(self) -> RolloutStore:
        """Each rollout's durable progress (per host and step) and its lease."""
        ...

    @property
    def alerts(self) -> AlertStore:
        """Alerts, silences and the notification outbox."""
        ...

    @property
    def jobs(self) -> SchedulerJobs:
        """The daemon's job store (opened on first use: only the daemon has one)."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Store: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...
