"""A rollout step that fails with steps after it: those are skipped (never started, so never
recorded finished), and the host runs its rollback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.test_rollout_local import Project, turns


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path / "project")


def test_a_failed_step_followed_by_others_is_rolled_back(project: Project) -> None:
    project.write({"batches": [1]}, steps=[{"name": "breaks", "run": "exit 1"}])
    code, report = project.run()
    assert code != 0
    found = turns(report)
    assert found["h1"] == "rolled back", report["hosts"][0]
    h1 = next(h for h in report["hosts"] if h["host"] == "h1")
    outcomes = {(s["phase"], s["name"]): s["outcome"] for s in h1["steps"]}
    assert outcomes[("step", "breaks")] == "failed"
    assert outcomes[("step", "version")] == "skipped"
    assert outcomes[("rollback", "old version")] == "changed"
    status = project.status()
    h1_status = next(h for b in status["batch_hosts"] for h in b if h["host"] == "h1")
    assert h1_status["state"] == "rolled back", h1_status


def test_a_failed_step_asks_once_whether_the_host_is_still_there(project: Project) -> None:
    """Before its rollback, a host whose step failed is asked once whether it still answers
    (a host gone away could not run its rollback): one recorded command, not one per look."""
    project.write({"batches": [1]}, steps=[{"name": "breaks", "run": "exit 1"}])
    code, report = project.run()
    assert code != 0 and turns(report)["h1"] == "rolled back"
    (journal,) = (project.root / "state" / "runs").glob("*.jsonl")
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    asked = [
        r
        for r in records
        if r["kind"] == "command" and r["data"]["purpose"] == "reachable" and r["host"] == "h1"
    ]
    assert [r["data"]["command"] for r in asked] == ["true"]
