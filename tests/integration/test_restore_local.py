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


def _snapshot(tmp_path: Path, paths: tuple[str, ...]):  # type: ignore[no-untyped-def]
    connection = LocalConnection(ConnectionSettings(host="local", address="localhost"))
    index = open_store(tmp_path / "state").snapshots
    store = LocalBackupStore("local", tmp_path / "backups")
    taken = take_backup(connection, "local", backup_plan(paths=paths), store, index, SYSTEM_CLOCK)
    assert taken.snapshot is not None, taken.error
    return connection, index, store, taken.snapshot


def test_a_path_held_below_a_link_the_snapshot_holds_is_never_restored_through_it(
    tmp_path: Path,
) -> None:
    """Overlapping paths through a link ([/X/evil, /X/evil/d/f], d -> elsewhere): restoring
    d/f would write (or, undone, remove) the live file the link points at. Refused, and the
    live file outside --to is untouched."""
    import pytest

    from jarvisctl.backup.restore_plan import RestoreRefusedError

    live = tmp_path / "live"
    live.mkdir()
    (live / "f").write_text("live\n")
    evil = tmp_path / "X" / "evil"
    evil.mkdir(parents=True)
    (evil / "d").symlink_to(live)
    connection, index, store, snapshot = _snapshot(tmp_path, (str(evil), str(evil / "d" / "f")))
    to = tmp_path / "to"
    to.mkdir()
    with pytest.raises(RestoreRefusedError, match="also holds as a symbolic link"):
        restore_snapshot(connection, snapshot, store, index, to=str(to), check=False, become=False)
    assert (live / "f").read_text() == "live\n"
    assert list(to.iterdir()) == []


def test_a_directory_above_the_restored_paths_that_is_someone_elses_link_stops_it(
    tmp_path: Path,
) -> None:
    """A directory above a backed-up path, replaced by a link owned by another user, would
    steer the restore's writes (root's, with become) anywhere: the restore stops there, in
    --check as well, and writes nothing through it. A link owned by root (this test's user)
    is followed, as /lib -> usr/lib is."""
    conf = tmp_path / "user" / "conf"
    conf.mkdir(parents=True)
    (conf / "app.conf").write_text("mine\n")
    connection, index, store, snapshot = _snapshot(tmp_path, (str(conf / "app.conf"),))
    victim = tmp_path / "victim"
    victim.mkdir()
    (conf / "app.conf").unlink()
    conf.rmdir()
    conf.symlink_to(victim)
    os.lchown(conf, 65534, 65534)  # nobody's link, as a user who owns user/ could make
    for check in (True, False):
        outcome = restore_snapshot(
            connection, snapshot, store, index, to=None, check=check, become=False
        )
        assert not outcome.ok
        assert outcome.problem is not None
        assert f"{conf} is a symbolic link owned by uid 65534" in outcome.problem
    assert list(victim.iterdir()) == []
    os.lchown(conf, os.getuid(), os.getgid())  # the restoring user's own link: followed
    outcome = restore_snapshot(
        connection, snapshot, store, index, to=None, check=False, become=False
    )
    assert outcome.ok, outcome.problem
    assert (victim / "app.conf").read_text() == "mine\n"
