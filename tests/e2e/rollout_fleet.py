"""Eight sshd test hosts, each with a real small service, and a jarvisctl project that rolls a
new version out to them, driven as a user drives it (`jarvisctl` as a subprocess).

The service of a host is a process on a port of the host's own loopback address, started by
`ctl start` detached from the session (setsid, as an init script does). It reads its version
from `conf/version` when it starts: a version that begins with "bad" makes it exit at once, as a
broken release does; otherwise it answers `GET /health` with "ok VERSION". `ctl health` asks
it (with the test's own Python, so that it works on hosts whose PATH has no curl), and the
play's `app health` check is that command's exit code.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.sshd import SshdFleet, SshdHost

PLAYBOOK = "rollout.yml"
RUN_TIMEOUT = 300.0
PYTHON = sys.executable

APP = textwrap.dedent(
    """\
    import http.server, os, pathlib, sys
    root, address, port = pathlib.Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    version = (root / "conf" / "version").read_text().strip()
    if version.startswith("bad"):
        sys.exit(f"version {version} does not start")
    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = f"ok {version}\\n".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *args):
            pass
    http.server.HTTPServer.allow_reuse_address = True
    server = http.server.HTTPServer((address, port), Health)
    (root / "pid").write_text(str(os.getpid()))
    server.serve_forever()
    """
)

CTL = """\
#!/bin/sh
# ctl start|stop|restart|health|serves: the test service of one host
D={root}
URL={url}
health() {{
    {python} -c "import sys, urllib.request
try:
    sys.exit(0 if urllib.request.urlopen(sys.argv[1], timeout=2).status == 200 else 1)
except Exception as error:
    sys.exit(str(error))" "$URL"
}}
running() {{  # not `kill -0`: it holds for a zombie too, until init reaps it (a second or two)
    case "$1" in ""|*[!0-9]*) return 1 ;; esac
    [ -r "/proc/$1/stat" ] && [ "$(sed 's/.*) //' "/proc/$1/stat" | cut -c1)" != Z ]
}}
serves() {{  # running, on the version in conf/version
    [ -f "$D/pid" ] && running "$(cat "$D/pid")" || return 1
    [ "$(cat "$D/serving" 2>/dev/null)" = "$(cat "$D/conf/version")" ]
}}
stop() {{
    [ -f "$D/pid" ] || return 0
    pid=$(cat "$D/pid"); kill "$pid" 2>/dev/null
    i=0; while running "$pid" && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
    rm -f "$D/pid"
}}
start() {{
    rm -f "$D/pid"
    cp "$D/conf/version" "$D/serving"
    setsid {python} "$D/app.py" "$D" {address} {port} </dev/null >>"$D/app.log" 2>&1 &
    app=$!  # setsid execs the app itself: a background child leads no process group
    i=0; while [ $i -lt 50 ]; do
        health >/dev/null 2>&1 && return 0
        running "$app" || return 0  # a bad release exits at once: no use waiting for it
        sleep 0.1; i=$((i+1))
    done
    return 0  # like `systemctl restart` of a simple service: the health gate judges it
}}
case "$1" in
    start) start ;;
    stop) stop ;;
    restart) stop; start ;;
    health) health ;;
    serves) serves ;;
    *) echo "usage: ctl start|stop|restart|health|serves" >&2; exit 2 ;;
esac
"""


def free_port(address: str) -> int:
    with socket.socket() as probe:
        probe.bind((address, 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Service:
    """One host's service: its directory on the host (this machine), address and port."""

    host: SshdHost
    root: Path
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host.address}:{self.port}/health"

    def install(self, version: str) -> None:
        (self.root / "conf").mkdir(parents=True, exist_ok=True)
        (self.root / "app.py").write_text(APP)
        ctl = self.root / "ctl"
        ctl.write_text(
            CTL.format(
                root=shlex.quote(str(self.root)),
                url=shlex.quote(self.url),
                python=shlex.quote(PYTHON),
                address=shlex.quote(self.host.address),
                port=self.port,
            )
        )
        ctl.chmod(0o755)
        (self.root / "conf" / "version").write_text(f"{version}\n")
        (self.root / "conf" / "app.conf").write_text(f"# app settings\nport = {self.port}\n")
        self.ctl("restart")
        assert self.healthy(), self.log()

    def ctl(self, action: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.root / "ctl"), action],
            capture_output=True,
            text=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
        )

    def healthy(self) -> bool:
        return self.ctl("health").returncode == 0

    def version(self) -> str:
        return (self.root / "conf" / "version").read_text().strip()

    def served(self) -> str:
        """The version the running process serves ("" when none answers)."""
        import urllib.request

        try:
            with urllib.request.urlopen(self.url, timeout=2) as answer:
                return str(answer.read().decode().split()[-1])
        except OSError:
            return ""

    def counter(self, name: str) -> int:
        """How many times the step that counts in `count-NAME` ran on this host."""
        path = self.root / f"count-{name}"
        return len(path.read_text().splitlines()) if path.exists() else 0

    def log(self) -> str:
        path = self.root / "app.log"
        return path.read_text() if path.exists() else ""

    def stop(self) -> None:
        """Stop it, and any process of it left behind: a controller killed in the middle of
        a restart step can leave one the pid file no longer names."""
        self.ctl("stop")
        mine = str(self.root / "app.py").encode()
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                if mine in (proc / "cmdline").read_bytes().split(b"\0"):
                    os.kill(int(proc.name), 9)
            except OSError:
                continue


