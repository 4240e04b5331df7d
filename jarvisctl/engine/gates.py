"""Waiting for a host's health: the play's named checks re-run on the host until every one is
OK, or the time runs out. A `wait_for` step, a rollout's gate before and after a host's steps,
and its `wait_for` preconditions all wait this way.

The checks run as a run's checks do (one script, engine/session.run_checks) under their own
`purpose`, so the journal tells a gate's commands from the run's; no check state is written:
a gate's verdict is about now, and hysteresis (`for:`, `clear:`) belongs to the run's checks.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from jarvisctl.config.models.values import format_duration
from jarvisctl.connection.base import Connection
from jarvisctl.core.errors import known_list
from jarvisctl.core.frozen import frozen
from jarvisctl.core.results import CheckResult, Status
from jarvisctl.engine.session import Session, run_checks
from jarvisctl.engine.sides import controller_side
from jarvisctl.plan.model import CheckPlan


@frozen
class GateResult:
    """`passed`: every check was OK at once; `results`: each check's last result (none when
    the checks could not run); `reason`: why not (or what passed); `seconds` waited in all."""

    passed: bool
    results: tuple[CheckResult, ...]
    reason: str
    seconds: float


def wait_for_checks(
    session: Session,
    connection: Connection,
    names: Sequence[str],
    *,
    timeout: float,
    interval: float,
    cancel: threading.Event,
    purpose: str,
    settle: float = 0.0,
) -> GateResult:
    """Settle, then run the checks `names` until all are OK (at most `timeout` after the
    settle, every `interval` seconds). Never raises for a check's status; a connection lost
    on the way raises UnreachableError as a run's checks do."""
    clock = session.clock
    started = clock.monotonic()

    def ended(passed: bool, results: tuple[CheckResult, ...], reason: str) -> GateResult:
        return GateResult(passed, results, reason, round(clock.monotonic() - started, 4))

    plans, problem = _checks(session, names)
    if problem:
        return ended(False, (), problem)
    if settle > 0 and clock.sleep(settle, cancel):
        return ended(False, (), "interrupted while settling: the run was stopped")
    deadline = clock.monotonic() + timeout
    while True:
        results = run_checks(session, connection, plans, purpose=purpose)
        not_ok = [r for r in results if r.status is not Status.OK]
        if not not_ok:
            return ended(True, results, f"{_names(names)} OK")
        left = deadline - clock.monotonic()
        if left <= 0:
            why = "; ".join(_why(r) for r in not_ok)
            return ended(False, results, f"not OK after {format_duration(timeout)}: {why}")
        if clock.sleep(min(interval, left), cancel):
            why = "; ".join(_why(r) for r in not_ok)
            return ended(False, results, f"interrupted while waiting: {why}")


def _checks(session: Session, names: Sequence[str]) -> tuple[tuple[CheckPlan, ...], str]:
    """The host's checks by name, in the order named; or why they cannot gate."""
    known = {c.name: c for c in session.host.checks}
    missing = [n for n in names if n not in known]
    if missing:
        return (), (
            f"no check named {missing[0]!r} on this host in play {session.play.name!r} "
            f"({known_list(known, near=missing[0])})"
        )
    if not names:
        return (), "no check named to wait for"
    plans = tuple(known[n] for n in names)
    measured_here = [c.name for c in plans if controller_side(session.registry, c)]
    if measured_here:
        return (), (
            f"check {measured_here[0]!r} is measured on the controller from the snapshot "
            "index, not on the host: it cannot be waited for"
        )
    return plans, ""


def _names(names: Sequence[str]) -> str:
    return ", ".join(repr(n) for n in names)


def _why(result: CheckResult) -> str:
    why = f"{result.name!r} {result.status.value}"
    return f"{why}: {result.reason}" if result.reason else why
