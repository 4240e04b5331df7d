"""The local backup store on the real filesystem: committed snapshots, nothing left of aborted
ones (an exception, a full disk), reading back each compression, deleting and checking."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from jarvisctl.backup.compression import CompressionError
from jarvisctl.backup.stores.base import BackupStoreError, open_backup_store
from jarvisctl.backup.stores.local import LocalBackupStore
from jarvisctl.plan.model import BackupStorePlan
from tests.backup.helpers import backup_plan, files_under, small_tmpfs, snapshot_of

LOCAL = BackupStorePlan(name="local", kind="local", location="")


def compressed(data: bytes, compress: str) -> bytes:
    if compress == "gzip":
        return gzip.compress(data)
    if compress == "zstd":
        return subprocess.run(["zstd", "-q", "-c"], input=data, capture_output=True).stdout
    return data


def store_in(tmp_path: Path) -> LocalBackupStore:
    store = open_backup_store(LOCAL, tmp_path)
    assert isinstance(store, LocalBackupStore)
    return store


@pytest.mark.parametrize("compress", ["gzip", "zstd", "none"])
def test_a_committed_snapshot_reads_back_uncompressed(tmp_path: Path, compress: str) -> None:
    store = store_in(tmp_path)
    plan = backup_plan(compress=compress)
    data = os.urandom(3 * 1024 * 1024) + b"\0" * (2 * 1024 * 1024)
    wire = compressed(data, compress)
    with store.writer("20261203T120000Z-h1-conf-abcd", plan, "h1") as writer:
        for start in range(0, len(wire), 65536):
            writer.write(wire[start : start + 65536])
        location, stored = writer.commit()
    assert writer.compress == compress
    assert location.startswith("h1/conf/20261203T120000Z-h1-conf-abcd.tar")
    path = tmp_path / "backups" / location
    assert stored == path.stat().st_size == len(wire)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert oct((tmp_path / "backups" / "h1").stat().st_mode & 0o777) == "0o700"
    snapshot = snapshot_of(plan, "20261203T120000Z-h1-conf-abcd", location, compress)
    digest = hashlib.sha256()
    with store.open(snapshot) as stream:
        while chunk := stream.read(100_000):
            digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
    assert files_under(tmp_path / "backups") == [location]


def test_leaving_the_block_without_commit_leaves_no_file(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    with pytest.raises(KeyboardInterrupt), store.writer("s1", backup_plan(), "h1") as writer:
        writer.write(b"x" * 100_000)
        assert len(files_under(tmp_path / "backups")) == 1  # the hidden partial file
        assert files_under(tmp_path / "backups")[0].startswith("h1/conf/.s1.tar.gz.")
        raise KeyboardInterrupt
    assert files_under(tmp_path / "backups") == []


def test_a_full_disk_is_a_clear_error_and_leaves_no_file(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "small") as small:
        store = LocalBackupStore("local", small / "backups")
        plan = backup_plan(compress="none")
        with (
            pytest.raises(BackupStoreError, match=r"backup store 'local' is full: .*No space left"),
            store.writer("s1", plan, "h1") as writer,
        ):
            for _ in range(64):
                writer.write(b"y" * 65536)  # 4 MiB into 1 MiB
            writer.commit()
        assert files_under(small) == []
        # the space is back: the next snapshot fits
        with store.writer("s2", plan, "h1") as writer:
            writer.write(b"z" * 1000)
            location, _ = writer.commit()
        assert files_under(small / "backups") == [location]


def test_a_truncated_or_corrupt_gzip_file_is_an_error_not_a_short_read(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    plan = backup_plan(compress="gzip")
    with store.writer("s1", plan, "h1") as writer:
        writer.write(gzip.compress(os.urandom(200_000)))
        location, _ = writer.commit()
    path = tmp_path / "backups" / location
    path.write_bytes(path.read_bytes()[:-100])
    snapshot = snapshot_of(plan, "s1", location, "gzip")
    with pytest.raises(CompressionError, match="truncated"), store.open(snapshot) as stream:
        stream.read()


def test_a_corrupt_zstd_file_is_an_error(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    plan = backup_plan(compress="zstd")
    with store.writer("s1", plan, "h1") as writer:
        writer.write(compressed(os.urandom(200_000), "zstd"))
        location, _ = writer.commit()
    path = tmp_path / "backups" / location
    body = bytearray(path.read_bytes())
    body[len(body) // 2] ^= 0xFF
    path.write_bytes(bytes(body))
    snapshot = snapshot_of(plan, "s1", location, "zstd")
    with pytest.raises(CompressionError, match="zstd -d failed"), store.open(snapshot) as stream:
        stream.read()


def test_zstd_without_the_binary_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = store_in(tmp_path)
    plan = backup_plan(compress="zstd")
    with store.writer("s1", plan, "h1") as writer:
        writer.write(compressed(b"data", "zstd"))
        location, _ = writer.commit()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    snapshot = snapshot_of(plan, "s1", location, "zstd")
    with pytest.raises(CompressionError, match="apt-get install zstd"), store.open(snapshot):
        pass


def test_delete_check_and_a_location_outside_the_store(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    plan = backup_plan(source="command", command="pg_dump app", file="app.dump", compress="none")
    with store.writer("s1", plan, "h1") as writer:
        writer.write(b"dump")
        location, _ = writer.commit()
    assert location == "h1/conf/s1.app.dump"
    snapshot = snapshot_of(plan, "s1", location, "none")
    assert store.check([snapshot]) == ()
    store.delete(snapshot)
    assert not (tmp_path / "backups" / "h1").exists()  # emptied directories go too
    (problem,) = store.check([snapshot])
    assert "s1" in problem and "missing" in problem
    with pytest.raises(BackupStoreError, match="missing"), store.open(snapshot):
        pass
    escaping = snapshot_of(plan, "s2", "../../etc/passwd", "none")
    with pytest.raises(BackupStoreError, match="not inside backup store"), store.open(escaping):
        pass


def test_host_and_backup_names_stay_one_path_component(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    with store.writer("s/../1", backup_plan(name=".."), "../h") as writer:
        writer.write(b"x")
        location, _ = writer.commit()
    assert ".." not in Path(location).parts and len(Path(location).parts) == 3
    assert (tmp_path / "backups" / location).is_file()


def test_store_locations(tmp_path: Path) -> None:
    absolute = open_backup_store(BackupStorePlan("a", "local", str(tmp_path / "x")), tmp_path)
    relative = open_backup_store(BackupStorePlan("b", "local", "y"), tmp_path)
    assert isinstance(absolute, LocalBackupStore) and isinstance(relative, LocalBackupStore)
    assert (absolute.root, relative.root) == (tmp_path / "x", tmp_path / "y")
    with pytest.raises(BackupStoreError, match="unknown kind 'ftp'"):
        open_backup_store(BackupStorePlan("c", "ftp", ""), tmp_path)
    assert shutil.which("zstd"), "scripts/test installs zstd"
