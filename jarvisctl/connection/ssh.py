"""`connection: ssh`: paramiko, over the route ssh_config gives (HostName, ProxyJump, ProxyCommand).

Commands go straight onto a paramiko exec channel: the remote `timeout` wrapper ends the
process group, and the controller only waits a short grace period beyond it. A check script's
commands have no `timeout` of their own: the controller ends the script when one overruns its
deadline (overrun.py), on a second channel, as close() ends what is running. Fabric is not
used: each of its Connection objects builds an Invoke configuration (0.85 ms of the controller's
CPU per host) and importing it imports Invoke (unittest.mock, asyncio, ssl: ~45 ms before the
first host), for the ssh_config lookup that paramiko's own SSHConfig does (ssh_config.py).
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import threading
import time
from pathlib import Path
from typing import Any

from jarvisctl.config.connection_settings import DEFAULT_CONNECT_TIMEOUT, ConnectionSettings
from jarvisctl.connection.base import (
    KILL_AFTER,
    LOCAL_GRACE,
    CommandResult,
    OutputSink,
    was_timed_out,
)
from jarvisctl.connection.capture import Capture
from jarvisctl.connection.channel import collect, feed_stdin, send_signal, stamp_output
from jarvisctl.connection.hostkeys import (
    HostKeyPolicy,
    fingerprint,
    known_hosts_files,
    known_hosts_name,
    known_keys,
)
from jarvisctl.connection.overrun import OverrunWatch, watched
from jarvisctl.connection.paramiko_import import load_paramiko
from jarvisctl.connection.shell import (
    end_script_command,
    end_tagged_command,
    wrap_remote_command,
)
from jarvisctl.connection.ssh_config import Hop, Route, lookup
from jarvisctl.connection.ssh_errors import (
    Attempt,
    interrupted_error,
    load_identity,
    lost_connection_error,
    open_error,
)
from jarvisctl.connection.stdin import StdinSource
from jarvisctl.connection.tcp import EarlySocket, connect_tcp
from jarvisctl.core.errors import HostKeyError, UnreachableError
from jarvisctl.core.frozen import frozen

# Seconds between keepalive messages on an idle connection (a daemon keeps connections open):
# often enough to keep the NAT and firewall state of an idle TCP connection, which lasts minutes
# at the least. Each idle connection's reader thread wakes this often too; a daemon keeping 500
# of them at 15 and 5 s spent 0.7 s of CPU a minute on waking them.
KEEPALIVE_SECONDS = 60
IDLE_WAKEUP_SECONDS = 60.0
# Seconds an aborted command is given to end before it is looked for again (see _abort).
ABORT_LOOK_AGAIN = 0.25


class SSHConnection:
    """One SSH transport to one host; every `run` is a new exec channel on it."""

    def __init__(self, settings: ConnectionSettings) -> None:
        self.settings = settings
        #: SHA256 fingerprint of the host key, once open.
        self.host_key_fingerprint: str | None = None
        #: Fingerprint of a key that `host_key_policy: accept-new` added to known_hosts.
        self.accepted_host_key: str | None = None
        self._client: Any = None  # paramiko SSHClient
        self._jumps: list[Any] = []  # the SSHClients of ProxyJump hosts, first hop first
        self._user: str | None = None
        self._timeout = DEFAULT_CONNECT_TIMEOUT  # the open connection's, for its channels
        self._transport: Any = None
        self._early: EarlySocket | None = None
        self._route: Route | None = None  # preconnect's lookup, which `open` uses once
        # Channels whose commands are running, so that close() from another thread (Ctrl-C,
        # SIGTERM, a daemon shutting down) can end them on the host rather than abandon them:
        # channel -> the tag of its command, and a check script's marker (else None)
        self._running: dict[Any, tuple[str, str | None]] = {}
        self._interrupted: set[Any] = set()
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        return self._transport is not None and bool(self._transport.is_active())

    @property
    def idle(self) -> bool:
        """No command running: `close` has nothing to end on the host (ConnectionPool)."""
        with self._lock:
            return not self._running

    def preconnect(self) -> None:
        """Start the TCP connection now, without waiting; `open` will finish it.

        Only to an IP address (a name lookup could block the caller), and only where ssh_config
        and the inventory's ssh options send the connection straight (no ProxyJump or
        ProxyCommand: a host behind a bastion is never contacted directly).
        """
        if self.is_open or self._early is not None:
            return
        settings = self.settings
        try:
            route = lookup(settings.address, settings.user, settings.port, settings.ssh_options)
        except UnreachableError:
            return  # `open` reports it
        if route.jumps or route.proxy_command is not None:
            return
        try:
            self._early = EarlySocket(route.address, route.port or 22)
        except (ValueError, OSError):
            self._early = None  # a name, or no socket now: `open` connects the usual way
        else:
            self._route = route  # looked up a moment ago: `open` does not read the files again

    def open(self) -> None:
        if self.is_open:
            return
        early, self._early = self._early, None
        route, self._route = self._route, None
        self.close()
        try:
            self._open(early, route)
        finally:
            if early is not None:
                early.close()  # unused (or a no-op: `take` handed its socket over)

    def _open(self, early: EarlySocket | None, route: Route | None) -> None:
        load_paramiko()
        settings = self.settings
        if route is None:
            route = lookup(settings.address, settings.user, settings.port, settings.ssh_options)
        target = _endpoint(settings, route, self._auth(route))
        path = [*(_hop_endpoint(settings, hop) for hop in route.jumps), target]
        # known_hosts is read for every host on the way before any of them is contacted
        clients = [self._new_client(endpoint) for endpoint in path]
        opened = self._connect_path(path, clients, early)
        client, policy = clients[-1]
        transport = client.get_transport()
        alive = route.server_alive_interval
        interval = KEEPALIVE_SECONDS if alive is None else alive
        transport.set_keepalive(interval)
        # paramiko's reader thread wakes every 0.1 s to look for a close; 50 idle connections
        # kept by the daemon cost more CPU that way than its checks. Data still wakes it at
        # once, and so does our close (_wake_reader); it sends the keepalives when it wakes,
        # so a shorter ServerAliveInterval wakes it as often.
        transport.sock.settimeout(min(IDLE_WAKEUP_SECONDS, interval or IDLE_WAKEUP_SECONDS))
        self._client, self._jumps, self._transport = client, opened[:-1], transport
        self._user, self._timeout = target.user, target.timeout
        self.host_key_fingerprint = fingerprint(transport.get_remote_server_key())
        self.accepted_host_key = policy.accepted

    def _auth(self, route: Route) -> dict[str, Any]:
        if self.settings.identity_file is None:
            return _configured_auth(route)
        # Like OpenSSH's IdentitiesOnly: offer exactly the configured key, so that a wrong key
        # is reported as such rather than hidden behind whatever else was tried.
        return {"pkey": load_identity(self.settings), "look_for_keys": False, "allow_agent": False}

    def _connect_path(
        self,
        path: list[_Endpoint],
        clients: list[tuple[Any, HostKeyPolicy]],
        early: EarlySocket | None,
    ) -> list[Any]:
        """Connect each client in turn, each over a channel from the one before; returns them
        (on failure, those already connected are closed)."""
        opened: list[Any] = []
        try:
            sock = self._first_socket(path[0], early if len(path) == 1 else None)
            for index, (endpoint, (client, policy)) in enumerate(zip(path, clients, strict=True)):
                self._connect(client, policy, endpoint, sock)
                opened.append(client)
                if index + 1 < len(path):
                    sock = self._channel(client, endpoint, path[index + 1])
        except BaseException:
            _close_all(opened)
            raise
        return opened

    def _new_client(self, endpoint: _Endpoint) -> tuple[Any, HostKeyPolicy]:
        """An SSHClient that trusts what known_hosts lists for `endpoint`, and nothing else
        unless the policy is accept-new (paramiko's own default would trust any key)."""
        from paramiko import SSHClient

        known = known_keys(self.settings, endpoint.known_hosts, endpoint.host_key_name)
        policy = HostKeyPolicy(
            self.settings,
            endpoint.address,
            endpoint.port,
            endpoint.known_hosts,
            known,
            endpoint.hash_known_hosts,
        )
        client = SSHClient()  # no host keys of its own: the policy checks every key presented
        client.set_missing_host_key_policy(policy)
        return client, policy

    def _first_socket(self, endpoint: _Endpoint, early: EarlySocket | None) -> Any:
        """A ProxyCommand, the early connection when it goes to the right place, or a new one."""
        if endpoint.proxy_command is not None:
            from paramiko import ProxyCommand

            try:
                return ProxyCommand(endpoint.proxy_command)
            except (OSError, ValueError) as exc:  # no such program; unbalanced quotes
                raise endpoint.about(
                    UnreachableError(
                        f"{self.settings.host}: the ProxyCommand of {endpoint.address} "
                        f"({endpoint.proxy_command!r}) cannot start: {exc}"
                    )
                ) from exc
        if early is not None and early.fresh and early.goes_to(endpoint.address, endpoint.port):
            return self._tcp(endpoint, early)
        return self._tcp(endpoint)

    def _tcp(self, endpoint: _Endpoint, early: EarlySocket | None = None) -> Any:
        timeout = endpoint.timeout
        try:
            if early is not None:
                return early.take(timeout)
            return connect_tcp(endpoint.address, endpoint.port, timeout)
        except OSError as exc:
            failure = open_error(exc, self.settings, endpoint.attempt())
            if failure is exc:
                raise
            raise endpoint.about(failure) from exc

    def _connect(self, client: Any, policy: HostKeyPolicy, endpoint: _Endpoint, sock: Any) -> None:
        """Key exchange, host key check and authentication over `sock`."""
        timeout = endpoint.timeout
        try:
            client.connect(
                endpoint.address,
                endpoint.port,
                username=endpoint.user,
                sock=sock,
                timeout=timeout,
                banner_timeout=timeout,
                auth_timeout=timeout,
                transport_factory=policy.transport,
                **endpoint.auth,
            )
        except BaseException as exc:
            client.close()
            with contextlib.suppress(OSError):
                sock.close()
            failure = endpoint.about(self._open_failure(exc, endpoint))
            if failure is exc:
                raise
            raise failure from exc

    def _channel(self, client: Any, hop: _Endpoint, after: _Endpoint) -> Any:
        """A direct-tcpip channel from a ProxyJump host to the next host on the way."""
        from paramiko import SSHException

        try:
            return client.get_transport().open_channel(
                "direct-tcpip",
                (after.address, after.port),
                ("", 0),
                timeout=after.timeout,
            )
        except (SSHException, OSError, EOFError) as exc:
            raise UnreachableError(
                f"{self.settings.host}: the ProxyJump host {hop.address}:{hop.port} cannot "
                f"connect to {after.address}:{after.port}: {exc or type(exc).__name__}"
            ) from exc

    def close(self) -> None:
        """Close the connection; commands still running get TERM on the host first, and a
        check script that is still running KILL_AFTER seconds later, KILL (its commands have
        no `timeout` of their own to do it)."""
        with self._lock:
            running, self._running = self._running, {}
            self._interrupted.update(running)
        for channel, (tag, _) in running.items():
            self._end_remotely(channel, tag)
        until = time.monotonic() + KILL_AFTER
        for channel, (tag, marker) in running.items():
            if marker is not None and not _output_closed(channel, until):
                self._kill_remotely(tag, marker)
        client, jumps = self._client, self._jumps
        self._client = self._transport = None
        self._jumps = []
        _close_all([*jumps, client])
        early, self._early = self._early, None
        self._route = None
        if early is not None:
            early.close()

    def run(
        self,
        command: str,
        *,
        timeout: float,
        stdin: StdinSource | None = None,
        sink: OutputSink | None = None,
    ) -> CommandResult:
        self.open()
        tag = secrets.token_hex(8)
        capture = Capture()  # unused when the output goes to a sink
        output = capture if sink is None else sink
        deadlines = watched(output)
        marker = None if deadlines is None else deadlines.marker
        remote = self._wrap(command, timeout, tag, marker)
        started = time.monotonic()
        deadline = started + timeout + KILL_AFTER + LOCAL_GRACE
        channel = self._start(remote, command, tag, marker)
        feeder = None
        try:
            feeder = feed_stdin(channel, stdin, lambda: self._abort(channel, tag))
            watch = OverrunWatch(
                deadlines,
                term=lambda: self._end_remotely(channel, tag),
                kill=lambda marker: self._kill_remotely(tag, marker),
            )
            exit_code, finished = collect(
                channel, deadline, output, watch, stamped=marker is not None
            )
        except BaseException:
            self._end_remotely(channel, tag)  # the caller gave up on it: end it on the host too
            raise
        finally:
            if feeder is not None:
                feeder.stop()
            with self._lock:
                self._running.pop(channel, None)
            channel.close()
        if feeder is not None:
            feeder.finish()  # raises the error of a source that could not be read
        duration = time.monotonic() - started
        if channel in self._interrupted:
            self._interrupted.discard(channel)
            raise interrupted_error(self.settings, self._where(), command)
        if exit_code is None and finished and not self.is_open:
            self.close()
            raise lost_connection_error(self.settings, self._where(), command)
        timed_out = not finished or was_timed_out(exit_code, duration, timeout)
        return CommandResult.captured(
            command, exit_code, duration, timed_out, capture, sunk=sink is not None
        )

    def paramiko_client(self) -> Any:
        """The open paramiko SSHClient (opened first): a Fabric step's fabric.Connection runs
        over it, so that Fabric goes the route, and trusts the host key, jarvisctl verified."""
        self.open()
        return self._client

    def __enter__(self) -> SSHConnection:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _wrap(
        self, command: str, timeout: float, tag: str | None, marker: str | None = None
    ) -> str:
        return wrap_remote_command(
            command,
            timeout=timeout,
            become=self.settings.become,
            become_user=self.settings.become_user,
            login_user=self._user,
            tag=tag,
            marker=marker,
        )

    def _end_remotely(self, channel: Any, tag: str) -> None:
        """End a running command on the host: an SSH "signal" request where sshd honours it
        (not for root logins), and a tagged pkill on a second channel in every case."""
        send_signal(channel, "TERM")
        if not channel.exit_status_ready():
            self._on_the_side(end_tagged_command(tag))

    def _abort(self, channel: Any, tag: str) -> None:
        """The command's input could not be read: end the command before any EOF reaches it.
        sshd answers the exec request before the command has started, and a command that has
        not started yet is not found by its tag: look again until it has ended, for at most
        KILL_AFTER seconds (then it is left to its deadline, as a command that will not end)."""
        until = time.monotonic() + KILL_AFTER
        while True:
            self._end_remotely(channel, tag)
            if channel.status_event.wait(ABORT_LOOK_AGAIN) or time.monotonic() >= until:
                return

    def _kill_remotely(self, tag: str, marker: str) -> None:
        """KILL what is left of a check script on the host, and what its commands started."""
        self._on_the_side(end_script_command(tag, marker))

    def _on_the_side(self, command: str) -> None:
        """Run `command` on a channel of its own, waiting a bounded time for it to end."""
        from paramiko import SSHException

        transport = self._transport
        if transport is None or not transport.is_active():
            return
        with contextlib.suppress(SSHException, EOFError, OSError):
            killer = transport.open_session(timeout=KILL_AFTER)
            killer.exec_command(self._wrap(command, 5.0, None))
            killer.shutdown_write()
            killer.status_event.wait(5.0 + KILL_AFTER)
            killer.close()

    def _start(self, remote: str, command: str, tag: str, marker: str | None) -> Any:
        from paramiko import SSHException

        try:
            channel = self._transport.open_session(timeout=self._timeout)
            with self._lock:
                self._running[channel] = (tag, marker)
            if marker is not None:  # a check script's output: read in bulk, each packet's time kept
                stamp_output(channel)
            channel.exec_command(remote)
        except (SSHException, EOFError, OSError) as exc:
            with self._lock:
                self._running = {c: t for c, t in self._running.items() if t[0] != tag}
            self.close()
            raise lost_connection_error(self.settings, self._where(), command, exc) from exc
        return channel

    def _where(self) -> str:
        return self.settings.where

    def _open_failure(self, exc: BaseException, endpoint: _Endpoint) -> BaseException:
        if isinstance(exc, HostKeyError):
            return exc
        files = endpoint.auth.get("key_filename") or ()
        attempt = endpoint.attempt(
            user=endpoint.user,
            offered=_offered(endpoint.auth),
            public_key=f"{files[0]}.pub" if files else None,
        )
        return open_error(exc, self.settings, attempt)


@frozen
class _Endpoint:
    """One SSH server on the way to a host: a ProxyJump host, or the host itself (hop None)."""

    address: str
    port: int
    user: str
    auth: dict[str, Any]  # SSHClient.connect's key arguments
    known_hosts: tuple[Path, ...]  # the files of trusted keys, the user's (accept-new's) first
    timeout: float  # seconds to connect, complete the handshake and authenticate, each
    timeout_from: str  # the setting that chose it, for messages
    host_key_alias: str | None = None  # ssh_config HostKeyAlias: its known_hosts name
    hash_known_hosts: bool = False  # ssh_config HashKnownHosts: accept-new hashes the name
    proxy_command: str | None = None
    hop: str | None = None  # the ProxyJump entry, as written

    @property
    def host_key_name(self) -> str:
        """The name its keys are listed under in known_hosts."""
        return self.host_key_alias or known_hosts_name(self.address, self.port)

    def attempt(self, **details: Any) -> Attempt:
        """This endpoint as a failed attempt's error describes it."""
        return Attempt(
            self.address, self.port, timeout=self.timeout, timeout_from=self.timeout_from, **details
        )

    def about(self, error: BaseException) -> BaseException:
        """`error`, saying which ProxyJump host it is about (the inventory names only the host)."""
        if self.hop is None:
            return error
        first, *rest = str(error).split("\n", 1)
        return type(error)("\n".join([f"{first} (ProxyJump host {self.hop})", *rest]))


def _hop_endpoint(settings: ConnectionSettings, hop: Hop) -> _Endpoint:
    """A ProxyJump host, by its own ssh_config entry (OpenSSH: the inventory's identity file
    and port are the target's, not the jump host's; its known_hosts is for every hop)."""
    route = lookup(hop.host, hop.user, hop.port)
    return _endpoint(settings, route, _configured_auth(route), hop.text)


def _endpoint(
    settings: ConnectionSettings, route: Route, auth: dict[str, Any], hop: str | None = None
) -> _Endpoint:
    """The server `route` leads to: the host itself, or (`hop`) a ProxyJump host."""
    return _Endpoint(
        route.address,
        route.port or 22,  # the given port, else ssh_config's Port
        route.user,
        auth,
        known_hosts_files(settings, route.user_known_hosts, route.global_known_hosts),
        *_timeout(settings, route),
        route.host_key_alias,
        route.hash_known_hosts,
        route.proxy_command,
        hop,
    )


def _timeout(settings: ConnectionSettings, route: Route) -> tuple[float, str]:
    """The inventory's connect_timeout, else ssh_config's ConnectTimeout, else jarvisctl.yml's
    `timeouts.connect` (10 s by default); with the name of the setting that chose it."""
    if settings.connect_timeout is not None:
        return settings.connect_timeout, "connect_timeout"
    if route.connect_timeout:  # 0 is OpenSSH's "the system's TCP timeout": minutes; not taken
        return float(route.connect_timeout), "ConnectTimeout in ssh_config"
    return settings.default_connect_timeout, "timeouts.connect in jarvisctl.yml"


def _configured_auth(route: Route) -> dict[str, Any]:
    """SSHClient.connect's key arguments from ssh_config: its IdentityFile keys first, then the
    ssh-agent's and ~/.ssh/id_*, which IdentitiesOnly leaves out (the default files stay
    when no IdentityFile is named, as in OpenSSH)."""
    files = list(route.identity_files) or None
    only = route.identities_only
    return {"key_filename": files, "allow_agent": not only, "look_for_keys": not (only and files)}


def _offered(auth: dict[str, Any]) -> str:
    """Which keys SSHClient.connect's `auth` arguments offer, for an authentication error."""
    if auth.get("pkey") is not None:
        return ""  # the inventory's identity_file: the error names it
    sources = list(auth.get("key_filename") or ())
    if auth.get("allow_agent", True):
        sources.append("the ssh-agent's keys")
    if auth.get("look_for_keys", True):
        sources.append("~/.ssh/id_*")
    return ", ".join(sources)


def _output_closed(channel: Any, until: float) -> bool:
    """Whether everything holding the channel's output has let it go by `until`: the script's
    shell among them (an exit status may be an outer login shell's, one that did not exec)."""
    while not (channel.eof_received or channel.closed):
        if time.monotonic() >= until:
            return False
        time.sleep(0.02)
    return True


def _close_all(clients: list[Any]) -> None:
    """Close SSH clients, the last-opened first (a hop outlives the hosts behind it)."""
    for client in reversed(clients):
        if client is not None:
            _wake_reader(client)
            client.close()


def _wake_reader(client: Any) -> None:
    """Shut the transport's TCP socket down before it is closed. paramiko's reader thread waits
    in recv() for up to IDLE_WAKEUP_SECONDS; a close() from another thread does not wake it,
    and the kernel keeps the connection open until that recv() returns. A shutdown ends both
    now: the thread sees EOF, the host sees the connection end."""
    sock = getattr(client.get_transport(), "sock", None)
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
