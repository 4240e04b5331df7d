"""A reader that goes away (`jarvisctl runs | head`) ends the output, not the command: no
BrokenPipeError traceback, and the command's own exit code (a run still runs and is recorded)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PLAYBOOK = """\
- name: quick
  hosts: localhost
  checks:
    - {name: up, use: command, with: {command: "echo 1"}}
"""
INVENTORY = "all:\n  hosts:\n    localhost: {ansible_connection: local}\n"


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    (tmp_path / "jarvisctl.yml").write_text("inventory: inventory.yml\n")
    (tmp_path / "inventory.yml").write_text(INVENTORY)
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    return tmp_path


def closed_reader(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The command with its standard output a pipe whose reader closed before it wrote."""
    child = subprocess.Popen(
        [sys.executable, "-m", "jarvisctl", *args],
        cwd=project,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()
    stderr = child.stderr.read()
    return subprocess.CompletedProcess(child.args, child.wait(timeout=60), "", stderr)


@pytest.mark.parametrize(
    "args", [("checks", "list"), ("runs",), ("report", "last", "--format", "html")]
)
def test_listing_into_a_closed_pipe_ends_quietly(project: Path, args: tuple[str, ...]) -> None:
    subprocess.run(
        [sys.executable, "-m", "jarvisctl", "run", "play.yml"],
        cwd=project,
        capture_output=True,
        check=True,
        timeout=60,
    )
    done = closed_reader(project, *args)
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    assert done.returncode == 0, done.stderr


def test_a_run_into_a_closed_pipe_still_runs_and_is_recorded(project: Path) -> None:
    done = closed_reader(project, "run", "play.yml")
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    assert done.returncode == 0, done.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "jarvisctl", "runs", "--json"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    runs = json.loads(listed.stdout)
    assert [r["status"] for r in runs] == ["ok"], runs
