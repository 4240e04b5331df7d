"""What a play's steps need on each host's plan: the checks they wait for, the backups they
take and restore.

The engine finds them by name on the host's plan. A check that a rollout's `gate` or
`wait_for`, or a wait step (`wait_for: {check: ...}`), names must be among the host's checks
(--tags may have left it out: it is planned all the same) and measured on the host: a check
measured on the controller (`backup_age`, a backup's `max_age`) reads the snapshot index, not
the host, and a gate on it would wait for nothing the steps change. The backups a rollout takes
(`backup:`) are planned on its hosts whatever --tags selects (a rollout taking none would have
nothing to roll back to), and a restore step needs its backup's declaration on the host (the
store it is kept in).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from jarvisctl.config.models.playbook import CheckSpec
from jarvisctl.config.playbooks import LoadedPlay
from jarvisctl.config.yamlsrc import NodePath, SourceMap
from jarvisctl.core.errors import Location
from jarvisctl.kinds.registry import KindRegistry
from jarvisctl.plan.model import CheckPlan, StepPlan
from jarvisctl.plan.resolve import HostProblems

if TYPE_CHECKING:  # without backups (a rollout), neither the backup stage nor its model
    from jarvisctl.config.models.steps import RolloutSpec
    from jarvisctl.plan.backups import PlayBackups


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


def with_rollout_backups(
    backups: PlayBackups, item: LoadedPlay, rollout: RolloutSpec | None
) -> PlayBackups:
    """`backups` and the play's backups that the rollout takes, which --tags left out."""
    if rollout is None:
        return backups
    have = {spec.name for _, spec in backups.selected}
    more = tuple(
        (item.backup_path(number), spec)
        for number, spec in enumerate(item.play.backups)
        if spec.name in rollout.backup and spec.name not in have
    )
    return replace(backups, selected=(*backups.selected, *more)) if more else backups


def check_restores_on_host(
    selected: PlayBackups | None,
    declared: frozenset[str],
    steps: Sequence[StepPlan],
    host: str,
    problems: HostProblems,
) -> None:
    """A restore step whose backup --tags left out of the play's selection is a located error:
    the engine restores from the store the backup's declaration names on the host's plan."""
    if not steps:
        return
    from jarvisctl.kinds.step_base import RestoreAction  # only a plan with steps needs it

    planned = {spec.name for _, spec in selected.selected} if selected else set()
    for step in steps:
        action = step.action
        if not isinstance(action, RestoreAction) or action.backup not in declared:
            continue  # a name of no backup of the play is reported where it is written
        if action.backup not in planned:
            problems.add(
                step.location,
                f"{step.kind}: backup '{action.backup}' is left out by --tags, and restoring "
                "it needs its declaration on the host (the store it is kept in; select it "
                "too: a tag of its own or of the play)",
                host,
            )
