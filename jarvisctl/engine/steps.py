"""One host's steps (a play's `tasks:`, a rollout's `steps:` and `rollback:`, and each
remediation rung's attempt: engine/attempts.py) on its open connection: guards, then the
step's action, in one attempt loop with `retries` and `delay`.

Guards first: `creates` (`test -e PATH`), `removes` (`test ! -e PATH`) and `unless` (the
command exits 0): one that holds makes the step `ok` without running anything more (attempts
0). Then the action (kinds/step_base.py says what each one means): a ShellAction probes, applies
and verifies (engine/step_shell.py); a PollAction re-runs its probe until it passes; a
CheckWaitAction waits for the play's checks (engine/gates.py); a RebootAction, a RestoreAction
and a FabricAction are engine/step_reboot.py's, step_restore.py's and step_fabric.py's, and a
RemedyAction (a rung: its commands, then its check again) engine/step_remedy.py's. A failed
attempt is tried again, `delay` seconds later on the session's clock, `retries` times.

Check mode (`mode == "check"`) runs the guards and the probes only (they read), never what
changes the host: a step is `ok` or `would change`, with why.

Every command is a Command event (purpose "step", or "remediation" for a rung's) and every
step a Step event, skipped ones included, so that the journal has them (a rung's record is its
Remediation event, which the ladder emits); the sinks redact secrets as everywhere.
"""

from __future__ import annotations

import shlex
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from jarvisctl.connection.base import CommandResult, Connection
from jarvisctl.connection.become import as_become_user
from jarvisctl.connection.hidden import COMMAND_ON_STDIN
from jarvisctl.connection.stdin import StdinSource
from jarvisctl.core.errors import SessionInterruptedError, UnreachableError
from jarvisctl.core.events import Maintenance
from jarvisctl.core.results import StepNote, StepOutcome
from jarvisctl.core.step_events import Step
from jarvisctl.engine.gates import wait_for_checks
from jarvisctl.engine.pool import ConnectionPool
from jarvisctl.engine.recorded import run_recorded
from jarvisctl.engine.session import Session
from jarvisctl.engine.step_attempt import Ran, Trail, failure
from jarvisctl.engine.step_reboot import reboot_attempt
from jarvisctl.engine.step_shell import poll_attempt, shell_attempt
from jarvisctl.kinds.step_base import (
    CheckWaitAction,
    FabricAction,
    HostCommand,
    PollAction,
    RebootAction,
    RemedyAction,
    RestoreAction,
    ShellAction,
)
from jarvisctl.plan.model import REMEDIATION, StepPlan

if TYPE_CHECKING:  # a run whose steps restore nothing never imports the backup modules
    from jarvisctl.engine.backups import BackupWork

STOPPED_BEFORE = "the run was stopped before this step"
CHECK_WAIT_INTERVAL = 5.0  # seconds between two runs of the checks a wait_for step waits for


