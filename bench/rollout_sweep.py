"""Where a gate's time goes on the loopback fleet: jarvisctl's check script, as a gate sends it,
run on one host alone and on every host at once, with and without the sweep at its end.

    .venv/bin/python -m bench.rollout_sweep --hosts 50 --repeat 6

A gate re-runs the play's checks as any run does: one script on `sh -s` whose last act is a
sweep (`_jk`) that KILLs the processes it started, found by a marker in their environment. The
sweep walks /proc for the PIDs started since the script began, and goes on (up to 10 passes)
while some of those are alive. The benchmark's sshd hosts share one kernel, so each host's
sweep sees the processes of the 49 others.

The script is recorded, not composed (bench/ imports nothing inside jarvisctl): one `jarvisctl
run` of bench/rollout.py's playbook (with its gate) on a one-host fleet whose sshd has a
ForceCommand that keeps each exec's stdin (as bench/capture.py does); the check script is the
one that runs the `app healthy` command. Each host then gets a copy with a marker of its own,
and `echo passes=$_ji` after the sweep (how many passes it made); the variant without the sweep
has `_jk` return at once. Each host's session runs its copy `--repeat` times in a row (one SSH
connection), on one host alone and then on all hosts at once; the hosts' CPU comes from their
sshd listeners (bench/fleet.py). Results: bench/results/rollout-sweep-<UTC time>.json.

`--own-pid-namespace`: each host's sshd is pid 1 of a PID namespace with its own /proc
(bench/pidns.py), so that each sweep sees only its own host's processes, as on separate
machines (the cores, network and disk are still shared).
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.backup import jarvisctl_command  # noqa: E402
from bench.entry import begin, write_result  # noqa: E402
from bench.fleet import BenchFleet  # noqa: E402
from bench.pidns import pid_namespace_unavailable_reason  # noqa: E402
from bench.rollout_scenario import PLAYBOOK, Scenario, prepare_round, write_project  # noqa: E402

_RECORDER = """#!/bin/sh
d=$(mktemp -d {where}/exec.XXXXXX) || exit 97
tee "$d/stdin" | sh -c "$SSH_ORIGINAL_COMMAND"
"""
_MARKER = re.compile(r"\A_jm=[0-9a-f]+\n")
_SWEEP_START = "_jk() {"
_PASSES = re.compile(r"^passes=(\d+)$", re.MULTILINE)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.rollout_sweep", description=__doc__)
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=6, help="scripts per host session")
    parser.add_argument("--rounds", type=int, default=2, help="times each case is measured")
    parser.add_argument("--ref", default="venv", help="git ref to install as a wheel, or venv")
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    parser.add_argument(
        "--own-pid-namespace",
        action="store_true",
        help="each host in a PID namespace with its own /proc (default: all in this one's)",
    )
    return parser.parse_args(argv)


def record_gate_script(prefix: list[str], env: dict[str, str], work: Path) -> str:
    """The check script a `jarvisctl run` of the rollout sends to run `app healthy`."""
    fleet = BenchFleet(work / "recording", 1)
    records = work / "records"
    records.mkdir(parents=True)
    recorder = work / "record.sh"
    recorder.write_text(_RECORDER.format(where=records))
    recorder.chmod(0o755)
    try:
        fleet.start()
        fleet.force_command(recorder)
        inventory = yaml.safe_load(fleet.fleet.write_inventory(work / "inventory.yml").read_text())
        scenario = Scenario(work / "project", work / "app")
        names = [h.name for h in fleet.hosts]
        write_project(scenario, inventory, names)
        prepare_round(scenario, names, "2", [])
        done = subprocess.run(
            [*prefix, "run", PLAYBOOK, "--json"],
            cwd=scenario.project,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"the recorded run failed: {done.stdout[-1500:]}{done.stderr}")
    finally:
        fleet.stop()
    scripts = [
        text
        for exec_dir in sorted(records.iterdir())
        if _MARKER.match(text := (exec_dir / "stdin").read_text(errors="replace"))
        and "cmp -s" in text
    ]
    # The run's checks and the gate after the steps (the gate before takes the run's checks,
    # which just passed, since dc543d4).
    if len(scripts) != 2:
        raise RuntimeError(f"expected 2 check scripts running `cmp -s`, saw {len(scripts)}")
    return scripts[0]


def variants(script: str) -> dict[str, str]:
    """The script saying its sweep's passes, and the same with a sweep that does nothing."""
    body = script.rstrip("\n")
    if not body.endswith("\n_je") or _SWEEP_START not in body:
        raise RuntimeError("jarvisctl's check script no longer ends with `_je` or has no `_jk`")
    counted = body + '\necho "passes=$_ji" >&2\n'
    silent = counted.replace(_SWEEP_START, "_jk() { _ji=0; return 0; }\n_jx() {", 1)
    return {"sweep": counted, "no sweep": silent}


