"""take_backup through the local connection (real sh, tar, gzip/zstd, the real SQLite index):
the snapshot and manifest of an awkward tree, excludes, a failing tar, a full store, a stop,
a timeout, nice/ionice, the bandwidth limit and a secret-bearing command."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jarvisctl.backup.manifest import manifest_of_tar
from jarvisctl.backup.stores.base import open_backup_store
from jarvisctl.backup.stores.local import LocalBackupStore
from jarvisctl.backup.stores.restic import ResticBackupStore
from jarvisctl.backup.take import take_backup
from jarvisctl.config.connection_settings import ConnectionSettings
from jarvisctl.connection.local import LocalConnection
from jarvisctl.core.clock import SYSTEM_CLOCK
from jarvisctl.plan.model import BackupStorePlan
from jarvisctl.store.base import Store
from jarvisctl.store.factory import open_store
from jarvisctl.store.snapshots import SnapshotState
from tests.backup.helpers import (
    AWKWARD_NAMES,
    backup_plan,
    expected_manifest,
    files_under,
    make_tree,
    small_tmpfs,
)
from tests.restic_repo import quick_repository

LOCAL = BackupStorePlan(name="local", kind="local", location="")


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Store]:
    with open_store(tmp_path / "state") as store:
        yield store


@pytest.fixture
def local() -> LocalConnection:
    return LocalConnection(ConnectionSettings(host="ctl", address="localhost", connection="local"))


def local_store(tmp_path: Path) -> LocalBackupStore:
    store = open_backup_store(LOCAL, tmp_path / "state")
    assert isinstance(store, LocalBackupStore)
    return store


@pytest.mark.parametrize("compress", ["gzip", "zstd", "none"])
def test_a_tree_becomes_a_recorded_snapshot_with_its_manifest(
    tmp_path: Path, state: Store, local: LocalConnection, compress: str
) -> None:
    root = make_tree(tmp_path / "tree")
    store = local_store(tmp_path)
    plan = backup_plan(paths=(str(root),), exclude=("*.tmp",), compress=compress)
    taken = take_backup(local, "ctl", plan, store, state.snapshots, SYSTEM_CLOCK)
    assert taken.error is None and taken.snapshot is not None
    snapshot = taken.snapshot
    assert snapshot.id.startswith(time.strftime("%Y%m%dT", time.gmtime()))
    assert snapshot.id.split("-")[1:3] == ["ctl", "conf"]
    assert (snapshot.store, snapshot.source, snapshot.compress) == ("local", "paths", compress)
    assert state.snapshots.get(snapshot.id) == snapshot
    recorded = list(state.snapshots.manifest(snapshot.id))
    got = {e.path: (e.type.value, e.mode, e.size, e.sha256, e.target) for e in recorded}
    expected = expected_manifest(root, excluded=("*.tmp",))
    hard = str(root / "bin" / "hard-link")
    assert got.pop(hard)[0] == "hardlink"
    del expected[hard]
    assert got == expected
    assert snapshot.files == len(recorded)
    assert snapshot.bytes == sum(e.size for e in recorded)
    stored = store.root / snapshot.location
    assert snapshot.stored_bytes == stored.stat().st_size
    assert files_under(store.root) == [snapshot.location]  # no partial file beside it
    with store.open(snapshot) as stream:  # the stored data digests to the same manifest
        assert list(manifest_of_tar(stream)) == recorded


def test_a_failing_tar_records_nothing_and_says_why(
    tmp_path: Path, state: Store, local: LocalConnection
) -> None:
    root = make_tree(tmp_path / "tree")
    store = local_store(tmp_path)
    plan = backup_plan(paths=(str(root), str(tmp_path / "vanished")))
    taken = take_backup(local, "ctl", plan, store, state.snapshots, SYSTEM_CLOCK)
    assert taken.snapshot is None and taken.error is not None
    assert "Cannot stat" in taken.error and "tar exited with status 2" in taken.error
    assert "nothing was kept" in taken.error and "Removing leading" not in taken.error
    assert state.snapshots.list() == ()
    assert files_under(store.root) == []


def test_a_full_store_records_nothing_and_the_next_backup_fits(
    tmp_path: Path, state: Store, local: LocalConnection
) -> None:
    (tmp_path / "big").mkdir()
    (tmp_path / "big" / "random").write_bytes(os.urandom(3 * 1024 * 1024))
    with small_tmpfs(tmp_path / "small", "2m") as small:
        store = LocalBackupStore("local", small / "backups")
        plan = backup_plan(paths=(str(tmp_path / "big"),), compress="none")
        taken = take_backup(local, "ctl", plan, store, state.snapshots, SYSTEM_CLOCK)
        assert taken.snapshot is None and taken.error is not None
        assert "backup store 'local' is full" in taken.error
        assert state.snapshots.list() == () and files_under(small) == []
        (tmp_path / "big" / "random").write_bytes(os.urandom(100_000))
        again = take_backup(local, "ctl", plan, store, state.snapshots, SYSTEM_CLOCK)
        assert again.snapshot is not None, again.error
        assert files_under(small / "backups") == [again.snapshot.location]


def test_a_stop_mid_transfer_records_nothing(
    tmp_path: Path, state: Store, local: LocalConnection
) -> None:
    store = local_store(tmp_path)
    plan = backup_plan(
        source="command",
        command="head -c 100000000 /dev/zero",
        file="z",
        bandwidth=1_000_000,
        compress="none",  # 100 MB on the wire at 1 MB/s (gzip made it 97 KB: done before the stop)
    )
    cancel = threading.Event()
    threading.Timer(1.0, cancel.set).start()
    started = time.monotonic()
    taken = take_backup(local, "ctl", plan, store, state.snapshots, SYSTEM_CLOCK, cancel)
    assert time.monotonic() - started < 30
    assert taken.snapshot is None and taken.interrupted
    assert taken.error is not None and "stopped" in taken.error
    assert state.snapshots.list() == () and files_under(store.root) == []


def test_a_timeout_records_nothing(tmp_path: Path, state: Store, local: LocalConnection) -> None:
    store = local_store(tmp_path)
    plan = backup_plan(source="command", command="echo start; sleep 30", file="x", timeout=1.0)
    taken = take_backup(local, "ctl", plan, store, state.snapshots, SYSTEM_CLOCK)
    assert taken.snapshot is None and taken.error is not None
    assert "did not finish within its timeout (1s)" in taken.error
    assert files_under(store.root) == []


def test_a_command_backup_is_one_file_and_its_secret_never_shows(
    tmp_path: Path, state: Store, local: LocalConnection
) -> None:
    store = local_store(tmp_path)
    secret = "hunter2-pw-xyz"
    plan = backup_plan(
        source="command", command=f"printf 'dump %s\\n' {secret}", file="app.dump", compress="zstd"
    )
    taken = take_backup(local, "ctl", plan, store, state.snapshots, SYSTEM_CLOCK)
    assert taken.snapshot is not None, taken.error
    (entry,) = state.snapshots.manifest(taken.snapshot.id)
    assert (entry.path, entry.type.value, entry.size) == ("app.dump", "file", len(secret) + 6)
    with store.open(taken.snapshot) as stream:
        assert stream.read() == f"dump {secret}\n".encode()
    failing = backup_plan(
        source="command", command=f"echo 'auth {secret} refused' >&2; exit 3", file="x"
    )
    taken = take_backup(
        local, "ctl", failing, store, state.snapshots, SYSTEM_CLOCK, secrets=[secret]
    )
    assert taken.error is not None and "exited with status 3" in taken.error
    assert secret not in taken.error and "auth *** refused" in taken.error


def test_nice_and_ionice_apply_to_the_hosts_side(
    tmp_path: Path, state: Store, local: LocalConnection
) -> None:
    store = local_store(tmp_path)
    probe = "cut -d' ' -f19 /proc/self/stat; ionice -p $$"
    for nice, expected in ((True, b"19\nidle\n"), (False, b"0\nnone: prio 0\n")):
        plan = backup_plan(source="command", command=probe, file="p", nice=nice, compress="none")
        taken = take_backup(local, "ctl", plan, store, state.snapshots, SYSTEM_CLOCK)
        assert taken.snapshot is not None, taken.error
        with store.open(taken.snapshot) as stream:
            assert stream.read() == expected


def test_the_bandwidth_limit_holds_the_transfer_back(
    tmp_path: Path, state: Store, local: LocalConnection
) -> None:
    store = local_store(tmp_path)
    plan = backup_plan(
        source="command", command="head -c 3000000 /dev/urandom", file="r", compress="none",
        bandwidth=1_000_000,
    )  # fmt: skip
    started = time.monotonic()
    taken = take_backup(local, "ctl", plan, store, state.snapshots, SYSTEM_CLOCK)
    elapsed = time.monotonic() - started
    assert taken.snapshot is not None, taken.error
    assert taken.snapshot.bytes == 3_000_000
    assert elapsed >= 2.0  # 3 MB at 1 MB/s: the first chunks are free, the rest wait
    assert taken.snapshot.state is SnapshotState.UNVERIFIED


@pytest.mark.skipif(shutil.which("restic") is None, reason="restic is not installed")
def test_a_tree_into_restic_reads_back_to_the_same_manifest(
    tmp_path: Path, state: Store, local: LocalConnection
) -> None:
    root = make_tree(tmp_path / "tree")
    stores = BackupStorePlan(name="offsite", kind="restic", location="repo", password="pw-restic")
    store = open_backup_store(stores, tmp_path / "state")
    assert isinstance(store, ResticBackupStore)
    quick_repository(Path(store.repository), "pw-restic")  # tests/restic_repo.py
    plan = backup_plan(paths=(str(root),), compress="zstd", store=stores)
    taken = take_backup(local, "ctl", plan, store, state.snapshots, SYSTEM_CLOCK)
    assert taken.snapshot is not None, taken.error
    assert (taken.snapshot.store, taken.snapshot.compress) == ("offsite", "none")
    recorded = list(state.snapshots.manifest(taken.snapshot.id))
    with store.open(taken.snapshot) as stream:
        assert list(manifest_of_tar(stream)) == recorded
    assert len(recorded) == len(expected_manifest(root))


class _DroppingConnection(LocalConnection):
    """The local connection, whose channel fails mid-stream the way the SSH library's can
    (paramiko raises its own SSHException or EOFError from recv): a real transfer, cut."""

    def run(self, command: str, *, timeout: float, stdin: str | None = None, sink=None):  # type: ignore[no-untyped-def]
        assert sink is not None
        inner, seen = sink, [0]

        class Cut:
            ended = False

            def stdout(self, data: bytes) -> None:
                inner.stdout(data)
                seen[0] += len(data)
                if seen[0] > 200_000:
                    raise EOFError("the channel went away")

            def stderr(self, data: bytes) -> None:
                inner.stderr(data)

        return super().run(command, timeout=timeout, stdin=stdin, sink=Cut())


def test_a_library_error_mid_stream_is_a_value_not_a_crash(tmp_path: Path, state: Store) -> None:
    store = local_store(tmp_path)
    dropping = _DroppingConnection(ConnectionSettings(host="c", address="c", connection="local"))
    plan = backup_plan(source="command", command="head -c 5000000 /dev/urandom", file="r")
    taken = take_backup(dropping, "c", plan, store, state.snapshots, SYSTEM_CLOCK)
    assert taken.snapshot is None and taken.error is not None
    assert "the connection failed mid-transfer (EOFError: the channel went away)" in taken.error
    assert state.snapshots.list() == () and files_under(store.root) == []


def test_awkward_paths_and_globs_reach_tar_as_they_are(
    tmp_path: Path, state: Store, local: LocalConnection
) -> None:
    root = make_tree(tmp_path / "tree")
    nested = root / "etc" / "nested"
    wanted = [nested / name for name in AWKWARD_NAMES[:3]]
    plan = backup_plan(
        paths=(*(str(p) for p in wanted), str(root / "bin")),
        exclude=(str(root / "bin" / "run.sh"), '*\'s "quoted"*'),
    )
    taken = take_backup(local, "ctl", plan, local_store(tmp_path), state.snapshots, SYSTEM_CLOCK)
    assert taken.snapshot is not None, taken.error
    paths = {e.path for e in state.snapshots.manifest(taken.snapshot.id)}
    assert paths == {
        str(wanted[0]),
        str(wanted[1]),
        str(root / "bin"),
        str(root / "bin" / "hard-link"),
    }
