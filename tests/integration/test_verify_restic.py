"""Verification of a snapshot kept in a real restic repository (Debian's restic): intact, it is
verified by checksum and by restore; with one byte flipped in the repository's data pack, restic
refuses to hand the data back and the snapshot is unusable, the first file that could not be
read back named."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from jarvisctl.backup.manifest import manifest_of_tar
from jarvisctl.backup.stores.restic import ResticBackupStore
from jarvisctl.backup.verify import check_store, verify_snapshot
from jarvisctl.store.factory import open_store
from jarvisctl.store.snapshots import SnapshotState
from tests.backup.helpers import stored_snapshot
from tests.fakes import FakeClock
from tests.restic_repo import quick_repository
from tests.unit.test_backup_verify import BIG, host_tree, plan

pytestmark = pytest.mark.skipif(shutil.which("restic") is None, reason="restic is not installed")


def test_a_restic_snapshot_is_verified_and_a_flipped_byte_makes_it_unusable(
    tmp_path: Path,
) -> None:
    archive = host_tree(tmp_path / "host")
    manifest = list(manifest_of_tar(io.BytesIO(archive)))
    quick_repository(tmp_path / "repo", "verify-test")  # tests/restic_repo.py
    store = ResticBackupStore("offsite", str(tmp_path / "repo"), "verify-test", tmp_path)
    with store.writer("s1", plan("none"), "h1") as writer:
        writer.write(archive)
        committed = writer.commit()
    snapshot = stored_snapshot(plan("none"), "offsite", committed, writer.compress, manifest)
    index = open_store(tmp_path / "state").snapshots
    index.add(snapshot, manifest)
    for mode in ("checksum", "restore"):
        outcome = verify_snapshot(snapshot, store, index, mode, tmp_path / "scratch", FakeClock())
        assert outcome.ok, outcome.problem
    assert index.get("s1").state is SnapshotState.VERIFIED
    # the repository's own integrity pass agrees, and no verification left a lock behind
    assert check_store(store, index) == ()

    packs = sorted((tmp_path / "repo" / "data").rglob("*"), key=lambda p: p.stat().st_size)
    biggest = packs[-1]  # the pack with the file contents (the random file's BIG bytes)
    assert biggest.stat().st_size > BIG
    content = bytearray(biggest.read_bytes())
    content[len(content) // 3] ^= 0x01
    biggest.chmod(0o600)
    biggest.write_bytes(bytes(content))

    outcome = verify_snapshot(snapshot, store, index, "checksum", tmp_path / "scratch", FakeClock())

    assert not outcome.ok and outcome.problem is not None
    assert index.get("s1").state is SnapshotState.UNUSABLE
    # restic keeps the stream in blobs (of about a MiB): this one tar is a single blob, so
    # nothing of it comes back, and the first file is the one that cannot be read back
    assert outcome.problem.startswith(
        "/etc/app: cannot be read back, the stored data is damaged: restic dump of snapshot s1 "
        "failed: "
    )
    assert "ciphertext verification failed" in outcome.problem
    assert "verify-test" not in outcome.problem  # the repository's password
