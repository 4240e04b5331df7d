"""Another process holding the restic repository's lock (Debian's restic 0.14 does not wait for
one): the store waits for it, up to its bound, and then says who holds it. The other process is
a real restic: `key passwd` holds the lock exclusively while it waits for a new password on its
stdin, `backup --stdin` holds it shared while its input stays open; each lets go when its stdin
is closed."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jarvisctl.backup.stores.base import BackupStoreError
from jarvisctl.backup.stores.restic import LOCK_WAIT, ResticBackupStore
from jarvisctl.plan.model import BackupStorePlan
from tests.backup.helpers import backup_plan, snapshot_of
from tests.restic_repo import quick_repository

pytestmark = pytest.mark.skipif(
    shutil.which("restic") is None, reason="restic is not installed (scripts/test installs it)"
)
PASSWORD = "lock-test-pw"
RELEASE_AFTER = 2.0  # seconds the other process keeps its lock (the wait bound is 60)


def new_store(tmp_path: Path, lock_wait: float = LOCK_WAIT) -> ResticBackupStore:
    quick_repository(tmp_path / "repo", PASSWORD)  # tests/restic_repo.py
    store = ResticBackupStore("offsite", str(tmp_path / "repo"), PASSWORD, tmp_path, lock_wait)
    store.ensure_repository()
    return store


@contextlib.contextmanager
def held_lock(store: ResticBackupStore, *, exclusive: bool) -> Iterator[subprocess.Popen[bytes]]:
    """A second restic process holding the repository's lock until the block ends."""
    locks = Path(store.repository, "locks")
    before = set(os.listdir(locks))
    args = ["key", "passwd"] if exclusive else ["backup", "--stdin", "-q"]
    other = subprocess.Popen(
        [shutil.which("restic") or "restic", "-r", store.repository, "--no-cache", *args],
        env={**os.environ, "RESTIC_PASSWORD": PASSWORD},
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while set(os.listdir(locks)) <= before:  # its lock file is in the repository
            assert other.poll() is None and time.monotonic() < deadline, "restic took no lock"
            time.sleep(0.02)
        yield other
    finally:
        release(other)


def release(other: subprocess.Popen[bytes]) -> None:
    assert other.stdin is not None
    with contextlib.suppress(OSError):
        other.stdin.close()  # key passwd: no password, it gives up; backup: its input ends
    other.wait(60)


def release_later(other: subprocess.Popen[bytes]) -> threading.Thread:
    thread = threading.Thread(target=lambda: (time.sleep(RELEASE_AFTER), release(other)))
    thread.start()
    return thread


def test_a_backup_waits_for_another_process_holding_the_repository_alone(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    assert not store.waits_for_locks()  # Debian's 0.14: the store's own waiting is tested
    plan = backup_plan(compress="none", store=BackupStorePlan("offsite", "restic", "repo"))
    with held_lock(store, exclusive=True) as other:
        releaser = release_later(other)
        started = time.monotonic()
        with store.writer("20261204T050000Z-h1-conf-0001", plan, "h1") as writer:
            writer.write(b"the whole stream\n")
            location, _ = writer.commit()
        waited = time.monotonic() - started
        releaser.join()
    assert waited >= RELEASE_AFTER * 0.9  # it could not start before the lock was let go
    snapshot = snapshot_of(plan, "s1", location, "none")
    with store.open(snapshot) as stream:
        assert stream.read() == b"the whole stream\n"


def test_forget_waits_for_a_backup_of_another_process(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    plan = backup_plan(compress="none", store=BackupStorePlan("offsite", "restic", "repo"))
    with store.writer("20261204T050000Z-h1-conf-0002", plan, "h1") as writer:
        writer.write(b"old\n")
        location, _ = writer.commit()
    snapshot = snapshot_of(plan, "s2", location, "none")
    with held_lock(store, exclusive=False) as other:  # a long backup, shared lock
        releaser = release_later(other)
        store.delete(snapshot)  # forget --prune needs the repository alone
        releaser.join()
    assert store.check([snapshot]) == (
        f"snapshot s2: restic snapshot {location} is missing from the repository",
    )


def test_a_lock_held_past_the_bound_is_said_with_its_holder(tmp_path: Path) -> None:
    store = new_store(tmp_path, lock_wait=1.5)
    plan = backup_plan(compress="none", store=BackupStorePlan("offsite", "restic", "repo"))
    with store.writer("20261204T050000Z-h1-conf-0003", plan, "h1") as writer:
        writer.write(b"kept\n")
        location, _ = writer.commit()
    snapshot = snapshot_of(plan, "s3", location, "none")
    with held_lock(store, exclusive=True) as other:
        with pytest.raises(BackupStoreError) as caught:
            store.open(snapshot).__enter__()
        said = str(caught.value)
        assert f"repository is already locked exclusively by PID {other.pid}" in said
        assert "lock was created at" in said and "(waited 1.5s)" in said
        with (
            pytest.raises(BackupStoreError) as caught,
            store.writer("20261204T050000Z-h1-conf-0004", plan, "h1"),
        ):
            pass
        assert f"locked exclusively by PID {other.pid}" in str(caught.value)
        (problem,) = store.check()
        assert f"locked exclusively by PID {other.pid}" in problem and PASSWORD not in problem
    with held_lock(store, exclusive=False) as other:
        with pytest.raises(BackupStoreError) as caught:
            store.delete(snapshot)
        assert f"repository is already locked by PID {other.pid}" in str(caught.value)
    store.delete(snapshot)  # once let go, it works


def test_a_restic_that_waits_itself_is_asked_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """restic 0.16+ has --retry-lock: the store passes its bound and does not loop itself."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "restic"
    fake.write_text('#!/bin/sh\necho "restic 0.16.4 compiled with go1.21.6 on linux/amd64"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    store = ResticBackupStore("offsite", str(tmp_path / "repo"), PASSWORD, tmp_path, 42.0)
    assert store.waits_for_locks()
    assert store.argv("snapshots")[1:] == [
        "-r", str(tmp_path / "repo"), "--cache-dir", str(tmp_path / "restic-cache"),
        "--retry-lock", "42s", "snapshots",
    ]  # fmt: skip
