"""`connection: local`: the same commands, through `/bin/sh -c` in a subprocess on this machine."""

from __future__ import annotations

import contextlib
import os
import pwd
import selectors
import shlex
import signal
import subprocess
import threading
import time
from typing import IO

from jarvisctl.config.connection_settings import ConnectionSettings
from jarvisctl.connection.base import (
    EXIT_GRACE,
    KILL_AFTER,
    KILLED_EXIT,
    LOCAL_GRACE,
    TIMEOUT_EXIT,
    CommandResult,
    OutputSink,
)
from jarvisctl.connection.capture import Capture
from jarvisctl.connection.overrun import OverrunWatch, watched
from jarvisctl.connection.shell import SCRIPT_ON_STDIN, become_prefix, marker_assignment
from jarvisctl.connection.stdin import StdinFeeder, StdinSource
from jarvisctl.connection.sweep import kill_marked
from jarvisctl.core.durations import format_seconds
from jarvisctl.core.errors import SessionInterruptedError

_CHUNK = 65536
# Seconds between looks for the exit where no pidfd can announce it.
_POLL = 0.05


class LocalConnection:
    """Runs commands on the controller itself, each in its own session and process group.

    At the timeout the whole process group gets TERM, and KILL `KILL_AFTER` seconds later:
    the same semantics as the coreutils `timeout` wrapper used on remote hosts, so local and
    SSH results agree (a timed-out command reports 124, or 137 when KILL was needed).
    `close()` ends the commands still running, as the SSH connection's close does on its host.
    """

    def __init__(self, settings: ConnectionSettings) -> None:
        self.settings = settings
        self._open = False
        # Commands running, so that close() from another thread (Ctrl-C, SIGTERM, a daemon
        # shutting down) ends them rather than leaving the run to wait for them; each with
        # its check script's marker, if it is one (else None)
        self._running: dict[subprocess.Popen[bytes], str | None] = {}
        self._interrupted: set[subprocess.Popen[bytes]] = set()
        self._closes = 0  # how many times close() ran: a command started across one is ended
        self._lock = threading.Lock()

    def preconnect(self) -> None:
        """Nothing to start: the local machine needs no connection."""

    def open(self) -> None:
        self._open = True

    def close(self) -> None:
        """Commands still running get TERM on their process group, and KILL on what is left
        of it `KILL_AFTER` seconds later (and on what a check script's commands started, by its
        marker); each of them raises SessionInterruptedError."""
        with self._lock:
            self._open = False
            self._closes += 1
            running, self._running = self._running, {}
            self._interrupted.update(running)
        if running:
            _end_groups(running)

    @property
    def is_open(self) -> bool:
        return self._open

    def run(
        self,
        command: str,
        *,
        timeout: float,
        stdin: StdinSource | None = None,
        sink: OutputSink | None = None,
    ) -> CommandResult:
        format_seconds(timeout)  # rejects a non-positive timeout like the remote side would
        self._open = True
        login_user = pwd.getpwuid(os.geteuid()).pw_name
        prefix = become_prefix(self.settings.become, self.settings.become_user, login_user)
        # With become, the outer shell reports a missing sudo (127) the way a remote host does.
        # A check script's shell is the process whose group is ended when a command overruns
        # (connection/overrun.py): `exec`, so that no outer shell ends in its place.
        # It starts with its marker in its environment (marker_assignment), as on a remote host.
        capture = Capture()  # unused when the output goes to a sink
        output = capture if sink is None else sink
        deadlines = watched(output)
        marker = None if deadlines is None else deadlines.marker
        script = "exec " if command == SCRIPT_ON_STDIN else ""
        line = f"{marker_assignment(marker)}exec {command}" if script else command
        argv = [
            "/bin/sh",
            "-c",
            f"{script}{prefix}/bin/sh -c {shlex.quote(line)}" if prefix else line,
        ]
        started = time.monotonic()
        process = self._start(argv, stdin, marker)
        feeder = _feed_stdin(process, stdin)
        watch = OverrunWatch(
            deadlines,
            term=lambda: _signal_group(process.pid, signal.SIGTERM),
            kill=lambda marker: _kill_script(process.pid, marker),
        )
        try:
            with _Follower(process, output) as follower:
                exit_code, timed_out = _follow(process, follower, started + timeout, watch)
        except BaseException:  # the sink raised, or Ctrl-C: nothing will read the output now
            _end_group(process)
            raise
        finally:
            if feeder is not None:
                feeder.stop()
            with self._lock:
                self._running.pop(process, None)
                interrupted = process in self._interrupted
                self._interrupted.discard(process)
        if feeder is not None:
            feeder.finish()  # raises the error of a source that could not be read
        if process.stdin is not None:
            _close(process.stdin)
        if interrupted:
            raise SessionInterruptedError(
                f"{self.settings.host}: jarvisctl closed the local connection while running "
                f"{command!r}; the command's process group was sent TERM (its outcome is unknown)"
            )
        duration = time.monotonic() - started
        return CommandResult.captured(
            command, exit_code, duration, timed_out, capture, sunk=sink is not None
        )

    def _start(
        self, argv: list[str], stdin: StdinSource | None, marker: str | None
    ) -> subprocess.Popen[bytes]:
        """Start the command in a session of its own, known to close(); a close() that ran
        while it was starting ends it at once."""
        with self._lock:
            closes = self._closes
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        with self._lock:
            missed = self._closes != closes
            if missed:
                self._interrupted.add(process)
            else:
                self._running[process] = marker
        if missed:
            _end_groups({process: marker})
        return process

    def __enter__(self) -> LocalConnection:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _exit_status(returncode: int) -> int:
    """Popen reports death by signal N as -N; a shell (and sshd's exit status) says 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


def _follow(
    process: subprocess.Popen[bytes], follower: _Follower, deadline: float, watch: OverrunWatch
) -> tuple[int | None, bool]:
    """Read until the command is over (a check script's overrunning command ended by `watch`);
    at the deadline TERM its process group, KILL it if it lingers. Returns (exit status,
    whether it timed out)."""
    if follower.until(deadline, watch):
        return _exit_status(process.wait()), False
    already_exited = process.poll() is not None  # its children still hold stdout/stderr open
    _signal_group(process.pid, signal.SIGTERM)
    killed = not follower.until(time.monotonic() + KILL_AFTER)
    if killed:
        _signal_group(process.pid, signal.SIGKILL)
        follower.until(time.monotonic() + LOCAL_GRACE)  # then stop waiting (setsid children)
    process.wait()
    if already_exited:
        return _exit_status(process.returncode), True
    return (KILLED_EXIT if killed else TIMEOUT_EXIT), True


class _Follower:
    """Passes a subprocess's stdout and stderr to a sink as they arrive, until it is over:
    EOF on both, or its exit plus the sink's end mark or EXIT_GRACE seconds of silence (what
    it left behind may hold the pipes open). A pidfd wakes the wait at the exit."""

    def __init__(self, process: subprocess.Popen[bytes], sink: OutputSink) -> None:
        self._process, self._sink = process, sink
        self._selector = selectors.DefaultSelector()
        for stream, send in ((process.stdout, sink.stdout), (process.stderr, sink.stderr)):
            if stream is not None:
                self._selector.register(stream.fileno(), selectors.EVENT_READ, send)
        self._exit_fd = _pidfd(process.pid)
        if self._exit_fd is not None:
            self._selector.register(self._exit_fd, selectors.EVENT_READ, None)
        self._quiet_since: float | None = None

    def until(self, deadline: float, watch: OverrunWatch | None = None) -> bool:
        """Follow the output until the command is over (True) or the deadline (False), or
        until `watch` gave up on the script it ended (False)."""
        while True:
            arrived = self._read(0.0)
            now = time.monotonic()
            if self._over(now, arrived, watch is not None and watch.ending):
                return True
            if watch is not None:
                watch.act(now)
                if watch.given_up:
                    return False
            if now >= deadline:
                return False
            if self._process.poll() is not None:
                wake = EXIT_GRACE
            else:  # the pidfd, where there is one, wakes the wait at the exit
                wake = _POLL if self._exit_fd is None else 1.0
            longest = min(deadline - now, wake)
            self._read(longest if watch is None else watch.wake(now, longest), block=True)

    def _over(self, now: float, arrived: bool, ending: bool) -> bool:
        """Whether the command is over; while a script is being ended (`ending`), only once
        its output has closed."""
        streams = [key for key in self._selector.get_map().values() if key.data is not None]
        if self._process.poll() is None:
            return False
        if not streams or self._sink.ended:
            return True
        if arrived or self._quiet_since is None:
            self._quiet_since = now
        return now - self._quiet_since >= EXIT_GRACE and not ending

    def _read(self, timeout: float, *, block: bool = False) -> bool:
        """Read what is ready (waiting up to `timeout` when `block`); whether anything came."""
        arrived = False
        for key, _ in self._selector.select(timeout if block else 0.0):
            if key.data is None:  # the pidfd: the process exited
                self._selector.unregister(key.fd)
                continue
            data = os.read(key.fd, _CHUNK)
            if data:
                key.data(data)
                arrived = True
            else:
                self._selector.unregister(key.fd)
        return arrived

    def __enter__(self) -> _Follower:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._selector.close()
        if self._exit_fd is not None:
            os.close(self._exit_fd)
        for stream in (self._process.stdout, self._process.stderr):
            if stream is not None:
                stream.close()


def _pidfd(pid: int) -> int | None:
    """A descriptor readable when the process exits (Linux 5.3+), or None: then polled."""
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return None
    try:
        fd: int = opener(pid)
    except OSError:
        return None
    return fd


def _feed_stdin(process: subprocess.Popen[bytes], stdin: StdinSource | None) -> StdinFeeder | None:
    """Write stdin in chunks, then close it; a thread, so that a large input never waits on the
    output. If reading the source fails, the command gets TERM before its input is closed."""
    stream = process.stdin
    if stdin is None or stream is None:
        return None
    return StdinFeeder(
        stdin,
        write=lambda chunk: _write(stream, chunk),
        close=lambda: _close(stream),
        abort=lambda: _signal_group(process.pid, signal.SIGTERM),
    ).start()


def _write(stream: IO[bytes], chunk: bytes) -> bool:
    try:
        stream.write(chunk)
    except (OSError, ValueError):  # the command ended without reading all of its input
        return False
    return True


def _close(stream: IO[bytes]) -> None:
    with contextlib.suppress(OSError, ValueError):
        stream.close()


def _end_group(process: subprocess.Popen[bytes]) -> None:
    """KILL the command's whole process group and reap the command: abandoned mid-way, it
    must neither run on unseen nor block on a full pipe nobody drains."""
    _signal_group(process.pid, signal.SIGKILL)
    if process.stdin is not None:
        _close(process.stdin)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=LOCAL_GRACE)


def _end_groups(processes: dict[subprocess.Popen[bytes], str | None]) -> None:
    """TERM each command's process group, and KILL what is left of a group `KILL_AFTER`
    seconds later, with what a check script (its marker given) started outside it (its run()
    reaps the command and reads the rest of its output)."""
    groups = {process.pid for process in processes}
    for pgid in groups:
        _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + KILL_AFTER
    while groups and time.monotonic() < deadline:
        groups = {pgid for pgid in groups if _group_left(pgid)}
        if groups:
            time.sleep(_POLL)
    for process, marker in processes.items():
        if process.pid in groups:
            _kill_script(process.pid, marker)


def _kill_script(pgid: int, marker: str | None) -> None:
    """KILL a command's process group and, for a check script, every process carrying its
    marker (what its commands started with `setsid`), as the script's sweep would have."""
    _signal_group(pgid, signal.SIGKILL)
    if marker is not None:
        kill_marked(marker)


def _group_left(pgid: int) -> bool:
    """Whether any process of the group is left (its command, until its run() reaps it)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # none of those left may be signalled by us: nothing to wait for
        return False
    return True


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # every member has already exited
        os.killpg(pgid, signum)
