"""The daemon's jobs fire with their part of one plan of the project's playbooks, made at start
and on SIGHUP: a fire loads no playbook again while the files it was made from are unchanged,
and an edit still counts at the next fire without SIGHUP (planned once, for every job)."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from jarvisctl.app.plan_inputs import plan_inputs
from jarvisctl.app.run import RunContext, RunRequest, plan_request
from jarvisctl.app.schedules import plan_schedule, playbook_files
from jarvisctl.config.playbooks import LoadedPlaybook, load_playbook
from jarvisctl.config.project import Project, load_project
from jarvisctl.core.results import HostRun, Outcome, RunReport
from jarvisctl.core.secrets import SecretValues
from jarvisctl.daemon.logs import EventLog
from jarvisctl.daemon.service import Daemon
from jarvisctl.plan.model import Plan

PLAYS = """\
- name: tick
  hosts: all
  schedule: {every: 1h}
  checks:
    - {name: up, use: uptime, warn: 20, crit: 10}
- name: tock
  hosts: all
  schedule: {every: 2h}
  checks:
    - {use: disk_usage, with: {path: /}}
"""
OTHER = """\
- name: other
  hosts: all
  schedule: "0 3 * * *"
  checks:
    - use: uptime
"""


@dataclass
class Loads:
    """Counts the playbooks the planner loads."""

    files: list[Path] = field(default_factory=list)

    def __call__(self, path: Path) -> LoadedPlaybook:
        self.files.append(path)
        return load_playbook(path)


@dataclass
class Runs:
    requests: list[RunRequest] = field(default_factory=list)

    def __call__(self, project: Project, request: RunRequest, context: RunContext) -> RunReport:
        self.requests.append(request)
        now = datetime.now(timezone.utc)
        host = HostRun("localhost", request.play or "", "local", Outcome.OK)
        return RunReport("run-1", "run", now, now, (host,))


@dataclass
class Harness:
    root: Path
    daemon: Daemon
    runs: Runs
    loads: Loads

    def fire(self, play: str) -> Plan:
        """Fire the job of `play`; the plan its run was given."""
        job = next(j for j in self.daemon.specs if j.play == play)
        when = datetime.now(timezone.utc)
        assert self.daemon.runtime.run_job(job.id, str(job.playbook), job.play, when) == "ok"
        plan = self.runs.requests[-1].plan
        assert plan is not None
        return plan

    def fresh(self, play: str) -> Plan:
        """The plan a fire made before: the job's playbook planned from the files."""
        job = next(j for j in self.daemon.specs if j.play == play)
        request = RunRequest(playbooks=(job.playbook,), play=play, source="daemon")
        return plan_request(self.daemon.runtime.project, request, SecretValues())


@pytest.fixture
def harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "playbooks" / "site.yml").write_text(PLAYS)
    (tmp_path / "playbooks" / "other.yml").write_text(OTHER)
    (tmp_path / "jarvisctl.yml").write_text("playbooks: [playbooks]\n")
    loads = Loads()
    monkeypatch.setattr("jarvisctl.plan.planner.load_playbook", loads)
    project = load_project(tmp_path / "jarvisctl.yml")
    runs = Runs()
    daemon = Daemon(project, EventLog(io.StringIO(), "json"), run=runs)
    daemon.load(plan_schedule(project, secrets=daemon.secrets))
    yield Harness(tmp_path, daemon, runs, loads)
    daemon.scheduler.shutdown(wait=False)


def resolved(plan: Plan) -> list[tuple[str, str, Any, Any]]:
    """What a run executes (not when the plan was made, nor its next fire times)."""
    return [(b.file, p.name, p.location, p.hosts) for b in plan.playbooks for p in b.plays]


def test_a_fire_loads_no_playbook_and_runs_what_a_fresh_plan_would(harness: Harness) -> None:
    assert len(harness.loads.files) == 2  # the start: one plan of both files
    for play in ("tick", "tock", "tick"):
        loaded = len(harness.loads.files)
        planned = harness.fire(play)
        assert harness.loads.files[loaded:] == [], "a fire loaded a playbook again"
        assert resolved(planned) == resolved(harness.fresh(play))
    request = harness.runs.requests[-1]
    assert not any(a.startswith("--last-good-plan=") for a in request.arguments)
    assert not harness.daemon.runtime.health.faults()


