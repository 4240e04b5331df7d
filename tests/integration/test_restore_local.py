"""A restore through the local connection (`connection: local`, no SSH): the same steps and
scripts run by /bin/sh on this machine, the snapshot taken by take_backup the same way."""

from __future__ import annotations

import os
from pathlib import Path

from jarvisctl.backup.restore import restore_snapshot
from jarvisctl.backup.restore_plan import Change
from jarvisctl.backup.stores.local import LocalBackupStore
from jarvisctl.backup.take import take_backup
from jarvisctl.config.connection_settings import ConnectionSettings
from jarvisctl.connection.local import LocalConnection
from jarvisctl.core.clock import SYSTEM_CLOCK
from jarvisctl.store.factory import open_store
from tests.backup.helpers import backup_plan


def test_a_tree_comes_back_through_the_local_connection(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "sub dir").mkdir(parents=True)
    (tree / "sub dir" / "a\nb").write_text("content\n")
    (tree / "sub dir" / "a\nb").chmod(0o640)
    (tree / "link").symlink_to("sub dir")
    connection = LocalConnection(ConnectionSettings(host="local", address="localhost"))
    index = open_store(tmp_path / "state").snapshots
    store = LocalBackupStore("local", tmp_path / "backups")
    plan = backup_plan(paths=(str(tree),))
    taken = take_backup(connection, "local", plan, store, index, SYSTEM_CLOCK)
    assert taken.snapshot is not None, taken.error
    (tree / "sub dir" / "a\nb").write_text("changed\n")
    (tree / "link").unlink()
    checked = restore_snapshot(
        connection, taken.snapshot, store, index, to=None, check=True, become=False
    )
    assert {c.path: c.change for c in checked.changes if c.change is not Change.UNCHANGED} == {
        f"{tree}/sub dir/a\nb": Change.REPLACE,
        f"{tree}/link": Change.CREATE,
    }
    outcome = restore_snapshot(
        connection, taken.snapshot, store, index, to=None, check=False, become=False
    )
    assert outcome.ok, outcome.problem
    assert (tree / "sub dir" / "a\nb").read_text() == "content\n"
    assert os.readlink(tree / "link") == "sub dir"
    assert sorted(p.name for p in (tree / "sub dir").iterdir()) == ["a\nb"]  # nothing left
