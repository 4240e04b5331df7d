"""`connection: ssh`: Fabric for configuration (ssh_config, ProxyJump), paramiko for the rest.

Commands go straight onto a paramiko exec channel rather than through Fabric's `run`: Invoke's
runner costs threads and polling per command, and its timeout leaves the remote process alive.
Here the remote `timeout` wrapper ends the process group, and the controller only waits a short
grace period beyond it.
"""

from __future__ import annotations

import contextlib
import secrets
import select
import threading
import time
from pathlib import Path
from typing import Any

from jarvisctl.connection.base import KILL_AFTER, LOCAL_GRACE, CommandResult, was_timed_out
from jarvisctl.connection.hostkeys import (
    HostKeyPolicy,
    changed_host_key_error,
    fingerprint,
    known_hosts_name,
    known_hosts_path,
    load_known_hosts,
)
from jarvisctl.connection.settings import ConnectionSettings
from jarvisctl.connection.shell import end_tagged_command, wrap_remote_command
from jarvisctl.connection.ssh_errors import (
    interrupted_error,
    load_identity,
    lost_connection_error,
    open_error,
)
from jarvisctl.connection.tcp import EarlySocket, connect_tcp
from jarvisctl.errors import HostKeyError

# Seconds between keepalive messages on an idle connection (a daemon keeps connections open).
KEEPALIVE_SECONDS = 15
IDLE_WAKEUP_SECONDS = 5.0
_CHUNK = 65536


class SSHConnection:
    """One SSH transport to one host; every `run` is a new exec channel on it."""

    def __init__(self, settings: ConnectionSettings) -> None:
        self.settings = settings
        #: SHA256 fingerprint of the host key, once open.
        self.host_key_fingerprint: str | None = None
        #: Fingerprint of a key that `host_key_policy: accept-new` added to known_hosts.
        self.accepted_host_key: str | None = None
        self._fabric: Any = None
        self._transport: Any = None
        self._early: EarlySocket | None = None
        # Channels whose commands are running, so that close() from another thread (Ctrl-C,
        # SIGTERM, a daemon shutting down) can end them on the host rather than abandon them.
        self._running: dict[Any, str] = {}  # channel -> the tag of its command
        self._interrupted: set[Any] = set()
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        return self._transport is not None and bool(self._transport.is_active())

    def preconnect(self) -> None:
        """Start the TCP connection now, without waiting; `open` will finish it.

        Only for an IP address (a name lookup could block the caller) that ssh_config does not
        redirect: when Fabric resolves another address or a gateway, this one is dropped.
        """
        if self.is_open or self._early is not None:
            return
        try:
            self._early = EarlySocket(self.settings.address, self.settings.port)
        except (ValueError, OSError):
            self._early = None  # a name, or no socket now: `open` connects the usual way

    def open(self) -> None:
        if self.is_open:
            return
        early, self._early = self._early, None
        self.close()
        try:
            self._open(early)
        finally:
            if early is not None:
                early.close()  # unused (or a no-op: `take` handed its socket over)

    def _open(self, early: EarlySocket | None) -> None:
        connection = self._fabric_connection()
        known_hosts = known_hosts_path(self.settings)
        policy = HostKeyPolicy(self.settings, connection.host, connection.port, known_hosts)
        client = connection.client
        client.set_missing_host_key_policy(policy)
        name = known_hosts_name(connection.host, connection.port)
        load_known_hosts(client, self.settings, known_hosts, name)
        try:
            if not connection.gateway:
                connection.connect_kwargs["sock"] = self._socket(
                    connection.host, connection.port, early
                )
            connection.open()
        except BaseException as exc:
            _discard(connection)
            failure = self._open_failure(exc, connection, known_hosts)
            if failure is exc:
                raise
            raise failure from exc
        transport = client.get_transport()
        transport.set_keepalive(KEEPALIVE_SECONDS)
        # paramiko's reader thread wakes every 0.1 s to look for a close; 50 idle connections
        # kept by the daemon cost more CPU that way than its checks. Data still wakes it at
        # once; a close is noticed within this (the socket is closed either way).
        transport.sock.settimeout(IDLE_WAKEUP_SECONDS)
        self._fabric, self._transport = connection, transport
        self.host_key_fingerprint = fingerprint(transport.get_remote_server_key())
        self.accepted_host_key = policy.accepted

    def close(self) -> None:
        """Close the connection; commands still running get TERM on the host first."""
        with self._lock:
            running, self._running = self._running, {}
            self._interrupted.update(running)
        for channel, tag in running.items():
            self._end_remotely(channel, tag)
        if self._fabric is not None:
            self._fabric.close()
        self._fabric = self._transport = None
        early, self._early = self._early, None
        if early is not None:
            early.close()

    def run(self, command: str, *, timeout: float, stdin: str | None = None) -> CommandResult:
        self.open()
        tag = secrets.token_hex(8)
        remote = self._wrap(command, timeout, tag)
        started = time.monotonic()
        deadline = started + timeout + KILL_AFTER + LOCAL_GRACE
        channel = self._start(remote, command, tag)
        try:
            feeder = _feed_stdin(channel, stdin)
            stdout, stderr, exit_code, finished = _collect(channel, deadline)
            if feeder is not None:
                feeder.join(timeout=1.0)
        except BaseException:
            self._end_remotely(channel, tag)  # the caller gave up on it: end it on the host too
            raise
        finally:
            with self._lock:
                self._running.pop(channel, None)
            channel.close()
        duration = time.monotonic() - started
        if channel in self._interrupted:
            self._interrupted.discard(channel)
            raise interrupted_error(self.settings, self._where(), command)
        if exit_code is None and finished and not self.is_open:
            self.close()
            raise lost_connection_error(self.settings, self._where(), command)
        return CommandResult(
            command=command,
            exit_code=exit_code,
            stdout=stdout.decode(errors="replace"),
            stderr=stderr.decode(errors="replace"),
            duration=duration,
            timed_out=not finished or was_timed_out(exit_code, duration, timeout),
        )

    def __enter__(self) -> SSHConnection:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _socket(self, host: str, port: int, early: EarlySocket | None) -> Any:
        """The early connection when it goes where Fabric resolved the host to, else a new one."""
        if early is not None and early.fresh and (early.address, early.port) == (host, port):
            return early.take(self.settings.connect_timeout)
        return connect_tcp(host, port, self.settings.connect_timeout)

    def _wrap(self, command: str, timeout: float, tag: str | None) -> str:
        return wrap_remote_command(
            command,
            timeout=timeout,
            become=self.settings.become,
            become_user=self.settings.become_user,
            login_user=self._fabric.user,
            tag=tag,
        )

    def _end_remotely(self, channel: Any, tag: str) -> None:
        """End a running command on the host: an SSH "signal" request where sshd honours it
        (not for root logins), and a tagged pkill on a second channel in every case."""
        from paramiko import SSHException

        _send_signal(channel, "TERM")
        transport = self._transport
        if transport is None or not transport.is_active() or channel.exit_status_ready():
            return
        with contextlib.suppress(SSHException, EOFError, OSError):
            killer = transport.open_session(timeout=KILL_AFTER)
            killer.exec_command(self._wrap(end_tagged_command(tag), 5.0, None))
            killer.shutdown_write()
            killer.status_event.wait(5.0 + KILL_AFTER)
            killer.close()

    def _start(self, remote: str, command: str, tag: str) -> Any:
        from paramiko import SSHException

        try:
            channel = self._transport.open_session(timeout=self.settings.connect_timeout)
            with self._lock:
                self._running[channel] = tag
            channel.exec_command(remote)
        except (SSHException, EOFError, OSError) as exc:
            with self._lock:
                self._running = {c: t for c, t in self._running.items() if t != tag}
            self.close()
            raise lost_connection_error(self.settings, self._where(), command, exc) from exc
        return channel

    def _where(self) -> str:
        return f"{self.settings.address}:{self.settings.port}"

    def _fabric_connection(self) -> Any:
        import fabric  # 0.2 s to import: only paid by runs that reach an SSH host

        settings = self.settings
        timeout = settings.connect_timeout
        connect_kwargs: dict[str, Any] = {"banner_timeout": timeout, "auth_timeout": timeout}
        if settings.identity_file is not None:
            # Like OpenSSH's IdentitiesOnly: offer exactly the configured key, so that a wrong
            # key is reported as such rather than hidden behind whatever else was tried.
            connect_kwargs.update(
                pkey=load_identity(settings), look_for_keys=False, allow_agent=False
            )
        connection = fabric.Connection(
            settings.address,
            user=settings.user,
            port=settings.port,
            connect_kwargs=connect_kwargs,
        )
        # Fabric truncates its own connect timeout to whole seconds (0.5 would mean "none").
        connection.connect_timeout = timeout
        return connection

    def _open_failure(
        self, exc: BaseException, connection: Any, known_hosts: Path
    ) -> BaseException:
        from paramiko import BadHostKeyException

        if isinstance(exc, HostKeyError):
            return exc
        if isinstance(exc, BadHostKeyException):
            return changed_host_key_error(
                self.settings,
                connection.host,
                connection.port,
                exc.key,
                exc.expected_key,
                known_hosts,
            )
        return open_error(exc, self.settings, connection.host, connection.port, connection.user)


