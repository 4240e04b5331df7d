"""Hostile inventory values in every shell context, through `jarvisctl run`, over SSH to a real
sshd host and on the local host: no payload runs (the marker file never appears), and each
command writes the value exactly as the inventory gave it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.sshd import SshdFleet, SshdHost
from tests.shell_payloads import CASES, expected_output, payloads, refused

pytestmark = pytest.mark.e2e

LOCAL = "here"


def jarvisctl(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jarvisctl", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def write_inventory(path: Path, remote: SshdHost, fleet: SshdFleet, values: list[str]) -> None:
    """One sshd host and the local host, each with every payload as a variable p0, p1, ..."""
    inventory = {
        "all": {
            "vars": {f"p{index}": value for index, value in enumerate(values)},
            "hosts": {
                remote.name: {
                    "ansible_host": remote.address,
                    "ansible_port": remote.port,
                    "ansible_user": "root",
                    "ansible_ssh_private_key_file": str(fleet.client_key),
                    "known_hosts": str(fleet.known_hosts),
                },
                LOCAL: {"ansible_connection": "local"},
            },
        }
    }
    path.write_text(yaml.safe_dump(inventory, allow_unicode=True))


def checks_for(values: list[str], out: Path) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """A check per context and payload, writing what the command prints to a file per host;
    and what each file must hold."""
    checks: list[dict[str, Any]] = []
    expected: dict[str, str] = {}
    for c, case in enumerate(CASES):
        for p, value in enumerate(values):
            if refused(case, value):
                continue  # would make the whole run a configuration error: tested below
            name = f"c{c}p{p}"
            command = (
                f"{{% set v = p{p} %}}{{ {case.template}\n}} > {{{{ out }}}}/"
                f"{{{{ inventory_hostname }}}}.{name}"
            )
            checks.append({"name": name, "use": "command", "with": {"command": command}})
            checks[-1]["with"]["parse"] = "exit_code"
            expected[name] = expected_output(case, value)
    return checks, expected


def test_no_payload_runs_in_any_context_over_ssh_or_locally(
    tmp_path: Path, sshd_fleet: SshdFleet, sshd_hosts: list[SshdHost]
) -> None:
    marker, out = tmp_path / "marker", tmp_path / "out"
    out.mkdir()
    values = payloads(str(marker))
    remote = sshd_hosts[0]
    write_inventory(tmp_path / "inventory.yml", remote, sshd_fleet, values)
    checks, expected = checks_for(values, out)
    play = [{"name": "injection", "hosts": "all", "vars": {"out": str(out)}, "checks": checks}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play, allow_unicode=True))

    done = jarvisctl("run", "play.yml", "-i", "inventory.yml", "--json", cwd=tmp_path)

    assert not marker.exists(), "a payload ran"
    assert "Traceback" not in done.stderr, done.stderr
    document = json.loads(done.stdout)
    assert done.returncode == 0, done.stderr
    for host in (remote.name, LOCAL):
        result = next(h for h in document["hosts"] if h["host"] == host)
        assert result["outcome"] == "ok", result
        values_by_check = {c["name"]: c["value"] for c in result["checks"]}
        assert values_by_check == dict.fromkeys(expected, 0.0)  # every command exited 0
        for name, text in expected.items():
            written = (out / f"{host}.{name}").read_bytes().decode()
            assert written == text, (host, name)


def test_a_context_that_cannot_be_quoted_stops_the_run_before_any_host(
    tmp_path: Path, sshd_fleet: SshdFleet, sshd_hosts: list[SshdHost]
) -> None:
    marker = tmp_path / "marker"
    values = payloads(str(marker))
    write_inventory(tmp_path / "inventory.yml", sshd_hosts[0], sshd_fleet, values)
    play = [
        {
            "name": "refused",
            "hosts": "all",
            "checks": [
                {"name": "ok", "use": "command", "with": {"command": "touch " + str(marker)}},
                {"name": "backquotes", "use": "command", "with": {"command": "echo `{{ p0 }}`"}},
            ],
        }
    ]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))

    done = jarvisctl("run", "play.yml", "-i", "inventory.yml", cwd=tmp_path)

    assert done.returncode == 3, done.stderr
    assert "play.yml:9:" in done.stderr  # the `command:` of the refused check
    assert "inside backquotes" in done.stderr and "write $(...) instead" in done.stderr
    assert not marker.exists()  # refused at planning: not even the harmless check ran
