"""What a rollout needs of the run that works on it (engine/runner.py's Runner): its pool,
threads, mode, stop, events, store, clock, backups, leases, and how a host's session starts,
is skipped and is finished."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Protocol

from jarvisctl.connection.base import Connection
from jarvisctl.core.clock import Clock
from jarvisctl.core.events import EventSink, HostSkipped
from jarvisctl.core.results import HostRun
from jarvisctl.engine.backups import BackupWork
from jarvisctl.engine.pool import ConnectionPool
from jarvisctl.engine.session import Session
from jarvisctl.plan.model import HostPlan, PlayPlan
from jarvisctl.store.base import Store
from jarvisctl.store.leases import Leasing


class Fleet(Protocol):
    """What a rollout needs of the run (engine/runner.py's Runner)."""

    @property
    def pool(self) -> ConnectionPool: ...

    @property
    def threads(self) -> Executor: ...

    @property
    def mode(self) -> str: ...

    @property
    def cancel(self) -> threading.Event: ...

    @property
    def events(self) -> EventSink: ...

    @property
    def store(self) -> Store | None: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def backups(self) -> BackupWork: ...

    @property
    def on_host(self) -> Callable[[HostRun], None]: ...

    @property
    def on_start(self) -> Callable[[str, str], None]: ...

    @property
    def leases(self) -> Leasing | None: ...

    def session(self, play: PlayPlan, host: HostPlan) -> Session: ...

    def skipped(self, play: PlayPlan, host: HostPlan, why: HostSkipped) -> HostRun: ...

    def finish(
        self, play: PlayPlan, host: HostPlan, run: HostRun, conn: Connection | None
    ) -> HostRun: ...
