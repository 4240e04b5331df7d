"""The daemon's jobs, from one plan of the project's playbooks: one per play that has `schedule:`.

A stored job names `run_play` by reference ("module:function") with plain-data keyword
arguments, as APScheduler's persistent stores require; the daemon's executor hands it the
running daemon and the fire time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import field, replace
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Protocol

from apscheduler.triggers.base import BaseTrigger

from jarvisctl.app.plan import PlanRequest, only_play, plan_playbooks
from jarvisctl.app.plan_inputs import plan_inputs
from jarvisctl.config.configfile import config_exists
from jarvisctl.config.playbooks import expand_playbook_paths
from jarvisctl.config.project import Project
from jarvisctl.config.schedule import ScheduleSpec, build_trigger, next_fire_times
from jarvisctl.config.yamlsrc import display_path, load_yaml_file
from jarvisctl.core.errors import ConfigError, JarvisError, Location, Problem, ProblemCollector
from jarvisctl.core.frozen import frozen
from jarvisctl.core.secrets import SecretValues
from jarvisctl.plan.model import Plan, PlaybookPlan

JOB_FUNC = "jarvisctl.app.schedules:run_play"


class JobRunner(Protocol):
    def run_job(self, job_id: str, playbook: str, play: str, fire_time: datetime) -> str: ...


@frozen
class Firing:
    """What the daemon's executor adds to a stored job's plain-data arguments."""

    runtime: JobRunner
    job_id: str
    fire_time: datetime


def run_play(firing: Firing | None = None, *, playbook: str, play: str, schedule: str) -> str:
    """Run one scheduled play once, for one fire time; returns the outcome.

    `firing` has a default only so that APScheduler accepts the stored arguments alone; the
    daemon's executor always passes it.
    """
    if firing is None:
        raise JarvisError(f"play {play!r} of {playbook}: scheduled runs go through the daemon")
    return firing.runtime.run_job(firing.job_id, playbook, play, firing.fire_time)


@frozen
class JobSpec:
    id: str
    playbook: Path
    play: str
    spec: ScheduleSpec
    location: Location
    # the job's part of the plan the schedule was loaded with: the job's last good plan until
    # a fire makes a newer one
    plan: Plan | None = field(default=None, compare=False, repr=False)

    @property
    def schedule(self) -> str:
        return self.spec.describe()

    def kwargs(self) -> dict[str, str]:
        """What the job store keeps: plain data, compared to tell a changed job."""
        return {"playbook": str(self.playbook), "play": self.play, "schedule": self.schedule}

    def trigger(self, timezone: tzinfo, now: datetime) -> BaseTrigger:
        return build_trigger(self.spec, timezone, now)

    def next_fire_times(self, now: datetime, count: int = 3) -> tuple[datetime, ...]:
        return next_fire_times(self.spec, now, count)


def playbook_files(project: Project) -> list[Path]:
    """The files named by `playbooks:` in jarvisctl.yml; a named path that is missing is an
    error (the default `playbooks` directory may be absent: then there is nothing to run)."""
    config = project.config
    explicit = "playbooks" in config.model_fields_set
    missing = [
        (index, entry)
        for index, entry in enumerate(config.playbooks)
        if not config_exists(project.root / entry)  # never raises (a name too long)
    ]
    if missing and explicit:
        raise ConfigError(_missing_problems(project, missing))
    present = [project.root / e for e in config.playbooks if config_exists(project.root / e)]
    return expand_playbook_paths(present)


def _missing_problems(project: Project, missing: Sequence[tuple[int, str]]) -> list[Problem]:
    source = load_yaml_file(project.config_file).source if project.config_file else None
    return [
        Problem(
            source.locate(("playbooks", index)) if source else None,
            f"playbooks: {entry!r} does not exist",
            f"a playbook file or a directory of them, relative to {project.root}",
        )
        for index, entry in missing
    ]


@frozen
class Schedule:
    """The daemon's jobs and the one plan of the project's playbooks they come from."""

    jobs: tuple[JobSpec, ...]
    plan: Plan | None  # None: the project has no playbook
    # the digest of the files `plan` was made from (app.plan_inputs), None when they cannot
    # be told apart without planning
    inputs: str | None = None


def plan_schedule(
    project: Project, now: datetime | None = None, *, secrets: SecretValues
) -> Schedule:
    """Every scheduled play of the project, from one plan of its playbooks (the validation a
    run does); raises a ConfigError with every located problem (a broken playbook schedules
    nothing). Secrets met while planning go to `secrets`, which the caller's output redacts
    with."""
    files = playbook_files(project)
    if not files:
        return Schedule((), None)
    inputs = plan_inputs(project, files)  # before planning: an edit meanwhile is seen next time
    plan = plan_playbooks(project, PlanRequest(tuple(files)), secrets, now)
    problems = ProblemCollector()
    problems.extend(plan.problems)
    jobs = [job for book in plan.playbooks for job in _jobs_of(project, book, problems)]
    problems.raise_if_any()
    # each job's part, kept as its last good plan (the plan has no problem here)
    planned = (replace(job, plan=job_plan(plan, job.playbook, job.play)) for job in jobs)
    return Schedule(tuple(planned), plan, inputs)


def discover_jobs(
    project: Project, now: datetime | None = None, *, secrets: SecretValues
) -> list[JobSpec]:
    """The jobs of `plan_schedule`."""
    return list(plan_schedule(project, now, secrets=secrets).jobs)


def job_plan(plan: Plan, playbook: Path, play: str) -> Plan | None:
    """The part of a project's plan one job runs: its play of its playbook (`playbook` as the
    job names it, resolved). A ConfigError with the problems of its file and those of no
    playbook (the inventory, a catalogue); None when the plan has no such playbook."""
    found = {id(b): b for b in plan.playbooks if b.path and b.path.resolve() == playbook}
    if not found:
        return None
    problems = [p for b in plan.playbooks if id(b) in found or not b.path for p in b.problems]
    if problems:
        raise ConfigError(problems)
    return only_play(replace(plan, playbooks=tuple(found.values())), play)


def _jobs_of(project: Project, book: PlaybookPlan, problems: ProblemCollector) -> list[JobSpec]:
    jobs: dict[str, JobSpec] = {}
    if book.path is None:
        return []
    for play in book.scheduled:
        if play.name in jobs:
            problems.add(
                play.location,
                f"two scheduled plays are named {play.name!r}",
                f"first at {jobs[play.name].location}; the daemon tells jobs apart by play name",
            )
            continue
        job_id = f"{_relative(project, book.path)}::{play.name}"
        path = book.path.resolve()
        jobs[play.name] = JobSpec(job_id, path, play.name, play.spec, play.location)
    return list(jobs.values())


def _relative(project: Project, path: Path) -> str:
    try:
        return str(path.resolve().relative_to(project.root.resolve()))
    except ValueError:
        return display_path(path)
