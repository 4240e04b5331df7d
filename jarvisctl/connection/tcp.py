"""The TCP socket under an SSH transport, tuned for many small request/response exchanges."""

from __future__ import annotations

import socket


class PromptAckSocket(socket.socket):
    """A TCP socket that acknowledges what it receives at once, with Nagle off.

    SSH traffic is small messages in both directions. sshd writes some of its replies with
    Nagle on, holding each one until the previous one is acknowledged, while Linux delays our
    ACK by up to 40 ms: a stall that shows up as 40 ms on the first command of every session.
    TCP_QUICKACK is not sticky (the kernel falls back to delayed ACKs), so it is set again
    after every read.
    """

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        data = super().recv(bufsize, flags)
        if hasattr(socket, "TCP_QUICKACK"):
            self.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        return data


def connect_tcp(host: str, port: int, timeout: float) -> socket.socket:
    """Connect to the first address of `host` that accepts (like socket.create_connection)."""
    error: OSError | None = None
    for family, kind, proto, _, address in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
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
