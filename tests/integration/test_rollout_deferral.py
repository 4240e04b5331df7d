"""A deferred host's `defer_for`, on local hosts (tests/integration/test_rollout_local.py's
project): its deadline is set when it is first deferred and kept when it is tried again and
deferred again; once it has passed, the host ends failed, saying it never came back, and the
rollout does not read as a clean "finished" in `rollout list`, `rollout status` and their
--json; the daemon closes out such a rollout without waiting for the host."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

import pytest

from tests.integration.test_rollout_local import CANARY, Project, turns

HOT = "h3"  # in batch 2


@pytest.fixture
def project(tmp_path: Any) -> Project:
    return Project(tmp_path / "project")


def host_status(project: Project, name: str) -> dict[str, Any]:
    status = project.status()
    found: dict[str, Any] = next(
        h for batch in status["batch_hosts"] for h in batch if h["host"] == name
    )
    return found


def deferred_hot(project: Project, **rollout: Any) -> float:
    """A run in which HOT is held by wait_for, then deferred; its deadline (epoch seconds)."""
    (project.app(HOT) / "temp").write_text("90\n")
    project.write({**CANARY, "wait_for": ["cool enough"], "wait_timeout": "1s", **rollout})
    _code, report = project.run()
    assert turns(report)[HOT] == "deferred", report
    assert project.status()["state"] == "deferred"
    until = host_status(project, HOT)["deferred_until"]
    return datetime.fromisoformat(until).timestamp()


def wait_past(deadline: float) -> None:
    left = deadline - time.time()
    assert left < 10, "the test's defer_for is short"
    time.sleep(max(0.0, left) + 0.2)


def test_a_host_deferred_past_defer_for_ends_failed_and_the_rollout_halts(
    project: Project,
) -> None:
    deadline = deferred_hot(project, defer_for="2s")
    wait_past(deadline)
    (project.app(HOT) / "temp").write_text("40\n")  # back now, but too late
    done = project.jarvisctl("rollout", "resume", "last", "--json")
    assert done.returncode != 0, done.stdout + done.stderr
    assert project.read(HOT, "version") == "1.0"  # not started after its deadline
    host = host_status(project, HOT)
    assert (host["state"], host["failed"]) == ("skipped", True), host
    assert host["reason"].startswith("deferred for more than 2s: never came back"), host
    run = json.loads(done.stdout)
    (mine,) = [h for h in run["hosts"] if h["host"] == HOT]
    assert mine["rollout"]["turn"] == "skipped" and "never came back" in mine["rollout"]["reason"]
    # any failure halts by default (max_fail_percentage 0): the rollout says so, naming it
    status = project.status()
    assert status["state"] == "halted", status
    assert HOT in status["reason"] and "never came back" in status["reason"], status
    assert status["failed"] == 1
    listed = project.jarvisctl("rollout", "list", "--json")
    (summary,) = json.loads(listed.stdout)
    assert (summary["state"], summary["failed"]) == ("halted", 1), summary
    table = project.jarvisctl("rollout", "list").stdout
    assert " halted " in table and "1 counted as failed" in table, table
    text = project.jarvisctl("rollout", "status", "last").stdout
    assert "never came back" in text and "finished" not in text.splitlines()[0], text


def test_within_max_fail_percentage_it_finishes_saying_which_host_failed(
    project: Project,
) -> None:
    deadline = deferred_hot(project, defer_for="2s", max_fail_percentage=50)
    wait_past(deadline)
    done = project.jarvisctl("rollout", "resume", "last")
    assert done.returncode != 0, done.stdout + done.stderr
    status = project.status()
    assert status["state"] == "finished", status
    assert status["reason"].startswith("1 of 6 hosts counted as failed"), status
    assert f"{HOT}: deferred for more than 2s: never came back" in status["reason"], status
    listed = project.jarvisctl("rollout", "list").stdout
    assert "1 counted as failed" in listed, listed
    text = project.jarvisctl("rollout", "status", "last").stdout.splitlines()[0]
    assert "finished: 1 of 6 hosts counted as failed" in text, text


def test_a_host_deferred_again_keeps_the_deadline_of_its_first_deferral(
    project: Project,
) -> None:
    deadline = deferred_hot(project, defer_for="1h")
    done = project.jarvisctl("rollout", "resume", "last")  # still hot: deferred again
    assert "deferred" in done.stdout, done.stdout + done.stderr
    host = host_status(project, HOT)
    assert host["state"] == "deferred"
    assert datetime.fromisoformat(host["deferred_until"]).timestamp() == deadline


def test_the_daemon_closes_out_a_rollout_whose_deferred_host_never_came_back(
    project: Project,
) -> None:
    from jarvisctl.config.project import load_project
    from jarvisctl.daemon.rollouts import waiting_for

    deadline = deferred_hot(project, defer_for="1h")
    config = load_project(project.root / "jarvisctl.yml")
    rollout = project.status()["id"]
    assert waiting_for(config, set(), time.time()) == {}  # not back, not expired: left alone
    assert waiting_for(config, set(), deadline + 1) == {rollout: [HOT]}
