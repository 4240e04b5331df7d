"""A host's steps (a play's tasks, a rollout's steps and rollback) as the reports see them,
folded from its journal's `step` records, in the order they ran."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jarvisctl.core.frozen import frozen
from jarvisctl.core.results import StepOutcome

FAILED, CHANGED = StepOutcome.FAILED.value, StepOutcome.CHANGED.value


@frozen
class StepEntry:
    phase: str  # task | step | rollback
    index: int  # 0-based in its list
    name: str
    kind: str
    outcome: str  # a StepOutcome value
    reason: str
    attempts: int
    commands: tuple[str, ...]
    exit_codes: tuple[int | None, ...]
    seconds: float
    rollout: str = ""

    @property
    def failed(self) -> bool:
        return self.outcome == FAILED

    @property
    def changed(self) -> bool:
        return self.outcome == CHANGED

    @property
    def label(self) -> str:
        """`task 2 'restart app'`: how reports name it."""
        return f"{self.phase} {self.index + 1} {self.name!r}"


def step_entry(data: Mapping[str, Any]) -> StepEntry:
    return StepEntry(
        phase=str(data.get("phase", "")),
        index=int(data.get("index") or 0),
        name=str(data.get("name", "")),
        kind=str(data.get("step_kind", "")),
        outcome=str(data.get("outcome", "")),
        reason=str(data.get("reason", "")),
        attempts=int(data.get("attempts") or 0),
        commands=tuple(str(c) for c in data.get("commands", [])),
        exit_codes=tuple(data.get("exit_codes", [])),
        seconds=float(data.get("seconds") or 0.0),
        rollout=str(data.get("rollout") or ""),
    )


def outcome_after(entry: StepEntry, outcome: str) -> str:
    """A host's outcome once this step is folded in (a journal without run_finished has no
    other word on it): a failed step fails it, a changed one makes an ok host changed."""
    if entry.failed:
        return "failed"
    if entry.changed and outcome == "ok":
        return "changed"
    return outcome
