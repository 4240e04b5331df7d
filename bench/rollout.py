"""A rollout over a fleet of sshd hosts with transient failures (issue 18, RFC 009's update
success rate above 99 %), and the rollout's own overhead per host beyond its steps' time.

    .venv/bin/python -m bench.rollout --hosts 50 --repeat 5

Each sshd host is pid 1 of a PID namespace with its own /proc (bench/pidns.py), so that a host
sees only its own processes, as separate machines do (they still share this machine's cores,
network and disk); `--shared-pid-namespace` starts them all in this machine's PID namespace
instead, where a check script's sweep of /proc on one host sees every host's processes.

The project (bench/rollout_scenario.py): one play over N sshd hosts on loopback
(bench/fleet.py), a gate check, and a rollout in batches [1, "10%", "100%"] (at 50 hosts: 1, 5,
44) of 4 steps with `retries: 2` and `delay: 0s` (a copy of the round's version file, then
install, migrate and restart `run` steps). Before each round, 10 % of the round's step
executions (a seeded choice of (host, run step) pairs) are armed to fail once. Each round is
`jarvisctl run rollout.yml --json --forks N` of a new version under probe.py (wall, CPU of the
whole process tree, peak RSS of its largest process), plus the hosts' CPU from their sshd
listeners. After it: `jarvisctl rollout status last --json` (hosts updated), the hosts' own
files (each one runs the new version; each step ran once, plus once more where a fault was
armed; every armed fault fired), the run's journal (each host's turn, step and gate times:
bench/rollout_report.py says exactly what is measured).

Results: bench/results/rollout-<UTC time>.json and the section between the `rollout` markers
of bench/README.md (`--render FILE` re-renders it).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.backup import jarvisctl_command  # noqa: E402
from bench.compare import machine  # noqa: E402
from bench.entry import begin  # noqa: E402
from bench.fleet import BenchFleet  # noqa: E402
from bench.pidns import pid_namespace_unavailable_reason  # noqa: E402
from bench.rollout_report import (  # noqa: E402
    absorbed_faults,
    compared,
    host_timings,
    pid_namespace,
    render,
    round_figures,
    summarize,
    update_readme,
)
from bench.rollout_scenario import (  # noqa: E402
    BATCHES,
    FAIL_SHARE,
    FAULTY_STEPS,
    PLAYBOOK,
    STEP_COUNT,
    Scenario,
    choose_faults,
    inspect_host,
    prepare_round,
    write_playbook,
    write_project,
)

PROBE = REPO / "bench" / "probe.py"
RUN_TIMEOUT = 900.0
ACTIONS = {2: "install", 3: "migrate", 4: "restart"}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.rollout", description=__doc__)
    parser.add_argument("--hosts", type=int, default=50, help="sshd hosts (default 50)")
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    parser.add_argument("--forks", type=int, default=0, help="default: --hosts")
    parser.add_argument("--seed", type=int, default=18, help="of the faults' choice")
    parser.add_argument("--fail-share", type=float, default=FAIL_SHARE)
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=("gate", "nogate"),
        default=["gate", "nogate"],
        help="the rollout with its gate (the scenario), and without (where the overhead goes)",
    )
    parser.add_argument("--ref", default="HEAD", help="git ref to install as a wheel, or venv")
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--readme", type=Path, default=REPO / "bench" / "README.md")
    parser.add_argument("--no-readme", action="store_true")
    parser.add_argument("--render", type=Path, help="re-render the README from a results file")
    parser.add_argument("--keep-work", action="store_true")
    parser.add_argument(
        "--compare",
        type=Path,
        help="a results file of this bench with the hosts in the other PID namespace mode, "
        "shown beside this one in the README (also with --render)",
    )
    namespaces = parser.add_mutually_exclusive_group()
    namespaces.add_argument(
        "--own-pid-namespace",
        dest="own_pid_namespace",
        action="store_true",
        default=True,
        help="each host's sshd is pid 1 of a PID namespace with its own /proc: a host sees "
        "only its own processes, as on separate machines (the default; refused where "
        "`unshare --pid --fork --mount-proc` does not work)",
    )
    namespaces.add_argument(
        "--shared-pid-namespace",
        dest="own_pid_namespace",
        action="store_false",
        help="every host in this machine's PID namespace and /proc (the tests' fleet): each "
        "host's processes are visible to every other host",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.warmup < 0 or args.hosts < 2:
        parser.error("--repeat must be positive, --warmup not negative, --hosts at least 2")
    if not 0.0 <= args.fail_share <= len(FAULTY_STEPS) / STEP_COUNT:
        parser.error(f"--fail-share must be within 0-{len(FAULTY_STEPS) / STEP_COUNT:g}")
    args.forks = args.forks or args.hosts
    return args


def probe(argv: list[str], cwd: Path, env: dict[str, str], run_dir: Path) -> dict[str, Any]:
    """probe.py's measure of one command (its exit code is the caller's to judge)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    result, out, err = run_dir / "probe.json", run_dir / "stdout", run_dir / "stderr"
    command = [sys.executable, str(PROBE), str(result), str(out), str(err), "--", *argv]
    subprocess.run(command, cwd=cwd, env=env, check=True, timeout=RUN_TIMEOUT)
    measured: dict[str, Any] = json.loads(result.read_text())
    return measured


