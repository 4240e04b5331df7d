"""The one way to open a project's store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from jarvisctl.core.errors import StoreError
from jarvisctl.store.base import LOCK_TIMEOUT, Store
from jarvisctl.store.sqlite.store import SqliteStore

STATE_FILE = "state.db"


def open_store(
    state_dir: Path,
    *,
    readonly: bool = False,
    lock_timeout: float = LOCK_TIMEOUT,
    on_fault: Callable[[StoreError], None] | None = None,
) -> Store:
    """The store in `state_dir`, migrated to this release's schema on open.

    `readonly`: a reader (runs, report, audit verify) never creates, migrates or writes
    anything, so that it works on a full or read-only state directory; a missing store reads as
    empty. `lock_timeout`: how long a writer waits for another's lock. `on_fault`: told each
    StoreError before it is raised (a run learns that it can no longer record).
    """
    return SqliteStore(
        state_dir / STATE_FILE, readonly=readonly, lock_timeout=lock_timeout, on_fault=on_fault
    )
