"""Verifying a snapshot against its manifest, on real parts: a tree archived by GNU tar, its
manifest made by manifest_of_tar (as a backup makes it), the data kept by the local backup store
(gzip, or uncompressed), the index in a real state store. A byte flipped in the stored data (in
the compressed file, or in the raw tar) makes the snapshot unusable and names the file; `restore`
also extracts into a scratch directory and compares what is on disk."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import random
import subprocess
import tarfile
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from jarvisctl.backup.compression import opened_uncompressed
from jarvisctl.backup.errors import CompressionError
from jarvisctl.backup.manifest import manifest_of_tar
from jarvisctl.backup.scratch import extract_tar
from jarvisctl.backup.stores.local import LocalBackupStore
from jarvisctl.backup.verify import check_store, verify_snapshot
from jarvisctl.backup.verify_compare import compare_on_disk, shown
from jarvisctl.plan.model import BackupPlan
from jarvisctl.store.factory import open_store
from jarvisctl.store.snapshots import (
    EntryType,
    ManifestEntry,
    Snapshot,
    SnapshotIndex,
    SnapshotState,
)
from tests.backup.helpers import backup_plan, stored_snapshot
from tests.fakes import FakeClock

BIG = 256 * 1024  # the random file: incompressible, so gzip stores it as it is (stored blocks)


@dataclass
class Taken:
    snapshot: Snapshot
    index: SnapshotIndex
    store: LocalBackupStore
    data: Path  # the stored file
    manifest: list[ManifestEntry]
    random: bytes


def host_tree(root: Path) -> bytes:
    """The Must-show kinds of file, archived as a backup archives them (tar -C / of paths)."""
    app = root / "etc" / "app"
    (app / "nested" / "deeper").mkdir(parents=True)
    (app / "secret").write_text("s3cret\n")
    (app / "secret").chmod(0o600)
    (app / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (app / "run.sh").chmod(0o755)
    (app / "empty").write_text("")
    (app / "a name with spaces\nand a newline").write_text("odd\n")
    (app / "nested" / "deeper" / "random.bin").write_bytes(os.urandom(BIG))
    (app / "link").symlink_to("nested/deeper/random.bin")
    return subprocess.run(
        ["tar", "-C", str(root), "-cf", "-", "etc/app"], capture_output=True, check=True
    ).stdout


def plan(compress: str, source: str = "paths", file: str | None = None) -> BackupPlan:
    return backup_plan(
        name="etc",
        play="p",
        source=source,
        paths=("/etc/app",) if source == "paths" else (),
        command=None if source == "paths" else "cat app.db",
        file=file,
        compress=compress,
    )


def take(tmp_path: Path, compress: str, data: bytes, source: str = "paths") -> Taken:
    """Store `data` as a snapshot would be stored, with the manifest a backup records."""
    if source == "paths":
        manifest = list(manifest_of_tar(io.BytesIO(data)))
    else:
        digest = hashlib.sha256(data).hexdigest()
        manifest = [
            ManifestEntry("app.dump", EntryType.FILE, 0o600, "", 0, 0, len(data), 0.0, digest)
        ]
    store = LocalBackupStore("local", tmp_path / "backups")
    backup = plan(compress, source, None if source == "paths" else "app.dump")
    with store.writer("s1", backup, "h1") as writer:
        writer.write(gzip.compress(data) if compress == "gzip" else data)
        committed = writer.commit()
    snapshot = stored_snapshot(backup, "local", committed, compress, manifest)
    index = open_store(tmp_path / "state").snapshots
    index.add(snapshot, manifest)
    random_file = tmp_path / "host" / "etc/app/nested/deeper/random.bin"
    random = random_file.read_bytes() if random_file.exists() else b""
    return Taken(snapshot, index, store, store.root / committed[0], manifest, random)


def flip(path: Path, offset: int) -> None:
    content = bytearray(path.read_bytes())
    content[offset] ^= 0x01
    path.write_bytes(bytes(content))


@pytest.fixture
def archive(tmp_path: Path) -> bytes:
    return host_tree(tmp_path / "host")


@pytest.mark.parametrize("mode", ["checksum", "restore"])
@pytest.mark.parametrize("compress", ["gzip", "none"])
def test_an_intact_snapshot_is_verified(
    tmp_path: Path, archive: bytes, mode: str, compress: str
) -> None:
    taken = take(tmp_path, compress, archive)
    clock = FakeClock()
    outcome = verify_snapshot(
        taken.snapshot, taken.store, taken.index, mode, tmp_path / "scratch", clock
    )
    assert outcome.ok and outcome.problem is None and outcome.mode == mode
    assert (outcome.snapshot.state, outcome.snapshot.verified_at) == (
        SnapshotState.VERIFIED,
        clock.now(),
    )
    assert taken.index.get("s1") == outcome.snapshot
    assert len(taken.manifest) == 9  # etc, etc/app and its 7 entries (tar -C / etc/app)
    scratch = tmp_path / "scratch"  # made by restore only, and the extraction removed
    assert list(scratch.iterdir()) == [] if mode == "restore" else not scratch.exists()


@pytest.mark.parametrize("mode", ["checksum", "restore"])
@pytest.mark.parametrize("compress", ["gzip", "none"])
def test_one_byte_flipped_in_the_stored_data_makes_it_unusable_naming_the_file(
    tmp_path: Path, archive: bytes, mode: str, compress: str
) -> None:
    taken = take(tmp_path, compress, archive)
    stored = taken.data.read_bytes()
    # the random file's bytes appear as they are in both: gzip stores incompressible data
    offset = stored.index(taken.random[BIG // 2 : BIG // 2 + 64])
    flip(taken.data, offset)
    clock = FakeClock()

    outcome = verify_snapshot(
        taken.snapshot, taken.store, taken.index, mode, tmp_path / "scratch", clock
    )

    assert not outcome.ok
    assert outcome.problem is not None
    assert outcome.problem.startswith(
        "/etc/app/nested/deeper/random.bin: sha256 differs (stored data: "
    )
    marked = taken.index.get("s1")
    assert (marked.state, marked.problem, marked.verified_at) == (
        SnapshotState.UNUSABLE,
        outcome.problem,
        clock.now(),
    )


@pytest.mark.parametrize("compress", ["gzip", "none"])
def test_stored_data_cut_short_is_unusable_and_names_the_file_not_read_back(
    tmp_path: Path, archive: bytes, compress: str
) -> None:
    taken = take(tmp_path, compress, archive)
    stored = taken.data.read_bytes()
    # uncompressed: cut inside the random file (the files before it matched); gzip: its end
    inside = stored.index(taken.random[:64]) + BIG // 2 if compress == "none" else 0
    end = inside or len(stored) - 100
    taken.data.write_bytes(stored[:end])
    outcome = verify_snapshot(
        taken.snapshot, taken.store, taken.index, "checksum", tmp_path / "s", FakeClock()
    )
    assert outcome.problem is not None
    if compress == "none":
        assert outcome.problem.startswith(
            "/etc/app/nested/deeper/random.bin: cannot be read back, the stored data is damaged: "
        )
        assert outcome.problem.endswith("(the files before it matched)")
    else:
        assert (
            "cannot be read back, the stored data is damaged: the stored gzip data ends early"
            in outcome.problem
        )
    assert taken.index.get("s1").state is SnapshotState.UNUSABLE


@pytest.mark.parametrize("mode", ["checksum", "restore"])
def test_a_damaged_gzip_trailer_after_every_file_matched_is_unusable(
    tmp_path: Path, archive: bytes, mode: str
) -> None:
    """The files all match; the CRC at the end of the stored .gz does not: the data is read to
    its end, so that is found too."""
    taken = take(tmp_path, "gzip", archive)
    flip(taken.data, len(taken.data.read_bytes()) - 6)  # inside the CRC-32
    outcome = verify_snapshot(
        taken.snapshot, taken.store, taken.index, mode, tmp_path / "s", FakeClock()
    )
    assert outcome.problem is not None and "incorrect data check" in outcome.problem
    assert "the stored data is damaged after its last file: " in outcome.problem


def test_missing_data_is_unusable(tmp_path: Path, archive: bytes) -> None:
    taken = take(tmp_path, "gzip", archive)
    taken.data.unlink()
    outcome = verify_snapshot(
        taken.snapshot, taken.store, taken.index, "restore", tmp_path / "s", FakeClock()
    )
    assert outcome.problem is not None
    assert outcome.problem.startswith(
        "the stored data cannot be read: snapshot s1: its data is missing"
    )
    assert check_store(taken.store, taken.index) == (
        f"snapshot s1: its data {taken.data} is missing",
    )


def test_a_manifest_that_does_not_match_names_the_first_difference(
    tmp_path: Path, archive: bytes
) -> None:
    """The stored data is intact; the manifest recorded differs (as if the data had been
    swapped): each kind of difference is named on the file."""
    taken = take(tmp_path, "none", archive)
    entries = taken.manifest
    paths = [e.path for e in entries]
    secret = paths.index("/etc/app/secret")
    cases = {
        "missing": (
            [*entries[:secret], replace(entries[secret], path="/etc/app/gone"), *entries[secret:]],
            "/etc/app/gone: in the manifest, missing from the stored data",
        ),
        "extra": (
            entries[:secret] + entries[secret + 1 :],
            "/etc/app/secret: in the stored data, not in the manifest",
        ),
        "mode": (
            [*entries[:secret], replace(entries[secret], mode=0o644), *entries[secret + 1 :]],
            "/etc/app/secret: mode differs (stored data: 0o600, manifest: 0o644)",
        ),
        "owner": (
            [
                *entries[:secret],
                replace(entries[secret], owner="nobody:nogroup"),
                *entries[secret + 1 :],
            ],
            f"/etc/app/secret: owner differs (stored data: {entries[secret].owner!r}, "
            "manifest: 'nobody:nogroup')",
        ),
        "short": (
            entries[:-1],
            f"{shown(entries[-1].path)}: in the stored data, not in the manifest",
        ),
        "long": (
            [*entries, replace(entries[-1], path="/etc/app/zz")],
            "/etc/app/zz: in the manifest, missing from the stored data",
        ),
    }
    for n, (name, (manifest, problem)) in enumerate(cases.items()):
        snapshot = replace(taken.snapshot, id=f"m{n}")
        taken.index.add(snapshot, manifest)
        outcome = verify_snapshot(
            snapshot, taken.store, taken.index, "checksum", tmp_path / "s", FakeClock()
        )
        assert outcome.problem == problem, name


@pytest.mark.parametrize("compress", ["gzip", "none"])
def test_a_command_backup_is_checked_by_its_digest(tmp_path: Path, compress: str) -> None:
    dump = b"CREATE TABLE t(x);\nINSERT INTO t VALUES(1);\n" * 1000
    taken = take(tmp_path, compress, dump, source="command")
    for mode in ("checksum", "restore"):
        outcome = verify_snapshot(
            taken.snapshot, taken.store, taken.index, mode, tmp_path / "s", FakeClock()
        )
        assert outcome.ok, outcome.problem
    if compress == "none":
        flip(taken.data, 100)
    else:
        taken.data.write_bytes(gzip.compress(dump[:100] + b"X" + dump[101:]))
    outcome = verify_snapshot(
        taken.snapshot, taken.store, taken.index, "checksum", tmp_path / "s", FakeClock()
    )
    assert outcome.problem is not None and outcome.problem.startswith("app.dump: sha256 differs")


def by_path(manifest: list[ManifestEntry]) -> list[ManifestEntry]:
    """The manifest as SnapshotIndex.manifest_by_path reads it: by path as bytes, stable."""
    return sorted(manifest, key=lambda e: e.path.encode("utf-8", "surrogateescape"))


def test_what_a_restore_wrote_is_compared_file_by_file(tmp_path: Path, archive: bytes) -> None:
    """compare_on_disk, after a real extraction, on each way a restored tree can differ."""
    manifest = list(manifest_of_tar(io.BytesIO(archive)))

    def restored(change: str) -> Path:
        root = tmp_path / change
        root.mkdir()
        extract_tar(io.BytesIO(archive), root)
        return root

    assert compare_on_disk(restored("intact"), by_path(manifest)) is None
    root = restored("mode")
    (root / "etc/app/run.sh").chmod(0o700)
    assert compare_on_disk(root, by_path(manifest)) == (
        "/etc/app/run.sh: after restoring, its mode is 0o700, the manifest has 0o755"
    )
    root = restored("content")
    (root / "etc/app/secret").write_text("S3cret\n")
    problem = compare_on_disk(root, by_path(manifest))
    assert problem is not None and problem.startswith(
        "/etc/app/secret: after restoring, its sha256 is "
    )
    root = restored("target")
    (root / "etc/app/link").unlink()
    (root / "etc/app/link").symlink_to("/etc/passwd")
    assert compare_on_disk(root, by_path(manifest)) == (
        "/etc/app/link: after restoring, it points to '/etc/passwd', not 'nested/deeper/random.bin'"
    )
    root = restored("type")
    (root / "etc/app/empty").unlink()
    (root / "etc/app/empty").mkdir(mode=0o644)
    assert compare_on_disk(root, by_path(manifest)) == (
        "/etc/app/empty: after restoring, it is a dir, the manifest has a file"
    )
    root = restored("missing")
    (root / "etc/app/a name with spaces\nand a newline").unlink()
    assert compare_on_disk(root, by_path(manifest)) == (
        "'/etc/app/a name with spaces\\nand a newline': after restoring, missing"
    )


def test_overlapping_paths_archived_twice_verify_and_are_still_compared(
    tmp_path: Path, archive: bytes
) -> None:
    """paths: [/etc/app, /etc/app/nested]: GNU tar stores the nested files a second time as
    hard links to themselves. The restore keeps the file (a link to itself is no link to make),
    and the file's content is still compared (its first copy says what it is)."""
    overlapping = subprocess.run(
        ["tar", "-C", str(tmp_path / "host"), "-cf", "-", "etc/app", "etc/app/nested"],
        capture_output=True,
        check=True,
    ).stdout
    manifest = list(manifest_of_tar(io.BytesIO(overlapping)))
    random = "/etc/app/nested/deeper/random.bin"
    assert [(e.type, e.target) for e in manifest if e.path == random] == [
        (EntryType.FILE, None),
        (EntryType.HARDLINK, random),
    ]
    taken = take(tmp_path, "gzip", overlapping)
    for mode in ("checksum", "restore"):
        outcome = verify_snapshot(
            taken.snapshot, taken.store, taken.index, mode, tmp_path / "s", FakeClock()
        )
        assert outcome.ok, outcome.problem
    root = tmp_path / "restored"
    root.mkdir()
    extract_tar(io.BytesIO(overlapping), root)
    (root / random.lstrip("/")).write_bytes(b"changed")
    problem = compare_on_disk(root, by_path(manifest))
    assert problem is not None and problem.startswith(f"{random}: after restoring, its size is 7")


