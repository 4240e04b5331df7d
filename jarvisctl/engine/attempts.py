"""Carry out a host's remediation ladders on its open connection, verifying each attempt.

The ladder is the remediations' own (which rung, within its budget, hands over to which);
each rung's attempt is a step (engine/steps.py with engine/step_remedy.py): the same attempt
loop as a task's or a rollout's, its commands sent on stdin and recorded as every step's are,
then the check re-run to verify it. Its record in the journal is a Remediation event.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from jarvisctl.connection.base import Connection
from jarvisctl.core.events import RemediationEscalated
from jarvisctl.core.results import (
    Attempt,
    CheckResult,
    RemediationNote,
    Status,
    StepNote,
    StepOutcome,
)
from jarvisctl.engine.pool import ConnectionPool
from jarvisctl.engine.remedy import (
    Need,
    applicable_rungs,
    attempts_used,
    remediation_event,
    rung_key,
)
from jarvisctl.engine.session import Session
from jarvisctl.engine.statuses import INITIAL, kept
from jarvisctl.kinds.base import KindParams
from jarvisctl.plan.model import REMEDIATION, CheckPlan, StepPlan
from jarvisctl.store.ledger import RemediationLedger

if TYPE_CHECKING:  # a run that remedies nothing never imports the step engine
    from jarvisctl.engine.steps import StepRunner


@dataclass
class Remediator:
    """One host's remediation work: its session, its connection (which a reboot replaces)."""

    session: Session
    connection: Connection
    pool: ConnectionPool
    ledger: RemediationLedger
    cancel: threading.Event
    runner: StepRunner | None = None  # made at the first attempt

    def run(self, needs: Sequence[Need]) -> tuple[list[RemediationNote], dict[str, CheckResult]]:
        """Every note, and the verified re-check of each check that recovered."""
        notes: list[RemediationNote] = []
        recovered: dict[str, CheckResult] = {}
        for need in needs:
            notes += need.notes
            for note in need.notes:
                self._emit(note)
            if need.rung is not None and not self.cancel.is_set():
                done = self._ladder(need)
                notes += done
                if done and done[-1].outcome is Attempt.VERIFIED and done[-1].verification:
                    recovered[need.check.name] = done[-1].verification
                    continue
            self._escalate_if_spent(need)
        return notes, recovered

    def _ladder(self, need: Need) -> list[RemediationNote]:
        assert need.rung is not None
        notes = []
        for index in applicable_rungs(need.check, need.result.status):
            if index < need.rung or not self._budget_left(need, index):
                continue
            note = self._attempt(need, index)
            notes.append(note)
            self._emit(note)
            if note.outcome is Attempt.VERIFIED or self.cancel.is_set():
                break
        return notes

    def _budget_left(self, need: Need, index: int) -> bool:
        past = self.ledger.read(need.host, self.session.play.name, need.check.name)
        used = attempts_used(past, need.check, index, self.session.clock.now())
        return used < need.check.remediations[index].max_attempts

    def _attempt(self, need: Need, index: int) -> RemediationNote:
        """The rung run as a step (engine/step_remedy.py): the step engine's attempt loop,
        its commands sent as every step's are, and the check re-run to verify it."""
        rung = need.check.remediations[index]
        self.ledger.record(
            need.host,
            self.session.play.name,
            need.check.name,
            rung_key(index, rung),
            self.session.clock.now(),
            "attempted",
        )  # counted even if we die mid-way
        steps = self._steps()
        steps.connection = self.connection
        note = steps.run(rung_step(need.check, index))
        self.connection = steps.connection  # a reboot rung's is a new one
        if steps.lost is not None:  # the host is gone (or the run's stop closed it): its
            raise steps.lost  # session ends, as when a run's checks lose it
        outcome = _attempt_of(note)
        if outcome is Attempt.VERIFIED and note.verification is not None:
            self._mark_recovered(need, note.verification)
        return RemediationNote(
            need.check.name,
            rung.use,
            outcome,
            note.reason,
            note.commands,
            index + 1,
            note.exit_codes,
            note.verification,
            note.duration,
        )

    def _steps(self) -> StepRunner:
        if self.runner is None:
            from jarvisctl.engine.steps import StepRunner  # only a run that remedies needs it

            self.runner = StepRunner(
                self.session,
                self.connection,
                self.pool,
                None,
                mode="run",
                cancel=self.cancel,
                record_steps=False,  # a rung's record is its Remediation event
            )
        return self.runner

    def _mark_recovered(self, need: Need, check: CheckResult) -> None:
        play, host, now = self.session.play.name, need.host, self.session.clock.now()
        self.ledger.recovered(host, play, need.check.name, verified=True)
        if self.session.store is not None:
            key = (play, need.check.name)
            self.session.store.update_host(
                host,
                [key],
                lambda current: {
                    key: replace(
                        current.get(key, INITIAL),
                        status=Status.OK,
                        pending=None,
                        pending_count=0,
                        # the verified reading: `for` counts the next alert from it, not from
                        # the cycles before the fix
                        history=(*current.get(key, INITIAL).history, Status.OK)[
                            -kept(need.check) :
                        ],
                        value=check.value,
                        since=now,
                        updated=now,
                    )
                },
            )

    def _escalate_if_spent(self, need: Need) -> None:
        """Escalate the check when every rung's budget is spent; while it is escalated (now or
        since an earlier run) each run says so (a RemediationEscalated event: an alert)."""
        if self.cancel.is_set():
            return
        play, check = self.session.play.name, need.check.name
        applicable = applicable_rungs(need.check, need.result.status)
        if not any(self._budget_left(need, i) for i in applicable):
            reason = "every remediation's budget is spent and the check has not recovered"
            self.ledger.escalate(need.host, play, check, self.session.clock.now(), reason)
        past = self.ledger.read(need.host, play, check)
        if past.escalated_since is not None:
            self.session.emit(
                RemediationEscalated(check, past.escalated_since, past.escalated_reason)
            )

    def _emit(self, note: RemediationNote) -> None:
        self.session.emit(remediation_event(note))


def rung_step(check: CheckPlan, index: int) -> StepPlan:
    """A rung of the check's ladder as a step: its commands, then the check again."""
    from jarvisctl.kinds.step_base import HostCommand, RemedyAction

    rung = check.remediations[index]
    action = RemedyAction(
        use=rung.use,
        commands=tuple(HostCommand(command) for command in rung.commands),
        check=check.name,
        verify=rung.verify,
        settle=rung.settle,
        reconnect=rung.reconnect,
    )
    return StepPlan(
        phase=REMEDIATION,
        index=index,
        name=check.name,  # the journal's label of a rung's commands is its check
        kind=rung.kind,
        action=action,
        params=KindParams(),
        timeout=rung.timeout,
        location=check.location,
    )


def _attempt_of(note: StepNote) -> Attempt:
    """A rung's step note as a remediation attempt: verified when its check recovered; not
    verified when it ran but the check did not recover (or the run stopped before it could
    tell); failed when its commands failed (or the host did not come back)."""
    if note.outcome is StepOutcome.CHANGED:
        return Attempt.VERIFIED
    if note.outcome is StepOutcome.SKIPPED:
        return Attempt.SKIPPED
    if note.verification is not None or note.outcome is StepOutcome.INTERRUPTED:
        return Attempt.NOT_VERIFIED
    return Attempt.FAILED
