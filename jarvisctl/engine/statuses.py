"""How a check's status moves from cycle to cycle: hysteresis, `for`, flapping.

Pure functions over a frozen CheckState (the store's record: it persists the result between
runs).

- Hysteresis: once WARNING or CRITICAL, a check whose value falls back under its alert thresholds
  stays WARNING until the value reaches `clear`.
- `for: N`: the status changes only when the last N cycles agree that it should, level by level
  as a Prometheus rule per threshold would: it rises to the least severe status that every one
  of them reached (89, 91, 89 past warn 80 and crit 90 is WARNING after two cycles: each was past
  warn, though none two in a row past crit), and falls to the most severe one of them when
  every one was below it. UNKNOWN is no level: it needs N UNKNOWN cycles, and a cycle of it
  among the N changes nothing. A check seen for the first time starts from OK.
- Flapping (as Nagios does it): over the last 21 cycles, the share of cycles whose status differs
  from the one before. At 50 % or more the check is marked FLAPPING; the mark goes when the share
  falls under 25 %.
"""

from __future__ import annotations

import itertools

from jarvisctl.core.frozen import evolve
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
    state = state or evolve(INITIAL, since=now)
    candidate = Status.WARNING if held_by_hysteresis(state.status, raw, value, check) else raw
    history = (*state.history, candidate)[-kept(check) :]
    flapping = _flapping(history[-HISTORY:], state.flapping)
    moved = moves_to(state.status, history, check.for_cycles)
    if moved is not None:
        return CheckState(moved, None, 0, history, flapping, value, now, now)
    pending, count = _pending(state.status, history)
    return evolve(
        state,
        pending=pending,
        pending_count=count,
        history=history,
        flapping=flapping,
        value=value,
        updated=now,
    )


def kept(check: CheckPlan) -> int:
    """How many candidate statuses a check keeps: enough for flapping and for its `for`."""
    return max(HISTORY, check.for_cycles)


_LEVEL = (Status.OK, Status.WARNING, Status.CRITICAL)
_RANK = {status: rank for rank, status in enumerate(_LEVEL)}


def moves_to(status: Status, history: tuple[Status, ...], cycles: int) -> Status | None:
    """The status the last `cycles` candidates move a check to (None: it stays)."""
    if len(history) < cycles:
        return None
    tail = history[-cycles:]
    if all(c is Status.UNKNOWN for c in tail):
        return None if status is Status.UNKNOWN else Status.UNKNOWN
    if any(c is Status.UNKNOWN for c in tail):
        return None
    low = _LEVEL[min(_RANK[c] for c in tail)]
    high = _LEVEL[max(_RANK[c] for c in tail)]
    if status is Status.UNKNOWN:  # out of UNKNOWN: to an alert every cycle reached, or to OK
        if low is not Status.OK:
            return low
        return Status.OK if high is Status.OK else None
    if _RANK[low] > _RANK[status]:
        return low
    if _RANK[high] < _RANK[status]:
        return high
    return None


def _pending(status: Status, history: tuple[Status, ...]) -> tuple[Status | None, int]:
    """The status the last cycle points to, and for how many cycles running the candidates have
    pointed away from `status` the same way (up, down, or UNKNOWN); (None, 0): it agrees."""
    last = history[-1]
    if last is status:
        return None, 0

    def same_way(candidate: Status) -> bool:
        if last is Status.UNKNOWN or status is Status.UNKNOWN:
            return (candidate is Status.UNKNOWN) == (last is Status.UNKNOWN)
        if candidate is Status.UNKNOWN:
            return False
        return (_RANK[candidate] > _RANK[status]) == (_RANK[last] > _RANK[status]) and (
            candidate is not status
        )

    count = 0
    for candidate in reversed(history):
        if not same_way(candidate):
            break
        count += 1
    return last, count


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
    return evolve(
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
        why = f": {result.reason}" if result.reason else ""
        run = state.history[-state.pending_count :]
        if all(c is state.pending for c in run):
            seen = f"{state.pending.value} for {state.pending_count} of {check.for_cycles} cycles"
        else:  # e.g. warning, critical, warning: past warn, not yet `for` cycles in all
            way = "worse" if _RANK.get(state.pending, 0) > _RANK.get(state.status, 0) else "better"
            seen = (
                f"{state.pending.value} now, {way} than {state.status.value} for "
                f"{state.pending_count} of {check.for_cycles} cycles"
            )
        return f"{seen} before the status changes{why}"
    if state.status is Status.WARNING and result.status is Status.OK and check.clear is not None:
        return f"recovering: {result.value:g}{result.unit} has not reached clear {check.clear}"
    return result.reason
