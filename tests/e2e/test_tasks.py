"""A play's `tasks:` end to end: `jarvisctl run` of a playbook with tasks on the sshd test hosts,
as an operator runs it, its JSON and its journal read back, the hosts' files checked."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.sshd import SshdFleet, SshdHost
from tests.waiting import wait_for

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


FABFILE = """\
from fabric import task


@task
def deploy(c, version, where):
    c.run(f"echo {version} > {where}/deployed")
"""
FABRIC = """\
- name: deploy
  hosts: all
  tasks:
    - fabric:
        task: fabfile:deploy
        args: {{version: "2.0.1", where: "{dir}/{{{{ inventory_hostname }}}}"}}
"""


def test_a_fabric_task_beside_the_playbook_runs_on_every_host(
    project: Path, sshd_hosts: list[SshdHost]
) -> None:
    (project / "fabfile.py").write_text(FABFILE)
    for host in sshd_hosts:
        (project / "hosts" / host.name).mkdir()
    (project / "play.yml").write_text(FABRIC.format(dir=project / "hosts"))
    done = jarvisctl(project, "run", "play.yml", "-i", "inventory.yml", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    hosts = {h["host"]: h for h in json.loads(done.stdout)["hosts"]}
    for host in sshd_hosts:
        (step,) = hosts[host.name]["steps"]
        assert (step["kind"], step["outcome"]) == ("fabric", "changed")
        assert (project / "hosts" / host.name / "deployed").read_text() == "2.0.1\n"


SECRET_TASK = """\
- name: secret
  hosts: all
  vars: {{token: "{{{{ env('JARVIS_TEST_STEP_TOKEN') }}}}"}}
  tasks:
    - name: write the token
      run: echo {{{{ token }}}} > {dir}/{{{{ inventory_hostname }}}}
    - name: show the token
      run: echo the token is {{{{ token }}}}; echo {{{{ token }}}} >&2; exit 4
"""


def test_a_secret_in_a_task_reaches_the_host_and_no_output(
    project: Path, sshd_hosts: list[SshdHost], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "s3cr3t-step-value-81d2"
    monkeypatch.setenv("JARVIS_TEST_STEP_TOKEN", secret)
    (project / "play.yml").write_text(SECRET_TASK.format(dir=project / "hosts"))
    done = jarvisctl(project, "run", "play.yml", "-i", "inventory.yml", "--json")
    assert done.returncode != 0  # the second task fails, printing the secret
    for host in sshd_hosts:
        assert (project / "hosts" / host.name).read_text() == f"{secret}\n"
    hosts = json.loads(done.stdout)["hosts"]
    assert all(h["steps"][1]["outcome"] == "failed" for h in hosts)
    texts = [done.stdout, done.stderr]
    texts += [p.read_text() for p in project.glob("**/runs/*.jsonl")]
    texts.append(jarvisctl(project, "report", "last", "--format", "md").stdout)
    assert all(secret not in text for text in texts)
    assert "the token is" in done.stdout  # the step's output is there, redacted


RESTORE = """\
- name: config
  hosts: {host}
  backups:
    - {{name: conf, paths: ["{conf}"], keep: {{last: 3}}}}
  tasks:
    - restore: conf
"""


def test_a_restore_task_puts_back_the_last_verified_snapshot(
    project: Path, sshd_hosts: list[SshdHost]
) -> None:
    host = sshd_hosts[0]
    conf = project / "hosts" / "conf"
    conf.mkdir()
    (conf / "app.conf").write_text("version=1\n")
    (project / "play.yml").write_text(RESTORE.format(host=host.name, conf=conf))
    args = ("run", "play.yml", "-i", "inventory.yml", "--json")
    first = json.loads(jarvisctl(project, *args).stdout)["hosts"][0]
    assert first["steps"][0]["outcome"] == "failed"  # nothing to restore from yet
    assert "no snapshot of backup 'conf'" in first["steps"][0]["reason"]
    assert first["backups"][0]["outcome"] == "taken"  # taken after the tasks
    (conf / "app.conf").write_text("version=2 broken\n")
    second = json.loads(jarvisctl(project, *args).stdout)["hosts"][0]
    assert second["steps"][0]["outcome"] == "changed", second["steps"]
    assert (conf / "app.conf").read_text() == "version=1\n"


SLOW = """\
- name: slow
  hosts: all
  tasks:
    - name: long
      run: echo $$ > {dir}/{{{{ inventory_hostname }}}}.pid; exec sleep 60
    - name: after
      run: touch {dir}/{{{{ inventory_hostname }}}}.after
"""


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def test_sigterm_interrupts_a_running_task_and_ends_it_on_the_host(
    project: Path, sshd_hosts: list[SshdHost]
) -> None:
    hosts = project / "hosts"
    (project / "play.yml").write_text(SLOW.format(dir=hosts))
    process = subprocess.Popen(
        [sys.executable, "-m", "jarvisctl", "run", "play.yml", "-i", "inventory.yml", "--json"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    pids = [hosts / f"{h.name}.pid" for h in sshd_hosts]
    wait_for(lambda: all(p.exists() and p.read_text().strip() for p in pids), 30, "the tasks")
    running = [int(p.read_text()) for p in pids]
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    for host in json.loads(stdout)["hosts"]:
        assert host["outcome"] == "interrupted"
        assert [s["outcome"] for s in host["steps"]] == ["interrupted", "skipped"]
    wait_for(lambda: not any(alive(pid) for pid in running), 15, "the tasks to end")
    assert not list(hosts.glob("*.after"))
