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

from jarvisctl.config.models.values import format_duration
from jarvisctl.connection.base import Connection
from jarvisctl.core.errors import SessionInterruptedError, UnreachableError
from jarvisctl.core.results import (
    CheckResult,
    HostRun,
    Outcome,
    RolloutNote,
    Status,
    StepNote,
    StepOutcome,
)
from jarvisctl.core.step_events import Gate
from jarvisctl.core.step_events import RolloutHost as RolloutHostEvent
from jarvisctl.engine.backups import BackupWork, take_backups
from jarvisctl.engine.gates import GateResult, wait_for_checks
from jarvisctl.engine.pool import ConnectionPool
from jarvisctl.engine.recorded import run_recorded
from jarvisctl.engine.rollout_ends import CHANGING, STOPPED, TurnEnd, lost_end
from jarvisctl.engine.rollout_progress import Progress
from jarvisctl.engine.session import Session
from jarvisctl.engine.steps import StepRunner
from jarvisctl.plan.model import RolloutPlan, StepPlan
from jarvisctl.store.rollouts import (
    HostState,
    StepRecord,
    StepState,
)

REACH_TIMEOUT = 10.0  # seconds a host found gone may take to answer again, when none is set
GATE_INTERVAL = 5.0  # seconds between two looks at a gate's checks, at most
GATE_LOOKS = 20  # ... and at least this many looks within its timeout (at most every 0.5 s)


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
        self.lost = ""  # why the host could not be reached, once a failure found it gone
        self.asked = False  # a step's failure has just asked whether the host answers
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
        self.session.emit(RolloutHostEvent(self.rollout, self.batch, end.turn.value, end.reason))
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
            not_started = self._before_steps(run)
            if not_started is not None:
                return not_started
        if self.cancel.is_set():
            return STOPPED
        if self.resumed_phase == "rollback":
            return self._rollback("its rollback had started in an earlier run")
        failure = self._steps(host.steps)
        if self.cancel.is_set():
            return STOPPED
        if isinstance(failure, TurnEnd):
            return failure
        if failure is None:
            if self.checking:
                return self._checked()
            self.progress.phase("gate_after")
            after = self._after_gate()
            if self.cancel.is_set():
                return STOPPED
            if after is None:
                changed = self._changed()
                state = HostState.UPDATED if changed else HostState.UNCHANGED
                return TurnEnd(state, "" if changed else "its steps found nothing to change")
            failure = f"the gate after its steps did not pass: {after}"
        cut = self._cut_short(failure)  # a host gone away cannot run its rollback either
        return cut if cut is not None else self._rollback(failure)

    def _before_steps(self, run: HostRun) -> TurnEnd | None:
        """wait_for, the gate before, the rollout's backups: how the turn ends before the
        host's steps, or None when they may start."""
        self.progress.phase("wait_for", started=True)
        if self.plan.wait_for:
            held = self._gate("wait_for", self.plan.wait_for, self.plan.wait_timeout)
            if not held.passed:
                why = f"held by wait_for: {held.reason}"
                return self._cut_short(why) or self._deferred(why)
        self.progress.phase("gate_before")
        if self.plan.gate:
            before = self._gate("before", self.plan.gate, self.plan.gate_timeout)
            if not before.passed:
                why = f"the gate before its steps did not pass: {before.reason}"
                cut = self._cut_short(why)
                return cut or TurnEnd(HostState.SKIPPED, why, failed=not self.checking)
        if self.plan.backup and not self.checking:
            self.progress.phase("backup")
            failed = self._backups(run)
            if failed:
                why = f"the backup before its steps failed: {failed}"
                return self._cut_short(why) or TurnEnd(HostState.SKIPPED, why, failed=True)
        return None

    def _cut_short(self, failure: str) -> TurnEnd | None:
        """After `failure`: the turn's end when the run was stopped (the host stays in flight,
        for a resume) or when the host is no longer reachable; None when it answers."""
        if self.cancel.is_set():
            return STOPPED
        if self.checking:
            return None
        if not self.lost and not self.asked:  # a failed step asked already, just before
            self.lost = self._unreachable()
        self.asked = False
        return self._lost_end(failure) if self.lost else None

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
        notes = self.runner.run_all(todo, before=self.progress.step_started, after=self._finished)
        self.notes += notes
        self.connection = self.runner.connection
        for note in notes:
            if note.outcome is StepOutcome.FAILED:
                return f"step {note.index + 1} '{note.name}' failed: {note.reason}"
        return None

    def _finished(self, step: StepPlan, note: StepNote) -> None:
        """A step ended: written, unless it failed because the host went away (its
        connection lost, the host not answering again) and its turn is deferred for it: then
        the step stays unfinished, and goes on when the host is back."""
        if note.outcome is StepOutcome.FAILED and not self.checking:
            self.lost = self.lost or self._unreachable()
            self.asked = True
            if self.lost and self._defers():
                return
        self.progress.step_finished(step, note)

    def _defers(self) -> bool:
        """Whether a host found unreachable in the middle of its turn is deferred (else it
        counts as failed): `unreachable: defer`, outside an abort (which ends the rollout)."""
        return self.plan.unreachable == "defer" and not self.abort

    def _unreachable(self) -> str:
        """Why the host cannot be reached now, or "" when it answers: asked after a failure,
        before anything else (a rollback) is tried on it."""
        connection = self.runner.connection
        timeout = connection.settings.connect_timeout or REACH_TIMEOUT
        try:
            answer = run_recorded(
                self.session,
                connection,
                "true",
                timeout=timeout,
                purpose="reachable",
                label="is the host reachable",
            )
        except UnreachableError as exc:
            return "" if self._stopped(exc) else str(exc)
        if answer.ok:
            return ""
        return f"{self.session.host.host} did not answer within {format_duration(timeout)}"

    def _stopped(self, exc: UnreachableError) -> bool:
        return self.cancel.is_set() or isinstance(exc, SessionInterruptedError)

    def _lost_end(self, failure: str) -> TurnEnd:
        """The turn of a host found unreachable after `failure` (engine/rollout_ends.py)."""
        now = self.session.clock.now()
        return lost_end(self.plan, self.progress.at, failure, self.lost, now, defers=self._defers())

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
        if self.cancel.is_set():
            return STOPPED
        if isinstance(result, TurnEnd):
            return result
        if result is not None:
            failed = f"{failure}; rollback: {result}"
            if self.lost:
                return self._lost_end(failed)
            return TurnEnd(HostState.ROLLBACK_FAILED, failed, True)
        if self.plan.gate:
            gate = self._gate(
                "after_rollback", self.plan.gate, self.plan.gate_timeout, settle=self.plan.settle
            )
            if not gate.passed:
                why = f"{failure}; after the rollback the gate did not pass: {gate.reason}"
                cut = self._cut_short(why)
                return cut or TurnEnd(HostState.ROLLBACK_FAILED, why, failed=True)
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
            try:
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
            except UnreachableError as exc:  # the connection died under the gate's checks
                stopped = self._stopped(exc)
                if not stopped:
                    self.lost = str(exc)
                why = "the run was stopped" if stopped else f"the connection was lost: {exc}"
                result = GateResult(False, (), why, 0.0)
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
