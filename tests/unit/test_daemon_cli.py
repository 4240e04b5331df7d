"""`jarvisctl daemon` as a command, on the local host: --once for cron, start-up mistakes."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

PLAY = """\
- name: tick
  hosts: all
  schedule: {every: 1s}
  checks:
    - use: command
      with: {command: "echo 7"}
"""


def daemon(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jarvisctl", "daemon", "--log-format", "json", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def events(stderr: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def project(tmp_path: Path, config: str = "") -> Path:
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "playbooks" / "tick.yml").write_text(PLAY)
    (tmp_path / "jarvisctl.yml").write_text("playbooks: [playbooks]\n" + config)
    return tmp_path


def test_once_runs_the_jobs_that_are_due_then_exits(tmp_path: Path) -> None:
    root = project(tmp_path)
    first = daemon(root, "--once")
    assert first.returncode == 0, first.stderr
    assert [e["ran"] for e in events(first.stderr) if e["event"] == "once_finished"] == [0]
    time.sleep(1.2)
    second = daemon(root, "--once")
    assert second.returncode == 0, second.stderr
    finished = [e for e in events(second.stderr) if e["event"] == "job_finished"]
    assert [(e["job"], e["outcome"]) for e in finished] == [("playbooks/tick.yml::tick", "ok")]
    (journal,) = (root / ".jarvisctl" / "runs").glob("*.jsonl")
    started = json.loads(journal.read_text().splitlines()[0])
    assert started["kind"] == "run_started" and started["data"]["source"] == "daemon"
    assert "Traceback" not in first.stderr + second.stderr


def test_a_broken_playbook_stops_the_start_with_its_location(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "playbooks" / "tick.yml").write_text(PLAY.replace("{every: 1s}", "'61 * * * *'"))
    result = daemon(root)
    assert result.returncode == 3
    assert "playbooks/tick.yml:3:13: " in result.stderr and "61" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        root = project(tmp_path, f"daemon: {{listen: '127.0.0.1:{port}'}}\n")
        result = daemon(root)
    assert result.returncode == 3
    assert f"error: daemon.listen 127.0.0.1:{port}: cannot listen there" in result.stderr
    assert "Traceback" not in result.stderr
