"""A rollout's record in the store: a new one recorded when a run of its play starts it (refused
while the play has one that has not ended), the one a resume names, and an operator's decision
about a host that waits for one. What a resume must find unchanged is the rollout's digest."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timezone

from jarvisctl.engine.rollout_request import RolloutRequest
from jarvisctl.plan.model import PlayPlan, RolloutPlan
from jarvisctl.store.rollouts import (
    HostState,
    Rollout,
    RolloutActiveError,
    RolloutHost,
    RolloutState,
    RolloutStore,
    StepState,
)

CHECK_ID = "check"  # check mode's rollouts are not recorded


def new_rollout_id(now: float) -> str:
    stamp = datetime.fromtimestamp(now, timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(2)}"


def rollout_digest(play: PlayPlan) -> str:
    """What a resume must find unchanged: each host's batch and rendered steps and rollback
    (a copy's content included, through its action)."""
    assert play.rollout is not None
    digest = hashlib.sha256()
    digest.update(repr(play.rollout.batches).encode())
    for host in play.hosts:
        digest.update(f"\0{host.host}\0".encode())
        for step in (*host.steps, *host.rollback):
            digest.update(repr((step.key, step.kind, step.name, step.action, step.once)).encode())
    return "sha256:" + digest.hexdigest()


def open_rollout(
    play: PlayPlan, store: RolloutStore | None, request: RolloutRequest | None, now: float
) -> Rollout | str:
    """The rollout this run works on (a new one, recorded; the one a resume names; check
    mode's, never recorded), or why it works on none."""
    plan = play.rollout
    assert plan is not None
    run_id = request.run_id if request else ""
    if store is None:
        return _record(CHECK_ID, play, plan, request, now, run_id)
    if request is not None and request.resume:
        return store.get(request.resume)
    record = _record(new_rollout_id(now), play, plan, request, now, run_id)
    hosts = [
        RolloutHost(record.id, name, number, updated_at=now)
        for number, names in enumerate(plan.batches, 1)
        for name in names
    ]
    try:
        store.create(record, hosts)  # refused, in the same transaction, while one is active
    except RolloutActiveError as active:
        return not_started(active.rollout)
    return record


def not_started(active: Rollout) -> str:
    """Why a run of a play whose rollout `active` has not ended starts no other rollout, and
    what goes on with that one or ends it."""
    rid = active.id
    if active.state is RolloutState.PAUSED:
        go_on = f"`jarvisctl rollout continue {rid}` goes on with it"
    else:
        go_on = f"`jarvisctl rollout resume {rid}` finishes it"
    since = datetime.fromtimestamp(active.started_at, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    why = f": {active.reason}" if active.reason else ""
    return (
        f"no new rollout: rollout {rid} of this play (started {since}) is "
        f"{active.state.value}{why}; {go_on}, `jarvisctl rollout abort {rid}` ends it"
    )


def _record(
    rollout_id: str,
    play: PlayPlan,
    plan: RolloutPlan,
    request: RolloutRequest | None,
    now: float,
    run_id: str,
) -> Rollout:
    return Rollout(
        id=rollout_id,
        play=play.name,
        playbook=request.playbook if request else play.location.file,
        inventory=request.inventory if request else (),
        limit=request.limit if request else None,
        plan_digest=rollout_digest(play),
        batches=plan.batches,
        started_at=now,
        updated_at=now,
        run_id=run_id,
        tags=request.tags if request else (),
    )


def record_decision(store: RolloutStore, record: Rollout, host: str, now: float) -> None:
    """An operator says the `once` step in flight on `host` did complete: it is recorded done
    (changed), and the host's turn goes on after it."""
    states = {h.host: h for h in store.hosts(record.id)}
    if host not in states or states[host].state is not HostState.DECISION:
        return  # app/rollout_run.py refused it before the run; a racing resume decided it
    for step in store.steps(record.id, host):
        if step.state is StepState.STARTED:
            store.step_finished(
                record.id, host, step.phase, step.index, StepState.DONE, "changed", now
            )
            store.set_host(
                record.id, host, HostState.IN_FLIGHT, at=now, phase=step.phase, step=step.index
            )
