"""Which side a check is measured on: the host (its command runs there), or the controller (a
kind with `controller_side`, read from the snapshot index: engine/freshness.py). Apart from
freshness so that a run without such checks never imports the backup modules."""

from __future__ import annotations

from collections.abc import Sequence

from jarvisctl.kinds.registry import KindRegistry
from jarvisctl.plan.model import CheckPlan


def controller_side(registry: KindRegistry, check: CheckPlan) -> bool:
    return registry.checks[check.kind].controller_side


def on_host(registry: KindRegistry, checks: Sequence[CheckPlan]) -> tuple[CheckPlan, ...]:
    """The checks whose commands run on the host."""
    return tuple(c for c in checks if not controller_side(registry, c))


def on_controller(registry: KindRegistry, checks: Sequence[CheckPlan]) -> tuple[CheckPlan, ...]:
    return tuple(c for c in checks if controller_side(registry, c))
