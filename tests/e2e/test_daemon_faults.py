"""The daemon under faults, end to end: a real daemon process on the sshd test hosts.

Its files broken under it (a directory where a catalogue entry should be, a playbook edited into
a mistake, with and without SIGHUP): it keeps running the last good plan, reports itself
degraded, logs the mistake once, and recovers when the files are fixed. Its HTTP server under
hostile clients (slowloris, clients that leave before the answer): bounded threads, /healthz
still answers, one short line per client at most."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.sshd import SshdFleet, SshdHost
from tests.waiting import free_port, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

GOOD = """\
- name: tick
  hosts: all
  schedule: {every: 1s}
  checks:
    - name: seven
      use: command
      with: {command: "echo 7"}
      warn: 50
      crit: 100
"""
# the same play with a threshold that is not a number: a located mistake on line 8
BROKEN = GOOD.replace("warn: 50", "warn: lots")
JOB = "playbooks/tick.yml::tick"


class Daemon:
    """A project directory and the daemon process running on it."""

    def __init__(self, root: Path, fleet: SshdFleet, http: str = "") -> None:
        self.root, self.port = root, free_port()
        self.log = root / "daemon.log"
        (root / "playbooks").mkdir(parents=True)
        (root / "checks").mkdir()
        self.playbook = root / "playbooks" / "tick.yml"
        self.playbook.write_text(GOOD)
        fleet.write_inventory(root / "inventory.yml")
        (root / "jarvisctl.yml").write_text(
            "playbooks: [playbooks]\ninventory: inventory.yml\nlease_ttl: 10s\n"
            f"daemon:\n  listen: 127.0.0.1:{self.port}\n  stop_timeout: 10s\n{http}"
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *options: str) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "jarvisctl", "daemon", "--log-format", "json", *options],
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        wait_for(lambda: self.get("/healthz")[0] == 200, 30, "the daemon's /healthz")
        return self.process

    def get(self, path: str, timeout: float = 5) -> tuple[int, bytes]:
        return http_get(self.port, path, timeout)

    def health(self) -> tuple[int, dict[str, Any]]:
        code, body = self.get("/healthz")
        return code, json.loads(body) if body else {}

    def metric(self, name: str) -> float | None:
        for line in self.get("/metrics")[1].decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None

    def lines(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def events(self, name: str) -> list[dict[str, Any]]:
        records = [json.loads(line) for line in self.lines() if line.startswith("{")]
        return [r for r in records if r.get("event") == name]

    def finished(self) -> list[dict[str, Any]]:
        return [e for e in self.events("job_finished") if e["job"] == JOB]

    def wait_fires(self, count: int, what: str) -> list[dict[str, Any]]:
        seen = len(self.finished())
        wait_for(lambda: len(self.finished()) >= seen + count, 60, what)
        return self.finished()[seen:]

    def runs(self) -> list[dict[str, Any]]:
        """`jarvisctl runs --json`: what an operator reads."""
        done = subprocess.run(
            [sys.executable, "-m", "jarvisctl", "runs", "--json", "-n", "1000"],
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        found: list[dict[str, Any]] = json.loads(done.stdout)
        return found

    def hup(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGHUP)

    def threads(self) -> int:
        assert self.process is not None
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(next(x for x in status.splitlines() if x.startswith("Threads:")).split()[1])

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)


def http_get(port: int, path: str, timeout: float = 5) -> tuple[int, bytes]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


# short HTTP bounds so that the hostile-client tests take seconds (the defaults: 10s, 8, 256)
HTTP = "  http: {timeout: 2s, workers: 4, connections: 256}\n"
CLIENTS = 200


@pytest.fixture
def daemon(tmp_path: Path, sshd_fleet: SshdFleet, sshd_hosts: list[SshdHost]) -> Iterator[Daemon]:
    made = Daemon(tmp_path / "project", sshd_fleet, HTTP)
    yield made
    if made.alive():
        assert made.process is not None
        made.process.kill()
        made.process.wait()


def announced_arguments(root: Path, run_id: str) -> list[str]:
    """The arguments the run's audit journal says it was started with."""
    journal = root / ".jarvisctl" / "runs" / f"{run_id}.jsonl"
    first = json.loads(journal.read_text().splitlines()[0])
    assert first["kind"] == "run_started"
    arguments: list[str] = first["data"]["arguments"]
    return arguments


