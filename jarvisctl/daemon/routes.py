"""The answers to one request whose head has arrived: /healthz (/health), /metrics, /status.

The standard library's request handler parses the head (and answers 400, 414, 501 to what it
cannot); it reads from the bytes already received and writes to the socket. One request per
connection (`Connection: close`): a connection never holds a worker while the client thinks.
"""

from __future__ import annotations

import io
import json
import socket
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from jarvisctl.core.secrets import SecretValues
from jarvisctl.daemon.metrics import CONTENT_TYPE, render_metrics
from jarvisctl.daemon.snapshot import Snapshot

JSON = "application/json"
PATHS = ["/healthz", "/health", "/metrics", "/status"]


def answer(
    sock: socket.socket, head: bytes, snapshot: Callable[[], Snapshot], secrets: SecretValues
) -> str:
    """Answer the request in `head` on `sock`, redacted with `secrets`; what became of it,
    for the counts."""
    return _Handler(sock, head, snapshot, secrets).outcome


class _Writer(io.BufferedIOBase):
    """Every byte goes out, within the socket's timeout, or an OSError says why not."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._sock.sendall(data)
        return len(memoryview(data))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # an answer to a head it cannot parse still has a status line (the default, HTTP/0.9,
    # sends the bare body)
    default_request_version = "HTTP/1.0"
    outcome = "bad_request"  # unless a route answers

    def __init__(
        self,
        sock: socket.socket,
        head: bytes,
        snapshot: Callable[[], Snapshot],
        secrets: SecretValues,
    ) -> None:
        # what socketserver's set-up would do, with the head already read (there is no
        # socketserver here); the server closes the socket
        self.request = self.connection = sock
        self.client_address = sock.getpeername()
        self.snapshot, self.secrets = snapshot, secrets
        self.rfile, self.wfile = io.BytesIO(head), _Writer(sock)
        self.handle()

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, CONTENT_TYPE, render_metrics(self.snapshot()))
        elif path in ("/healthz", "/health"):
            snap = self.snapshot()
            self._json(200 if snap.healthy else 503, snap.health_json())
        elif path == "/status":
            self._json(200, self.snapshot().status_json())
        else:
            self._json(404, {"error": f"no such path {path!r}", "paths": PATHS})

    def _json(self, code: int, body: dict[str, Any]) -> None:
        self._send(code, JSON, (json.dumps(body, indent=2, default=str) + "\n").encode())

    def _send(self, code: int, content_type: str, body: bytes) -> None:
        text = body.decode("utf-8", "surrogateescape")
        body = self.secrets.redactor().text(text).encode("utf-8", "surrogateescape")
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True
        self.outcome = "served"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # scrapes every few seconds are not events; the server counts what it answered
