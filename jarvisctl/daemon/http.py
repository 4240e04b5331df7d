"""HTTP on loopback: /healthz, /metrics, /status, and the alert API (daemon/api.py: /alerts,
/silences, whose writes require the API token).

Bounded whatever the clients do. One thread waits (a selector) on every connection until its
request head, and the body its Content-Length announces (at most api.MAX_BODY), have arrived,
within `daemon.http.timeout`; a connection costs no thread while it sends slowly or not at all
(slowloris), and when `daemon.http.connections` of them wait, a new one closes the oldest.
Only complete requests reach the fixed pool of `daemon.http.workers` threads, through a bounded
queue; each answer is written within the same timeout, and a client that left early is counted
(and a debug line), not a traceback.
"""

from __future__ import annotations

import contextlib
import queue
import re
import selectors
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from jarvisctl.core.errors import EXIT_CONFIG, JarvisError
from jarvisctl.core.secrets import SecretValues
from jarvisctl.daemon.api import MAX_BODY, AlertsApi
from jarvisctl.daemon.logs import EventLog
from jarvisctl.daemon.routes import answer
from jarvisctl.daemon.snapshot import HttpCounts, Snapshot

MAX_HEAD = 16 * 1024  # a request line and headers; more is not a client of ours
CONTENT_LENGTH = re.compile(rb"\r?\ncontent-length[ \t]*:[ \t]*(\d{1,12})[ \t]*\r?\n", re.I)
BACKLOG = 64  # connections the kernel holds until the selector accepts them
ACCEPTS_PER_WAKE = 64  # so that a flood of connections cannot starve the reads


class ListenError(JarvisError):
    """The HTTP address cannot be bound."""

    exit_code = EXIT_CONFIG  # jarvisctl.yml's daemon.listen, which the message says how to change


@dataclass(frozen=True)  # a standard one: ruff knows its calls as defaults are immutable
class HttpLimits:
    timeout: float = 10.0
    workers: int = 8
    connections: int = 256


@dataclass
class _Waiting:
    """A connection whose request head is still arriving."""

    sock: socket.socket
    deadline: float
    head: bytearray = field(default_factory=bytearray)


