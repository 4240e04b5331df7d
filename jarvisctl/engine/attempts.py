"""Carry out a host's remediation ladders on its open connection, verifying each attempt."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace

from jarvisctl.config.models.values import format_duration
from jarvisctl.connection.base import CommandResult, Connection
from jarvisctl.core.errors import UnreachableError
from jarvisctl.core.results import Attempt, CheckResult, RemediationNote, Status
from jarvisctl.engine.pool import ConnectionPool
from jarvisctl.engine.reconnect import reconnect
from jarvisctl.engine.recorded import record, run_recorded
from jarvisctl.engine.remedy import (
    Need,
    applicable_rungs,
    attempts_used,
    remediation_event,
    rung_key,
)
from jarvisctl.engine.session import Session, run_checks
from jarvisctl.engine.statuses import INITIAL, is_clear
from jarvisctl.store.ledger import RemediationLedger


@dataclass
class Remediator:
    """One host's remediation work: its session, its connection (which a reboot replaces)."""

    session: Session
    connection: Connection
    pool: ConnectionPool
    ledger: RemediationLedger
    cancel: threading.Event

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
        clock = self.session.clock
        rung, started = need.check.remediations[index], clock.monotonic()
        key = rung_key(index, rung)
        self.ledger.record(
            need.host, self.session.play.name, need.check.name, key, clock.now(), "attempted"
        )  # counted even if we die mid-way

        def ended(
            outcome: Attempt,
            reason: str,
            codes: tuple[int | None, ...] = (),
            verification: CheckResult | None = None,
        ) -> RemediationNote:
            return RemediationNote(
                need.check.name,
                rung.use,
                outcome,
                reason,
                rung.commands,
                index + 1,
                codes,
                verification,
                clock.monotonic() - started,
            )

        codes: list[int | None] = []
        for command in rung.commands:
            result = self._run(need, command, rung.timeout, expect_drop=rung.reconnect > 0)
            codes.append(result.exit_code)
            if not result.ok and not rung.reconnect:
                return ended(Attempt.FAILED, _failure(result), tuple(codes))
        if rung.reconnect and not self._wait_for_host(rung.reconnect):
            reason = f"the host did not come back within {format_duration(rung.reconnect)}"
            return ended(Attempt.FAILED, reason, tuple(codes))
        if clock.sleep(rung.settle, self.cancel):
            return ended(Attempt.NOT_VERIFIED, "interrupted before verification", tuple(codes))
        check = run_checks(self.session, self.connection, [need.check], purpose="verify")[0]
        if _recovered(check, need, rung.verify):
            self._mark_recovered(need, check)
            reason = f"'{need.check.name}' recovered: {_value(check)} ({check.status.value})"
            return ended(Attempt.VERIFIED, reason, tuple(codes), check)
        why = check.reason or f"status {check.status.value}"
        reason = f"'{need.check.name}' still {check.status.value} after {rung.use}: {why}"
        return ended(Attempt.NOT_VERIFIED, reason, tuple(codes), check)

    def _run(self, need: Need, command: str, timeout: float, *, expect_drop: bool) -> CommandResult:
        try:
            return run_recorded(
                self.session,
                self.connection,
                command,
                timeout=timeout,
                purpose="remediation",
                label=need.check.name,
            )
        except UnreachableError:
            if not expect_drop:
                raise
            result = CommandResult(command, None, "", "connection closed by the host", 0.0, False)
            record(self.session, command, result, purpose="remediation", label=need.check.name)
            return result

    def _wait_for_host(self, deadline_seconds: float) -> bool:
        """After a reboot: reconnect until the deadline (the old connection is dead)."""
        settings, clock = self.session.host.settings, self.session.clock
        back = reconnect(
            self.pool,
            settings,
            self.connection,
            clock=clock,
            cancel=self.cancel,
            seconds=deadline_seconds,
        )
        if back is None:
            return False
        self.connection = back
        return True

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
                        value=check.value,
                        since=now,
                        updated=now,
                    )
                },
            )

    def _escalate_if_spent(self, need: Need) -> None:
        applicable = applicable_rungs(need.check, need.result.status)
        if self.cancel.is_set() or any(self._budget_left(need, i) for i in applicable):
            return
        reason = "every remediation's budget is spent and the check has not recovered"
        at = self.session.clock.now()
        self.ledger.escalate(need.host, self.session.play.name, need.check.name, at, reason)

    def _emit(self, note: RemediationNote) -> None:
        self.session.emit(remediation_event(note))


def _recovered(check: CheckResult, need: Need, verify: tuple[str, ...]) -> bool:
    if check.status.value not in verify:
        return False
    if check.status is Status.OK and check.value is not None:
        return is_clear(check.value, need.check)  # hysteresis: recovered means clear
    return True


def _value(check: CheckResult) -> str:
    return "no value" if check.value is None else f"{check.value:g}{check.unit}"


def _failure(result: CommandResult) -> str:
    if result.timed_out:
        return f"{result.command!r} timed out after {result.duration:.0f}s"
    tail = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:] or [""]
    return f"{result.command!r} exited {result.exit_code}: {tail[0][:200]}".rstrip(": ")
