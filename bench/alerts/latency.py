"""Time from a fault to the notification received (issue 19, seed 004).

A real `jarvisctl daemon` checks a web service on each of N sshd hosts (bench/fleet.py, each
host in a PID namespace of its own) every --every seconds (10 s) and tells a webhook receiver
on loopback. The benchmark kills one host's service at a random phase of the cycle, waits for
the firing notification, repairs the service (starts it again) and waits for the resolved one;
the hosts take turns, so a host is faulted again only once its repair was told.

Per fault:
- fault → delivery: this machine's clock just before the kill → the receiver's clock when the
  firing post had arrived (the same clock: one machine);
- detection → delivery: the daemon's detection is the `at` of the first `check` record of the
  audit journal that says the host's check is critical after the kill: the time the controller
  had the check's result (the same event the alert is derived from: its `startsAt` is this
  `at`, which the benchmark checks) → the receipt;
- and, to see where the time goes, the daemon log's `alert_firing`, `notification_queued` and
  `notification_sent` times for that host's alert.

Goals (issue 19): detection → delivery < 5 s; fault → delivery < the schedule + 5 s.

    python -m bench.alerts.latency --hosts 4 --faults 20 --every 10
"""

from __future__ import annotations

import argparse
import random
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.alerts.common import (
    HOOK,
    Daemon,
    Receiver,
    Route,
    check_records,
    finished_runs,
    iso_time,
    journals,
    machine,
    summary,
    webhook_receiver,
    write_project,
)
from bench.alerts.report import render_latency, run_and_record
from bench.fleet import BenchFleet
from tests.waiting import free_port, wait_for

CHECK = "web up"


class Services:
    """One real HTTP server per host (`python -m http.server` on its own loopback port), the
    benchmark's children, so that a kill's time is this process's clock."""

    def __init__(self, root: Path, hosts: list[str]) -> None:
        self.root = root
        self.ports = {name: free_port() for name in hosts}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str) -> None:
        folder = self.root / f"svc-{name}"
        folder.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "http.server", str(self.ports[name])]
        self.processes[name] = subprocess.Popen(
            [*argv, "--bind", "127.0.0.1", "--directory", str(folder)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: self.up(name), 10, f"{name}'s service to start")

    def kill(self, name: str) -> float:
        """SIGKILL the service; this clock just before the signal."""
        process = self.processes.pop(name)
        at = time.time()
        process.kill()
        process.wait()
        return at

    def up(self, name: str) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.ports[name]), 0.5).close()
            return True
        except OSError:
            return False

    def stop(self) -> None:
        for name in list(self.processes):
            self.kill(name)


def play(every: float) -> dict[str, Any]:
    check = {
        "name": CHECK,
        "use": "tcp_port",
        "with": {"host": "127.0.0.1", "port": "{{ svc_port }}", "connect_timeout": "2s"},
    }
    return {"name": "web", "hosts": "all", "schedule": {"every": f"{every:g}s"}, "checks": [check]}


@dataclass(frozen=True)
class Fault:
    host: str
    phase: float  # seconds after the start of the cycle running when the service was killed
    killed: float
    detected: float  # the journal's first critical check record of the host after the kill
    received: float  # the firing post's arrival
    starts_at: float  # the alert's startsAt in that post
    derived: float | None  # the daemon log's alert_firing for the host
    queued: float | None  # ... notification_queued
    sent: float | None  # ... notification_sent
    # the host's group of its previous fault was still alive (its resolution told less than
    # group_interval before): the alert waits for that group's next look, not group_wait
    group_alive: bool
    repaired: float = 0.0
    resolved_received: float = 0.0

    @property
    def fault_to_delivery(self) -> float:
        return self.received - self.killed

    @property
    def detection_to_delivery(self) -> float:
        return self.received - self.detected

    def as_dict(self) -> dict[str, Any]:
        found = asdict(self)
        found.update(
            fault_to_delivery=round(self.fault_to_delivery, 3),
            detection_to_delivery=round(self.detection_to_delivery, 3),
            fault_to_detection=round(self.detected - self.killed, 3),
            startsat_minus_detected=round(self.starts_at - self.detected, 4),
            repair_to_resolved=round(self.resolved_received - self.repaired, 3),
        )
        return found


