"""Turn a command's output into a value and a status, never raising."""

from __future__ import annotations

from typing import Any

from jarvisctl.config.models.values import Threshold
from jarvisctl.core.frozen import evolve
from jarvisctl.core.results import CheckResult, Status
from jarvisctl.kinds.base import CheckKind, CommandOutput, NativeUnavailable, ParseError, Reading
from jarvisctl.plan.model import CheckPlan

TAIL = 400  # characters of output kept in a result


def evaluate(check: CheckPlan, kind: CheckKind[Any], output: CommandOutput | None) -> CheckResult:
    if output is None:
        return check_result(
            check, Status.UNKNOWN, None, "did not finish: the session ended first", None
        )
    if output.exit_code in (124, 137):
        reason = f"timed out after {check.timeout:g}s (the command was killed on the host)"
        return check_result(check, Status.UNKNOWN, None, reason, output)
    try:
        reading = kind.read(output, check.params)
    except ParseError as exc:
        return check_result(check, Status.UNKNOWN, None, str(exc), output)
    except Exception as exc:  # a kind's bug must make its check UNKNOWN, not crash the host
        reason = f"cannot parse the output ({type(exc).__name__}: {exc})"
        return check_result(check, Status.UNKNOWN, None, reason, output)
    status, reason = judge(check, reading)
    return evolve(
        check_result(check, status, reading.value, reason, output), perfdata=reading.perfdata
    )


SEVERITY = {Status.OK: 0, Status.WARNING: 1, Status.UNKNOWN: 2, Status.CRITICAL: 3}


def judge(check: CheckPlan, reading: Reading) -> tuple[Status, str]:
    """The status of a reading: its thresholds; and for kinds that judge for themselves (a
    Nagios plugin), the worse of their own status and the thresholds'."""
    own = reading.status
    if reading.value is None:
        if own is None:
            return Status.UNKNOWN, reading.summary or "no value"
        return own, reading.summary
    status, reason = threshold_status(check, reading.value)
    if own is None or SEVERITY[status] >= SEVERITY[own]:
        return status, reason or reading.summary
    return own, reading.summary or f"the check itself reports {own.value}"


def collect_native(check: CheckPlan, kind: CheckKind[Any]) -> CheckResult | str:
    """Measure the controller's own machine in-process, with the same statuses as a command;
    or the reason the native collector cannot, so that the command is used instead."""
    try:
        value = kind.collect(check.params)
    except NativeUnavailable as exc:
        return str(exc)
    except ParseError as exc:
        return check_result(check, Status.UNKNOWN, None, str(exc), None)
    except Exception as exc:  # a collector's failure makes its check UNKNOWN, never a crash
        return check_result(check, Status.UNKNOWN, None, f"{type(exc).__name__}: {exc}", None)
    status, reason = threshold_status(check, value)
    return check_result(check, status, value, reason, None, source="native")


def threshold_status(check: CheckPlan, value: float) -> tuple[Status, str]:
    """The status the thresholds give this value on their own (no history)."""
    for status, threshold in ((Status.CRITICAL, check.crit), (Status.WARNING, check.warn)):
        if threshold is not None and threshold.breached(value, check.direction):
            return status, f"{_show(value, check.unit)} crossed {_describe(check, threshold)}"
    return Status.OK, ""


def _describe(check: CheckPlan, threshold: Threshold) -> str:
    label = "crit" if threshold is check.crit else "warn"
    if threshold.kind == "level":
        op = ">=" if check.direction == "above" else "<="
        return f"{label} {op} {threshold.value:g}"
    return f"{label} {threshold.text}"


def _show(value: float, unit: str) -> str:
    return f"{value:g}{unit if unit == '%' else (' ' + unit if unit else '')}"


def check_result(
    check: CheckPlan,
    status: Status,
    value: float | None,
    reason: str,
    output: CommandOutput | None = None,
    source: str = "command",
) -> CheckResult:
    """The result of `check`: its status and value, and the tail of its command's output."""
    return CheckResult(
        name=check.name,
        kind=check.kind,
        command=check.command,
        status=status,
        value=value,
        unit=check.unit,
        reason=reason,
        exit_code=output.exit_code if output else None,
        stdout_tail=output.stdout[-TAIL:] if output else "",
        stderr_tail=output.stderr[-TAIL:] if output else "",
        source=source,
    )
