"""Issue 18's rollouts end to end on eight sshd hosts, each with a real small service (see
tests/e2e/rollout_fleet.py): a canary that halts a bad release and is rolled back from the
backup taken before its steps, a good release to all, max_fail_percentage halting before the
last batch, a second run that changes nothing, an unreachable host deferred and finished when
it is back, and a controller killed with SIGKILL in batch 2 that `rollout resume` finishes
with every finished step run once."""

from __future__ import annotations

import random
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import _fleet
from tests.e2e.rollout_fleet import (
    PLAYBOOK,
    RUN_TIMEOUT,
    RolloutProject,
    Service,
    cut_off,
    document,
    services_of,
    wait_until,
)
from tests.e2e.sshd import SshdFleet

HOSTS = 8
GOOD, OLD, BAD = "2.0", "1.0", "bad-2.1"


@pytest.fixture(scope="module")
def eight(tmp_path_factory: pytest.TempPathFactory, fleet_path: str | None) -> Iterator[SshdFleet]:
    yield from _fleet(tmp_path_factory.mktemp("rollout-sshd"), HOSTS, fleet_path)


@pytest.fixture
def project(eight: SshdFleet, tmp_path: Path) -> Iterator[RolloutProject]:
    eight.reset()
    services = {s.host.name: s for s in services_of(eight, tmp_path / "apps", OLD)}
    try:
        yield RolloutProject(tmp_path / "project", eight, services)
    finally:
        for service in services.values():
            service.stop()


def playbook(
    version: str,
    *,
    max_fail: float = 0,
    bad_on: tuple[str, ...] = (),
    extra_steps: str = "",
    unreachable: str = "defer",
) -> str:
    """The rollout of `version` (`bad_on`: those hosts get the bad version instead)."""
    bad = " or ".join(f"inventory_hostname == '{h}'" for h in bad_on) or "false"
    return f"""\
        - name: app
          hosts: all
          vars:
            release: "{{{{ '{BAD}' if ({bad}) else '{version}' }}}}"
          checks:
            - name: app health
              use: command
              with: {{command: "{{{{ app_dir }}}}/ctl health", parse: exit_code}}
              crit: 1
          backups:
            - name: app-conf
              paths: ["{{{{ app_dir }}}}/conf"]
              keep: {{last: 5}}
              compress: none
          rollout:
            batches: [1, 3, "100%"]
            max_fail_percentage: {max_fail}
            unreachable: {unreachable}
            gate: [app health]
            gate_timeout: 4s
            backup: [app-conf]
            steps:
              {extra_steps}
              - name: version
                copy: {{content: "{{{{ release }}}}\\n", dest: "{{{{ app_dir }}}}/conf/version"}}
              - name: restart
                run: "{{{{ app_dir }}}}/ctl restart"
                unless: "{{{{ app_dir }}}}/ctl serves"
            rollback:
              - restore: app-conf
              - {{name: restart, run: "{{{{ app_dir }}}}/ctl restart"}}
        """


def canary(project: RolloutProject) -> str:
    return next(iter(project.services))  # the inventory's first host: batch 1


def test_a_bad_release_on_the_canary_halts_and_is_rolled_back(project: RolloutProject) -> None:
    first = canary(project)
    conf = project.services[first].root / "conf"
    before = {p.name: p.read_bytes() for p in conf.iterdir()}
    project.write(playbook(GOOD, bad_on=(first,)))
    code, report, stderr = project.run()
    assert code != 0, stderr
    turns = project.turns(report)
    assert turns[first] == "rolled back", report
    assert all(turn == "skipped" for host, turn in turns.items() if host != first), turns
    # the canary is healthy again on its old version, restored from the backup
    assert project.services[first].version() == OLD
    # restored byte for byte from the backup taken before its steps
    assert {p.name: p.read_bytes() for p in conf.iterdir()} == before
    assert project.versions() == {name: OLD for name in project.services}
    # the seven others were never touched: no step ran there (no backup either)
    for name, service in project.services.items():
        if name != first:
            assert service.version() == OLD
    status = project.status()
    assert status["state"] == "halted", status
    assert project.states() == turns, (project.states(), turns)


