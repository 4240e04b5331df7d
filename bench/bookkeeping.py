"""What `jarvisctl run`'s own bookkeeping costs at N hosts, by stage of the package:
`.venv/bin/python -m bench.bookkeeping --hosts 50`.

jarvisctl is the wheel of `--ref` (default HEAD) installed into a virtualenv with its bytecode
compiled (bench/installs.py), run as the main benchmark runs it (`jarvisctl run bench.yml
--forks N --json`, 8 `command` checks a host) against N sshd hosts, each in a PID namespace of
its own (bench/pidns.py) unless `--shared-pid-namespace`. Three measurements:

- *unprofiled*: `--repeat` runs under probe.py, the controller CPU (user+sys, whole tree);
- *cProfile*, every thread (bench/profile_threads.py starts `python -m jarvisctl` with one
  profiler per thread, merged): each stage's inclusive time, as the time of the calls into
  the stage's functions from outside it (so nothing is counted twice within a stage), the
  bookkeeping's as the calls into store/, record/ and core/ from outside all three, and the
  functions with the most own time;
- *py-spy* (`--spy-runs` runs, non-blocking, the thread holding the GIL: `--gil`, as threads
  waiting in recv() are otherwise sampled as running): the CPU sampled with each stage on
  the stack, the bookkeeping's with any of its stages on it, and the deepest jarvisctl
  function of each sample (bench/stacks.py).

The bookkeeping (issue 20: "models, state, journal, leases") is what the run records of
itself: store/ (check state, leases, the runs index), record/ (the audit journal, history)
and core/ (events, their dispatch, results, secrets' redaction; not its cache of parsed
files, which is connection set-up, nor plugin discovery). The modules' import is
counted apart (the run's start, not its bookkeeping). cProfile (timed by each thread's CPU
clock) slows every Python call, so its seconds are larger than a plain run's; its shares,
and py-spy's, are applied to the unprofiled CPU to estimate the bookkeeping's seconds in a
plain run. Writes bench/results/bookkeeping-<UTC time>.json and prints a summary.
"""

from __future__ import annotations

import argparse
import os
import pstats
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.entry import write_result
from bench.fleet import BenchFleet
from bench.installs import Install, install_ref, run_environment, write_constraints
from bench.measure import measure
from bench.peers import BENCH, PEERS_VENV, project_jarvisctl
from bench.pidns import pid_namespace_unavailable_reason
from bench.stacks import hotspots, parse
from bench.tools import BY_KEY, Prepared

HARNESS = BENCH / "profile_threads.py"
BOOKKEEPING = ("store", "record", "core")
# core/ modules that are not the run's record of itself: the parsed-file cache of connection
# set-up (known_hosts, identity files, the catalogue) and the plugins' discovery.
NOT_BOOKKEEPING = ("jarvisctl/core/filecache.py", "jarvisctl/core/entry_points.py")
GOAL_SECONDS = 0.3
SPY_RATE = 250
_STAGE = re.compile(r"(?:^|[/( ])jarvisctl/([a-z_]+)(/|\.py)")

Key = tuple[str, int, str]  # pstats' (file, line, function)


def stage_of(file: str) -> str | None:
    """The package folder a source file belongs to (`engine`, `store`...), or None outside
    jarvisctl ("__main__" for a module at the package's top)."""
    match = _STAGE.search(file)
    if match is None:
        return None
    return match[1] if match[2] == "/" else "__main__"


def is_bookkeeping(file: str) -> bool:
    return stage_of(file) in BOOKKEEPING and not any(n in file for n in NOT_BOOKKEEPING)


def _short(file: str) -> str:
    return re.sub(r"^.*/(site-packages|python3\.\d+)/", "", file)


def inclusive_by_stage(
    stats: dict[Key, Any], stages: set[str] | None = None, *, imports: bool = True
) -> float:
    """Seconds in the calls into functions of `stages` from functions outside them (or from
    the top): what those stages cost, their callees included, counted once. imports=False
    leaves out the modules' own import (their `<module>` code)."""
    return inclusive(stats, lambda file: stage_of(file) in (stages or set()), imports=imports)


