"""The same restore on other hosts and stores: a host with only busybox, one with only
Debian's Essential commands, and a snapshot kept in a restic repository."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from jarvisctl.backup.restore_plan import Change
from jarvisctl.backup.stores.restic import ResticBackupStore
from jarvisctl.connection import open_connection
from jarvisctl.connection.base import Connection
from tests.e2e.backup_hosts import NEWLINE_NAME, build_tree, fingerprint, on_host
from tests.e2e.restore_bench import Bench, bench, connection, restore
from tests.e2e.sshd import SshdFleet, SshdHost

pytestmark = pytest.mark.e2e

__all__ = ["bench", "connection"]  # fixtures, used by name


@pytest.fixture(scope="module")
def busybox_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshdHost]:
    """A host whose sessions find only busybox's applets on their PATH: its sh, tar, stat,
    sha256sum, mv, ln... (no coreutils, no GNU tar, no GNU find)."""
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.fail("busybox is not installed (Debian package busybox)")
    directory = tmp_path_factory.mktemp("busybox")
    applets = directory / "bin"
    applets.mkdir()
    listed = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True)
    for name in listed.stdout.split():
        (applets / name).symlink_to(busybox)
    fleet = SshdFleet(directory, 1, str(applets))
    try:
        fleet.start()
        yield fleet.hosts[0]
    finally:
        fleet.stop()


def test_a_busybox_host_restores_and_checks_the_same(
    bench: Bench, busybox_host: SshdHost, tmp_path: Path
) -> None:
    build_tree(bench.host, bench.root)
    before = fingerprint(bench.host, bench.root)  # read by a full host: the same filesystem
    snapshot = bench.snapshot()
    assert on_host(busybox_host, 'readlink -f "$(command -v tar)"').strip() == b"/usr/bin/busybox"
    root = shlex.quote(bench.root)
    bench.sh(f"rm -r {root}/data {root}/etc/app.conf && chmod 0700 {root}/bin/run.sh")
    with open_connection(busybox_host.settings()) as connection:
        check = restore(bench, connection, snapshot, check=True)
        outcome = restore(bench, connection, snapshot)
    listed = {c.path.removeprefix(bench.root + "/"): c.change for c in check.changes}
    assert listed["etc/app.conf"] is Change.CREATE
    assert listed[f"data/{NEWLINE_NAME}"] is Change.CREATE
    assert listed["bin/run.sh"] is Change.REPLACE
    assert listed["etc/secret.key"] is Change.UNCHANGED
    assert outcome.ok, outcome.problem
    assert fingerprint(bench.host, bench.root) == before


def test_a_snapshot_in_a_restic_repository_is_restored_the_same(
    bench: Bench, connection: Connection, tmp_path: Path
) -> None:
    if shutil.which("restic") is None:
        pytest.fail("restic is not installed (Debian package restic; scripts/test installs it)")
    bench.store = ResticBackupStore("offsite", str(tmp_path / "repo"), "pass word", tmp_path)
    build_tree(bench.host, bench.root)
    before = fingerprint(bench.host, bench.root)
    snapshot = bench.snapshot(compress="none")
    assert snapshot.store == "offsite" and len(snapshot.location) >= 8  # restic's snapshot id
    bench.sh(f"rm -rf {shlex.quote(bench.root)}")
    outcome = restore(bench, connection, snapshot)
    assert outcome.ok, outcome.problem
    assert fingerprint(bench.host, bench.root) == before


def test_a_host_with_only_debians_essential_commands_restores(
    bench: Bench, bare_sshd_fleet: SshdFleet
) -> None:
    build_tree(bench.host, bench.root)
    before = fingerprint(bench.host, bench.root)
    snapshot = bench.snapshot()
    bench.sh(f"rm -r {shlex.quote(bench.root)}/data")
    with open_connection(bare_sshd_fleet.hosts[0].settings()) as connection:
        outcome = restore(bench, connection, snapshot)
    assert outcome.ok, outcome.problem
    assert fingerprint(bench.host, bench.root) == before
