"""What `jarvisctl backups list|show` read: the snapshot index, as frozen values, and the
names an argument may give (a host, a backup) with what is known of them when it gives
another. A reader never creates, migrates or writes the store.

The actions (verify, prune, restore) are in app/backup_actions.py and app/backup_restore.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from jarvisctl.config.project import Project, resolve_inventory
from jarvisctl.core.errors import UsageError, known_list
from jarvisctl.core.frozen import frozen
from jarvisctl.core.secrets import SecretValues
from jarvisctl.store.base import Store
from jarvisctl.store.factory import open_store
from jarvisctl.store.snapshots import ManifestEntry, Snapshot


class UnknownBackupError(UsageError):
    """A HOST or backup NAME argument that names nothing jarvisctl knows: exit 2."""


@frozen
class SnapshotFilter:
    host: str | None = None
    backup: str | None = None
    inventory: tuple[Path, ...] = ()  # every -i: where an unknown HOST is looked for
    playbooks: tuple[Path, ...] = ()  # where an unknown backup NAME is looked for


def list_snapshots(project: Project, wanted: SnapshotFilter) -> tuple[Snapshot, ...]:
    """The snapshots `wanted` selects, newest first. None is an answer when the host is in the
    inventory and the backup is declared for it (nothing taken yet); a name that is neither
    there nor in the index is an UnknownBackupError saying what is known."""
    with reader(project) as store:
        found = store.snapshots.list(wanted.host, wanted.backup)
        if found:
            return found
        every = store.snapshots.list()
    _known_or_raise(project, wanted, every)
    return ()


@contextmanager
def snapshot_manifest(
    project: Project, snapshot_id: str
) -> Iterator[tuple[Snapshot, Iterator[ManifestEntry]]]:
    """A snapshot (by id or a unique prefix: UnknownSnapshotError otherwise) and its manifest,
    read a page at a time while the block lasts: a manifest of a million files is never held."""
    with reader(project) as store:
        snapshot = store.snapshots.get(snapshot_id)
        yield snapshot, store.snapshots.manifest(snapshot.id)


def _known_or_raise(project: Project, wanted: SnapshotFilter, every: tuple[Snapshot, ...]) -> None:
    if wanted.host is not None and wanted.host not in {s.host for s in every}:
        hosts = inventory_hosts(project, wanted.inventory)
        if wanted.host not in hosts:
            raise UnknownBackupError(
                f"unknown host {wanted.host!r}: not in the inventory, and no snapshot of it is "
                f"recorded ({known_list({*hosts, *(s.host for s in every)}, near=wanted.host)})"
            )
    if wanted.backup is None:
        return
    recorded = {s.backup for s in every if wanted.host in (None, s.host)}
    if wanted.backup in recorded:
        return
    declared, planned = declared_backups(project, wanted, SecretValues())
    if wanted.backup not in declared:
        whose = f" of host {wanted.host!r}" if wanted.host else ""
        plays = "no play declares it" if planned else "the playbooks do not plan (`jarvisctl plan`)"
        raise UnknownBackupError(
            f"unknown backup {wanted.backup!r}{whose}: {plays}, and no snapshot of it is "
            f"recorded ({known_list({*declared, *recorded}, near=wanted.backup)})"
        )


def inventory_hosts(project: Project, inventory: tuple[Path, ...]) -> set[str]:
    return set(resolve_inventory(project, inventory).hosts)


def declared_backups(
    project: Project, wanted: SnapshotFilter, secrets: SecretValues
) -> tuple[set[str], bool]:
    """The backup names the project's plays declare (for `wanted.host`, when given), and
    whether every playbook planned (a playbook with a mistake declares nothing here)."""
    from jarvisctl.app.plan import PlanRequest, plan_playbooks

    plan = plan_playbooks(project, PlanRequest(wanted.playbooks, wanted.inventory), secrets)
    return {
        backup.name
        for book in plan.playbooks
        for play in book.plays
        for host in play.hosts
        if wanted.host in (None, host.host)
        for backup in host.backups
    }, plan.ok


def reader(project: Project) -> Store:
    """The store for reading: a missing one reads as empty, a full or read-only state
    directory still reads."""
    return open_store(project.state_dir, readonly=True)
