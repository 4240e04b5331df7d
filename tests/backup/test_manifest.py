"""manifest_of_tar over real GNU tar streams: every entry as lstat sees it, awkward names
round-trip, and a cut or foreign stream is an error rather than a shorter manifest."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from jarvisctl.backup.manifest import TarStreamError, host_path, manifest_of_tar, tar_members
from jarvisctl.store.snapshots import EntryType
from tests.backup.helpers import AWKWARD_NAMES, expected_manifest, make_tree


def gnu_tar(*args: str) -> bytes:
    return subprocess.run(["tar", "-c", "-f", "-", *args], capture_output=True, check=True).stdout


@pytest.mark.parametrize("tar_format", ["gnu", "pax", "ustar"])
def test_every_entry_as_lstat_sees_it(tmp_path: Path, tar_format: str) -> None:
    root = make_tree(tmp_path / "tree")
    if tar_format == "ustar":  # ustar cannot hold the long name: leave it out
        (root / "etc" / "nested" / AWKWARD_NAMES[-1]).unlink()
    stream = gnu_tar(f"--format={tar_format}", "--", str(root))
    entries = list(manifest_of_tar(io.BytesIO(stream)))
    got = {e.path: (e.type.value, e.mode, e.size, e.sha256, e.target) for e in entries}
    expected = expected_manifest(root)
    hard = str(root / "bin" / "hard-link")
    assert got[hard] == ("hardlink", 0o644, 0, None, str(root / "etc" / "app.conf"))
    del got[hard], expected[hard]
    assert got == expected
    info = (root / "etc" / "secret.key").stat()
    (secret,) = [e for e in entries if e.path == str(root / "etc" / "secret.key")]
    assert (secret.uid, secret.gid, int(secret.mtime)) == (0, 0, int(info.st_mtime))
    assert secret.owner == "root:root"
    for name in AWKWARD_NAMES[: 3 if tar_format == "ustar" else 4]:
        assert str(root / "etc" / "nested" / name) in got


def test_a_stream_cut_inside_a_member_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(os.urandom(100_000))
    stream = gnu_tar("--", str(tmp_path / "big"))
    with pytest.raises(TarStreamError, match="not whole"):
        list(manifest_of_tar(io.BytesIO(stream[:50_000])))


def test_a_stream_that_is_not_tar_is_an_error() -> None:
    with pytest.raises(TarStreamError):
        list(manifest_of_tar(io.BytesIO(os.urandom(4096))))


def test_host_paths() -> None:
    assert host_path("etc/app.conf") == "/etc/app.conf"
    assert host_path("/etc/app.conf") == "/etc/app.conf"
    assert host_path("./etc") == "/etc"
    assert EntryType.FILE.value == "file"


def test_a_stream_read_member_by_member_keeps_no_list_of_members(tmp_path: Path) -> None:
    """tarfile keeps each member it reads in `members`: tar_members forgets each one, so a
    manifest of 100,000 files never holds 100,000 TarInfo objects (~70 MiB)."""
    for n in range(200):
        (tmp_path / f"f{n:03d}").write_bytes(b"x" * n)
    os.link(tmp_path / "f001", tmp_path / "hard")
    stream = io.BytesIO(gnu_tar("-C", str(tmp_path), "."))
    held = []
    with tarfile.open(fileobj=stream, mode="r|") as archive:
        for member in tar_members(archive):
            if member.isreg():
                content = archive.extractfile(member)
                assert content is not None and len(content.read()) == member.size
            held.append(len(archive.members))  # type: ignore[attr-defined]
    assert len(held) == 202 and max(held) == 1
    entries = list(manifest_of_tar(io.BytesIO(stream.getvalue())))
    assert len(entries) == 202 and len({e.path for e in entries}) == 202
    assert {e.type for e in entries if e.path in ("/f001", "/hard")} == {
        EntryType.FILE,
        EntryType.HARDLINK,
    }