class Bench:
    def __init__(
        self, root: Path, fleet: BenchFleet, receiver: Receiver, route: Route, every: float
    ) -> None:
        self.root, self.fleet, self.receiver, self.every = root, fleet, receiver, every
        self.hosts = [h.name for h in fleet.hosts]
        self.services = Services(root / "services", self.hosts)
        host_vars = {name: {"svc_port": port} for name, port in self.services.ports.items()}
        self.project = root / "project"
        self.port = write_project(self.project, fleet, host_vars, [play(every)], receiver, route)
        self.daemon: Daemon | None = None
        self.group_interval = route.interval_seconds
        self.last_resolved: dict[str, float] = {}

    def run(self, faults: int, rng: random.Random) -> list[Fault]:
        for name in self.hosts:
            self.services.start(name)
        self.daemon = Daemon(self.project, self.port)
        wait_for(lambda: finished_runs(self.project) >= 1, 60 + self.every, "a first cycle")
        if self.receiver.received():
            raise RuntimeError(f"notifications before any fault: {self.receiver.received()}")
        done: list[Fault] = []
        pending: dict[str, Fault] = {}  # repaired, its resolution not yet received
        for index in range(faults):
            host = self.hosts[index % len(self.hosts)]
            if host in pending:
                done.append(self._resolved(pending.pop(host)))
            fault = self._fault(host, rng.uniform(0, self.every))
            self.services.start(host)
            pending[host] = Fault(**{**asdict(fault), "repaired": time.time()})
            print(
                f"fault {index + 1}/{faults} on {host}: phase {fault.phase:.2f} s, "
                f"fault→delivery {fault.fault_to_delivery:.2f} s, "
                f"detection→delivery {fault.detection_to_delivery:.2f} s",
                file=sys.stderr,
            )
        done += [self._resolved(f) for f in pending.values()]
        return sorted(done, key=lambda f: f.killed)

    def _fault(self, host: str, phase: float) -> Fault:
        starts = self._cycle_starts()
        at = starts[-1] + phase
        while at < time.time() + 0.5:
            at += self.every
        time.sleep(max(0.0, at - time.time()))
        posts = len(self.receiver.received())
        killed = self.services.kill(host)
        post, alert = wait_for(
            lambda: self._told(host, "firing", posts), self.every + 30, f"{host}'s alert"
        )
        detected = wait_for(lambda: self._detection(host, killed), 10, "the journal's record")
        before = [s for s in self._cycle_starts() if s <= killed]
        return Fault(
            host=host,
            phase=round(killed - before[-1], 3),
            killed=killed,
            detected=detected,
            received=post.at,
            starts_at=iso_time(alert["startsAt"]),
            derived=self._logged("alert_firing", host, killed),
            queued=self._logged("notification_queued", host, killed),
            sent=self._sent(host, killed),
            group_alive=host in self.last_resolved
            and detected < self.last_resolved[host] + self.group_interval,
        )

    def _resolved(self, fault: Fault) -> Fault:
        post, _ = wait_for(
            lambda: self._told(fault.host, "resolved", 0, after=fault.repaired),
            self.every + 30,
            f"{fault.host}'s resolution",
        )
        self.last_resolved[fault.host] = post.at
        return Fault(**{**asdict(fault), "resolved_received": post.at})

    def _told(
        self, host: str, status: str, skip: int, after: float = 0.0
    ) -> tuple[Any, dict[str, Any]] | None:
        for post in self.receiver.received()[skip:]:
            if post.path != HOOK or post.at < after:
                continue
            for alert in post.body["alerts"]:
                if alert["labels"].get("host") == host and alert["status"] == status:
                    return post, alert
        return None

    def _detection(self, host: str, killed: float) -> float | None:
        for record in check_records(self.project):
            data = record["data"]
            if (
                record["host"] == host
                and data["check"] == CHECK
                and data["status"] == "critical"
                and float(record["at"]) >= killed
            ):
                return float(record["at"])
        return None

    def _cycle_starts(self) -> list[float]:
        return sorted(
            float(j[0]["at"]) for j in journals(self.project) if j and j[0]["kind"] == "run_started"
        )

    def _logged(self, event: str, host: str, after: float) -> float | None:
        found = self._record(event, host, after)
        return None if found is None else _ts(found)

    def _record(self, event: str, host: str, after: float) -> dict[str, Any] | None:
        """The daemon log's first `event` about the host's alert or group after `after`."""
        assert self.daemon is not None
        for record in self.daemon.log_events(event):
            named = record.get("host") == host or f'"{host}"' in str(record.get("group", ""))
            if named and _ts(record) >= after:
                return record
        return None

    def _sent(self, host: str, after: float) -> float | None:
        """The daemon log's notification_sent of the host's firing notification (by its key)."""
        assert self.daemon is not None
        queued = self._record("notification_queued", host, after)
        if queued is None:
            return None
        for record in self.daemon.log_events("notification_sent"):
            if record.get("key") == queued["key"]:
                return _ts(record)
        return None

    def close(self) -> int | None:
        code = None
        if self.daemon is not None:
            code = self.daemon.stop()
        self.services.stop()
        return code