def test_a_directory_named_like_a_catalogue_entry_on_sighup(daemon: Daemon) -> None:
    daemon.start()
    daemon.wait_fires(2, "two fires")
    (daemon.root / "checks" / "broken.yml").mkdir()
    daemon.hup()

    failed = wait_for(lambda: daemon.events("reload_failed"), 20, "the reload to fail")
    assert any("broken.yml" in e["problem"] for e in failed), failed
    assert daemon.alive()
    code, health = daemon.health()
    assert code == 503 and health["status"] == "degraded"
    assert "broken.yml" in health["reasons"][0]
    assert health["config"]["ok"] is False
    # the jobs go on firing with the plan they had, and their hosts are checked for real
    after = daemon.wait_fires(3, "three fires after the failed reload")
    assert {e["outcome"] for e in after} == {"ok"}
    assert daemon.get("/healthz")[0] == 503
    assert daemon.metric("jarvisctl_config_ok") == 0.0

    (daemon.root / "checks" / "broken.yml").rmdir()
    daemon.hup()
    wait_for(lambda: daemon.get("/healthz")[0] == 200, 20, "/healthz 200 after the fix")
    assert daemon.metric("jarvisctl_config_ok") == 1.0
    assert daemon.metric("jarvisctl_config_error_timestamp_seconds") is None
    assert daemon.events("config_recovered")
    assert "Traceback" not in daemon.log.read_text()
    assert daemon.stop() == 0


def test_a_playbook_edited_into_a_mistake_keeps_the_last_good_plan(daemon: Daemon) -> None:
    daemon.start()
    daemon.wait_fires(1, "a fire")

    # edited without SIGHUP: the daemon re-reads the playbook at each fire
    daemon.playbook.write_text(BROKEN)
    wait_for(lambda: daemon.events("job_config_error"), 30, "the mistake noticed at a fire")
    after = daemon.wait_fires(4, "four fires after the edit")
    assert {e["outcome"] for e in after} == {"ok"}
    logged = daemon.events("job_config_error")
    assert len(logged) == 1, "the same mistake was logged at every fire"
    assert "playbooks/tick.yml:8:13:" in logged[0]["problem"]
    assert len(daemon.events("job_runs_last_good_plan")) == 1
    code, health = daemon.health()
    assert code == 503 and "playbooks/tick.yml:8:13:" in health["reasons"][0]
    (fault,) = health["config"]["faults"]
    assert fault["source"] == JOB
    assert daemon.metric("jarvisctl_config_ok") == 0.0
    assert (daemon.metric("jarvisctl_config_error_timestamp_seconds") or 0) > 0
    status = json.loads(daemon.get("/status")[1])
    assert status["config"]["faults"][0]["problems"] == [logged[0]["problem"]]
    # each fire is a recorded run an operator sees in `runs`; its journal says which plan ran
    listed = {r["run_id"]: r["status"] for r in daemon.runs()}
    assert [listed.get(e["run_id"]) for e in after] == ["ok"] * len(after)
    for fire in after:
        assert any(
            a.startswith("--last-good-plan=")
            for a in announced_arguments(daemon.root, fire["run_id"])
        )

    # fixed, still without SIGHUP: healthy again at the next fire
    daemon.playbook.write_text(GOOD)
    wait_for(lambda: daemon.get("/healthz")[0] == 200, 30, "/healthz 200 after the fix")
    assert daemon.metric("jarvisctl_config_ok") == 1.0

    # broken again, and SIGHUP: the schedule stays, the fires go on with the last good plan
    daemon.playbook.write_text(BROKEN)
    daemon.hup()
    wait_for(lambda: daemon.events("reload_failed"), 30, "the reload to fail")
    seen = len(daemon.events("job_config_error"))
    daemon.wait_fires(3, "three fires after the failed reload")
    assert len(daemon.events("job_config_error")) - seen <= 1
    assert len(daemon.events("reload_failed")) == 1
    assert daemon.get("/healthz")[0] == 503
    assert daemon.alive()

    daemon.playbook.write_text(GOOD)
    daemon.hup()
    wait_for(lambda: daemon.get("/healthz")[0] == 200, 30, "/healthz 200 after SIGHUP")
    assert "Traceback" not in daemon.log.read_text()
    assert daemon.stop() == 0


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def closed_by_peer(sock: socket.socket) -> bool:
    """The server closed it: a read ends (EOF or reset) instead of waiting."""
    sock.settimeout(0.05)
    try:
        return sock.recv(1024) == b""
    except TimeoutError:
        return False
    except OSError:
        return True


