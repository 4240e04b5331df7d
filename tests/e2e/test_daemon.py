"""`jarvisctl daemon` end to end: a real daemon process against the sshd test hosts, each with
a real small service; cycles in the audit journal, a service broken and remediated by a
scheduled cycle, /metrics and /healthz scraped, SIGHUP, SIGTERM, and SIGKILL mid-run."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.sshd import SshdFleet, SshdHost
from tests.e2e.test_remediation import Services
from tests.waiting import free_port, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PLAYBOOK = """\
- name: web
  hosts: all
  schedule: {schedule}
  checks:
    - name: web up
      use: command
      with:
        command: >-
          {pre}{{{{ python }}}} -c 'import socket, sys;
          socket.create_connection(("127.0.0.1", int(sys.argv[1])), 2)' {{{{ svc_port }}}}
        parse: exit_code
      crit: 1
      remediate:
        - use: run
          with:
            commands:
              - >-
                setsid {{{{ python }}}} -m http.server {{{{ svc_port }}}} --bind 127.0.0.1
                --directory {{{{ svc_dir }}}} >/dev/null 2>&1 </dev/null &
          settle: 1s
          max_attempts: 3
"""


class DaemonProject:
    """A project directory, and the daemon processes started on it."""

    def __init__(self, root: Path, fleet: SshdFleet, services: Services) -> None:
        self.root, self.port = root, free_port()
        self.log = root / "daemon.log"
        self.state = root / ".jarvisctl"
        (root / "playbooks").mkdir()
        inventory = fleet.write_inventory(root / "inventory.yml")
        document = yaml.safe_load(inventory.read_text())
        for name, variables in document["all"]["children"]["sshd"]["hosts"].items():
            variables.update(svc_port=services.ports[name], svc_dir=str(services.dirs[name]))
            variables.update(python=sys.executable)  # test equipment: by absolute path
        inventory.write_text(yaml.safe_dump(document))
        (root / "jarvisctl.yml").write_text(
            "playbooks: [playbooks]\ninventory: inventory.yml\nlease_ttl: 10s\n"
            f"daemon:\n  listen: 127.0.0.1:{self.port}\n  stop_timeout: 20s\n"
        )
        self.process: subprocess.Popen[bytes] | None = None

    def write_playbook(self, schedule: str, pre: str = "") -> None:
        text = PLAYBOOK.format(schedule=schedule, pre=pre)
        (self.root / "playbooks" / "web.yml").write_text(text)

    def start(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "jarvisctl", "daemon", "--log-format", "json"],
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        wait_for(lambda: self.get("/healthz")[0] == 200, 30, "the daemon's /healthz")
        return self.process

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except OSError:
            return 0, b""

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(self.get("/status")[1])
        return body

    def log_events(self, name: str) -> list[dict[str, Any]]:
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        records = [json.loads(line) for line in lines if line.startswith("{")]
        return [r for r in records if r.get("event") == name]

    def journals(self) -> list[list[dict[str, Any]]]:
        folder = self.state / "runs"
        files = sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
        return [
            [json.loads(x) for x in f.read_text().splitlines() if x.endswith("}")] for f in files
        ]

    def finished_cycles(self) -> list[list[dict[str, Any]]]:
        return [j for j in self.journals() if j and j[-1]["kind"] == "run_finished"]

    def leases(self) -> list[tuple[str, int, float]]:
        with sqlite3.connect(self.state / "state.db") as db:
            rows = db.execute("SELECT host, pid, expires FROM host_lease").fetchall()
        return [(str(h), int(p), float(e)) for h, p, e in rows]

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)


@contextmanager
def daemon_with_services(
    tmp_path: Path, sshd_fleet: SshdFleet, sshd_hosts: list[SshdHost]
) -> Iterator[tuple[DaemonProject, Services]]:
    """A daemon project over the fleet, each host's test service running; afterwards the
    daemon (if still running) and the services are ended."""
    services = Services(tmp_path, sshd_hosts)
    for host in sshd_hosts:
        services.start(host.name)
    (tmp_path / "project").mkdir()
    daemon = DaemonProject(tmp_path / "project", sshd_fleet, services)
    try:
        yield daemon, services
    finally:
        if daemon.process is not None and daemon.process.poll() is None:
            daemon.process.kill()
            daemon.process.wait()
        for host in sshd_hosts:
            subprocess.run(
                ["pkill", "-f", "--", f"--directory {services.dirs[host.name]}"], check=False
            )


@pytest.fixture
def project(
    tmp_path: Path, sshd_fleet: SshdFleet, sshd_hosts: list[SshdHost]
) -> Iterator[tuple[DaemonProject, Services]]:
    with daemon_with_services(tmp_path, sshd_fleet, sshd_hosts) as pair:
        yield pair


def fire_times(cycles: list[list[dict[str, Any]]]) -> Counter[str]:
    return Counter(
        next(a for a in journal[0]["data"]["arguments"] if a.startswith("--fire-time="))
        for journal in cycles
    )


def test_daemon_cycles_remediates_reloads_and_stops(
    project: tuple[DaemonProject, Services], sshd_hosts: list[SshdHost]
) -> None:
    daemon, services = project
    daemon.write_playbook("{every: 2s}")
    daemon.start()

    # three scheduled cycles in the audit journal, each from the daemon
    cycles = wait_for(
        lambda: len(daemon.finished_cycles()) >= 3 and daemon.finished_cycles(), 60, "3 cycles"
    )
    assert all(c[0]["data"]["source"] == "daemon" for c in cycles)
    assert max(fire_times(cycles).values()) == 1

    # a service broken on one host is remediated by a scheduled cycle, and verified
    victim = sshd_hosts[0].name
    services.kill(victim)
    wait_for(lambda: services.up(victim), 45, "the scheduled cycle to restart the service")

    def verified() -> bool:
        return any(
            r["kind"] == "remediation"
            and r["host"] == victim
            and r["data"]["outcome"] == "verified"
            for journal in daemon.journals()
            for r in journal
        )

    wait_for(verified, 20, "a verified remediation in the journal")

    # the connections stay open between cycles: one per host
    assert daemon.status()["connections_open"] == len(sshd_hosts)

    healthy = f'jarvisctl_check_status_code{{check="web up",host="{victim}",play="web"}} 0.0'
    wait_for(lambda: healthy in daemon.get("/metrics")[1].decode(), 20, "the check OK again")
    code, metrics = daemon.get("/metrics")
    assert code == 200
    text = metrics.decode()
    assert 'jarvisctl_job_runs_total{outcome="ok",play="web",playbook="playbooks/web.yml"}' in text
    assert f"jarvisctl_connections_open {float(len(sshd_hosts))}" in text
    if shutil.which("promtool"):
        checked = subprocess.run(
            ["promtool", "check", "metrics"], input=metrics, capture_output=True
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
    code, health = daemon.get("/healthz")
    assert code == 200 and json.loads(health)["status"] == "ok"

    # SIGHUP with a broken playbook: the previous schedule stays, the error is located
    (daemon.root / "playbooks" / "web.yml").write_text(
        "- name: web\n  hosts: all\n  schedule: {every: nope}\n"
    )
    assert daemon.process is not None
    daemon.process.send_signal(signal.SIGHUP)
    failed = wait_for(lambda: daemon.log_events("reload_failed"), 20, "the reload to fail")
    assert any("web.yml:3:" in e["problem"] for e in failed)
    assert daemon.status()["jobs"][0]["schedule"] == "every 2s"

    # SIGHUP after a real edit: the new schedule is in force
    daemon.write_playbook("{every: 1h}")
    daemon.process.send_signal(signal.SIGHUP)
    wait_for(lambda: daemon.status()["jobs"][0]["schedule"] == "every 1h", 20, "the new schedule")
    (job,) = daemon.status()["jobs"]
    assert job["next_fire_time"] > time.strftime("%Y-%m-%dT%H", time.gmtime(time.time() + 3000))

    # SIGTERM: a clean exit, nothing left leased
    assert daemon.stop() == 0
    assert daemon.log_events("daemon_stopped")[-1]["clean"] is True
    assert daemon.leases() == []
    unreachable = daemon.log_events("host_unreachable")
    assert unreachable == [], "reachable hosts were reported unreachable"


def test_sigkill_mid_run_then_restart(project: tuple[DaemonProject, Services]) -> None:
    daemon, _ = project
    # each cycle takes ~3 s on the hosts: SIGKILL lands inside one
    daemon.write_playbook("{every: 2s}", pre="sleep 3; ")
    process = daemon.start()

    def in_flight() -> str | None:
        for journal in daemon.journals():
            if journal and journal[-1]["kind"] != "run_finished" and len(journal) >= 2:
                return str(journal[0]["data"]["run_id"])
        return None

    killed_run = wait_for(in_flight, 60, "a run in flight")
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    held = daemon.leases()
    assert held and {pid for _, pid, _ in held} == {process.pid}

    daemon.start()
    wait_for(
        lambda: any(
            j[-1]["kind"] == "run_finished" and j[0]["data"]["pid"] != process.pid
            for j in daemon.journals()
            if j
        ),
        60,
        "a completed run after the restart",
    )
    takeovers = daemon.log_events("lease_takeover")
    assert takeovers and {t["previous_pid"] for t in takeovers} == {process.pid}
    # no lease of the killed process outlives the restart's first run, let alone its expiry
    assert all(pid != process.pid for _, pid, _ in daemon.leases())

    started = [j for j in daemon.journals() if j and j[0]["kind"] == "run_started"]
    repeated = [t for t, n in fire_times(started).items() if n > 1]
    assert repeated == [], f"fire times run twice: {repeated}"

    verify = subprocess.run(
        [sys.executable, "-m", "jarvisctl", "audit", "verify", killed_run],
        cwd=daemon.root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert verify.returncode == 5, verify.stdout + verify.stderr
    assert "INCOMPLETE" in verify.stdout
    assert daemon.stop() == 0
    assert daemon.leases() == []
    assert os.path.exists(daemon.state / "scheduler.db")


def session_pids(listener: int) -> list[int]:
    """The sshd processes serving open sessions: the listener's children."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == listener:
                found.append(int(entry.name))
    return found


