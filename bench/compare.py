"""Two versions of jarvisctl side by side on one fleet:
`python -m bench.compare --base 8c4458a --head HEAD -n 50 --repeat 7`.

Each ref is built into a wheel and installed into a virtualenv of its own, bytecode compiled
(installs.py). One fleet of N sshd hosts serves both. After `--warmup` untimed runs of each, the
two take turns: each round runs both, the one that goes first alternating from round to round,
so that drift in the machine's load (other work shares its 2 cores) falls on both alike. Every
run is `jarvisctl run` of the benchmark's playbook (8 `command` checks on every host, forks =
N, --json) under probe.py, verified to have succeeded on every host (tools.py), in a project
directory of the version's own (the state each keeps stays its own). Results go to
bench/results/compare-<UTC time>.json and the table between the `compare` markers of
bench/README.md (compare_report.py).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.compare_report import render, summarize, update_readme
from bench.entry import begin, publish, stamp_end
from bench.fleet import BenchFleet
from bench.installs import Install, install_ref, run_environment, write_constraints
from bench.measure import ToolFailed, measure
from bench.peers import BENCH, cpu_model, project_jarvisctl
from bench.tools import BY_KEY, Prepared


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="8c4458a", help="the version before (a git ref)")
    parser.add_argument("--head", default="HEAD", help="the version measured against it")
    parser.add_argument("-n", "--hosts", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=7, help="timed runs of each version")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs of each version")
    parser.add_argument("--results", type=Path, default=BENCH / "results")
    parser.add_argument("--readme", type=Path, default=BENCH / "README.md")
    parser.add_argument("--no-readme", action="store_true", help="do not update the README")
    parser.add_argument("--keep-work", action="store_true", help="keep the scratch directory")
    parser.add_argument("--render", type=Path, help="only re-render the README from this JSON")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.hosts < 1 or args.warmup < 0:
        parser.error("--repeat and --hosts must be positive, --warmup not negative")
    return args


def prepare(fleet: BenchFleet, install: Install, work: Path) -> Prepared:
    """The benchmark's `jarvisctl run` for this install, in a project directory of its own."""
    peers = replace(project_jarvisctl(), jarvisctl=install.jarvisctl)
    return BY_KEY["jarvisctl"].prepare(fleet, work / install.name, peers)


def one_run(
    fleet: BenchFleet, install: Install, prepared: Prepared, run_dir: Path, label: str
) -> dict[str, float]:
    sample = measure(fleet, prepared, run_dir, f"jarvisctl {install.name} ({install.commit})")
    print(
        f"{label:<9} {install.name} {install.commit}: wall {sample.wall_seconds:5.2f} s  "
        f"cpu {sample.controller_cpu_seconds:5.2f} s  rss {sample.peak_rss_mib:5.1f} MiB  "
        f"hosts {sample.host_cpu_seconds:5.2f} s  other {sample.other_cpu_seconds:5.2f} s",
        file=sys.stderr,
        flush=True,
    )
    time.sleep(0.2)  # let the hosts' last connections end before the next run's measurement
    output = (run_dir / "stdout").stat().st_size / 1024
    return {**sample.as_dict(), "output_kib": round(output, 1)}


def take_turns(
    fleet: BenchFleet, installs: list[Install], args: argparse.Namespace, work: Path
) -> dict[str, list[dict[str, float]]]:
    """Warm-up runs, then `repeat` rounds of one run each, the first alternating."""
    prepared = {i.name: prepare(fleet, i, work) for i in installs}
    for index in range(args.warmup):
        for install in installs:
            run_dir = work / "runs" / f"warmup{index}" / install.name
            one_run(fleet, install, prepared[install.name], run_dir, f"warmup {index}")
    samples: dict[str, list[dict[str, float]]] = {i.name: [] for i in installs}
    for round_ in range(args.repeat):
        order = installs if round_ % 2 == 0 else installs[::-1]
        for install in order:
            run_dir = work / "runs" / f"round{round_}" / install.name
            sample = one_run(fleet, install, prepared[install.name], run_dir, f"round {round_}")
            samples[install.name].append({**sample, "round": round_})
    return samples


def machine() -> dict[str, str]:
    server = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Version}", "openssh-server"],
        capture_output=True,
        text=True,
        check=False,
    )
    return {
        "python": sys.version.split()[0],
        "kernel": os.uname().release,
        "cpus": str(os.cpu_count()),
        "cpu_model": cpu_model(),
        "openssh-server": server.stdout.strip() or "unknown",
    }


def document(args: argparse.Namespace, argv: list[str], installs: list[Install]) -> dict[str, Any]:
    started = datetime.now(timezone.utc)
    name = f"compare-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    return {
        "schema": "jarvisctl.bench.compare/v1",
        "started": started.isoformat(timespec="seconds"),
        "command": " ".join(["python -m bench.compare", *argv]),
        "results_file": f"bench/results/{name}",
        "hosts": args.hosts,
        "settings": {"repeat": args.repeat, "warmup": args.warmup},
        "versions": {
            i.name: {"ref": i.ref, "commit": i.commit, "subject": i.subject} for i in installs
        },
        "machine": machine(),
        "loadavg_at_start": Path("/proc/loadavg").read_text().split()[:3],
        "host_cpu_check": {},
        "samples": {},
        "summary": {},
    }


def measure_both(args: argparse.Namespace, argv: list[str], work: Path) -> dict[str, Any]:
    constraints = write_constraints(work / "constraints.txt")
    installs = [
        install_ref("base", args.base, work, constraints),
        install_ref("head", args.head, work, constraints),
    ]
    for install in installs:
        print(f"{install.name}: {install.commit} {install.subject[:70]}", file=sys.stderr)
    # From here on every process started runs an installed jarvisctl, as a user would.
    os.environ.clear()
    os.environ.update(run_environment())
    doc = document(args, argv, installs)
    fleet = BenchFleet(work / "fleet", args.hosts)
    try:
        fleet.start()
        doc["host_cpu_check"] = fleet.check_host_cpu_accounting()
        doc["samples"] = take_turns(fleet, installs, args, work)
    finally:
        fleet.stop()
    stamp_end(doc)
    doc["summary"] = summarize(doc["samples"])
    return doc


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    stop = begin(args.render, args.readme, render, update_readme)
    if stop is not None:
        return stop
    work = Path(tempfile.mkdtemp(prefix="jbc-", dir="/tmp"))
    try:
        doc = measure_both(args, argv, work)
    except ToolFailed as exc:
        print(f"comparison failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if not args.keep_work:
            shutil.rmtree(work, ignore_errors=True)
    publish(doc, args.results, None if args.no_readme else args.readme, render, update_readme)
    if not args.no_readme:
        print(f"table: {args.readme}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
