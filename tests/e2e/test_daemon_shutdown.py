"""Stopping the daemon while a job runs on the sshd test hosts: a real daemon process, a real
SIGTERM mid-run. The run in flight is interrupted; no fire time is processed once the stop has
begun (APScheduler's shutdown pass logged "Error submitting job" and spent the fire time);
the log holds no error line and no traceback. The same for `daemon --once`, whose run outlasts
the job's interval."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.sshd import SshdFleet, SshdHost
from tests.waiting import free_port, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# each run takes ~3 s on the hosts, three times the interval: fire times come due during it
PLAYBOOK = """\
- name: slow
  hosts: all
  schedule: {every: 1s}
  checks:
    - name: seven
      use: command
      with: {command: "sleep 3; echo 7"}
      warn: 50
      crit: 100
"""
JOB = "playbooks/slow.yml::slow"


def make_project(root: Path, fleet: SshdFleet, stop_timeout: str) -> int:
    (root / "playbooks").mkdir(parents=True)
    (root / "playbooks" / "slow.yml").write_text(PLAYBOOK)
    fleet.write_inventory(root / "inventory.yml")
    port = free_port()
    (root / "jarvisctl.yml").write_text(
        "playbooks: [playbooks]\ninventory: inventory.yml\nlease_ttl: 10s\n"
        f"daemon:\n  listen: 127.0.0.1:{port}\n  stop_timeout: {stop_timeout}\n"
    )
    return port


def records(log: Path) -> list[dict[str, Any]]:
    lines = log.read_text().splitlines()
    not_json = [line for line in lines if not line.startswith("{")]
    assert not_json == [], "lines that are not the daemon's events:\n" + "\n".join(not_json)
    return [json.loads(line) for line in lines]


def assert_quiet(found: list[dict[str, Any]], since: int) -> None:
    """No error line and no traceback in the log; no APScheduler line from `since` on (before,
    its warnings about fires skipped while the slow run went on are expected)."""
    loud = [r for r in found if r["level"] == "error"]
    loud += [r for r in found[since:] if r["event"].startswith("apscheduler")]
    assert loud == [], loud
    assert not any("Traceback" in json.dumps(r) for r in found)


def daemon_process(root: Path, log: Path, *options: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "jarvisctl", "daemon", "--log-format", "json", *options],
            cwd=root,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )


@pytest.mark.parametrize("stop_timeout", ["1s", "20s"], ids=["cancelled", "finishes"])
def test_sigterm_mid_run_stops_cleanly(
    tmp_path: Path, sshd_fleet: SshdFleet, sshd_hosts: list[SshdHost], stop_timeout: str
) -> None:
    make_project(tmp_path, sshd_fleet, stop_timeout)
    log = tmp_path / "daemon.log"
    process = daemon_process(tmp_path, log)
    try:

        def running() -> bool:
            events = [r["event"] for r in records(log) if r.get("job") == JOB]
            return events.count("job_started") >= 2 and events[-1] == "job_started"

        wait_for(running, 90, "a second run in flight")
        time.sleep(1.0)  # inside the run, and past at least one more fire time
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=90) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    found = records(log)
    stopping = [r["event"] for r in found].index("daemon_stopping")
    assert_quiet(found, stopping)
    after = found[stopping:]
    # the run in flight ended (interrupted or finished in the grace time); nothing else fired
    job_lines = [r for r in after if r.get("job") == JOB]
    assert [r["event"] for r in job_lines] == ["job_finished"], job_lines
    expected = "interrupted" if stop_timeout == "1s" else "ok"
    assert job_lines[0]["outcome"] == expected
    assert found[stopping]["running"] == [JOB]
    assert found[-1]["event"] == "daemon_stopped" and found[-1]["clean"] is True


def test_once_whose_run_outlasts_the_interval_exits_quietly(
    tmp_path: Path, sshd_fleet: SshdFleet, sshd_hosts: list[SshdHost]
) -> None:
    make_project(tmp_path, sshd_fleet, "5s")
    log = tmp_path / "daemon.log"
    first = daemon_process(tmp_path, log, "--once")  # schedules the job: nothing is due yet
    assert first.wait(timeout=60) == 0
    time.sleep(1.5)
    second = daemon_process(tmp_path, log, "--once")  # runs the due job, ~3 s
    assert second.wait(timeout=90) == 0
    found = records(log)
    assert_quiet(found, 0)
    finished = [r for r in found if r["event"] == "job_finished"]
    assert [r["outcome"] for r in finished] == ["ok"]
    assert found[-1]["event"] == "once_finished"
