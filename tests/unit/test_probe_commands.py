"""The commands of the service and network kinds, run for real on this machine (loopback only),
each tool fallback forced by giving `sh` a PATH that holds only the tools under test."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from jarvisctl.kinds.base import CheckKind, CommandOutput, ParseError, Reading
from jarvisctl.kinds.registry import load_registry

REGISTRY = load_registry()


def tool_dir(tmp_path: Path, *tools: str) -> str:
    """A PATH with only these tools (the ones missing here skip the test)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in tools:
        found = shutil.which(tool)
        if found is None:
            pytest.skip(f"{tool} is not installed here")
        (bin_dir / tool).symlink_to(found)
    return str(bin_dir)


def run(kind_name: str, path: str | None = None, **params: Any) -> tuple[CommandOutput, Reading]:
    kind: CheckKind[Any] = REGISTRY.checks[kind_name]
    model = kind.params_model.model_validate(params)
    env = {"PATH": path} if path else None
    done = subprocess.run(
        ["/bin/sh", "-c", kind.command(model)],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    output = CommandOutput(done.stdout, done.stderr, done.returncode)
    try:
        return output, kind.read(output, model)
    except ParseError as exc:
        raise ParseError(f"{exc} [stdout {done.stdout!r} stderr {done.stderr!r}]") from None


@pytest.fixture
def listening() -> Iterator[int]:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield int(server.getsockname()[1])


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    ("tools", "used"),
    [(("nc",), "nc"), (("bash", "timeout"), "bash"), (("curl",), "curl")],
)
def test_tcp_port_with_each_tool(tmp_path: Path, listening: int, tools: Any, used: str) -> None:
    path = tool_dir(tmp_path, *tools)
    _, reading = run("tcp_port", path, host="127.0.0.1", port=listening, connect_timeout=1)
    assert (reading.value, f"({used})" in reading.summary) == (1.0, True)
    _, reading = run("tcp_port", path, host="127.0.0.1", port=closed_port(), connect_timeout=1)
    assert reading.value == 0.0


def test_tcp_port_without_any_tool(tmp_path: Path) -> None:
    with pytest.raises(ParseError, match="no tool to open a TCP connection"):
        run("tcp_port", tool_dir(tmp_path), port=22)


class _Site(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/slow":
            time.sleep(0.3)
        code = 200 if self.path in ("/health", "/slow") else 404
        self.send_response(code)
        self.end_headers()
        self.wfile.write(b'{"db": "up"}' if code == 200 else b"nope")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("tools", [("curl",), ("wget", "date")])
def test_http_with_each_tool(tmp_path: Path, site: str, tools: tuple[str, ...]) -> None:
    path = tool_dir(tmp_path, *tools)
    assert run("http", path, url=f"{site}/health")[1].value == 200.0
    assert run("http", path, url=f"{site}/missing")[1].value == 404.0
    assert run("http", path, url=f"{site}/health", body_match='"db": "up"')[1].value == 200.0
    assert run("http", path, url=f"{site}/health", body_match="down")[1].value == 0.0
    nothing = run("http", path, url=f"http://127.0.0.1:{closed_port()}/", max_time=2)[1]
    assert nothing.value == 0.0 and "no HTTP answer" in nothing.summary
    latency = run("http", path, url=f"{site}/slow", measure="latency")[1].value
    assert latency is not None and 300 <= latency < 5000


def test_http_without_curl_or_wget(tmp_path: Path) -> None:
    with pytest.raises(ParseError, match="neither curl nor wget"):
        run("http", tool_dir(tmp_path), url="http://127.0.0.1:1/")


@pytest.mark.parametrize("tools", [("curl",), ("wget",)])
def test_prometheus_query_with_each_tool(tmp_path: Path, tools: tuple[str, ...]) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Prometheus)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        _, reading = run("prometheus_query", tool_dir(tmp_path, *tools), query="up", url=url)
    finally:
        server.shutdown()
        server.server_close()
    assert reading.value == 0.25


def test_prometheus_query_without_curl_or_wget(tmp_path: Path) -> None:
    with pytest.raises(ParseError, match="neither curl nor wget"):
        run("prometheus_query", tool_dir(tmp_path), query="up", url="http://127.0.0.1:1")


class _Prometheus(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"status": "success", "data": {"resultType": "vector", "result": '
        body += b'[{"metric": {}, "value": [1700000000, "0.25"]}]}}'
        self.send_response(200 if self.path.startswith("/api/v1/query?") else 404)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_tls_days_left_from_a_real_handshake(tmp_path: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed here")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    request = [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "30",
        "-subj",
        "/CN=localhost",
    ]
    subprocess.run(
        [openssl, *request, "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    port = closed_port()
    server = subprocess.Popen(
        [openssl, "s_server", "-quiet", "-accept", f"127.0.0.1:{port}", *_pair(cert, key)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port)
        _, reading = run("tls_days_left", host="127.0.0.1", port=port, connect_timeout=5)
        assert reading.value is not None and 29.9 <= reading.value <= 30.0
    finally:
        server.kill()
        server.wait()
    with pytest.raises(ParseError, match=f"no certificate from 127.0.0.1:{port}: "):
        run("tls_days_left", host="127.0.0.1", port=port, connect_timeout=2)


def _pair(cert: Path, key: Path) -> list[str]:
    return ["-cert", str(cert), "-key", str(key)]


def _wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    pytest.fail(f"nothing listens on 127.0.0.1:{port}")


def test_process_counts_without_its_own_shell() -> None:
    marker = f"{time.time_ns() % 10**9}.25"
    sleepers = [subprocess.Popen(["sleep", marker]) for _ in range(2)]
    try:
        # the pattern is in the argv of the `sh -c` running the check: it must not count
        _, reading = run("process", match=f"sleep {marker}")
        assert reading.value == 2.0
        _, rss = run("process", match=f"sleep {marker}", measure="rss")
        assert rss.value is not None and 0 < rss.value < 50
    finally:
        for sleeper in sleepers:
            sleeper.kill()
            sleeper.wait()
    assert run("process", match=f"sleep {marker}")[1].value == 0.0
