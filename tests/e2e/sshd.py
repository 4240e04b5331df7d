"""Real OpenSSH servers on loopback, one per test "host", started and stopped by the tests.

Each host is its own `sshd -D` on its own loopback address (127.A.B.N, random per session so
that parallel sessions do not collide), with its own ed25519 host key and a `SetEnv
JARVIS_TEST_HOST=hostN` line, so a command can tell which host it ran on. All hosts accept one
client key generated for the session, and log in root. A fleet given a PATH puts it on that
SetEnv line too: the hosts' sessions then see only those commands (tests/host_tools.py).

Root's ~/.bashrc on this kind of machine runs pyenv's set-up, and bash reads it even for
commands sent over ssh. Each sshd therefore runs in its own mount namespace where a plain
.bashrc is bind-mounted over root's; the machine's own file is never touched.
"""

from __future__ import annotations

import base64
import hashlib
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from jarvisctl.config.connection_settings import ConnectionSettings
from jarvisctl.connection.hostkeys import known_hosts_name

SSHD = "/usr/sbin/sshd"
READY_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0

_SPAWN_SCRIPT = (
    'if [ -e "$2" ]; then mount --bind "$1" "$2" || exit 97; fi; exec "$3" -D -f "$4" -E "$5"'
)


def sshd_unavailable_reason() -> str | None:
    """Why real sshd hosts cannot run here, or None when they can."""
    if not os.path.exists(SSHD):
        return f"{SSHD} is missing: install it with `apt-get install -y openssh-server`"
    if os.geteuid() != 0:
        return "sshd test hosts need root (bind loopback port 22, mount namespaces, root login)"
    for tool in ("unshare", "mount"):
        if shutil.which(tool) is None:
            return f"`{tool}` (util-linux) is missing; the sshd test hosts need it"
    return None


def write_ed25519_key(path: Path, comment: str) -> str:
    """Write a new private key (0600) and `path.pub`; return the public `ssh-ed25519 AAAA...`."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private)
    Path(f"{path}.pub").write_text(f"{public} {comment}\n")
    return public


def write_ecdsa_key(path: Path) -> str:
    """Write a new ECDSA (nistp256) private key (0600); return `ecdsa-sha2-nistp256 AAAA...`."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )


