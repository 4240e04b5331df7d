"""Rollouts run for real by `jarvisctl` in a subprocess, on hosts with `connection: local`: each
host is a directory (its "service" a version file, a health file its restart writes, a fake
sysfs temperature), so that the rules of a rollout are seen quickly and exactly: halting on a
bad canary and at max_fail_percentage, pausing and `rollout continue`, a host held by
`wait_for` until it cools, `once: true` after a crash, `run --check`, and a second run that
changes nothing. The same rules on sshd hosts: tests/e2e/test_rollout_fleet.py."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

HOSTS = ("h1", "h2", "h3", "h4", "h5", "h6")
PLAYBOOK = "rollout.yml"


class Project:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        config = {"state_dir": "state", "inventory": "inventory.yml"}
        (root / "jarvisctl.yml").write_text(yaml.safe_dump(config))
        hosts = {}
        for name in HOSTS:
            app = root / "hosts" / name
            app.mkdir(parents=True)
            (app / "version").write_text("1.0\n")
            (app / "health").write_text("0\n")
            (app / "temp").write_text("40\n")
            hosts[name] = {"ansible_connection": "local", "app_dir": str(app)}
        (root / "inventory.yml").write_text(yaml.safe_dump({"all": {"hosts": hosts}}))

    def app(self, host: str) -> Path:
        return self.root / "hosts" / host

    def read(self, host: str, name: str) -> str:
        return (self.app(host) / name).read_text().strip()

    def write(
        self, rollout: dict[str, Any], *, bad_on: tuple[str, ...] = (), steps: Any = ()
    ) -> None:
        bad = " or ".join(f"inventory_hostname == '{h}'" for h in bad_on) or "false"
        play = {
            "name": "app",
            "hosts": "all",
            "vars": {"release": f"{{{{ 'bad' if ({bad}) else '2.0' }}}}"},
            "checks": [
                {
                    "name": "app health",
                    "use": "command",
                    "with": {"command": "cat {{ app_dir }}/health"},
                    "crit": 1,
                },
                {
                    "name": "cool enough",
                    "use": "command",
                    "with": {"command": "cat {{ app_dir }}/temp"},
                    "crit": 70,
                },
            ],
            "rollout": {
                **rollout,
                "steps": [
                    *steps,
                    {
                        "name": "version",
                        "run": "echo {{ release }} > {{ app_dir }}/version",
                        "unless": "grep -qx {{ release }} {{ app_dir }}/version",
                    },
                    {
                        "name": "restart",
                        "run": "if grep -qx bad {{ app_dir }}/version; then echo 1; else echo 0;"
                        " fi > {{ app_dir }}/health",
                    },
                ],
                "rollback": [
                    {
                        "name": "old version",
                        "run": "echo 1.0 > {{ app_dir }}/version && echo 0 > {{ app_dir }}/health",
                    }
                ],
            },
        }
        (self.root / PLAYBOOK).write_text(yaml.safe_dump([play], sort_keys=False))

    def jarvisctl(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
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

    def run(self, *extra: str) -> tuple[int, dict[str, Any]]:
        done = self.jarvisctl("run", PLAYBOOK, "--json", *extra)
        try:
            return done.returncode, json.loads(done.stdout)
        except json.JSONDecodeError:
            raise AssertionError(done.stdout + done.stderr) from None

    def status(self) -> dict[str, Any]:
        done = self.jarvisctl("rollout", "status", "last", "--json")
        assert done.returncode == 0, done.stdout + done.stderr
        found: dict[str, Any] = json.loads(done.stdout)
        return found


def turns(report: dict[str, Any]) -> dict[str, str]:
    return {h["host"]: h["rollout"]["turn"] for h in report["hosts"] if h.get("rollout")}


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path / "project")


CANARY: dict[str, Any] = {"batches": [1, 2, "100%"], "gate": ["app health"], "gate_timeout": "1s"}


def test_a_bad_canary_is_rolled_back_and_halts_the_rollout(project: Project) -> None:
    project.write(CANARY, bad_on=("h1",))
    code, report = project.run()
    assert code != 0
    found = turns(report)
    assert found["h1"] == "rolled back", report
    assert [found[h] for h in HOSTS[1:]] == ["skipped"] * 5, found
    assert project.read("h1", "version") == "1.0" and project.read("h1", "health") == "0"
    for host in HOSTS[1:]:
        assert project.read(host, "version") == "1.0"
    status = project.status()
    assert status["state"] == "halted"
    assert "max_fail_percentage" in status["reason"]


def test_a_good_release_updates_every_host_and_a_second_run_changes_nothing(
    project: Project,
) -> None:
    project.write(CANARY)
    code, report = project.run()
    assert code == 0, report
    assert set(turns(report).values()) == {"updated"}
    assert {project.read(h, "version") for h in HOSTS} == {"2.0"}
    assert project.status()["state"] == "finished"
    code, report = project.run()
    assert code == 0, report
    version = [s for h in report["hosts"] for s in h["steps"] if s["name"] == "version"]
    assert {s["outcome"] for s in version} == {"ok"}, version  # its `unless` holds


def test_max_fail_percentage_of_the_hosts_attempted_halts_before_the_next_batch(
    project: Project,
) -> None:
    project.write({**CANARY, "max_fail_percentage": 20}, bad_on=("h2",))
    code, report = project.run()
    assert code != 0
    found = turns(report)
    # batch 2 (h2, h3): h2 fails, 1 of 3 attempted = 33% > 20%: batch 3 never starts
    assert found["h1"] == "updated" and found["h2"] == "rolled back" and found["h3"] == "updated"
    assert [found[h] for h in HOSTS[3:]] == ["skipped"] * 3, found


def test_a_pause_waits_for_continue(project: Project) -> None:
    project.write({**CANARY, "pause_after": [1]})
    _code, report = project.run()
    found = turns(report)
    assert found["h1"] == "updated"
    assert project.status()["state"] == "paused"
    assert all(project.read(h, "version") == "1.0" for h in HOSTS[1:])
    refused = project.jarvisctl("rollout", "resume", "last")
    assert refused.returncode == 2 and "continue" in refused.stderr, refused.stderr
    done = project.jarvisctl("rollout", "continue", "last", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert {project.read(h, "version") for h in HOSTS} == {"2.0"}
    assert project.status()["state"] == "finished"


def test_wait_for_holds_a_hot_host_until_it_cools(project: Project) -> None:
    (project.app("h1") / "temp").write_text("85\n")
    project.write({**CANARY, "wait_for": ["cool enough"], "wait_timeout": "30s"})

    def cool() -> None:
        time.sleep(3)
        (project.app("h1") / "temp").write_text("50\n")

    cooling = threading.Thread(target=cool)
    cooling.start()
    started = time.monotonic()
    code, report = project.run()
    cooling.join()
    assert code == 0, report
    assert turns(report)["h1"] == "updated"
    assert time.monotonic() - started >= 3  # it was held, not forced
    gates = [e for e in report.get("events", []) if e.get("kind") == "gate"]
    assert gates == [] or any(not g["passed"] for g in gates)


def test_a_host_still_hot_at_wait_timeout_is_deferred_never_forced(project: Project) -> None:
    (project.app("h3") / "temp").write_text("90\n")
    project.write({**CANARY, "wait_for": ["cool enough"], "wait_timeout": "1s"})
    _code, report = project.run()
    found = turns(report)
    assert found["h3"] == "deferred", found
    assert project.read("h3", "version") == "1.0"
    assert project.status()["state"] == "deferred"
    (project.app("h3") / "temp").write_text("40\n")
    done = project.jarvisctl("rollout", "resume", "last", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert project.read("h3", "version") == "2.0"
    assert project.status()["state"] == "finished"


def test_check_mode_changes_nothing_and_records_no_rollout(project: Project) -> None:
    project.write(CANARY)
    _code, report = project.run("--check")
    assert {project.read(h, "version") for h in HOSTS} == {"1.0"}
    steps = [s for h in report["hosts"] for s in h["steps"]]
    assert {s["outcome"] for s in steps if s["name"] == "version"} == {"would change"}
    listed = project.jarvisctl("rollout", "list", "--json")
    assert json.loads(listed.stdout) == []


def test_a_once_step_in_flight_when_the_controller_died_waits_for_a_decision(
    project: Project,
) -> None:
    migrate = (
        "echo x >> {{ app_dir }}/migrated; "
        "if [ -f {{ app_dir }}/slow ]; then rm {{ app_dir }}/slow; sleep 30; fi"
    )
    steps = [{"name": "migrate", "once": True, "run": migrate}]
    (project.app("h1") / "slow").write_text("")  # the canary's migration is long: killed in it
    project.write(CANARY, steps=steps)
    running = subprocess.Popen(
        [sys.executable, "-m", "jarvisctl", "run", PLAYBOOK],
        cwd=project.root,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not (project.app("h1") / "migrated").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    running.kill()
    running.wait(timeout=30)
    done = project.jarvisctl("rollout", "resume", "last", "--json")
    report = json.loads(done.stdout)
    assert turns(report)["h1"] == "skipped", report
    assert project.read("h1", "migrated") == "x"  # never repeated
    hosts = {h["host"]: h for batch in project.status()["batch_hosts"] for h in batch}
    assert hosts["h1"]["state"] == "decision", hosts["h1"]
    refused = project.jarvisctl("rollout", "resume", "last", "--done", "h2")
    assert refused.returncode == 2 and "not waiting for a decision" in refused.stderr
    # the operator checked: the migration did complete; h1 goes on after it, never repeating it
    done = project.jarvisctl("rollout", "resume", "last", "--done", "h1", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert turns(json.loads(done.stdout))["h1"] == "updated"
    assert project.read("h1", "migrated") == "x" and project.read("h1", "version") == "2.0"
    assert project.status()["state"] == "finished"


def test_the_daemon_finishes_a_deferred_rollout_when_its_run_reaches_the_host(
    project: Project,
) -> None:
    from datetime import datetime, timezone

    from jarvisctl.app.run import RunContext
    from jarvisctl.config.project import load_project
    from jarvisctl.core.events import NullSink
    from jarvisctl.core.results import HostRun, Outcome, RunReport
    from jarvisctl.daemon.logs import EventLog
    from jarvisctl.daemon.rollouts import finish_deferred

    (project.app("h3") / "temp").write_text("90\n")
    project.write({**CANARY, "wait_for": ["cool enough"], "wait_timeout": "1s"})
    project.run()
    assert project.status()["state"] == "deferred"
    (project.app("h3") / "temp").write_text("40\n")
    now = datetime.now(timezone.utc)
    lines = io.StringIO()
    log = EventLog(lines)
    cwd = os.getcwd()
    os.chdir(project.root)
    try:
        loaded = load_project(start=project.root)
        context = RunContext(events=NullSink())

        def seen(*hosts: str) -> RunReport:
            runs = tuple(HostRun(h, "health", "local", Outcome.OK) for h in hosts)
            return RunReport("r", "run", now, now, runs)

        # a run that did not reach h3 resumes nothing
        assert finish_deferred(loaded, seen("h1", "h2"), lambda _: context, log) == []
        # a run of the rollout's own play (its hosts skipped while it waits) tries h3 again:
        # still hot, it is deferred again
        (project.app("h3") / "temp").write_text("90\n")
        skipped = RunReport("r", "run", now, now, (HostRun("h1", "app", "local", Outcome.SKIPPED),))
        assert len(finish_deferred(loaded, skipped, lambda _: context, log)) == 1
        assert project.status()["state"] == "deferred"  # tried, still held: deferred again
        (project.app("h3") / "temp").write_text("40\n")
        resumed = finish_deferred(loaded, seen("h3"), lambda _: context, log)
    finally:
        os.chdir(cwd)
    assert len(resumed) == 1, lines.getvalue()
    assert project.read("h3", "version") == "2.0"
    assert project.status()["state"] == "finished"
    assert "rollout_resumed" in lines.getvalue()


def test_a_gate_the_run_s_own_checks_already_pass_is_not_looked_at_again(
    project: Project,
) -> None:
    project.write(CANARY)
    code, report = project.run()
    assert code == 0, report
    journal = project.root / "state" / "runs" / f"{report['run_id']}.jsonl"
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    batches = [r["data"]["purpose"] for r in records if r["kind"] == "batch"]
    # each host: its checks once, and its gate after the steps; never a second look before
    assert batches.count("checks") == len(HOSTS)
    assert batches.count("gate before") == 0, batches
    assert batches.count("gate after") == len(HOSTS), batches
    before = [r["data"] for r in records if r["kind"] == "gate" and r["data"]["when"] == "before"]
    assert len(before) == len(HOSTS) and all(g["passed"] for g in before), before
    # each host's session in the document lasts its whole turn, steps included
    for host in report["hosts"]:
        steps = sum(s["seconds"] for s in host["steps"])
        assert host["seconds"] >= steps, host


def test_a_rollout_play_s_tasks_run_before_each_turn_and_a_failed_one_stops_it(
    project: Project,
) -> None:
    project.write(CANARY)
    playbook = project.root / PLAYBOOK
    plays = yaml.safe_load(playbook.read_text())
    plays[0]["tasks"] = [
        {"name": "prepare", "run": "echo x >> {{ app_dir }}/prepared && test -f {{ app_dir }}/ok"}
    ]
    playbook.write_text(yaml.safe_dump(plays, sort_keys=False))
    code, report = project.run()
    assert code != 0
    found = turns(report)
    # h1's task failed: its turn never started, it counts as failed, the rollout halts
    assert found["h1"] == "skipped" and "before its turn" in report["hosts"][0]["rollout"]["reason"]
    assert project.read("h1", "version") == "1.0"
    assert all(found[h] == "skipped" for h in HOSTS[1:]), found
    assert project.status()["state"] == "halted"
    for host in HOSTS:
        (project.app(host) / "ok").write_text("")
    code, report = project.run()
    assert code == 0, report
    assert set(turns(report).values()) == {"updated"}
    phases = [s["phase"] for s in report["hosts"][0]["steps"]]
    assert phases == ["task", "step", "step"], phases


def test_continue_does_not_pause_again_after_a_batch_it_paused_after(project: Project) -> None:
    (project.app("h1") / "temp").write_text("90\n")
    project.write({**CANARY, "pause_after": [1], "wait_for": ["cool enough"], "wait_timeout": "1s"})
    _, report = project.run()
    assert turns(report)["h1"] == "deferred"
    assert project.status()["state"] == "paused"
    (project.app("h1") / "temp").write_text("40\n")
    done = project.jarvisctl("rollout", "continue", "last", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    # the canary, back from deferred, and every later batch: no second pause after batch 1
    assert {project.read(h, "version") for h in HOSTS} == {"2.0"}
    assert project.status()["state"] == "finished"


def test_a_rollout_started_with_tags_is_continued_with_the_same_steps(project: Project) -> None:
    extra = [{"name": "unrelated", "run": "echo x >> {{ app_dir }}/unrelated", "tags": ["other"]}]
    project.write({**CANARY, "pause_after": [1]}, steps=extra)
    playbook = project.root / PLAYBOOK
    plays = yaml.safe_load(playbook.read_text())
    for step in plays[0]["rollout"]["steps"][1:]:
        step["tags"] = ["update"]
    playbook.write_text(yaml.safe_dump(plays, sort_keys=False))
    _, report = project.run("--tags", "update")
    assert turns(report)["h1"] == "updated", report
    assert project.status()["state"] == "paused"
    done = project.jarvisctl("rollout", "continue", "last", "--json")
    # planned again with --tags update: the same steps, so not refused as a changed plan
    assert done.returncode == 0, done.stdout + done.stderr
    assert {project.read(h, "version") for h in HOSTS} == {"2.0"}
    assert not any((project.app(h) / "unrelated").exists() for h in HOSTS)