def inclusive(stats: dict[Key, Any], inside: Callable[[str], bool], *, imports: bool) -> float:
    """Seconds in the calls into functions whose file is `inside` from functions that are not."""
    total = 0.0
    for key, (_, _, _, _, callers) in stats.items():
        if not inside(key[0]) or (not imports and key[2] == "<module>"):
            continue
        for caller, edge in callers.items():
            if not inside(caller[0]):
                total += edge[3]
    return total


def summarize_profile(path: Path) -> dict[str, Any]:
    stats: dict[Key, Any] = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    own_total = sum(row[2] for row in stats.values())
    stages = sorted({s for s in (stage_of(k[0]) for k in stats) if s})
    by_stage = {s: round(inclusive_by_stage(stats, {s}), 3) for s in stages}
    own_by_stage: Counter[str] = Counter()
    functions = []
    for key, (_, calls, own, cumulative, _) in stats.items():
        own_by_stage[stage_of(key[0]) or "(outside jarvisctl)"] += own
        functions.append((own, f"{_short(key[0])}:{key[2]}", calls, cumulative, stage_of(key[0])))
    functions.sort(reverse=True)
    bookkeeping = inclusive(stats, is_bookkeeping, imports=False)
    imported = inclusive(stats, is_bookkeeping, imports=True) - bookkeeping
    return {
        "cpu_seconds_profiled": round(own_total, 3),
        "bookkeeping_seconds": round(bookkeeping, 3),
        "bookkeeping_imports_seconds": round(imported, 3),
        "bookkeeping_share": round(bookkeeping / own_total, 4) if own_total else None,
        "inclusive_by_stage": dict(sorted(by_stage.items(), key=lambda kv: -kv[1])),
        "own_by_stage": {k: round(v, 3) for k, v in own_by_stage.most_common()},
        "top_own": [
            {"function": f, "own_ms": round(o * 1000, 1), "calls": c, "cum_ms": round(u * 1000, 1)}
            for o, f, c, u, _ in functions[:40]
        ],
        "top_bookkeeping_cumulative": _top_bookkeeping(stats),
    }


def _top_bookkeeping(stats: dict[Key, Any]) -> list[dict[str, Any]]:
    """The bookkeeping's entry points (its functions called from outside it), by the time of
    those calls: file:function, calls, seconds."""
    entries: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    for key, (_, _, _, _, callers) in stats.items():
        if not is_bookkeeping(key[0]) or key[2] == "<module>":
            continue
        name = f"{_short(key[0])}:{key[2]}"
        for caller, edge in callers.items():
            if not is_bookkeeping(caller[0]):
                entries[name] += edge[3]
                calls[name] += edge[1]
    return [
        {"function": name, "seconds": round(sec, 4), "calls": calls[name]}
        for name, sec in entries.most_common(25)
    ]


def spy_bookkeeping(path: Path) -> dict[str, float]:
    """py-spy seconds: total sampled, and with any bookkeeping stage on the stack."""
    total = booked = 0
    for frames, count in parse(path):
        total += count
        if any(is_bookkeeping(f) for f in frames[1:]):
            booked += count
    return {
        "cpu_seconds_sampled": round(total / SPY_RATE, 3),
        "bookkeeping_seconds": round(booked / SPY_RATE, 3),
        "bookkeeping_share": round(booked / total, 4) if total else 0.0,
    }


def cprofile_run(prepared: Prepared, install: Install, out: Path) -> None:
    argv = [install.python, str(HARNESS), str(out), "--", *prepared.argv[1:]]
    _checked(prepared, argv)


def spy_run(prepared: Prepared, out: Path) -> None:
    py_spy = str(PEERS_VENV / "bin" / "py-spy")
    argv = [py_spy, "record", "--nonblocking", "--threads", "--gil", "--rate", str(SPY_RATE)]
    argv += ["--format", "raw", "-o", str(out), "--", *prepared.argv]
    _checked(prepared, argv)