def test_a_good_release_updates_all_eight_then_a_second_run_changes_nothing(
    project: RolloutProject,
) -> None:
    project.write(playbook(GOOD))
    code, report, stderr = project.run()
    assert code == 0, stderr
    assert set(project.turns(report).values()) == {"updated"}, project.turns(report)
    assert project.versions() == {name: GOOD for name in project.services}
    assert project.status()["state"] == "finished"
    code, report, stderr = project.run()
    assert code == 0, stderr
    # the version file is there (copy: ok), the service serves it (restart's unless holds)
    assert project.turns(report) == {name: "unchanged" for name in project.services}
    steps = [s for h in report["hosts"] for s in h["steps"]]
    assert {s["outcome"] for s in steps} == {"ok"}, steps
    assert project.status()["state"] == "finished"


def test_max_fail_percentage_halts_before_the_third_batch(project: RolloutProject) -> None:
    names = list(project.services)
    batch2 = names[1:4]
    project.write(playbook(GOOD, max_fail=20, bad_on=(batch2[0], batch2[1])))
    code, report, stderr = project.run()
    assert code != 0, stderr
    turns = project.turns(report)
    assert turns[names[0]] == "updated"
    assert [turns[h] for h in batch2] == ["rolled back", "rolled back", "updated"], turns
    assert all(turns[h] == "skipped" for h in names[4:]), turns
    for host in names[4:]:
        assert project.services[host].version() == OLD
    assert project.status()["state"] == "halted"


