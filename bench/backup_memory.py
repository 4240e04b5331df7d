"""What a backup's manifest costs in memory: the controller's peak RSS for taking a backup of
a tree of many small files, verifying it by restore and `restore --check` of it, at two tree
sizes, so that what each file adds shows (the difference over the number of files).

    .venv/bin/python -m bench.backup_memory --files 1000 100000 [--code DIR]

Each phase is the `jarvisctl` command as a user runs it (`python -m jarvisctl`, a process of
its own, from --code: this tree by default; another worktree or an older commit's copy measures
the before), on a project whose one host is this machine (`connection: local`), into the
default local store: `run` (the take, and its `verify: checksum`), `backups verify ID
--restore`, `backups restore ctl tree --to DIR --check`. Peak RSS is that process's (wait4:
the largest of it and what it waited for). The trees (files of 16-64 bytes, 100 to a
directory) are generated once under --work and kept.
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
INVENTORY = "all:\n  hosts:\n    ctl: {ansible_connection: local}\n"
PLAY = """\
- name: bench
  hosts: all
  backups:
    - name: tree
      paths: ["TREE"]
      keep: {last: 1}
      nice: false
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


def jarvisctl(code: Path, project: Path, *args: str) -> tuple[int, int, str]:
    """(exit status, peak RSS in KiB, stdout) of one `jarvisctl` command."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "jarvisctl", *args], cwd=project, env=env, stdout=out, stderr=err
        )
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text = out.read().decode(errors="replace")
        if process.returncode not in (0, 1):
            raise SystemExit(f"jarvisctl {' '.join(args)}: {err.read().decode()[-2000:]}")
    return process.returncode, usage.ru_maxrss, text


def measure(code: Path, work: Path, files: int) -> dict[str, dict[str, Any]]:
    tree = ensure_tree(work, files)
    with tempfile.TemporaryDirectory(dir=work) as directory:
        project = Path(directory)
        (project / "jarvisctl.yml").write_text("inventory: inventory.yml\nplaybooks: [play.yml]\n")
        (project / "inventory.yml").write_text(INVENTORY)
        (project / "play.yml").write_text(PLAY.replace("TREE", str(tree)))
        results: dict[str, dict[str, Any]] = {}
        status, rss, out = jarvisctl(code, project, "run", "play.yml", "--json")
        (host,) = json.loads(out)["hosts"]
        (backup,) = host["backups"]
        results["take"] = {"ok": status == 0, "rss_kib": rss, "error": backup.get("error")}
        listed = json.loads(jarvisctl(code, project, "backups", "list", "--json")[2])
        snapshot = listed[0]["id"]
        status, rss, out = jarvisctl(code, project, "backups", "verify", snapshot, "--restore")
        results["verify-restore"] = {"ok": status == 0, "rss_kib": rss, "error": out[-300:]}
        with tempfile.TemporaryDirectory(dir=work) as to:
            status, rss, out = jarvisctl(
                code, project, "backups", "restore", "ctl", "tree", "--to", to, "--check"
            )
        results["restore-check"] = {"ok": status == 0, "rss_kib": rss, "error": out[-300:]}
        return results


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
