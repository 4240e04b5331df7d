"""Alert accuracy (RFC 009: > 95 %): precision and recall of the alerts a real daemon sends,
over a scripted scenario of faults and harmless fluctuations (bench/alerts/scenario.py).

Every host (sshd, bench/fleet.py, each in a PID namespace of its own) has two checks with the
thresholds of the shipped playbooks: `root disk` (playbooks/health.yml: warn 80, crit 90,
clear 75, for 2) and `data disk` (playbooks/jetson-health.yml: the same, for 3). Each is a
`command` check (`parse: number`) that reads the next value of its series on the host and
advances the series' counter file there: whatever the timing, the n-th run of a check on a host
sees the n-th value of its series. The daemon runs them every --every seconds and tells a
webhook receiver on loopback.

Each alert received is placed in its series by the audit journal: its `startsAt` is the time of
the `check` record that fired it, and that record's position among the check's records on the
host is the index of the value it consumed (the benchmark checks that every record's value is
the scripted one). The ground truth is the scenario's own (scenario.py), never jarvisctl's.

    python -m bench.alerts.accuracy --hosts 10 --faults 6 --fluctuations 6 --every 2
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.alerts.common import (
    HOOK,
    Daemon,
    Receiver,
    Route,
    check_records,
    iso_time,
    machine,
    webhook_receiver,
    write_project,
)
from bench.alerts.report import render_accuracy, run_and_record
from bench.alerts.scenario import CHECKS, Score, SentAlert, Series, make_scenario, score
from bench.fleet import BenchFleet
from tests.waiting import wait_for

PAST_THE_END = 50.0  # what a check reads once its series is spent: calm
# The n-th run reads line n of the series' values; the counter is the host's own file.
COMMAND = (
    'f={{ series_dir }}/%s; n=$(( $(cat "$f.n" 2>/dev/null || echo 0) + 1 )); '
    'echo "$n" > "$f.n"; sed -n "${n}p" "$f.values" | grep . || echo %s'
)


def slug(check: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", check.lower()).strip("-")


def play(every: float) -> dict[str, Any]:
    checks = [spec.as_check(COMMAND % (slug(spec.name), PAST_THE_END)) for spec in CHECKS]
    return {"name": "disks", "hosts": "all", "schedule": {"every": f"{every:g}s"}, "checks": checks}


def write_series(folder: Path, scenario: list[Series]) -> dict[str, dict[str, Any]]:
    """Each host's series files; the inventory variables that point at them."""
    host_vars: dict[str, dict[str, Any]] = {}
    for series in scenario:
        where = folder / series.host
        where.mkdir(parents=True, exist_ok=True)
        name = slug(series.check.name)
        (where / f"{name}.values").write_text("".join(f"{v}\n" for v in series.values))
        (where / f"{name}.n").unlink(missing_ok=True)
        host_vars[series.host] = {"series_dir": str(where)}
    return host_vars


def consumed(folder: Path, series: Series) -> int:
    try:
        return int((folder / series.host / f"{slug(series.check.name)}.n").read_text())
    except (OSError, ValueError):
        return 0


def run_scenario(
    scratch: Path, fleet: BenchFleet, receiver: Receiver, route: Route, args: argparse.Namespace
) -> tuple[list[Series], list[dict[str, Any]], int]:
    """The daemon runs the whole scenario; the scenario, the journal's check records, and the
    daemon's exit code."""
    hosts = [h.name for h in fleet.hosts]
    scenario = make_scenario(hosts, args.faults, args.fluctuations, args.seed)
    folder = scratch / "series"
    host_vars = write_series(folder, scenario)
    project = scratch / "project"
    port = write_project(project, fleet, host_vars, [play(args.every)], receiver, route)
    longest = max(len(s.values) for s in scenario)
    daemon = Daemon(project, port)
    try:
        wait_for(
            lambda: all(consumed(folder, s) >= len(s.values) for s in scenario),
            longest * (args.every + 5) + 60,
            "every series consumed",
            poll=1.0,
        )
        _quiet(receiver, route.interval_seconds + 2)
    except BaseException:
        daemon.kill()
        raise
    code = daemon.stop()
    return scenario, check_records(project), code


def _quiet(receiver: Receiver, seconds: float) -> None:
    """Wait until every alert told firing was told resolved, and nothing came for `seconds`."""
    deadline = time.time() + 120
    while time.time() < deadline:
        posts = receiver.received()
        last = posts[-1].at if posts else 0.0
        statuses: dict[tuple[str, str], str] = {}
        for post in posts:
            for alert in post.body["alerts"]:
                statuses[(alert["fingerprint"], alert["startsAt"])] = alert["status"]
        if "firing" not in statuses.values() and time.time() - last > seconds:
            return
        time.sleep(0.5)


class JournalMismatch(RuntimeError):
    pass