class StepRunner:
    """One host's steps on its open connection (a reboot step replaces `connection`)."""

    def __init__(
        self,
        session: Session,
        connection: Connection,
        pool: ConnectionPool,
        backups: BackupWork | None,
        *,
        mode: str,
        cancel: threading.Event,
        rollout: str = "",
        record_steps: bool = True,
    ) -> None:
        self.session = session
        self.connection = connection
        self.pool = pool
        self.backups = backups  # None: no snapshot to restore from (a remediation's runner)
        self.mode = mode
        self.cancel = cancel
        self.rollout = rollout
        self.record_steps = record_steps  # False: the caller records (a remediation's event)
        self.lost: UnreachableError | None = None  # the connection lost under the last step

    @property
    def checking(self) -> bool:
        return self.mode == "check"

    def run_all(
        self,
        steps: Sequence[StepPlan],
        *,
        before: Callable[[StepPlan], None] | None = None,
        after: Callable[[StepPlan, StepNote], None] | None = None,
    ) -> tuple[StepNote, ...]:
        """Every step in order; once one failed (or was interrupted) the rest are skipped,
        saying which. `before(step)` is called before each step runs, `after(step, note)`
        once it ended (skipped ones included)."""
        notes: list[StepNote] = []
        stop = ""
        for step in steps:
            if stop:
                note = self.skipped(step, stop)
            else:
                if before is not None:
                    before(step)
                note = self.run(step)
                if note.outcome is StepOutcome.FAILED:
                    stop = f"after {step.name!r} failed"
                elif note.outcome is StepOutcome.INTERRUPTED:
                    stop = "the run was stopped"
            if after is not None:
                after(step, note)
            notes.append(note)
        return tuple(notes)

    def skipped(self, step: StepPlan, reason: str) -> StepNote:
        """A step that is not run: its note, recorded like any other."""
        return skipped_step(self.session, step, reason, self.rollout)

    def run(self, step: StepPlan) -> StepNote:
        """Guards, then the action with its retries; never raises for what happens on the
        host (a lost connection is the step's failure, the run's stop its interruption)."""
        if self.cancel.is_set():
            return self.skipped(step, STOPPED_BEFORE)
        clock = self.session.clock
        started, trails = clock.monotonic(), [Trail()]
        self.lost = None
        if isinstance(step.action, RebootAction) and self.record_steps and not self.checking:
            self.session.emit(maintenance_of(step, step.action))
        try:
            ran, attempts = self._run(step, trails)
        except UnreachableError as exc:
            self.lost = exc
            stopped = self.cancel.is_set() or isinstance(exc, SessionInterruptedError)
            outcome = StepOutcome.INTERRUPTED if stopped else StepOutcome.FAILED
            ran, attempts = Ran(outcome, f"the connection was lost: {exc}"), 1
        duration = clock.monotonic() - started
        note = _note(step, ran, attempts, trails[-1], duration)
        if self.record_steps:
            emit_step(self.session, note, self.rollout)
        return note

    def _run(self, step: StepPlan, trails: list[Trail]) -> tuple[Ran, int]:
        """How the step ended (its last attempt, the reason saying which it was) and how many
        attempts its action ran; `trails` gets each attempt's commands as they run (the last
        one is the note's, even when the connection is lost mid-way)."""
        held = self._guards(step, trails[-1])
        if held is not None:
            return held, 0
        attempts = 0
        for number in range(1, step.retries + 2):
            trails.append(Trail())
            ran = self._attempt(step, trails[-1], applied_before=attempts > 0)
            attempts += ran.applied
            last = number > step.retries or self.checking
            if ran.outcome is not StepOutcome.FAILED or last:
                return replace(ran, reason=_tried(ran.reason, number)), attempts
            if self.session.clock.sleep(step.delay, self.cancel):
                reason = f"interrupted before attempt {number + 1}: {ran.reason}"
                return Ran(StepOutcome.INTERRUPTED, reason), attempts
        raise AssertionError("unreachable: the last attempt returns")  # pragma: no cover

    def _guards(self, step: StepPlan, trail: Trail) -> Ran | None:
        """The first guard that holds (the step is ok: nothing to do), or None."""
        guards = []
        if step.creates is not None:
            guards.append((f"test -e {shlex.quote(step.creates)}", f"creates {step.creates}"))
        if step.removes is not None:
            guards.append((f"test ! -e {shlex.quote(step.removes)}", f"removes {step.removes}"))
        if step.unless is not None:
            guards.append((step.unless, f"unless {step.unless!r}"))
        for command, guard in guards:
            result = self.command(step, command, trail)
            if result.timed_out:
                return Ran(StepOutcome.FAILED, f"the guard {guard} {failure(result)}", False)
            if result.exit_code == 0:
                return Ran(StepOutcome.OK, f"skipped: {guard} holds", False)
        return None

    def _attempt(self, step: StepPlan, trail: Trail, *, applied_before: bool) -> Ran:
        action = step.action
        if isinstance(action, ShellAction):
            return shell_attempt(self, step, action, trail, applied_before=applied_before)
        if isinstance(action, PollAction):
            return poll_attempt(self, step, action, trail)
        if isinstance(action, CheckWaitAction):
            return self._check_wait(action)
        if isinstance(action, RebootAction):
            return reboot_attempt(self, step, action, trail)
        if isinstance(action, RestoreAction):
            from jarvisctl.engine.step_restore import restore_attempt

            return restore_attempt(self, step, action)
        if isinstance(action, FabricAction):
            from jarvisctl.engine.step_fabric import fabric_attempt

            return fabric_attempt(self, step, action)
        if isinstance(action, RemedyAction):
            from jarvisctl.engine.step_remedy import remedy_attempt

            return remedy_attempt(self, step, action, trail)
        kind = type(action).__name__
        return Ran(StepOutcome.FAILED, f"the engine cannot run a {kind} (kind {step.kind!r})")

    def _check_wait(self, action: CheckWaitAction) -> Ran:
        gate = wait_for_checks(
            self.session,
            self.connection,
            action.checks,
            timeout=0.0 if self.checking else action.timeout,
            interval=min(action.interval or CHECK_WAIT_INTERVAL, action.timeout),
            cancel=self.cancel,
            purpose="step",
        )
        if gate.passed:
            return Ran(StepOutcome.OK, gate.reason)
        if self.checking:
            return Ran(StepOutcome.WOULD_CHANGE, f"would wait: {gate.reason}", False)
        if self.cancel.is_set():
            return Ran(StepOutcome.INTERRUPTED, gate.reason)
        return Ran(StepOutcome.FAILED, gate.reason)

    def command(
        self, step: StepPlan, command: str | HostCommand, trail: Trail, *, timeout: float = 0.0
    ) -> CommandResult:
        """Run one of the step's commands on the host (as the become user when the step asks
        and the connection does not already), recorded in `trail` and as a Command event."""
        host = command if isinstance(command, HostCommand) else HostCommand(command)
        settings = self.connection.settings
        stdin: StdinSource
        # on stdin unless stdin carries the command's data (a copy's, whose line a kind
        # builds of quoted paths): the host's process list never shows a step's command
        line, stdin = COMMAND_ON_STDIN, host.command
        if host.stdin is not None:
            line, stdin = host.command, host.stdin
        if step.become and not settings.become:
            line = as_become_user(line, settings.become_user)
        result = run_recorded(
            self.session,
            self.connection,
            host.command,
            timeout=timeout or step.timeout,
            purpose="remediation" if step.phase == REMEDIATION else "step",
            label=step.name,
            sent=line,
            stdin=stdin,
        )
        shown = host.describe or host.command
        trail.commands.append(shown)
        trail.exit_codes.append(result.exit_code)
        return replace(result, command=shown)


