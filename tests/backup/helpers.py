"""Shared parts of the backup tests (unit, integration, e2e): plans, snapshots, a small tmpfs for
a full disk, and a project's jarvisctl run as a user runs it."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from jarvisctl.app.plan import PlanRequest, plan_playbooks
from jarvisctl.config.models.values import Threshold
from jarvisctl.config.project import Project
from jarvisctl.core.errors import Location
from jarvisctl.core.secrets import SecretValues
from jarvisctl.kinds.registry import load_registry
from jarvisctl.plan.model import (
    BackupPlan,
    BackupStorePlan,
    CheckPlan,
    HostPlan,
    Plan,
    PlaybookPlan,
    PlayPlan,
    Retention,
)
from jarvisctl.store.snapshots import ManifestEntry, Snapshot

CHECKOUT = Path(__file__).parents[2]
DAY = 86400.0


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


def freshness_check(
    backup: str, warn: float | None = None, crit: float = DAY, location: Location | None = None
) -> CheckPlan:
    """The `backup NAME` check a backup's max_age derives: its age in seconds, CRITICAL from
    `crit`."""

    def level(value: float | None) -> Threshold | None:
        return None if value is None else Threshold(f"{value:g}", "level", value=value)

    return CheckPlan(
        name=f"backup {backup}",
        use="backup_age",
        kind="backup_age",
        description="",
        command="",
        params=load_registry().checks["backup_age"].params_model(backup=backup),
        unit="s",
        direction="above",
        warn=level(warn),
        crit=level(crit),
        clear=None,
        for_cycles=1,
        timeout=10.0,
        tags=(),
        remediations=(),
        location=location or Location("p.yml", 1, 1),
    )


def plan_of_hosts(hosts: Sequence[HostPlan], location: Location) -> Plan:
    """A plan of one play `p` (in p.yml) over `hosts`, made without a project."""
    play = PlayPlan("p", "all", location, (), None, tuple(hosts))
    return Plan((PlaybookPlan("p.yml", (play,)),), "inline", None, (), datetime.now(timezone.utc))


def host_of(plan: Plan, name: str) -> HostPlan:
    """The first play's plan for host `name`, in a plan that has no problem."""
    assert plan.ok, plan.problems
    return next(h for b in plan.playbooks for p in b.plays for h in p.hosts if h.host == name)


def planned_host(project: Project, name: str) -> HostPlan:
    """Host `name`'s plan in the project's own playbooks."""
    return host_of(plan_playbooks(project, PlanRequest(), SecretValues()), name)


def run_jarvisctl(
    root: Path, *args: str, env: Mapping[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`jarvisctl ARGS` in the project at `root`, as a user runs it: a process of this checkout's
    code, in the environment given (default: this one)."""
    return subprocess.run(
        [sys.executable, "-m", "jarvisctl", *args],
        cwd=root,
        env={**(os.environ if env is None else env), "PYTHONPATH": str(CHECKOUT)},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def runs_of(root: Path) -> list[dict[str, Any]]:
    """`jarvisctl runs --json` of the project at `root`."""
    done = run_jarvisctl(root, "runs", "--json")
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


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


def stored_snapshot(
    backup: BackupPlan,
    store: str,
    stored: tuple[str, int],
    compress: str,
    manifest: Sequence[ManifestEntry],
) -> Snapshot:
    """Snapshot s1 of `backup` on h1, as the index records one a store writer committed:
    `stored` is what the commit returned (its location, its stored bytes)."""
    location, stored_bytes = stored
    return Snapshot(
        id="s1",
        host="h1",
        backup=backup.name,
        play=backup.play,
        store=store,
        location=location,
        taken_at=1_800_000_000.0,
        seconds=1.0,
        source=backup.source,
        compress=compress,
        files=len(manifest),
        bytes=sum(e.size for e in manifest),
        stored_bytes=stored_bytes,
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
