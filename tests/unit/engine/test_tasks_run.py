"""A play's `tasks:` in a run (engine/runner.py → engine/tasks.py): after the checks, on the
host's connection; the host's outcome, its notes, the journal's step records, check mode, and
hosts whose session ended before them. The plan's tasks are built here (StepPlans); the YAML
side is plan/'s."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from jarvisctl.core.results import Outcome, StepOutcome
from jarvisctl.plan.model import Plan, StepPlan
from tests.unit.engine.fleet import UNREACHABLE, Fleet
from tests.unit.engine.steps_host import shell, step

PLAY = {"checks": [{"name": "level", "use": "command", "with": {"command": "cat level"}}]}


def with_tasks(plan: Plan, tasks: tuple[StepPlan, ...]) -> Plan:
    books = []
    for book in plan.playbooks:
        plays = tuple(
            replace(play, hosts=tuple(replace(h, tasks=tasks) for h in play.hosts))
            for play in book.plays
        )
        books.append(replace(book, plays=plays))
    return replace(plan, playbooks=tuple(books))


def fleet(tmp_path: Path, *tasks: StepPlan, hosts: tuple[str, ...] = ("h1",)) -> Fleet:
    made = Fleet.create(tmp_path, hosts, PLAY)
    made.plan = with_tasks(made.plan, tasks)
    return made


def test_tasks_run_after_the_checks_and_a_change_makes_the_host_changed(
    tmp_path: Path,
) -> None:
    tasks = (
        step(shell("apt-get clean"), 0, name="clean"),
        step(shell("tar czf /b.tgz /etc"), 1, name="archive", creates="/b.tgz"),
    )
    seen = fleet(tmp_path, *tasks).run(
        {"h1": {"cat level": "5", "apt-get clean": "", "test -e /b.tgz": {"exit": 0}}}
    )
    (run,) = seen.report.hosts
    assert run.outcome is Outcome.CHANGED
    assert [(n.name, n.outcome) for n in run.steps] == [
        ("clean", StepOutcome.CHANGED),
        ("archive", StepOutcome.OK),
    ]
    assert seen.connections["h1"].commands == [
        "sh -s",
        "cat level",
        "apt-get clean",
        "test -e /b.tgz",
    ]
    assert seen.report.recap()["h1"]["changed"] == 1
    records = [r for r in seen.records if r.kind == "step"]
    assert [(r.data["name"], r.data["outcome"]) for r in records] == [
        ("clean", "changed"),
        ("archive", "ok"),
    ]


def test_a_host_whose_tasks_found_nothing_to_do_stays_ok(tmp_path: Path) -> None:
    task = step(shell("touch /x"), name="x", creates="/x")
    seen = fleet(tmp_path, task).run({"h1": {"cat level": "5", "test -e /x": {"exit": 0}}})
    assert seen.report.hosts[0].outcome is Outcome.OK


def test_a_failed_task_fails_the_host_and_skips_the_rest(tmp_path: Path) -> None:
    tasks = (
        step(shell("one"), 0, name="one"),
        step(shell("two"), 1, name="two"),
        step(shell("three"), 2, name="three"),
    )
    seen = fleet(tmp_path, *tasks).run(
        {"h1": {"cat level": "5", "one": "", "two": {"exit": 2, "stderr": "no space left"}}}
    )
    (run,) = seen.report.hosts
    assert run.outcome is Outcome.FAILED
    assert run.error == "task 'two' failed: 'two' exited 2: no space left"
    assert [n.outcome for n in run.steps] == [
        StepOutcome.CHANGED,
        StepOutcome.FAILED,
        StepOutcome.SKIPPED,
    ]
    assert run.steps[2].reason == "after 'two' failed"
    assert "three" not in seen.connections["h1"].commands


def test_an_unreachable_host_has_its_tasks_not_attempted(tmp_path: Path) -> None:
    seen = fleet(tmp_path, step(shell("one"), name="one"), hosts=("h1", "h2")).run(
        {"h1": UNREACHABLE, "h2": {"cat level": "5", "one": ""}}
    )
    runs = {r.host: r for r in seen.report.hosts}
    assert runs["h1"].outcome is Outcome.UNREACHABLE
    assert [(n.outcome, n.reason) for n in runs["h1"].steps] == [
        (StepOutcome.SKIPPED, "not attempted: the host's session ended unreachable")
    ]
    assert runs["h2"].outcome is Outcome.CHANGED


def test_check_mode_runs_no_task_and_says_what_would_change(tmp_path: Path) -> None:
    task = step(shell("apply", probe="probe"), name="fix")
    seen = fleet(tmp_path, task).run({"h1": {"cat level": "5", "probe": {"exit": 1}}}, mode="check")
    (run,) = seen.report.hosts
    assert run.outcome is Outcome.OK
    assert [(n.outcome, n.reason) for n in run.steps] == [
        (StepOutcome.WOULD_CHANGE, "would run 'apply' (the probe says it is needed)")
    ]
    assert "apply" not in seen.connections["h1"].commands


def test_tasks_run_after_the_remediations(tmp_path: Path) -> None:
    play = {
        "checks": [
            {
                "name": "level",
                "use": "command",
                "with": {"command": "cat level"},
                "crit": 90,
                "remediate": [{"use": "run", "with": {"commands": ["fix"]}, "settle": "0s"}],
            }
        ]
    }
    made = Fleet.create(tmp_path, ("h1",), play)
    made.plan = with_tasks(made.plan, (step(shell("task"), name="task"),))
    seen = made.run({"h1": {"cat level": ["95", "10"], "fix": "", "task": ""}})
    commands = seen.connections["h1"].commands
    assert commands.index("fix") < commands.index("task")
    assert seen.report.hosts[0].outcome is Outcome.CHANGED
