"""The restic store against Debian's restic: round trips for each wire compression, an aborted
writer that leaves no snapshot, the password kept out of argv and messages, delete and check."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import psutil
import pytest

from jarvisctl.backup.stores.base import BackupStoreError, open_backup_store
from jarvisctl.backup.stores.restic import ResticBackupStore
from jarvisctl.plan.model import BackupStorePlan
from tests.backup.helpers import backup_plan, snapshot_of
from tests.restic_repo import QUICK_SCRYPT, quick_repository

pytestmark = pytest.mark.skipif(
    shutil.which("restic") is None, reason="restic is not installed (scripts/test installs it)"
)
PASSWORD = "s3cret-restic-pw"


def restic_store(
    tmp_path: Path, password: str = PASSWORD, *, quick: bool = True
) -> ResticBackupStore:
    """The store of the repository `repo`: a quick one to open (tests/restic_repo.py) unless
    `quick` is false, where the store's own `restic init` makes it on first use."""
    plan = BackupStorePlan(name="offsite", kind="restic", location="repo", password=password)
    store = open_backup_store(plan, tmp_path)
    assert isinstance(store, ResticBackupStore)
    if quick and not Path(store.repository).exists():
        quick_repository(Path(store.repository), password)
    return store


def restic_snapshots(tmp_path: Path) -> list[dict[str, object]]:
    done = subprocess.run(
        ["restic", "-r", str(tmp_path / "repo"), "--no-cache", "snapshots", "--json"],
        env={**os.environ, "RESTIC_PASSWORD": PASSWORD},
        capture_output=True,
        text=True,
        check=True,
    )
    listed: list[dict[str, object]] = json.loads(done.stdout)
    return listed


def wire(data: bytes, compress: str) -> bytes:
    if compress == "gzip":
        return gzip.compress(data)
    if compress == "zstd":
        return subprocess.run(["zstd", "-q", "-c"], input=data, capture_output=True).stdout
    return data


@pytest.mark.parametrize("compress", ["gzip", "zstd", "none"])
def test_round_trip_through_restic(tmp_path: Path, compress: str) -> None:
    store = restic_store(tmp_path)
    plan = backup_plan(compress=compress, store=BackupStorePlan("offsite", "restic", "repo"))
    data = os.urandom(2 * 1024 * 1024) + b"tail"
    sent = wire(data, compress)
    with store.writer("20261203T120000Z-h1-conf-abcd", plan, "h1") as writer:
        for start in range(0, len(sent), 65536):
            writer.write(sent[start : start + 65536])
        location, stored = writer.commit()
    assert writer.compress == "none"  # restic was handed the plain stream
    (made,) = restic_snapshots(tmp_path)
    assert made["id"] == location and len(location) == 64
    assert made["paths"] == ["/conf.tar"] and made["hostname"] == "h1"
    assert {"jarvisctl", "backup=conf"} <= set(made["tags"])  # type: ignore[arg-type]
    assert stored >= len(data)  # random data: nothing deduplicated, little compressed
    snapshot = snapshot_of(plan, "s1", location, "none")
    with store.open(snapshot) as stream:
        assert hashlib.sha256(stream.read()).digest() == hashlib.sha256(data).digest()
    assert store.check([snapshot]) == ()
    store.delete(snapshot)
    assert restic_snapshots(tmp_path) == []
    (missing,) = store.check([snapshot])
    assert missing == f"snapshot s1: restic snapshot {location} is missing from the repository"
    store.delete(snapshot)  # already gone: nothing to do


def test_a_command_stream_is_stored_under_its_file_name(tmp_path: Path) -> None:
    store = restic_store(tmp_path)
    plan = backup_plan(source="command", command="pg_dump app", file="app.dump", compress="none")
    with store.writer("s1", plan, "h1") as writer:
        writer.write(b"-- dump\n")
        location, _ = writer.commit()
    (made,) = restic_snapshots(tmp_path)
    assert made["paths"] == ["/app.dump"]
    with store.open(snapshot_of(plan, "s1", location, "none")) as stream:
        assert stream.read() == b"-- dump\n"


