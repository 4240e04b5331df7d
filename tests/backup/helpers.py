"""Shared parts of the backup tests: plans, snapshots, a small tmpfs for a full disk."""

from __future__ import annotations

import contextlib
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
