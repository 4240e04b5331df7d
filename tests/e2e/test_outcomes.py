"""Honest outcomes end to end, against real sshd hosts: a run whose hosts another run holds is
SKIPPED (with the holder) and not green; a run stopped by SIGINT or SIGTERM, or a daemon
stopped by SIGTERM, reports its in-flight hosts INTERRUPTED (never unreachable) and the hosts it
never started SKIPPED (interrupted): on the console, in the exit code, the journal, `runs` and
every report format (JUnit read by junitparser)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from junitparser import Error, JUnitXml, Skipped

from tests.e2e.sshd import SshdFleet, SshdHost
from tests.waiting import free_port, wait_for

pytestmark = pytest.mark.e2e

SLOW = """\
- name: slow
  hosts: all
  checks:
    - name: slow
      use: command
      with: {{command: "sleep 60.{marker}; echo 1"}}
      timeout: 2m
- name: after
  hosts: all
  checks:
    - name: quick
      use: command
      with: {{command: "echo 1"}}
"""

QUICK = """\
- name: quick
  hosts: all
  checks:
    - name: identity
      use: command
      with: {command: "echo $JARVIS_TEST_HOST", parse: regex, regex: "host(\\\\d+)"}
"""


@pytest.fixture
def project(tmp_path: Path, sshd_fleet: SshdFleet, sshd_hosts: list[SshdHost]) -> Path:
    sshd_fleet.write_inventory(tmp_path / "inventory.yml")
    (tmp_path / "jarvisctl.yml").write_text("inventory: inventory.yml\n")
    return tmp_path


def jarvisctl(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jarvisctl", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def start(*args: str, cwd: Path) -> subprocess.Popen[str]:
    """`jarvisctl ARGS`, with faulthandler on: `ended` can have it show where a run hangs."""
    return subprocess.Popen(
        [sys.executable, "-X", "faulthandler", "-m", "jarvisctl", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )


def ended(process: subprocess.Popen[str], timeout: float) -> tuple[str, str]:
    """Its stdout and stderr once it ends; if it has not ended in `timeout` seconds, a failure
    that shows every thread's stack (SIGABRT to faulthandler) and what it printed."""
    try:
        return process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGABRT)
        stdout, stderr = process.communicate(timeout=30)
        pytest.fail(f"still running after {timeout} s; stdout:\n{stdout}\nstderr:\n{stderr}")


def running_commands(marker: str) -> int:
    """How many hosts run the slow check now: its `sleep`, one per host (run by the script's
    own shell: no `timeout`, no `sh -c` beside it)."""
    pattern = f"^sleep 60\\.{marker}$"
    found = subprocess.run(["pgrep", "-f", pattern], capture_output=True)
    return len(found.stdout.split())


def runs(cwd: Path) -> list[dict[str, Any]]:
    listed = jarvisctl("runs", "--json", cwd=cwd)
    assert listed.returncode == 0, listed.stderr
    documents: list[dict[str, Any]] = json.loads(listed.stdout)
    return documents


