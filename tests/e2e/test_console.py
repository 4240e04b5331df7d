"""A 50-host run over real sshd hosts, driven in tmux: the screen shows where the run stands
before the first host finishes, and the host lines print above the status line as hosts end."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.e2e.sshd import SshdFleet, SshdHost
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e

HOSTS = 50
NAP = 3  # seconds every host's check takes: no host can finish before that

PLAYBOOK = f"""\
- name: slow
  hosts: all
  checks:
    - name: nap
      use: command
      with: {{command: "sleep {NAP}; echo 1"}}
      warn: 5
"""
STATUS_LINE = re.compile(r"(\d+) done, (\d+) running, (\d+) left  slowest: (node\d+) (\d+)s")
HOST_LINE = re.compile(r"^node\d+  \[slow\]  OK  1 checks: 1 ok", re.MULTILINE)


@dataclass
class Tmux:
    """A tmux server of its own (its own socket), so that tests never touch another's."""

    socket: str

    def __call__(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            timeout=20,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "run", "-S", "-200")

    def ended(self) -> str | None:
        """The screen, once the command in the pane has printed its exit code."""
        screen = self.screen()
        return screen if "EXIT=" in screen else None


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    # scripts/test installs tmux: the console's live status line is tested in a real terminal
    assert shutil.which("tmux"), "tmux is not installed (scripts/test installs it)"
    server = Tmux(f"jarvisctl-{uuid.uuid4().hex[:8]}")
    try:
        yield server
    finally:
        subprocess.run(["tmux", "-L", server.socket, "kill-server"], capture_output=True)


def fifty_hosts(path: Path, fleet: SshdFleet, sshds: list[SshdHost]) -> None:
    """50 inventory hosts, each its own SSH connection, over the session's sshd hosts."""
    hosts = {}
    for n in range(1, HOSTS + 1):
        sshd = sshds[n % len(sshds)]
        hosts[f"node{n:02d}"] = {
            "ansible_host": sshd.address,
            "ansible_port": sshd.port,
            "ansible_user": "root",
            "ansible_ssh_private_key_file": str(fleet.client_key),
            "known_hosts": str(fleet.known_hosts),
            "connect_timeout": 20.0,
        }
    path.write_text(yaml.safe_dump({"all": {"hosts": hosts}}))


def test_a_50_host_run_in_tmux_shows_progress_before_the_first_host_finishes(
    tmp_path: Path, sshd_fleet: SshdFleet, sshd_hosts: list[SshdHost], tmux: Tmux
) -> None:
    fifty_hosts(tmp_path / "inventory.yml", sshd_fleet, sshd_hosts)
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    command = [sys.executable, "-m", "jarvisctl", "run", "play.yml", "-i", "inventory.yml"]
    shell = f"{shlex.join([*command, '-f', '25'])}; echo EXIT=$?; sleep 600"
    tmux("new-session", "-d", "-s", "run", "-x", "150", "-y", "60", "-c", str(tmp_path), shell)
    # Poll the screen until the first host line: every screen before it is "before the first
    # host finished", and one of them must already show the status line.
    before_first: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        screen = tmux.screen()
        if HOST_LINE.search(screen):
            break
        before_first.append(screen)
        time.sleep(0.1)
    else:
        pytest.fail("no host finished within 120 s:\n" + tmux.screen())
    progress = [m for s in before_first for m in STATUS_LINE.finditer(s)]
    assert progress, "no status line before the first host finished:\n" + before_first[-1]
    done, running, left, _, _ = (int(g) if g.isdigit() else g for g in progress[-1].groups())
    assert done == 0 and running > 0 and running + left == HOSTS, progress[-1].group(0)
    # the slowest host's seconds grow while nothing finishes: the screen does not look frozen
    assert len({m.group(0) for m in progress}) > 1, [m.group(0) for m in progress]
    # then hosts finish above the status line, which keeps counting, and the recap follows
    final = wait_for(tmux.ended, 180, "the end of the run")
    assert "EXIT=0" in final, final
    lines = final.splitlines()
    assert len(HOST_LINE.findall(final)) == HOSTS
    recap = lines.index(next(x for x in lines if x.startswith("RECAP")))
    assert not STATUS_LINE.search("\n".join(lines[recap:])), "the status line outlived the run"
