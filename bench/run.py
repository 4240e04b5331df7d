"""Run the benchmark: `.venv/bin/python bench/run.py --sizes 10 50 --repeat 5`.

For each N: start N sshd hosts, check the host-side CPU accounting, then run every tool once
untimed (warm-up, and a first check that it succeeds everywhere) and `--repeat` timed rounds,
the tools interleaved within each round. Results go to bench/results/*.json; the table is
rendered into bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.entry import begin
from bench.fleet import BenchFleet
from bench.measure import Sample, ToolFailed, measure
from bench.peers import (
    BENCH,
    Peers,
    ensure_peers,
    export_jarvisctl,
    use_compiled_python,
    versions,
)
from bench.report import render, summarize, targets, update_readme
from bench.strict import check_strict_host_keys
from bench.tools import BY_KEY, TOOLS, Prepared, Tool


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 50], metavar="N")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per tool and N")
    parser.add_argument(
        "--slow-repeat",
        type=int,
        help="timed runs for the two ansible variants (default: --repeat)",
    )
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs per tool and N")
    parser.add_argument("--tools", nargs="+", choices=list(BY_KEY), default=list(BY_KEY))
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
        help="the commit of jarvisctl to measure (default HEAD; 'worktree': the tree as is)",
    )
    parser.add_argument("--render", type=Path, help="only re-render the README from this JSON")
    args = parser.parse_args(argv)
    if args.repeat < 1 or min(args.sizes) < 1:
        parser.error("--repeat and --sizes must be positive")
    return args


def run_size(
    size: int, tools: list[Tool], args: argparse.Namespace, peers: Peers, work: Path
) -> tuple[dict[str, list[dict[str, float]]], dict[str, float]]:
    fleet = BenchFleet(work / f"n{size}" / "fleet", size)
    try:
        fleet.start()
        check = fleet.check_host_cpu_accounting()
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
    return {
        "schema": "jarvisctl.bench/v1",
        "started": started.isoformat(timespec="seconds"),
        "command": " ".join([".venv/bin/python", "bench/run.py", *argv]),
        "results_file": f"bench/results/{name}",
        "versions": versions(peers),
        "loadavg_at_start": Path("/proc/loadavg").read_text().split()[:3],
        "labels": {tool.key: tool.label for tool in TOOLS},
        "settings": {"repeat": args.repeat, "slow_repeat": args.slow_repeat, "warmup": args.warmup},
        "strict_check": {},
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


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    stop = begin(args.render, args.readme, render, update_readme)
    if stop is not None:
        return stop
    tools = [BY_KEY[key] for key in args.tools]
    work = Path(tempfile.mkdtemp(prefix="jb-", dir="/tmp"))  # short: ssh control paths
    use_compiled_python(work / "pycache")
    try:
        peers = export_jarvisctl(ensure_peers(), args.jarvisctl_ref, work / "jarvisctl-src")
        doc = document(args, argv, peers)
        if not args.skip_strict_check:
            doc["strict_check"] = check_strict_host_keys(tools, peers, work)
            print(f"strict host key check: {doc['strict_check']}", file=sys.stderr)
        for size in args.sizes:
            samples, check = run_size(size, tools, args, peers, work)
            doc["samples"][str(size)] = samples
            doc["host_cpu_check"][str(size)] = check
            path = save(doc, args.results)
    except ToolFailed as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if not args.keep_work:
            shutil.rmtree(work, ignore_errors=True)
    doc["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    path = save(doc, args.results)
    print(f"results: {path}", file=sys.stderr)
    if not args.no_readme:
        update_readme(args.readme, render(doc))
        print(f"table: {args.readme}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
