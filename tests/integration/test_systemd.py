"""The systemd unit and the daemon's side of Type=notify, against systemd's own tools and
protocol: `systemd-analyze verify` and `security --offline` on contrib/jarvisctl.service, and a
real daemon process notifying a datagram socket the test binds, as systemd does ($NOTIFY_SOCKET,
a path or an abstract name, and $WATCHDOG_USEC)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.waiting import free_port

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "contrib" / "jarvisctl.service"
# installed by scripts/test (Debian's systemd): required, not optional
ANALYZE = shutil.which("systemd-analyze") or "systemd-analyze"
EXPOSURE = r"Overall exposure level for jarvisctl\.service: (\d+\.\d+) (\w+)"
PLAYBOOK = """\
- name: tick
  hosts: localhost
  schedule: {every: 1s}
  checks:
    - {name: seven, use: command, with: {command: "echo 7"}, warn: 50, crit: 100}
"""


def unit_with_real_binary(folder: Path) -> Path:
    """The shipped unit, its ExecStart pointed at this interpreter (verify wants it to exist)."""
    text = UNIT.read_text()
    shipped = "ExecStart=/opt/jarvisctl/.venv/bin/jarvisctl "
    assert shipped in text
    copy = folder / "jarvisctl.service"
    copy.write_text(text.replace(shipped, f"ExecStart={sys.executable} -m jarvisctl "))
    return copy


def analyze(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ANALYZE, *arguments], capture_output=True, text=True, timeout=60)


def test_the_unit_verifies_is_hardened_and_notifies(tmp_path: Path) -> None:
    unit = unit_with_real_binary(tmp_path)
    verified = analyze("verify", str(unit))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout + verified.stderr == "", verified.stdout + verified.stderr

    rated = analyze("security", "--offline=true", str(unit))
    found = re.search(EXPOSURE, rated.stdout)
    assert found, rated.stdout + rated.stderr
    assert float(found[1]) < 3.0 and found[2] == "OK", rated.stdout

    settings = dict(
        line.split("=", 1) for line in UNIT.read_text().splitlines() if re.match(r"^\w+=", line)
    )
    assert settings["Type"] == "notify" and settings["NotifyAccess"] == "main"
    assert settings["WatchdogSec"] == "60s"
    assert settings["CapabilityBoundingSet"] == "" and settings["NoNewPrivileges"] == "yes"


class NotifySocket:
    """A datagram socket bound where systemd would bind its notification socket."""

    def __init__(self, address: str | bytes) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.received: list[tuple[float, list[str]]] = []

    def next(self, timeout: float) -> list[str]:
        self.sock.settimeout(timeout)
        fields = self.sock.recv(4096).decode().split("\n")
        self.received.append((time.monotonic(), fields))
        return fields

    def until(self, field: str, timeout: float) -> list[str]:
        deadline = time.monotonic() + timeout
        while True:
            fields = self.next(max(0.01, deadline - time.monotonic()))
            if field in fields:
                return fields


@pytest.fixture(params=["path", "abstract"])
def notify_socket(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[str, NotifySocket]]:
    if request.param == "path":
        name = str(tmp_path / "notify")
        listener = NotifySocket(name)
    else:
        name = f"@jarvisctl-test-{os.getpid()}-{free_port()}"
        listener = NotifySocket(b"\0" + name[1:].encode())
    yield name, listener
    listener.sock.close()


def test_the_daemon_notifies_ready_watchdog_and_stopping(
    tmp_path: Path, notify_socket: tuple[str, NotifySocket]
) -> None:
    name, listener = notify_socket
    port = free_port()
    project = tmp_path / "project"
    (project / "playbooks").mkdir(parents=True)
    (project / "playbooks" / "tick.yml").write_text(PLAYBOOK)
    (project / "jarvisctl.yml").write_text(
        f"playbooks: [playbooks]\ndaemon:\n  listen: 127.0.0.1:{port}\n  stop_timeout: 10s\n"
    )
    environment = {**os.environ, "NOTIFY_SOCKET": name, "WATCHDOG_USEC": "1000000"}
    log = tmp_path / "daemon.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "jarvisctl", "daemon", "--log-format", "json"],
            cwd=project,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )
    try:
        ready = listener.until("READY=1", 60)
        # /healthz answers the moment READY=1 is out (systemd starts what depends on us now)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as reply:
            assert reply.status == 200
        assert any(f.startswith("STATUS=1 scheduled jobs") for f in ready), ready
        assert [f for _, fields in listener.received for f in fields if "WATCHDOG" in f] == []

        # WATCHDOG_USEC=1 s: a ping every half second or so, however loaded the machine
        began = time.monotonic()
        pings = 0
        while time.monotonic() - began < 4.0:
            pings += "WATCHDOG=1" in listener.next(5)
        assert pings >= 4, listener.received

        process.send_signal(signal.SIGTERM)
        stopping = listener.until("STOPPING=1", 30)
        assert any(f.startswith("STATUS=stopping") for f in stopping), stopping
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "notify_failed" not in log.read_text()
