"""The daemon benchmark: `.venv/bin/python bench/daemon/run.py` (root, /usr/sbin/sshd).

1. idle: the daemon with a scheduled play that is not due; RSS and CPU over --idle seconds.
2. pooled: the daemon checking --hosts sshd hosts every --interval seconds (--checks read-only
   commands per host, connections kept open); controller CPU per cycle from /proc, each
   cycle's wall time from its journal, the hosts' CPU per cycle, RSS after the cycles.
3. profile (--profile-cycles): py-spy attached to the same daemon for that many more cycles:
   where the controller's CPU goes in a pooled cycle, by jarvisctl file:function.
4. fresh: `jarvisctl run` of the same play, once per cycle, as cron or CI would; CPU from wait4.
5. recovery: a web service on one host, checked every --recovery-interval seconds with a
   restart remediation; killed at a random moment --recoveries times; the time until the
   journal records the remediation as verified.

jarvisctl is the wheel of --ref (default HEAD) installed into a virtualenv of its own with its
bytecode compiled (bench/installs.py), as users run it; `--ref venv` runs the project's .venv
on this tree instead. Each sshd host is pid 1 of a PID namespace of its own (bench/pidns.py)
unless --shared-pid-namespace.

Writes bench/daemon/results/<UTC time>.json and the table in bench/daemon/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import random
import shutil
import signal
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

from bench.daemon.driver import (
    ALL_COMMANDS,
    DaemonProcess,
    Jarvisctl,
    Project,
    fresh_run,
)
from bench.daemon.report import update_readme
from bench.fleet import BenchFleet, sshd_unavailable_reason
from bench.installs import install_ref, run_environment, write_constraints
from bench.peers import PEERS_VENV, REPO
from bench.pidns import pid_namespace_unavailable_reason
from bench.procfs import tree_cpu
from bench.stacks import hotspots
from tests.waiting import free_port, wait_for

HERE = Path(__file__).resolve().parent
PROFILE_RATE = 100


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=500)
    parser.add_argument("--checks", type=int, default=20, help="checks per host (1-20)")
    parser.add_argument(
        "--forks", type=int, default=0, help="the project's forks (default: one per host)"
    )
    parser.add_argument("--interval", type=int, default=60, help="seconds between cycles")
    parser.add_argument("--cycles", type=int, default=4, help="daemon cycles measured")
    parser.add_argument("--fresh", type=int, default=0, help="fresh runs (default --cycles)")
    parser.add_argument("--idle", type=float, default=60.0, help="seconds of idle measured")
    parser.add_argument(
        "--profile-cycles", type=int, default=1, help="cycles sampled by py-spy (0: none)"
    )
    parser.add_argument("--recoveries", type=int, default=3, help="0: no recovery measured")
    parser.add_argument("--recovery-interval", type=int, default=30)
    parser.add_argument("--ref", default="HEAD", help="git ref to install as a wheel, or venv")
    parser.add_argument("--results", type=Path, default=HERE / "results")
    parser.add_argument("--no-readme", action="store_true")
    parser.add_argument(
        "--shared-pid-namespace",
        dest="own_pid_namespace",
        action="store_false",
        default=True,
        help="every sshd host in this machine's PID namespace (default: one each)",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.checks <= len(ALL_COMMANDS):
        parser.error(f"--checks must be within 1-{len(ALL_COMMANDS)}")
    if args.hosts < 1 or args.cycles < 2 or args.interval < 1:
        parser.error("--hosts and --interval must be positive, --cycles at least 2")
    args.fresh = args.fresh or args.cycles
    return args


def install(ref: str, work: Path) -> Jarvisctl:
    """The jarvisctl measured: the wheel of `ref`, compiled, or the project's .venv."""
    if ref == "venv":
        env = {**run_environment(), "PYTHONPATH": str(REPO)}
        prefix: tuple[str, ...] = (sys.executable, "-m", "jarvisctl")
        label = "the project's .venv on this tree"
    else:
        made = install_ref("head", ref, work, write_constraints(work / "constraints.txt"))
        env, prefix = run_environment(), (made.jarvisctl,)
        label = f"{made.commit} (wheel of {ref}, compiled at install)"
    version = subprocess.run(
        [*prefix, "--version"], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    return Jarvisctl(prefix, env, f"{version}, {label}")


def measure_idle(project: Project, jarvisctl: Jarvisctl, seconds: float) -> dict[str, float]:
    project.write_fleet_play({"every": "1h"})
    daemon = DaemonProcess(project, jarvisctl)
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


def measure_pooled(
    project: Project, jarvisctl: Jarvisctl, args: argparse.Namespace, profile: Path | None
) -> dict[str, Any]:
    """--cycles cycles of the daemon (the first connects, the others reuse the connections),
    then, when `profile` is given, --profile-cycles more under py-spy."""
    interval = args.interval
    project.write_fleet_play({"every": f"{interval}s"}, args.checks)
    before = len(project.finished())
    listeners = set(project.fleet.listeners)
    daemon = DaemonProcess(project, jarvisctl)
    try:
        samples, hosts_cpu = [daemon.cpu()], [tree_cpu(listeners)]
        walls: list[float] = []
        failures: list[dict[str, Any]] = []
        descriptors: list[int] = []
        for n in range(1, args.cycles + 1):
            record = _next_cycle(project, before + n, interval, n)
            samples.append(daemon.cpu())
            hosts_cpu.append(tree_cpu(listeners))
            descriptors.append(_descriptors(daemon.pid))
            walls.append(float(record["data"]["seconds"]))
            problems = _problems(record, len(project.fleet.hosts))
            if problems:
                failures.append({"cycle": n, "hosts": len(problems), "first": problems[:5]})
            print(
                f"cycle {n}: wall {walls[-1]:.2f} s, "
                f"controller CPU {samples[-1] - samples[-2]:.2f} s, "
                f"hosts {hosts_cpu[-1] - hosts_cpu[-2]:.2f} s, "
                f"open files {descriptors[-1]}, hosts not ok {len(problems)}"
                + (f" ({problems[0]})" if problems else ""),
                file=sys.stderr,
                flush=True,
            )
        rss, hwm = daemon.rss()
        threads = _threads(daemon.pid)
        profiled = None
        if profile is not None and args.profile_cycles > 0:
            profiled = _profile_cycles(project, daemon.pid, before + args.cycles, args, profile)
    finally:
        daemon.stop()
    per_cycle = [b - a for a, b in itertools.pairwise(samples)]
    host_cycle = [b - a for a, b in itertools.pairwise(hosts_cpu)]
    steady = per_cycle[1:] or per_cycle
    cycle_cpu = statistics.median(steady)
    return {
        "first_cycle_cpu": round(per_cycle[0], 3),
        "first_cycle_wall": round(walls[0], 3),
        "cycle_cpu": round(cycle_cpu, 3),
        "cycle_cpu_all": [round(c, 3) for c in per_cycle],
        "cycle_wall": round(statistics.median(walls[1:] or walls), 3),
        "cycle_wall_all": [round(w, 3) for w in walls],
        "cycle_wall_max": round(max(walls), 3),
        "every_cycle_within_interval": max(walls) < interval,
        "core_share_percent": round(100 * cycle_cpu / interval, 2),
        "cpu_seconds_per_hour": round(cycle_cpu * 3600 / interval, 1),
        "host_cpu_per_cycle": round(statistics.median(host_cycle[1:] or host_cycle), 3),
        "host_cpu_all": [round(c, 3) for c in host_cycle],
        "rss_mib": round(rss, 1),
        "peak_rss_mib": round(hwm, 1),
        "threads": threads,
        "open_files_after_each_cycle": descriptors,
        "failed_cycles": failures,
        "every_host_ok_every_cycle": not failures,
        "profile": profiled,
    }


def _next_cycle(project: Project, count: int, interval: int, n: int) -> dict[str, Any]:
    """The run_finished record of the `count`-th finished run (a cycle that never finishes
    stops the benchmark; one whose hosts were not all ok is the caller's to record)."""
    done = wait_for(
        lambda: len(project.finished()) >= count and project.finished(),
        interval * 3 + 120,
        f"cycle {n}",
        poll=0.25,
    )
    record: dict[str, Any] = done[count - 1]
    return record


def _problems(record: dict[str, Any], hosts: int) -> list[str]:
    """Each host of the cycle that was not ok, with its error (and a missing host count)."""
    reported = record["data"]["hosts"]
    found = [
        f"{h['host']}: {h['outcome']} {h.get('error') or ''}".strip()
        for h in reported
        if h["outcome"] != "ok"
    ]
    if len(reported) != hosts:
        found.append(f"{len(reported)} hosts reported of {hosts}")
    return found


def _descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def _profile_cycles(
    project: Project, pid: int, done: int, args: argparse.Namespace, out: Path
) -> dict[str, Any]:
    """py-spy on the running daemon (non-blocking, every thread, --format raw) from now until
    --profile-cycles more cycles have finished (then SIGINT: py-spy writes what it sampled);
    where the sampled CPU went. Only samples of the thread holding the GIL count (`--gil`):
    without it, py-spy's non-blocking mode takes threads waiting in recv() or on a condition
    for running ones (a first profile at 500 hosts charged half its samples to them). With
    hundreds of threads py-spy cannot keep its rate (a
    sample takes longer than its period), so its seconds are too small: what counts is each
    part's share of the samples, also given in seconds of the measured pooled cycle."""
    py_spy = PEERS_VENV / "bin" / "py-spy"
    if not py_spy.exists():
        raise RuntimeError(f"{py_spy} is missing: bench/run.py creates bench/.venv-peers")
    bound = args.interval * (args.profile_cycles + 3) + 120
    argv = [str(py_spy), "record", "--pid", str(pid), "--nonblocking", "--threads", "--gil"]
    argv += ["--rate", str(PROFILE_RATE), "--format", "raw", "--duration", str(bound)]
    argv += ["-o", str(out)]
    started = time.monotonic()
    spy = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for n in range(1, args.profile_cycles + 1):
            _next_cycle(project, done + n, args.interval, args.cycles + n)
    finally:
        spy.send_signal(signal.SIGINT)
        _, err = spy.communicate(timeout=120)
    if not out.exists():
        raise RuntimeError(f"py-spy wrote nothing: {err.decode(errors='replace')[-2000:]}")
    found = hotspots(out, PROFILE_RATE)
    return {"cycles": args.profile_cycles, "seconds": round(time.monotonic() - started, 1), **found}


def measure_fresh(
    project: Project, jarvisctl: Jarvisctl, args: argparse.Namespace
) -> dict[str, Any]:
    interval = args.interval
    project.write_fleet_play(None, args.checks)
    runs = []
    for n in range(args.fresh):
        runs.append(fresh_run(project, jarvisctl))
        print(f"fresh {n}: wall {runs[-1].wall:.2f} s, CPU {runs[-1].cpu:.2f} s", file=sys.stderr)
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


def measure_recovery(
    project: Project, jarvisctl: Jarvisctl, interval: int, count: int
) -> dict[str, Any]:
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
    daemon = DaemonProcess(project, jarvisctl)
    chooser = random.Random()
    times: list[float] = []
    try:
        for _ in range(count):
            time.sleep(chooser.uniform(1.0, interval))  # a fault at any moment of the cycle
            _stop_service(folder)
            wait_for(lambda: not _service_up(port), 10, "the service to die")
            killed = time.time()

            def verified(at: float = killed) -> float | None:
                return _verified_after(project, host, at)

            found = wait_for(verified, interval + 60, "recovery")
            times.append(round(found - killed, 2))
    finally:
        daemon.stop()
        _stop_service(folder)
    return {"seconds": times, "max": max(times), "median": statistics.median(times)}


def _stop_service(folder: Path) -> None:
    """TERM, by pid, each `python3 -m http.server ... --directory FOLDER` serving this bench's
    own folder (the first one started here, or one its remediation restarted)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"http.server" in argv and str(folder).encode() in argv and b"--directory" in argv:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(entry.name), signal.SIGTERM)


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
    reason = sshd_unavailable_reason() or (
        pid_namespace_unavailable_reason() if args.own_pid_namespace else None
    )
    if reason is not None:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    started = datetime.now(timezone.utc)
    load_start = Path("/proc/loadavg").read_text().split()[:3]
    scratch = Path(tempfile.mkdtemp(prefix="jbd-", dir="/var/tmp"))
    try:
        jarvisctl = install(args.ref, scratch)
        print(f"jarvisctl: {jarvisctl.version}", file=sys.stderr)
        fleet = BenchFleet(scratch / "fleet", args.hosts, own_pid_namespace=args.own_pid_namespace)
        try:
            fleet.start()
            print(f"{args.hosts} hosts answering after {fleet.start_seconds} s", file=sys.stderr)
            project = Project(scratch / "project", fleet, forks=args.forks)
            print("idle ...", file=sys.stderr)
            idle = measure_idle(project, jarvisctl, args.idle)
            print("pooled ...", file=sys.stderr)
            pooled = measure_pooled(project, jarvisctl, args, scratch / "pooled.spy")
            print("fresh ...", file=sys.stderr)
            fresh = measure_fresh(project, jarvisctl, args)
            recovery = None
            if args.recoveries > 0:
                print("recovery ...", file=sys.stderr)
                recovery = measure_recovery(
                    Project(scratch / "service", fleet),
                    jarvisctl,
                    args.recovery_interval,
                    args.recoveries,
                )
        finally:
            fleet.stop()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    document = {
        "started": started.isoformat(timespec="seconds"),
        "command": "bench/daemon/run.py " + " ".join(argv),
        "jarvisctl": jarvisctl.version,
        "hosts": args.hosts,
        "checks": args.checks,
        "forks": args.forks or args.hosts,
        "interval": args.interval,
        "recovery_interval": args.recovery_interval,
        "pid_namespace": "own" if args.own_pid_namespace else "shared",
        "fleet_start_seconds": fleet.start_seconds,
        "loadavg_at_start": load_start,
        "loadavg_at_end": Path("/proc/loadavg").read_text().split()[:3],
        "idle": idle,
        "pooled": pooled,
        "fresh": fresh,
        "ratio": round(fresh["cycle_cpu"] / pooled["cycle_cpu"], 2),
        "recovery": recovery,
    }
    results = args.results
    results.mkdir(parents=True, exist_ok=True)
    out = results / f"{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps({k: v for k, v in document.items() if k != "pooled"}, indent=2))
    print(json.dumps(pooled, indent=2))
    if not args.no_readme:
        update_readme(HERE / "README.md", document, out.relative_to(HERE))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
