"""The backup store protocol: what taking, verifying, restoring and pruning a snapshot need from
the place that keeps its data. A store is named in jarvisctl.yml (`backup_stores:`); `local` (a
directory) and `restic` (a repository through the `restic` binary) implement it, and another
kind is a new module here, not an edit everywhere.

A writer receives the data as it arrives from the host (compressed as the backup's `compress`
says) and keeps none of it unless committed: leaving its block without `commit()` (an exception,
Ctrl-C, a full disk) removes every byte written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Protocol

from jarvisctl.backup.errors import BackupStoreError
from jarvisctl.plan.model import BackupPlan, BackupStorePlan
from jarvisctl.store.snapshots import Snapshot

__all__ = ["BackupStore", "BackupStoreError", "SnapshotWriter", "open_backup_store"]

# Where the default local store keeps its snapshots, under the state directory.
DEFAULT_LOCAL_DIRECTORY = "backups"
# A restic repository given as a backend URL (sftp:, s3:, rest:, b2:...), not a local path.
_RESTIC_BACKEND = re.compile(r"^[a-z][a-z0-9]+:(?!\\)")


class SnapshotWriter(Protocol):
    """One snapshot's data on its way into a store (a context manager)."""

    # how the data this writer keeps is compressed: the backup's `compress` (local), or
    # "none" for a store that is handed the uncompressed stream (restic compresses itself)
    compress: str

    def write(self, data: bytes) -> None:
        """The next bytes as they arrived (compressed as the backup's `compress` says)."""
        ...

    def commit(self) -> tuple[str, int]:
        """Make the snapshot durable; returns (location in the store, bytes the store holds)."""
        ...

    def __enter__(self) -> SnapshotWriter: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Without a commit, remove everything written (never leaves a partial snapshot)."""
        ...


class BackupStore(Protocol):
    name: str  # the store's name from jarvisctl.yml ("local" by default)

    def writer(self, snapshot_id: str, plan: BackupPlan, host: str) -> SnapshotWriter: ...

    def open(self, snapshot: Snapshot) -> AbstractContextManager[BinaryIO]:
        """The snapshot's UNCOMPRESSED data: a tar stream (source paths) or the command's
        output (source command). Reading it to its end raises BackupStoreError (or its
        subclass CompressionError) if the stored data is cut short or corrupt."""
        ...

    def delete(self, snapshot: Snapshot) -> None:
        """Remove the snapshot's data (already gone: nothing to do)."""
        ...

    def check(self, expected: Iterable[Snapshot] = ()) -> tuple[str, ...]:
        """Integrity problems of the store itself (empty: none found): `restic check`; for a
        local directory, the data of an `expected` snapshot that is missing."""
        ...


def open_backup_store(plan: BackupStorePlan, state_dir: Path) -> BackupStore:
    """The store a plan names. A relative location is taken under the state directory; the
    default local store (no location) is `<state_dir>/backups`."""
    if plan.kind == "local":
        from jarvisctl.backup.stores.local import LocalBackupStore

        return LocalBackupStore(plan.name, _location(plan, state_dir))
    if plan.kind == "restic":
        from jarvisctl.backup.stores.restic import ResticBackupStore

        if not plan.password:
            raise BackupStoreError(
                f"backup store {plan.name!r} (restic) has no password: give it one in "
                f"jarvisctl.yml with password: env(NAME) or secret_file(PATH)"
            )
        repository = plan.location
        if not _RESTIC_BACKEND.match(repository):  # a path, not sftp:/s3:/rest:... (restic's own)
            repository = str(_location(plan, state_dir))
        return ResticBackupStore(plan.name, repository, plan.password, state_dir)
    raise BackupStoreError(
        f"backup store {plan.name!r} has unknown kind {plan.kind!r} (valid: local, restic)"
    )


def _location(plan: BackupStorePlan, state_dir: Path) -> Path:
    if not plan.location:
        return state_dir / DEFAULT_LOCAL_DIRECTORY
    location = Path(plan.location).expanduser()
    return location if location.is_absolute() else state_dir / location
