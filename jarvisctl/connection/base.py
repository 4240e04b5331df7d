"""The one small protocol every connection implements, and the frozen result of a command."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from jarvisctl.config.connection_settings import ConnectionSettings
from jarvisctl.connection.capture import Capture, StreamDigest
from jarvisctl.connection.stdin import StdinSource
from jarvisctl.core.frozen import frozen

# Exit status of coreutils `timeout` when it ended the command with the first signal.
TIMEOUT_EXIT = 124
# Exit status of a process killed by SIGKILL (128 + 9), what `timeout -k` leads to.
KILLED_EXIT = 137
# Seconds between the polite signal (TERM) and KILL when a command outlives its timeout.
KILL_AFTER = 2.0
# Seconds the controller waits beyond timeout + KILL_AFTER before it gives up on the channel.
LOCAL_GRACE = 3.0
# Seconds a command's output may stay open, silent, after its exit status arrived: what the
# command left running in the background (holding stdout) is then not waited for.
EXIT_GRACE = 1.0


@frozen
class CommandResult:
    """What one command did on one host.

    `exit_code` is None when the command left no exit status (killed by a signal that also took
    the `timeout` wrapper, or abandoned at the controller's deadline). `stdout` and `stderr` are
    the last OUTPUT_TAIL_BYTES of each stream (empty when an OutputSink took the output); the
    digests say how much there was in all and its sha256 (None: the text is the whole stream).
    """

    command: str
    exit_code: int | None
    stdout: str
    stderr: str
    duration: float
    timed_out: bool
    stdout_digest: StreamDigest | None = None
    stderr_digest: StreamDigest | None = None

    @classmethod
    def captured(
        cls,
        command: str,
        exit_code: int | None,
        duration: float,
        timed_out: bool,
        capture: Capture,
        *,
        sunk: bool,
    ) -> CommandResult:
        """The result of a command whose output went to `capture`, or to a sink (`sunk`: then
        the texts are empty and there is no digest)."""
        return cls(
            command=command,
            exit_code=exit_code,
            stdout=capture.out.text(),
            stderr=capture.err.text(),
            duration=duration,
            timed_out=timed_out,
            stdout_digest=None if sunk else capture.out.digest(),
            stderr_digest=None if sunk else capture.err.digest(),
        )

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    def describe(self, tail_lines: int = 10) -> str:
        """Invoke-style text for an operator: the command, how it ended, the tail of its output."""
        if self.timed_out:
            ending = f"timed out after {self.duration:.1f}s and was killed"
        elif self.exit_code is None:
            ending = "ended without an exit status (killed by a signal?)"
        else:
            ending = f"exited with status {self.exit_code}"
        parts = [f"command {self.command!r} {ending} ({self.duration:.2f}s)"]
        for label, text in (("stdout", self.stdout), ("stderr", self.stderr)):
            lines = text.rstrip("\n").splitlines()
            if lines:
                shown = "\n".join(f"  {line}" for line in lines[-tail_lines:])
                more = (
                    f" (last {tail_lines} of {len(lines)} lines)" if len(lines) > tail_lines else ""
                )
                parts.append(f"{label}{more}:\n{shown}")
        return "\n".join(parts)


def was_timed_out(exit_code: int | None, duration: float, timeout: float) -> bool:
    """Whether a result from a `timeout`-wrapped command means the timeout fired.

    124 (TERM worked), 137 (KILL was needed) and no status at all (KILL also took the wrapper)
    only count when the command really ran as long as its timeout, so a command that merely
    exits 124 by itself in a second is not reported as timed out.
    """
    ended_by_timeout = exit_code in (TIMEOUT_EXIT, KILLED_EXIT) or exit_code is None
    return ended_by_timeout and duration >= timeout


class OutputSink(Protocol):
    """Where a connection sends a command's output as it arrives, instead of keeping it."""

    def stdout(self, data: bytes) -> None: ...

    def stderr(self, data: bytes) -> None: ...

    @property
    def ended(self) -> bool:
        """Whether the output's own end mark has arrived: once the exit status is known as
        well, the connection stops waiting for EOF (a process the command left behind may
        hold the stream open)."""
        ...


@runtime_checkable
class WatchedSink(OutputSink, Protocol):
    """The output sink of a check script (engine/script.py), whose commands have deadlines of
    their own: the connection ends the script when the running one overruns its deadline
    (TERM to the script's session, KILL to what is left of it and to every process carrying
    `marker` KILL_AFTER seconds later) and tells the sink, which reports that command as timed
    out; the engine runs the commands after it in a script of their own."""

    def stdout(self, data: bytes, at: float | None = None) -> None:
        """`data` arrived at `at` (time.monotonic()), or now: an SSH connection reads a
        script's output in bulk, with each packet's arrival time (connection/channel.py)."""
        ...

    def stderr(self, data: bytes, at: float | None = None) -> None: ...

    @property
    def marker(self) -> str:
        """The value of RUN_TOKEN (connection/sweep.py) in the environment of every process
        the script starts."""
        ...

    def overrun_at(self) -> float | None:
        """When the running command overruns its deadline (time.monotonic()), or None when
        no command is running."""
        ...

    def overran(self, *, killed: bool) -> None:
        """The connection is ending the script because the running command overran: with TERM
        (`killed` False), or with KILL, TERM having left it running KILL_AFTER seconds."""
        ...


@runtime_checkable
class Connection(Protocol):
    """A session to one host. `run` opens it on first use; `open` reports unreachability early.

    `open` raises `jarvisctl.core.errors.UnreachableError` (or its subclasses `HostKeyError`,
    `AuthenticationError`) with a message that says what failed, where and what to do. `run`
    never raises for a non-zero exit or a timeout: both are values in the `CommandResult`.
    Output goes to `sink` when one is given, else a bounded tail of it is in the result.
    `stdin` is text, bytes, or a stream of bytes (an iterable of chunks, or a binary file) fed
    in chunks and never held whole; if reading that stream fails, the command is ended before
    its input is closed and `run` raises the stream's error (connection/stdin.py).
    """

    settings: ConnectionSettings

    def preconnect(self) -> None:
        """Start connecting without waiting, where that helps; never raises (`open` reports)."""
        ...

    def open(self) -> None: ...

    def run(
        self,
        command: str,
        *,
        timeout: float,
        stdin: StdinSource | None = None,
        sink: OutputSink | None = None,
    ) -> CommandResult: ...

    def close(self) -> None: ...

    @property
    def is_open(self) -> bool: ...

    # Optional: `idle`, True when no command is running, so that `close` has nothing to end on
    # the host and returns at once (SSHConnection has it); a connection without it is closed
    # as a busy one, in a thread of its own (engine/pool.py, ConnectionPool.close_all).
