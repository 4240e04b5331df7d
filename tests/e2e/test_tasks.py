"""A play's `tasks:` end to end: `jarvisctl run` of a playbook with tasks on the sshd test hosts,
as an operator runs it, its JSON and its journal read back, the hosts' files checked."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.sshd import SshdFleet, SshdHost

pytestmark = pytest.mark.e2e

# Each host's files are under DIR/<host> (the test hosts share this machine's filesystem).
TASKS = """\
- name: maintenance
  hosts: all
  vars: {{dir: "{dir}"}}
  tasks:
    - name: make the host's directory
      run: mkdir -p {{{{ dir }}}}/{{{{ inventory_hostname }}}}
      creates: "{{{{ dir }}}}/{{{{ inventory_hostname }}}}"
    - name: write the version
      run: echo 1.4.2 > {{{{ dir }}}}/{{{{ inventory_hostname }}}}/version
      unless: grep -qx 1.4.2 {{{{ dir }}}}/{{{{ inventory_hostname }}}}/version
    - name: count the cleanups
      run: echo cleaned >> {{{{ dir }}}}/{{{{ inventory_hostname }}}}/log
      changed_when: false
{extra}"""
FAILING = """\
    - name: break
      run: "echo no space left >&2; exit 3"
    - name: never
      run: touch {{ dir }}/{{ inventory_hostname }}/never
"""


def jarvisctl(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "jarvisctl", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


def run(project: Path, extra: str = "", *flags: str) -> tuple[int, dict[str, dict[str, Any]]]:
    playbook = TASKS.format(dir=project / "hosts", extra=textwrap.indent(extra, ""))
    (project / "play.yml").write_text(playbook)
    done = jarvisctl(project, "run", "play.yml", "-i", "inventory.yml", "--json", *flags)
    document = json.loads(done.stdout)
    return done.returncode, {h["host"]: h for h in document["hosts"]}


@pytest.fixture
def project(tmp_path: Path, sshd_fleet: SshdFleet, sshd_hosts: list[SshdHost]) -> Path:
    sshd_fleet.write_inventory(tmp_path / "inventory.yml")
    (tmp_path / "hosts").mkdir()
    return tmp_path


def outcomes(host: dict[str, Any]) -> list[str]:
    return [step["outcome"] for step in host["steps"]]


def test_tasks_change_the_hosts_then_find_nothing_to_do(
    project: Path, sshd_hosts: list[SshdHost]
) -> None:
    code, first = run(project)
    assert code == 0, first
    for host in sshd_hosts:
        assert first[host.name]["outcome"] == "changed"
        assert outcomes(first[host.name]) == ["changed", "changed", "ok"]
        assert (project / "hosts" / host.name / "version").read_text() == "1.4.2\n"
    code, second = run(project)
    assert code == 0
    for host in sshd_hosts:
        assert second[host.name]["outcome"] == "ok"
        steps = second[host.name]["steps"]
        assert outcomes(second[host.name]) == ["ok", "ok", "ok"]
        assert steps[0]["reason"].startswith("skipped: creates ")
        assert steps[1]["reason"].startswith("skipped: unless ")
        assert steps[0]["attempts"] == steps[1]["attempts"] == 0
        log = (project / "hosts" / host.name / "log").read_text()
        assert log == "cleaned\ncleaned\n"  # it ran both times, and never counted as a change


def test_a_failing_task_fails_its_host_and_skips_the_rest(
    project: Path, sshd_hosts: list[SshdHost]
) -> None:
    code, hosts = run(project, FAILING)
    assert code != 0
    for host in sshd_hosts:
        result = hosts[host.name]
        assert result["outcome"] == "failed"
        assert outcomes(result) == ["changed", "changed", "ok", "failed", "skipped"]
        assert "no space left" in result["steps"][3]["reason"]
        assert result["steps"][4]["reason"] == "after 'break' failed"
        assert "task 'break' failed" in result["error"]
        assert not (project / "hosts" / host.name / "never").exists()
    recap = jarvisctl(project, "run", "play.yml", "-i", "inventory.yml")
    assert "STEPS" in recap.stdout and "'break': FAILED" in recap.stdout


def test_check_mode_changes_nothing(project: Path, sshd_hosts: list[SshdHost]) -> None:
    code, hosts = run(project, "", "--check")
    assert code == 0, hosts
    for host in sshd_hosts:
        result = hosts[host.name]
        assert result["outcome"] == "ok"
        assert outcomes(result) == ["would change", "would change", "ok"]
        assert result["steps"][2]["reason"].endswith("(no probe to ask; changed_when: false)")
    assert list((project / "hosts").iterdir()) == []


def test_the_journal_records_every_step_and_its_commands(
    project: Path, sshd_hosts: list[SshdHost]
) -> None:
    run(project)
    (journal,) = project.glob("**/runs/*.jsonl")
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    steps = [r for r in records if r["kind"] == "step"]
    assert len(steps) == 3 * len(sshd_hosts)
    assert {r["data"]["outcome"] for r in steps} == {"changed", "ok"}
    commands = [r["data"] for r in records if r["kind"] == "command"]
    names = {c["check"] for c in commands if c["purpose"] == "step"}
    assert names == {"make the host's directory", "write the version", "count the cleanups"}
    verified = jarvisctl(project, "audit", "verify", "last")
    assert verified.returncode == 0, verified.stdout + verified.stderr