def test_an_unreachable_host_is_deferred_then_updated_when_it_is_back(
    project: RolloutProject,
) -> None:
    names = list(project.services)
    down = project.fleet.hosts[5]
    down.stop()
    project.write(playbook(GOOD))
    _, report, _ = project.run()
    turns = project.turns(report)
    assert turns[down.name] == "deferred", turns
    assert all(turns[h] == "updated" for h in names if h != down.name), turns
    assert project.status()["state"] == "deferred"
    down.start()
    done = project.jarvisctl("rollout", "resume", "last", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert project.services[down.name].served() == GOOD
    assert project.status()["state"] == "finished"


HELD = """\
- name: stage
                creates: "{{ app_dir }}/done-stage"
                run: "echo x >> {{ app_dir }}/count-stage && touch {{ app_dir }}/done-stage"
              - name: hold
                creates: "{{ app_dir }}/done-hold"
                run: >-
                  echo x >> {{ app_dir }}/count-hold;
                  if [ -e {{ app_dir }}/hold ]; then touch {{ app_dir }}/holding;
                  while [ -e {{ app_dir }}/hold ]; do sleep 0.1; done; exit 1; fi;
                  touch {{ app_dir }}/done-hold"""


def lose_during_hold(project: RolloutProject, target: Service) -> tuple[int, dict[str, Any]]:
    """Run the rollout of HELD; while `target` is in its step `hold`, the host goes away
    (its sshd and the sessions it serves die); the run's exit code and document."""
    (target.root / "hold").touch()
    running = project.popen("run", PLAYBOOK, "--json")
    try:
        wait_until(lambda: (target.root / "holding").exists(), 120, "the hold step on the host")
        assert cut_off(target.host) > 0, "no session of the host was cut"
        (target.root / "hold").unlink()  # the step's orphaned shell ends, doing nothing more
        stdout, stderr = running.communicate(timeout=RUN_TIMEOUT)
    finally:
        if running.poll() is None:
            running.kill()
            running.wait()
    assert "Traceback" not in stderr, stderr
    return running.returncode, document(stdout, stderr)


def test_a_host_lost_during_its_steps_is_deferred_and_resumed_from_its_unfinished_step(
    project: RolloutProject,
) -> None:
    names = list(project.services)
    target = project.services[names[2]]  # in batch 2
    project.write(playbook(GOOD, extra_steps=HELD))
    _, report = lose_during_hold(project, target)
    turns = project.turns(report)
    assert turns[target.host.name] == "deferred", report
    assert all(turns[h] == "updated" for h in names if h != target.host.name), turns
    host = next(h for h in report["hosts"] if h["host"] == target.host.name)
    assert host["outcome"] == "unreachable", host  # never called failed
    assert "hold" in host["rollout"]["reason"], host["rollout"]
    status = project.status()
    assert status["state"] == "deferred", status
    stored = next(h for b in status["batch_hosts"] for h in b if h["host"] == target.host.name)
    # its durable progress is intact: where it stopped, the step in flight left unfinished
    assert (stored["state"], stored["phase"], stored["step"]) == ("deferred", "step", 1), stored
    steps = {s["name"]: s["state"] for s in stored["steps"]}
    assert steps == {"stage": "done", "hold": "started"}, steps
    # its rollback did not run, nor did the steps after the one in flight
    assert target.version() == OLD and target.healthy()
    target.host.start()
    done = project.jarvisctl("rollout", "resume", "last", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert target.served() == GOOD
    assert project.status()["state"] == "finished"
    # it went on from its unfinished step: the finished one did not run again
    assert (target.counter("stage"), target.counter("hold")) == (1, 2)


def test_a_host_lost_during_its_steps_with_unreachable_fail_counts_as_failed(
    project: RolloutProject,
) -> None:
    names = list(project.services)
    target = project.services[names[2]]  # in batch 2
    project.write(playbook(GOOD, extra_steps=HELD, unreachable="fail"))
    code, report = lose_during_hold(project, target)
    assert code != 0
    turns = project.turns(report)
    assert turns[target.host.name] == "rollback failed", turns
    reason = project.turns_reason(report)[target.host.name]
    assert "its rollback could not run" in reason and "unreachable" in reason, reason
    # it counts as failed: max_fail_percentage 0 halts, batch 3 does not start
    assert all(turns[h] == "skipped" for h in names[4:]), turns
    assert project.status()["state"] == "halted"


COUNTED = """\
- name: stage
                creates: "{{ app_dir }}/done-stage"
                run: "echo x >> {{ app_dir }}/count-stage && touch {{ app_dir }}/done-stage"
              - name: pause
                creates: "{{ app_dir }}/done-pause"
                run: >-
                  sleep 0.3 && echo x >> {{ app_dir }}/count-pause
                  && touch {{ app_dir }}/done-pause"""


@pytest.mark.parametrize("point", ["done-stage", "done-pause", "conf/version"])
def test_a_controller_killed_in_batch_2_is_resumed_and_no_finished_step_runs_twice(
    project: RolloutProject, point: str
) -> None:
    names = list(project.services)
    project.write(playbook(GOOD, extra_steps=COUNTED))
    target: Service = project.services[random.choice(names[1:4])]
    running = project.popen("run", PLAYBOOK, "--json")
    try:
        if point == "conf/version":
            wait_until(lambda: target.version() == GOOD, 120, f"{target.host.name} updated")
        else:
            wait_until(lambda: (target.root / point).exists(), 120, f"{point} on the host")
        running.send_signal(signal.SIGKILL)
    finally:
        running.wait(timeout=30)
    assert running.returncode == -signal.SIGKILL
    resumed = project.jarvisctl("rollout", "resume", "last", "--json")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert project.versions() == {name: GOOD for name in project.services}
    for name, service in project.services.items():
        assert service.counter("stage") == 1, name
        assert service.counter("pause") == 1, name
    assert project.status()["state"] == "finished"
    killed, resumed_run = sorted((project.root / "state" / "runs").glob("*.jsonl"))
    # the killed run's journal: every record it wrote chains; it says it has no end
    verified = project.jarvisctl("audit", "verify", killed.stem)
    assert verified.returncode == 5, verified.stdout + verified.stderr
    assert "INCOMPLETE" in verified.stdout and "record(s) verify" in verified.stdout
    verified = project.jarvisctl("audit", "verify", resumed_run.stem)
    assert verified.returncode == 0, verified.stdout + verified.stderr
