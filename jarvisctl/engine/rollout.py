"""A play's rollout: its hosts in batches, each host's turn health-gated (engine/rollout_turn.py),
halting when failures cross max_fail_percentage (no further host starts; hosts in flight finish),
pausing after the batches `pause_after` names, and its progress durable in the store, so that a
controller killed at any moment resumes where it stopped (`jarvisctl rollout resume ID`).

This module opens the rollout and holds its lease; the work is its stages', each importing only
those before it: rollout_request (how the run was asked for), rollout_ends (how a turn ends),
rollout_progress (where a turn stands, written), rollout_turn (a host's turn), rollout_rules
(the halt rule), rollout_outcome (a turn in the host's run), rollout_fleet (what a rollout
needs of the run), rollout_record (the rollout's record in the store), rollout_book (the run's
book of its hosts and state), rollout_host (one host's part), rollout_batches (the batches in
order).

A rollout is recorded when a run of its play starts it; a run of a play whose rollout has not
ended (running, paused, deferred) does not start another: its hosts are skipped, saying which
rollout to resume or abort (the store refuses the new one in the transaction that would record
it, so of two runs starting it at once, one does). A run whose hosts are all held by another
run's leases starts none. Check mode records nothing: it connects, evaluates the gates once,
and probes every step."""

from __future__ import annotations

from jarvisctl.core.events import HostSkipped
from jarvisctl.core.results import HostRun
from jarvisctl.core.secrets import Redactor
from jarvisctl.engine.rollout_batches import Batches
from jarvisctl.engine.rollout_book import RolloutBook
from jarvisctl.engine.rollout_fleet import Fleet
from jarvisctl.engine.rollout_record import open_rollout, record_decision
from jarvisctl.engine.rollout_request import RolloutRequest
from jarvisctl.plan.model import PlayPlan
from jarvisctl.store.rollouts import (
    ENDED,
    Rollout,
    RolloutHeldError,
    RolloutState,
    RolloutStore,
    ended_text,
    hold_rollout,
)
from jarvisctl.store.rollouts_redacted import RedactedRollouts


def run_rollout(
    fleet: Fleet, play: PlayPlan, request: RolloutRequest | None, planned: PlayPlan | None = None
) -> list[HostRun]:
    """Every host of the play ends as one HostRun (given to fleet.on_host as it ends).
    `planned`: the play as planned, before the run left out the hosts another run held (a
    new rollout's digest is of every host it will have, as a resume plans it)."""
    assert play.rollout is not None
    if not play.hosts and not (request is not None and request.resume):
        # every host is held by another run's leases (the runner reported them skipped): a
        # rollout this run would start could work on none of them, and would stand in the
        # way of the run that holds them
        return []
    checking = fleet.mode == "check"
    store = None if checking or fleet.store is None else fleet.store.rollouts
    if store is not None and request is not None and request.secrets:
        store = RedactedRollouts(store, Redactor(request.secrets))
    record = open_rollout(planned or play, store, request, fleet.clock.now())
    if isinstance(record, str):  # another rollout of the play has not ended
        return _skip_every(fleet, play, record)
    if store is None or fleet.leases is None:
        return _work(fleet, play, store, record, request)
    try:
        # one controller at a time works on a rollout; a killed one's lease is taken over
        with hold_rollout(
            store, record.id, fleet.leases.holder, fleet.events, ttl=fleet.leases.store.ttl
        ):
            if request is not None and request.resume:
                # read again under the lease: a controller that held it may have ended the
                # rollout (halted, aborted) after `rollout resume` looked at its state
                now = store.get(record.id)
                if now.state in ENDED:
                    return _skip_every(fleet, play, f"{ended_text(now)}: nothing to do")
                record = store.update(
                    record.id,
                    state=RolloutState.RUNNING,
                    run_id=request.run_id,
                    at=fleet.clock.now(),
                )
            return _work(fleet, play, store, record, request)
    except RolloutHeldError as held:
        return _skip_every(fleet, play, str(held))


def _work(
    fleet: Fleet,
    play: PlayPlan,
    store: RolloutStore | None,
    record: Rollout,
    request: RolloutRequest | None,
) -> list[HostRun]:
    assert play.rollout is not None
    if store is not None and request is not None:
        for host in request.decided:
            record_decision(store, record, host, fleet.clock.now())
    batches = Batches(RolloutBook(fleet, play, play.rollout, store, record))
    return batches.abort() if request is not None and request.abort else batches.run()


def _skip_every(fleet: Fleet, play: PlayPlan, reason: str) -> list[HostRun]:
    runs = [fleet.skipped(play, host, HostSkipped(reason)) for host in play.hosts]
    for run in runs:
        fleet.on_host(run)
    return runs
