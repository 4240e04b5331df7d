"""Remediations that verify themselves, with budgets, escalation and a fleet circuit breaker.

Per host and failing check, the ladder's first rung that applies (its `on` names the status,
its budget is not spent, no cooldown runs) is attempted; after `settle` the check is re-run on
the same connection and the attempt counts as verified only if the check recovered. A rung that
does not verify hands over to the next. When every rung's budget is spent the check is escalated
on that host: no automatic attempt until it recovers by itself or an operator resets it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

from jarvisctl.config.models.values import format_duration
from jarvisctl.core.events import Remediation
from jarvisctl.core.frozen import frozen
from jarvisctl.core.results import Attempt, CheckResult, HostRun, RemediationNote, Status
from jarvisctl.plan.model import CheckPlan, HostPlan, PlayPlan, RemediationPlan
from jarvisctl.store.ledger import Ledger, RemediationLedger


@frozen
class Need:
    """A failing check on a host, and the rung its ladder would attempt (None: none)."""

    host: str
    check: CheckPlan
    result: CheckResult
    rung: int | None
    notes: tuple[RemediationNote, ...] = ()  # rungs passed over, and why

    @property
    def remediation(self) -> RemediationPlan | None:
        return None if self.rung is None else self.check.remediations[self.rung]


def rung_key(index: int, remediation: RemediationPlan) -> str:
    return f"{index + 1}:{remediation.use}"


def applicable_rungs(check: CheckPlan, status: Status) -> list[int]:
    """The rungs of the check's ladder whose `on` names this status, in order."""
    return [i for i, r in enumerate(check.remediations) if status.value in r.on]


def attempts_used(past: Ledger, check: CheckPlan, index: int, now: float) -> int:
    """How many times the rung ran within its window: its budget is spent at max_attempts."""
    rung = check.remediations[index]
    return past.attempts_since(rung_key(index, rung), now - rung.window)


def decide(
    play: PlayPlan, host: HostPlan, run: HostRun, ledger: RemediationLedger | None, now: float
) -> list[Need]:
    """What each failing check's ladder would do on this host now."""
    needs = []
    # by name: the checks measured on the controller have no result yet (engine/after.py)
    results = {result.name: result for result in run.checks}
    for check in host.checks:
        result = results.get(check.name)
        if not check.remediations or result is None:
            continue
        past = ledger.read(host.host, play.name, check.name) if ledger else Ledger({})
        if result.status is Status.OK:
            if ledger is not None and (past.escalated_since is not None or past.attempts):
                # the check recovered (and it is verified OK now): escalation and counters end
                ledger.recovered(host.host, play.name, check.name, verified=True)
            continue
        need = _ladder(host.host, check, result, past, now)
        if need is not None:
            needs.append(need)
    return needs


def _ladder(
    host: str, check: CheckPlan, result: CheckResult, past: Ledger, now: float
) -> Need | None:
    applicable = applicable_rungs(check, result.status)
    if not applicable:
        return None
    first = check.remediations[applicable[0]]
    if past.escalated_since is not None:
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(past.escalated_since))
        reason = (
            f"escalated since {since} ({past.escalated_reason}); no automatic attempt until "
            f"the check recovers or `jarvisctl remediations reset {host} '{check.name}'`"
        )
        return Need(host, check, result, None, (_skipped(check, applicable[0], reason),))
    last = past.last_attempt()
    if last is not None and now - last < first.cooldown:
        reason = (
            f"cooldown: last attempt {format_duration(round(now - last))} ago, "
            f"cooldown {format_duration(first.cooldown)}"
        )
        return Need(host, check, result, None, (_skipped(check, applicable[0], reason),))
    passed: list[RemediationNote] = []
    for index in applicable:
        rung = check.remediations[index]
        used = attempts_used(past, check, index, now)
        if used < rung.max_attempts:
            return Need(host, check, result, index, tuple(passed))
        reason = (
            f"budget spent: {used} of {rung.max_attempts} attempts in the last "
            f"{format_duration(rung.window)}"
        )
        passed.append(_skipped(check, index, reason))
    return Need(host, check, result, None, tuple(passed))


def _skipped(check: CheckPlan, index: int, reason: str) -> RemediationNote:
    rung = check.remediations[index]
    return RemediationNote(check.name, rung.use, Attempt.SKIPPED, reason, rung.commands, index + 1)


def circuit_breaker(play: PlayPlan, needs: Sequence[Need]) -> dict[tuple[str, str], list[str]]:
    """The (check, remediation) pairs that too many of the play's hosts need at once."""
    wanted: dict[tuple[str, str], list[str]] = {}
    for need in needs:
        if need.remediation is not None:
            wanted.setdefault((need.check.name, need.remediation.use), []).append(need.host)
    total = max(1, len(play.hosts))
    return {
        pair: hosts
        for pair, hosts in wanted.items()
        if len(hosts) >= play.breaker_min_hosts
        and 100 * len(hosts) / total > play.max_fleet_percent
    }


def blocked(need: Need, hosts: Sequence[str], play: PlayPlan) -> Need:
    """The need with its rung withheld by the circuit breaker."""
    assert need.rung is not None and need.remediation is not None
    share = 100 * len(hosts) / max(1, len(play.hosts))
    reason = (
        f"circuit breaker: {len(hosts)} of {len(play.hosts)} hosts ({share:.0f}%) need "
        f"{need.remediation.use} for '{need.check.name}', above max_fleet_percent "
        f"{play.max_fleet_percent:g}; a systemic cause is not fixed host by host"
    )
    note = _skipped(need.check, need.rung, reason)
    return replace(need, rung=None, notes=(*need.notes, note))


def would_run(need: Need) -> RemediationNote:
    assert need.rung is not None and need.remediation is not None
    reason = f"'{need.check.name}' is {need.result.status.value} (check mode: nothing is changed)"
    return RemediationNote(
        need.check.name,
        need.remediation.use,
        Attempt.WOULD_RUN,
        reason,
        need.remediation.commands,
        need.rung + 1,
    )


def remediation_event(note: RemediationNote) -> Remediation:
    verification = note.verification
    return Remediation(
        check=note.check,
        use=note.use,
        rung=note.rung,
        outcome=note.outcome.value,
        reason=note.reason,
        commands=tuple(note.commands),
        exit_codes=tuple(note.exit_codes),
        verified_value=verification.value if verification else None,
        verified_status=verification.status.value if verification else None,
        verified_perfdata=tuple(d.as_record() for d in verification.perfdata)
        if verification
        else (),
        seconds=round(note.duration, 3),
    )


def note_event(note: RemediationNote) -> dict[str, object]:
    """A note as the journal records it (and `run --json` shows it)."""
    return remediation_event(note).record()