def for_host(script: str) -> str:
    """A marker of its own: a script's sweep KILLs whatever carries its marker."""
    return _MARKER.sub(f"_jm={secrets.token_hex(12)}\n", script, count=1)


def case(fleet: BenchFleet, script: str, hosts: int, repeat: int, work: Path) -> dict[str, Any]:
    chosen = fleet.hosts[:hosts]
    sessions: dict[str, tuple[float, str, int]] = {}

    def session(index: int) -> None:
        host = chosen[index]
        path = work / f"{host.name}.sh"
        path.write_text(for_host(script))
        run = f"sh {shlex.quote(str(path))} </dev/null"
        loop = f"i=0; while [ $i -lt {repeat} ]; do i=$((i+1)); {run}; done"
        started = time.monotonic()
        done = subprocess.run(
            [*fleet.ssh_argv(host, "-o", "KexAlgorithms=curve25519-sha256"), loop],
            capture_output=True,
            text=True,
            check=False,
        )
        sessions[host.name] = (time.monotonic() - started, done.stderr, done.returncode)

    fleet.wait_idle()
    before = fleet.host_cpu()
    threads = [threading.Thread(target=session, args=(i,)) for i in range(hosts)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started
    fleet.wait_idle()
    cpu = fleet.host_cpu() - before
    failed = {h: s[1][-300:] for h, s in sessions.items() if s[2] != 0}
    if failed:
        raise RuntimeError(f"scripts failed: {failed}")
    passes = [int(p) for _, err, _ in sessions.values() for p in _PASSES.findall(err)]
    return {
        "hosts": hosts,
        "scripts": hosts * repeat,
        "wall_seconds": round(wall, 3),
        "session_seconds_median": round(statistics.median(s[0] for s in sessions.values()), 3),
        "host_cpu_ms_per_script": round(1000 * cpu / (hosts * repeat), 1),
        "sweep_passes": {
            "median": statistics.median(passes) if passes else None,
            "max": max(passes) if passes else None,
            "at_10": sum(1 for p in passes if p >= 10),
        },
        "loadavg": Path("/proc/loadavg").read_text().split()[0],
    }


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    stop = begin(None, Path(), lambda _: "", lambda *_: None)
    if stop is not None:
        return stop
    reason = pid_namespace_unavailable_reason() if args.own_pid_namespace else None
    if reason:
        print(f"cannot run with a PID namespace per host: {reason}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="jbr-sweep-", dir="/var/tmp"))
    try:
        prefix, env = jarvisctl_command(args, work)
        script = record_gate_script(prefix, env, work / "record")
        fleet = BenchFleet(work / "fleet", args.hosts, own_pid_namespace=args.own_pid_namespace)
        cases: list[dict[str, Any]] = []
        try:
            fleet.start()
            for round_ in range(args.rounds):
                for name, text in variants(script).items():
                    for hosts in (1, args.hosts):
                        got = case(fleet, text, hosts, args.repeat, work)
                        cases.append({"variant": name, "round": round_, **got})
                        print(json.dumps(cases[-1]), file=sys.stderr, flush=True)
        finally:
            fleet.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary = {
        f"{name}, {hosts} host(s)": {
            "host_cpu_ms_per_script": statistics.median(
                c["host_cpu_ms_per_script"] for c in chosen
            ),
            "sweep_passes_median": statistics.median(
                c["sweep_passes"]["median"] or 0 for c in chosen
            ),
            "wall_seconds": round(statistics.median(c["wall_seconds"] for c in chosen), 3),
        }
        for name in ("sweep", "no sweep")
        for hosts in (1, args.hosts)
        if (chosen := [c for c in cases if c["variant"] == name and c["hosts"] == hosts])
    }
    result = {
        "schema": "jarvisctl.bench.rollout-sweep/v1",
        "command": " ".join(["python -m bench.rollout_sweep", *argv]),
        "repeat": args.repeat,
        "pid_namespace": "own" if args.own_pid_namespace else "shared",
        "cases": cases,
        "summary": summary,
    }
    write_result(result, args.results, "rollout-sweep")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
