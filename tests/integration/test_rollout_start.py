"""Starting a rollout, on local hosts (tests/integration/test_rollout_local.py's project): a run
of a play whose rollout has not ended starts no other one, saying which rollout to go on with
or abort; and two `jarvisctl run` of the play started at the same moment record one rollout,
the other run refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_rollout_local import CANARY, HOSTS, PLAYBOOK, Project, turns


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path / "project")


def rollouts(project: Project) -> list[dict[str, Any]]:
    listed = project.jarvisctl("rollout", "list", "--json")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    found: list[dict[str, Any]] = json.loads(listed.stdout)
    return found


def test_a_run_while_the_plays_rollout_is_paused_starts_none_and_says_which(
    project: Project,
) -> None:
    project.write({**CANARY, "pause_after": [1]})
    project.run()
    (paused,) = rollouts(project)
    assert paused["state"] == "paused"
    code, report = project.run()
    assert code == 8, report  # its hosts were skipped
    reasons = {h["host"]: h["error"] for h in report["hosts"]}
    assert set(reasons) == set(HOSTS)
    for reason in reasons.values():
        assert f"rollout {paused['id']} of this play" in reason and "is paused" in reason
        assert f"`jarvisctl rollout continue {paused['id']}`" in reason, reason
        assert f"`jarvisctl rollout abort {paused['id']}`" in reason, reason
    assert [r["id"] for r in rollouts(project)] == [paused["id"]]
    assert {project.read(h, "version") for h in HOSTS[1:]} == {"1.0"}


def test_two_runs_of_the_play_started_at_once_record_one_rollout(project: Project) -> None:
    # each host's turn lasts a second at least: the two runs overlap, whichever starts first
    project.write({"batches": [2, "100%"]}, steps=[{"name": "slow", "run": "sleep 1"}])
    argv = [sys.executable, "-m", "jarvisctl", "run", PLAYBOOK, "--json"]
    racing = [
        subprocess.Popen(
            argv,
            cwd=project.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            stdin=subprocess.DEVNULL,
            env=dict(os.environ),
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120) for run in racing]
    for _, stderr in outputs:
        assert "Traceback" not in stderr, stderr
    (started,) = rollouts(project)
    assert started["state"] == "finished", started
    reports = [document(stdout, stderr) for stdout, stderr in outputs]
    worked = [r for r in reports if turns(r)]
    assert len(worked) == 1, reports
    assert set(turns(worked[0]).values()) == {"updated"}
    (refused,) = [r for r in reports if r is not worked[0]]
    # the other run did nothing: its hosts were held by the first run's leases, or the play
    # had a rollout already (then named)
    for host in refused["hosts"]:
        assert host["outcome"] == "skipped", host
        error = host["error"]
        assert error.startswith("leased by cli run ") or f"rollout {started['id']}" in error, error
    assert {project.read(h, "version") for h in HOSTS} == {"2.0"}


def document(stdout: str, stderr: str) -> dict[str, Any]:
    try:
        found: dict[str, Any] = json.loads(stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"not a run document:\n{stdout}\n{stderr}") from None
    return found
