"""manifest_of_tar over real GNU tar streams: every entry as lstat sees it, awkward names
round-trip, and a cut or foreign stream is an error rather than a shorter manifest."""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

import pytest

from jarvisctl.backup.manifest import TarStreamError, host_path, manifest_of_tar
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