def place_alerts(
    scenario: list[Series], records: list[dict[str, Any]], receiver: Receiver
) -> tuple[list[SentAlert], dict[str, int]]:
    """Each alert received (once per fingerprint and start), placed in its series by the
    journal; raises JournalMismatch when the journal's values are not the scenario's."""
    runs: dict[tuple[str, str], list[tuple[float, Any]]] = {}
    for record in records:
        key = (str(record["host"]), str(record["data"]["check"]))
        runs.setdefault(key, []).append((float(record["at"]), record["data"]["value"]))
    for series in scenario:
        seen = runs.get((series.host, series.check.name), [])
        expected = [*series.values, *[PAST_THE_END] * max(0, len(seen) - len(series.values))]
        got = [value for _, value in seen]
        if len(seen) < len(series.values) or got != expected[: len(got)]:
            first = next(
                (i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b), len(got)
            )
            raise JournalMismatch(
                f"{series.host} {series.check.name}: the journal's value {first} is "
                f"{got[first] if first < len(got) else 'missing'}, the scenario's "
                f"{expected[first] if first < len(expected) else 'past the end'}"
            )
    fired: dict[tuple[str, str], dict[str, Any]] = {}
    ended: dict[tuple[str, str], str] = {}
    posts = {"firing": 0, "resolved": 0}
    for post in receiver.received():
        if post.path != HOOK:
            continue
        posts[post.body["status"]] = posts.get(post.body["status"], 0) + 1
        for alert in post.body["alerts"]:
            key = (alert["fingerprint"], alert["startsAt"])
            fired.setdefault(key, alert)
            if alert["status"] == "resolved":
                ended[key] = alert["endsAt"]
    placed = []
    for key, alert in fired.items():
        labels = alert["labels"]
        times = [at for at, _ in runs.get((labels["host"], labels["check"]), [])]
        end = ended.get(key)
        placed.append(
            SentAlert(
                host=labels["host"],
                check=labels["check"],
                severity=labels["severity"],
                fingerprint=alert["fingerprint"],
                fired=_index(times, iso_time(alert["startsAt"])),
                resolved=None if end is None else _index(times, iso_time(end)),
            )
        )
    return placed, posts


def _index(times: list[float], at: float) -> int:
    """The position of the check record at `at` (the webhook's times have milliseconds)."""
    best = min(range(len(times)), key=lambda i: abs(times[i] - at))
    if abs(times[best] - at) > 0.002:
        raise JournalMismatch(f"no check record at {at} (nearest {times[best]})")
    return best


def report(scenario: list[Series], result: Score, posts: dict[str, int]) -> dict[str, Any]:
    kinds: dict[str, int] = {}
    for series in scenario:
        for event in series.events:
            name = event.kind if event.kind != "fault" else f"fault ({event.level})"
            kinds[name] = kinds.get(name, 0) + 1
    return {
        **result.figures(),
        "events": kinds,
        "notifications": posts,
        "firing_cycle_within_fault": {
            k: {str(n): v.count(n) for n in sorted(set(v))} for k, v in result.fire_delays.items()
        },
        "true_alert_list": result.true_alerts,
        "false_alert_list": result.false_alerts,
        "missed_list": result.missed,
        "resolution_problem_list": result.resolution_problems,
    }


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=10)
    parser.add_argument("--faults", type=int, default=6, help="per series (2 series a host)")
    parser.add_argument("--fluctuations", type=int, default=6, help="per series")
    parser.add_argument("--every", type=float, default=2.0, help="the schedule, seconds")
    parser.add_argument("--group-wait", default="1s")
    parser.add_argument("--group-interval", default="4s")
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--out", type=Path, default=None, help="default: bench/results/")
    parser.add_argument("--shared-pid-namespace", action="store_true")
    parser.add_argument("--keep", type=Path, default=None, help="work here and keep it")
    parser.add_argument("--no-readme", action="store_true", help="leave bench/README.md alone")
    return parser.parse_args(argv)


def measure(args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    route = Route(("host", "check"), args.group_wait, args.group_interval, "1h")
    own = not args.shared_pid_namespace
    fleet = BenchFleet(scratch / "fleet", args.hosts, own_pid_namespace=own)
    before = machine()
    started = time.time()
    fleet.start()
    try:
        with webhook_receiver() as receiver:
            scenario, records, code = run_scenario(scratch, fleet, receiver, route, args)
            sent, posts = place_alerts(scenario, records, receiver)
    finally:
        fleet.stop()
    result = score(scenario, sent)
    return {
        "benchmark": "alert-accuracy",
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python -m bench.alerts.accuracy " + " ".join(sys.argv[1:]),
        "seconds": round(time.time() - started, 1),
        "hosts": args.hosts,
        "series": len(scenario),
        "every": args.every,
        "seed": args.seed,
        "route": route.as_dict(),
        "checks": [{**spec.as_check("..."), "as in": spec.source} for spec in CHECKS],
        "own_pid_namespaces": own,
        "machine_before": before,
        "machine_after": machine(),
        "daemon_exit": code,
        "cycles_run": max(
            (
                sum(
                    1 for r in records if r["host"] == s.host and r["data"]["check"] == s.check.name
                )
                for s in scenario
            ),
            default=0,
        ),
        "figures": report(scenario, result, posts),
        "scenario": [
            {
                "host": s.host,
                "check": s.check.name,
                "values": list(s.values),
                "events": [[e.kind, e.level, e.start, e.end] for e in s.events],
            }
            for s in scenario
        ],
    }


def main(argv: list[str]) -> int:
    run_and_record(parse_args(argv), "alert-accuracy", measure, render_accuracy)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
