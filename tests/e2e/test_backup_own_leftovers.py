"""A path backup leaves out what jarvisctl itself leaves beside files when it is cut off (a
restore's `.jarvisctl-new-<8 hex>-<N>` and `.jarvisctl-old-<8 hex>-<N>`, a copy step's
`DEST.jarvisctl-new-XXXXXX`), at any depth, and keeps an operator's files of other shapes: with
GNU tar on a real sshd host, and on a host whose only tar is Debian's busybox (built without
--exclude: it stores them, and a backup with `exclude:` of its own is refused with a message)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

from jarvisctl.backup.host_command import OWN_LEFTOVERS
from jarvisctl.backup.restore_plan import place
from jarvisctl.backup.stores.local import LocalBackupStore
from jarvisctl.backup.take import BackupTaken, take_backup
from jarvisctl.connection import open_connection
from jarvisctl.core.clock import SYSTEM_CLOCK
from jarvisctl.plan.model import BackupPlan
from jarvisctl.store.base import Store
from jarvisctl.store.factory import open_store
from jarvisctl.store.snapshots import EntryType, ManifestEntry
from tests.backup.helpers import backup_plan
from tests.e2e.backup_hosts import on_host
from tests.e2e.sshd import SshdFleet, SshdHost

pytestmark = pytest.mark.e2e

# jarvisctl's own names (a restore's token is 8 lowercase hex digits; N its manifest index)
OWN = (
    ".jarvisctl-new-0a1b2c3d-0",
    ".jarvisctl-new-deadbeef-12",
    ".jarvisctl-old-0123abcd-7",
    "app.conf.jarvisctl-new-a1B2c3",
)
# an operator's names that only look alike: kept
THEIRS = (
    ".jarvisctl-new-mine",
    ".jarvisctl-old-mine",
    ".jarvisctl-new-DEADBEEF-1",  # not lowercase hex
    ".jarvisctl-new-deadbeef-x",  # no index
    ".jarvisctl-new-deadbee-1",  # seven digits
    "x.jarvisctl-new-deadbeef-3",  # not at the start of the name
    "app.conf.jarvisctl-new-a1B2",  # not mktemp's six characters
    "keep",
)


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Store]:
    with open_store(tmp_path / "state") as store:
        yield store


@pytest.fixture(scope="module")
def busybox_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshdHost]:
    """A host whose sessions find only busybox's applets on their PATH (its tar included)."""
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.fail("busybox is not installed (Debian package busybox)")
    directory = tmp_path_factory.mktemp("busybox-tar")
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


def tree_with_leftovers(root: Path) -> None:
    """Both kinds of names at three depths, and a kept-aside directory with a file in it."""
    for directory in (root, root / "sub", root / "sub" / "deeper"):
        directory.mkdir(parents=True, exist_ok=True)
        for name in (*OWN, *THEIRS):
            (directory / name).write_text(f"{name}\n")
    aside = root / "sub" / ".jarvisctl-old-feedf00d-3"
    aside.mkdir()
    (aside / "inner").write_text("kept aside by a restore\n")


def take(host: SshdHost, plan: BackupPlan, tmp_path: Path, state: Store) -> BackupTaken:
    store = LocalBackupStore("local", tmp_path / "backups")
    with open_connection(host.settings()) as connection:
        return take_backup(connection, "h", plan, store, state.snapshots, SYSTEM_CLOCK)


def names_at(state: Store, snapshot_id: str, root: Path) -> set[str]:
    prefix = str(root).lstrip("/") + "/"
    paths = (e.path.lstrip("/") for e in state.snapshots.manifest(snapshot_id))
    return {p.removeprefix(prefix) for p in paths}


def expected(names: tuple[str, ...]) -> set[str]:
    return {f"{d}{n}" for d in ("", "sub/", "sub/deeper/") for n in names}


def test_restore_names_are_what_the_backup_leaves_out() -> None:
    """The names a restore writes (restore_plan.place) match OWN_LEFTOVERS, the operator's do
    not: one definition of the shape on both sides."""
    entry = ManifestEntry("/etc/app.conf", EntryType.FILE, 0o644, "root:root", 0, 0, 1, 0.0)
    entries = [entry] * 12
    for placed in place(entries, None, "0a1b2c3d"):
        for written in (placed.temporary, placed.kept):
            name = written.rsplit("/", 1)[1]
            assert any(fnmatchcase(name, glob) for glob in OWN_LEFTOVERS), name
    for name in OWN:
        assert any(fnmatchcase(name, glob) for glob in OWN_LEFTOVERS), name
    for name in THEIRS:
        assert not any(fnmatchcase(name, glob) for glob in OWN_LEFTOVERS), name


def test_gnu_tar_leaves_out_jarvisctls_leftovers_at_any_depth(
    sshd_hosts: list[SshdHost], tmp_path: Path, state: Store
) -> None:
    root = tmp_path / "tree"
    tree_with_leftovers(root)
    (root / "sub" / "scratch.tmp").write_text("the plan's own exclude\n")
    plan = backup_plan(paths=(str(root),), exclude=("*.tmp",))
    taken = take(sshd_hosts[0], plan, tmp_path, state)
    assert taken.snapshot is not None, taken.error
    stored = names_at(state, taken.snapshot.id, root)
    assert expected(THEIRS) <= stored
    assert stored.isdisjoint(expected(OWN))
    leftover = {n for n in stored if "feedf00d" in n or n.endswith(".tmp")}
    assert leftover == set(), leftover


def test_a_busybox_tar_without_exclude_stores_them_and_refuses_a_plans_exclude(
    busybox_host: SshdHost, tmp_path: Path, state: Store
) -> None:
    probe = on_host(busybox_host, "tar -c -f /dev/null --exclude=x -- /dev/null 2>&1", check=False)
    assert on_host(busybox_host, 'readlink -f "$(command -v tar)"').strip() == b"/usr/bin/busybox"
    if b"unrecognized option" not in probe:
        pytest.fail("this busybox's tar takes --exclude: the test expects Debian's build")
    root = tmp_path / "tree"
    tree_with_leftovers(root)
    taken = take(busybox_host, backup_plan(paths=(str(root),)), tmp_path, state)
    assert taken.snapshot is not None, taken.error  # the backup works as before
    stored = names_at(state, taken.snapshot.id, root)
    assert expected((*OWN, *THEIRS)) <= stored  # as documented: this tar cannot leave them out
    refused = take(
        busybox_host,
        backup_plan(name="ex", paths=(str(root),), exclude=("*.tmp",)),
        tmp_path,
        state,
    )
    assert refused.snapshot is None
    assert refused.error is not None
    assert "this host's tar has no --exclude" in refused.error
    assert "install GNU tar there, or drop exclude:" in refused.error
    assert "Usage:" not in refused.error