def _checked(prepared: Prepared, argv: list[str]) -> None:
    done = subprocess.run(
        argv,
        cwd=prepared.cwd,
        env=run_environment(),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    # py-spy writes its own lines ("py-spy> ...") among the program's output
    stdout = "".join(
        line for line in done.stdout.splitlines(keepends=True) if not line.startswith("py-spy>")
    )
    problems = prepared.verify(stdout, done.stderr, done.returncode)
    if problems:
        raise RuntimeError(f"{argv[0]}: {problems[:5]}\n{done.stderr[-2000:]}")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5, help="unprofiled runs")
    parser.add_argument("--profiles", type=int, default=3, help="cProfile runs (median)")
    parser.add_argument("--spy-runs", type=int, default=3, help="py-spy runs (merged)")
    parser.add_argument("--ref", default="HEAD", help="git ref to build the wheel of")
    parser.add_argument("--results", type=Path, default=BENCH / "results")
    parser.add_argument(
        "--shared-pid-namespace", dest="own_pid_namespace", action="store_false", default=True
    )
    args = parser.parse_args(argv)
    if min(args.hosts, args.repeat, args.profiles, args.spy_runs) < 1:
        parser.error("--hosts, --repeat, --profiles and --spy-runs must be positive")
    return args


def measure_all(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    install = install_ref("head", args.ref, work, write_constraints(work / "constraints.txt"))
    os.environ.clear()
    os.environ.update(run_environment())
    fleet = BenchFleet(work / "fleet", args.hosts, own_pid_namespace=args.own_pid_namespace)
    try:
        fleet.start()
        peers = replace(project_jarvisctl(), jarvisctl=install.jarvisctl)
        prepared = BY_KEY["jarvisctl"].prepare(fleet, work / "project", peers)
        measure(fleet, prepared, work / "warmup", "jarvisctl")  # verifies; state exists
        plain = [
            measure(fleet, prepared, work / f"plain{n}", "jarvisctl").as_dict()
            for n in range(args.repeat)
        ]
        profiles = []
        for n in range(args.profiles):
            fleet.wait_idle()
            cprofile_run(prepared, install, work / f"run{n}.prof")
            profiles.append(summarize_profile(work / f"run{n}.prof"))
        merged = work / "spy.txt"
        for n in range(args.spy_runs):
            fleet.wait_idle()
            spy_run(prepared, work / f"spy{n}.txt")
            with merged.open("a") as out:
                out.write((work / f"spy{n}.txt").read_text())
    finally:
        fleet.stop()
    cpu = statistics.median(s["controller_cpu_seconds"] for s in plain)
    middle = sorted(profiles, key=lambda p: p["bookkeeping_share"])[len(profiles) // 2]
    spy = spy_bookkeeping(merged)
    return {
        "jarvisctl": f"{install.commit} (wheel of {args.ref}, compiled at install)",
        "hosts": args.hosts,
        "pid_namespace": "own" if args.own_pid_namespace else "shared",
        "unprofiled": {
            "controller_cpu_seconds": round(cpu, 3),
            "wall_seconds": round(statistics.median(s["wall_seconds"] for s in plain), 3),
            "runs": plain,
        },
        "estimate": {
            "goal_seconds": GOAL_SECONDS,
            "by_cprofile_share": round(cpu * middle["bookkeeping_share"], 3),
            "by_py_spy_share": round(cpu * spy["bookkeeping_share"], 3),
        },
        "cprofile": middle,
        "cprofile_shares": [p["bookkeeping_share"] for p in profiles],
        "py_spy": {**spy, **hotspots(merged, SPY_RATE), "runs": args.spy_runs},
        "loadavg_at_end": Path("/proc/loadavg").read_text().split()[:3],
    }


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    reason = pid_namespace_unavailable_reason() if args.own_pid_namespace else None
    if reason:
        print(f"cannot run with a PID namespace per host: {reason}", file=sys.stderr)
        return 2
    load = Path("/proc/loadavg").read_text().split()[:3]
    work = Path(tempfile.mkdtemp(prefix="jbk-", dir="/tmp"))
    try:
        result = {"command": " ".join(["python -m bench.bookkeeping", *argv]), "loadavg": load}
        result.update(measure_all(args, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    write_result(result, args.results, "bookkeeping")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