class _Counts:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, outcome: str) -> None:
        with self._lock:
            self._counts[outcome] += 1

    def read(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


class DaemonHTTPServer:
    def __init__(
        self,
        address: tuple[str, int],
        snapshot: Callable[[], Snapshot],
        log: EventLog,
        secrets: SecretValues | None = None,
        limits: HttpLimits = HttpLimits(),
        api: AlertsApi | None = None,
    ) -> None:
        self._snapshot, self.log, self.limits, self.api = snapshot, log, limits, api
        self.secrets = secrets or SecretValues()  # every answer is redacted with them
        self.socket = _listen(address)
        self.server_address: tuple[str, int] = self.socket.getsockname()[:2]
        self.counts = _Counts()
        self._waiting: dict[int, _Waiting] = {}  # only the selector thread touches it
        self._queue: queue.Queue[tuple[socket.socket, bytes] | None] = queue.Queue(
            maxsize=limits.workers * 4
        )
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._stop = threading.Event()
        self._done = threading.Event()
        self._workers = [
            threading.Thread(target=self._work, name=f"http-{n}", daemon=True)
            for n in range(limits.workers)
        ]

    @property
    def url(self) -> str:
        host, port = self.server_address
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}"

    def http_counts(self) -> HttpCounts:
        return HttpCounts(len(self._waiting), self.counts.read())

    def snapshot(self) -> Snapshot:
        """The daemon's snapshot, with this server's own counts."""
        return replace(self._snapshot(), http=self.http_counts())

    # -- the selector thread -----------------------------------------------------------------

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        for worker in self._workers:
            worker.start()
        self.socket.setblocking(False)
        self._selector.register(self.socket, selectors.EVENT_READ, "listen")
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        try:
            while not self._stop.is_set():
                for key, _ in self._selector.select(self._wait_for(poll_interval)):
                    if key.data == "listen":
                        self._accept()
                    elif key.data != "wake":
                        self._read(key.data)
                self._expire(time.monotonic())
        finally:
            self._close_waiting()
            self._done.set()

    def _wait_for(self, poll_interval: float) -> float:
        if not self._waiting:
            return poll_interval
        soonest = min(w.deadline for w in self._waiting.values())
        return max(0.0, min(poll_interval, soonest - time.monotonic()))

    def _accept(self) -> None:
        for _ in range(ACCEPTS_PER_WAKE):
            try:
                sock, _ = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of file descriptors, mostly: the backlog holds them
                self.log.warning("http_accept_failed", error=str(exc))
                return
            self.counts.add("accepted")
            if len(self._waiting) >= self.limits.connections:
                self._make_room()
            sock.setblocking(False)
            waiting = _Waiting(sock, time.monotonic() + self.limits.timeout)
            self._waiting[sock.fileno()] = waiting
            self._selector.register(sock, selectors.EVENT_READ, waiting)

    def _make_room(self) -> None:
        """The oldest waiting connection goes, unless what it sent completes its request (its
        bytes may have arrived with this batch of accepts, before the selector said so)."""
        oldest = min(self._waiting.values(), key=lambda w: w.deadline)
        self._read(oldest)
        if oldest.sock.fileno() in self._waiting:
            self._drop(oldest, "evicted")

    def _read(self, waiting: _Waiting) -> None:
        try:
            data = waiting.sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(waiting, "gone")
            return
        waiting.head += data
        end = _head_end(waiting.head)
        if end is not None:
            if _complete(waiting.head, end):
                self._hand_over(waiting)
        elif len(waiting.head) > MAX_HEAD:
            _try_send(waiting.sock, _refusal(431, "Request Header Fields Too Large"))
            self._drop(waiting, "too_large")

    def _hand_over(self, waiting: _Waiting) -> None:
        self._forget(waiting)
        try:
            self._queue.put_nowait((waiting.sock, bytes(waiting.head)))
        except queue.Full:  # every worker busy and the queue full: say so, at once
            self.counts.add("refused")
            _try_send(waiting.sock, _refusal(503, "Service Unavailable"))
            _close(waiting.sock)

    def _expire(self, now: float) -> None:
        late = [w for w in self._waiting.values() if w.deadline <= now]
        for waiting in late:
            self._drop(waiting, "timed_out")
        if late:
            self.log.debug("http_clients_timed_out", count=len(late))

    def _drop(self, waiting: _Waiting, outcome: str) -> None:
        self._forget(waiting)
        self.counts.add(outcome)  # before the close, which the client may be waiting for
        _close(waiting.sock)

    def _forget(self, waiting: _Waiting) -> None:
        self._waiting.pop(waiting.sock.fileno(), None)
        self._selector.unregister(waiting.sock)

    def _close_waiting(self) -> None:
        for waiting in list(self._waiting.values()):
            self._drop(waiting, "closed")

    # -- the workers -------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            sock, head = item
            try:
                sock.setblocking(True)
                sock.settimeout(self.limits.timeout)
                self.counts.add(answer(sock, head, self.snapshot, self.secrets, self.api))
            except OSError as exc:  # the client left, or took too long to read the answer
                self.counts.add("gone")
                self.log.debug("http_client_gone", error=type(exc).__name__)
            except Exception as exc:  # a bug in an answer: one line, and the server goes on
                self.counts.add("failed")
                self.log.error("http_error", error=f"{type(exc).__name__}: {exc}")
            finally:
                _close(sock)

    # -- stopping ----------------------------------------------------------------------------

    def shutdown(self) -> None:
        self._stop.set()
        _try_send(self._wake_w, b"x")
        self._done.wait(10)
        for _ in self._workers:
            self._queue.put(None)
        for worker in self._workers:
            worker.join(self.limits.timeout + 1)

    def server_close(self) -> None:
        self._selector.close()
        for sock in (self.socket, self._wake_r, self._wake_w):
            _close(sock)


def _listen(address: tuple[str, int]) -> socket.socket:
    host, port = address
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server(address, family=family, backlog=BACKLOG)
    except OSError as exc:
        raise ListenError(
            f"daemon.listen {host}:{port}: cannot listen there: {exc.strerror or exc} "
            "(choose a free loopback port in jarvisctl.yml, e.g. daemon: {listen: "
            "127.0.0.1:9469})"
        ) from None


def _head_end(data: bytearray) -> int | None:
    """Where the request's head ends (after its blank line), or None while it is arriving."""
    ends = [i + len(m) for m in (b"\r\n\r\n", b"\n\n") if (i := data.find(m)) >= 0]
    return min(ends) if ends else None


def _complete(data: bytearray, end: int) -> bool:
    """The body its head announces has arrived (or is not to be read: none, or too long, which
    the answer refuses)."""
    found = CONTENT_LENGTH.search(bytes(data[:end]))
    if found is None:
        return True
    length = int(found.group(1))
    return length > MAX_BODY or len(data) - end >= length


def _refusal(code: int, reason: str) -> bytes:
    return (f"HTTP/1.1 {code} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").encode()


def _try_send(sock: socket.socket, data: bytes) -> None:
    with contextlib.suppress(OSError):  # a refusal nobody reads is not worth more
        sock.send(data)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()


def serve(
    address: tuple[str, int],
    snapshot: Callable[[], Snapshot],
    log: EventLog,
    secrets: SecretValues | None = None,
    limits: HttpLimits = HttpLimits(),
    api: AlertsApi | None = None,
) -> tuple[DaemonHTTPServer, threading.Thread]:
    server = DaemonHTTPServer(address, snapshot, log, secrets, limits, api)
    thread = threading.Thread(target=server.serve_forever, args=(0.5,), name="http", daemon=True)
    thread.start()
    return server, thread
