"""The tools compared: how each is set up for a fleet, run, and checked for success on every host.

Every tool connects to every host with the fleet's client key only and checks host keys
strictly against the fleet's known_hosts. A run is only timed when its output shows that all
8 commands succeeded on every host.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.fleet import BenchFleet
from bench.peers import Peers
from bench.toolfiles import (
    write_ansible_files,
    write_floor_driver,
    write_jarvisctl_files,
    write_pyinfra_files,
)

COUNT = 8  # commands per host
Verify = Callable[[str, str, int], list[str]]  # (stdout, stderr, exit code) -> problems


@dataclass(frozen=True)
class Prepared:
    argv: list[str]
    cwd: Path
    verify: Verify
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Tool:
    key: str
    label: str
    prepare: Callable[[BenchFleet, Path, Peers], Prepared]
    slow: bool = False  # one of the slow peers (fewer repeats allowed with --slow-repeat)


def _names(fleet: BenchFleet) -> set[str]:
    return {host.name for host in fleet.hosts}


def _exit_problem(code: int) -> list[str]:
    return [] if code == 0 else [f"exit code {code}"]


def _jarvisctl(fleet: BenchFleet, work: Path, peers: Peers) -> Prepared:
    playbook, inventory = write_jarvisctl_files(fleet, work)
    argv = [peers.jarvisctl, "run", str(playbook), "-i", str(inventory)]
    argv += ["--forks", str(len(fleet.hosts)), "--json"]

    def verify(stdout: str, stderr: str, code: int) -> list[str]:
        import json

        problems = _exit_problem(code)
        try:
            hosts = json.loads(stdout)["hosts"]
        except (ValueError, KeyError):
            return [*problems, "no run JSON on stdout"]
        seen = {h["host"] for h in hosts}
        if seen != _names(fleet) or len(hosts) != len(seen):
            problems.append(f"hosts reported: {sorted(seen)}")
        for host in hosts:
            checks = host["checks"]
            good = [c for c in checks if c["status"] == "ok" and c["exit_code"] == 0]
            if host["outcome"] != "ok" or len(good) != COUNT or len(checks) != COUNT:
                problems.append(f"{host['host']}: {host['outcome']} {host['error'] or ''}")
        return problems

    source = {"PYTHONPATH": peers.jarvisctl_source} if peers.jarvisctl_source else {}
    return Prepared(argv, work, verify, source)


_RECAP = re.compile(
    r"^(\S+)\s+: ok=(\d+)\s+changed=\d+\s+unreachable=(\d+)\s+failed=(\d+)", re.MULTILINE
)


def _ansible(tuned: bool) -> Callable[..., Prepared]:
    """tuned: forks = N and pipelining on; otherwise Ansible's defaults (forks 5, no pipelining)."""

    def prepare(fleet: BenchFleet, work: Path, peers: Peers) -> Prepared:
        config, playbook, inventory = write_ansible_files(fleet, work, tuned)
        argv = [peers.ansible_playbook, "-i", str(inventory), str(playbook)]
        env = {"ANSIBLE_CONFIG": str(config), "ANSIBLE_HOME": str(work / "home")}

        def verify(stdout: str, stderr: str, code: int) -> list[str]:
            problems = _exit_problem(code)
            recap = {m[1]: (int(m[2]), int(m[3]), int(m[4])) for m in _RECAP.finditer(stdout)}
            if set(recap) != _names(fleet):
                problems.append(f"recap hosts: {sorted(recap)}")
            bad = {host: r for host, r in recap.items() if r != (COUNT, 0, 0)}
            problems += [f"{h}: ok, unreachable, failed = {r}" for h, r in sorted(bad.items())]
            return problems

        return Prepared(argv, work, verify, env)

    return prepare


_PYINFRA_OK = re.compile(r"^\s+\[(\S+)\]\s+Success\s*$", re.MULTILINE)


def _pyinfra(fleet: BenchFleet, work: Path, peers: Peers) -> Prepared:
    inventory, deploy = write_pyinfra_files(fleet, work)
    argv = [peers.pyinfra, str(inventory), str(deploy), "-y"]
    argv += ["--parallel", str(len(fleet.hosts))]

    def verify(stdout: str, stderr: str, code: int) -> list[str]:
        problems = _exit_problem(code)
        successes = Counter(_PYINFRA_OK.findall(stdout + stderr))  # it logs to stderr
        if set(successes) != _names(fleet):
            problems.append(f"hosts with successes: {sorted(successes)}")
        problems += [f"{h}: {n} successes" for h, n in sorted(successes.items()) if n != COUNT]
        return problems

    return Prepared(argv, work, verify)


def _floor(kex: str | None) -> Callable[..., Prepared]:
    def prepare(fleet: BenchFleet, work: Path, peers: Peers) -> Prepared:
        driver, outputs = write_floor_driver(fleet, work, kex)

        def verify(stdout: str, stderr: str, code: int) -> list[str]:
            from bench.commands import RC_MARK

            problems = _exit_problem(code)
            for host in fleet.hosts:
                text = (outputs / host.name).read_text(errors="replace")
                codes = re.findall(rf"^{RC_MARK} (\d+)$", text, re.MULTILINE)
                if codes != ["0"] * COUNT:
                    problems.append(f"{host.name}: exit codes {codes}")
            return problems

        return Prepared(["/bin/sh", str(driver)], work, verify)

    return prepare


TOOLS: tuple[Tool, ...] = (
    Tool("jarvisctl", "jarvisctl run (forks = N)", _jarvisctl),
    Tool(
        "ansible_pipelining",
        "ansible-playbook, command tasks, forks = N, pipelining",
        _ansible(tuned=True),
        slow=True,
    ),
    Tool(
        "ansible_defaults",
        "ansible-playbook, command tasks, defaults (forks 5, no pipelining)",
        _ansible(tuned=False),
        slow=True,
    ),
    Tool("pyinfra", "pyinfra 3, one server.shell per command, --parallel N", _pyinfra),
    Tool("ssh_default_kex", "floor: OpenSSH, 1 connection per host, default KEX", _floor(None)),
    Tool(
        "ssh_curve25519",
        "floor: OpenSSH, 1 connection per host, curve25519-sha256",
        _floor("curve25519-sha256"),
    ),
)

BY_KEY = {tool.key: tool for tool in TOOLS}


def clean_environment(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without Ansible/pyinfra/jarvisctl settings, plus `extra`."""
    prefixes = ("ANSIBLE_", "PYINFRA_", "JARVISCTL_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(extra)
    return env