def _ts(record: dict[str, Any]) -> float:
    return datetime.fromisoformat(record["ts"]).timestamp()


def figures(faults: list[Fault], every: float) -> dict[str, Any]:
    f2d = [f.fault_to_delivery for f in faults]
    d2d = [f.detection_to_delivery for f in faults]
    stages = {
        "detection_to_alert_derived": [f.derived - f.detected for f in faults if f.derived],
        "derived_to_queued": [f.queued - f.derived for f in faults if f.queued and f.derived],
        "queued_to_sent_logged": [f.sent - f.queued for f in faults if f.sent and f.queued],
        "fault_to_detection": [f.detected - f.killed for f in faults],
        "repair_to_resolved_delivery": [f.resolved_received - f.repaired for f in faults],
    }
    return {
        "fault_to_delivery": summary(f2d),
        "detection_to_delivery": summary(d2d),
        "stages": {name: summary(values) for name, values in stages.items() if values},
        "goals": {
            "detection_to_delivery_max_below_5s": max(d2d) < 5.0,
            "fault_to_delivery_max_below_every_plus_5s": max(f2d) < every + 5.0,
        },
        "phases": sorted(round(f.phase, 2) for f in faults),
    }


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=4)
    parser.add_argument("--faults", type=int, default=20)
    parser.add_argument("--every", type=float, default=10.0, help="the schedule, seconds")
    parser.add_argument("--group-wait", default="1s")
    parser.add_argument("--group-interval", default="5s")
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="default: bench/results/alert-latency-<UTC>.json",
    )
    parser.add_argument("--shared-pid-namespace", action="store_true")
    parser.add_argument("--keep", type=Path, default=None, help="work here and keep it")
    parser.add_argument("--no-readme", action="store_true", help="leave bench/README.md alone")
    return parser.parse_args(argv)


def measure(args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    route = Route(("host",), args.group_wait, args.group_interval, "1h")
    own = not args.shared_pid_namespace
    fleet = BenchFleet(scratch / "fleet", args.hosts, own_pid_namespace=own)
    load_before = machine()
    fleet.start()
    try:
        with webhook_receiver() as receiver:
            bench = Bench(scratch, fleet, receiver, route, args.every)
            try:
                faults = bench.run(args.faults, random.Random(args.seed))
            finally:
                code = bench.close()
            posts = receiver.received()
    finally:
        fleet.stop()
    firing = [p for p in posts if p.body["status"] == "firing"]
    return {
        "benchmark": "alert-latency",
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python -m bench.alerts.latency " + " ".join(sys.argv[1:]),
        "hosts": args.hosts,
        "every": args.every,
        "route": route.as_dict(),
        "check": play(args.every)["checks"][0],
        "own_pid_namespaces": own,
        "machine_before": load_before,
        "machine_after": machine(),
        "daemon_exit": code,
        "posts": {"firing": len(firing), "total": len(posts)},
        "figures": figures(faults, args.every),
        "faults": [f.as_dict() for f in faults],
    }


def main(argv: list[str]) -> int:
    run_and_record(parse_args(argv), "alert-latency", measure, render_latency)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
