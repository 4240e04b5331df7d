"""A run on `connection: local` hosts stopped by SIGTERM ends the command in flight, as on
sshd hosts (tests/e2e/test_tasks.py): the run ends at once with exit 130, the task is reported
interrupted, and nothing of the command is left running on this machine."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import yaml

from tests.waiting import wait_for

HOSTS = ("h1", "h2")


def running_with(marker: str) -> list[int]:
    """The processes of this machine whose command line holds `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if marker in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def test_sigterm_ends_a_running_task_on_a_local_host(tmp_path: Path) -> None:
    # A sleep of a duration no other process has: the marker is sleep's own command line.
    marker = f"sleep 60.{secrets.randbelow(10**9):09d}"
    (tmp_path / "jarvisctl.yml").write_text(yaml.safe_dump({"state_dir": "state"}))
    inventory = {"all": {"hosts": {h: {"ansible_connection": "local"} for h in HOSTS}}}
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    play = {
        "name": "slow",
        "hosts": "all",
        "tasks": [
            {
                "name": "long",
                "run": f"touch {tmp_path}/{{{{ inventory_hostname }}}}.started; {marker}",
            },
            {"name": "after", "run": f"touch {tmp_path}/{{{{ inventory_hostname }}}}.after"},
        ],
    }
    (tmp_path / "play.yml").write_text(yaml.safe_dump([play], sort_keys=False))
    process = subprocess.Popen(
        [sys.executable, "-m", "jarvisctl", "run", "play.yml", "-i", "inventory.yml", "--json"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
        env=dict(os.environ),
    )
    try:
        started = [tmp_path / f"{h}.started" for h in HOSTS]
        wait_for(lambda: all(p.exists() for p in started), 60, "the tasks to start")
        wait_for(lambda: len(running_with(marker)) >= len(HOSTS), 30, "the sleeps")
        process.send_signal(signal.SIGTERM)
        # Well under the sleep's 60 s: the run does not wait for the command to finish.
        stdout, stderr = process.communicate(timeout=30)
        # Before the clean-up below: the run itself left no sleep behind.
        wait_for(lambda: not running_with(marker), 10, "the sleeps to be ended")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for pid in running_with(marker):  # a failed test leaves no sleep behind
            os.kill(pid, signal.SIGKILL)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    hosts = json.loads(stdout)["hosts"]
    assert sorted(h["host"] for h in hosts) == list(HOSTS)
    for host in hosts:
        assert host["outcome"] == "interrupted"
        assert [s["outcome"] for s in host["steps"]] == ["interrupted", "skipped"]
    assert not list(tmp_path.glob("*.after"))
