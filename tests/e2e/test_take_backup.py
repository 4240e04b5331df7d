"""take_backup over real SSH (sshd test hosts): the issue's tree read back as the host's own
find/sha256sum see it, sshd killed mid-transfer, a remote timeout, become, and the connection's
own error text never quoting the backup's command."""

from __future__ import annotations

import shlex
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jarvisctl.backup.stores.local import LocalBackupStore
from jarvisctl.backup.take import take_backup
from jarvisctl.connection import open_connection
from jarvisctl.connection.base import Connection
from jarvisctl.core.clock import SYSTEM_CLOCK
from jarvisctl.store.base import Store
from jarvisctl.store.factory import open_store
from tests.backup.helpers import backup_plan, files_under
from tests.e2e.backup_hosts import (
    build_tree,
    expected_paths,
    fingerprint,
    host_has,
    kill_sshd,
    on_host,
)
from tests.e2e.sshd import SshdFleet, SshdHost

pytestmark = pytest.mark.e2e

_FIND_TYPE = {"file": "f", "dir": "d", "symlink": "l"}


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Store]:
    with open_store(tmp_path / "state") as store:
        yield store


@pytest.fixture
def connection(sshd_hosts: list[SshdHost]) -> Iterator[Connection]:
    connection = open_connection(sshd_hosts[2].settings())
    try:
        yield connection
    finally:
        connection.close()


@pytest.mark.parametrize("compress", ["gzip", "zstd"])
def test_the_tree_is_taken_as_the_host_sees_it(
    tmp_path: Path, state: Store, sshd_hosts: list[SshdHost], connection: Connection, compress: str
) -> None:
    host = sshd_hosts[2]
    root = f"/tmp/jarvis-take-{compress}-{time.monotonic_ns()}"
    build_tree(host, root)
    try:
        on_host(host, f"mkdir {shlex.quote(root)}/cache && echo x > {shlex.quote(root)}/cache/a")
        store = LocalBackupStore("local", tmp_path / "backups")
        plan = backup_plan(paths=(root,), exclude=(f"{root}/cache",), compress=compress, nice=True)
        taken = take_backup(connection, host.name, plan, store, state.snapshots, SYSTEM_CLOCK)
        if not host_has(host, compress):  # a bare host (JARVIS_TEST_HIDE_TOOLS): said, not kept
            assert taken.snapshot is None and taken.error is not None
            assert f"{compress} is not installed on this host" in taken.error
            assert state.snapshots.list() == () and files_under(store.root) == []
            return
        assert taken.snapshot is not None, taken.error
        on_host_now = fingerprint(host, root)
        del on_host_now["cache"], on_host_now["cache/a"]
        assert set(on_host_now) == expected_paths()
        manifest = {e.path: e for e in state.snapshots.manifest(taken.snapshot.id)}
        assert set(manifest) == {f"{root}/{p}" if p else root for p in on_host_now}
        for relative, seen in on_host_now.items():
            entry = manifest[f"{root}/{relative}" if relative else root]
            assert _FIND_TYPE[entry.type.value] == seen.type, relative
            assert f"{entry.mode:o}" == seen.mode, relative
            assert entry.owner == seen.owner, relative
            assert entry.sha256 == seen.sha256, relative
            assert (entry.target or "") == seen.target, relative
            if seen.type == "f":
                assert entry.size == seen.size, relative
        assert files_under(tmp_path / "backups") == [taken.snapshot.location]
    finally:
        on_host(host, f"rm -rf {shlex.quote(root)}")


