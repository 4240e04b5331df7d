"""Where two versions' `jarvisctl run` differ before and around the hosts' work:
`python -m bench.startcost --base 8c4458a --head HEAD -n 5 --repeat 5`.

For each version, installed as compare.py installs it (installs.py), on one small fleet:
- a ladder: controller CPU and peak RSS of `--version`, `plan`, `run` (text) and `run --json`;
- `-X importtime` of the run (medians of --repeat, the versions taking turns): the total, the
  modules imported, jarvisctl's own modules and what they cost themselves, the own cost of each
  top-level package, and each module's cumulative cost (its imports included);
- cProfile of the run's main thread (one run): the functions with the most own time, and the
  total by module file, so that a difference can be named.
Prints JSON (and writes bench/results/startcost-<UTC time>.json).
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
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.compare import prepare
from bench.entry import write_result
from bench.fleet import BenchFleet
from bench.installs import Install, install_ref, run_environment, write_constraints
from bench.measure import run_probe
from bench.peers import BENCH
from bench.tools import Prepared

_IMPORT = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)$")


def _run(prepared: Prepared, argv: list[str], extra: dict[str, str]) -> str:
    done = subprocess.run(
        argv,
        cwd=prepared.cwd,
        env={**run_environment(), **extra},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    problems = prepared.verify(done.stdout, done.stderr, done.returncode)
    if problems:
        raise RuntimeError(f"{argv[0]} failed: {problems[:5]} {done.stderr[-2000:]}")
    return done.stderr


def import_times_by_turns(prepared: list[Prepared], repeat: int) -> list[dict[str, Any]]:
    """`-X importtime` of each version's run, `repeat` times, the versions taking turns (the
    first alternating) so that the machine's drift falls on both alike."""
    runs: list[list[dict[str, Any]]] = [[] for _ in prepared]
    for round_ in range(repeat):
        order = list(enumerate(prepared))
        for index, one in order if round_ % 2 == 0 else order[::-1]:
            stderr = _run(one, one.argv, {"PYTHONPROFILEIMPORTTIME": "1"})
            runs[index].append(_parse_importtime(stderr))
    return [_import_medians(of_one) for of_one in runs]


def _import_medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the runs of `-X importtime`: totals, by top-level package, by module."""
    packages = {name for run in runs for name in run["by_package_ms"]}
    by_package = {
        name: round(statistics.median(run["by_package_ms"].get(name, 0.0) for run in runs), 1)
        for name in packages
    }
    scalars = ("total_ms", "jarvisctl_self_ms", "modules", "jarvisctl_modules")
    result: dict[str, Any] = {k: statistics.median(run[k] for run in runs) for k in scalars}
    result["by_package_ms"] = dict(sorted(by_package.items(), key=lambda kv: -kv[1])[:25])
    result["jarvisctl_module_names"] = runs[0]["jarvisctl_module_names"]
    modules = {name for run in runs for name in run["cumulative_ms"]}
    result["cumulative_ms"] = {
        name: round(statistics.median(run["cumulative_ms"].get(name, 0.0) for run in runs), 2)
        for name in sorted(modules)
    }
    return result


def _parse_importtime(stderr: str) -> dict[str, Any]:
    total_us = jarvisctl_us = 0
    names: list[str] = []
    by_package: Counter[str] = Counter()
    cumulative: dict[str, float] = {}
    for line in stderr.splitlines():
        match = _IMPORT.match(line)
        if not match:
            continue
        own, name = int(match[1]), match[4]
        cumulative[name] = int(match[2]) / 1000
        total_us += own
        names.append(name)
        top = name.split(".")[0]
        by_package[top] += own
        if top == "jarvisctl":
            jarvisctl_us += own
    mine = sorted(n for n in names if n.split(".")[0] == "jarvisctl")
    return {
        "total_ms": round(total_us / 1000, 1),
        "jarvisctl_self_ms": round(jarvisctl_us / 1000, 1),
        "modules": len(names),
        "jarvisctl_modules": len(mine),
        "jarvisctl_module_names": mine,
        "by_package_ms": {k: round(v / 1000, 1) for k, v in by_package.items()},
        "cumulative_ms": cumulative,  # each module's, its own imports included
    }


def profile(prepared: Prepared, install: Install, out: Path) -> dict[str, Any]:
    """cProfile of one run's main thread: top own times, and own time by file."""
    argv = [install.python, "-m", "cProfile", "-o", str(out), "-m", "jarvisctl"]
    _run(prepared, [*argv, *prepared.argv[1:]], {})
    stats = pstats.Stats(str(out))
    rows = stats.stats  # type: ignore[attr-defined]
    by_file: Counter[str] = Counter()
    functions = []
    for (file, line, name), (_, calls, own, cumulative, _) in rows.items():
        short = _short(file)
        by_file[short] += own
        functions.append((own, f"{short}:{line}({name})", calls, cumulative))
    functions.sort(reverse=True)
    total = sum(own for own, *_ in functions)
    return {
        "main_thread_own_seconds": round(total, 3),
        "top_functions": [
            {"function": f, "own_ms": round(o * 1000, 1), "calls": c, "cum_ms": round(u * 1000, 1)}
            for o, f, c, u in functions[:60]
        ],
        "by_file_ms": {f: round(s * 1000, 1) for f, s in by_file.most_common(30)},
    }


