"""The daemon's alert API on a real daemon process: reads open; writes refused without a token
configured (403), with none or a wrong one given (401), done with the right one and recorded as
daemon runs that `jarvisctl runs` and `audit verify` see; hostile requests answered 4xx while
the scheduler keeps firing; and the token (from env()) in no answer, log line, journal or store
file, even when a client pastes it into a comment."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jarvisctl.core.alerts import Alert, Labels
from jarvisctl.store.factory import open_store
from tests.waiting import free_port, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TOKEN = "e2e-api-t0ken-5b0a3c9d7f11e2"
PLAYBOOK = """\
- name: tick
  hosts: localhost
  schedule: {every: 1s}
  checks:
    - {name: seven, use: command, with: {command: "echo 7"}, warn: 50, crit: 100}
"""
DISK = Alert(
    Labels({"alertname": "root disk", "check": "root disk", "host": "j1", "severity": "critical"}),
    starts_at=time.time() - 60,
)


class Daemon:
    def __init__(self, root: Path, token: bool, environment: dict[str, str]) -> None:
        self.root, self.port = root, free_port()
        self.log = root / "daemon.log"
        self.answers: list[bytes] = []  # every body the daemon answered
        (root / "playbooks").mkdir(parents=True)
        (root / "playbooks" / "tick.yml").write_text(PLAYBOOK)
        http = "  http: {token: \"{{ env('JARVISCTL_API_TOKEN') }}\"}\n" if token else ""
        (root / "jarvisctl.yml").write_text(
            f"playbooks: [playbooks]\ndaemon:\n  listen: 127.0.0.1:{self.port}\n{http}"
        )
        open_store(root / ".jarvisctl").alerts.record(DISK, DISK.starts_at)
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "jarvisctl", "daemon", "--log-format", "json"],
                cwd=root,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                env={**os.environ, **environment},
            )

    def ready(self) -> Daemon:
        wait_for(lambda: self.call("GET", "/healthz")[0] == 200, 30, "the daemon's /healthz")
        return self

    def call(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> tuple[int, Any]:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        data = None if body is None else json.dumps(body).encode()
        try:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            connection.request(method, path, body=data, headers=headers)
            answer = connection.getresponse()
            text = answer.read()
        except OSError:
            return 0, None
        self.answers.append(text)
        return answer.status, json.loads(text) if text.startswith((b"{", b"[")) else text

    def events(self, name: str) -> list[dict[str, Any]]:
        lines = self.log.read_text().splitlines()
        return [
            e for e in (json.loads(x) for x in lines if x.startswith("{")) if e["event"] == name
        ]

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[Daemon]]:
    daemons: list[Daemon] = []
    yield daemons
    for daemon in daemons:
        if daemon.process.poll() is None:
            daemon.process.kill()
            daemon.process.wait()


def test_without_a_token_writes_are_refused_and_reads_open(
    tmp_path: Path, started: list[Daemon]
) -> None:
    daemon = Daemon(tmp_path / "p", token=False, environment={})
    started.append(daemon)
    daemon.ready()
    code, alerts = daemon.call("GET", "/alerts")
    assert code == 200 and [a["fingerprint"] for a in alerts] == [DISK.fingerprint]
    code, error = daemon.call("POST", f"/alerts/{DISK.fingerprint}/ack", {"by": "x"}, "a" * 20)
    assert code == 403 and "daemon: {http: {token:" in error["error"]  # it says how
    (started_line,) = daemon.events("daemon_started")
    assert started_line["api_writes"] == "refused (no daemon.http.token)"
    assert daemon.stop() == 0


def test_writes_need_the_token_and_the_token_is_never_shown(
    tmp_path: Path, started: list[Daemon]
) -> None:
    root = tmp_path / "p"
    daemon = Daemon(root, token=True, environment={"JARVISCTL_API_TOKEN": TOKEN})
    started.append(daemon)
    daemon.ready()
    ack = f"/alerts/{DISK.fingerprint[:6]}/ack"
    assert daemon.call("POST", ack, {"by": "eve"})[0] == 401
    assert daemon.call("POST", ack, {"by": "eve"}, TOKEN.upper())[0] == 401
    code, answer = daemon.call("POST", ack, {"by": "ana", "comment": f"token {TOKEN}?"}, TOKEN)
    assert code == 200 and answer["alert"]["acknowledged"]["comment"] == "token ***?"
    silence = {"matchers": ['host=~"j.*"'], "duration": "30m", "comment": "c", "created_by": "ana"}
    code, added = daemon.call("POST", "/silences", silence, TOKEN)
    assert code == 201
    code, error = daemon.call("POST", "/silences", {**silence, "matchers": ["host=~("]}, TOKEN)
    assert code == 400 and error["field"] == "matchers"
    nested = {**silence, "matchers": ['host=~"(.+)+Z"']}  # would hold the dispatcher
    code, error = daemon.call("POST", "/silences", nested, TOKEN)
    assert code == 400 and "repeats without bound" in error["error"], error
    assert daemon.call("POST", "/silences", "not an object", TOKEN)[0] == 400
    code, listed = daemon.call("GET", "/alerts")
    assert listed[0]["silenced_by"][0]["id"] == added["silence"]["id"]
    assert listed[0]["acknowledged"]["by"] == "ana"
    shown = subprocess.run(
        [sys.executable, "-m", "jarvisctl", "silence", "list", "--json"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert [s["id"] for s in json.loads(shown.stdout)] == [added["silence"]["id"]]
    code, expired = daemon.call("DELETE", f"/silences/{added['silence']['id']}", token=TOKEN)
    assert code == 200 and expired["silence"]["state"] == "expired"

    writes = daemon.events("api_write")
    assert [(w["method"], w["code"]) for w in writes] == [
        ("POST", 200),
        ("POST", 201),
        ("POST", 400),
        ("POST", 400),
        ("POST", 400),
        ("DELETE", 200),
    ]
    recorded = [w["run_id"] for w in writes if w["run_id"]]
    runs = subprocess.run(
        [sys.executable, "-m", "jarvisctl", "runs", "--json"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    sources = {r["run_id"]: r["source"] for r in json.loads(runs.stdout)}
    assert all(sources[run_id] == "daemon" for run_id in recorded) and len(recorded) == 3
    for run_id in recorded:
        verified = subprocess.run(
            [sys.executable, "-m", "jarvisctl", "audit", "verify", run_id],
            cwd=root,
            capture_output=True,
            timeout=60,
        )
        assert verified.returncode == 0, verified.stdout
    # the scheduler goes on beside the API (every 1 s: on a quiet machine the writes above
    # are all done before its second fire, so wait for it, bounded)
    wait_for(lambda: len(daemon.events("job_finished")) >= 2, 30, "the scheduler's second run")
    assert daemon.stop() == 0

    everything = b"".join(daemon.answers) + daemon.log.read_bytes()
    for path in (root / ".jarvisctl").rglob("*"):
        if path.is_file():
            everything += path.read_bytes()
    assert TOKEN.encode() not in everything
    assert b"token ***?" in everything  # what was stored instead


def test_a_slow_body_holds_no_worker_and_the_scheduler_goes_on(
    tmp_path: Path, started: list[Daemon]
) -> None:
    daemon = Daemon(tmp_path / "p", token=True, environment={"JARVISCTL_API_TOKEN": TOKEN})
    started.append(daemon)
    daemon.ready()
    fired = len(daemon.events("job_finished"))
    head = (
        f"POST /silences HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
        "Content-Length: 200\r\n\r\n{"
    ).encode()
    slow = [socket.create_connection(("127.0.0.1", daemon.port), timeout=20) for _ in range(12)]
    try:
        for sock in slow:  # more than the workers (8): each sends a byte of its body, no more
            sock.sendall(head)
        for _ in range(3):
            assert daemon.call("GET", "/healthz")[0] == 200
            time.sleep(0.5)
        wait_for(lambda: len(daemon.events("job_finished")) >= fired + 2, 30, "two more fires")
    finally:
        for sock in slow:
            sock.close()
    assert daemon.stop() == 0


def test_a_token_that_is_not_set_stops_the_start_at_its_line(tmp_path: Path) -> None:
    root = tmp_path / "p"
    daemon = Daemon(root, token=True, environment={})
    daemon.process.wait(timeout=60)
    assert daemon.process.returncode == 3
    text = daemon.log.read_text()
    assert "jarvisctl.yml:4:17: daemon.http.token: " in text
    assert "environment variable 'JARVISCTL_API_TOKEN' is not set" in text