def test_sshd_killed_mid_transfer_leaves_no_snapshot_and_no_file(
    tmp_path: Path, state: Store, sshd_fleet: SshdFleet, sshd_hosts: list[SshdHost]
) -> None:
    host = sshd_hosts[3]
    connection = open_connection(host.settings())
    store = LocalBackupStore("local", tmp_path / "backups")
    secret = "pw-in-the-command-42"
    plan = backup_plan(
        source="command",
        command=f"head -c 400000000 /dev/zero # {secret}",
        file="zeros",
        compress="none",
        bandwidth=4_000_000,
    )
    killed: list[int] = []

    def kill_once_data_flows() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            partial = [p for p in store.root.rglob(".*.partial") if p.stat().st_size > 500_000]
            if partial:
                killed.extend(kill_sshd(host))
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_once_data_flows)
    killer.start()
    try:
        taken = take_backup(
            connection, host.name, plan, store, state.snapshots, SYSTEM_CLOCK, secrets=[secret]
        )
        killer.join()
        assert killed, "the transfer was under way when sshd was killed"
        assert taken.snapshot is None and taken.error is not None
        assert "lost the SSH connection" in taken.error and "nothing was kept" in taken.error
        assert secret not in taken.error and "head -c" not in taken.error
        assert state.snapshots.list() == () and files_under(store.root) == []
    finally:
        killer.join()
        connection.close()
        sshd_fleet.reset()
    # the host is back: the next backup succeeds
    again = open_connection(host.settings())
    try:
        small = backup_plan(source="command", command="echo ok", file="ok", compress="gzip")
        taken = take_backup(again, host.name, small, store, state.snapshots, SYSTEM_CLOCK)
        assert taken.snapshot is not None, taken.error
    finally:
        again.close()


def test_a_remote_timeout_ends_the_hosts_side(
    tmp_path: Path, state: Store, connection: Connection
) -> None:
    store = LocalBackupStore("local", tmp_path / "backups")
    marker = f"3000.{time.monotonic_ns() % 10**8:08d}"
    plan = backup_plan(
        source="command", command=f"echo begin; sleep {marker}", file="x", timeout=1.5
    )
    taken = take_backup(connection, "h", plan, store, state.snapshots, SYSTEM_CLOCK)
    assert taken.error is not None and "did not finish within its timeout (1.5s)" in taken.error
    assert files_under(store.root) == []
    on_host_left = on_host_processes(connection, marker)
    assert on_host_left == "", f"sleep {marker} still runs on the host: {on_host_left}"


def on_host_processes(connection: Connection, marker: str) -> str:
    deadline = time.monotonic() + 10
    while True:
        left = connection.run(f"pgrep -af 'slee[p] {marker}' || true", timeout=10).stdout
        if not left.strip() or time.monotonic() > deadline:
            return left.strip()
        time.sleep(0.2)


def test_become_as_the_login_user_needs_no_sudo(
    tmp_path: Path, state: Store, connection: Connection
) -> None:
    store = LocalBackupStore("local", tmp_path / "backups")
    plan = backup_plan(source="command", command="id -un", file="who", become=True)
    taken = take_backup(connection, "h", plan, store, state.snapshots, SYSTEM_CLOCK)
    assert taken.snapshot is not None, taken.error
    with store.open(taken.snapshot) as stream:
        assert stream.read() == b"root\n"


def test_a_bare_host_needs_only_sh_tar_and_gzip_and_zstd_is_asked_for_by_name(
    tmp_path: Path, state: Store, bare_sshd_fleet: SshdFleet
) -> None:
    host = bare_sshd_fleet.hosts[0]
    root = f"/tmp/jarvis-bare-{time.monotonic_ns()}"
    build_tree(host, root)
    connection = open_connection(host.settings())
    try:
        store = LocalBackupStore("local", tmp_path / "backups")
        plan = backup_plan(paths=(root,), compress="gzip", nice=True)
        taken = take_backup(connection, host.name, plan, store, state.snapshots, SYSTEM_CLOCK)
        assert taken.snapshot is not None, taken.error
        assert taken.snapshot.files == len(expected_paths())
        zstd = backup_plan(paths=(root,), compress="zstd")
        taken = take_backup(connection, host.name, zstd, store, state.snapshots, SYSTEM_CLOCK)
        assert taken.error is not None and "zstd is not installed on this host" in taken.error
    finally:
        connection.close()
        on_host(host, f"rm -rf {shlex.quote(root)}")
