"""`jarvisctl plan` as an operator and a CI pipeline use it."""

from __future__ import annotations

import contextlib
import json
import re
import shlex
import socket
import textwrap
import threading
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner, Result
from junitparser import Failure, JUnitXml

from jarvisctl.cli.main import cli

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "jarvisctl/render/schemas/plan.schema.json").read_text())


def plan(*args: str, cwd: Path) -> Result:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(cwd)
        return CliRunner().invoke(cli, ["plan", *args], catch_exceptions=False)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_health_playbook_plans_on_the_local_default() -> None:
    result = plan(str(ROOT / "playbooks/health.yml"), cwd=ROOT)
    assert result.exit_code == 0, result.output
    assert "HOST localhost  (local)" in result.output
    assert "CHECK root disk  [disk_usage]" in result.output
    assert "warn >= 80 %, crit >= 90 %, clear <= 75 %, for 2 cycles" in result.output
    assert "$ df -P /" in result.output
    assert "REMEDIATE 1. vacuum_journal on critical" in result.output
    assert "$ journalctl --vacuum-size=200M" in result.output
    assert re.search(r"schedule: cron '\*/5 \* \* \* \*'; next: \S+ \S+ \S+, ", result.output)


def test_json_follows_the_documented_schema() -> None:
    result = plan("playbooks/", "-i", "inventory/jetson-fleet.yml", "--json", cwd=ROOT)
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    jsonschema.validate(document, SCHEMA, format_checker=jsonschema.FormatChecker())
    assert document["ok"] is True
    plays = {p["name"]: p for pb in document["playbooks"] for p in pb["plays"]}
    hosts = {h["host"]: h for h in plays["jetson health"]["hosts"]}
    data_disk = next(c for c in hosts["jetson-12"]["checks"] if c["name"] == "data disk")
    assert data_disk["command"] == "df -P /mnt/nvme"  # host var overrides group var
    assert data_disk["thresholds"] == {"warn": "80", "crit": "90", "clear": "75"}
    assert hosts["jetson-01"]["connection"]["address"] == "192.0.2.11"
    assert len(plays["jetson health"]["schedule"]["next_fire_times"]) == 3
    assert {h["host"] for h in plays["inference port answers"]["hosts"]} == {
        "jetson-01",
        "jetson-02",
        "jetson-03",
        "jetson-11",
    }


FIVE_MISTAKES = """\
- name: broken
  hosts: webz
  schedule: "*/5 * * *"
  checks:
    - name: root disk
      use: disk_usagee
- name: also broken
  hosts: web
  checks:
    - name: mem
      use: memory_available
      tmeout: 10s
      remediate:
        - use: restart_service
          with: {unit: "{{ service_name }}"}
"""


def _known_checks() -> str:
    from jarvisctl.core.errors import known_list
    from jarvisctl.kinds.registry import load_registry
    from jarvisctl.plan.catalogue import load_catalogue, shipped_root

    registry = load_registry()
    catalogue = load_catalogue(
        [shipped_root() / "checks"], [shipped_root() / "remediations"], registry
    )
    return known_list({*catalogue.checks, *registry.checks}).removeprefix("known: ")


KNOWN_CHECKS = _known_checks()


def test_five_mistakes_give_five_located_messages(tmp_path: Path) -> None:
    write(tmp_path / "inventory.yml", "all:\n  children:\n    web: {hosts: {web1: {}}}\n")
    write(tmp_path / "bad.yml", FIVE_MISTAKES)
    result = plan("bad.yml", "-i", "inventory.yml", cwd=tmp_path)
    assert result.exit_code == 3
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [
        "error: bad.yml:2:10: hosts: 'webz' in host pattern 'webz' is neither a host nor a "
        "group (did you mean: web, web1)",
        "error: bad.yml:3:13: 'schedule': cron expression '*/5 * * *' has 4 fields (5 fields: "
        "minute hour day-of-month month day-of-week, e.g. '*/5 * * * *')",
        "error: bad.yml:6:12: unknown check 'disk_usagee' (a definition in checks/ or a kind; "
        "did you mean 'disk_usage' or 'inode_usage' or 'cpu_usage'? known: " + KNOWN_CHECKS + ")",
        "error: bad.yml:12:7: unknown key 'tmeout' (did you mean 'timeout'? valid: name, use, "
        "with, warn, crit, clear, for, timeout, tags, remediate)",
        "error: bad.yml:15:24: template '{{ service_name }}': undefined variable "
        "'service_name' (host web1)",
    ]
    assert "Traceback" not in result.output


