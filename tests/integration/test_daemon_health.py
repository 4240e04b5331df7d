"""/healthz tells the truth about the daemon's jobs: a real daemon process whose stores are
broken under it. While a job cannot run as configured (its run store locked by another
process past timeouts.state_lock, its job store not a database), /healthz and /health answer
503 and name each job and why; 200 again once the store is back."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.waiting import free_port, wait_for

pytestmark = pytest.mark.slow

PLAYBOOK = """\
- name: tick
  hosts: localhost
  schedule: {every: 1s}
  checks:
    - name: seven
      use: command
      with: {command: "echo 7"}
      warn: 50
      crit: 100
"""
JOB = "playbooks/tick.yml::tick"
NOT_A_DATABASE = b"this is not a SQLite database\n" * 200


class Daemon:
    def __init__(self, root: Path) -> None:
        self.root, self.port = root, free_port()
        self.log = root / "daemon.log"
        self.state = root / ".jarvisctl"
        (root / "playbooks").mkdir(parents=True)
        (root / "playbooks" / "tick.yml").write_text(PLAYBOOK)
        (root / "jarvisctl.yml").write_text(
            "playbooks: [playbooks]\ntimeouts: {state_lock: 1s}\n"
            f"daemon:\n  listen: 127.0.0.1:{self.port}\n  stop_timeout: 10s\n"
        )
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "jarvisctl", "daemon", "--log-format", "json"],
                cwd=root,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
            )

    def get(self, path: str) -> tuple[int, dict[str, Any]]:
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())
        except OSError:
            return 0, {}

    def finished(self) -> list[dict[str, Any]]:
        lines = self.log.read_text().splitlines()
        events = [json.loads(x) for x in lines if x.startswith("{")]
        return [e for e in events if e["event"] == "job_finished"]

    def answer(self, code: int) -> dict[str, Any]:
        """Wait until /healthz answers `code`; its body, which /health answers alike."""
        wait_for(lambda: self.get("/healthz")[0] == code, 60, f"/healthz {code}")
        status, body = self.get("/healthz")
        alias, same = self.get("/health")
        assert (status, alias) == (code, code)
        for answered in (body, same):
            answered.pop("uptime_seconds")
        assert same == body
        return body

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    made = Daemon(tmp_path / "project")
    yield made
    if made.process.poll() is None:
        made.process.kill()
        made.process.wait()


def test_a_run_store_locked_by_another_process_makes_the_job_unhealthy(daemon: Daemon) -> None:
    daemon.answer(200)
    wait_for(lambda: len(daemon.finished()) >= 2, 60, "two fires")
    database = daemon.state / "state.db"
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # the write lock, held past the daemon's 1 s
    try:
        body = daemon.answer(503)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert body["status"] == "unhealthy"
    (failing,) = body["failing_jobs"]
    assert failing["job"] == JOB
    (reason,) = failing["reasons"]
    assert reason.startswith("its last fire made no run (error): ")
    assert f"the state database {database} is locked by another process" in reason
    assert body["reasons"] == [f"job {JOB}: {reason}"]
    assert body["config"]["ok"] is True and body["job_store"]["ok"] is True

    body = daemon.answer(200)
    assert body["status"] == "ok" and body["failing_jobs"] == [] and body["reasons"] == []
    assert daemon.finished()[-1]["outcome"] == "ok"
    assert daemon.stop() == 0


def test_a_job_store_that_is_not_a_database_makes_the_daemon_unhealthy(daemon: Daemon) -> None:
    daemon.answer(200)
    wait_for(lambda: len(daemon.finished()) >= 2, 60, "two fires")
    database = daemon.state / "scheduler.db"
    good = database.read_bytes()
    database.write_bytes(NOT_A_DATABASE)

    body = daemon.answer(503)
    assert body["status"] == "unhealthy"
    assert body["jobs"] == 1, "the job is still known from the YAML"
    assert body["job_store"]["ok"] is False
    assert f"{database} is not a usable SQLite database" in body["job_store"]["error"]
    assert body["reasons"][0] == f"the job store cannot be used: {body['job_store']['error']}"
    (failing,) = body["failing_jobs"]
    assert failing["job"] == JOB
    assert any(r.startswith("not scheduled: the job store") for r in failing["reasons"])

    database.write_bytes(good)
    # APScheduler retries its job store every 10 s
    wait_for(lambda: daemon.get("/healthz")[0] == 200, 60, "/healthz 200 with the store back")
    seen = len(daemon.finished())
    wait_for(lambda: len(daemon.finished()) > seen, 60, "a fire after the store is back")
    assert daemon.answer(200)["job_store"] == {"ok": True, "error": None, "since": None}
    assert daemon.process.poll() is None
    assert daemon.stop() == 0
    assert "Traceback" not in daemon.log.read_text()
