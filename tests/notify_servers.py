"""Real receivers for the notify tests, on loopback: an HTTP server that records what is posted
(webhooks, Slack, Apprise's json://), SMTP servers (aiosmtpd: plain, STARTTLS with AUTH,
TLS from the first byte) with their own CA, and a real Alertmanager process."""

from __future__ import annotations

import contextlib
import datetime
import http.server
import ipaddress
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


# --- HTTP -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Post:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Recorder:
    """What was posted, and how to answer: `answers[path] = (status, body)`; `hang` paths are
    answered only after `hang_seconds`. A GET is answered the same way (a page for the `http`
    check kind), and not recorded."""

    url: str
    posts: list[Post] = field(default_factory=list)
    answers: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    hang: set[str] = field(default_factory=set)
    hang_seconds: float = 3.0
    answered: list[tuple[Post, int]] = field(default_factory=list)  # each post, its status

    def at(self, path: str) -> list[Post]:
        return [post for post in self.posts if post.path == path]

    def accepted(self, path: str) -> list[Post]:
        """The posts to `path` that were answered 2xx (delivered)."""
        return [post for post, status in self.answered if post.path == path and status < 300]


@contextlib.contextmanager
def http_recorder(port: int = 0) -> Iterator[Recorder]:
    """A recorder on `port` (0: any free one); a test that stops it and starts another on the
    same port has a receiver that was down for real (its port refusing) meanwhile."""
    recorder = Recorder("")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            size = int(self.headers.get("Content-Length", "0"))
            post = Post(self.path, dict(self.headers), self.rfile.read(size))
            recorder.posts.append(post)
            if self.path in recorder.hang:
                time.sleep(recorder.hang_seconds)
            status = self._answer()
            recorder.answered.append((post, status))

        def do_GET(self) -> None:
            self._answer()

        def _answer(self) -> int:
            status, body = recorder.answers.get(self.path, (200, b"ok"))
            with contextlib.suppress(OSError):  # a client that gave up waiting (hang)
                self.send_response(status)
                if status in (301, 302, 307, 308):
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            return status

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer((LOOPBACK, port), Handler)
    server.daemon_threads = True
    recorder.url = f"http://{LOOPBACK}:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()


# --- TLS --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Certificates:
    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def make_certificates(directory: Path) -> Certificates:
    """A CA, and a certificate it signed for 127.0.0.1 and localhost."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "jarvisctl test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    alt = x509.SubjectAlternativeName(
        [x509.IPAddress(ipaddress.ip_address(LOOPBACK)), x509.DNSName("localhost")]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, LOOPBACK)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(alt, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = Certificates(directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    files.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


# --- SMTP -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mail:
    sender: str
    recipients: tuple[str, ...]
    content: bytes
    tls: bool  # the session was encrypted
    login: str | None  # who authenticated, if anyone


@dataclass
class SmtpServer:
    port: int
    mails: list[Mail] = field(default_factory=list)
    password: str = ""


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, smtp: Any, session: Session, envelope: Envelope) -> str:
        login = session.auth_data.login.decode() if session.authenticated else None
        self.server.mails.append(
            Mail(
                str(envelope.mail_from),
                tuple(envelope.rcpt_tos),
                bytes(envelope.original_content or b""),
                # STARTTLS sets session.ssl; TLS from the first byte is the transport's own
                session.ssl is not None or smtp.transport.get_extra_info("ssl_object") is not None,
                login,
            )
        )
        return "250 OK"


@contextlib.contextmanager
def smtp_server(
    mode: str = "plain", certificates: Certificates | None = None, password: str = ""
) -> Iterator[SmtpServer]:
    """mode: plain (no TLS, no AUTH), starttls (STARTTLS required, AUTH required with
    `password` for any login), tls (TLS from the first byte)."""
    server = SmtpServer(free_port(), password=password)

    def authenticate(
        smtp: Any, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.password.decode() == password
        return AuthResult(success=ok, handled=False, auth_data=data)

    options: dict[str, Any] = {}
    if mode == "starttls":
        assert certificates is not None
        options = {
            "tls_context": certificates.server_context(),
            "require_starttls": True,
            "authenticator": authenticate,
            "auth_required": True,
        }
    elif mode == "tls":
        assert certificates is not None
        options = {"ssl_context": certificates.server_context()}
    controller = Controller(_Handler(server), hostname=LOOPBACK, port=server.port, **options)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


# --- Alertmanager ----------------------------------------------------------------------

ALERTMANAGER = shutil.which("prometheus-alertmanager")
AMTOOL = shutil.which("amtool")


@contextlib.contextmanager
def alertmanager(directory: Path) -> Iterator[str]:
    """A real Alertmanager on loopback (no cluster listener); its base URL."""
    assert ALERTMANAGER is not None
    config = directory / "alertmanager.yml"
    config.write_text("route: {receiver: r}\nreceivers: [{name: r}]\n")
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    log = (directory / "alertmanager.log").open("wb")
    process = subprocess.Popen(
        [
            ALERTMANAGER,
            f"--config.file={config}",
            f"--storage.path={directory / 'data'}",
            f"--web.listen-address={LOOPBACK}:{port}",
            "--cluster.listen-address=",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_ready(url, process, directory / "alertmanager.log")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"alertmanager exited: {log.read_text()[-2000:]}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{url}/-/ready", timeout=1) as answer,
        ):
            if answer.status == 200:
                return
        time.sleep(0.05)
    raise AssertionError(f"alertmanager not ready in 20 s: {log.read_text()[-2000:]}")


def alertmanager_alerts(url: str) -> list[dict[str, Any]]:
    """The alerts a real Alertmanager holds, read back with amtool (active ones)."""
    assert AMTOOL is not None
    done = subprocess.run(
        [AMTOOL, f"--alertmanager.url={url}", "alert", "query", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    found: list[dict[str, Any]] = json.loads(done.stdout)
    return found