def maintenance_of(step: StepPlan, action: RebootAction) -> Maintenance:
    """A reboot step begins: the host goes away for at most every attempt's command and wait,
    and the delays between them; its Step event ends it."""
    tries = step.retries + 1
    longest = tries * (step.timeout + action.wait) + step.retries * step.delay
    return Maintenance("reboot", step.name, step_key(step.phase, step.index), longest)


def step_key(phase: str, index: int) -> str:
    """What a Maintenance event and the Step event that ends it share."""
    return f"step:{phase}:{index}"


def skipped_step(session: Session, step: StepPlan, reason: str, rollout: str = "") -> StepNote:
    """A step that is not run (an earlier one failed, the run stopped, the host was not
    reached): its note, recorded as a Step event like any other."""
    note = _note(step, Ran(StepOutcome.SKIPPED, reason), 0, Trail(), 0.0)
    emit_step(session, note, rollout)
    return note


def emit_step(session: Session, note: StepNote, rollout: str = "") -> None:
    session.emit(
        Step(
            phase=note.phase,
            index=note.index,
            name=note.name,
            step_kind=note.kind,
            outcome=note.outcome.value,
            reason=note.reason,
            attempts=note.attempts,
            commands=note.commands,
            exit_codes=note.exit_codes,
            seconds=round(note.duration, 4),
            rollout=rollout,
        )
    )


def _tried(reason: str, number: int) -> str:
    return reason if number == 1 else f"{reason} (attempt {number})"


def _note(step: StepPlan, ran: Ran, attempts: int, trail: Trail, duration: float) -> StepNote:
    return StepNote(
        phase=step.phase,
        index=step.index,
        name=step.name,
        kind=step.kind,
        outcome=ran.outcome,
        reason=ran.reason,
        attempts=attempts,
        commands=tuple(trail.commands),
        exit_codes=tuple(trail.exit_codes),
        duration=duration,
        verification=ran.verification,
    )