def test_an_aborted_writer_makes_no_snapshot_and_the_password_is_not_in_argv(
    tmp_path: Path,
) -> None:
    store = restic_store(tmp_path)
    plan = backup_plan(compress="none")
    with pytest.raises(KeyboardInterrupt), store.writer("s1", plan, "h1") as writer:
        writer.write(os.urandom(1024 * 1024))
        argvs = [p.info["cmdline"] or [] for p in psutil.process_iter(["cmdline"])]
        restics = [argv for argv in argvs if argv and "restic" in argv[0] and "--stdin" in argv]
        assert restics, "restic backup runs while the writer is open"
        for argv in restics:
            assert PASSWORD not in " ".join(argv)
        raise KeyboardInterrupt
    assert restic_snapshots(tmp_path) == []
    # the repository is not left locked: the next snapshot goes in
    with store.writer("s2", plan, "h1") as writer:
        writer.write(b"data")
        writer.commit()
    assert len(restic_snapshots(tmp_path)) == 1


def test_a_truncated_stream_makes_no_snapshot(tmp_path: Path) -> None:
    store = restic_store(tmp_path)
    plan = backup_plan(compress="gzip")
    sent = gzip.compress(os.urandom(300_000))
    with pytest.raises(BackupStoreError, match="truncated"), store.writer("s1", plan, "h1") as w:
        w.write(sent[:-50])
        w.commit()
    assert restic_snapshots(tmp_path) == []


def test_a_wrong_password_is_a_clear_error_without_the_password(tmp_path: Path) -> None:
    restic_store(tmp_path, quick=False).ensure_repository()  # the store's own `restic init`
    assert (tmp_path / "repo" / "config").is_file()
    wrong = restic_store(tmp_path, password="not-the-password")
    with pytest.raises(BackupStoreError) as raised, wrong.writer("s1", backup_plan(), "h1"):
        pass
    assert "wrong password" in str(raised.value) and "offsite" in str(raised.value)
    assert "not-the-password" not in str(raised.value)


def test_check_reports_a_damaged_repository(tmp_path: Path) -> None:
    store = restic_store(tmp_path)
    with store.writer("s1", backup_plan(compress="none"), "h1") as writer:
        writer.write(os.urandom(100_000))
        writer.commit()
    assert store.check() == ()
    # a pack's bytes damaged: `restic check` reads the trees from it and says so (deleting
    # the packs instead made restic retry each missing file with backoff: 100 s)
    for pack in (tmp_path / "repo" / "data").rglob("*"):
        if pack.is_file():
            pack.chmod(0o600)
            data = bytearray(pack.read_bytes())
            data[len(data) // 2 :] = bytes(len(data) - len(data) // 2)
            pack.write_bytes(bytes(data))
    problems = store.check()
    assert problems and all(p.startswith("backup store 'offsite': ") for p in problems)
    assert PASSWORD not in "".join(problems)


def test_a_restic_store_needs_a_password(tmp_path: Path) -> None:
    with pytest.raises(BackupStoreError, match="has no password"):
        open_backup_store(BackupStorePlan("offsite", "restic", "repo"), tmp_path)


def test_hosts_sharing_a_restic_store_take_and_forget_at_once(tmp_path: Path) -> None:
    """A run's hosts share one store: restic 0.14 does not wait for a repository lock, so a
    host's `forget --prune` beside another's `backup` failed ('repository is already
    locked'). The store now holds the repository alone for forget and check, and shared for
    transfers and dumps, so three hosts at once all succeed."""
    import threading

    store = restic_store(tmp_path)
    store.ensure_repository()
    plan = backup_plan(compress="none", store=BackupStorePlan("offsite", "restic", "repo"))
    failures: list[BaseException] = []

    def host(number: int) -> None:
        try:
            for round_ in range(2):
                with store.writer(f"20261203T12000{round_}Z-h{number}-conf-abcd", plan, "h") as w:
                    w.write(os.urandom(256 * 1024))
                    location, _ = w.commit()
                store.delete(snapshot_of(plan, f"s{number}{round_}", location, "none"))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=host, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert failures == []
    assert restic_snapshots(tmp_path) == []


def test_a_quick_repository_is_restics_own_and_opens_only_with_its_password(
    tmp_path: Path,
) -> None:
    """The test equipment of tests/restic_repo.py: restic opens the repository with its
    password (under the quick key parameters) and refuses another."""
    quick_repository(tmp_path / "repo", PASSWORD)
    (key,) = (tmp_path / "repo" / "keys").iterdir()
    assert {k: json.loads(key.read_text())[k] for k in ("N", "r", "p")} == QUICK_SCRYPT
    assert restic_snapshots(tmp_path) == []
    wrong = subprocess.run(
        ["restic", "-r", str(tmp_path / "repo"), "--no-cache", "snapshots"],
        env={**os.environ, "RESTIC_PASSWORD": "not-" + PASSWORD},
        capture_output=True,
        text=True,
    )
    assert wrong.returncode != 0 and "wrong password" in wrong.stderr