def ladder_by_turns(prepared: list[Prepared], repeat: int, work: Path) -> list[dict[str, Any]]:
    """Controller CPU and peak RSS (medians, through probe.py) of ever larger parts of a run:
    the CLI's start, the plan, the run with its text output, the run with --json; the versions
    taking turns."""
    steps: list[dict[str, list[dict[str, Any]]]] = [{} for _ in prepared]
    for round_ in range(repeat):
        order = list(enumerate(prepared))
        for index, one in order if round_ % 2 == 0 else order[::-1]:
            for name, argv in _ladder_steps(one).items():
                step = Prepared(argv, one.cwd, one.verify, one.env)
                probe = run_probe(step, work / f"ladder-{index}-{round_}-{len(steps[index])}")[0]
                if probe["exit_code"] != 0:
                    raise RuntimeError(f"{name}: exit code {probe['exit_code']}")
                steps[index].setdefault(name, []).append(probe)
    return [
        {
            name: {
                "cpu_seconds": round(
                    statistics.median(r["cpu_user_seconds"] + r["cpu_system_seconds"] for r in rs),
                    3,
                ),
                "peak_rss_mib": round(statistics.median(r["max_rss_kib"] for r in rs) / 1024, 2),
            }
            for name, rs in of_one.items()
        }
        for of_one in steps
    ]


def _ladder_steps(prepared: Prepared) -> dict[str, list[str]]:
    jarvisctl, _run_word, playbook, _i, inventory, *_rest = prepared.argv
    return {
        "jarvisctl --version": [jarvisctl, "--version"],
        "jarvisctl plan": [jarvisctl, "plan", playbook, "-i", inventory],
        "jarvisctl run (text)": [a for a in prepared.argv if a != "--json"],
        "jarvisctl run --json": prepared.argv,
    }


def _short(file: str) -> str:
    """A file path from the package or site-packages on, so that two installs compare."""
    return re.sub(r"^.*/(site-packages|python3\.\d+)/", "", file)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="8c4458a")
    parser.add_argument("--head", default="HEAD")
    parser.add_argument("-n", "--hosts", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--results", type=Path, default=BENCH / "results")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="jbs-", dir="/tmp"))
    fleet = BenchFleet(work / "fleet", args.hosts)
    result: dict[str, Any] = {"hosts": args.hosts, "repeat": args.repeat}
    try:
        constraints = write_constraints(work / "constraints.txt")
        installs = [
            install_ref("base", args.base, work, constraints),
            install_ref("head", args.head, work, constraints),
        ]
        os.environ.clear()
        os.environ.update(run_environment())
        fleet.start()
        prepared = [prepare(fleet, install, work) for install in installs]
        for one in prepared:
            _run(one, one.argv, {})  # warm-up; verifies
        imports = import_times_by_turns(prepared, args.repeat)
        ladders = ladder_by_turns(prepared, args.repeat, work / "ladder")
        for install, one, imported, ladder in zip(
            installs, prepared, imports, ladders, strict=True
        ):
            result[install.name] = {
                "commit": install.commit,
                "ladder": ladder,
                "imports": imported,
                "cprofile": profile(one, install, work / f"{install.name}.prof"),
            }
    finally:
        fleet.stop()
        shutil.rmtree(work, ignore_errors=True)
    write_result(result, args.results, "startcost")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
