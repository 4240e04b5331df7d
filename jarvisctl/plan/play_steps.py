"""The steps of one play that a run's --tags select, resolved host by host.

Tags select a play's tasks and its rollout's steps as they select its checks: all of them
without --tags, else those whose own or play's tags are named. A rollout is planned when at
least one of its steps is selected, and then its rollback whole (it must undo whichever steps
ran), and the checks its gate and wait_for name are planned on its hosts as well, tagged or not
(the engine re-runs them by name).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jarvisctl.config.playbooks import LoadedPlay
from jarvisctl.config.yamlsrc import NodePath
from jarvisctl.core.errors import ProblemCollector
from jarvisctl.core.frozen import frozen
from jarvisctl.plan.model import StepPlan
from jarvisctl.plan.resolve import HostProblems
from jarvisctl.plan.step_target import StepTarget

if TYPE_CHECKING:  # a plan without steps does not import the step kinds' code, nor models
    from jarvisctl.config.models.steps import RolloutSpec, StepSpec
    from jarvisctl.plan.steps import StepResolver


# (position in its list, path in the file, the step)
Selected = tuple[tuple[int, NodePath, "StepSpec"], ...]
Planned = tuple[StepPlan, ...]


@frozen
class PlaySteps:
    """The tasks, rollout steps and rollback of one play that the run's --tags select, for each host
    to resolve."""

    tasks: Selected
    steps: Selected
    rollback: Selected
    rollout: RolloutSpec | None  # None: the play has none, or --tags selects none of its steps

    @classmethod
    def select(cls, item: LoadedPlay, tags: frozenset[str]) -> PlaySteps:
        play = item.play

        def chosen(step: StepSpec) -> bool:
            return not tags or bool(tags & {*play.tags, *step.tags})

        tasks = tuple((n, item.task_path(n), s) for n, s in enumerate(play.tasks) if chosen(s))
        rollout = play.rollout
        if rollout is None:
            return cls(tasks, (), (), None)
        steps = tuple((n, item.step_path(n), s) for n, s in enumerate(rollout.steps) if chosen(s))
        if not steps:
            return cls(tasks, (), (), None)
        rollback = tuple((n, item.rollback_path(n), s) for n, s in enumerate(rollout.rollback))
        return cls(tasks, steps, rollback, rollout)

    @property
    def any(self) -> bool:
        return bool(self.tasks or self.rollout)

    def gate_checks(self) -> frozenset[str]:
        """The checks the rollout re-runs by name on each host."""
        if self.rollout is None:
            return frozenset()
        return frozenset([*self.rollout.gate, *self.rollout.wait_for])

    def check_kinds(self, resolver: StepResolver, problems: ProblemCollector) -> None:
        for _, path, spec in (*self.tasks, *self.steps, *self.rollback):
            resolver.check_kind(spec, path, problems)

    def plan(
        self, resolver: StepResolver, target: StepTarget, problems: HostProblems
    ) -> tuple[Planned, Planned, Planned]:
        """The host's tasks, rollout steps and rollback (each as far as it resolved)."""
        return (
            _plan(resolver, "task", self.tasks, target, problems),
            _plan(resolver, "step", self.steps, target, problems),
            _plan(resolver, "rollback", self.rollback, target, problems),
        )


def _plan(
    resolver: StepResolver,
    phase: str,
    selected: Selected,
    target: StepTarget,
    problems: HostProblems,
) -> Planned:
    planned = [
        resolver.plan(spec, path, phase, number, target, problems)
        for number, path, spec in selected
    ]
    return tuple(p for p in planned if p is not None)