def test_an_edit_counts_at_the_next_fire_and_is_planned_once(harness: Harness) -> None:
    site = harness.root / "playbooks" / "site.yml"
    site.write_text(PLAYS.replace("warn: 20, crit: 10", "warn: 21, crit: 10"))
    before = len(harness.loads.files)
    planned = harness.fire("tick")
    (check,) = planned.playbooks[0].plays[0].hosts[0].checks
    assert check.warn is not None and check.warn.value == 21
    assert len(harness.loads.files) > before
    after = len(harness.loads.files)
    harness.fire("tock")
    harness.fire("other")
    assert len(harness.loads.files) == after, "the edit was planned again at each fire"


def test_a_job_fires_with_its_own_play_only(harness: Harness) -> None:
    planned = harness.fire("other")
    (book,) = planned.playbooks
    assert book.file.endswith("playbooks/other.yml") and [p.name for p in book.plays] == ["other"]


def test_an_inventory_script_is_run_at_each_fire(harness: Harness) -> None:
    script = harness.root / "inventory.sh"
    script.write_text('#!/bin/sh\necho \'{"all": {"hosts": ["web-1"]}}\'\n')
    script.chmod(0o755)
    (harness.root / "jarvisctl.yml").write_text("playbooks: [playbooks]\ninventory: inventory.sh\n")
    assert harness.daemon.reload()
    before = len(harness.loads.files)
    for _ in range(2):
        planned = harness.fire("tick")
        assert [h.host for h in planned.playbooks[0].plays[0].hosts] == ["web-1"]
    assert len(harness.loads.files) > before + 1, "its hosts can change without an edit"


def digest(root: Path) -> str | None:
    project = load_project(root / "jarvisctl.yml")
    return plan_inputs(project, playbook_files(project))


@pytest.mark.parametrize(
    "change",
    [
        "playbooks/site.yml",  # an edit
        "playbooks/new.yml",  # a new playbook
        "checks/mine.yml",  # a catalogue entry appears
        "playbooks/checks/mine.yml",  # ... beside the playbooks
        "group_vars/all.yml",  # the inventory's variables
        "inventory.yml",
    ],
)
def test_what_a_plan_reads_changes_its_inputs(harness: Harness, change: str) -> None:
    (harness.root / "inventory.yml").write_text("all: {hosts: {localhost: {}}}\n")
    config = "playbooks: [playbooks]\ninventory: inventory.yml\n"
    (harness.root / "jarvisctl.yml").write_text(config)
    before = digest(harness.root)
    assert before is not None and digest(harness.root) == before
    path = harness.root / change
    path.parent.mkdir(exist_ok=True)
    with path.open("a") as handle:
        handle.write("# changed\n")
    assert digest(harness.root) not in (before, None)


def test_the_runs_own_records_do_not_change_the_inputs(harness: Harness) -> None:
    before = digest(harness.root)
    state = harness.root / ".jarvisctl"
    (state / "runs").mkdir(parents=True, exist_ok=True)
    (state / "runs" / "r.jsonl").write_text("{}\n")
    assert digest(harness.root) == before


def test_a_template_reading_a_file_has_no_digest(harness: Harness) -> None:
    (harness.root / "playbooks" / "site.yml").write_text(
        PLAYS.replace("path: /", "path: \"{{ secret_file('disk') }}\"")
    )
    assert digest(harness.root) is None
    os.remove(harness.root / "playbooks" / "site.yml")
    assert digest(harness.root) is not None


def test_hostile_files_among_the_inputs_neither_hang_nor_loop(harness: Harness) -> None:
    checks = harness.root / "checks"
    checks.mkdir()
    os.mkfifo(checks / "pipe.yml")  # opened, it would block the daemon
    (checks / "loop.yml").symlink_to(checks / "loop.yml")
    (checks / "again").symlink_to(checks)  # a folder holding itself
    before = digest(harness.root)
    assert before is not None and digest(harness.root) == before
    (checks / "pipe.yml").unlink()
    assert digest(harness.root) != before
