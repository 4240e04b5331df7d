"""A port that accepts TCP but is no SSH server: paramiko's transport thread logs the failed
handshake ("Exception (client): Error reading SSH protocol banner" and a traceback) through
its logger, which Python's last-resort handler printed on stderr. The operator gets the
located unreachable line, once, and nothing of paramiko's, from the CLI and the daemon alike."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.waiting import free_port, wait_for

PLAYBOOK = """\
- name: mute
  hosts: all
  {schedule}checks:
    - {{name: up, use: uptime}}
"""
PARAMIKO_NOISE = ("Exception (client)", "Traceback", "Error reading SSH protocol banner")


class MuteServer:
    """A bounded loopback listener: each connection is closed at once (`close`), or held open
    without a byte sent until the server stops (`silent`)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.held: list[socket.socket] = []
        self.accepted = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopped.is_set() and self.accepted < 200:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            if self.mode == "close":
                conn.close()
            else:
                self.held.append(conn)

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(5)
        for conn in [*self.held, self.sock]:
            conn.close()


@pytest.fixture(params=["close", "silent"])
def mute_server(request: pytest.FixtureRequest) -> Iterator[MuteServer]:
    server = MuteServer(request.param)
    yield server
    server.stop()


def write_project(
    root: Path, port: int, schedule: str = "", config: str = "", timeout: str = "connect_timeout: 1"
) -> None:
    """The handshake a silent server never starts is given up after the connect timeout: the
    inventory's `connect_timeout` here, unless `timeout` is "" (then jarvisctl.yml's
    `timeouts.connect`, which `config` may set)."""
    (root / "inventory.yml").write_text(
        "all:\n  hosts:\n    mute:\n      ansible_host: 127.0.0.1\n"
        f"      ansible_port: {port}\n" + (f"      {timeout}\n" if timeout else "")
    )
    (root / "site.yml").write_text(PLAYBOOK.format(schedule=schedule))
    (root / "jarvisctl.yml").write_text(
        f"inventory: inventory.yml\nplaybooks: [site.yml]\n{config}"
    )


def test_the_cli_says_unreachable_once_and_nothing_of_paramiko(
    tmp_path: Path, mute_server: MuteServer
) -> None:
    write_project(tmp_path, mute_server.port)
    done = subprocess.run(
        [sys.executable, "-m", "jarvisctl", "run", "site.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 4, done.stdout + done.stderr
    assert mute_server.accepted >= 1
    for noise in PARAMIKO_NOISE:
        assert noise not in done.stderr + done.stdout, done.stderr
    assert done.stderr.strip() == "", done.stderr
    reason = (
        "during the SSH handshake" if mute_server.mode == "close" else "no SSH handshake within 1s"
    )
    assert f"mute: cannot connect to 127.0.0.1:{mute_server.port}: " in done.stdout
    assert reason in done.stdout, done.stdout


def test_timeouts_connect_in_jarvisctl_yml_bounds_the_handshake(tmp_path: Path) -> None:
    """A host whose inventory and ssh_config set no connect timeout is given up after
    jarvisctl.yml's `timeouts.connect` (1.5 s here, not the built-in 10 s), and the message
    names that setting."""
    server = MuteServer("silent")
    try:
        write_project(tmp_path, server.port, config="timeouts: {connect: 1.5s}\n", timeout="")
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "jarvisctl", "run", "site.yml"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        took = time.monotonic() - started
    finally:
        server.stop()
    assert done.returncode == 4, done.stdout + done.stderr
    assert server.accepted >= 1
    assert "no SSH handshake within 1.5s (timeouts.connect in jarvisctl.yml)" in done.stdout
    assert 1.5 <= took < 8, took  # the handshake waited for it, and not for 10 s


def test_the_daemon_logs_unreachable_once_and_nothing_of_paramiko(
    tmp_path: Path, mute_server: MuteServer
) -> None:
    port = free_port()
    write_project(
        tmp_path,
        mute_server.port,
        schedule="schedule: {every: 1s}\n  ",
        config=f"daemon:\n  listen: 127.0.0.1:{port}\n  stop_timeout: 5s\n",
    )
    log = tmp_path / "daemon.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "jarvisctl", "daemon", "--log-format", "json"],
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )
    try:

        def finished() -> int:
            lines = log.read_text().splitlines()
            return sum('"event": "job_finished"' in line for line in lines)

        wait_for(lambda: finished() >= 3, 90, "three fires against the mute host")
        process.terminate()
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    lines = log.read_text().splitlines()
    not_json = [line for line in lines if not line.startswith("{")]
    assert not_json == [], "\n".join(not_json)
    records = [json.loads(line) for line in lines]
    for noise in PARAMIKO_NOISE:
        assert not any(noise in line for line in lines), noise
    (unreachable,) = [r for r in records if r["event"] == "host_unreachable"]
    assert unreachable["host"] == "mute"
    assert f"cannot connect to 127.0.0.1:{mute_server.port}" in unreachable["error"]
