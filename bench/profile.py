"""Where `jarvisctl run` spends its time and CPU against a fleet of real sshd hosts:
`.venv/bin/python bench/profile.py --hosts 50`.

jarvisctl is the wheel of `--jarvisctl-ref` installed with its bytecode compiled, the hosts
each in a PID namespace of their own unless `--shared-pid-namespace` (as bench/run.py).

- phases: process start -> run start (imports, plan), the run itself, run end -> exit;
- the controller's CPU for ever larger parts of the work (interpreter, imports, plan, run);
- py-spy (all active threads, non-blocking): CPU by category and top functions;
- `-X importtime`: the slowest top-level imports;
- host side: jarvisctl's remote script with and without its wrappers (hostcost.py).
Writes bench/results/profile-<UTC time>.json and prints it.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import hostcost, stacks
from bench.capture import capture_remote_work
from bench.entry import write_result
from bench.fleet import BenchFleet
from bench.measure import measure, run_probe
from bench.peers import BENCH
from bench.pidns import pid_namespace_unavailable_reason
from bench.run import install_tools
from bench.tools import BY_KEY, Prepared, clean_environment

RATE = 250
_IMPORT = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)$")


def _run(prepared: Prepared, extra_env: dict[str, str]) -> tuple[float, str, str]:
    started = time.time()
    done = subprocess.run(
        prepared.argv,
        cwd=prepared.cwd,
        env=clean_environment({**prepared.env, **extra_env}),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if done.returncode != 0:
        raise RuntimeError(f"jarvisctl exited {done.returncode}: {done.stderr[-2000:]}")
    return started, done.stdout, done.stderr


def phases(prepared: Prepared, repeat: int) -> dict[str, float]:
    """Medians: start -> run start, run, run end -> exit, and per-host session durations."""
    rows: list[dict[str, float]] = []
    for _ in range(repeat):
        started, stdout, _ = _run(prepared, {})
        ended = time.time()
        report = json.loads(stdout)
        run_start = datetime.fromisoformat(report["started"]).timestamp()
        run_end = datetime.fromisoformat(report["finished"]).timestamp()
        # run/v1 said duration_seconds, run/v2 (issue 16) says seconds
        durations = sorted(h.get("seconds", h.get("duration_seconds")) for h in report["hosts"])
        rows.append(
            {
                "startup_seconds": run_start - started,
                "run_seconds": run_end - run_start,
                "exit_seconds": ended - run_end,
                "host_session_median_seconds": statistics.median(durations),
                "host_session_max_seconds": durations[-1],
            }
        )
    return {k: round(statistics.median(r[k] for r in rows), 3) for k in rows[0]}


def imports(prepared: Prepared) -> dict[str, Any]:
    """`-X importtime` of a run: the total, and the slowest imports two levels deep."""
    _, _, stderr = _run(prepared, {"PYTHONPROFILEIMPORTTIME": "1"})
    found: list[tuple[int, str, float]] = []
    total_us = 0
    for line in stderr.splitlines():
        match = _IMPORT.match(line)
        if not match:
            continue
        total_us += int(match[1])
        depth = len(match[3]) // 2
        if depth <= 2:
            found.append((depth, match[4], round(int(match[2]) / 1e6, 4)))
    found.sort(key=lambda item: -item[2])
    return {"total_seconds": round(total_us / 1e6, 3), "slowest": found[:30]}


def ladder(prepared: Prepared, repeat: int, work: Path) -> dict[str, dict[str, float]]:
    """Controller wall and CPU (medians, through probe.py) of ever larger parts of a run."""
    python = str(Path(prepared.argv[0]).parent / "python")
    plan = [*prepared.argv[:1], "plan", *prepared.argv[2:5]]  # jarvisctl plan PLAYBOOK -i INV
    steps = {
        "python -c pass (interpreter start)": [python, "-c", "pass"],
        "jarvisctl --version (+ imports of the CLI)": [prepared.argv[0], "--version"],
        "jarvisctl plan (+ inventory, playbook, plan; no connection)": plan,
        "jarvisctl run --json (+ connections, sessions, output)": prepared.argv,
    }
    results: dict[str, dict[str, float]] = {}
    for index, (name, argv) in enumerate(steps.items()):
        step = Prepared(argv, prepared.cwd, prepared.verify, prepared.env)
        runs = [run_probe(step, work / f"ladder{index}-{n}")[0] for n in range(repeat)]
        if any(run["exit_code"] != 0 for run in runs):
            raise RuntimeError(f"{name}: exit codes {[run['exit_code'] for run in runs]}")
        cpu = [run["cpu_user_seconds"] + run["cpu_system_seconds"] for run in runs]
        results[name] = {
            "wall_seconds": round(statistics.median(run["wall_seconds"] for run in runs), 3),
            "cpu_seconds": round(statistics.median(cpu), 3),
        }
    return results


def pyspy(prepared: Prepared, py_spy: str, out: Path) -> dict[str, object]:
    argv = [py_spy, "record", "--nonblocking", "--threads", "--rate", str(RATE)]
    argv += ["--format", "raw"]
    argv += ["-o", str(out), "--", *prepared.argv]
    done = subprocess.run(
        argv,
        cwd=prepared.cwd,
        env=clean_environment(prepared.env),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if not out.exists():
        raise RuntimeError(f"py-spy failed: {done.stderr[-2000:]}")
    return stacks.summarize(out, RATE)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--jarvisctl-ref", default="HEAD")
    parser.add_argument("--results", type=Path, default=BENCH / "results")
    parser.add_argument(
        "--shared-pid-namespace", dest="own_pid_namespace", action="store_false", default=True
    )
    args = parser.parse_args(argv)
    reason = pid_namespace_unavailable_reason() if args.own_pid_namespace else None
    if reason:
        print(f"cannot run with a PID namespace per host: {reason}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="jbp-", dir="/tmp"))
    fleet = BenchFleet(work / "fleet", args.hosts, own_pid_namespace=args.own_pid_namespace)
    try:
        peers = install_tools(args.jarvisctl_ref, work)  # the wheel, compiled, as users run it
        remote_work = capture_remote_work(peers, work / "capture")
        fleet.start()
        prepared = BY_KEY["jarvisctl"].prepare(fleet, work / "jarvisctl", peers)
        sample = measure(fleet, prepared, work / "warmup", "jarvisctl")  # verifies, compiles
        result = {
            "jarvisctl": peers.jarvisctl_version,
            "hosts": args.hosts,
            "warmup_sample": sample.as_dict(),
            "phases": phases(prepared, args.repeat),
            "ladder": ladder(prepared, args.repeat, work / "ladder"),
            "imports": imports(prepared),
            "py_spy": pyspy(prepared, peers.py_spy, work / "stacks.txt"),
            "host_side": hostcost.measure_host_costs(fleet, remote_work, args.repeat),
        }
    finally:
        fleet.stop()
        shutil.rmtree(work, ignore_errors=True)
    write_result(result, args.results, "profile")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
