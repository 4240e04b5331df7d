"""The daemon benchmark: `.venv/bin/python bench/daemon/run.py` (root, /usr/sbin/sshd).

1. idle: the daemon with a scheduled play that is not due; RSS and CPU over --idle seconds.
2. pooled: the daemon checking --hosts sshd hosts every --interval seconds (8 read-only commands
   per host, connections kept open); controller CPU per cycle from /proc, RSS after the cycles.
3. fresh: `jarvisctl run` of the same play, once per cycle, as cron or CI would; CPU from wait4.
4. recovery: a web service on one host, checked every --interval seconds with a restart
   remediation; killed at a random moment --recoveries times; the time until the journal
   records the remediation as verified.

Writes bench/daemon/results/<UTC time>.json and the table in bench/daemon/README.md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.daemon.driver import DaemonProcess, Project, free_port, fresh_run, wait_for
from bench.daemon.report import update_readme
from bench.fleet import BenchFleet, sshd_unavailable_reason

HERE = Path(__file__).resolve().parent


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--interval", type=int, default=30, help="seconds between cycles")
    parser.add_argument("--cycles", type=int, default=4, help="daemon cycles measured")
    parser.add_argument("--idle", type=float, default=60.0, help="seconds of idle measured")
    parser.add_argument("--recoveries", type=int, default=3)
    parser.add_argument("--no-readme", action="store_true")
    return parser.parse_args(argv)


def measure_idle(project: Project, seconds: float) -> dict[str, float]:
    project.write_fleet_play({"every": "1h"})
    daemon = DaemonProcess(project)
    time.sleep(5)  # start-up done
    cpu0, t0 = daemon.cpu(), time.monotonic()
    time.sleep(seconds)
    cpu, elapsed = daemon.cpu() - cpu0, time.monotonic() - t0
    rss, hwm = daemon.rss()
    daemon.stop()
    return {
        "rss_mib": round(rss, 1),
        "peak_rss_mib": round(hwm, 1),
        "cpu_seconds_per_hour": round(cpu * 3600 / elapsed, 2),
        "measured_seconds": round(elapsed, 1),
    }


def measure_pooled(project: Project, interval: int, cycles: int) -> dict[str, Any]:
    project.write_fleet_play({"every": f"{interval}s"})
    before = len(project.finished())
    daemon = DaemonProcess(project)
    samples = [daemon.cpu()]
    walls: list[float] = []
    for n in range(1, cycles + 1):
        done = wait_for(
            lambda n=n: len(project.finished()) >= before + n and project.finished(),
            interval * 3 + 60,
            f"cycle {n}",
        )
        samples.append(daemon.cpu())
        walls.append(float(done[-1][-1]["data"]["seconds"]))
        hosts = done[-1][-1]["data"]["hosts"]
        bad = [h["host"] for h in hosts if h["outcome"] != "ok"]
        if bad or len(hosts) != len(project.fleet.hosts):
            raise RuntimeError(f"cycle {n}: hosts not ok: {bad}")
    rss, hwm = daemon.rss()
    daemon.stop()
    per_cycle = [b - a for a, b in itertools.pairwise(samples)]
    steady = per_cycle[1:] or per_cycle
    return {
        "first_cycle_cpu": round(per_cycle[0], 3),
        "cycle_cpu": round(statistics.median(steady), 3),
        "cycle_cpu_all": [round(c, 3) for c in per_cycle],
        "cycle_wall": round(statistics.median(walls[1:] or walls), 3),
        "cpu_seconds_per_hour": round(statistics.median(steady) * 3600 / interval, 1),
        "rss_mib": round(rss, 1),
        "peak_rss_mib": round(hwm, 1),
    }


def measure_fresh(project: Project, interval: int, cycles: int) -> dict[str, Any]:
    project.write_fleet_play(None)
    runs = [fresh_run(project) for _ in range(cycles)]
    cpu = statistics.median(r.cpu for r in runs)
    return {
        "cycle_cpu": round(cpu, 3),
        "cycle_cpu_all": [round(r.cpu, 3) for r in runs],
        "cycle_wall": round(statistics.median(r.wall for r in runs), 3),
        "cpu_seconds_per_hour": round(cpu * 3600 / interval, 1),
        "peak_rss_mib": round(max(r.max_rss_mib for r in runs), 1),
    }


def _service_up(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 0.5).close()
        return True
    except OSError:
        return False


def measure_recovery(project: Project, interval: int, count: int) -> dict[str, Any]:
    host = project.fleet.hosts[0].name
    port, folder = free_port(), project.root / "www"
    folder.mkdir(exist_ok=True)
    project.write_service_play(host, port, folder, f"{interval}s")
    pattern = f"--directory {folder}"
    subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", *pattern.split()],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    wait_for(lambda: _service_up(port), 10, "the service")
    daemon = DaemonProcess(project)
    chooser = random.Random()
    times: list[float] = []
    try:
        for _ in range(count):
            time.sleep(chooser.uniform(1.0, interval))  # a fault at any moment of the cycle
            subprocess.run(["pkill", "-f", "--", pattern], check=False)
            wait_for(lambda: not _service_up(port), 10, "the service to die")
            killed = time.time()
            found = wait_for(
                lambda at=killed: _verified_after(project, host, at), interval + 60, "recovery"
            )
            times.append(round(found - killed, 2))
    finally:
        daemon.stop()
        subprocess.run(["pkill", "-f", "--", pattern], check=False)
    return {"seconds": times, "max": max(times), "median": statistics.median(times)}


def _verified_after(project: Project, host: str, after: float) -> float | None:
    for journal in project.journals():
        for record in journal:
            if (
                record["kind"] == "remediation"
                and record["host"] == host
                and record["data"].get("outcome") == "verified"
                and record["at"] > after
            ):
                return float(record["at"])
    return None


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    reason = sshd_unavailable_reason()
    if reason is not None:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    started = datetime.now(timezone.utc)
    with tempfile.TemporaryDirectory(prefix="jarvisctl-bench-daemon-") as scratch:
        fleet = BenchFleet(Path(scratch) / "fleet", args.hosts)
        fleet.start()
        try:
            project = Project(Path(scratch) / "project", fleet)
            print("idle ...", file=sys.stderr)
            idle = measure_idle(project, args.idle)
            print("pooled ...", file=sys.stderr)
            pooled = measure_pooled(project, args.interval, args.cycles)
            print("fresh ...", file=sys.stderr)
            fresh = measure_fresh(project, args.interval, args.cycles)
            print("recovery ...", file=sys.stderr)
            recovery = measure_recovery(
                Project(Path(scratch) / "service", fleet), args.interval, args.recoveries
            )
        finally:
            fleet.stop()
    document = {
        "started": started.isoformat(timespec="seconds"),
        "command": "bench/daemon/run.py " + " ".join(argv),
        "hosts": args.hosts,
        "interval": args.interval,
        "idle": idle,
        "pooled": pooled,
        "fresh": fresh,
        "ratio": round(fresh["cycle_cpu"] / pooled["cycle_cpu"], 1),
        "recovery": recovery,
    }
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    out = results / f"{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps(document, indent=2))
    if not args.no_readme:
        update_readme(HERE / "README.md", document, out.relative_to(HERE))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
