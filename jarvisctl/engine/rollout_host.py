"""One host's part in a rollout's run: its session (connect, checks), the play's tasks and the
backups the rollout does not take, then its turn (engine/rollout_turn.py), and how the turn's
end is written, counted for the halt rule, and shown in the host's run. A host that cannot
start its turn (unreachable, its tasks failed) ends here; whatever goes wrong is this host's
failure, never the run's."""

from __future__ import annotations

import time
from dataclasses import replace

from jarvisctl.core.results import HostRun, Outcome
from jarvisctl.engine.rollout_book import RolloutBook
from jarvisctl.engine.rollout_ends import TurnEnd, unreachable_end
from jarvisctl.engine.rollout_outcome import said, with_outcome, with_turn
from jarvisctl.engine.rollout_progress import Progress
from jarvisctl.engine.rollout_rules import STOPPED_AT
from jarvisctl.engine.rollout_turn import Turn
from jarvisctl.engine.session import Session, observe_host
from jarvisctl.plan.model import HostPlan
from jarvisctl.store.rollouts import HostState


def host_turn(book: RolloutBook, number: int, host: HostPlan, *, rollback: bool = False) -> HostRun:
    """The host's turn in batch `number` (`rollback`: an abort's rollback only), as its run."""
    fleet, plan, play, rollout = book.fleet, book.plan, book.play, book.record.id
    session = fleet.session(play, host)
    state = book.states[host.host]
    others = tuple(b for b in host.backups if b.name not in plan.backup)
    finishing = replace(host, backups=others)
    started = time.monotonic()
    try:
        run, connection = observe_host(session, fleet.pool)
        if connection is None:
            end = _no_session(book, run)
            if end is not None:
                book.ended(host.host, number, end, session)
                run = with_turn(run, rollout, number, end)
            return fleet.finish(play, finishing, run, None)
        if not rollback:  # the play's tasks and other backups first, as plan shows them
            run = fleet.finish(play, finishing, run, connection)
            if run.outcome in (Outcome.FAILED, Outcome.INTERRUPTED, Outcome.UNREACHABLE):
                return _before_turn(book, number, host, run, session)
        progress = Progress(book.store, rollout, host.host, fleet.clock, until=state.deferred_until)
        turn = Turn(
            session,
            connection,
            fleet.pool,
            fleet.backups,
            plan,
            rollout,
            number,
            fleet.mode,
            fleet.cancel,
            progress,
            resumed_phase=state.phase if state.state in STOPPED_AT else "",
            earlier=tuple(book.earlier.get(host.host, ())),
            abort=rollback,
        )
        run, end = turn.run(run)
        run = replace(run, duration=time.monotonic() - started)  # its whole turn
        book.counted(host.host, end)
        before = run.outcome
        run = with_outcome(run, end, aborting=rollback)
        if run.outcome is not before:  # the journal says it as the run does
            said(session, run)
        return run
    except Exception as exc:  # a bug or the store: this host's failure, and it counts
        reason = f"{type(exc).__name__}: {exc}"
        outcome, error = session.broken_off(Outcome.FAILED, reason)
        end = TurnEnd(HostState.SKIPPED, reason, failed=True)
        book.ended(host.host, number, end, None)
        failed = HostRun(host.host, play.name, host.connection, outcome, error=error)
        return with_turn(failed, rollout, number, end)


def _before_turn(
    book: RolloutBook, number: int, host: HostPlan, run: HostRun, session: Session
) -> HostRun:
    """A host whose tasks (or other backups) failed, or whose session ended, before its
    turn: it does not start; a failure counts against max_fail_percentage."""
    if run.outcome is Outcome.INTERRUPTED:
        return run  # the run was stopped: the host keeps its state for a resume
    if run.outcome is Outcome.UNREACHABLE:
        end = unreachable_end(book.plan, f"unreachable: {run.error}", book.fleet.clock.now())
    else:
        end = TurnEnd(HostState.SKIPPED, f"before its turn: {run.error}", failed=True)
    book.ended(host.host, number, end, session)
    return with_turn(run, book.record.id, number, end)


def _no_session(book: RolloutBook, run: HostRun) -> TurnEnd | None:
    if run.outcome is Outcome.UNREACHABLE:
        return unreachable_end(book.plan, f"unreachable: {run.error}", book.fleet.clock.now())
    if run.outcome is Outcome.INTERRUPTED:
        return None  # the run was stopped: the host keeps its state for a resume
    return TurnEnd(HostState.SKIPPED, run.error, failed=True)
