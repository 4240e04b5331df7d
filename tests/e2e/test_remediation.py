"""Remediations end to end: a real small service on each sshd test host, broken for real."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.processes import watching_processes
from tests.e2e.sshd import SshdFleet, SshdHost
from tests.waiting import free_port, wait_for

pytestmark = pytest.mark.e2e

CHECK = """\
- name: service
  hosts: all
  checks:
    - name: web up
      use: command
      with:
        command: >-
          {{ python }} -c 'import socket, sys;
          socket.create_connection(("127.0.0.1", int(sys.argv[1])), 2)' {{ svc_port }}
        parse: exit_code
      crit: 1
      remediate:
{rungs}
"""
START = """\
        - use: run
          with:
            commands:
              - >-
                setsid {{ python }} -m http.server {{ svc_port }} --bind 127.0.0.1
                --directory {{ svc_dir }} >/dev/null 2>&1 </dev/null &
          settle: 1s
          max_attempts: 3
"""
USELESS = """\
        - use: run
          with:
            commands: ["echo tried >> {{ svc_dir }}/attempts"]
          settle: 0s
          max_attempts: 2
          window: 1h
"""


class Services:
    """One HTTP server per test host, each on its own port, started and killed for real."""

    def __init__(self, root: Path, hosts: list[SshdHost]) -> None:
        self.dirs = {h.name: root / f"svc-{h.name}" for h in hosts}
        self.ports = {h.name: free_port() for h in hosts}
        for folder in self.dirs.values():
            folder.mkdir()

    def start(self, name: str) -> None:
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "http.server",
                str(self.ports[name]),
                "--bind",
                "127.0.0.1",
                "--directory",
                str(self.dirs[name]),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for(lambda: self.up(name), 10, f"{name}'s service to start")

    def kill(self, name: str) -> None:
        subprocess.run(["pkill", "-f", "--", f"--directory {self.dirs[name]}"], check=False)
        wait_for(lambda: not self.up(name), 10, f"{name}'s service to stop")

    def up(self, name: str) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.ports[name]), 0.5).close()
            return True
        except OSError:
            return False

    def attempts(self, name: str) -> int:
        marker = self.dirs[name] / "attempts"
        return len(marker.read_text().splitlines()) if marker.exists() else 0


@pytest.fixture
def services(
    tmp_path: Path, sshd_fleet: SshdFleet, sshd_hosts: list[SshdHost]
) -> Iterator[Services]:
    running = Services(tmp_path, sshd_hosts)
    inventory = tmp_path / "inventory.yml"
    sshd_fleet.write_inventory(inventory)
    document = yaml.safe_load(inventory.read_text())
    for name, variables in document["all"]["children"]["sshd"]["hosts"].items():
        variables.update(svc_port=running.ports[name], svc_dir=str(running.dirs[name]))
        # the service is test equipment, not a host tool: its interpreter by absolute path
        variables.update(python=sys.executable)
    inventory.write_text(yaml.safe_dump(document))
    for host in sshd_hosts:
        running.start(host.name)
    yield running
    for host in sshd_hosts:
        subprocess.run(["pkill", "-f", "--", f"--directory {running.dirs[host.name]}"], check=False)


def run(
    project: Path, rungs: str, *extra: str, env: dict[str, str] | None = None
) -> tuple[int, dict[str, dict[str, Any]]]:
    (project / "play.yml").write_text(CHECK.replace("{rungs}", textwrap.indent(rungs, "  ")))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "jarvisctl",
            "run",
            "play.yml",
            "-i",
            "inventory.yml",
            "--json",
            *extra,
        ],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        env=None if env is None else {**os.environ, **env},
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, {h["host"]: h for h in json.loads(result.stdout)["hosts"]}


def outcomes(host: dict[str, Any]) -> list[str]:
    return [note["outcome"] for note in host["remediations"]]


def test_a_killed_service_is_restarted_and_verified(
    tmp_path: Path, services: Services, sshd_hosts: list[SshdHost]
) -> None:
    victim = sshd_hosts[0].name
    services.kill(victim)
    code, hosts = run(tmp_path, START)
    assert outcomes(hosts[victim]) == ["verified"]
    assert hosts[victim]["outcome"] == "changed"
    assert hosts[victim]["checks"][0]["status"] == "ok"
    assert services.up(victim), "the service is not running after a verified remediation"
    assert code == 0
    for other in sshd_hosts[1:]:
        assert hosts[other.name]["remediations"] == []


def test_a_useless_remediation_spends_its_budget_then_escalates(
    tmp_path: Path, services: Services, sshd_hosts: list[SshdHost]
) -> None:
    victim = sshd_hosts[1].name
    services.kill(victim)
    _, first = run(tmp_path, USELESS)
    _, second = run(tmp_path, USELESS)
    code, third = run(tmp_path, USELESS)
    assert outcomes(first[victim]) == ["not verified"]
    assert outcomes(second[victim]) == ["not verified"]
    assert outcomes(third[victim]) == ["skipped"]
    assert "escalated since" in third[victim]["remediations"][0]["reason"]
    assert services.attempts(victim) == 2, "an escalated check was attempted again"
    assert code == 1
    listed = subprocess.run(
        [sys.executable, "-m", "jarvisctl", "remediations", "escalated"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"{victim}  [service]  web up: escalated since" in listed

    # the check recovers by itself: escalation and counters end; a new failure is tried again
    services.start(victim)
    _, healthy = run(tmp_path, USELESS)
    assert healthy[victim]["checks"][0]["status"] == "ok"
    services.kill(victim)
    _, again = run(tmp_path, USELESS)
    assert outcomes(again[victim]) == ["not verified"]
    assert services.attempts(victim) == 3


def test_an_operator_reset_resumes_remediation(
    tmp_path: Path, services: Services, sshd_hosts: list[SshdHost]
) -> None:
    victim = sshd_hosts[2].name
    services.kill(victim)
    for _ in range(2):
        run(tmp_path, USELESS)
    subprocess.run(
        [sys.executable, "-m", "jarvisctl", "remediations", "reset", victim, "web up"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    _, after = run(tmp_path, USELESS)
    assert outcomes(after[victim]) == ["not verified"]
    assert services.attempts(victim) == 3


def test_the_ladder_escalates_to_the_next_rung(
    tmp_path: Path, services: Services, sshd_hosts: list[SshdHost]
) -> None:
    victim = sshd_hosts[3].name
    services.kill(victim)
    _, hosts = run(tmp_path, USELESS + START)
    notes = hosts[victim]["remediations"]
    assert [(n["rung"], n["outcome"]) for n in notes] == [(1, "not verified"), (2, "verified")]
    assert services.up(victim)


def test_the_circuit_breaker_trips_when_most_hosts_share_the_failure(
    tmp_path: Path, services: Services, sshd_hosts: list[SshdHost]
) -> None:
    broken = [h.name for h in sshd_hosts[:3]]
    for name in broken:
        services.kill(name)
    code, hosts = run(tmp_path, START)
    for name in broken:
        (note,) = hosts[name]["remediations"]
        assert note["outcome"] == "skipped"
        assert note["reason"].startswith("circuit breaker: 3 of 4 hosts (75%) need run")
        assert not services.up(name), "a remediation ran although the breaker tripped"
    assert code == 1


def test_check_mode_runs_no_remediation_on_the_host(
    tmp_path: Path, services: Services, sshd_hosts: list[SshdHost]
) -> None:
    victim = sshd_hosts[0].name
    services.kill(victim)
    _, hosts = run(tmp_path, USELESS, "--check")
    (note,) = hosts[victim]["remediations"]
    assert note["outcome"] == "would run"
    assert note["commands"] == [f"echo tried >> {services.dirs[victim]}/attempts"]
    assert services.attempts(victim) == 0, "check mode ran a remediation command"
    assert not services.up(victim)


def test_a_second_run_on_a_healthy_fleet_changes_nothing(
    tmp_path: Path, services: Services, sshd_hosts: list[SshdHost]
) -> None:
    for _ in range(2):
        code, hosts = run(tmp_path, START + USELESS)
        assert code == 0
        for host in hosts.values():
            assert host["outcome"] == "ok" and host["remediations"] == []
    assert all(services.attempts(h.name) == 0 for h in sshd_hosts)


SECRET_RUNG = """\
        - use: run
          with:
            commands:
              - "TOKEN='{{ env('JV_RUNG_TOKEN') }}'; sleep {pause};
                echo tried >> {{ svc_dir }}/attempts"
          settle: 0s
