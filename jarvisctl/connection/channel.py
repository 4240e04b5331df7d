"""Reading and writing one paramiko exec channel: stdin fed, output passed on as it arrives."""

from __future__ import annotations

import contextlib
import functools
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from jarvisctl.connection.base import EXIT_GRACE, OutputSink
from jarvisctl.connection.overrun import OverrunWatch
from jarvisctl.connection.poll import ready
from jarvisctl.connection.stdin import StdinFeeder, StdinSource

_CHUNK = 65536
# An input at most this large (a check script of 8 checks is 3 KiB) is sent from the caller's
# thread, before its output is read: it fits in the channel's window (OpenSSH opens a session
# with 2 MiB), so sending it cannot wait for the command to read it; and in the kernel's initial
# TCP send buffer (16 KiB on Linux), so a host that stopped reading cannot hold the caller
# before its deadline is watched. A thread per command cost a run about 0.2 ms of CPU per host.
INLINE_STDIN = 8192
# Seconds between looks for the exit status once a script's last delimiter has arrived.
_STATUS_POLL = 0.02
# A check script's output is read in bulk (see `stamp_output`): its host's thread wakes at the
# script's exit status, at a deadline, or every LAZY_WAKE seconds while the script runs, to
# learn which command runs; not at every packet, three of which a command's output and marks
# take. A deadline is still counted from its begin mark's arrival (a stamp), so it is exact for
# every command whose timeout is at least LAZY_WAKE.
LAZY_WAKE = 0.25
# A script that printed this much between two looks is read as it arrives from then on: the
# channel's window (2 MiB) would otherwise hold a large output back until the next look.
EAGER_AFTER = 256 * 1024


def send_signal(channel: Any, name: str) -> None:
    """RFC 4254 6.9 "signal": sshd (OpenSSH 7.9+) sends it to the command's process group."""
    from paramiko import SSHException
    from paramiko.common import cMSG_CHANNEL_REQUEST
    from paramiko.message import Message

    if channel.closed or channel.exit_status_ready():
        return
    message = Message()
    message.add_byte(cMSG_CHANNEL_REQUEST)
    message.add_int(channel.remote_chanid)
    message.add_string("signal")
    message.add_boolean(False)
    message.add_string(name)
    # If the connection is already gone, the remote `timeout` wrapper ends the command.
    with contextlib.suppress(SSHException, EOFError, OSError):
        channel.transport._send_user_message(message)


def feed_stdin(
    channel: Any, stdin: StdinSource | None, abort: Callable[[], None]
) -> StdinFeeder | None:
    """Send stdin in chunks, then EOF (None: EOF at once). A thread, because a large input and
    a large output could otherwise each wait for the other to be read; except for text or bytes
    that fit in the channel's window, sent at once (returns None then too). `abort` ends the
    command if reading the source fails (stdin.py)."""
    if stdin is None:
        channel.shutdown_write()
        return None
    if isinstance(stdin, str | bytes):
        data = stdin.encode() if isinstance(stdin, str) else stdin
        if len(data) <= min(INLINE_STDIN, channel.out_window_size):
            if not data or _send(channel, data):
                _eof(channel)
            return None
    return StdinFeeder(
        stdin, write=lambda chunk: _send(channel, chunk), close=lambda: _eof(channel), abort=abort
    ).start()


def _send(channel: Any, chunk: bytes) -> bool:
    from paramiko import SSHException

    try:
        channel.sendall(chunk)
    except (SSHException, EOFError, OSError):
        return False  # the command ended without reading all of its input; its result says why
    return True


def _eof(channel: Any) -> None:
    from paramiko import SSHException

    with contextlib.suppress(SSHException, EOFError, OSError):
        channel.shutdown_write()


def stamp_output(channel: Any) -> None:
    """Note when each packet of the channel's output arrives, as paramiko's reader thread hands
    it over, so that it can be read later in bulk with the time it came (`collect` then reads
    the channel so, passing each packet with its time to the sink).

    A channel's output buffers are paramiko's BufferedPipe; these are its subclass, set
    before the command starts, so before any output. Waking the host's thread at every packet
    (through the pipe paramiko makes for a channel's fileno) cost a 20-check script 44-50
    wakes every time it ran; read so, it takes 3."""
    pipe = _stamped_pipe()
    channel.in_buffer, channel.in_stderr_buffer = pipe(), pipe()


