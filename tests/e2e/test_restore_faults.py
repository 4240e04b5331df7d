"""Restores that fail on a real sshd host and leave it as it was: stored data that does not
match its manifest, a file changed on the host before verification, Ctrl-C, a lost connection."""

from __future__ import annotations

import os
import shlex
import signal
import threading
import time
from pathlib import Path

import pytest

from jarvisctl.backup import restore as restore_module
from jarvisctl.backup.stores.local import LocalBackupStore
from jarvisctl.connection.base import Connection
from jarvisctl.store.snapshots import Snapshot
from tests.e2e.backup_hosts import build_tree, fingerprint, kill_sshd
from tests.e2e.restore_bench import Bench, bench, connection, restore, tree_of

pytestmark = pytest.mark.e2e

__all__ = ["bench", "connection"]  # fixtures, used by name


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
    assert (outcome.restored, outcome.put_back) == (0, outcome.changed) and outcome.changed
    assert fingerprint(bench.host, bench.root) == changed  # the original, and no new empty file
    assert conf.stat().st_ino == original


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
    looked: list[str] = []  # what the watcher could not read, if anything

    def interrupt_mid_transfer() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not interrupted.is_set():
            try:  # a look that fails (the directory moved under it) is taken again
                names = [p.name for p in (root / "big").iterdir()]
            except OSError as exc:
                looked.append(repr(exc))
                names = []
            if any(name.startswith(".jarvisctl-new-") for name in names):
                interrupted.set()
                signal.pthread_kill(main, signal.SIGINT)
                return
            time.sleep(0.005)

    # Ctrl-C raises KeyboardInterrupt, whatever this process inherited: a shell starts a job
    # it runs in the background with SIGINT ignored (and Python then keeps it ignored)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    watcher = threading.Thread(target=interrupt_mid_transfer, daemon=True)
    watcher.start()
    outcome = None
    try:
        outcome = restore(bench, connection, snapshot)
        time.sleep(30)  # never reached when the interrupt came during the restore
    except KeyboardInterrupt:
        pass
    else:  # say which side missed it
        seen = "SIGINT was sent" if interrupted.is_set() else "no temporary file was seen"
        pytest.fail(f"not interrupted ({seen}): restore gave {outcome}; failed looks: {looked}")
    finally:
        signal.signal(signal.SIGINT, previous)
    watcher.join(5)
    assert interrupted.is_set()
    assert tree_of(root) == before  # no temporary file, the edited conf as it was


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
    assert (outcome.restored, outcome.put_back) == (0, outcome.changed)
    assert tree_of(Path(bench.root)) == before  # the temporary file removed by the undo


def test_a_host_that_stays_down_is_told_with_the_names_left_on_it(
    bench: Bench, connection: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the restore tries to reach the host again four times, 15 s in all: the host stays
    # down whatever the waits are, so shorter ones prove the same
    monkeypatch.setattr(restore_module, "_RECONNECT_WAITS", (0.1, 0.1, 0.1, 0.1))
    snapshot, _ = big_tree(bench)
    killer = kill_mid_transfer(bench, Path(bench.root, "big"), restart=False)
    outcome = restore(bench, connection, snapshot)
    killer.join(30)
    assert not outcome.ok and outcome.problem is not None
    assert "putting the files back failed too" in outcome.problem
    assert (outcome.restored, outcome.put_back) == (0, 0)  # as the lost connection left them
    left = [p.name for p in Path(bench.root, "big").iterdir() if p.name != "blob"]
    assert len(left) == 1 and left[0].startswith(".jarvisctl-new-")
    token = left[0].split("-")[2]
    assert f".jarvisctl-new-{token}-N" in outcome.problem
    assert Path(bench.root, "conf").read_text() == "edited since\n"  # never renamed into place