def fingerprint_of(public: str) -> str:
    """OpenSSH's SHA256 fingerprint of a `type base64` public key line."""
    blob = base64.b64decode(public.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


class SshdHost:
    """One test host: an sshd on `address:port` with its own host key and identity."""

    def __init__(self, name: str, address: str, port: int, directory: Path, fleet: SshdFleet):
        self.name = name
        self.address = address
        self.port = port
        self.directory = directory
        self.fleet = fleet
        self.host_key = directory / "ssh_host_ed25519_key"
        self.config = directory / "sshd_config"
        self.pid_file = directory / "sshd.pid"
        self.log = directory / "sshd.log"
        #: A known_hosts file that trusts exactly this host's original key.
        self.known_hosts = directory / "known_hosts"
        self.public_key = ""  # the key the host presents now
        self.original_public_key = ""
        self.ecdsa_key: Path | None = None  # a second host key, when a test added one
        self._process: subprocess.Popen[bytes] | None = None

    # -- what tests use ---------------------------------------------------------------------

    def settings(self, **overrides: Any) -> ConnectionSettings:
        """Settings that reach this host as root with the session's client key."""
        base = ConnectionSettings(
            host=self.name,
            address=self.address,
            port=self.port,
            user="root",
            identity_file=str(self.fleet.client_key),
            known_hosts=str(self.known_hosts),
            connect_timeout=5.0,
        )
        return replace(base, **overrides)

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(self.public_key)

    @property
    def known_hosts_line(self) -> str:
        return f"{known_hosts_name(self.address, self.port)} {self.original_public_key}"

    @property
    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def keys_changed(self) -> bool:
        return self.public_key != self.original_public_key or self.ecdsa_key is not None

    def add_ecdsa_host_key(self) -> str:
        """Give the host a second host key, ECDSA, beside its ED25519 one (which a client
        prefers unless told otherwise); return the ECDSA public key `type base64`."""
        self.stop()
        self.ecdsa_key = self.directory / "ssh_host_ecdsa_key"
        public = write_ecdsa_key(self.ecdsa_key)
        self.config.write_text(self._config_text())
        self.start()
        return public

    def start(self) -> None:
        self.spawn()
        self.wait_ready(time.monotonic() + READY_TIMEOUT)

    def stop(self) -> None:
        """Stop the listening sshd by the pid in its pid file (sessions already open live on)."""
        process, self._process = self._process, None
        if process is None:
            return
        pid = self._pid_from_file() or process.pid
        if process.poll() is None:
            os.kill(pid, signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.kill(pid, signal.SIGKILL)
                process.wait()
        self.pid_file.unlink(missing_ok=True)

    def rotate_host_key(self) -> str:
        """Give the host a new host key (known_hosts keeps the old one); return its fingerprint."""
        self.stop()
        self.public_key = write_ed25519_key(self.host_key, f"{self.name} rotated")
        self.start()
        return self.fingerprint

    def restore_host_key(self) -> None:
        if not self.keys_changed:
            return
        self.stop()
        shutil.copy2(self.directory / "original_host_key", self.host_key)
        self.public_key = self.original_public_key
        self.ecdsa_key = None
        self.config.write_text(self._config_text())
        self.start()

    # -- life cycle, driven by the fleet -----------------------------------------------------

    def prepare(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.original_public_key = self.public_key = write_ed25519_key(self.host_key, self.name)
        shutil.copy2(self.host_key, self.directory / "original_host_key")
        self.known_hosts.write_text(self.known_hosts_line + "\n")
        self.config.write_text(self._config_text())

    def spawn(self) -> None:
        if self.is_running:
            return
        self.pid_file.unlink(missing_ok=True)
        argv = ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c"]
        argv += [_SPAWN_SCRIPT, "sshd-host", str(self.fleet.clean_bashrc), _root_bashrc()]
        argv += [SSHD, str(self.config), str(self.log)]
        if threading.current_thread() is threading.main_thread() and shutil.which("setpriv"):
            # If pytest dies without its teardown, the hosts die with it. (The death signal
            # follows the *thread* that started the process, hence only from the main thread.)
            argv = ["setpriv", "--pdeathsig", "TERM", "--", *argv]
        with (self.directory / "spawn.log").open("ab") as spawn_log:
            self._process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=spawn_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, deadline: float) -> None:
        """Poll until the port answers with an SSH banner and the pid file exists."""
        while not (self.pid_file.exists() and self._answers_ssh()):
            if self._process is None or self._process.poll() is not None:
                raise RuntimeError(f"sshd for {self.name} exited at start:\n{self._logs()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"sshd for {self.name} not ready in time:\n{self._logs()}")
            time.sleep(0.01)

    def _answers_ssh(self) -> bool:
        try:
            with socket.create_connection((self.address, self.port), timeout=1.0) as sock:
                return sock.recv(8).startswith(b"SSH-")
        except OSError:
            return False

    def _pid_from_file(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def _logs(self) -> str:
        texts = []
        for path in (self.directory / "spawn.log", self.log):
            if path.exists():
                texts.append(f"--- {path}\n{path.read_text(errors='replace')[-3000:]}")
        return "\n".join(texts)

    def _config_text(self) -> str:
        return "\n".join(
            [
                f"ListenAddress {self.address}:{self.port}",
                f"HostKey {self.host_key}",
                f"HostKey {self.ecdsa_key}" if self.ecdsa_key else "",
                f"PidFile {self.pid_file}",
                f"AuthorizedKeysFile {self.fleet.authorized_keys}",
                f"SetEnv JARVIS_TEST_HOST={self.name}" + self.fleet.path_setting,
                "PermitRootLogin prohibit-password",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "StrictModes no",
                "UsePAM no",
                "UseDNS no",
                "PrintMotd no",
                "MaxStartups 1000:30:2000",
                "MaxSessions 200",
                "LogLevel VERBOSE",
                "Subsystem sftp /usr/lib/openssh/sftp-server",
                "",
            ]
        )


class SshdFleet:
    """N sshd hosts; odd-numbered ones listen on port 22, the others on a high port."""

    def __init__(self, directory: Path, count: int, path: str | None = None) -> None:
        self.directory = directory
        #: The PATH the hosts' sessions get (sshd's default when None).
        self.path = path
        self.client_key = directory / "id_ed25519"
        self.authorized_keys = directory / "authorized_keys"
        self.clean_bashrc = directory / "bashrc"
        #: One known_hosts file that trusts every host's original key.
        self.known_hosts = directory / "known_hosts"
        chooser = random.Random()
        base = f"127.{chooser.randint(100, 250)}.{chooser.randint(0, 255)}"
        self.hosts = [
            SshdHost(f"host{n}", address, _pick_port(address, n), directory / f"host{n}", self)
            for n in range(1, count + 1)
            for address in [f"{base}.{n}"]
        ]

    def start(self) -> None:
        """Start every host at once, then wait for all of them (bounded)."""
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
        self.client_public_key = write_ed25519_key(self.client_key, "jarvisctl-tests")
        self.authorized_keys.write_text(self.client_public_key + "\n")
        self.clean_bashrc.write_text("# plain .bashrc for jarvisctl's sshd test hosts\n")
        for host in self.hosts:
            host.prepare()
            host.spawn()
        self.known_hosts.write_text("".join(f"{h.known_hosts_line}\n" for h in self.hosts))
        deadline = time.monotonic() + READY_TIMEOUT
        for host in self.hosts:
            host.wait_ready(deadline)

    def stop(self) -> None:
        for host in self.hosts:
            host.stop()

    @property
    def path_setting(self) -> str:
        """The rest of the hosts' SetEnv line (sshd takes only the first SetEnv line)."""
        return "" if self.path is None else f" PATH={self.path}"

    def write_inventory(self, path: Path, group: str = "sshd") -> Path:
        """An Ansible-style YAML inventory of the hosts, trusting the fleet's known_hosts."""
        hosts = {
            host.name: {
                "ansible_host": host.address,
                "ansible_port": host.port,
                "ansible_user": "root",
                "ansible_ssh_private_key_file": str(self.client_key),
                "known_hosts": str(self.known_hosts),
                "connect_timeout": 5.0,
            }
            for host in self.hosts
        }
        path.write_text(yaml.safe_dump({"all": {"children": {group: {"hosts": hosts}}}}))
        return path

    def reset(self) -> None:
        """Undo what a test did: every host running, with its original key."""
        for host in self.hosts:
            host.restore_host_key()
            if not host.is_running:
                host.start()


def _pick_port(address: str, number: int) -> int:
    """Port 22 for odd-numbered hosts when it is free there, otherwise a free high port."""
    if number % 2 == 1 and _can_bind(address, 22):
        return 22
    with socket.socket() as sock:
        sock.bind((address, 0))
        port: int = sock.getsockname()[1]
        return port


def _can_bind(address: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError:
            return False
        return True


def _root_bashrc() -> str:
    return os.path.join(pwd.getpwuid(0).pw_dir, ".bashrc")