def test_slowloris_clients_cost_no_thread_and_are_closed_in_time(daemon: Daemon) -> None:
    # no fire during the test: the daemon's threads are its own, not a run's
    daemon.playbook.write_text(GOOD.replace("{every: 1s}", "{every: 1h}"))
    daemon.start()
    before = daemon.threads()
    # half of them never send a byte, half send a request head one byte at a time
    idle = [connect(daemon.port) for _ in range(CLIENTS // 2)]
    slow = [connect(daemon.port) for _ in range(CLIENTS // 2)]
    opened = time.monotonic()
    for sock in slow:
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
    peak = daemon.threads()
    answered = []
    for _ in range(8):  # 2 s of trickling, longer than the 2 s head timeout
        for sock in slow:
            with contextlib.suppress(OSError):  # closed by the server already: as it should be
                sock.send(b"X")
        began = time.monotonic()
        code, _ = daemon.get("/healthz", timeout=5)
        answered.append((code, time.monotonic() - began))
        peak = max(peak, daemon.threads())
        time.sleep(0.25)
    assert [code for code, _ in answered] == [200] * len(answered)
    assert max(seconds for _, seconds in answered) < 2.0, answered
    assert peak == before, f"threads grew from {before} to {peak} with {CLIENTS} clients"

    def all_closed() -> bool:
        return all(closed_by_peer(sock) for sock in idle + slow)

    wait_for(all_closed, 10, "the server to close every idle and slow connection")
    assert time.monotonic() - opened < 2 + 5
    for sock in idle + slow:
        sock.close()
    metrics = daemon.get("/metrics")[1].decode()
    timed_out = next(
        float(x.split()[-1])
        for x in metrics.splitlines()
        if x.startswith('jarvisctl_http_connections_total{outcome="timed_out"}')
    )
    assert timed_out >= CLIENTS
    assert daemon.alive() and daemon.stop() == 0


def test_clients_that_leave_before_the_answer_are_a_line_each_at_most(daemon: Daemon) -> None:
    daemon.start("--log-level", "debug")
    daemon.wait_fires(1, "a fire")
    before = len(daemon.lines())
    for _ in range(CLIENTS):
        sock = connect(daemon.port)
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        # leave at once, with a reset rather than a polite close
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()

    def handled() -> float:
        metrics = daemon.get("/metrics")[1].decode()
        return sum(
            float(x.split()[-1])
            for x in metrics.splitlines()
            if x.startswith("jarvisctl_http_connections_total{") and 'outcome="accepted"' not in x
        )

    wait_for(lambda: handled() >= CLIENTS, 30, "every client handled")
    assert daemon.get("/healthz")[0] == 200
    assert daemon.stop() == 0
    text = daemon.log.read_text()
    assert "Traceback" not in text
    new = [x for x in daemon.lines()[before:] if "http" in x]
    assert len(new) <= CLIENTS, f"{len(new)} log lines about {CLIENTS} clients"
    assert all(len(x) < 300 for x in new)
