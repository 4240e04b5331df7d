"""SIGKILL a real `jarvisctl run` while a slow check runs: its journal still verifies up to its
last whole record, and the run shows as incomplete everywhere."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

PLAYBOOK = """\
- name: slow
  hosts: all
  checks:
    - name: quick
      use: command
      with: {command: "echo 1"}
    - name: slow
      use: command
      with: {command: "sleep 41.7; echo 2"}
      timeout: 120
"""


def jarvisctl(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jarvisctl", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )


def wait_for_records(journal_dir: Path, count: int, deadline: float) -> Path:
    while time.monotonic() < deadline:
        for path in journal_dir.glob("*.jsonl"):
            if path.read_bytes().count(b"\n") >= count:
                return path
        time.sleep(0.05)
    raise AssertionError(f"no journal with {count} records in {journal_dir}")


@pytest.mark.slow
def test_a_killed_run_leaves_a_verifiable_incomplete_journal(tmp_path: Path) -> None:
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    process = subprocess.Popen(
        [sys.executable, "-m", "jarvisctl", "run", "play.yml"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    children: list[psutil.Process] = []
    try:
        # run_started, host_connected: the batch with the slow check is now running
        journal = wait_for_records(tmp_path / ".jarvisctl/runs", 2, time.monotonic() + 30)
        children = psutil.Process(process.pid).children(recursive=True)
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=10) == -signal.SIGKILL
    finally:
        for child in children:  # the orphaned `sleep 41.7` this test started
            if child.is_running():
                child.kill()
        if process.poll() is None:
            process.kill()
    run_id = journal.stem
    lines = journal.read_bytes().splitlines()
    assert [json.loads(line)["kind"] for line in lines] == ["run_started", "host_connected"]

    verified = jarvisctl(tmp_path, "audit", "verify", run_id)
    assert verified.returncode == 5, verified.stdout + verified.stderr
    assert "INCOMPLETE: 2 record(s) verify, no run_finished record" in verified.stdout

    listed = json.loads(jarvisctl(tmp_path, "runs", "--json").stdout)
    assert [(r["run_id"], r["status"]) for r in listed] == [(run_id, "incomplete")]
    incomplete = json.loads(jarvisctl(tmp_path, "runs", "--status", "incomplete", "--json").stdout)
    assert [r["run_id"] for r in incomplete] == [run_id]

    report = jarvisctl(tmp_path, "report", run_id, "--format", "json")
    assert report.returncode == 0, report.stderr
    document = json.loads(report.stdout)
    assert (document["status"], document["complete"], document["finished"]) == (
        "incomplete",
        False,
        None,
    )
    markdown = jarvisctl(tmp_path, "report", run_id).stdout
    assert "**Incomplete:** the journal ends after record 2" in markdown

    # a torn last line (a write cut short) is reported, and the whole records still verify
    with journal.open("ab") as handle:
        handle.write(b'{"seq":3,"prev":"sha256:')
    torn = jarvisctl(tmp_path, "audit", "verify", run_id)
    assert torn.returncode == 5 and "a partial record of 24 bytes follows" in torn.stdout
