"""Backing up a 1 GiB tree from one sshd host: jarvisctl against the floor, side by side.

    .venv/bin/python -m bench.backup --repeat 5

The floor is what a shell one-liner costs: `ssh host 'tar -c -f - -- TREE | gzip -c' | cat >
FILE`, with the compression jarvisctl uses by default (gzip, level 6, on the host), both sides of
the pipe under `nice -n 19 ionice -c 3` as jarvisctl's default `nice: true` runs them. jarvisctl is
`jarvisctl run backup.yml --json` with one backup of the same tree (default compression, the
default `verify: checksum`, `keep: {last: 1}`), as a user installs it: a wheel of the commit
(`--ref`, default HEAD) in a virtualenv of its own, bytecode compiled (bench/installs.py), or the
project's .venv with `--ref venv`. After one untimed run of each, the two take turns, the first
alternating from round to round, each under probe.py (wall, CPU of the whole process tree, peak
RSS of its largest process), plus the hosts' CPU from the sshd listener (bench/fleet.py).

Then the restore: `jarvisctl backups restore HOST tree --to DIR` of the last snapshot into an
empty directory on the host, timed the same way (`--restore-repeat` times), the first one
compared file by file with the source tree.

Results: bench/results/backup-<UTC time>.json and the section between the `backup` markers of
bench/README.md. The tree is generated once (bench/backup_tree.py) and kept under --tree.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.backup_report import render, summarize, update_readme  # noqa: E402
from bench.backup_tree import TreeSpec, ensure_tree  # noqa: E402
from bench.compare import machine  # noqa: E402
from bench.entry import begin, publish, stamp_end  # noqa: E402
from bench.fleet import BenchFleet  # noqa: E402
from bench.installs import install_ref, run_environment, write_constraints  # noqa: E402

PROBE = REPO / "bench" / "probe.py"
RUN_TIMEOUT = 1800.0
HOST_COMPRESSOR = "gzip -c"  # jarvisctl's `compress: gzip` (the default) on the host
# jarvisctl's default `nice: true` runs the host's tar and compressor so; the floor does the
# same, or on a machine shared with other work the floor's side would get more CPU than ours
NICE = "nice -n 19 ionice -c 3 "


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.backup", description=__doc__)
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs of each first")
    parser.add_argument(
        "--progress",
        type=Path,
        default=Path("/var/tmp/jarvisctl-bench-backup/progress.json"),
        help="the samples so far, rewritten after each one (for a run stopped before its end)",
    )
    parser.add_argument("--restore-repeat", type=int, default=3, help="timed restores")
    parser.add_argument("--ref", default="HEAD", help="git ref to install as a wheel, or venv")
    parser.add_argument(
        "--tree",
        type=Path,
        default=Path("/var/tmp/jarvisctl-bench-backup/tree"),
        help="where the 1 GiB source tree is generated once and kept",
    )
    parser.add_argument(
        "--mib",
        type=int,
        default=1024,
        help="the tree's size (default 1024; less for a smoke test)",
    )
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--readme", type=Path, default=REPO / "bench" / "README.md")
    parser.add_argument("--no-readme", action="store_true")
    parser.add_argument("--render", type=Path, help="re-render the README from a results file")
    parser.add_argument("--keep-work", action="store_true")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.restore_repeat < 1 or args.warmup < 0:
        parser.error("--repeat and --restore-repeat must be positive, --warmup not negative")
    return args


def jarvisctl_command(args: argparse.Namespace, work: Path) -> tuple[list[str], dict[str, str]]:
    """The jarvisctl to run (argv prefix) and the environment to run it in."""
    if args.ref == "venv":
        # this interpreter (the project's .venv) on this tree's code
        return [sys.executable, "-m", "jarvisctl"], {**run_environment(), "PYTHONPATH": str(REPO)}
    install = install_ref("head", args.ref, work, write_constraints(work / "constraints.txt"))
    print(f"installed {install.commit} {install.subject[:70]}", file=sys.stderr)
    return [install.jarvisctl], run_environment()


def write_project(project: Path, fleet: BenchFleet, tree: Path) -> None:
    project.mkdir(parents=True, exist_ok=True)
    (project / "jarvisctl.yml").write_text(
        json.dumps(
            {
                "state_dir": str(project / "state"),
                "inventory": "inventory.yml",
                "playbooks": ["backup.yml"],
            }
        )
    )
    fleet.fleet.write_inventory(project / "inventory.yml")
    (project / "backup.yml").write_text(
        f"- name: bench\n  hosts: all\n  backups:\n"
        f"    - {{name: tree, paths: [{json.dumps(str(tree))}], keep: {{last: 1}}}}\n"
    )


def probe(argv: list[str], cwd: Path, env: dict[str, str], run_dir: Path) -> dict[str, Any]:
    run_dir.mkdir(parents=True, exist_ok=True)
    result, out, err = run_dir / "probe.json", run_dir / "stdout", run_dir / "stderr"
    command = [sys.executable, str(PROBE), str(result), str(out), str(err), "--", *argv]
    subprocess.run(command, cwd=cwd, env=env, check=True, timeout=RUN_TIMEOUT)
    measured: dict[str, Any] = json.loads(result.read_text())
    if measured["exit_code"] != 0:
        raise RuntimeError(
            f"{' '.join(argv)} exited {measured['exit_code']} ({run_dir}):\n"
            f"{out.read_text()[-2000:]}\n{err.read_text()[-2000:]}"
        )
    return measured


def sample(
    fleet: BenchFleet, argv: list[str], cwd: Path, env: dict[str, str], run_dir: Path
) -> dict[str, Any]:
    fleet.wait_idle()
    before = fleet.host_cpu()
    measured = probe(argv, cwd, env, run_dir)
    fleet.wait_idle()
    return {
        "wall_seconds": round(measured["wall_seconds"], 3),
        "controller_cpu_seconds": round(
            measured["cpu_user_seconds"] + measured["cpu_system_seconds"], 3
        ),
        "peak_rss_mib": round(measured["max_rss_kib"] / 1024, 1),
        "host_cpu_seconds": round(fleet.host_cpu() - before, 3),
    }


def jarvisctl_round(
    fleet: BenchFleet, prefix: list[str], env: dict[str, str], project: Path, run_dir: Path
) -> dict[str, Any]:
    measured = sample(fleet, [*prefix, "run", "backup.yml", "--json"], project, env, run_dir)
    document = json.loads((run_dir / "stdout").read_text())
    (entry,) = [b for h in document["hosts"] for b in h["backups"]]
    if entry["outcome"] != "taken":
        raise RuntimeError(f"the backup was not taken: {entry}")
    verify = entry.get("verify") or {}
    return {
        **measured,
        "take_seconds": entry["seconds"],
        "verify_seconds": verify.get("seconds"),
        "bytes": entry["bytes"],
        "stored_bytes": entry["stored_bytes"],
        "snapshot": entry["snapshot"],
    }


def floor_round(fleet: BenchFleet, tree: Path, work: Path, run_dir: Path) -> dict[str, Any]:
    host = fleet.hosts[0]
    remote = f"{NICE}tar -c -f - -- {shlex.quote(str(tree))} | {NICE}{HOST_COMPRESSOR}"
    target = work / "floor.tar.gz"
    ssh = " ".join(shlex.quote(a) for a in [*fleet.ssh_argv(host), remote])
    measured = sample(
        fleet,
        ["sh", "-c", f"{ssh} | cat > {shlex.quote(str(target))}"],
        work,
        os.environ.copy(),
        run_dir,
    )
    measured["stored_bytes"] = target.stat().st_size
    target.unlink()
    return measured


def take_turns(
    fleet: BenchFleet,
    prefix: list[str],
    env: dict[str, str],
    args: argparse.Namespace,
    work: Path,
    doc: dict[str, Any],
) -> None:
    """Warm-up runs, then `repeat` rounds of one run each, the first alternating; each sample
    goes into doc["samples"] and the progress file as soon as it is measured."""
    project = work / "project"
    runs = work / "runs"
    for index in range(args.warmup):
        print(f"warm-up {index}: one untimed run of each", file=sys.stderr)
        jarvisctl_round(fleet, prefix, env, project, runs / f"warmup{index}" / "jarvisctl")
        floor_round(fleet, args.tree, work, runs / f"warmup{index}" / "floor")
    samples: dict[str, list[dict[str, Any]]] = {"jarvisctl": [], "floor": []}
    doc["samples"] = samples
    for round_ in range(args.repeat):
        order = ["jarvisctl", "floor"] if round_ % 2 == 0 else ["floor", "jarvisctl"]
        for tool in order:
            run_dir = runs / f"round{round_}" / tool
            if tool == "jarvisctl":
                got = jarvisctl_round(fleet, prefix, env, project, run_dir)
            else:
                got = floor_round(fleet, args.tree, work, run_dir)
            samples[tool].append({**got, "round": round_})
            args.progress.write_text(json.dumps(doc, indent=2) + "\n")
            print(
                f"round {round_} {tool:<9}: wall {got['wall_seconds']:6.2f} s  "
                f"cpu {got['controller_cpu_seconds']:6.2f} s  rss {got['peak_rss_mib']:6.1f} MiB  "
                f"host cpu {got['host_cpu_seconds']:6.2f} s",
                file=sys.stderr,
                flush=True,
            )


def restores(
    fleet: BenchFleet, prefix: list[str], env: dict[str, str], args: argparse.Namespace, work: Path
) -> list[dict[str, Any]]:
    project, host = work / "project", fleet.hosts[0]
    found: list[dict[str, Any]] = []
    for index in range(args.restore_repeat):
        target = work / f"restored-{index}"
        argv = [*prefix, "backups", "restore", host.name, "tree", "--to", str(target)]
        got = sample(fleet, argv, project, env, work / "runs" / f"restore{index}")
        if index == 0:
            got["identical"] = same_tree(args.tree, target)
        shutil.rmtree(target)
        found.append(got)
        print(
            f"restore {index}: wall {got['wall_seconds']:6.2f} s  "
            f"rss {got['peak_rss_mib']:6.1f} MiB",
            file=sys.stderr,
            flush=True,
        )
    return found


def same_tree(source: Path, restored_root: Path) -> bool:
    """Whether the restore holds every file of the source with the same bytes and mode (the
    restored copy keeps the source's absolute path below the target directory, or its base)."""
    candidates = [
        restored_root / str(source).lstrip("/"),
        restored_root / source.name,
        restored_root,
    ]
    copy = next((c for c in candidates if (c / "large").is_dir()), None)
    if copy is None:
        return False
    done = subprocess.run(
        ["diff", "-r", "-q", str(source), str(copy)], capture_output=True, text=True
    )
    return done.returncode == 0


def document(args: argparse.Namespace, argv: list[str], tree: dict[str, Any]) -> dict[str, Any]:
    started = datetime.now(timezone.utc)
    return {
        "schema": "jarvisctl.bench.backup/v1",
        "started": started.isoformat(timespec="seconds"),
        "command": " ".join(["python -m bench.backup", *argv]),
        "results_file": f"bench/results/backup-{started.strftime('%Y%m%dT%H%M%SZ')}.json",
        "settings": {
            "warmup": args.warmup,
            "repeat": args.repeat,
            "restore_repeat": args.restore_repeat,
            "ref": args.ref,
            "floor_remote": f"{NICE}tar -c -f - -- TREE | {NICE}{HOST_COMPRESSOR}",
        },
        "tree": tree,
        "commit": subprocess.run(
            ["git", "-C", str(REPO), "log", "-1", "--format=%h %s"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()[:100],
        "machine": machine(),
        "loadavg_at_start": Path("/proc/loadavg").read_text().split()[:3],
    }


def measure(args: argparse.Namespace, argv: list[str], work: Path) -> dict[str, Any]:
    size = args.mib * 1024 * 1024
    info = ensure_tree(args.tree, TreeSpec(total_bytes=size, large_bytes=size // 8))
    print(f"tree: {info.files} files, {info.bytes} bytes at {info.root}", file=sys.stderr)
    doc = document(
        args, argv, {"files": info.files, "directories": info.directories, "bytes": info.bytes}
    )
    prefix, env = jarvisctl_command(args, work)
    doc["jarvisctl"] = subprocess.run(
        [*prefix, "--version"], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    fleet = BenchFleet(work / "fleet", 1)
    try:
        fleet.start()
        write_project(work / "project", fleet, args.tree)
        take_turns(fleet, prefix, env, args, work, doc)
        doc["restores"] = restores(fleet, prefix, env, args, work)
        args.progress.write_text(json.dumps(doc, indent=2) + "\n")
    finally:
        fleet.stop()
    stamp_end(doc)
    doc["summary"] = summarize(doc)
    return doc


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    stop = begin(args.render, args.readme, render, update_readme)
    if stop is not None:
        return stop
    work = Path(tempfile.mkdtemp(prefix="jbb-", dir="/var/tmp"))
    started = time.monotonic()
    try:
        doc = measure(args, argv, work)
    finally:
        if not args.keep_work:
            shutil.rmtree(work, ignore_errors=True)
    doc["bench_seconds"] = round(time.monotonic() - started, 1)
    publish(doc, args.results, None if args.no_readme else args.readme, render, update_readme)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
