"""`jarvisctl rollout continue|resume|abort --rollback` on local hosts: a rollout paused after
its canary goes on with the next batch when continued (each step ran once on each host), resume
refuses a paused one and says to continue, and abort --rollback rolls back the canary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from jarvisctl.cli.main import cli
from jarvisctl.store.factory import open_store
from jarvisctl.store.rollouts import HostState, RolloutState
from tests.step_kinds import step_kinds  # noqa: F401  (the fixture)

HOSTS = ("h1", "h2", "h3")


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
    assert f"rollout {rid} is finished" in again.stderr


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