def test_hard_linked_symlinks_verify_by_restore(tmp_path: Path) -> None:
    """GNU tar stores the second name of a hard-linked symlink as a hard link to the first."""
    app = tmp_path / "host" / "etc" / "app"
    app.mkdir(parents=True)
    (app / "s").symlink_to("/etc/hostname")
    os.link(app / "s", app / "h", follow_symlinks=False)
    archive = subprocess.run(
        ["tar", "-C", str(tmp_path / "host"), "-cf", "-", "etc/app"],
        capture_output=True,
        check=True,
    ).stdout
    manifest = list(manifest_of_tar(io.BytesIO(archive)))
    (first, second) = [e for e in manifest if e.path in ("/etc/app/s", "/etc/app/h")]
    assert (first.type, first.target) == (EntryType.SYMLINK, "/etc/hostname")
    assert (second.type, second.target) == (EntryType.HARDLINK, first.path)  # (readdir order)
    taken = take(tmp_path, "none", archive)
    outcome = verify_snapshot(
        taken.snapshot, taken.store, taken.index, "restore", tmp_path / "s", FakeClock()
    )
    assert outcome.ok, outcome.problem


def test_a_full_scratch_space_is_no_verdict_on_the_snapshot(tmp_path: Path, archive: bytes) -> None:
    from tests.backup.helpers import small_tmpfs

    taken = take(tmp_path, "gzip", archive)
    with small_tmpfs(tmp_path / "scratch", "64k") as scratch:
        outcome = verify_snapshot(
            taken.snapshot, taken.store, taken.index, "restore", scratch, FakeClock()
        )
        assert not outcome.ok and not outcome.conclusive
        assert outcome.problem is not None
        assert "(the controller's scratch space, not the snapshot)" in outcome.problem
        assert "No space left on device" in outcome.problem
        assert list(scratch.iterdir()) == []  # the partial extraction is removed
    assert taken.index.get("s1") == taken.snapshot  # unverified, as it was: no verdict
    assert outcome.snapshot == taken.snapshot


