"""Run the benchmark: `.venv/bin/python bench/run.py --sizes 10 50 200 --repeat 5`.

jarvisctl is measured as users run it: its wheel, built from `--jarvisctl-ref` (default HEAD),
installed into a virtualenv of its own with its bytecode compiled (bench/installs.py); the
peers from bench/.venv-peers, compiled too. No run inherits PYTHONPATH, PYTHONPYCACHEPREFIX or
PYTHONDONTWRITEBYTECODE. Each sshd host is, by default, pid 1 of a PID namespace with its own
/proc (bench/pidns.py), as separate machines are; `--shared-pid-namespace` puts them all in
this machine's.

For each N: start N sshd hosts, check the host-side CPU accounting, then run every tool once
untimed (warm-up, and a first check that it succeeds everywhere) and `--repeat` timed rounds,
the tools interleaved within each round. Results go to bench/results/*.json; the table is
rendered into bench/README.md.
"""

from __future__ import annotations

import argparse
import json
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

from bench.entry import begin
from bench.fleet import BenchFleet
from bench.installs import install_ref, run_environment, write_constraints
from bench.measure import Sample, ToolFailed, measure
from bench.peers import BENCH, PEERS_VENV, Peers, ensure_peers, versions
from bench.pidns import pid_namespace_unavailable_reason
from bench.report import render, summarize, targets, update_readme
from bench.strict import check_strict_host_keys
from bench.tools import BY_KEY, TOOLS, Prepared, Tool


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 50, 200], metavar="N")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per tool and N")
    parser.add_argument(
        "--slow-repeat",
        type=int,
        help="timed runs for the two ansible variants (default: --repeat)",
    )
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs per tool and N")
    parser.add_argument("--tools", nargs="+", choices=list(BY_KEY), default=list(BY_KEY))
    parser.add_argument(
        "--skip",
        nargs="+",
        default=[],
        metavar="TOOL@N",
        help="leave a tool out at one N (ansible_pipelining@200: Ansible takes minutes a run "
        "there); the table says what was skipped",
    )
    parser.add_argument("--results", type=Path, default=BENCH / "results")
    parser.add_argument("--readme", type=Path, default=BENCH / "README.md")
    parser.add_argument("--no-readme", action="store_true", help="do not update the README")
    parser.add_argument("--keep-work", action="store_true", help="keep the scratch directory")
    parser.add_argument(
        "--skip-strict-check",
        action="store_true",
        help="skip the proof that each tool refuses a host whose key is not in known_hosts",
    )
    parser.add_argument(
        "--jarvisctl-ref",
        default="HEAD",
        help="the commit of jarvisctl to build a wheel of and measure (default HEAD)",
    )
    parser.add_argument("--render", type=Path, help="only re-render the README from this JSON")
    namespaces = parser.add_mutually_exclusive_group()
    namespaces.add_argument(
        "--own-pid-namespace",
        dest="own_pid_namespace",
        action="store_true",
        default=True,
        help="each sshd host is pid 1 of a PID namespace with its own /proc (the default)",
    )
    namespaces.add_argument(
        "--shared-pid-namespace",
        dest="own_pid_namespace",
        action="store_false",
        help="every sshd host in this machine's PID namespace and /proc (the tests' fleet)",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1 or min(args.sizes) < 1:
        parser.error("--repeat and --sizes must be positive")
    for item in args.skip:
        key, _, size = item.partition("@")
        if key not in BY_KEY or not size.isdigit():
            parser.error(f"--skip {item}: expected TOOL@N with TOOL one of {', '.join(BY_KEY)}")
    return args


def tools_at(size: int, tools: list[Tool], skip: list[str]) -> list[Tool]:
    """The tools measured at this N: all of --tools but those --skip names for it."""
    return [tool for tool in tools if f"{tool.key}@{size}" not in skip]


def run_size(
    size: int, tools: list[Tool], args: argparse.Namespace, peers: Peers, work: Path
) -> tuple[dict[str, list[dict[str, float]]], dict[str, float]]:
    fleet = BenchFleet(work / f"n{size}" / "fleet", size, own_pid_namespace=args.own_pid_namespace)
    try:
        fleet.start()
        print(f"N={size}: {size} hosts answering after {fleet.start_seconds} s", file=sys.stderr)
        check = {**fleet.check_host_cpu_accounting(), "fleet_start_seconds": fleet.start_seconds}
        prepared = {t.key: t.prepare(fleet, work / f"n{size}" / t.key, peers) for t in tools}
        samples: dict[str, list[dict[str, float]]] = {t.key: [] for t in tools}
        for index in range(args.warmup):
            for tool in tools:
                _one(fleet, tool, prepared[tool.key], work, size, f"warmup{index}")
        for round_ in range(max(args.repeat, args.slow_repeat or 0)):
            for tool in tools:
                wanted = args.slow_repeat if tool.slow and args.slow_repeat else args.repeat
                if round_ < wanted:
                    sample = _one(fleet, tool, prepared[tool.key], work, size, f"run{round_}")
                    samples[tool.key].append(sample.as_dict())
        return samples, check
    finally:
        fleet.stop()


def _one(
    fleet: BenchFleet, tool: Tool, prepared: Prepared, work: Path, size: int, name: str
) -> Sample:
    sample = measure(fleet, prepared, work / f"n{size}" / "runs" / tool.key / name, tool.label)
    print(
        f"N={size:<4} {tool.key:<20} {name:<8} wall {sample.wall_seconds:7.2f} s  "
        f"cpu {sample.controller_cpu_seconds:6.2f} s  rss {sample.peak_rss_mib:6.1f} MiB  "
        f"hosts {sample.host_cpu_seconds:6.2f} s",
        file=sys.stderr,
        flush=True,
    )
    time.sleep(0.2)  # let the machine settle between runs
    return sample


def document(args: argparse.Namespace, argv: list[str], peers: Peers) -> dict[str, Any]:
    started = datetime.now(timezone.utc)
    name = f"{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    settings = {
        "repeat": args.repeat,
        "slow_repeat": args.slow_repeat,
        "warmup": args.warmup,
        "pid_namespace": "own" if args.own_pid_namespace else "shared",
        "skip": args.skip,
        "jarvisctl_install": "wheel, virtualenv, bytecode compiled at install",
    }
    return {
        "schema": "jarvisctl.bench/v1",
        "started": started.isoformat(timespec="seconds"),
        "command": " ".join([".venv/bin/python", "bench/run.py", *argv]),
        "results_file": f"bench/results/{name}",
        "versions": versions(peers),
        "loadavg_at_start": Path("/proc/loadavg").read_text().split()[:3],
        "labels": {tool.key: tool.label for tool in TOOLS},
        "settings": settings,
        "strict_check": {},
        "fleet_start_seconds": {},
        "host_cpu_check": {},
        "samples": {},
        "summary": {},
        "targets": [],
    }


