"""The recap and the reports of a real rollout on `connection: local` hosts count its hosts by
how their turn ended (the project of tests/integration/test_rollout_local.py)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.test_rollout_local import CANARY, Project


def test_a_halted_rollout_is_counted_in_the_recap_and_the_report(tmp_path: Path) -> None:
    project = Project(tmp_path / "project")
    # batches [1, 2, 100%]: h2 fails in batch 2 (1 of 3 attempted > 20%): batch 3 never starts
    project.write({**CANARY, "max_fail_percentage": 20}, bad_on=("h2",))
    done = project.jarvisctl("run", "rollout.yml", "--report", "report.md")
    assert done.returncode != 0
    status = project.status()
    assert status["state"] == "halted"
    rollout = status["id"]
    counts = "2 updated, 0 unchanged, 1 rolled back, 0 rollback failed, 0 deferred, 3 skipped"
    assert done.stdout.split("ROLLOUTS\n")[1].splitlines()[0] == f"  {rollout}  [app]  {counts}"
    report = (project.root / "report.md").read_text()
    row = f"| {rollout} | app | halted: {status['reason']} | 2 | 0 | 1 | 0 | 0 | 3 | 0 |"
    assert row in report, report


def test_a_rollout_hosts_seconds_hold_its_whole_turn(tmp_path: Path) -> None:
    """A host's seconds (run --json, and the report rebuilt from the journal) include its
    turn: never less than its steps' own seconds (bench18: 0.019 s against a 0.2 s turn)."""
    project = Project(tmp_path / "project")
    project.write(CANARY, steps=[{"name": "slow", "run": "sleep 0.3"}])
    code, report = project.run()
    assert code == 0, report
    done = project.jarvisctl("report", "last", "--format", "json")
    assert done.returncode == 0, done.stderr
    for document in (report, json.loads(done.stdout)):
        for host in document["hosts"]:
            assert host["rollout"]["turn"] == "updated", host
            steps = sum(s["seconds"] for s in host["steps"])
            assert steps >= 0.3  # the sleep
            assert host["seconds"] >= steps - 0.001, host  # (rounded to ms, steps to 0.1 ms)
