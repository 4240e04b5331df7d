"""The run's BackupWork (its backup stores and snapshot index), made on first use: a run whose
hosts have no backups, controller-side checks, tasks or rollout never makes it, and never
imports engine/backups.py and what it imports (about 0.6 MiB and 30 ms of start-up)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from jarvisctl.engine.sides import on_controller
from jarvisctl.kinds.registry import KindRegistry
from jarvisctl.plan.model import HostPlan
from jarvisctl.store.base import Store

if TYPE_CHECKING:
    from jarvisctl.engine.backups import BackupWork


def needs_after(registry: KindRegistry, host: HostPlan) -> bool:
    """Whether anything follows the host's checks and remediations: tasks, backups, or checks
    measured on the controller (engine/after.py)."""
    return bool(host.tasks or host.backups or on_controller(registry, host.checks))


class LazyBackupWork:
    """One BackupWork for the whole run (its hosts share the stores), made by the first host
    that needs it; thread-safe."""

    def __init__(self, state_dir: Path | None, store: Store | None, mode: str) -> None:
        self._state_dir, self._store, self._mode = state_dir, store, mode
        self._lock = threading.Lock()
        self._made: BackupWork | None = None

    def get(self) -> BackupWork:
        with self._lock:
            if self._made is None:
                from jarvisctl.engine.backups import BackupStores, BackupWork

                stores = BackupStores(self._state_dir) if self._state_dir is not None else None
                index = self._store.snapshots if self._store is not None else None
                self._made = BackupWork(stores, index, self._mode)
            return self._made