def save(doc: dict[str, Any], results: Path) -> Path:
    doc["summary"] = {
        n: {tool: summarize(runs) for tool, runs in by_tool.items()}
        for n, by_tool in doc["samples"].items()
    }
    doc["targets"] = [t.as_dict() for t in targets(doc["summary"])]
    results.mkdir(parents=True, exist_ok=True)
    path = results / Path(doc["results_file"]).name
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path


def install_tools(ref: str, work: Path) -> Peers:
    """jarvisctl's wheel of `ref` in a virtualenv of its own, the peers' virtualenv, both
    compiled; from here on every process started gets no PYTHONPATH, PYTHONPYCACHEPREFIX or
    PYTHONDONTWRITEBYTECODE (bench/installs.py)."""
    peers = ensure_peers()
    install = install_ref("head", ref, work, write_constraints(work / "constraints.txt"))
    print(f"jarvisctl: {install.commit} {install.subject[:70]}", file=sys.stderr)
    compile_peers()
    os.environ.clear()
    os.environ.update(run_environment())
    return replace(
        peers,
        jarvisctl=install.jarvisctl,
        jarvisctl_version=f"{install.commit} (wheel of {ref}, compiled at install)",
    )


def compile_peers() -> None:
    """The peers' bytecode written once, as pip leaves it (this machine's
    PYTHONDONTWRITEBYTECODE would otherwise leave modules that pip did not compile)."""
    (site,) = (PEERS_VENV / "lib").glob("python3*/site-packages")
    python = str(PEERS_VENV / "bin" / "python")
    subprocess.run(
        [python, "-m", "compileall", "-q", "-j", "0", str(site)],
        env=run_environment(),
        capture_output=True,
        check=False,  # some test data files in the peers' packages are not valid Python
    )


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    stop = begin(args.render, args.readme, render, update_readme)
    if stop is not None:
        return stop
    reason = pid_namespace_unavailable_reason() if args.own_pid_namespace else None
    if reason:
        print(
            f"cannot run with a PID namespace per host: {reason}; --shared-pid-namespace "
            "measures with every host in this machine's PID namespace instead",
            file=sys.stderr,
        )
        return 2
    tools = [BY_KEY[key] for key in args.tools]
    work = Path(tempfile.mkdtemp(prefix="jb-", dir="/tmp"))  # short: ssh control paths
    try:
        peers = install_tools(args.jarvisctl_ref, work)
        doc = document(args, argv, peers)
        if not args.skip_strict_check:
            doc["strict_check"] = check_strict_host_keys(
                tools, peers, work, own_pid_namespace=args.own_pid_namespace
            )
            print(f"strict host key check: {doc['strict_check']}", file=sys.stderr)
        for size in args.sizes:
            samples, check = run_size(size, tools_at(size, tools, args.skip), args, peers, work)
            doc["samples"][str(size)] = samples
            doc["fleet_start_seconds"][str(size)] = check.pop("fleet_start_seconds")
            doc["host_cpu_check"][str(size)] = check
            path = save(doc, args.results)
    except ToolFailed as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if not args.keep_work:
            shutil.rmtree(work, ignore_errors=True)
    doc["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    doc["loadavg_at_end"] = Path("/proc/loadavg").read_text().split()[:3]
    path = save(doc, args.results)
    print(f"results: {path}", file=sys.stderr)
    if not args.no_readme:
        update_readme(args.readme, render(doc))
        print(f"table: {args.readme}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
