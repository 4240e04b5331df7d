"""One host's turn in a rollout: wait_for → gate before → backup → steps → settle → gate after,
and on a failure rollback → gate again. Where the turn stands is written to the store before
and after every phase and step, so that a controller killed at any moment resumes it: a turn
killed before its first step starts again from the beginning (nothing was changed); one killed
later goes on from its unfinished step (the finished ones are not repeated; the one in flight
is repeated, as its guards allow, unless it is `once: true`: then the host waits for a
decision)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace

from jarvisctl.connection.base import Connection
from jarvisctl.core.clock import Clock
from jarvisctl.core.results import (
    CheckResult,
    HostRun,
    Outcome,
    RolloutNote,
    RolloutTurn,
    Status,
    StepNote,
    StepOutcome,
)
from jarvisctl.core.step_events import Gate, RolloutHost
from jarvisctl.engine.backups import BackupWork, take_backups
from jarvisctl.engine.gates import GateResult, wait_for_checks
from jarvisctl.engine.pool import ConnectionPool
from jarvisctl.engine.session import Session
from jarvisctl.engine.steps import StepRunner
from jarvisctl.plan.model import RolloutPlan, StepPlan
from jarvisctl.store.rollouts import (
    HostState,
    RolloutStore,
    StepRecord,
    StepState,
)

GATE_INTERVAL = 5.0  # seconds between two looks at a gate's checks, at most
GATE_LOOKS = 20  # ... and at least this many looks within its timeout (at most every 0.5 s)
# phases after which the host may have been changed: a resume goes on from there
CHANGING = ("step", "gate_after", "rollback")

TURN_OF_STATE = {
    HostState.UPDATED: RolloutTurn.UPDATED,
    HostState.UNCHANGED: RolloutTurn.UNCHANGED,
    HostState.ROLLED_BACK: RolloutTurn.ROLLED_BACK,
    HostState.ROLLBACK_FAILED: RolloutTurn.ROLLBACK_FAILED,
    HostState.DEFERRED: RolloutTurn.DEFERRED,
    HostState.SKIPPED: RolloutTurn.SKIPPED,
    HostState.DECISION: RolloutTurn.SKIPPED,
}


@dataclass(frozen=True)
class TurnEnd:
    """How a host's turn ended: the state written, why, and whether it counts as failed."""

    state: HostState
    reason: str = ""
    failed: bool = False
    deferred_until: float | None = None

    @property
    def turn(self) -> RolloutTurn:
        return TURN_OF_STATE[self.state]


@dataclass
class Progress:
    """Writes where the turn stands; in check mode (store None) nothing is written."""

    store: RolloutStore | None
    rollout: str
    host: str
    clock: Clock

    def phase(self, phase: str, *, started: bool = False, step: int | None = None) -> None:
        if self.store is not None:
            self.store.set_host(
                self.rollout,
                self.host,
                HostState.IN_FLIGHT,
                at=self.clock.now(),
                phase=phase,
                step=step,
                started=started,
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
                deferred_until=end.deferred_until,
                failed=end.failed,
            )


