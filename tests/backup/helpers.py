"""Shared parts of the backup tests: plans, snapshots, a small tmpfs for a full disk."""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jarvisctl.core.errors import Location
from jarvisctl.plan.model import BackupPlan, BackupStorePlan, Retention
from jarvisctl.store.snapshots import Snapshot


def backup_plan(**overrides: Any) -> BackupPlan:
    values: dict[str, Any] = {
        "name": "conf",
        "play": "backups",
        "source": "paths",
        "paths": (),
        "exclude": (),
        "command": None,
        "file": None,
        "keep": Retention(last=3),
        "max_age": None,
        "verify": "checksum",
        "store": BackupStorePlan(name="local", kind="local", location=""),
        "compress": "gzip",
        "timeout": 60.0,
        "become": False,
        "bandwidth": None,
        "nice": False,
        "tags": (),
        "location": Location("play.yml", 1, 1),
    }
    values.update(overrides)
    return BackupPlan(**values)


def snapshot_of(plan: BackupPlan, snapshot_id: str, location: str, compress: str) -> Snapshot:
    return Snapshot(
        id=snapshot_id,
        host="h1",
        backup=plan.name,
        play=plan.play,
        store=plan.store.name,
        location=location,
        taken_at=0.0,
        seconds=0.0,
        source=plan.source,
        compress=compress,
        files=0,
        bytes=0,
        stored_bytes=0,
    )


def files_under(directory: Path) -> list[str]:
    """Every file below `directory`, hidden ones included, relative."""
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


@contextlib.contextmanager
def small_tmpfs(directory: Path, size: str = "1m") -> Iterator[Path]:
    """A tmpfs of `size` mounted at `directory` (root only): a filesystem that fills up."""
    directory.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (root is needed): {mounted.stderr.strip()}")
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False)


# A tree with what tar and the shell find hard: nested directories, a symlink, a hard link, an
# empty file, names with spaces, a newline, quotes, a leading dash and one past tar's 100 bytes.
AWKWARD_NAMES = (
    "with spaces\nand a newline.txt",
    "-leading-dash",
    'it\'s "quoted" $HOME `x`',
    "long-" + "n" * 150,
)


def make_tree(root: Path) -> Path:
    """The awkward tree under `root` (created); returns root."""
    (root / "etc" / "nested" / "deeper").mkdir(parents=True)
    (root / "bin").mkdir()
    (root / "etc" / "app.conf").write_text("setting = 1\n")
    (root / "etc" / "secret.key").write_bytes(os.urandom(3000))
    (root / "etc" / "secret.key").chmod(0o600)
    (root / "bin" / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (root / "bin" / "run.sh").chmod(0o755)
    (root / "etc" / "nested" / "deeper" / "leaf.txt").write_text("leaf\n")
    (root / "etc" / "empty").write_bytes(b"")
    for index, name in enumerate(AWKWARD_NAMES):
        (root / "etc" / "nested" / name).write_text(f"file {index}\n")
    (root / "etc" / "link-to-conf").symlink_to("app.conf")
    os.link(root / "etc" / "app.conf", root / "bin" / "hard-link")
    (root / "etc" / "cache").mkdir()
    (root / "etc" / "cache" / "skip.tmp").write_text("excluded\n")
    return root


def expected_manifest(
    root: Path, *, excluded: tuple[str, ...] = ()
) -> dict[str, tuple[object, ...]]:
    """What a manifest of `root` must say, read with lstat: path -> (type, mode, size, sha256,
    symlink target). Hard links are read as files here; the caller says which became links."""
    found: dict[str, tuple[object, ...]] = {}
    for path in [root, *sorted(root.rglob("*"))]:
        if any(path.match(glob) for glob in excluded):
            continue
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            found[str(path)] = ("symlink", stat.S_IMODE(info.st_mode), 0, None, os.readlink(path))
        elif stat.S_ISDIR(info.st_mode):
            found[str(path)] = ("dir", stat.S_IMODE(info.st_mode), 0, None, None)
        else:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            found[str(path)] = ("file", stat.S_IMODE(info.st_mode), info.st_size, digest, None)
    return found