def test_a_failed_restore_is_overturned_only_by_a_restore(tmp_path: Path) -> None:
    """A member the restore refuses ('..' in its name) matches its manifest: checksum passes,
    restore fails. A later checksum does not make it usable again; a fixed copy of the data
    verified by restore would. A checksum failure, by contrast, is lifted by a checksum."""
    hostile = io.BytesIO()
    with tarfile.open(fileobj=hostile, mode="w", format=tarfile.PAX_FORMAT) as made:
        info = tarfile.TarInfo("etc/../../escape")
        info.size = 3
        made.addfile(info, io.BytesIO(b"bad"))
    taken = take(tmp_path, "none", hostile.getvalue())
    verify = lambda mode: verify_snapshot(  # noqa: E731
        taken.snapshot, taken.store, taken.index, mode, tmp_path / "s", FakeClock()
    )
    assert verify("checksum").ok
    failed = verify("restore")
    assert failed.problem is not None and failed.problem.startswith("by restore: restoring into ")
    assert "'..' in the name would leave the scratch directory" in failed.problem
    again = verify("checksum")
    assert not again.ok and not again.conclusive
    assert again.problem is not None and "only a verification by restore" in again.problem
    assert taken.index.get("s1").state is SnapshotState.UNUSABLE
    assert taken.index.get("s1").problem == failed.problem