@dataclass
class RolloutProject:
    """A project: jarvisctl.yml, the inventory of the eight hosts with each one's service in
    its host_vars (app_dir, app_url), and the rollout playbook."""

    root: Path
    fleet: SshdFleet
    services: dict[str, Service]

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    def write(self, playbook: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        config = {
            "state_dir": str(self.state_dir),
            "inventory": "inventory/hosts.yml",
            "playbooks": [PLAYBOOK],
        }
        (self.root / "jarvisctl.yml").write_text(yaml.safe_dump(config))
        inventory = self.root / "inventory"
        (inventory / "host_vars").mkdir(parents=True, exist_ok=True)
        self.fleet.write_inventory(inventory / "hosts.yml")
        for name, service in self.services.items():
            variables = {"app_dir": str(service.root), "app_url": service.url}
            (inventory / "host_vars" / f"{name}.yml").write_text(yaml.safe_dump(variables))
        (self.root / PLAYBOOK).write_text(textwrap.dedent(playbook))

    def jarvisctl(
        self, *args: str, timeout: float = RUN_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "jarvisctl", *args],
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            env=dict(os.environ),
        )
        assert "Traceback" not in done.stderr, done.stderr
        return done

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "jarvisctl", *args],
            cwd=self.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            stdin=subprocess.DEVNULL,
            env=dict(os.environ),
        )

    def run(self, *extra: str) -> tuple[int, dict[str, Any], str]:
        """`jarvisctl run rollout.yml --json`: exit code, the run document, stderr."""
        done = self.jarvisctl("run", PLAYBOOK, "--json", *extra)
        return done.returncode, document(done.stdout, done.stderr), done.stderr

    def status(self, rollout: str = "last") -> dict[str, Any]:
        done = self.jarvisctl("rollout", "status", rollout, "--json")
        assert done.returncode == 0, done.stdout + done.stderr
        found: dict[str, Any] = json.loads(done.stdout)
        return found

    def turns(self, report: dict[str, Any]) -> dict[str, str]:
        """Each host's turn in the run document (host -> updated, rolled back, ...)."""
        return {
            host["host"]: host["rollout"]["turn"]
            for host in report["hosts"]
            if host.get("rollout") is not None
        }

    def turns_reason(self, report: dict[str, Any]) -> dict[str, str]:
        """Each host's reason for its turn in the run document."""
        return {
            host["host"]: host["rollout"]["reason"]
            for host in report["hosts"]
            if host.get("rollout") is not None
        }

    def states(self) -> dict[str, str]:
        """Each host's state in `rollout status last --json` (the store's view)."""
        status = self.status()
        return {h["host"]: h["state"] for batch in status["batch_hosts"] for h in batch}

    def versions(self) -> dict[str, str]:
        return {name: service.served() for name, service in self.services.items()}


def document(stdout: str, stderr: str) -> dict[str, Any]:
    try:
        found: dict[str, Any] = json.loads(stdout)
    except json.JSONDecodeError as error:
        raise AssertionError(f"not JSON ({error}): {stdout[-2000:]}\n{stderr[-2000:]}") from None
    return found


def services_of(fleet: SshdFleet, root: Path, version: str) -> Iterator[Service]:
    for host in fleet.hosts:
        service = Service(host, root / host.name, free_port(host.address))
        service.install(version)
        yield service


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def cut_off(host: SshdHost) -> int:
    """The host goes away under its open sessions: its listening sshd stops (no new
    connection) and every sshd process serving a session of it is killed (their connections
    drop, as when a host loses power). The number of sessions' sshd processes killed."""
    listener = host._pid_from_file()
    assert listener is not None, f"{host.name}'s sshd is not running"
    sessions = [pid for pid in descendants(listener) if process_name(pid) == "sshd"]
    host.stop()
    for pid in sessions:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            continue
    return len(sessions)


def descendants(root: int) -> list[int]:
    """Every process below `root` in the process tree, read from /proc."""
    children: dict[int, list[int]] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(proc.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def process_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""
