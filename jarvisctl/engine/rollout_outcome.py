"""How a host's turn in a rollout shows in its run: the turn's note, the host's outcome (a
failed turn is a failed host, a host gone away unreachable, one whose turn did not start
skipped), and the event that records an outcome the turn decided."""

from __future__ import annotations

from dataclasses import replace

from jarvisctl.core.events import HostFailed, HostSkipped, HostUnreachable
from jarvisctl.core.results import HostRun, Outcome, RolloutNote
from jarvisctl.engine.rollout_ends import TurnEnd
from jarvisctl.engine.session import Session
from jarvisctl.store.rollouts import HostState


def said(session: Session, run: HostRun) -> None:
    """The event that records the host's outcome its turn decided (failed, skipped)."""
    if run.outcome is Outcome.UNREACHABLE:
        session.emit(HostUnreachable(run.address, run.error))
    elif run.outcome is Outcome.FAILED:
        session.emit(HostFailed(run.error))
    elif run.outcome is Outcome.SKIPPED:
        session.emit(HostSkipped(run.error))


def with_turn(run: HostRun, rollout: str, batch: int, end: TurnEnd) -> HostRun:
    return replace(run, rollout=RolloutNote(rollout, batch, end.turn, end.reason))


def with_outcome(run: HostRun, end: TurnEnd, *, aborting: bool = False) -> HostRun:
    """The host's session outcome from its turn: a failed turn is a failed host, a changed one
    changed; a host whose turn did not start (deferred, skipped) did nothing: skipped. In an
    `abort --rollback`, a rollback that passed its gate is what was asked: changed."""
    if run.outcome in (Outcome.INTERRUPTED, Outcome.UNREACHABLE, Outcome.FAILED):
        return run
    if end.unreachable:  # the host went away during its turn: never called failed
        return replace(run, outcome=Outcome.UNREACHABLE, error=end.reason)
    if aborting and end.state is HostState.ROLLED_BACK:
        return replace(run, outcome=Outcome.CHANGED)
    if end.state in (HostState.ROLLED_BACK, HostState.ROLLBACK_FAILED) or end.failed:
        return replace(run, outcome=Outcome.FAILED, error=end.reason)
    if end.state is HostState.UPDATED:
        return replace(run, outcome=Outcome.CHANGED)
    if end.state in (HostState.DEFERRED, HostState.DECISION):
        return replace(run, outcome=Outcome.SKIPPED, error=f"{end.turn.value}: {end.reason}")
    return run
