"""`connection: local`: the same commands, through `/bin/sh -c` in a subprocess on this machine."""

from __future__ import annotations

import contextlib
import os
import pwd
import shlex
import signal
import subprocess
import time

from jarvisctl.connection.base import (
    KILL_AFTER,
    KILLED_EXIT,
    LOCAL_GRACE,
    TIMEOUT_EXIT,
    CommandResult,
)
from jarvisctl.connection.settings import ConnectionSettings
from jarvisctl.connection.shell import become_prefix, format_seconds

_Outputs = tuple[bytes, bytes]


class LocalConnection:
    """Runs commands on the controller itself, each in its own session and process group.

    At the timeout the whole process group gets TERM, and KILL `KILL_AFTER` seconds later:
    the same semantics as the coreutils `timeout` wrapper used on remote hosts, so local and
    SSH results agree (a timed-out command reports 124, or 137 when KILL was needed).
    """

    def __init__(self, settings: ConnectionSettings) -> None:
        self.settings = settings
        self._open = False

    def preconnect(self) -> None:
        """Nothing to start: the local machine needs no connection."""

    def open(self) -> None:
        self._open = True

    def close(self) -> None:
        self._open = False

    @property
    def is_open(self) -> bool:
        return self._open

    def run(self, command: str, *, timeout: float, stdin: str | None = None) -> CommandResult:
        format_seconds(timeout)  # rejects a non-positive timeout like the remote side would
        self._open = True
        login_user = pwd.getpwuid(os.geteuid()).pw_name
        prefix = become_prefix(self.settings.become, self.settings.become_user, login_user)
        # With become, the outer shell reports a missing sudo (127) the way a remote host does.
        argv = [
            "/bin/sh",
            "-c",
            f"{prefix}/bin/sh -c {shlex.quote(command)}" if prefix else command,
        ]
        started = time.monotonic()
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        data = None if stdin is None else stdin.encode()
        try:
            stdout, stderr = process.communicate(data, timeout=timeout)
            exit_code: int | None = _exit_status(process.returncode)
            timed_out = False
        except subprocess.TimeoutExpired:
            exit_code, (stdout, stderr) = _end_process_group(process)
            timed_out = True
        return CommandResult(
            command=command,
            exit_code=exit_code,
            stdout=stdout.decode(errors="replace"),
            stderr=stderr.decode(errors="replace"),
            duration=time.monotonic() - started,
            timed_out=timed_out,
        )

    def __enter__(self) -> LocalConnection:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _exit_status(returncode: int) -> int:
    """Popen reports death by signal N as -N; a shell (and sshd's exit status) says 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


def _end_process_group(process: subprocess.Popen[bytes]) -> tuple[int | None, _Outputs]:
    """TERM the command's process group, KILL it if it lingers; collect what it wrote."""
    already_exited = process.poll() is not None  # its children still hold stdout/stderr open
    _signal_group(process.pid, signal.SIGTERM)
    try:
        outputs = process.communicate(timeout=KILL_AFTER)
        killed = False
    except subprocess.TimeoutExpired:
        _signal_group(process.pid, signal.SIGKILL)
        killed = True
        try:
            outputs = process.communicate(timeout=LOCAL_GRACE)
        except subprocess.TimeoutExpired as exc:
            # Something left the group (setsid) and still holds the pipes: stop waiting for it.
            outputs = (_as_bytes(exc.output), _as_bytes(exc.stderr))
            _abandon(process)
    if already_exited:
        return _exit_status(process.returncode), outputs
    return (KILLED_EXIT if killed else TIMEOUT_EXIT), outputs


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # every member has already exited
        os.killpg(pgid, signum)


def _abandon(process: subprocess.Popen[bytes]) -> None:
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()
    process.wait()


def _as_bytes(value: bytes | str | None) -> bytes:
    if value is None:
        return b""
    return value if isinstance(value, bytes) else value.encode()
