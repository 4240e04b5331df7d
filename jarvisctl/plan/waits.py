"""The checks a rollout's `gate` and `wait_for`, and wait steps (`wait_for: {checks: ...}`),
name: planned on each host that waits for them, and measured on that host.

The engine re-runs them by name on the host's plan (engine/gates.py), so each must be among the
host's checks (--tags may have left it out: it is planned all the same) and must be measured on
the host: a check measured on the controller (`backup_age`, a backup's `max_age`) reads the
snapshot index, not the host, and a gate on it would wait for nothing that the steps change.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from jarvisctl.config.models.playbook import CheckSpec
from jarvisctl.config.models.steps import RolloutSpec
from jarvisctl.config.playbooks import LoadedPlay
from jarvisctl.config.yamlsrc import NodePath, SourceMap
from jarvisctl.core.errors import Location
from jarvisctl.kinds.registry import KindRegistry
from jarvisctl.plan.model import CheckPlan, StepPlan
from jarvisctl.plan.resolve import HostProblems


def waited_by_steps(steps: Sequence[StepPlan]) -> list[tuple[StepPlan, str]]:
    """(step, check name) for each check a step waits for."""
    if not steps:
        return []
    from jarvisctl.kinds.step_base import CheckWaitAction  # only a plan with steps needs it

    return [
        (step, name)
        for step in steps
        if isinstance(step.action, CheckWaitAction)
        for name in step.action.checks
    ]


def unplanned_checks(
    item: LoadedPlay, planned: Iterable[CheckPlan], wanted: Iterable[str]
) -> list[tuple[NodePath, CheckSpec]]:
    """The play's checks named in `wanted` that are not among `planned` (left out by --tags)."""
    have = {check.name for check in planned}
    names = set(wanted) - have
    return [
        (item.check_path(number), check)
        for number, check in enumerate(item.play.checks)
        if check.display_name in names
    ]


def check_waits_on_host(
    checks: Sequence[CheckPlan],
    steps: Sequence[StepPlan],
    rollout: RolloutSpec | None,
    where: tuple[SourceMap, int],
    registry: KindRegistry,
    host: str,
    problems: HostProblems,
) -> None:
    """A gate, wait_for or wait step naming a check measured on the controller is an error,
    located where the name is written (a step: at the step)."""
    source, index = where
    named: list[tuple[Location, str, str]] = [
        (step.location, name, step.kind) for step, name in waited_by_steps(steps)
    ]
    for key in ("gate", "wait_for"):
        for number, name in enumerate(getattr(rollout, key) if rollout else []):
            named.append((source.locate((index, "rollout", key, number)), name, key))
    by_name = {check.name: check for check in checks}
    for location, name, what in named:
        check = by_name.get(name)
        kind = registry.checks.get(check.kind) if check is not None else None
        if check is not None and kind is not None and kind.controller_side:
            problems.add(
                location,
                f"{what}: check '{name}' ({check.kind}) is measured on the controller, not on "
                "the host: waiting for it would wait for nothing the host does (name a check "
                "the host measures)",
                host,
            )
