"""`jarvisctl rollout continue|resume|abort --rollback` on local hosts: a rollout paused after
its canary goes on with the next batch when continued (each step ran once on each host), resume
refuses a paused one and says to continue, and abort --rollback rolls back the canary."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from jarvisctl.cli.main import cli
from jarvisctl.store.factory import open_store
from jarvisctl.store.rollouts import HostState, RolloutState
from tests.step_kinds import step_kinds  # noqa: F401  (the fixture)

HOSTS = ("h1", "h2", "h3")
T1 = 1_796_400_000.0


def playbook(counters: Path) -> str:
    return f"""\
- name: upgrade
  hosts: all
  rollout:
    batches: [1, 2]
    pause_after: [1]
    steps:
      - sh: echo step >> {counters}/{{{{ inventory_hostname }}}}
    rollback:
      - sh: echo rollback >> {counters}/{{{{ inventory_hostname }}}}
"""


@pytest.fixture
def project(tmp_path: Path, step_kinds: None) -> Path:  # noqa: F811
    counters = tmp_path / "counters"
    counters.mkdir()
    hosts = "".join(f"    {h}: {{ansible_connection: local}}\n" for h in HOSTS)
    (tmp_path / "inventory.yml").write_text("all:\n  hosts:\n" + hosts)
    (tmp_path / "site.yml").write_text(playbook(counters))
    (tmp_path / "jarvisctl.yml").write_text("inventory: inventory.yml\n")
    return tmp_path


def jarvisctl(project: Path, *args: str) -> Result:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        return CliRunner().invoke(cli, [*args, "-c", str(project / "jarvisctl.yml")])


def counted(project: Path) -> dict[str, list[str]]:
    files = sorted((project / "counters").iterdir())
    return {f.name: f.read_text().split() for f in files}


def paused(project: Path) -> str:
    started = jarvisctl(project, "run", "site.yml")
    assert started.exit_code == 8, started.output  # the hosts after the pause are skipped
    rollout = open_store(project / ".jarvisctl").rollouts.get("last")
    assert rollout.state is RolloutState.PAUSED, rollout
    assert counted(project) == {"h1": ["step"]}
    return rollout.id


def test_continue_goes_on_with_the_next_batch_and_repeats_nothing(project: Path) -> None:
    rid = paused(project)
    done = jarvisctl(project, "rollout", "continue", "last")
    assert done.exit_code == 0, done.output
    assert counted(project) == {"h1": ["step"], "h2": ["step"], "h3": ["step"]}
    rollouts = open_store(project / ".jarvisctl").rollouts
    assert rollouts.get(rid).state is RolloutState.FINISHED
    assert {h.host: h.state for h in rollouts.hosts(rid)} == dict.fromkeys(HOSTS, HostState.UPDATED)
    status = jarvisctl(project, "rollout", "status", rid, "--json")
    assert json.loads(status.output)["counts"]["updated"] == 3
    again = jarvisctl(project, "rollout", "continue", rid)
    assert again.exit_code == 2
    assert f"rollout {rid} has already ended: finished at " in again.stderr


def at(when: float) -> str:
    return datetime.fromtimestamp(when, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def test_continue_or_resume_of_an_ended_rollout_says_which_state_and_when(project: Path) -> None:
    rid = paused(project)
    assert jarvisctl(project, "rollout", "abort", rid).exit_code == 0
    ended = open_store(project / ".jarvisctl").rollouts.get(rid)
    for verb in ("continue", "resume"):
        again = jarvisctl(project, "rollout", verb, rid)
        assert again.exit_code == 2, again.output
        assert again.stderr == (
            f"error: rollout {rid} has already ended: aborted at {at(ended.updated_at)} "
            f"({ended.reason}); there is nothing to {verb} (a new `jarvisctl run` of its "
            "play starts a new rollout)\n"
        )
    assert counted(project) == {"h1": ["step"]}


def test_a_rollout_ended_by_another_controller_before_the_continue_held_it(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`continue` looks at the rollout (paused), then plans its play; meanwhile another
    controller halts it. Under the rollout's lease the run finds it ended: it does nothing, and
    says so plainly, exiting 2 (not 8, with every host 'skipped')."""
    import jarvisctl.app.rollout_run as rollout_run

    rid = paused(project)
    plan_request = rollout_run.plan_request

    def planned_while_another_ends_it(*args: Any, **kwargs: Any) -> Any:
        rollouts = open_store(project / ".jarvisctl").rollouts
        rollouts.update(rid, state=RolloutState.HALTED, reason="by another controller", at=T1)
        return plan_request(*args, **kwargs)

    monkeypatch.setattr(rollout_run, "plan_request", planned_while_another_ends_it)
    done = jarvisctl(project, "rollout", "continue", rid)
    assert done.exit_code == 2, done.output
    assert done.stderr.startswith(
        f"error: rollout {rid} has already ended: halted at {at(T1)} (by another "
        "controller); there was nothing to continue: run "
    ), done.stderr
    assert counted(project) == {"h1": ["step"]}  # nothing ran
    rollout = open_store(project / ".jarvisctl").rollouts.get(rid)
    assert rollout.state is RolloutState.HALTED and rollout.run_id != ""


def test_resume_of_a_paused_rollout_says_to_continue(project: Path) -> None:
    rid = paused(project)
    done = jarvisctl(project, "rollout", "resume", rid)
    assert done.exit_code == 2
    assert f"`jarvisctl rollout continue {rid}` goes on with its next batch" in done.stderr
    assert counted(project) == {"h1": ["step"]}


def test_abort_with_rollback_rolls_the_canary_back(project: Path) -> None:
    rid = paused(project)
    done = jarvisctl(project, "rollout", "abort", rid, "--rollback")
    # what was asked was done: the canary rolled back (changed), its gate passed
    assert done.exit_code == 0, done.output
    assert "h1  [upgrade]  CHANGED" in done.output
    assert counted(project) == {"h1": ["step", "rollback"]}  # h2 and h3 never started
    rollouts = open_store(project / ".jarvisctl").rollouts
    assert rollouts.get(rid).state is RolloutState.ABORTED
    states = {h.host: h.state for h in rollouts.hosts(rid)}
    assert states["h2"] is HostState.SKIPPED and states["h3"] is HostState.SKIPPED