def _discard(connection: Any) -> None:
    """Close a connection whose open failed (Fabric's close skips a half-open client)."""
    connection.close()
    connection.client.close()
    sock = connection.connect_kwargs.pop("sock", None)
    if sock is not None:
        sock.close()


def _send_signal(channel: Any, name: str) -> None:
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


def _feed_stdin(channel: Any, stdin: str | None) -> threading.Thread | None:
    """Send stdin, then EOF. A thread, because a large input and a large output could otherwise
    each wait for the other to be read."""
    if stdin is None:
        channel.shutdown_write()
        return None
    feeder = threading.Thread(target=_send_all, args=(channel, stdin.encode()), daemon=True)
    feeder.start()
    return feeder


def _send_all(channel: Any, data: bytes) -> None:
    from paramiko import SSHException

    try:
        channel.sendall(data)
        channel.shutdown_write()
    except (SSHException, EOFError, OSError):
        pass  # the command ended without reading all of its input; its result says the rest


def _collect(channel: Any, deadline: float) -> tuple[bytes, bytes, int | None, bool]:
    """Read stdout and stderr until EOF, then the exit status, or give up at the deadline.

    Returns (stdout, stderr, exit code or None, whether the command finished in time).
    """
    stdout, stderr = bytearray(), bytearray()
    while True:
        _drain(channel, stdout, stderr)
        if channel.eof_received or channel.closed:
            break
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return bytes(stdout), bytes(stderr), None, False
        # The channel's fileno is readable when either stream has data, at EOF and at close.
        select.select([channel], [], [], min(remaining, 1.0))
    _drain(channel, stdout, stderr)
    got_status = channel.status_event.wait(max(0.0, deadline - time.monotonic()))
    status = channel.exit_status if got_status else -1
    return bytes(stdout), bytes(stderr), (None if status < 0 else status), got_status


def _drain(channel: Any, stdout: bytearray, stderr: bytearray) -> None:
    while channel.recv_ready():
        stdout += channel.recv(_CHUNK)
    while channel.recv_stderr_ready():
        stderr += channel.recv_stderr(_CHUNK)
