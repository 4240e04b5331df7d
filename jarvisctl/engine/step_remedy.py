"""One attempt of a remediation rung, run as a step by the step engine (engine/steps.py), so
that remediations and steps share one attempt loop, one way of sending a command (on stdin:
the host's process list never shows it) and one journal record per command.

The rung's commands in order; the first that fails fails the attempt, unless the rung
reconnects (a reboot): then the connection dropping under a command is what it does, and the
host is reached again through the pool within `reconnect` seconds. After `settle`, the check is
re-run on the (new) connection: the attempt is verified only if the check's status is one the
rung's `verify` names, and an OK value is clear of its thresholds (hysteresis: recovered
means clear, not merely under the line).
"""

from __future__ import annotations

from jarvisctl.config.models.values import format_duration
from jarvisctl.core.errors import UnreachableError
from jarvisctl.core.results import CheckResult, Status, StepOutcome
from jarvisctl.engine.reconnect import reconnect
from jarvisctl.engine.session import run_checks
from jarvisctl.engine.statuses import is_clear
from jarvisctl.engine.step_attempt import Ran, StepHost, Trail, failure
from jarvisctl.kinds.step_base import RemedyAction
from jarvisctl.plan.model import CheckPlan, StepPlan

INTERRUPTED_BEFORE_VERIFYING = "interrupted before verification"


def remedy_attempt(runner: StepHost, step: StepPlan, action: RemedyAction, trail: Trail) -> Ran:
    """commands → (reconnect) → settle → the check again."""
    check = next((c for c in runner.session.host.checks if c.name == action.check), None)
    if check is None:  # the plan built the rung from the host's own check: never here
        return Ran(StepOutcome.FAILED, f"the host has no check {action.check!r} to verify")
    for command in action.commands:
        try:
            result = runner.command(step, command, trail)
        except UnreachableError:
            if not action.reconnect or runner.cancel.is_set():
                raise
            trail.commands.append("(the connection dropped, as a reboot does)")
            trail.exit_codes.append(None)
            break  # what came after it cannot run on a host that is going down
        if not result.ok and not action.reconnect:
            return Ran(StepOutcome.FAILED, failure(result))
    if action.reconnect and not _back(runner, action.reconnect):
        if runner.cancel.is_set():
            return Ran(StepOutcome.INTERRUPTED, "interrupted while waiting for the host")
        wait = format_duration(action.reconnect)
        return Ran(StepOutcome.FAILED, f"the host did not come back within {wait}")
    if runner.session.clock.sleep(action.settle, runner.cancel):
        return Ran(StepOutcome.INTERRUPTED, INTERRUPTED_BEFORE_VERIFYING)
    verified = run_checks(runner.session, runner.connection, [check], purpose="verify")[0]
    if _recovered(verified, check, action.verify):
        reason = f"'{check.name}' recovered: {_value(verified)} ({verified.status.value})"
        return Ran(StepOutcome.CHANGED, reason, verification=verified)
    why = verified.reason or f"status {verified.status.value}"
    reason = f"'{check.name}' still {verified.status.value} after {action.use}: {why}"
    return Ran(StepOutcome.FAILED, reason, verification=verified)


def _back(runner: StepHost, seconds: float) -> bool:
    """After a reboot: reach the host again until the deadline (the old connection is dead);
    the runner goes on with the new connection."""
    back = reconnect(
        runner.pool,
        runner.connection.settings,
        runner.connection,
        clock=runner.session.clock,
        cancel=runner.cancel,
        seconds=seconds,
    )
    if back is None:
        return False
    runner.connection = back
    return True


def _recovered(result: CheckResult, check: CheckPlan, verify: tuple[str, ...]) -> bool:
    if result.status.value not in verify:
        return False
    if result.status is Status.OK and result.value is not None:
        return is_clear(result.value, check)  # hysteresis: recovered means clear
    return True


def _value(result: CheckResult) -> str:
    return "no value" if result.value is None else f"{result.value:g}{result.unit}"
