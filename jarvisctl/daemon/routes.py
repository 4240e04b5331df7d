"""The answers to one request whose head (and body, for a write) has arrived: /healthz
(/health), /metrics, /status, and the alert API (daemon/api.py: /alerts, /silences).

The standard library's request handler parses the head (and answers 400, 414, 501 to what it
cannot); it reads from the bytes already received and writes to the socket. One request per
connection (`Connection: close`): a connection never holds a worker while the client thinks.
A body is read only with a Content-Length of at most api.MAX_BODY (411 without one, 413 above),
and within the socket's timeout.
"""

from __future__ import annotations

import contextlib
import io
import json
import socket
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from jarvisctl.core.secrets import SecretValues
from jarvisctl.daemon.api import MAX_BODY, AlertsApi, Answer
from jarvisctl.daemon.metrics import CONTENT_TYPE, render_metrics
from jarvisctl.daemon.snapshot import Snapshot

JSON = "application/json"
PATHS = ["/healthz", "/health", "/metrics", "/status", "/alerts", "/silences"]
DRAIN_BYTES = 256 * 1024  # of a refused body, read (and dropped) so that the answer arrives
DRAIN_SECONDS = 0.5


def answer(
    sock: socket.socket,
    head: bytes,
    snapshot: Callable[[], Snapshot],
    secrets: SecretValues,
    api: AlertsApi | None = None,
) -> str:
    """Answer the request in `head` (the bytes received so far) on `sock`, redacted with
    `secrets`; what became of it, for the counts."""
    return _Handler(sock, head, snapshot, secrets, api).outcome


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
        api: AlertsApi | None = None,
    ) -> None:
        # what socketserver's set-up would do, with the head already read (there is no
        # socketserver here); the server closes the socket
        self.request = self.connection = sock
        self.client_address = sock.getpeername()
        self.snapshot, self.secrets, self.api = snapshot, secrets, api
        self.rfile, self.wfile = io.BytesIO(head), _Writer(sock)
        self.handle()

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        if path == "/metrics":
            counts = self.api.counts() if self.api is not None else None
            self._send(200, CONTENT_TYPE, render_metrics(self.snapshot(), counts))
        elif path in ("/healthz", "/health"):
            snap = self.snapshot()
            self._json(200 if snap.healthy else 503, snap.health_json())
        elif path == "/status":
            self._json(200, self.snapshot().status_json())
        elif self.api is not None and self.api.handles(path):
            self._answer(self.api.read(path, query))
        else:
            self._json(404, {"error": f"no such path {path[:200]!r}", "paths": PATHS})

    def do_POST(self) -> None:
        self._write("POST")

    def do_DELETE(self) -> None:
        self._write("DELETE")

    def do_PUT(self) -> None:
        self._unsupported("PUT")

    def do_PATCH(self) -> None:
        self._unsupported("PATCH")

    def _unsupported(self, method: str) -> None:
        if self._body() is not None:  # read first: a reset connection would lose the answer
            error = {"error": f"{method} is not a method of this API", "paths": PATHS}
            self._json(405, error, (("Allow", "GET, POST, DELETE"),))

    def _write(self, method: str) -> None:
        path = self.path.partition("?")[0]
        body = self._body()
        if body is None:
            return  # refused, or the client left
        if self.api is None or not self.api.handles(path):
            self._json(404, {"error": f"no {method} {path[:200]!r} here", "paths": PATHS})
            return
        client = str(self.client_address[0])
        authorization = self.headers.get("Authorization")
        self._answer(self.api.write(method, path, authorization, body, client))

    def _body(self) -> bytes | None:
        """The request's body, whole; None once a refusal is sent (no length, too long, cut)."""
        if self.headers.get("Transfer-Encoding"):
            self._refuse(411, "send the body with a Content-Length, not chunked")
            return None
        given = (self.headers.get("Content-Length") or "0").strip()
        if not given.isdigit() or len(given) > 12:
            self._refuse(400, "Content-Length is not a number of bytes")
            return None
        length = int(given)
        if length > MAX_BODY:
            self._refuse(413, f"the body is {length} bytes: at most {MAX_BODY}")
            return None
        body = self.rfile.read(length)  # what arrived with the head
        deadline = time.monotonic() + (self.connection.gettimeout() or 10.0)
        while len(body) < length:
            left = deadline - time.monotonic()
            if left <= 0:
                self._refuse(408, "the body did not arrive in time")
                return None
            self.connection.settimeout(left)
            chunk = self.connection.recv(min(65536, length - len(body)))
            if not chunk:
                self.outcome = "gone"
                self.close_connection = True
                return None
            body += chunk
        return body

    def _refuse(self, code: int, reason: str) -> None:
        """Say why the body is not read, then drop what the client still sends (briefly): a
        socket closed on unread bytes resets the connection, and the answer may be lost."""
        self._json(code, {"error": reason})
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(DRAIN_SECONDS)
            deadline, drained = time.monotonic() + DRAIN_SECONDS, 0
            while drained < DRAIN_BYTES and time.monotonic() < deadline:
                chunk = self.connection.recv(65536)
                if not chunk:
                    break
                drained += len(chunk)

    def _answer(self, answer: Answer) -> None:
        self._json(answer.code, answer.body, answer.headers)

    def _json(self, code: int, body: Any, headers: tuple[tuple[str, str], ...] = ()) -> None:
        text = json.dumps(body, indent=2, default=str) + "\n"
        self._send(code, JSON, text.encode(), headers)

    def _send(
        self,
        code: int,
        content_type: str,
        body: bytes,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        text = body.decode("utf-8", "surrogateescape")
        body = self.secrets.redactor().text(text).encode("utf-8", "surrogateescape")
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True
        self.outcome = "served"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # scrapes every few seconds are not events; the server counts what it answered
