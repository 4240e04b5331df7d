"""The bench of the restore tests: a tree on a real sshd host, snapshots of it taken by the
backup stage's own take_backup into a real store and index, and a restore call."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jarvisctl.backup.restore import RestoreOutcome, restore_snapshot
from jarvisctl.backup.stores.base import BackupStore
from jarvisctl.backup.stores.local import LocalBackupStore
from jarvisctl.backup.take import take_backup
from jarvisctl.connection import open_connection
from jarvisctl.connection.base import Connection
from jarvisctl.core.clock import SYSTEM_CLOCK
from jarvisctl.store.factory import open_store
from jarvisctl.store.snapshots import Snapshot, SnapshotIndex
from tests.backup.helpers import backup_plan
from tests.e2e.backup_hosts import on_host
from tests.e2e.sshd import SshdHost


class Bench:
    """A host, a tree on it, a snapshot of the tree, and the store and index holding it."""

    def __init__(self, host: SshdHost, tmp_path: Path) -> None:
        self.host = host
        self.root = str(tmp_path / "tree")
        self.index: SnapshotIndex = open_store(tmp_path / "state").snapshots
        self.store: BackupStore = LocalBackupStore("local", tmp_path / "store")

    def snapshot(self, compress: str = "gzip", **plan: Any) -> Snapshot:
        """A snapshot of the tree as it is now on the host (or as `plan` says), taken by the
        backup stage's own take_backup and stored `compress`ed."""
        plan = {"paths": (self.root,), **plan}
        with open_connection(self.host.settings()) as connection:
            taken = take_backup(
                connection,
                self.host.name,
                backup_plan(compress=compress, **plan),
                self.store,
                self.index,
                SYSTEM_CLOCK,
            )
        assert taken.snapshot is not None, taken.error
        return taken.snapshot

    def sh(self, command: str) -> bytes:
        return on_host(self.host, command)


def restore(
    bench: Bench, connection: Connection, snapshot: Snapshot, **options: Any
) -> RestoreOutcome:
    arguments = {"to": None, "check": False, "become": False, **options}
    return restore_snapshot(connection, snapshot, bench.store, bench.index, **arguments)


def tree_of(root: Path) -> dict[bytes, tuple[str, int, int, int, bytes]]:
    """Every entry under `root`, by its name in bytes: type, mode, uid, gid, content or target."""
    found: dict[bytes, tuple[str, int, int, int, bytes]] = {}
    base = os.fsencode(root)
    for directory, dirnames, filenames in os.walk(base):
        for name in [*dirnames, *filenames]:
            path = os.path.join(directory, name)
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                kind, content = "link", os.readlink(path)
            elif stat.S_ISREG(info.st_mode):
                kind, content = "file", Path(os.fsdecode(path)).read_bytes()
            else:
                kind, content = stat.filemode(info.st_mode)[0], b""
            mode = stat.S_IMODE(info.st_mode)
            found[path[len(base) :]] = (kind, mode, info.st_uid, info.st_gid, content)
    return found


@pytest.fixture
def bench(sshd_hosts: list[SshdHost], tmp_path: Path) -> Bench:
    return Bench(sshd_hosts[0], tmp_path)


@pytest.fixture
def connection(bench: Bench) -> Iterator[Connection]:
    with open_connection(bench.host.settings()) as opened:
        yield opened