def test_junit_has_one_testsuite_per_playbook_file_and_a_failure_per_mistake(
    tmp_path: Path,
) -> None:
    write(tmp_path / "bad.yml", FIVE_MISTAKES)
    good = write(tmp_path / "good.yml", "- name: ok\n  hosts: all\n  checks: [{use: swap_used}]\n")
    junit = tmp_path / "out" / "plan.xml"
    result = plan("bad.yml", str(good), "--junit", str(junit), cwd=tmp_path)
    assert result.exit_code == 3
    suites = {suite.name: list(suite) for suite in JUnitXml.fromfile(str(junit))}
    assert set(suites) == {"bad.yml", "good.yml"}  # as displayed: relative to here
    assert [case.is_passed for case in suites["good.yml"]] == [True]
    failures = [case.result[0] for case in suites["bad.yml"]]
    assert all(isinstance(f, Failure) for f in failures)
    errors = [line.removeprefix("error: ") for line in result.stderr.splitlines()]
    assert [f.message for f in failures] == errors  # each located as on the console
    assert any(e.startswith("bad.yml:12:7: unknown key 'tmeout'") for e in errors)


def test_inventory_mistakes_are_reported_as_their_own_file(tmp_path: Path) -> None:
    write(tmp_path / "inv.yml", "all:\n  hostz:\n    a: {}\n")
    write(tmp_path / "p.yml", "- name: ok\n  hosts: all\n  checks: [{use: swap_used}]\n")
    result = plan("p.yml", "-i", "inv.yml", "--json", cwd=tmp_path)
    assert result.exit_code == 3
    document = json.loads(result.stdout)
    jsonschema.validate(document, SCHEMA)
    problems = [p for pb in document["playbooks"] for p in pb["problems"]]
    assert problems and problems[0]["location"] == {"file": "inv.yml", "line": 2, "column": 3}