@functools.cache
def _stamped_pipe() -> type:
    from paramiko.buffered_pipe import BufferedPipe

    class StampedPipe(BufferedPipe):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.stamps: deque[tuple[float, int]] = deque()

        def feed(self, data: bytes) -> None:
            # the stamp first: a reader that sees the data always finds its stamp
            self.stamps.append((time.monotonic(), len(data)))
            super().feed(data)

    return StampedPipe


def collect(
    channel: Any, deadline: float, sink: OutputSink, watch: OverrunWatch, *, stamped: bool = False
) -> tuple[int | None, bool]:
    """Pass stdout and stderr to `sink` until the command is over, then take its exit status;
    or give up at the deadline, or when `watch` gave up on a script it ended. Returns (exit
    code or None, whether it finished in time).

    Over means EOF; or, once the exit status is known, the sink's end mark (a script's last
    delimiter) or EXIT_GRACE seconds without output: a process the command left behind may
    hold the channel's stdout open for as long as it lives, and is not waited for.

    A `stamped` channel (`stamp_output`, a check script's, whose sink is a WatchedSink) is read
    in bulk while its script runs quietly; any other as its output arrives.
    """
    quiet_since: float | None = None
    drain = _drain_stamped if stamped else _drain
    lazy = stamped
    while True:
        arrived = drain(channel, sink)
        if channel.eof_received or channel.closed:
            break
        watch.act(time.monotonic())  # after the drain: an end mark that came in time counts
        if watch.given_up:
            return None, False
        now = time.monotonic()
        wake = 1.0
        if channel.exit_status_ready():
            if sink.ended:
                break
            quiet_since = now if arrived or quiet_since is None else quiet_since
            if now - quiet_since >= EXIT_GRACE and not watch.ending:
                break
            wake = EXIT_GRACE
        elif sink.ended:
            wake = _STATUS_POLL  # the exit status is due; it does not wake the select
        remaining = deadline - now
        if remaining <= 0:
            return None, False
        # read as it arrives from here on once the exit status is in (its event no longer
        # waits), or after a large output (EAGER_AFTER)
        lazy = lazy and arrived < EAGER_AFTER and not channel.exit_status_ready()
        if lazy:  # set at the exit status and at close
            channel.status_event.wait(watch.wake(now, min(remaining, wake, LAZY_WAKE)))
        else:  # the channel's fileno is readable when either stream has data, at EOF and close
            ready(channel, watch.wake(now, min(remaining, wake)))
    drain(channel, sink)
    got_status = channel.status_event.wait(max(0.0, deadline - time.monotonic()))
    status = channel.exit_status if got_status else -1
    return (None if status < 0 else status), got_status


def _drain(channel: Any, sink: OutputSink) -> int:
    """Pass on what has arrived; how many bytes had."""
    arrived = 0
    while channel.recv_ready():
        data = channel.recv(_CHUNK)
        sink.stdout(data)
        arrived += len(data)
    while channel.recv_stderr_ready():
        data = channel.recv_stderr(_CHUNK)
        sink.stderr(data)
        arrived += len(data)
    return arrived


def _drain_stamped(channel: Any, sink: Any) -> int:
    """Pass on what has arrived, packet by packet, each with the time it arrived; how many
    bytes had. `sink` is a WatchedSink (connection/base.py). What each stream holds is taken
    at once (one `recv`, paramiko's locks and window count once), then cut by the stamps."""
    arrived = 0
    for pipe, recv, feed in (
        (channel.in_buffer, channel.recv, sink.stdout),
        (channel.in_stderr_buffer, channel.recv_stderr, sink.stderr),
    ):
        held = len(pipe)
        if not held:
            continue
        data = recv(held)
        stamps, start = pipe.stamps, 0
        while start < len(data):
            at, size = stamps.popleft()
            if start + size > len(data):  # never seen: the rest of that packet keeps its stamp
                stamps.appendleft((at, start + size - len(data)))
            feed(data[start : start + size], at)
            start += size
        arrived += len(data)
    return arrived
