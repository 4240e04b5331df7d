"""How a check's status moves from cycle to cycle: hysteresis, `for`, flapping.

Pure functions over a frozen CheckState (the store's record: it persists the result between
runs).

- Hysteresis: once WARNING or CRITICAL, a check whose value falls back under its alert thresholds
  stays WARNING until the value reaches `clear`.
- `for: N`: the status changes only after N consecutive cycles agree on the new status. A check
  seen for the first time starts from OK.
- Flapping (as Nagios does it): over the last 21 cycles, the share of cycles whose status differs
  from the one before. At 50 % or more the check is marked FLAPPING; the mark goes when the share
  falls under 25 %.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

from jarvisctl.core.results import CheckResult, Status
from jarvisctl.plan.model import CheckPlan
from jarvisctl.store.checks import CheckState

HISTORY = 21
FLAP_START = 0.50
FLAP_STOP = 0.25
FLAP_MIN_CYCLES = 5


INITIAL = CheckState(Status.OK)


def held_by_hysteresis(
    previous: Status, raw: Status, value: float | None, check: CheckPlan
) -> bool:
    """Whether a check that was alerting must stay WARNING although its thresholds say OK."""
    if raw is not Status.OK or previous not in (Status.WARNING, Status.CRITICAL):
        return False
    if value is None or check.clear is None:
        return False
    return not is_clear(value, check)


def is_clear(value: float, check: CheckPlan) -> bool:
    """`clear: 75` is reached at or past 75 on the good side; `clear: "< 70"` says where clear
    is; a Nagios range `clear: "0:70"` is clear inside the range (outside would alert)."""
    clear = check.clear
    if clear is None:
        return True
    if clear.kind == "level":
        return value <= clear.value if check.direction == "above" else value >= clear.value
    if clear.kind == "compare":
        return clear.breached(value, check.direction)
    return not clear.breached(value, check.direction)


def advance(
    state: CheckState | None, raw: Status, value: float | None, check: CheckPlan, now: float
) -> CheckState:
    """The state after one more cycle whose thresholds gave `raw`."""
    state = state or replace(INITIAL, since=now)
    candidate = Status.WARNING if held_by_hysteresis(state.status, raw, value, check) else raw
    history = (*state.history, candidate)[-HISTORY:]
    flapping = _flapping(history, state.flapping)
    if candidate is state.status:
        return replace(
            state,
            pending=None,
            pending_count=0,
            history=history,
            flapping=flapping,
            value=value,
            updated=now,
        )
    count = state.pending_count + 1 if candidate is state.pending else 1
    if count >= check.for_cycles:
        return CheckState(candidate, None, 0, history, flapping, value, now, now)
    return replace(
        state,
        pending=candidate,
        pending_count=count,
        history=history,
        flapping=flapping,
        value=value,
        updated=now,
    )


def change_share(history: tuple[Status, ...]) -> float:
    if len(history) < 2:
        return 0.0
    changes = sum(1 for a, b in itertools.pairwise(history) if a is not b)
    return changes / (len(history) - 1)


def _flapping(history: tuple[Status, ...], was: bool) -> bool:
    if len(history) < FLAP_MIN_CYCLES:
        return False
    share = change_share(history)
    return share >= FLAP_START or (was and share >= FLAP_STOP)


def settle(
    result: CheckResult, previous: CheckState | None, state: CheckState, check: CheckPlan
) -> CheckResult:
    """The result with its status after history, and a reason that says why."""
    reason = result.reason
    if state.status is not result.status:
        reason = _held_reason(result, previous, state, check)
    return replace(
        result,
        status=state.status,
        raw_status=result.status,
        reason=reason,
        flapping=state.flapping,
        previous_status=previous.status if previous else None,
    )


def _held_reason(
    result: CheckResult, previous: CheckState | None, state: CheckState, check: CheckPlan
) -> str:
    if state.pending is not None and state.pending is result.status:
        seen = f"{state.pending.value} for {state.pending_count} of {check.for_cycles} cycles"
        why = f": {result.reason}" if result.reason else ""
        return f"{seen} before the status changes{why}"
    if state.status is Status.WARNING and result.status is Status.OK and check.clear is not None:
        return f"recovering: {result.value:g}{result.unit} has not reached clear {check.clear}"
    return result.reason