def test_injection_through_a_host_variable_is_one_quoted_argument(tmp_path: Path) -> None:
    write(tmp_path / "inv.yml", "all:\n  hosts:\n    h1: {x: 'x; touch /tmp/pwned'}\n")
    write(
        tmp_path / "p.yml",
        """\
        - name: p
          hosts: all
          checks:
            - use: command
              with: {command: "echo {{ x }}"}
        """,
    )
    result = plan("p.yml", "-i", "inv.yml", "--json", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    command = json.loads(result.stdout)["playbooks"][0]["plays"][0]["hosts"][0]["checks"][0][
        "command"
    ]
    assert command == "echo 'x; touch /tmp/pwned'"
    assert shlex.split(command) == ["echo", "x; touch /tmp/pwned"]


def test_project_catalogue_overrides_a_shipped_entry(tmp_path: Path) -> None:
    write(
        tmp_path / "checks/disk_usage.yml",
        """\
        name: disk_usage
        kind: disk_usage
        params: {path: {default: /srv}}
        unit: "%"
        direction: above
        defaults: {warn: 60, crit: 70}
        """,
    )
    write(tmp_path / "playbooks/p.yml", "- name: p\n  hosts: all\n  checks: [{use: disk_usage}]\n")
    result = plan("playbooks/p.yml", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert "warn >= 60 %, crit >= 70 %" in result.output
    assert "$ df -P /srv" in result.output


def test_catalogue_entry_mistakes_are_located(tmp_path: Path) -> None:
    write(tmp_path / "checks/mine.yml", "name: mine\nkind: disk_usag\nparams: {}\n")
    write(tmp_path / "p.yml", "- name: p\n  hosts: all\n  checks: [{use: swap_used}]\n")
    result = plan("p.yml", cwd=tmp_path)
    assert result.exit_code == 3
    assert "error: checks/mine.yml:2:7: unknown kind 'disk_usag' (did you mean 'disk_usage'" in (
        result.stderr
    )


def test_tags_select_checks_and_unknown_tags_are_errors() -> None:
    result = plan("playbooks/health.yml", "--tags", "memory", cwd=ROOT)
    assert result.exit_code == 0
    assert "CHECK memory available" in result.output and "CHECK root disk" not in result.output
    result = plan("playbooks/health.yml", "--tags", "dsk", cwd=ROOT)
    assert result.exit_code == 2
    assert "--tags: unknown tag dsk (known: cpu, disk, health, memory, packages)" in result.stderr


def test_limit_intersects_with_the_play_hosts() -> None:
    result = plan(
        "playbooks/jetson-health.yml",
        "-i",
        "inventory/jetson-fleet.yml",
        "--limit",
        "jetson-1*",
        "--json",
        cwd=ROOT,
    )
    assert result.exit_code == 0, result.output
    hosts = {
        h["host"]
        for pb in json.loads(result.stdout)["playbooks"]
        for p in pb["plays"]
        for h in p["hosts"]
    }
    assert hosts == {"jetson-11", "jetson-12"}


def test_inconsistent_thresholds_are_errors(tmp_path: Path) -> None:
    write(
        tmp_path / "p.yml",
        "- name: p\n  hosts: all\n  checks:\n    - use: disk_usage\n      warn: 70\n",
    )
    result = plan("p.yml", cwd=tmp_path)
    assert result.exit_code == 3
    assert (
        "p.yml:5:13: clear (default of 'disk_usage') 75 is past warn 70 "
        "(for this check higher is worse)" in result.stderr
    )


def test_plan_never_connects(tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    accepted: list[object] = []

    def watch() -> None:
        with contextlib.suppress(OSError):
            accepted.append(listener.accept())

    watcher = threading.Thread(target=watch)
    watcher.start()
    write(
        tmp_path / "inv.yml",
        f"all:\n  hosts:\n    h1: {{ansible_host: 127.0.0.1, ansible_port: {port}}}\n",
    )
    write(tmp_path / "p.yml", "- name: p\n  hosts: all\n  checks: [{use: swap_used}]\n")
    result = plan("p.yml", "-i", "inv.yml", cwd=tmp_path)
    watcher.join()
    listener.close()
    assert result.exit_code == 0, result.output
    assert f"ssh 127.0.0.1:{port}" in result.output
    assert accepted == []


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            "forks: many\n",
            "jarvisctl.yml:1:8: 'forks': expected a whole number, got str 'many'",
        ),
        (
            "timeouts: {comand: 3}\n",
            "jarvisctl.yml:1:12: unknown key 'comand' (did you mean 'command'?",
        ),
        ("inventory: nope.yml\n", "jarvisctl.yml: inventory 'nope.yml' does not exist"),
    ],
)
def test_project_config_mistakes(tmp_path: Path, config: str, expected: str) -> None:
    write(tmp_path / "jarvisctl.yml", config)
    write(tmp_path / "p.yml", "- name: p\n  hosts: all\n  checks: [{use: swap_used}]\n")
    result = plan("p.yml", cwd=tmp_path)
    assert result.exit_code == 3
    assert expected in result.stderr


@pytest.mark.parametrize("command", ["plan", "run"])
def test_a_directory_without_playbooks_is_a_mistake(tmp_path: Path, command: str) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        result = CliRunner().invoke(cli, [command, "empty"], catch_exceptions=False)
    assert result.exit_code == 3
    assert "error: empty: no playbooks in this directory (*.yml or *.yaml)" in result.stderr