"""


def test_a_rungs_command_is_sent_as_a_steps_is_in_no_process_list(
    tmp_path: Path, services: Services, sshd_hosts: list[SshdHost]
) -> None:
    """A rung's attempt is a step's (engine/step_remedy.py): its command travels on the
    channel's stdin, so a secret in it is in no process list of the host while it runs, and
    the attempt is recorded with the command's own text, the secret redacted."""
    victim = sshd_hosts[3].name
    services.kill(victim)
    secret = f"rung-{time.monotonic_ns()}-token"
    pause = f"1.{time.monotonic_ns() % 10**6:06d}"  # names this test's sleep on the host
    with watching_processes() as seen:
        code, hosts = run(
            tmp_path, SECRET_RUNG.replace("{pause}", pause), env={"JV_RUNG_TOKEN": secret}
        )
    assert f"sleep {pause}" in seen, "the watcher saw the rung while it ran"
    assert [line for line in seen if secret in line] == []
    assert [line for line in seen if pause in line and line != f"sleep {pause}"] == []
    (note,) = hosts[victim]["remediations"]
    assert note["outcome"] == "not verified"  # it ran (the service stays down): honest
    assert services.attempts(victim) == 1
    assert secret not in json.dumps(note) and "TOKEN=" in note["commands"][0]
    assert code == 1