@dataclass
class Turn:
    """A host's turn, on its session's open connection."""

    session: Session
    connection: Connection
    pool: ConnectionPool
    backups: BackupWork
    plan: RolloutPlan
    rollout: str  # its id
    batch: int
    mode: str
    cancel: threading.Event
    progress: Progress
    resumed_phase: str = ""  # where an earlier run left the host in flight ("" none)
    earlier: Sequence[StepRecord] = ()  # the steps earlier runs started on this host
    abort: bool = False  # `rollout abort --rollback`: only the rollback, then the gate

    def __post_init__(self) -> None:
        self.notes: list[StepNote] = []
        self.latest: dict[str, CheckResult] = {}  # each gate check's last result, by name
        self.observed: dict[str, CheckResult] = {}
        self.runner = StepRunner(
            self.session,
            self.connection,
            self.pool,
            self.backups,
            mode=self.mode,
            cancel=self.cancel,
            rollout=self.rollout,
        )

    @property
    def checking(self) -> bool:
        return self.mode == "check"

    def run(self, run: HostRun) -> tuple[HostRun, TurnEnd]:
        """The host's run with its steps and its turn."""
        end = self._turn(run)
        if self.cancel.is_set() and end.state is HostState.IN_FLIGHT:
            run = replace(run, outcome=Outcome.INTERRUPTED, error="the run was stopped")
        else:
            self.progress.end(end)
        self.session.emit(RolloutHost(self.rollout, self.batch, end.turn.value, end.reason))
        note = RolloutNote(self.rollout, self.batch, end.turn, end.reason)
        # the host as the turn left it: each check a gate looked at last, as it was then
        checks = tuple(
            replace(self.latest[c.name], previous_status=c.status) if c.name in self.latest else c
            for c in run.checks
        )
        return replace(run, checks=checks, steps=(*run.steps, *self.notes), rollout=note), end

    def _turn(self, run: HostRun) -> TurnEnd:
        host = self.session.host
        # the run's own checks, made just before the turn: a gate they already pass needs no
        # second look, until something (a wait) has let time pass
        self.observed = {c.name: c for c in run.checks}
        if self.abort:
            rolled = [r for r in self.earlier if r.phase == "rollback"]
            self.earlier = rolled  # an earlier abort's rollback goes on where it stopped
            return self._rollback("the rollout was aborted")
        if self.resumed_phase not in CHANGING:
            self.progress.phase("wait_for", started=True)
            if self.plan.wait_for:
                held = self._gate("wait_for", self.plan.wait_for, self.plan.wait_timeout)
                if not held.passed:
                    return self._deferred(f"held by wait_for: {held.reason}")
            self.progress.phase("gate_before")
            if self.plan.gate:
                before = self._gate("before", self.plan.gate, self.plan.gate_timeout)
                if not before.passed:
                    why = f"the gate before its steps did not pass: {before.reason}"
                    return TurnEnd(HostState.SKIPPED, why, failed=not self.checking)
            if self.plan.backup and not self.checking:
                self.progress.phase("backup")
                failed = self._backups(run)
                if failed:
                    why = f"the backup before its steps failed: {failed}"
                    return TurnEnd(HostState.SKIPPED, why, failed=True)
        if self.cancel.is_set():
            return TurnEnd(HostState.IN_FLIGHT, "the run was stopped")
        if self.resumed_phase != "rollback":
            failure = self._steps(host.steps)
            if self.cancel.is_set():
                return TurnEnd(HostState.IN_FLIGHT, "the run was stopped")
            if isinstance(failure, TurnEnd):
                return failure
            if failure is None:
                if self.checking:
                    return self._checked()
                self.progress.phase("gate_after")
                after = self._after_gate()
                if after is None:
                    changed = self._changed()
                    state = HostState.UPDATED if changed else HostState.UNCHANGED
                    return TurnEnd(state, "" if changed else "its steps found nothing to change")
                failure = f"the gate after its steps did not pass: {after}"
        else:
            failure = "its rollback was in flight when the controller stopped"
        return self._rollback(failure)

    def _steps(self, steps: Sequence[StepPlan]) -> str | TurnEnd | None:
        """Run the steps not finished earlier; the failure, a decision to wait for, or None."""
        finished = {(r.phase, r.index) for r in self.earlier if r.state is not StepState.STARTED}
        started = {(r.phase, r.index) for r in self.earlier if r.state is StepState.STARTED}
        todo = [s for s in steps if (s.phase, s.index) not in finished]
        for step in todo:
            if step.once and (step.phase, step.index) in started:
                why = (
                    f"step {step.index + 1} '{step.name}' is once: true and was in flight when "
                    "the controller stopped: check the host, then resume with the step done "
                    "or abort the rollout"
                )
                return TurnEnd(HostState.DECISION, why)
        phases = {s.phase for s in steps}
        failed_earlier = [
            r for r in self.earlier if r.phase in phases and r.state is StepState.FAILED
        ]
        if failed_earlier:  # the controller stopped after it failed, before what follows
            first = failed_earlier[0]
            return f"{first.phase} {first.index + 1} '{first.name}' failed (in an earlier run)"
        notes = self.runner.run_all(
            todo, before=self.progress.step_started, after=self.progress.step_finished
        )
        self.notes += notes
        self.connection = self.runner.connection
        for note in notes:
            if note.outcome is StepOutcome.FAILED:
                return f"step {note.index + 1} '{note.name}' failed: {note.reason}"
        return None

    def _after_gate(self) -> str | None:
        if not self.plan.gate:
            if self.plan.settle:
                self.session.clock.sleep(self.plan.settle, self.cancel)
            return None
        after = self._gate("after", self.plan.gate, self.plan.gate_timeout, settle=self.plan.settle)
        return None if after.passed else after.reason

    def _rollback(self, failure: str) -> TurnEnd:
        host = self.session.host
        if self.checking:
            return TurnEnd(HostState.SKIPPED, f"check mode: {failure}")
        if not host.rollback:
            why = f"{failure}; the rollout has no rollback steps"
            return TurnEnd(HostState.ROLLBACK_FAILED, why, failed=True)
        self.progress.phase("rollback")
        result = self._steps(host.rollback)
        if isinstance(result, TurnEnd):
            return result
        if result is not None:
            return TurnEnd(HostState.ROLLBACK_FAILED, f"{failure}; rollback: {result}", True)
        if self.plan.gate:
            gate = self._gate(
                "after_rollback", self.plan.gate, self.plan.gate_timeout, settle=self.plan.settle
            )
            if not gate.passed:
                why = f"{failure}; after the rollback the gate did not pass: {gate.reason}"
                return TurnEnd(HostState.ROLLBACK_FAILED, why, failed=True)
        return TurnEnd(HostState.ROLLED_BACK, failure, failed=True)

    def _checked(self) -> TurnEnd:
        """Check mode: what the steps would do; nothing was changed."""
        would = [n for n in self.notes if n.outcome is StepOutcome.WOULD_CHANGE]
        if not would:
            return TurnEnd(HostState.SKIPPED, "check mode: its steps would change nothing")
        names = ", ".join(f"'{n.name}'" for n in would)
        return TurnEnd(HostState.SKIPPED, f"check mode: would change {len(would)}: {names}")

    def _changed(self) -> bool:
        earlier = any(r.outcome == StepOutcome.CHANGED.value for r in self.earlier)
        return earlier or any(n.changed for n in self.notes if n.phase == "step")

    def _deferred(self, reason: str) -> TurnEnd:
        until = self.session.clock.now() + self.plan.defer_for
        return TurnEnd(HostState.DEFERRED, reason, deferred_until=until)

    def _gate(
        self, when: str, names: Sequence[str], timeout: float, *, settle: float = 0.0
    ) -> GateResult:
        result = self._seen(names) if when in ("wait_for", "before") else None
        if result is None:
            result = wait_for_checks(
                self.session,
                self.runner.connection,
                names,
                timeout=0.0 if self.checking else timeout,
                interval=min(GATE_INTERVAL, max(0.5, timeout / GATE_LOOKS)),
                cancel=self.cancel,
                purpose=f"gate {when}",
                settle=0.0 if self.checking else settle,
            )
            self.observed = {}  # time has passed: later gates look again
        self.latest.update((r.name, r) for r in result.results)
        self.session.emit(
            Gate(
                rollout=self.rollout,
                when=when,
                checks=tuple(names),
                statuses=tuple(r.status.value for r in result.results),
                passed=result.passed,
                reason=result.reason,
                seconds=round(result.seconds, 3),
            )
        )
        return result

    def _seen(self, names: Sequence[str]) -> GateResult | None:
        """The gate passed on the run's own checks, when each of them was OK (by its
        thresholds, whatever `for:` still holds back); None: look again."""
        seen = [self.observed.get(name) for name in names]
        found = [c for c in seen if c is not None]
        if len(found) < len(names) or any(
            (c.raw_status or c.status) is not Status.OK for c in found
        ):
            return None
        return GateResult(True, tuple(found), "OK in the run's checks just before", 0.0)

    def _backups(self, run: HostRun) -> str:
        """Take the rollout's backups on the host; the first failure's reason, or ""."""
        host = self.session.host
        wanted = tuple(b for b in host.backups if b.name in self.plan.backup)
        session = replace(self.session, host=replace(host, backups=wanted))
        taken = take_backups(session, self.runner.connection, run, self.backups)
        for note in taken.backups:
            if note.failed or note.outcome != "taken":
                return f"backup '{note.name}': {note.reason or note.outcome}"
        return ""


def unreachable_end(plan: RolloutPlan, reason: str, now: float) -> TurnEnd:
    """A host whose session could not start: deferred, or failed (`unreachable: fail`)."""
    if plan.unreachable == "defer":
        return TurnEnd(HostState.DEFERRED, reason, deferred_until=now + plan.defer_for)
    return TurnEnd(HostState.SKIPPED, reason, failed=True)
