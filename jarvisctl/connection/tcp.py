"""The TCP socket under an SSH transport, tuned for many small request/response exchanges."""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import time

from jarvisctl.connection.poll import ready

# What one read from the kernel asks for: a burst of SSH packets at once.
_READ_SIZE = 65536
_QUICKACK = getattr(socket, "TCP_QUICKACK", None)


class PromptAckSocket(socket.socket):
    """A TCP socket that acknowledges what it receives at once, with Nagle off, and reads
    ahead.

    SSH traffic is small messages in both directions. sshd writes some of its replies with
    Nagle on, holding each one until the previous one is acknowledged, while Linux delays our
    ACK by up to 40 ms: a stall that shows up as 40 ms on the first command of every session.
    TCP_QUICKACK is not sticky (the kernel falls back to delayed ACKs), so it is set again
    after every read from the kernel.

    paramiko reads each packet in three exact pieces (its first cipher block, the rest, the
    MAC), a system call each; this socket reads whatever has arrived, up to _READ_SIZE, and
    hands it out piece by piece, so that a burst of packets costs one read (and one
    TCP_QUICKACK). Only `recv` is buffered: it is all paramiko's packetizer reads with.
    """

    _ahead = b""  # what was read from the kernel and not handed out yet, from _at on
    _at = 0

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        if flags:
            return super().recv(bufsize, flags)
        if self._at < len(self._ahead):
            data = self._ahead[self._at : self._at + bufsize]
            self._at += len(data)
            return data
        data = super().recv(max(bufsize, _READ_SIZE))
        if _QUICKACK is not None:
            self.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
        if len(data) <= bufsize:
            return data
        self._ahead, self._at = data, bufsize
        return data[:bufsize]


def connect_tcp(host: str, port: int, timeout: float) -> socket.socket:
    """Connect to the first address of `host` that accepts (like socket.create_connection)."""
    error: OSError | None = None
    # An ASCII name goes to getaddrinfo as bytes: as str it would be IDNA-encoded, which costs
    # an import of the idna codec on the way to the first connection.
    name: str | bytes = host.encode() if host.isascii() else host
    for family, kind, proto, _, address in socket.getaddrinfo(name, port, type=socket.SOCK_STREAM):
        sock = PromptAckSocket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    raise error or OSError(f"{host} has no address")


# An early connection older than this is not used: the host's sshd may be about to give up on
# a client that has not spoken (LoginGraceTime), so a fresh connection is safer.
EARLY_MAX_AGE = 5.0


class EarlySocket:
    """A TCP connection to an IP address started without waiting for it (no name lookup).

    Started as soon as a run knows which hosts it starts with, so that each host's sshd sets up
    its side (fork, exec, loading its keys: several ms of the host's CPU) while the controller
    is still getting ready; `take` finishes it when the SSH session is about to start.
    """

    def __init__(self, address: str, port: int) -> None:
        ip = ipaddress.ip_address(address)  # ValueError for a name: those are not started early
        family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        self.address, self.port = address, port
        self.started = time.monotonic()
        self._sock: PromptAckSocket | None = PromptAckSocket(family, socket.SOCK_STREAM)
        self._sock.setblocking(False)
        code = self._sock.connect_ex((address, port))
        self._error = None if code in (0, errno.EINPROGRESS) else OSError(code, os.strerror(code))

    def goes_to(self, address: str, port: int) -> bool:
        return (self.address, self.port) == (address, port)

    @property
    def fresh(self) -> bool:
        return time.monotonic() - self.started < EARLY_MAX_AGE

    def take(self, timeout: float) -> socket.socket:
        """The connected socket (blocking, Nagle off), or the OSError connecting raised."""
        sock, self._sock = self._sock, None
        if sock is None:
            raise OSError(errno.EBADF, "the early connection was already taken or closed")
        try:
            if self._error is not None:
                raise self._error
            remaining = max(0.0, self.started + timeout - time.monotonic())
            if not ready(sock, remaining, write=True):
                raise TimeoutError(errno.ETIMEDOUT, "timed out")
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                raise OSError(code, os.strerror(code))
        except BaseException:
            sock.close()
            raise
        sock.settimeout(timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()
