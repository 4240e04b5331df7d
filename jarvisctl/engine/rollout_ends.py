"""How a host's turn in a rollout ends (TurnEnd: the state written, why, whether it counts as
failed, until when it is deferred, where it stood), and the ends decided outside the turn's own
steps: unreachable before it started, gone away during it, deferred past its deadline."""

from __future__ import annotations

from jarvisctl.config.models.values import format_duration
from jarvisctl.core.frozen import frozen
from jarvisctl.core.results import RolloutTurn
from jarvisctl.plan.model import RolloutPlan
from jarvisctl.store.rollouts import HostState, RolloutHost, turn_started

# phases after which the host may have been changed: a resume goes on from there
CHANGING = ("step", "gate_after", "rollback")

TURN_OF_STATE = {
    HostState.UPDATED: RolloutTurn.UPDATED,
    HostState.UNCHANGED: RolloutTurn.UNCHANGED,
    HostState.ROLLED_BACK: RolloutTurn.ROLLED_BACK,
    HostState.ROLLBACK_FAILED: RolloutTurn.ROLLBACK_FAILED,
    HostState.DEFERRED: RolloutTurn.DEFERRED,
    HostState.SKIPPED: RolloutTurn.SKIPPED,
    HostState.DECISION: RolloutTurn.SKIPPED,
}


@frozen
class TurnEnd:
    """How a host's turn ended: the state written, why, and whether it counts as failed.
    `unreachable`: the host could not be reached (its run is unreachable, never failed);
    `phase` and `step`: where a host deferred in the middle of its turn stopped, kept so that
    its turn goes on from there."""

    state: HostState
    reason: str = ""
    failed: bool = False
    deferred_until: float | None = None
    unreachable: bool = False
    phase: str = ""
    step: int | None = None

    @property
    def turn(self) -> RolloutTurn:
        return TURN_OF_STATE[self.state]


STOPPED = TurnEnd(HostState.IN_FLIGHT, "the run was stopped")  # a resume goes on with it


def first_deadline(end: TurnEnd, earlier: float | None) -> float | None:
    """The deadline written for a host whose turn ended `end`: a host deferred again keeps
    the deadline of its first deferral."""
    if end.deferred_until is None or earlier is None:
        return end.deferred_until
    return min(end.deferred_until, earlier)


def expired_end(plan: RolloutPlan, host: RolloutHost) -> TurnEnd:
    """A deferred host whose deadline has passed: it never came back in time, and counts as
    failed. One deferred in the middle of its turn may have been partly changed, and its
    rollback never ran: rollback failed."""
    waited = f"deferred for more than {format_duration(plan.defer_for)}: never came back"
    if not turn_started(host):
        return TurnEnd(HostState.SKIPPED, f"{waited} ({host.reason})", failed=True)
    where = host.phase + (f" {host.step + 1}" if host.step is not None else "")
    why = (
        f"{waited}; its turn had started (it stopped at {where}: its steps may have partly "
        f"run) and its rollback never ran ({host.reason})"
    )
    return TurnEnd(HostState.ROLLBACK_FAILED, why, failed=True)


def unreachable_end(plan: RolloutPlan, reason: str, now: float) -> TurnEnd:
    """A host whose session could not start: deferred, or failed (`unreachable: fail`)."""
    if plan.unreachable == "defer":
        until = now + plan.defer_for
        return TurnEnd(HostState.DEFERRED, reason, deferred_until=until, unreachable=True)
    return TurnEnd(HostState.SKIPPED, reason, failed=True, unreachable=True)


def lost_end(
    plan: RolloutPlan,
    at: tuple[str, int | None],
    failure: str,
    lost: str,
    now: float,
    *,
    defers: bool,
) -> TurnEnd:
    """The turn of a host found unreachable (`lost`: why) after `failure`, where it stood
    (`at`: phase and step): deferred there when it `defers` (a resume, or the daemon, goes on
    from there when it is back), or failed, saying that nothing more (its rollback) could run
    on it."""
    phase, step = at
    changing = phase in CHANGING
    if defers:
        where = f"{phase} {step + 1}" if step is not None else phase
        goes_on = f"its turn goes on from {where}" if changing else "its turn starts again"
        why = f"unreachable during its turn ({failure}): {lost}; {goes_on} when it is back"
        kept = (phase, step) if changing else ("", None)
        return TurnEnd(
            HostState.DEFERRED,
            why,
            deferred_until=now + plan.defer_for,
            unreachable=True,
            phase=kept[0],
            step=kept[1],
        )
    if not changing:
        why = f"unreachable before its steps ({failure}): {lost}"
        return TurnEnd(HostState.SKIPPED, why, failed=True, unreachable=True)
    what = "its rollback could not finish" if phase == "rollback" else "its rollback could not run"
    why = f"{failure}; {what}: the host is unreachable ({lost})"
    return TurnEnd(HostState.ROLLBACK_FAILED, why, failed=True, unreachable=True)
