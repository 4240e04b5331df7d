"""`-` means standard input or output wherever a file is named: playbooks, inventories and
configuration files are read from stdin (and named `<stdin>` in messages); reports, metrics
and JUnit files are written to stdout, and then the console moves to stderr."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from jarvisctl.cli.main import cli

PLAYBOOK = """\
- name: local
  hosts: all
  checks:
    - {name: level, use: command, with: {command: "echo 95"}, warn: 80, crit: 90}
"""
INVENTORY = "all:\n  hosts:\n    box1: {ansible_connection: local}\n"
BAD_CONFIG = "forks: 3\nno_such_setting: 1\n"


def jarvisctl(cwd: Path, *args: str, stdin: str = "") -> Result:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(cwd)
        return CliRunner().invoke(cli, list(args), input=stdin, catch_exceptions=False)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    (tmp_path / "inventory.yml").write_text(INVENTORY)
    return tmp_path


def test_plan_reads_its_playbook_from_stdin(project: Path) -> None:
    result = jarvisctl(project, "plan", "-", stdin=PLAYBOOK)
    assert result.exit_code == 0, result.output
    assert "PLAYBOOK <stdin>" in result.stdout and "CHECK level  [command]" in result.stdout


def test_a_mistake_in_stdin_is_located_at_stdin(project: Path) -> None:
    result = jarvisctl(project, "plan", "-", stdin="- name: p\n  hosts: all\n  bogus: 1\n")
    assert result.exit_code == 3
    assert "error: <stdin>:3:3: unknown key 'bogus'" in result.stderr


def test_run_reads_its_playbook_from_stdin_and_journals_its_hash(project: Path) -> None:
    result = jarvisctl(project, "run", "-", "--json", stdin=PLAYBOOK)
    assert result.exit_code == 1, result.output  # level is CRITICAL
    assert json.loads(result.stdout)["hosts"][0]["checks"][0]["status"] == "critical"
    (journal,) = (project / ".jarvisctl" / "runs").glob("*.jsonl")
    started = json.loads(journal.read_text().splitlines()[0])
    digest = "sha256:" + hashlib.sha256(PLAYBOOK.encode()).hexdigest()
    assert started["data"]["playbooks"] == {"-": digest}


@pytest.mark.parametrize("command", [["plan", "play.yml"], ["run", "play.yml"]])
def test_the_inventory_from_stdin(project: Path, command: list[str]) -> None:
    result = jarvisctl(project, *command, "-i", "-", stdin=INVENTORY)
    assert "box1" in result.stdout, result.output
    assert result.exit_code in (0, 1), result.output
    if command[0] == "run":
        (journal,) = (project / ".jarvisctl" / "runs").glob("*.jsonl")
        started = json.loads(journal.read_text().splitlines()[0])
        digest = "sha256:" + hashlib.sha256(INVENTORY.encode()).hexdigest()
        assert started["data"]["inventory"] == {"source": "<stdin>", "sha256": digest}


def test_inventory_list_reads_stdin(project: Path) -> None:
    result = jarvisctl(project, "inventory", "list", "-i", "-", stdin=INVENTORY)
    assert result.exit_code == 0, result.output
    assert "1 host match 'all' in <stdin>" in result.stdout


@pytest.mark.parametrize(
    "command",
    [
        ["plan", "play.yml"],
        ["run", "play.yml"],
        ["report", "last"],
        ["runs"],
        ["audit", "verify", "last"],
        ["checks", "list"],
        ["remediations", "escalated"],
        ["schedule", "list"],
        ["daemon", "--once"],
        ["inventory", "list"],
        ["checks", "show", "disk_usage"],
    ],
)
def test_every_config_option_reads_stdin(project: Path, command: list[str]) -> None:
    result = jarvisctl(project, *command, "-c", "-", stdin=BAD_CONFIG)
    assert result.exit_code == 3, result.output
    assert "<stdin>:2:1: unknown key 'no_such_setting'" in result.output


def test_a_retry_file_from_stdin(project: Path) -> None:
    (project / "inventory.yml").write_text(INVENTORY + "    box2: {ansible_connection: local}\n")
    result = jarvisctl(
        project, "plan", "play.yml", "-i", "inventory.yml", "-l", "@-", stdin="box2\n"
    )
    assert result.exit_code == 0, result.output
    assert "HOST box2" in result.stdout and "HOST box1" not in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["plan", "-", "-i", "-"],
        ["run", "play.yml", "-i", "-", "-l", "web:@-"],
        ["plan", "-c", "-", "-"],
    ],
)
def test_stdin_is_one_file(project: Path, args: list[str]) -> None:
    result = jarvisctl(project, *args, stdin=PLAYBOOK)
    assert result.exit_code == 2
    assert "'-' (standard input) is named for more than one file" in result.output


def test_report_and_run_outputs_on_stdout(project: Path) -> None:
    run = jarvisctl(project, "run", "play.yml", "--report", "-")
    assert run.exit_code == 1, run.output
    assert run.stdout.startswith("# jarvisctl run "), run.stdout  # Markdown, as `report` gives
    assert "RECAP" in run.stderr and "RECAP" not in run.stdout  # the console moved to stderr
    metrics = jarvisctl(project, "run", "play.yml", "--metrics-file", "-")
    assert metrics.stdout.startswith("# HELP "), metrics.stdout
    assert "RECAP" in metrics.stderr
    report = jarvisctl(project, "report", "last", "--format", "json", "-o", "-")
    assert report.exit_code == 0, report.output
    assert json.loads(report.stdout)["schema"] == "jarvisctl.run/v2"
    assert not (project / "-").exists()


def test_plan_junit_on_stdout(project: Path) -> None:
    result = jarvisctl(project, "plan", "play.yml", "--junit", "-")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("<?xml"), result.stdout
    assert "PLAYBOOK play.yml" in result.stderr
    assert not (project / "-").exists()


@pytest.mark.parametrize(
    ("args", "both"),
    [
        (["run", "play.yml", "--json", "--report", "-"], "--json and --report -"),
        (["run", "play.yml", "--report", "-", "--metrics-file", "-"], "--report - and --metrics"),
        (["plan", "play.yml", "--json", "--junit", "-"], "--json and --junit -"),
    ],
)
def test_two_documents_on_stdout_are_a_usage_error(
    project: Path, args: list[str], both: str
) -> None:
    result = jarvisctl(project, *args)
    assert result.exit_code == 2
    assert f"{both}" in result.output and "cannot all write to standard output" in result.output


def test_a_real_pipe_into_plan(project: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "jarvisctl", "plan", "-"],
        cwd=project,
        input=PLAYBOOK,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "PLAYBOOK <stdin>" in done.stdout
