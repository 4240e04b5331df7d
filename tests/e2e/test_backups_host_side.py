"""The host's side of a backup on real sshd hosts, as other users of the host see it: the
backup's command (a secret in it) is in no process's command line while it runs, only tar's own
argv holds the paths, and GNU tar's "file changed as we read it" keeps the snapshot with a
warning. The hosts are local processes, so /proc here is the host's process list."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jarvisctl.backup.stores.local import LocalBackupStore
from jarvisctl.backup.take import BackupTaken, take_backup
from jarvisctl.connection import open_connection
from jarvisctl.connection.base import Connection
from jarvisctl.core.clock import SYSTEM_CLOCK
from jarvisctl.plan.model import BackupPlan
from jarvisctl.store.base import Store
from jarvisctl.store.factory import open_store
from tests.backup.helpers import backup_plan
from tests.e2e.processes import watching_processes
from tests.e2e.sshd import SshdHost

pytestmark = pytest.mark.e2e


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Store]:
    with open_store(tmp_path / "state") as store:
        yield store


@pytest.fixture
def connection(sshd_hosts: list[SshdHost]) -> Iterator[Connection]:
    connection = open_connection(sshd_hosts[1].settings())
    try:
        yield connection
    finally:
        connection.close()


def take_watching(
    connection: Connection,
    plan: BackupPlan,
    store: LocalBackupStore,
    state: Store,
    secrets: tuple[str, ...] = (),
) -> tuple[BackupTaken, list[str]]:
    """Take `plan` while another thread reads every command line on the host, over and over;
    the backup, and every command line seen."""
    with watching_processes() as seen:
        index = state.snapshots
        taken = take_backup(connection, "h", plan, store, index, SYSTEM_CLOCK, secrets=secrets)
    return taken, sorted(seen)


def test_a_commands_secret_is_in_no_process_list_while_it_runs(
    tmp_path: Path, state: Store, connection: Connection
) -> None:
    store = LocalBackupStore("local", tmp_path / "backups")
    secret = f"pw-{time.monotonic_ns()}-marker"
    pause = f"2.{time.monotonic_ns() % 10**6:06d}"  # names this test's sleep on the host
    command = f"PGPASSWORD='{secret}'; printf 'dump %s\\n' \"$PGPASSWORD\"; sleep {pause}"
    plan = backup_plan(source="command", command=command, file="db.sql", nice=True)
    taken, seen = take_watching(connection, plan, store, state, secrets=(secret,))
    assert taken.snapshot is not None, taken.error
    assert f"sleep {pause}" in seen, "the watcher saw the host's side while it ran"
    assert [line for line in seen if secret in line] == []
    # nothing of the command's text either: only the sleep it started shows its marker (other
    # processes of this machine, a CI harness's own script, may say printf: not ours)
    assert [line for line in seen if "printf 'dump" in line] == []
    assert [line for line in seen if pause in line and line != f"sleep {pause}"] == []
    # the exec line sshd ran: the script shell under the timeout, and nothing of the backup
    execs = [line for line in seen if "jarvisctl-run:" in line and "exec sh -s" in line]
    assert execs and all("PGPASSWORD" not in line for line in execs), execs
    with store.open(taken.snapshot) as stream:
        assert stream.read() == f"dump {secret}\n".encode()  # the data is the data
    # the secret stays out of a failure's message
    failing = backup_plan(
        source="command", command=f"echo 'auth {secret} refused' >&2; sleep {pause}; exit 3"
    )
    taken, seen = take_watching(connection, failing, store, state, secrets=(secret,))
    assert taken.error is not None and "exited with status 3" in taken.error
    assert secret not in taken.error and "auth *** refused" in taken.error
    assert f"sleep {pause}" in seen and [line for line in seen if secret in line] == []


def test_become_runs_the_script_as_root_with_nothing_in_the_process_list(
    tmp_path: Path, state: Store, connection: Connection
) -> None:
    store = LocalBackupStore("local", tmp_path / "backups")
    secret = f"become-{time.monotonic_ns()}"
    pause = f"2.{time.monotonic_ns() % 10**6:06d}"
    plan = backup_plan(
        source="command", command=f": {secret}; id -un; sleep {pause}", file="w", become=True
    )
    taken, seen = take_watching(connection, plan, store, state)
    assert taken.snapshot is not None, taken.error
    assert f"sleep {pause}" in seen and [line for line in seen if secret in line] == []
    with store.open(taken.snapshot) as stream:
        assert stream.read() == b"root\n"


def test_only_tars_own_argv_holds_the_paths(
    tmp_path: Path, state: Store, connection: Connection
) -> None:
    root = tmp_path / f"paths-{time.monotonic_ns()}"
    root.mkdir()
    (root / "blob").write_bytes(os.urandom(6_000_000))
    store = LocalBackupStore("local", tmp_path / "backups")
    # throttled: tar waits on the full channel, long enough to be seen
    plan = backup_plan(paths=(str(root),), compress="none", bandwidth=2_000_000, nice=True)
    taken, seen = take_watching(connection, plan, store, state)
    assert taken.snapshot is not None, taken.error
    holding = [line for line in seen if str(root) in line]
    assert holding, "the watcher saw tar while it ran"
    # tar's argv: the archive on stdout, jarvisctl's own excludes, then the path
    assert all(line.startswith("tar -c -f - --exclude=") for line in holding), holding
    assert all(line.endswith(f" -- {root}") for line in holding), holding


def test_a_file_growing_while_tar_reads_it_is_kept_with_a_warning(
    tmp_path: Path, state: Store, connection: Connection
) -> None:
    root = tmp_path / f"growing-{time.monotonic_ns()}"
    root.mkdir()
    log = root / "app.log"
    log.write_bytes(os.urandom(6_000_000))
    (root / "steady.conf").write_text("port = 1\n")
    store = LocalBackupStore("local", tmp_path / "backups")
    plan = backup_plan(paths=(str(root),), compress="gzip", bandwidth=2_000_000)
    done = threading.Event()

    def write_log() -> None:  # the application, appending all along
        with log.open("ab", buffering=0) as out:
            while not done.wait(0.02):
                out.write(b"a log line\n")

    writer = threading.Thread(target=write_log)
    writer.start()
    try:
        taken = take_backup(connection, "h", plan, store, state.snapshots, SYSTEM_CLOCK)
    finally:
        done.set()
        writer.join()
    assert taken.snapshot is not None, taken.error
    assert taken.warning is not None
    assert "tar exited with status 1" in taken.warning
    assert "file changed as we read it" in taken.warning
    manifest = {e.path.rsplit("/", 1)[-1]: e for e in state.snapshots.manifest(taken.snapshot.id)}
    assert {"app.log", "steady.conf"} <= set(manifest)
    assert manifest["app.log"].size >= 6_000_000  # as tar read it: the whole member


def test_tar_failing_outright_still_fails_the_backup(
    tmp_path: Path, state: Store, connection: Connection
) -> None:
    store = LocalBackupStore("local", tmp_path / "backups")
    plan = backup_plan(paths=(str(tmp_path / "no-such-dir"),))
    taken = take_backup(connection, "h", plan, store, state.snapshots, SYSTEM_CLOCK)
    assert taken.snapshot is None and taken.error is not None
    assert "tar exited with status 2" in taken.error and taken.warning is None
    assert state.snapshots.list() == ()
