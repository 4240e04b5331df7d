"""A check script's deadlines over a real SSH connection: the controller ends a command that
overruns its own, on a second channel, and close() ends a script whose command ignores TERM;
what the command started in a session of its own goes too."""

from __future__ import annotations

import math
import random
import subprocess
import threading
import time

import pytest

from jarvisctl.connection import channel as channel_module
from jarvisctl.connection.base import KILL_AFTER
from jarvisctl.connection.channel import LAZY_WAKE
from jarvisctl.connection.shell import SCRIPT_ON_STDIN
from jarvisctl.connection.ssh import SSHConnection
from jarvisctl.core.errors import SessionInterruptedError
from jarvisctl.engine.script import ScriptOutput, compose_script
from jarvisctl.kinds.base import CommandOutput
from tests.e2e.sshd import SshdHost

pytestmark = pytest.mark.e2e


@pytest.fixture
def marker() -> str:
    """A `sleep` argument no other process on this machine has."""
    return f"3100.{random.randrange(10**8):08d}"


def sleeps_with(marker: str) -> list[str]:
    found = subprocess.run(["pgrep", "-af", f"sleep {marker}"], capture_output=True, text=True)
    return [line for line in found.stdout.splitlines() if line.split()[1] == "sleep"]


def gone(marker: str, within: float) -> bool:
    deadline = time.monotonic() + within
    while sleeps_with(marker):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def hung(marker: str, *, ignores_term: bool = False) -> str:
    trap = "trap '' TERM; " if ignores_term else ""
    return f"{trap}setsid sleep {marker} </dev/null >/dev/null 2>&1 & echo up; sleep {marker}"


def test_an_overrunning_command_is_ended_and_the_script_stops_there(
    sshd_hosts: list[SshdHost], marker: str
) -> None:
    script = compose_script([("echo 1", 5), (hung(marker, ignores_term=True), 1), ("echo 3", 5)])
    reader = ScriptOutput(script)
    with SSHConnection(sshd_hosts[2].settings()) as connection:
        started = time.monotonic()
        connection.run(SCRIPT_ON_STDIN, timeout=script.budget, stdin=script.text, sink=reader)
        elapsed = time.monotonic() - started
    # TERM at 1 s, KILL 2 s later; without the controller, the watchdog at the budget (14 s)
    assert 1 + KILL_AFTER <= elapsed < script.budget - 5, elapsed
    first, killed, third = reader.captures()
    assert first is not None and first.output == CommandOutput("1\n", "", 0)
    assert killed is not None and (killed.output.stdout, killed.output.exit_code) == ("up\n", 137)
    assert third is None and reader.overrun == 1
    assert gone(marker, within=2.0), sleeps_with(marker)


def test_closing_ends_a_script_whose_command_ignores_term(
    sshd_hosts: list[SshdHost], marker: str
) -> None:
    """Ctrl-C or SIGTERM closes the connection from another thread: TERM to the script's
    session, and KILL to what is left of it (and what it started) KILL_AFTER seconds later."""
    script = compose_script([(hung(marker, ignores_term=True), 60)])
    connection = SSHConnection(sshd_hosts[3].settings())
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            reader = ScriptOutput(script)
            connection.run(SCRIPT_ON_STDIN, timeout=script.budget, stdin=script.text, sink=reader)
        except SessionInterruptedError as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 10
    while len(sleeps_with(marker)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(sleeps_with(marker)) == 2
    started = time.monotonic()
    connection.close()
    closed = time.monotonic() - started
    worker.join(timeout=5)
    assert not worker.is_alive() and len(outcome) == 1
    assert KILL_AFTER <= closed < KILL_AFTER + 3, closed
    assert gone(marker, within=2.0), sleeps_with(marker)


def test_a_scripts_output_is_read_in_bulk_with_each_packets_time(
    sshd_hosts: list[SshdHost], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The host's thread reads a check script's output when the script ends, or every
    LAZY_WAKE seconds while it runs, not at every packet; each command's time still counts
    from its marks' arrival, as paramiko's reader thread stamped them."""
    looks: list[int] = []
    drain = channel_module._drain_stamped

    def counted(channel: object, sink: object) -> int:
        looks.append(drain(channel, sink))
        return looks[-1]

    monkeypatch.setattr(channel_module, "_drain_stamped", counted)
    commands = [(f"echo {i}; echo e{i} >&2", 5.0) for i in range(20)]
    commands += [("sleep 0.6", 5.0), ("echo last", 5.0)]
    script = compose_script(commands)
    reader = ScriptOutput(script)
    with SSHConnection(sshd_hosts[0].settings()) as connection:
        connection.run(SCRIPT_ON_STDIN, timeout=script.budget, stdin=script.text, sink=reader)
    captures = reader.captures()
    for i, capture in enumerate(captures[:20]):
        assert capture is not None and capture.output == CommandOutput(f"{i}\n", f"e{i}\n", 0)
        assert capture.seconds is not None and capture.seconds < 0.3
    sleeper, last = captures[20:]
    assert sleeper is not None and sleeper.seconds is not None
    assert 0.55 <= sleeper.seconds < 2.0, sleeper.seconds
    assert last is not None and last.output.stdout == "last\n"
    # about 60 packets; looks: one per LAZY_WAKE during the sleep, and at the end
    assert len(looks) <= 2 + math.ceil(0.6 / LAZY_WAKE) + 2, looks


def test_a_large_output_is_read_as_it_arrives(
    sshd_hosts: list[SshdHost], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once a script prints EAGER_AFTER bytes between two looks, its output is read as it
    arrives: waiting LAZY_WAKE each time the channel's window fills would slow it down."""
    polls: list[float] = []
    poll = channel_module.ready

    def counted(fileobj: object, timeout: float, **options: bool) -> bool:
        polls.append(timeout)
        return poll(fileobj, timeout, **options)

    monkeypatch.setattr(channel_module, "ready", counted)
    size = 8 * 1024 * 1024
    script = compose_script([(f"head -c {size} /dev/zero", 30.0), ("echo after", 5.0)])
    reader = ScriptOutput(script)
    with SSHConnection(sshd_hosts[1].settings()) as connection:
        connection.run(SCRIPT_ON_STDIN, timeout=script.budget, stdin=script.text, sink=reader)
    big, after = reader.captures()
    assert big is not None and big.stdout.size == size and big.output.exit_code == 0
    assert after is not None and after.output.stdout == "after\n"
    assert polls, "the large output was never read as it arrived"
