"""A rollout's rules over its hosts' states: which hosts count as attempted and as failed,
when failures cross max_fail_percentage (the rollout halts), and what a halted or finished
rollout says of its failures. Pure functions of the states and the plan."""

from __future__ import annotations

from collections.abc import Sequence

from jarvisctl.plan.model import RolloutPlan
from jarvisctl.store.rollouts import HostState, RolloutHost, turn_started

NAMED = 5  # failed hosts a finished rollout's reason names
SHORT = 200  # characters of a host's reason a rollout's reason quotes

TURNED = (
    HostState.UPDATED,
    HostState.UNCHANGED,
    HostState.ROLLED_BACK,
    HostState.ROLLBACK_FAILED,
)
# a host in one of these states may have stopped in the middle of its turn (`phase`, `step`):
# the controller was killed, or the host went away under its steps (deferred)
STOPPED_AT = (HostState.IN_FLIGHT, HostState.DEFERRED)


def failure_share(hosts: Sequence[RolloutHost]) -> tuple[int, int]:
    """(failed, attempted) over the hosts whose turn ended: what max_fail_percentage is of."""
    ended = [h for h in hosts if h.failed or h.state in TURNED]
    return sum(1 for h in ended if h.failed), len(ended)


def crossed(plan: RolloutPlan, failed: int, attempted: int) -> bool:
    return attempted > 0 and 100.0 * failed / attempted > plan.max_fail_percentage


def halted_reason(plan: RolloutPlan, failed: int, attempted: int, last: str = "") -> str:
    """Why a rollout halted (`last`: the failure that made the share cross the limit)."""
    share = 100.0 * failed / attempted
    return (
        f"{failed} of {attempted} hosts attempted failed ({share:.0f}%), "
        f"above max_fail_percentage {plan.max_fail_percentage:g}"
        + (f" (the last: {shortened(last)})" if last else "")
    )


def finished_reason(
    plan: RolloutPlan, hosts: Sequence[RolloutHost], failed: int, attempted: int
) -> str:
    """What a rollout that finished within its max_fail_percentage says of the hosts that
    failed ("" when none did): how many, and each one's reason."""
    failing = [h for h in hosts if h.failed]
    if not failing:
        return ""
    named = "; ".join(f"{h.host}: {shortened(h.reason)}" for h in failing[:NAMED])
    more = f"; and {len(failing) - NAMED} more" if len(failing) > NAMED else ""
    return (
        f"{failed} of {attempted} hosts counted as failed, within max_fail_percentage "
        f"{plan.max_fail_percentage:g}: {named}{more}"
    )


def changed_it(host: RolloutHost) -> bool:
    """The rollout may have changed the host: updated, or its turn started and not ended."""
    return host.state is HostState.UPDATED or turn_started(host)


def shortened(text: str, limit: int = SHORT) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