def test_a_host_that_goes_away_is_reported_once_and_reconnected(
    project: tuple[DaemonProject, Services], sshd_hosts: list[SshdHost]
) -> None:
    daemon, _ = project
    daemon.write_playbook("{every: 1s}")
    daemon.start()
    wait_for(lambda: len(daemon.finished_cycles()) >= 2, 60, "2 cycles")
    victim = sshd_hosts[-1]
    sessions = session_pids(int(victim.pid_file.read_text()))
    assert sessions, "the daemon keeps no connection to the host"
    victim.stop()  # the listener; its open sessions (the daemon's connection) live on ...
    for pid in sessions:
        os.kill(pid, signal.SIGKILL)  # ... until they are killed too
    seen = len(daemon.finished_cycles())
    wait_for(lambda: len(daemon.finished_cycles()) >= seen + 3, 60, "3 cycles without the host")

    def about(event: str) -> list[dict[str, Any]]:
        return [e for e in daemon.log_events(event) if e["host"] == victim.name]

    assert len(about("host_unreachable")) == 1
    victim.start()
    wait_for(lambda: len(about("host_reachable")) == 2, 30, "the host reachable again")

    def victim_ok() -> bool:
        last = daemon.finished_cycles()[-1][-1]["data"]["hosts"]
        return any(h["host"] == victim.name and h["outcome"] == "ok" for h in last)

    wait_for(victim_ok, 30, "a cycle where the host is OK again")
    assert len(about("host_unreachable")) == 1
    assert daemon.status()["hosts"][victim.name]["reachable"] is True
    assert daemon.stop() == 0
