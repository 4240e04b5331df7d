"""HTTP on loopback: /healthz, /metrics, /status. Read-only; every answer renders a snapshot."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from jarvisctl.daemon.logs import EventLog
from jarvisctl.daemon.metrics import CONTENT_TYPE, render_metrics
from jarvisctl.daemon.snapshot import Snapshot
from jarvisctl.errors import JarvisError
from jarvisctl.secrets import SecretValues

JSON = "application/json"


class ListenError(JarvisError):
    """The HTTP address cannot be bound."""


class DaemonHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        snapshot: Callable[[], Snapshot],
        log: EventLog,
        secrets: SecretValues | None = None,
    ) -> None:
        self.snapshot, self.log = snapshot, log
        self.secrets = secrets or SecretValues()  # every answer is redacted with them
        try:
            super().__init__(address, _Handler)
        except OSError as exc:
            host, port = address
            raise ListenError(
                f"daemon.listen {host}:{port}: cannot listen there: {exc.strerror or exc} "
                "(choose a free loopback port in jarvisctl.yml, e.g. daemon: {listen: "
                "127.0.0.1:9469})"
            ) from None

    @property
    def url(self) -> str:
        address, port = self.server_address[:2]
        host = address.decode() if isinstance(address, bytes) else address
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: DaemonHTTPServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, CONTENT_TYPE, render_metrics(self.server.snapshot()))
        elif path in ("/healthz", "/health"):
            snap = self.server.snapshot()
            self._json(200 if snap.healthy else 503, snap.health_json())
        elif path == "/status":
            self._json(200, self.server.snapshot().status_json())
        else:
            self._json(404, {"error": f"no such path {path!r}", "paths": _PATHS})

    def _json(self, code: int, body: dict[str, Any]) -> None:
        self._send(code, JSON, (json.dumps(body, indent=2, default=str) + "\n").encode())

    def _send(self, code: int, content_type: str, body: bytes) -> None:
        text = body.decode("utf-8", "surrogateescape")
        body = self.server.secrets.redactor().text(text).encode("utf-8", "surrogateescape")
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # scrapes every few seconds are not events


_PATHS = ["/healthz", "/metrics", "/status"]


def serve(
    address: tuple[str, int],
    snapshot: Callable[[], Snapshot],
    log: EventLog,
    secrets: SecretValues | None = None,
) -> tuple[DaemonHTTPServer, threading.Thread]:
    server = DaemonHTTPServer(address, snapshot, log, secrets)
    thread = threading.Thread(target=server.serve_forever, args=(0.5,), name="http", daemon=True)
    thread.start()
    return server, thread