def journal(cwd: Path, run_id: str) -> list[dict[str, Any]]:
    text = (cwd / ".jarvisctl" / "runs" / f"{run_id}.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def reports(cwd: Path, run_id: str) -> dict[str, str]:
    """The run's report in every format, each through `jarvisctl report`."""
    texts = {}
    for fmt in ("md", "html", "json", "junit"):
        made = jarvisctl("report", run_id, "--format", fmt, cwd=cwd)
        assert made.returncode == 0, made.stderr
        texts[fmt] = made.stdout
    return texts


def junit_cases(path: Path, text: str) -> dict[str, tuple[str, str]]:
    """'play.host' -> (what the session case says: ok/skipped/error type, its message)."""
    path.write_text(text)
    cases = {}
    for suite in JUnitXml.fromfile(str(path)):
        for case in suite:
            results = list(case.result)
            kind, message = "ok", ""
            if results and isinstance(results[0], Skipped):
                kind, message = "skipped", results[0].message or ""
            elif results and isinstance(results[0], Error):
                kind, message = f"error:{results[0].type}", results[0].message or ""
            cases[f"{case.classname}/{case.name}"] = (kind, message)
    return cases


def test_a_run_whose_hosts_another_run_holds_is_skipped_with_the_holder_and_not_green(
    project: Path, sshd_hosts: list[SshdHost]
) -> None:
    marker = str(uuid.uuid4().int % 10**12)
    (project / "slow.yml").write_text(SLOW.format(marker=marker))
    (project / "quick.yml").write_text(QUICK)
    holder = start("run", "slow.yml", cwd=project)
    try:
        wait_for(lambda: running_commands(marker) == len(sshd_hosts), 30, "the holder's checks")
        (held_by,) = [r for r in runs(project) if r["status"] == "running"]
        second = jarvisctl("run", "quick.yml", cwd=project)
    finally:
        holder.send_signal(signal.SIGTERM)
        holder.communicate(timeout=30)
    assert "Traceback" not in second.stderr, second.stderr
    assert second.returncode == 8, second.stdout + second.stderr
    holder_text = f"leased by cli run {held_by['run_id']} (pid {holder.pid} on "
    names = [host.name for host in sshd_hosts]
    for name in names:  # one line per host as it is settled, with the holder
        assert f"{name}  [quick]  SKIPPED  {holder_text}" in second.stdout, second.stdout
    recap = second.stdout[second.stdout.index("RECAP") :]
    header, *rows = recap.splitlines()[1 : 2 + len(names)]
    columns = header.split()
    for row in rows:
        counts = dict(zip(columns[1:], map(int, row.split()[1:]), strict=True))
        assert counts["skipped"] == 1 and sum(counts.values()) == 1, row
    assert "SKIPPED (not checked)" in recap and holder_text in recap

    (listed,) = [r for r in runs(project) if r["run_id"] not in (held_by["run_id"],)][:1]
    assert listed["status"] == "skipped" and listed["counts"]["skipped"] == len(names)
    run_id = listed["run_id"]

    records = journal(project, run_id)
    skips = [r for r in records if r["kind"] == "host_skipped"]
    assert sorted((r["host"], r["play"]) for r in skips) == [(n, "quick") for n in names]
    for record in skips:
        assert record["data"]["owner"] == held_by["run_id"]
        assert record["data"]["pid"] == holder.pid and record["data"]["source"] == "cli"
    (finished,) = [r for r in records if r["kind"] == "run_finished"]
    assert {h["outcome"] for h in finished["data"]["hosts"]} == {"skipped"}

    texts = reports(project, run_id)
    document = json.loads(texts["json"])
    assert document["status"] == "skipped"
    assert [(h["host"], h["play"], h["outcome"]) for h in document["hosts"]] == [
        (n, "quick", "skipped") for n in names
    ]
    assert "[]" not in texts["md"] and ": OK" not in texts["md"]
    assert texts["md"].startswith(f"# jarvisctl run {run_id}: SKIPPED")
    assert 'data-outcome="ok"' not in texts["html"] and 'data-outcome="skipped"' in texts["html"]
    cases = junit_cases(project / "junit.xml", texts["junit"])
    assert set(cases) == {f"quick.{n}/session" for n in names}
    for kind, message in cases.values():
        assert kind == "skipped" and message.startswith(holder_text), (kind, message)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stopped_run_reports_in_flight_hosts_interrupted_and_the_rest_skipped(
    project: Path, sshd_hosts: list[SshdHost], signum: signal.Signals
) -> None:
    marker = str(uuid.uuid4().int % 10**12)
    (project / "slow.yml").write_text(SLOW.format(marker=marker))
    process = start("run", "slow.yml", "--forks", "2", cwd=project)
    wait_for(lambda: running_commands(marker) == 2, 30, "two hosts' slow checks")
    process.send_signal(signum)
    stdout, stderr = ended(process, 60)
    assert "Traceback" not in stderr, stderr
    assert process.returncode == 130, stdout + stderr
    assert "UNREACHABLE" not in stdout and "unreachable:" not in stdout, stdout
    lines = [line.split() for line in stdout.splitlines() if "  [" in line]
    said = Counter((words[1], words[2]) for words in lines)
    hosts = len(sshd_hosts)
    # the window held two hosts: they are interrupted, the other two never started, and the
    # second play never began
    assert said == {
        ("[slow]", "INTERRUPTED"): 2,
        ("[slow]", "SKIPPED"): hosts - 2,
        ("[after]", "SKIPPED"): hosts,
    }, stdout
    for line in stdout.splitlines():
        if "]  SKIPPED  " in line:
            assert line.endswith(
                "SKIPPED  interrupted: the run was stopped before this host started"
            )
    assert "(interrupted)" in stdout and "SKIPPED (not checked)" in stdout

    (listed,) = runs(project)
    assert listed["status"] == "interrupted", listed
    counts = {k: n for k, n in listed["counts"].items() if n}
    assert counts == {"interrupted": 2, "skipped": 2 * hosts - 2}, listed

    records = journal(project, listed["run_id"])
    kinds = Counter(r["kind"] for r in records)
    assert kinds["host_unreachable"] == 0 and kinds["host_interrupted"] == 2, kinds
    skipped = [r for r in records if r["kind"] == "host_skipped"]
    assert len(skipped) == 2 * hosts - 2
    assert all(r["data"]["reason"].startswith("interrupted") for r in skipped)
    (finished,) = [r for r in records if r["kind"] == "run_finished"]
    outcomes = Counter((h["play"], h["outcome"]) for h in finished["data"]["hosts"])
    assert outcomes == {
        ("slow", "interrupted"): 2,
        ("slow", "skipped"): hosts - 2,
        ("after", "skipped"): hosts,
    }

    texts = reports(project, listed["run_id"])
    document = json.loads(texts["json"])
    assert document["status"] == "interrupted"
    assert Counter(h["outcome"] for h in document["hosts"]) == {
        "interrupted": 2,
        "skipped": 2 * hosts - 2,
    }
    assert "UNREACHABLE" not in texts["md"] and "INTERRUPTED" in texts["md"]
    cases = junit_cases(project / "junit.xml", texts["junit"])
    assert Counter(kind for kind, _ in cases.values()) == {
        "error:interrupted": 2,
        "skipped": 2 * hosts - 2,
    }
    assert {m for k, m in cases.values() if k == "skipped"} == {
        "interrupted: the run was stopped before this host started"
    }


@pytest.fixture
def daemon_project(project: Path) -> Iterator[Path]:
    (project / "playbooks").mkdir()
    (project / "jarvisctl.yml").write_text(
        "playbooks: [playbooks]\ninventory: inventory.yml\nforks: 2\n"
        f"daemon:\n  listen: 127.0.0.1:{free_port()}\n  stop_timeout: 1s\n"
    )
    yield project


def test_a_daemon_stopped_mid_run_reports_interrupted_and_skipped_hosts(
    daemon_project: Path, sshd_hosts: list[SshdHost]
) -> None:
    marker = str(uuid.uuid4().int % 10**12)
    playbook = textwrap.dedent(f"""\
        - name: slow
          hosts: all
          schedule: {{every: 2s}}
          checks:
            - name: slow
              use: command
              with: {{command: "sleep 60.{marker}; echo 1"}}
              timeout: 2m
        """)
    (daemon_project / "playbooks" / "slow.yml").write_text(playbook)
    log = daemon_project / "daemon.log"
    with log.open("wb") as out:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "jarvisctl", "daemon", "--log-format", "json"],
            cwd=daemon_project,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )
    try:
        wait_for(lambda: running_commands(marker) == 2, 60, "the daemon's first cycle")
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=60) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    events = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    named = Counter(e.get("event") for e in events)
    assert named["host_unreachable"] == 0 and named["host_interrupted"] == 2, named
    (finished,) = [e for e in events if e.get("event") == "job_finished"]
    assert finished["outcome"] == "interrupted"

    (listed,) = runs(daemon_project)
    assert listed["status"] == "interrupted" and listed["source"] == "daemon"
    counts = {k: n for k, n in listed["counts"].items() if n}
    assert counts == {"interrupted": 2, "skipped": len(sshd_hosts) - 2}, listed
    document = json.loads(reports(daemon_project, listed["run_id"])["json"])
    assert Counter(h["outcome"] for h in document["hosts"]) == {
        "interrupted": 2,
        "skipped": len(sshd_hosts) - 2,
    }
