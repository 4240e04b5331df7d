"""Each command of a check script keeps its own deadline, enforced by the controller as the
delimiters stream in: a real script on the local connection, under this machine's sh (dash)
and under BusyBox's ash with BusyBox's applets only (an edge board's userland)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from jarvisctl.config.connection_settings import ConnectionSettings
from jarvisctl.connection.base import KILL_AFTER
from jarvisctl.connection.local import LocalConnection
from jarvisctl.connection.shell import SCRIPT_ON_STDIN
from jarvisctl.engine.script import CommandCapture, ScriptOutput, compose_script
from jarvisctl.kinds.base import CommandOutput


@pytest.fixture(params=["sh", "busybox"])
def shell(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The PATH the script's `sh` and its commands come from: this machine's, or BusyBox's."""
    if request.param == "busybox":
        busybox = shutil.which("busybox")
        if busybox is None:
            pytest.skip("busybox is not installed")
        applets = subprocess.run([busybox, "--list"], capture_output=True, text=True).stdout
        for applet in applets.split():
            (tmp_path / applet).symlink_to(busybox)
        monkeypatch.setenv("PATH", str(tmp_path))
    return str(request.param)


def run_script(commands: list[tuple[str, float]]) -> tuple[ScriptOutput, float]:
    script = compose_script(commands)
    reader = ScriptOutput(script)
    connection = LocalConnection(ConnectionSettings("local", "local", connection="local"))
    started = time.monotonic()
    connection.run(SCRIPT_ON_STDIN, timeout=script.budget, stdin=script.text, sink=reader)
    return reader, time.monotonic() - started


def _carrying(marker: str) -> list[int]:
    wanted = f"JARVIS_RUN_TOKEN={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and wanted in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _alive(pattern: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, NotADirectoryError):
            continue
        if entry.name.isdigit() and pattern in line and int(entry.name) != os.getpid():
            found.append(line)
    return found


def _gone(pattern: str, marker: str, seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while _alive(pattern) or _carrying(marker):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_an_overrunning_command_is_ended_at_its_deadline(shell: str) -> None:
    """TERM at the command's deadline ends it, what it started beside it, in the background
    and in a session of its own: the script's trap sweeps them; the command is timed out
    (124) with what it printed, the one before it kept, the one after it not run."""
    tag = uuid.uuid4().int % 10**9
    hung = (
        f"setsid sleep 71.{tag} </dev/null >/dev/null 2>&1 & "
        f"sh -c 'sleep 72.{tag}' & echo started; sleep 73.{tag}"
    )
    reader, elapsed = run_script([("echo before", 5), (hung, 0.5), ("echo after", 5)])
    # its watchdog would end it at 13.5 s (the deadlines and 3 s); the margin is for a loaded
    # machine (a load average of 95 on 2 cores seen while other work ran)
    assert elapsed < 0.5 + 3.0, f"the script ended {elapsed:.2f}s after it began"
    before, timed_out, after = reader.captures()
    assert before is not None and before.output == CommandOutput("before\n", "", 0)
    assert timed_out is not None and timed_out.output.exit_code == 124
    assert timed_out.output.stdout == "started\n"
    assert timed_out.seconds is not None and 0.5 <= timed_out.seconds < 3.0
    assert after is None and reader.overrun == 1
    assert _gone(f".{tag}", reader.marker)


def test_a_command_that_ignores_term_is_killed_after_the_kill_margin(shell: str) -> None:
    tag = uuid.uuid4().int % 10**9
    hung = f"trap '' TERM; setsid sleep 74.{tag} </dev/null >/dev/null 2>&1 & sleep 75.{tag}"
    reader, elapsed = run_script([(hung, 0.5), ("echo after", 5)])
    assert 0.5 + KILL_AFTER <= elapsed < 0.5 + KILL_AFTER + 3.0  # its watchdog: 8.5 s
    timed_out, after = reader.captures()
    assert isinstance(timed_out, CommandCapture) and timed_out.output.exit_code == 137
    assert after is None and reader.overrun == 0
    assert _gone(f".{tag}", reader.marker)


def test_commands_within_their_deadlines_are_not_ended(shell: str) -> None:
    """Deadlines are each command's own, not a share of the script's: four commands of 0.4 s
    with deadlines of 1.5 s run to their end (1.6 s in all, more than any one deadline)."""
    reader, _ = run_script([("sleep 0.4; echo 1", 1.5)] * 4)
    assert reader.overrun is None
    assert [c.output.stdout if c else None for c in reader.captures()] == ["1\n"] * 4
