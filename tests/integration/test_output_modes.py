"""Every file a command writes for the operator (reports, metrics files, JUnit files) gets the
mode the user's umask gives, as a plain `>` in a shell would: node_exporter or a CI job may read
it as another user. Only what is secret by design stays private (known_hosts)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

PLAYBOOK = """\
- name: local
  hosts: all
  checks:
    - {name: level, use: command, with: {command: "echo 5"}, warn: 80}
"""


def jarvisctl(cwd: Path, umask: int, *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "jarvisctl", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=lambda: os.umask(umask),  # the child only: the test process keeps its own
    )
    assert done.returncode == 0, done.stdout + done.stderr


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(("umask", "expected"), [(0o022, 0o644), (0o002, 0o664)])
def test_outputs_are_written_with_the_users_umask(
    tmp_path: Path, umask: int, expected: int
) -> None:
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    outputs = ["--report", "run.html", "--metrics-file", "run.prom"]
    jarvisctl(tmp_path, umask, "run", "play.yml", *outputs)
    jarvisctl(tmp_path, umask, "report", "last", "--format", "json", "-o", "report.json")
    jarvisctl(tmp_path, umask, "plan", "play.yml", "--junit", "ci/new/plan.xml")
    for name in ("run.html", "run.prom", "report.json", "ci/new/plan.xml"):
        assert mode(tmp_path / name) == expected, f"{name}: {oct(mode(tmp_path / name))}"
    for folder in ("ci", "ci/new"):  # made for --junit
        assert mode(tmp_path / folder) == 0o777 & ~umask, folder
    # the state directory's files and the journal follow the umask too (nothing in them is
    # secret: secrets are redacted before anything is written), but the journal is never
    # group- or world-writable: it is append-only evidence
    (journal,) = (tmp_path / ".jarvisctl" / "runs").glob("*.jsonl")
    assert mode(journal) == 0o644 & ~umask
    assert mode(tmp_path / ".jarvisctl" / "state.db") == 0o644 & ~umask
    assert mode(tmp_path / ".jarvisctl" / ".reserve") == 0o666 & ~umask
