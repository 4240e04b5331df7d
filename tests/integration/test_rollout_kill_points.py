"""A controller killed between two of a rollout's store writes: the host's end is written, the
rollout's own decision after it (halted, paused after the batch) is not. `rollout resume` must
take that decision itself, never start hosts the rollout had decided not to start. The kill is
made exact by putting the store back as it was at that moment (the writes are in this order:
engine/rollout_book.py); the same rules with real kills: tests/e2e/test_rollout_fleet.py."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

import pytest

from jarvisctl.app.run import RunContext, RunRequest, plan_request, run_playbooks
from jarvisctl.config.project import load_project
from jarvisctl.core.events import NullSink
from jarvisctl.store.factory import open_store
from jarvisctl.store.rollouts import HostState, RolloutState
from tests.integration.test_rollout_local import CANARY, HOSTS, Project


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path / "project")


def _killed_before(root: Path, *, batch: int, pending: tuple[str, ...]) -> str:
    """The last rollout as a controller killed right after its last host's end left it: still
    running, `batch` the last batch recorded, `pending` hosts not started."""
    with open_store(root / "state") as store:
        rollout = store.rollouts.get("last")
        store.rollouts.update(
            rollout.id, state=RolloutState.RUNNING, batch=batch, reason="", at=time.time()
        )
        for host in pending:
            store.rollouts.set_host(rollout.id, host, HostState.PENDING, at=time.time())
        return rollout.id


def test_a_halt_not_yet_written_when_the_controller_died_is_not_forgotten_by_resume(
    project: Project,
) -> None:
    project.write(CANARY, bad_on=("h1",))
    code, _report = project.run()
    assert code != 0 and project.status()["state"] == "halted"
    # killed after h1's end (rolled back, failed) was written, before the halt was
    _killed_before(project.root, batch=0, pending=HOSTS[1:])
    done = project.jarvisctl("rollout", "resume", "last", "--json")
    assert [project.read(h, "version") for h in HOSTS[1:]] == ["1.0"] * 5, done.stdout
    assert project.status()["state"] == "halted"


def test_a_pause_not_yet_written_when_the_controller_died_is_not_skipped_by_resume(
    project: Project,
) -> None:
    project.write({**CANARY, "pause_after": [1]})
    project.run()
    assert project.status()["state"] == "paused"
    # killed after h1's end (updated) was written, before batch 1 was recorded finished
    _killed_before(project.root, batch=0, pending=())
    done = project.jarvisctl("rollout", "resume", "last", "--json")
    assert [project.read(h, "version") for h in HOSTS[1:]] == ["1.0"] * 5, done.stdout
    assert project.status()["state"] == "paused"
    # and `continue` goes on from there, without pausing again after batch 1
    done = project.jarvisctl("rollout", "continue", "last", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert {project.read(h, "version") for h in HOSTS} == {"2.0"}
    assert project.status()["state"] == "finished"


def test_a_rollout_that_ended_while_a_resume_waited_for_its_lease_is_not_run_again(
    project: Project,
) -> None:
    """`rollout resume` checks the state, then the engine takes the lease: a rollout halted or
    aborted in between (by the controller holding it) must not be set running again."""
    project.write(CANARY, bad_on=("h1",))
    project.run()
    assert project.status()["state"] == "halted"
    with open_store(project.root / "state") as store:
        rollout = store.rollouts.get("last")
        # a host still in flight when the rollout halted (killed, then aborted by an operator)
        store.rollouts.set_host(
            rollout.id, "h2", HostState.IN_FLIGHT, at=time.time(), phase="step", step=0
        )
    loaded = load_project(start=project.root)
    context = RunContext(events=NullSink())
    request = RunRequest(
        playbooks=(project.root / "rollout.yml",), play="app", resume_rollout=rollout.id
    )
    cwd = os.getcwd()
    os.chdir(project.root)
    try:
        plan = plan_request(loaded, request, context.secrets)
        run_playbooks(loaded, replace(request, plan=plan), context)
    finally:
        os.chdir(cwd)
    assert project.read("h2", "version") == "1.0"
    assert project.status()["state"] == "halted"
