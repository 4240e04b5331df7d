"""Restoring a snapshot to a real sshd host: every file written beside its target and renamed
into place, what it replaces kept aside until the host has verified the restore, put back when
it does not verify; `--to`, `--check`, command backups, and what is refused."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jarvisctl.backup.restore import RestoreOutcome, RestoreRefusedError, restore_snapshot
from jarvisctl.backup.restore_plan import Change
from jarvisctl.backup.stores.base import BackupStore
from jarvisctl.backup.stores.local import LocalBackupStore
from jarvisctl.backup.stores.restic import ResticBackupStore
from jarvisctl.backup.take import take_backup
from jarvisctl.connection import open_connection
from jarvisctl.connection.base import Connection
from jarvisctl.core.clock import SYSTEM_CLOCK
from jarvisctl.store.factory import open_store
from jarvisctl.store.snapshots import Snapshot, SnapshotIndex, SnapshotState
from tests.backup.helpers import backup_plan
from tests.e2e.backup_hosts import NEWLINE_NAME, build_tree, fingerprint, kill_sshd, on_host
from tests.e2e.sshd import SshdFleet, SshdHost

pytestmark = pytest.mark.e2e


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


@pytest.fixture
def bench(sshd_hosts: list[SshdHost], tmp_path: Path) -> Bench:
    return Bench(sshd_hosts[0], tmp_path)


@pytest.fixture
def connection(bench: Bench) -> Iterator[Connection]:
    with open_connection(bench.host.settings()) as opened:
        yield opened


def restore(
    bench: Bench, connection: Connection, snapshot: Snapshot, **options: Any
) -> RestoreOutcome:
    arguments = {"to": None, "check": False, "become": False, **options}
    return restore_snapshot(connection, snapshot, bench.store, bench.index, **arguments)


def test_a_deleted_tree_comes_back_identical(bench: Bench, connection: Connection) -> None:
    build_tree(bench.host, bench.root)
    before = fingerprint(bench.host, bench.root)
    snapshot = bench.snapshot()
    bench.sh(f"rm -rf {shlex.quote(bench.root)}")
    outcome = restore(bench, connection, snapshot)
    assert outcome.ok, outcome.problem
    assert fingerprint(bench.host, bench.root) == before
    assert {c.change for c in outcome.changes} == {Change.CREATE}
    assert outcome.files == outcome.changed == len(before)


def test_to_restores_under_another_root(
    bench: Bench, connection: Connection, tmp_path: Path
) -> None:
    build_tree(bench.host, bench.root)
    before = fingerprint(bench.host, bench.root)
    snapshot = bench.snapshot()
    elsewhere = tmp_path / "elsewhere with space"
    outcome = restore(bench, connection, snapshot, to=str(elsewhere), become=True)
    assert outcome.ok, outcome.problem
    assert fingerprint(bench.host, str(elsewhere) + bench.root) == before
    assert fingerprint(bench.host, bench.root) == before  # the original place is untouched


def test_check_lists_what_would_change_and_changes_nothing(
    bench: Bench, connection: Connection
) -> None:
    build_tree(bench.host, bench.root)
    snapshot = bench.snapshot()
    root = shlex.quote(bench.root)
    bench.sh(
        f"cd {root} && printf changed > etc/app.conf && chmod 0644 etc/secret.key && "
        f"rm {shlex.quote('data/' + NEWLINE_NAME)} && chown nobody bin/run.sh && "
        f"rm data/link-to-conf && ln -s /etc/passwd data/link-to-conf"
    )
    changed = fingerprint(bench.host, bench.root)
    outcome = restore(bench, connection, snapshot, check=True)
    assert outcome.ok and outcome.check
    listed = {c.path.removeprefix(bench.root + "/"): (c.change, c.differs) for c in outcome.changes}
    assert listed["etc/app.conf"] == (Change.REPLACE, ("content",))
    assert listed["etc/secret.key"] == (Change.REPLACE, ("mode",))
    assert listed[f"data/{NEWLINE_NAME}"] == (Change.CREATE, ())
    assert listed["bin/run.sh"] == (Change.REPLACE, ("owner",))
    assert listed["data/link-to-conf"] == (Change.REPLACE, ("target",))
    unchanged = {path for path, (change, _) in listed.items() if change is Change.UNCHANGED}
    assert unchanged == {
        "data/nested/deeper/leaf.txt",
        "data/empty",
        "data/nobody.txt",
        "etc",
        "bin",
        "data",
        "data/nested",
        "data/nested/deeper",
        bench.root,
    }
    assert outcome.changed == 5
    assert fingerprint(bench.host, bench.root) == changed  # nothing was written


def test_only_what_differs_is_written(bench: Bench, connection: Connection) -> None:
    build_tree(bench.host, bench.root)
    before = fingerprint(bench.host, bench.root)
    snapshot = bench.snapshot()
    leaf = Path(bench.root, "data/nested/deeper/leaf.txt")
    inode = leaf.stat().st_ino
    Path(bench.root, "etc/app.conf").write_text("changed\n")
    outcome = restore(bench, connection, snapshot)
    assert outcome.ok, outcome.problem
    assert [c.path for c in outcome.changes if c.change is not Change.UNCHANGED] == [
        f"{bench.root}/etc/app.conf"
    ]
    assert fingerprint(bench.host, bench.root) == before
    assert leaf.stat().st_ino == inode  # an unchanged file is left alone
    again = restore(bench, connection, snapshot)
    assert again.ok and again.changed == 0


def test_a_symlink_planted_at_a_target_is_replaced_not_written_through(
    bench: Bench, connection: Connection, tmp_path: Path
) -> None:
    build_tree(bench.host, bench.root)
    before = fingerprint(bench.host, bench.root)
    snapshot = bench.snapshot()
    victim = tmp_path / "victim"
    victim.write_text("must stay\n")
    victim_dir = tmp_path / "victim-dir"
    victim_dir.mkdir()
    conf, nested = Path(bench.root, "etc/app.conf"), Path(bench.root, "data/nested")
    conf.unlink()
    conf.symlink_to(victim)
    bench.sh(f"rm -rf {shlex.quote(str(nested))}")
    nested.symlink_to(victim_dir)  # a directory replaced by a symlink to elsewhere
    outcome = restore(bench, connection, snapshot)
    assert outcome.ok, outcome.problem
    assert fingerprint(bench.host, bench.root) == before
    assert victim.read_text() == "must stay\n"
    assert list(victim_dir.iterdir()) == []


def test_stored_data_that_does_not_match_changes_nothing(
    bench: Bench, connection: Connection
) -> None:
    build_tree(bench.host, bench.root)
    snapshot = bench.snapshot(compress="none")  # the stored bytes are the tar stream itself
    assert isinstance(bench.store, LocalBackupStore)
    data = bench.store.root / snapshot.location
    stored = bytearray(data.read_bytes())
    at = stored.index(b"line 0 of etc/app.conf")
    stored[at] ^= 0x01  # one bit of one file flipped in the store
    data.write_bytes(bytes(stored))
    root = shlex.quote(bench.root)
    bench.sh(f"cd {root} && printf old > etc/app.conf && rm -r data/nested")
    changed = fingerprint(bench.host, bench.root)
    outcome = restore(bench, connection, snapshot)
    assert not outcome.ok
    assert outcome.problem is not None
    assert f"{bench.root}/etc/app.conf" in outcome.problem
    assert "does not match the manifest" in outcome.problem
    assert "nothing was changed" in outcome.problem
    assert fingerprint(bench.host, bench.root) == changed  # no temporary file, no new dir


def test_a_file_that_fails_verification_on_the_host_is_put_back(
    bench: Bench, connection: Connection
) -> None:
    build_tree(bench.host, bench.root)
    snapshot = bench.snapshot()
    conf = Path(bench.root, "etc/app.conf")
    conf.write_text("the original\n")
    Path(bench.root, "data/empty").unlink()
    changed = fingerprint(bench.host, bench.root)
    original = conf.stat().st_ino
    stop = threading.Event()

    def tamper() -> None:
        """Another writer on the host, right after the restore renamed the file into place."""
        while not stop.is_set():
            try:
                if os.lstat(conf).st_ino != original:
                    with open(conf, "ab") as out:
                        out.write(b"written by someone else\n")
                    return
            except FileNotFoundError:
                pass

    writer = threading.Thread(target=tamper, daemon=True)
    writer.start()
    try:
        outcome = restore(bench, connection, snapshot)
    finally:
        stop.set()
        writer.join(5)
    assert not outcome.ok
    assert outcome.problem is not None
    assert f"{bench.root + '/etc/app.conf'!r} does not match the snapshot" in outcome.problem
    assert "(content)" in outcome.problem and "put back" in outcome.problem
    assert fingerprint(bench.host, bench.root) == changed  # the original, and no new empty file
    assert conf.stat().st_ino == original


def test_a_hard_link_group_is_restored_linked(bench: Bench, connection: Connection) -> None:
    root = shlex.quote(bench.root)
    bench.sh(f"mkdir -p {root}/d && printf data > {root}/d/a && ln {root}/d/a {root}/d/b")
    before = fingerprint(bench.host, bench.root)
    snapshot = bench.snapshot()
    bench.sh(f"rm {root}/d/a {root}/d/b")
    outcome = restore(bench, connection, snapshot)
    assert outcome.ok, outcome.problem
    assert fingerprint(bench.host, bench.root) == before
    a, b = Path(bench.root, "d/a").stat(), Path(bench.root, "d/b").stat()
    assert a.st_ino == b.st_ino and a.st_nlink == 2


def test_a_command_backup_is_restored_to_the_file_given(
    bench: Bench, connection: Connection, tmp_path: Path
) -> None:
    dump = b"CREATE TABLE t(x);\nINSERT INTO t VALUES(1);\n" * 1000
    source = tmp_path / "app.sql on the host"
    source.write_bytes(dump)
    snapshot = bench.snapshot(
        source="command", paths=(), command=f"cat {shlex.quote(str(source))}", file="app.sql"
    )
    assert snapshot.source == "command"
    with pytest.raises(RestoreRefusedError, match=r"command backup.*--to PATH"):
        restore(bench, connection, snapshot)
    target = tmp_path / "restored" / "app -dump.sql"
    outcome = restore(bench, connection, snapshot, to=str(target))
    assert outcome.ok, outcome.problem
    assert target.read_bytes() == dump and (target.stat().st_mode & 0o7777) == 0o600
    into = tmp_path / "a directory"
    into.mkdir()
    outcome = restore(bench, connection, snapshot, to=str(into))
    assert outcome.ok and (into / "app.sql").read_bytes() == dump


def test_refusals_say_why(bench: Bench, connection: Connection) -> None:
    build_tree(bench.host, bench.root)
    snapshot = bench.snapshot()
    with pytest.raises(RestoreRefusedError, match="absolute path"):
        restore(bench, connection, snapshot, to="relative/dir")
    bad = bench.index.mark(snapshot.id, SnapshotState.UNUSABLE, 1.0, "etc/app.conf differs")
    with pytest.raises(RestoreRefusedError, match=r"unusable: etc/app.conf differs.*--snapshot"):
        restore(bench, connection, bad, check=True)


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


HOSTILE_NAMES = [
    "-rf",
    "--help",
    'it\'s "quoted"',
    "back\\slash",
    "$(touch pwned)",
    "`touch pwned`",
    "*",
    "tab\there",
    "new\nline\n",
    " leading and trailing ",
]


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


def test_hostile_names_a_fifo_and_a_directory_at_a_file_path(
    bench: Bench, connection: Connection
) -> None:
    root = Path(bench.root)
    (root / "sub").mkdir(parents=True)
    for number, name in enumerate(HOSTILE_NAMES):
        (root / "sub" / name).write_text(f"file {number}\n")
    latin = os.path.join(os.fsencode(root / "sub"), b"caf\xe9 not utf-8")
    with open(latin, "wb") as out:
        out.write(b"bytes\n")
    os.mkfifo(root / "sub" / "a fifo", 0o640)
    (root / "sub" / "-rf").chmod(0o4755)
    before = tree_of(root)
    snapshot = bench.snapshot()
    bench.sh(f"rm -rf {shlex.quote(str(root / 'sub'))}/*")
    (root / "sub" / "-rf").mkdir()
    (root / "sub" / "-rf" / "inside").write_text("a directory where a file belongs\n")
    outcome = restore(bench, connection, snapshot)
    assert outcome.ok, outcome.problem
    assert tree_of(root) == before
    assert not any(p.exists() for p in (Path("pwned"), Path.home() / "pwned", root / "pwned"))


def test_ctrl_c_during_the_transfer_puts_the_host_back(
    bench: Bench, connection: Connection
) -> None:
    root = Path(bench.root)
    (root / "big").mkdir(parents=True)
    (root / "big" / "blob").write_bytes(os.urandom(1024) * 200_000)  # 200 MB
    (root / "conf").write_text("snapshot\n")
    snapshot = bench.snapshot(compress="none")
    (root / "conf").write_text("edited since\n")
    (root / "big" / "blob").unlink()
    (root / "new dir").mkdir()
    before = tree_of(root)
    main = threading.main_thread().ident
    assert main is not None and threading.current_thread().ident == main
    interrupted = threading.Event()

    def interrupt_mid_transfer() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not interrupted.is_set():
            if any(p.name.startswith(".jarvisctl-new-") for p in (root / "big").iterdir()):
                interrupted.set()
                signal.pthread_kill(main, signal.SIGINT)
                return
            time.sleep(0.01)

    watcher = threading.Thread(target=interrupt_mid_transfer, daemon=True)
    watcher.start()
    with pytest.raises(KeyboardInterrupt):
        restore(bench, connection, snapshot)
        time.sleep(30)  # never reached when the interrupt came during the restore
    watcher.join(5)
    assert interrupted.is_set()
    assert tree_of(root) == before  # no temporary file, the edited conf as it was


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


def kill_mid_transfer(bench: Bench, watched: Path, *, restart: bool) -> threading.Thread:
    """A thread that kills the host's sshd (SIGKILL, sessions too) once a temporary file of
    the restore appears in `watched`, and starts it again at once when `restart`."""

    def watch() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if any(p.name.startswith(".jarvisctl-new-") for p in watched.iterdir()):
                kill_sshd(bench.host)
                if restart:
                    bench.host.start()
                return
            time.sleep(0.01)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def big_tree(bench: Bench) -> tuple[Snapshot, dict[bytes, tuple[str, int, int, int, bytes]]]:
    """A snapshot with a 200 MB file, then the tree changed: (the snapshot, the tree now)."""
    root = Path(bench.root)
    (root / "big").mkdir(parents=True)
    (root / "big" / "blob").write_bytes(os.urandom(1024) * 200_000)
    (root / "conf").write_text("snapshot\n")
    snapshot = bench.snapshot(compress="none")
    (root / "conf").write_text("edited since\n")
    (root / "big" / "blob").write_bytes(b"changed")
    return snapshot, tree_of(root)


def test_a_connection_lost_mid_restore_is_undone_once_the_host_answers(
    bench: Bench, connection: Connection
) -> None:
    snapshot, before = big_tree(bench)
    killer = kill_mid_transfer(bench, Path(bench.root, "big"), restart=True)
    outcome = restore(bench, connection, snapshot)
    killer.join(30)
    assert not outcome.ok and outcome.problem is not None
    assert "the connection was lost during the restore" in outcome.problem
    assert "nothing was changed" in outcome.problem
    assert tree_of(Path(bench.root)) == before  # the temporary file removed by the undo


def test_a_host_that_stays_down_is_told_with_the_names_left_on_it(
    bench: Bench, connection: Connection
) -> None:
    snapshot, _ = big_tree(bench)
    killer = kill_mid_transfer(bench, Path(bench.root, "big"), restart=False)
    outcome = restore(bench, connection, snapshot)
    killer.join(30)
    assert not outcome.ok and outcome.problem is not None
    assert "putting the files back failed too" in outcome.problem
    left = [p.name for p in Path(bench.root, "big").iterdir() if p.name != "blob"]
    assert len(left) == 1 and left[0].startswith(".jarvisctl-new-")
    token = left[0].split("-")[2]
    assert f".jarvisctl-new-{token}-N" in outcome.problem
    assert Path(bench.root, "conf").read_text() == "edited since\n"  # never renamed into place


def test_overlapping_backed_up_paths_restore_once(bench: Bench, connection: Connection) -> None:
    build_tree(bench.host, bench.root)
    before = fingerprint(bench.host, bench.root)
    snapshot = bench.snapshot(paths=(bench.root, f"{bench.root}/etc"))  # etc/ held twice
    paths = [e.path for e in bench.index.manifest(snapshot.id)]
    assert paths.count(f"{bench.root}/etc/app.conf") == 2
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
