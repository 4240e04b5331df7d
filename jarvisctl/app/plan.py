"""The plan use case: load the playbooks, resolve each play per host against the inventory and
the catalogues, and collect every located problem. What `jarvisctl plan` prints, what a run
executes and what the daemon schedules from; it opens no connection."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from tzlocal import get_localzone

from jarvisctl.config.project import Project
from jarvisctl.core.errors import ConfigError, known_list
from jarvisctl.core.frozen import frozen
from jarvisctl.core.secrets import SecretValues
from jarvisctl.plan.model import Plan
from jarvisctl.plan.planner import make_plan


@frozen
class PlanRequest:
    """What a plan is made from: the playbooks, the inventory, `--limit` and `--tags`."""

    playbooks: tuple[Path, ...] = ()  # files or directories; none: the project's `playbooks:`
    inventory: tuple[Path, ...] = ()  # every -i, merged in order; none: the project's
    limit: str | None = None
    tags: tuple[str, ...] = ()


def plan_playbooks(
    project: Project, request: PlanRequest, secrets: SecretValues, now: datetime | None = None
) -> Plan:
    """The plan with every problem in it, attributed to its file: the caller says what a
    problem means (`plan` prints them, a run refuses to start). Secret values met while
    resolving go to `secrets`, before any problem that could show them is formatted."""
    when = now or datetime.now(get_localzone())
    paths = list(request.playbooks) or project_playbooks(project)
    inventory = request.inventory
    return make_plan(project, paths, inventory, when, request.limit, request.tags, secrets=secrets)


def project_playbooks(project: Project) -> list[Path]:
    """The paths `playbooks:` in jarvisctl.yml names, as written (the planner reports those
    that do not exist)."""
    return [project.root / entry for entry in project.config.playbooks]


def plan_to_run(
    project: Project, request: PlanRequest, secrets: SecretValues, play: str | None = None
) -> Plan:
    """The plan a run executes (only the plays named `play`, when given), or a ConfigError
    with every located problem (its secrets already in `secrets`, so that whoever prints the
    error can redact them)."""
    plan = plan_playbooks(project, request, secrets)
    if not plan.ok:
        raise ConfigError(plan.problems)
    return plan if play is None else only_play(plan, play)


def only_play(plan: Plan, name: str) -> Plan:
    """The plan cut down to the plays called `name`; a ConfigError when there is none."""
    books = tuple(
        replace(b, plays=tuple(p for p in b.plays if p.name == name)) for b in plan.playbooks
    )
    if not any(b.plays for b in books):
        names = {p.name for b in plan.playbooks for p in b.plays}
        files = ", ".join(b.file for b in plan.playbooks)
        raise ConfigError.at(
            None, f"no play named {name!r} in {files}", known_list(names, near=name)
        )
    return replace(plan, playbooks=books)


def hosts_of(plan: Plan) -> Sequence[str]:
    return sorted({h.host for b in plan.playbooks for p in b.plays for h in p.hosts})
