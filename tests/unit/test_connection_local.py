"""The local connection: real subprocesses on this machine."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from jarvisctl.connection import Connection, ConnectionSettings, make_connection, open_connection
from jarvisctl.connection.base import KILL_AFTER
from jarvisctl.connection.capture import OUTPUT_TAIL_BYTES, StreamDigest
from jarvisctl.connection.local import LocalConnection
from jarvisctl.core.errors import SessionInterruptedError
from tests.waiting import wait_for


def local(**overrides: Any) -> LocalConnection:
    settings = ConnectionSettings(host="localhost", address="localhost", connection="local")
    connection = make_connection(replace(settings, **overrides))
    assert isinstance(connection, LocalConnection)
    return connection


def wait_until_gone(pid: int, within: float = 2.0) -> bool:
    """Whether the process is gone (or a zombie nobody will run again) within the time."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        time.sleep(0.02)
    return False


def test_factory_builds_a_local_connection_that_satisfies_the_protocol() -> None:
    connection = open_connection(
        ConnectionSettings(host="localhost", address="localhost", connection="local")
    )
    assert isinstance(connection, LocalConnection)
    assert isinstance(connection, Connection)
    assert connection.is_open
    connection.close()
    assert not connection.is_open


def test_exit_code_stdout_and_stderr_are_kept_apart() -> None:
    result = local().run("echo out; echo err >&2; exit 3", timeout=5)
    assert (result.exit_code, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert not result.timed_out
    assert not result.ok
    assert result.command == "echo out; echo err >&2; exit 3"


def test_runs_through_posix_sh() -> None:
    result = local().run('x=1; [ "$x" = 1 ] && printf "%s|" "$0"', timeout=5)
    assert result.stdout == "/bin/sh|"
    assert result.ok


def test_stdin_is_fed_and_closed() -> None:
    text = "line one\nline two\n" * 50_000  # larger than a pipe buffer, echoed while being fed
    result = local().run("cat; echo done", timeout=10, stdin=text)
    whole = (text + "done\n").encode()
    assert result.stdout.encode() == whole[-OUTPUT_TAIL_BYTES:]  # the tail is kept, exactly
    assert result.stdout_digest == StreamDigest(
        len(whole), hashlib.sha256(whole).hexdigest(), OUTPUT_TAIL_BYTES
    )


def test_without_stdin_the_command_reads_end_of_file_at_once() -> None:
    result = local().run("cat; echo eof", timeout=5)
    assert result.stdout == "eof\n"
    assert result.duration < 1


def test_undecodable_output_is_replaced_not_fatal() -> None:
    result = local().run(r"printf '\377ok'", timeout=5)
    assert result.stdout == "\ufffdok"


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    command = f"sleep 300 & echo $! > {pids}; sh -c 'echo $$ >> {pids}; sleep 301'"
    result = local().run(command, timeout=0.5)
    assert result.timed_out
    assert result.exit_code == 124
    assert 0.5 <= result.duration < 0.5 + KILL_AFTER
    children = [int(pid) for pid in pids.read_text().split()]
    assert len(children) == 2
    assert all(wait_until_gone(pid) for pid in children)


def test_a_command_that_ignores_term_is_killed(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    result = local().run(f"trap '' TERM; sleep 300 & echo $! > {pid_file}; wait", timeout=0.3)
    assert result.timed_out
    assert result.exit_code == 137
    assert 0.3 + KILL_AFTER <= result.duration < 0.3 + KILL_AFTER + 1.5
    assert wait_until_gone(int(pid_file.read_text()))


def test_a_background_child_holding_stdout_is_ended_at_the_timeout(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    result = local().run(f"echo started; sleep 300 & echo $! > {pid_file}; exit 0", timeout=0.5)
    assert result.timed_out  # the command's output never ended
    assert result.stdout == "started\n"
    assert wait_until_gone(int(pid_file.read_text()))


def test_exiting_124_quickly_is_not_a_timeout() -> None:
    result = local().run("exit 124", timeout=5)
    assert result.exit_code == 124
    assert not result.timed_out


def test_killed_by_a_signal_reports_128_plus_the_signal() -> None:
    result = local().run("kill -9 $$", timeout=5)
    assert result.exit_code == 137
    assert not result.timed_out


@pytest.mark.parametrize("timeout", [0, -1.0])
def test_a_non_positive_timeout_is_refused(timeout: float) -> None:
    with pytest.raises(ValueError, match="timeout must be positive"):
        local().run("true", timeout=timeout)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: become to root without sudo")
def test_become_as_the_target_user_needs_no_sudo() -> None:
    result = local(become=True).run("id -u", timeout=5)
    assert (result.exit_code, result.stdout) == (0, "0\n")


def test_become_another_user_goes_through_sudo_without_prompting() -> None:
    result = local(become=True, become_user="nobody").run("id -un", timeout=10)
    # Either sudo may run it, or it fails at once: it never waits for a password.
    assert result.stdout == "nobody\n" or result.exit_code != 0
    assert result.exit_code == 0 or "sudo" in result.stderr
    assert not result.timed_out


def test_run_opens_lazily_and_close_is_idempotent() -> None:
    connection = local()
    assert not connection.is_open
    assert connection.run("true", timeout=5).ok
    assert connection.is_open
    connection.close()
    connection.close()
    assert not connection.is_open


def test_describe_reads_like_an_operator_message() -> None:
    result = local().run("seq 1 30; echo boom >&2; exit 2", timeout=5)
    text = result.describe(tail_lines=3)
    assert text.startswith("command 'seq 1 30; echo boom >&2; exit 2' exited with status 2")
    assert "stdout (last 3 of 30 lines):\n  28\n  29\n  30" in text
    assert "stderr:\n  boom" in text


class _Refusing:
    """A sink that fails at the first output, as a store that cannot write it would."""

    def stdout(self, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    def stderr(self, data: bytes) -> None:
        pass

    @property
    def ended(self) -> bool:
        return False


def test_a_sink_that_raises_ends_the_command_and_its_children(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    command = (
        f"sleep 300 & echo $! > {pids}; sh -c 'echo $$ >> {pids}; "
        "while :; do echo data; sleep 0.05; done'"
    )
    started = time.monotonic()
    with pytest.raises(OSError, match="No space left"):
        local().run(command, timeout=300, sink=_Refusing())
    assert time.monotonic() - started < 60  # not the timeout
    children = [int(pid) for pid in pids.read_text().split()]
    assert len(children) == 2
    assert all(wait_until_gone(pid) for pid in children)


def test_a_sink_that_raises_with_stdin_still_being_fed_ends_the_command(tmp_path: Path) -> None:
    pid = tmp_path / "pid"
    endless = (b"x" * 65536 for _ in range(1_000_000))  # far more than the command reads
    started = time.monotonic()
    with pytest.raises(OSError, match="No space left"):
        local().run(
            f"echo $$ > {pid}; head -c 1 >/dev/null; echo read; exec sleep 300",
            timeout=300,
            stdin=endless,
            sink=_Refusing(),
        )
    assert time.monotonic() - started < 60
    assert wait_until_gone(int(pid.read_text()))


def _run_in_thread(connection: LocalConnection, command: str) -> tuple[threading.Thread, list[Any]]:
    """Run `command` on another thread, as a host's session does; the list gets what run()
    returned or raised."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(connection.run(command, timeout=300))
        except BaseException as exc:  # handed to the test
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_close_ends_a_running_command_and_its_process_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    command = f"sleep 300 & echo $! > {pids}; sh -c 'echo $$ >> {pids}; exec sleep 301'"
    connection = local()
    thread, outcome = _run_in_thread(connection, command)
    wait_for(lambda: len(pids.read_text().split()) == 2 if pids.exists() else False, 30, "pids")
    started = time.monotonic()
    connection.close()  # what the run's cancel does to every connection of the pool
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert time.monotonic() - started < 60  # not the command's 300 s
    (error,) = outcome
    assert isinstance(error, SessionInterruptedError)
    assert "sleep 301" in str(error) and "localhost" in str(error)
    assert all(wait_until_gone(int(pid)) for pid in pids.read_text().split())


def test_close_kills_a_command_that_ignores_term(tmp_path: Path) -> None:
    pid = tmp_path / "pid"
    connection = local()
    thread, outcome = _run_in_thread(connection, f"trap '' TERM; echo $$ > {pid}; sleep 300")
    wait_for(lambda: pid.exists() and pid.read_text().strip(), 30, "the command")
    connection.close()
    thread.join(timeout=60)
    assert isinstance(outcome[0], SessionInterruptedError)
    assert wait_until_gone(int(pid.read_text()))


def test_a_command_run_after_close_runs_normally() -> None:
    connection = local()
    connection.close()
    result = connection.run("echo again", timeout=5)
    assert (result.exit_code, result.stdout) == (0, "again\n")
