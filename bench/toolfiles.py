"""The files each tool is given: playbooks, inventories, configuration, the floor's driver."""

from __future__ import annotations

import shlex
from pathlib import Path

import yaml

from bench.commands import COMMANDS, floor_script
from bench.fleet import BenchFleet


def write_jarvisctl_files(fleet: BenchFleet, work: Path) -> tuple[Path, Path]:
    """A playbook of 8 `command` checks (parse: exit_code) and the fleet's inventory."""
    work.mkdir(parents=True, exist_ok=True)
    checks = [
        {"name": name, "use": "command", "with": {"command": command, "parse": "exit_code"}}
        for name, command in COMMANDS
    ]
    playbook = work / "bench.yml"
    playbook.write_text(yaml.safe_dump([{"name": "bench", "hosts": "all", "checks": checks}]))
    return playbook, fleet.write_inventory(work / "inventory.yml")


def write_ansible_files(fleet: BenchFleet, work: Path, tuned: bool) -> tuple[Path, Path, Path]:
    """ansible.cfg, a playbook of 8 `command` tasks without fact gathering, the inventory.

    Apart from forks and pipelining (tuned), the only settings are the ones every tool gets:
    strict host key checking against the fleet's known_hosts, the fleet's key only, and a
    control path directory of this run's own.
    """
    work.mkdir(parents=True, exist_ok=True)
    ssh_args = (
        f"-o UserKnownHostsFile={fleet.known_hosts} -o StrictHostKeyChecking=yes "
        "-o IdentitiesOnly=yes"
    )
    defaults = ["[defaults]", "host_key_checking = True"]
    connection = ["[ssh_connection]", f"ssh_common_args = {ssh_args}"]
    connection.append(f"control_path_dir = {work / 'cp'}")
    if tuned:
        defaults.append(f"forks = {len(fleet.hosts)}")
        connection.append("pipelining = True")
    config = work / "ansible.cfg"
    config.write_text("\n".join([*defaults, "", *connection, ""]))
    tasks = [{"name": name, "ansible.builtin.command": _argv_form(c)} for name, c in COMMANDS]
    playbook = work / "bench.yml"
    play = {"name": "bench", "hosts": "all", "gather_facts": False, "tasks": tasks}
    playbook.write_text(yaml.safe_dump([play], sort_keys=False))
    return config, playbook, fleet.fleet.write_inventory(work / "inventory.yml")


def _argv_form(command: str) -> str:
    """The `command` module runs no shell: a pipeline goes through `sh -c` explicitly."""
    return f"sh -c {shlex.quote(command)}" if "|" in command else command


def write_pyinfra_files(fleet: BenchFleet, work: Path) -> tuple[Path, Path]:
    """An inventory.py with the fleet's connection data and a deploy of 8 server.shell ops."""
    work.mkdir(parents=True, exist_ok=True)
    common = {
        "ssh_user": "root",
        "ssh_key": str(fleet.client_key),
        "ssh_known_hosts_file": str(fleet.known_hosts),
        "ssh_strict_host_key_checking": "yes",
        "ssh_look_for_keys": False,
        "ssh_allow_agent": False,
    }
    hosts = [
        (host.name, {"ssh_hostname": host.address, "ssh_port": host.port, **common})
        for host in fleet.hosts
    ]
    inventory = work / "inventory.py"
    inventory.write_text(f"hosts = {hosts!r}\n")
    deploy = work / "deploy.py"
    lines = ["from pyinfra.operations import server", ""]
    lines += [f"server.shell(name={n!r}, commands=[{c!r}])" for n, c in COMMANDS]
    deploy.write_text("\n".join(lines) + "\n")
    return inventory, deploy


def write_floor_driver(fleet: BenchFleet, work: Path, kex: str | None) -> tuple[Path, Path]:
    """A sh script starting one `ssh` per host, all at once, each running all 8 commands in
    one remote shell; it exits non-zero when any of them failed."""
    outputs = work / "out"
    outputs.mkdir(parents=True, exist_ok=True)
    extra = ["-o", f"KexAlgorithms={kex}"] if kex else []
    script = shlex.quote(floor_script())
    lines = ["#!/bin/sh", "pids="]
    for host in fleet.hosts:
        argv = " ".join(shlex.quote(a) for a in fleet.ssh_argv(host, *extra))
        out = shlex.quote(str(outputs / host.name))
        lines.append(f'{argv} {script} >{out} 2>&1 </dev/null & pids="$pids $!"')
    lines += ["status=0", 'for pid in $pids; do wait "$pid" || status=1; done', 'exit "$status"']
    driver = work / "floor.sh"
    driver.write_text("\n".join(lines) + "\n")
    return driver, outputs
