"""Where a host's turn in a rollout stands, written to the store before and after every phase
and step (and how it ended), so that a controller killed at any moment resumes it; in check
mode nothing is written."""

from __future__ import annotations

from dataclasses import dataclass

from jarvisctl.core.clock import Clock
from jarvisctl.core.results import StepNote, StepOutcome
from jarvisctl.engine.rollout_ends import TurnEnd, first_deadline
from jarvisctl.plan.model import StepPlan
from jarvisctl.store.rollouts import HostState, RolloutStore, StepState


@dataclass
class Progress:
    """Writes where the turn stands; in check mode (store None) nothing is written."""

    store: RolloutStore | None
    rollout: str
    host: str
    clock: Clock
    # where the turn stands, as last written (also in check mode, where nothing is written)
    at: tuple[str, int | None] = ("", None)
    # the deadline of the host's first deferral: kept while it is tried again, and when it is
    # deferred again (defer_for counts from the first deferral, not from each try)
    until: float | None = None

    def phase(self, phase: str, *, started: bool = False, step: int | None = None) -> None:
        self.at = (phase, step)
        if self.store is not None:
            self.store.set_host(
                self.rollout,
                self.host,
                HostState.IN_FLIGHT,
                at=self.clock.now(),
                phase=phase,
                step=step,
                started=started,
                deferred_until=self.until,
            )

    def step_started(self, step: StepPlan) -> None:
        if self.store is not None:
            self.phase(step.phase, step=step.index)
            self.store.step_started(
                self.rollout, self.host, step.phase, step.index, step.name, self.clock.now()
            )

    def step_finished(self, step: StepPlan, note: StepNote) -> None:
        if self.store is None or note.outcome is StepOutcome.INTERRUPTED:
            return  # interrupted: left as started, so that a resume repeats it
        if note.outcome is StepOutcome.SKIPPED:
            return  # after a failed step: never started, so nothing to finish
        state = StepState.FAILED if note.outcome is StepOutcome.FAILED else StepState.DONE
        self.store.step_finished(
            self.rollout,
            self.host,
            step.phase,
            step.index,
            state,
            note.outcome.value,
            self.clock.now(),
        )

    def end(self, end: TurnEnd) -> None:
        if self.store is not None:
            self.store.set_host(
                self.rollout,
                self.host,
                end.state,
                at=self.clock.now(),
                reason=end.reason,
                deferred_until=first_deadline(end, self.until),
                failed=end.failed,
                phase=end.phase,
                step=end.step,
            )