def journal(project: Path, run_id: str) -> list[dict[str, Any]]:
    path = project / "state" / "runs" / f"{run_id}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def expected_log(host: str, faults: set[tuple[str, int]]) -> list[str]:
    """What the host's app log must say: each run step once, after a failure where armed."""
    lines = []
    for step, action in ACTIONS.items():
        if (host, step) in faults:
            lines.append(f"{step} {action} failed")
        lines.append(f"{step} {action} ok")
    return lines


def one_round(
    fleet: BenchFleet,
    scenario: Scenario,
    prefix: list[str],
    env: dict[str, str],
    args: argparse.Namespace,
    index: int,
    variant: str,
    run_dir: Path,
) -> dict[str, Any]:
    """One `jarvisctl run` of the rollout (a new version, faults armed), and what it did."""
    names = [h.name for h in fleet.hosts]
    version = f"1.{index}.{variant}"
    faults = choose_faults(names, args.seed * 1000 + index, args.fail_share)
    write_playbook(scenario, gate=variant == "gate")
    prepare_round(scenario, names, version, faults)
    fleet.wait_idle()
    host_cpu = fleet.host_cpu()
    argv = [*prefix, "run", PLAYBOOK, "--json", "--forks", str(args.forks)]
    measured = probe(argv, scenario.project, env, run_dir)
    fleet.wait_idle()
    host_cpu = fleet.host_cpu() - host_cpu
    stdout = (run_dir / "stdout").read_text()
    try:
        document = json.loads(stdout)
    except json.JSONDecodeError:
        raise RuntimeError(
            f"jarvisctl run exited {measured['exit_code']} without a JSON document ({run_dir}):"
            f"\n{(run_dir / 'stderr').read_text()[-2000:]}"
        ) from None
    status = json.loads(
        subprocess.run(
            [*prefix, "rollout", "status", "last", "--json"],
            cwd=scenario.project,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    records = journal(scenario.project, document["run_id"])
    armed = set(faults)
    hosts = [inspect_host(scenario, name) for name in names]
    problems = [
        f"{h.host}: runs {h.current!r}, log {list(h.log)}, {h.faults_left} fault(s) not fired"
        for h in hosts
        if h.current != version or list(h.log) != expected_log(h.host, armed) or h.faults_left
    ]
    absorbed = absorbed_faults(records)
    timings = host_timings(records)
    updated = status["counts"]["updated"]
    return {
        "round": index,
        "variant": variant,
        "version": version,
        "exit_code": measured["exit_code"],
        "wall_seconds": round(measured["wall_seconds"], 3),
        "controller_cpu_seconds": round(
            measured["cpu_user_seconds"] + measured["cpu_system_seconds"], 3
        ),
        "peak_rss_mib": round(measured["max_rss_kib"] / 1024, 1),
        "host_cpu_seconds": round(host_cpu, 3),
        "run_seconds": document["seconds"],
        "rollout": status["id"],
        "rollout_state": status["state"],
        "counts": status["counts"],
        "updated": updated,
        "hosts_running_new_version": sum(1 for h in hosts if h.current == version),
        "faults_injected": len(faults),
        "faults_absorbed": len(absorbed),
        "faults_absorbed_as_armed": absorbed == sorted(faults),
        "step_executions": len(names) * STEP_COUNT,
        "host_problems": problems,
        "figures": round_figures(timings, canary=status["batch_hosts"][0][0]["host"]),
        "timings": timings,
    }


def document(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    started = datetime.now(timezone.utc)
    return {
        "schema": "jarvisctl.bench.rollout/v1",
        "started": started.isoformat(timespec="seconds"),
        "command": " ".join(["python -m bench.rollout", *argv]),
        "results_file": f"bench/results/rollout-{started.strftime('%Y%m%dT%H%M%SZ')}.json",
        "hosts": args.hosts,
        "settings": {
            "warmup": args.warmup,
            "repeat": args.repeat,
            "forks": args.forks,
            "seed": args.seed,
            "fail_share": args.fail_share,
            "batches": list(BATCHES),
            "variants": args.variants,
            "ref": args.ref,
            "pid_namespace": "own" if args.own_pid_namespace else "shared",
        },
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
    doc = document(args, argv)
    prefix, env = jarvisctl_command(args, work)
    doc["jarvisctl"] = subprocess.run(
        [*prefix, "--version"], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    fleet = BenchFleet(work / "fleet", args.hosts, own_pid_namespace=args.own_pid_namespace)
    scenario = Scenario(work / "project", work / "hosts")
    progress = work / "progress.json"
    try:
        fleet.start()
        doc["host_cpu_check"] = fleet.check_host_cpu_accounting()
        inventory = yaml.safe_load(fleet.fleet.write_inventory(work / "inventory.yml").read_text())
        write_project(scenario, inventory, [h.name for h in fleet.hosts])
        doc["rounds"] = []
        for index in range(args.warmup + args.repeat):
            warm = index < args.warmup
            order = args.variants if index % 2 == 0 else args.variants[::-1]
            for variant in order:
                run_dir = work / f"round{index}-{variant}"
                got = one_round(fleet, scenario, prefix, env, args, index, variant, run_dir)
                report(got, args.hosts, warm)
                if not warm:
                    doc["rounds"].append(got)
                    progress.write_text(json.dumps(doc, indent=2) + "\n")
    finally:
        fleet.stop()
    doc["loadavg_at_end"] = Path("/proc/loadavg").read_text().split()[:3]
    doc["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    doc["summary"] = summarize(doc)
    return doc


def report(got: dict[str, Any], hosts: int, warm: bool) -> None:
    print(
        f"{'warm-up' if warm else 'round'} {got['round']} {got['variant']}: "
        f"updated {got['updated']}/{hosts}, "
        f"faults {got['faults_injected']}/{got['faults_absorbed']}, "
        f"wall {got['wall_seconds']:.2f} s, cpu {got['controller_cpu_seconds']:.2f} s, "
        f"rss {got['peak_rss_mib']:.1f} MiB, overhead median "
        f"{got['figures']['overhead']['median']:.3f} s p95 "
        f"{got['figures']['overhead']['p95']:.3f} s"
        + (f"; PROBLEMS {got['host_problems'][:3]}" if got["host_problems"] else ""),
        file=sys.stderr,
        flush=True,
    )


def comparing(args: argparse.Namespace) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """What to render: the measurement alone, or beside `--compare`'s (refused when that file
    is not this bench's, or was measured in the same PID namespace mode)."""
    if args.compare is None:
        return lambda doc: doc
    try:
        other = json.loads(args.compare.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        message = f"--compare {args.compare}: not a results file of bench.rollout ({error})"
        raise SystemExit(message) from None
    if not isinstance(other, dict) or other.get("schema") != "jarvisctl.bench.rollout/v1":
        raise SystemExit(f"--compare {args.compare}: not a results file of bench.rollout")

    def refuse_same_mode(mode: str) -> None:
        if pid_namespace(other) == mode:
            raise SystemExit(
                f"--compare {args.compare}: measured with the same PID namespace mode "
                f"({mode!r}) as the results shown; compare the other mode"
            )

    if args.render is None:  # measuring: the mode and size are known now, not only at the end
        refuse_same_mode("own" if args.own_pid_namespace else "shared")
        if other["hosts"] != args.hosts:
            raise SystemExit(f"--compare {args.compare}: {other['hosts']} hosts, not {args.hosts}")

    def attach(doc: dict[str, Any]) -> dict[str, Any]:
        refuse_same_mode(pid_namespace(doc))
        if other["hosts"] != doc["hosts"]:
            raise SystemExit(
                f"--compare {args.compare}: {other['hosts']} hosts, not {doc['hosts']} as here"
            )
        return compared(doc, other)

    return attach


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    beside = comparing(args)
    stop = begin(args.render, args.readme, lambda doc: render(beside(doc)), update_readme)
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
    work = Path(tempfile.mkdtemp(prefix="jbr-", dir="/var/tmp"))
    started = time.monotonic()
    try:
        doc = measure(args, argv, work)
    finally:
        if not args.keep_work:
            shutil.rmtree(work, ignore_errors=True)
    doc["bench_seconds"] = round(time.monotonic() - started, 1)
    args.results.mkdir(parents=True, exist_ok=True)
    path = args.results / Path(doc["results_file"]).name
    path.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"results: {path}", file=sys.stderr)
    print(render(beside(doc)))
    if not args.no_readme:
        update_readme(args.readme, render(beside(doc)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
