"""`jarvisctl run` on a real terminal (a pty) and on a pipe: colour and the status line on a
terminal, no escape code at all with NO_COLOR, and neither colour nor status line on a pipe."""

from __future__ import annotations

import fcntl
import os
import re
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

INVENTORY = """\
all:
  hosts:
    fine: {ansible_connection: local}
    sick: {ansible_connection: local}
"""
PLAYBOOK = """\
- name: health
  hosts: all
  checks:
    - name: level
      use: command
      with: {command: "sleep 1; test {{ inventory_hostname }} = sick && echo 95 || echo 5"}
      warn: 80
      crit: 90
"""


# the status line while a host is in flight (how many are, at that moment, depends on the load)
STATUS_LINE = re.compile(rb"\r0 done, [12] running, [01] left  slowest: (fine|sick) \ds")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "inventory.yml").write_text(INVENTORY)
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    return tmp_path


def command() -> list[str]:
    return [sys.executable, "-m", "jarvisctl", "run", "play.yml", "-i", "inventory.yml"]


def on_a_terminal(cwd: Path, env: dict[str, str]) -> bytes:
    """Everything the run wrote to its terminal, byte for byte."""
    main, secondary = os.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    process = subprocess.Popen(
        command(), cwd=cwd, env=env, stdin=secondary, stdout=secondary, stderr=secondary
    )
    os.close(secondary)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: the terminal's last writer has gone
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    assert process.wait(timeout=30) == 1  # sick is CRITICAL
    return b"".join(chunks)


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    return {**env, "TERM": "xterm", **extra}


def test_a_terminal_gets_coloured_statuses_and_the_status_line(project: Path) -> None:
    screen = on_a_terminal(project, environment())
    assert b"\x1b[31m\x1b[1mCRITICAL" in screen and b"\x1b[32mOK" in screen, screen
    assert STATUS_LINE.search(screen), screen
    assert b"sick  [health]  \x1b[31m\x1b[1mCRITICAL\x1b[0m  1 checks: 1 critical" in screen
    assert b"  sick  level: \x1b[31m\x1b[1mCRITICAL\x1b[0m  95 crossed crit >= 90" in screen


def test_no_color_gives_no_escape_code_but_still_the_status_line(project: Path) -> None:
    screen = on_a_terminal(project, environment(NO_COLOR="1"))
    assert b"\x1b" not in screen, screen
    assert b"sick  [health]  CRITICAL  1 checks: 1 critical" in screen
    assert STATUS_LINE.search(screen), screen


def test_a_pipe_gets_host_lines_without_colour_or_status_line(project: Path) -> None:
    done = subprocess.run(
        command(), cwd=project, env=environment(), capture_output=True, timeout=60
    )
    assert done.returncode == 1
    assert b"\x1b" not in done.stdout + done.stderr
    assert b"\r" not in done.stdout + done.stderr
    assert b"sick  [health]  CRITICAL  1 checks: 1 critical" in done.stdout
    assert b"fine  [health]  OK  1 checks: 1 ok" in done.stdout