def test_a_checksum_failure_is_lifted_by_a_checksum_of_repaired_data(
    tmp_path: Path, archive: bytes
) -> None:
    taken = take(tmp_path, "none", archive)
    good = taken.data.read_bytes()
    flip(taken.data, good.index(taken.random[:64]))
    verify = lambda: verify_snapshot(  # noqa: E731
        taken.snapshot, taken.store, taken.index, "checksum", tmp_path / "s", FakeClock()
    )
    assert verify().snapshot.state is SnapshotState.UNUSABLE
    taken.data.write_bytes(good)  # the store's file put back from a copy
    repaired = verify()
    assert repaired.ok and repaired.snapshot.state is SnapshotState.VERIFIED


def test_a_store_locked_by_another_process_is_no_verdict(tmp_path: Path, archive: bytes) -> None:
    """restic refuses to read while another host's prune holds the repository: its message,
    as ResticBackupStore passes it on, leaves the snapshot as it was."""
    from jarvisctl.backup.errors import BackupStoreError

    taken = take(tmp_path, "none", archive)

    class Locked:
        name = "offsite"

        def open(self, snapshot: Snapshot) -> io.BytesIO:
            raise BackupStoreError(
                "restic dump of snapshot s1 failed: unable to create lock in backend: repository "
                "is already locked exclusively by PID 4242 on ctl by root (UID 0, GID 0)"
            )

        def check(self, expected: object = ()) -> tuple[str, ...]:
            return ()

    outcome = verify_snapshot(
        taken.snapshot, Locked(), taken.index, "checksum", tmp_path / "s", FakeClock()
    )
    assert not outcome.ok and not outcome.conclusive
    assert outcome.problem is not None
    assert outcome.problem.startswith("the backup store 'offsite' is busy, try again: ")
    assert taken.index.get("s1") == taken.snapshot


