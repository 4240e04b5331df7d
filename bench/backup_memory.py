"""What a backup's manifest costs in memory: the controller's peak RSS for taking a backup of
a tree of many small files, verifying it by restore and `restore --check` of it, at two tree
sizes, so that what each file adds shows (the difference over the number of files).

    .venv/bin/python -m bench.backup_memory --files 1000 100000 [--code DIR]

Each phase runs in a process of its own (its peak RSS is `ru_maxrss` of that process alone),
through the local connection, into a local store and a state directory under --work; `--code`
is the tree whose `jarvisctl` is measured (default: this one; another worktree or a checkout of
an older commit measures the before). The trees (files of 16-64 bytes, 100 to a directory) are
generated once under --work and kept.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PHASES = ("take", "verify-restore", "restore-check")

# One phase, run as `python -c CHILD PHASE TREE STATE`, printing {"rss_kib": ..., ...}.
CHILD = r"""
import json, resource, sys, tempfile
from pathlib import Path
from jarvisctl.backup.stores.base import open_backup_store
from jarvisctl.config.connection_settings import ConnectionSettings
from jarvisctl.connection.local import LocalConnection
from jarvisctl.core.clock import SYSTEM_CLOCK
from jarvisctl.core.errors import Location
from jarvisctl.plan.model import BackupPlan, BackupStorePlan, Retention
from jarvisctl.store.factory import open_store

phase, tree, state_dir = sys.argv[1], sys.argv[2], Path(sys.argv[3])
where = BackupStorePlan(name="local", kind="local", location="")
plan = BackupPlan(
    name="tree", play="bench", source="paths", paths=(tree,), exclude=(), command=None,
    file=None, keep=Retention(last=1), max_age=None, verify="checksum", store=where,
    compress="gzip", timeout=3600.0, become=False, bandwidth=None, nice=False, tags=(),
    location=Location("bench", 1, 1),
)
store = open_backup_store(where, state_dir)
state = open_store(state_dir)
local = LocalConnection(ConnectionSettings(host="ctl", address="localhost", connection="local"))
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result = {}
if phase == "take":
    from jarvisctl.backup.take import take_backup
    taken = take_backup(local, "ctl", plan, store, state.snapshots, SYSTEM_CLOCK)
    result = {"ok": taken.snapshot is not None, "error": taken.error,
              "files": taken.snapshot.files if taken.snapshot else 0}
else:
    (snapshot,) = state.snapshots.list()
    if phase == "verify-restore":
        from jarvisctl.backup.verify import verify_snapshot
        with tempfile.TemporaryDirectory(dir=state_dir) as scratch:
            done = verify_snapshot(snapshot, store, state.snapshots, "restore", Path(scratch),
                                   SYSTEM_CLOCK)
        result = {"ok": done.ok, "error": done.problem, "files": snapshot.files}
    else:
        from jarvisctl.backup.restore import restore_snapshot
        with tempfile.TemporaryDirectory(dir=state_dir) as to:
            done = restore_snapshot(local, snapshot, store, state.snapshots, to=to, check=True,
                                    become=False)
        result = {"ok": done.ok, "error": done.problem, "files": done.files}
result["base_kib"] = base
result["rss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps(result))
"""


def ensure_tree(root: Path, files: int) -> Path:
    tree = root / f"tree-{files}"
    if (tree / ".done").exists():
        return tree
    shutil.rmtree(tree, ignore_errors=True)
    for n in range(files):
        directory = tree / f"d{n // 100:05d}"
        if n % 100 == 0:
            directory.mkdir(parents=True)
        (directory / f"f{n:07d}").write_bytes(f"file {n} ".encode() * (2 + n % 6))
    (tree / ".done").write_text("")
    return tree


def run_phase(code: Path, phase: str, tree: Path, state_dir: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(code)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, phase, str(tree), str(state_dir)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{phase} failed ({done.returncode}): {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def measure(code: Path, work: Path, files: int) -> dict[str, dict[str, Any]]:
    tree = ensure_tree(work, files)
    with tempfile.TemporaryDirectory(dir=work) as state:
        return {p: run_phase(code, p, tree, Path(state)) for p in PHASES}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.backup_memory", description=__doc__)
    parser.add_argument("--files", type=int, nargs=2, default=[1000, 100_000])
    parser.add_argument("--code", type=Path, default=REPO)
    parser.add_argument("--work", type=Path, default=Path("/var/tmp/jarvisctl-bench-memory"))
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    small, large = args.files
    results = {n: measure(args.code, args.work, n) for n in (small, large)}
    for phase in PHASES:
        low, high = results[small][phase], results[large][phase]
        per_file = (high["rss_kib"] - low["rss_kib"]) / (large - small)
        print(
            f"{phase:<15} peak RSS {low['rss_kib'] / 1024:6.1f} MiB at {small} files, "
            f"{high['rss_kib'] / 1024:6.1f} MiB at {large}: "
            f"{per_file:.3f} KiB per file  (ok: {low['ok']}, {high['ok']}"
            + ("" if high["ok"] else f"; {high['error']}")
            + ")"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