def text_tar(files: int = 6, lines: int = 400) -> tuple[bytes, list[int]]:
    """A tar of seeded, compressible text files (it gzips to a few KiB, one inflate's input) and
    the offset in it where each file's header starts."""
    rng = random.Random(20261204)
    words = ["disk", "load", "warn", "crit", "temp", "fan", "gpu", "ok", "host", "check"]
    out, starts = io.BytesIO(), []
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for n in range(files):
            body = "\n".join(" ".join(rng.choices(words, k=8)) for _ in range(lines)).encode()
            info = tarfile.TarInfo(f"etc/app/file{n}.txt")
            info.size, info.mtime, info.mode = len(body), 1_700_000_000, 0o644
            starts.append(out.tell())
            tar.addfile(info, io.BytesIO(body))
    return out.getvalue(), starts


def corrupted_deflate(compressed: bytes, data: bytes, within: tuple[int, int]) -> tuple[int, bytes]:
    """An offset where a flipped bit breaks the deflate codes themselves (zlib raises
    "invalid ...", not merely a CRC mismatch at the end: mostly a distance too far back, so
    within the first 32 KiB of output), with the output it spoils and the error both in
    `within` (offsets into `data`); and what a byte-at-a-time inflate of that damaged stream
    hands out before it raises."""
    lo, hi = within
    for offset in range(max(10, lo * len(compressed) // len(data) - 500), len(compressed) - 8):
        damaged = bytearray(compressed)
        damaged[offset] ^= 0x01
        try:
            zlib.decompress(bytes(damaged), 16 + zlib.MAX_WBITS)
            continue
        except zlib.error as exc:
            if "invalid" not in str(exc):
                continue
        inflater, prefix = zlib.decompressobj(16 + zlib.MAX_WBITS), bytearray()
        with contextlib.suppress(zlib.error):
            for i in range(len(damaged)):
                prefix += inflater.decompress(damaged[i : i + 1])
        if lo <= first_difference(bytes(prefix), data) <= len(prefix) < hi:
            return offset, bytes(prefix)
    raise AssertionError("no flip in the stream breaks its deflate codes there")


def first_difference(a: bytes, b: bytes) -> int:
    return next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )


def test_a_damaged_compressed_stream_hands_out_every_byte_before_the_damage(tmp_path: Path) -> None:
    """The whole file is one inflate's input: when zlib raises on it, the bytes it had inflated
    before the damage must still reach the reader, or verification names a file before the
    damaged one (the snapshot's first directory: CI saw that)."""
    data, starts = text_tar()
    compressed = gzip.compress(data, mtime=0)
    offset, expected = corrupted_deflate(compressed, data, (starts[1] + 512, starts[2]))
    stored = tmp_path / "data.gz"
    damaged = bytearray(compressed)
    damaged[offset] ^= 0x01
    stored.write_bytes(bytes(damaged))
    got = bytearray()
    corrupt = "the stored gzip data is corrupt: Error -3 while decompressing data: invalid"
    with (
        pytest.raises(CompressionError, match=corrupt),
        opened_uncompressed(stored.open("rb"), str(stored), "gzip") as reader,
    ):
        while chunk := reader.read(7000):
            got += chunk
    assert bytes(got) == expected


def test_damage_in_the_deflate_codes_names_the_file_it_lies_in(tmp_path: Path) -> None:
    data, starts = text_tar()
    taken = take(tmp_path, "gzip", data)
    stored = taken.data.read_bytes()
    offset, _ = corrupted_deflate(stored, data, (starts[1] + 512, starts[2]))
    flip(taken.data, offset)
    outcome = verify_snapshot(
        taken.snapshot, taken.store, taken.index, "checksum", tmp_path / "s", FakeClock()
    )
    assert outcome.problem is not None
    assert outcome.problem.startswith(
        "/etc/app/file1.txt: cannot be read back, the stored data is damaged: "
        "the stored gzip data is corrupt: Error -3 while decompressing data: invalid"
    ), outcome.problem
    assert outcome.problem.endswith("(the files before it matched)")
