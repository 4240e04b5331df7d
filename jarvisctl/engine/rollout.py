"""A play's rollout: its hosts in batches, each host's turn health-gated (engine/rollout_turn.py),
halting when failures cross max_fail_percentage (no further host starts; hosts in flight finish),
pausing after the batches `pause_after` names, and its progress durable in the store, so that a
controller killed at any moment resumes where it stopped (`jarvisctl rollout resume ID`).

A rollout is recorded when a run of its play starts it; a run of a play whose rollout has not
ended (running, paused, deferred) does not start another: its hosts are skipped, saying which
rollout to resume or abort (the store refuses the new one in the transaction that would record
it, so of two runs starting it at once, one does). A run whose hosts are all held by another
run's leases starts none. Check mode records nothing: it connects, evaluates the gates once,
and probes every step."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import replace
from datetime import datetime, timezone
from typing import Protocol

from jarvisctl.connection.base import Connection
from jarvisctl.core.clock import Clock
from jarvisctl.core.events import Event, EventSink, HostFailed, HostSkipped, HostUnreachable
from jarvisctl.core.results import HostRun, Outcome, RolloutNote, RolloutTurn
from jarvisctl.core.secrets import Redactor
from jarvisctl.core.step_events import Rollout as RolloutEvent
from jarvisctl.core.step_events import RolloutHost as RolloutHostEvent
from jarvisctl.engine.backups import BackupWork
from jarvisctl.engine.pool import ConnectionPool
from jarvisctl.engine.rollout_request import RolloutRequest
from jarvisctl.engine.rollout_turn import (
    Progress,
    Turn,
    TurnEnd,
    expired_end,
    first_deadline,
    unreachable_end,
)
from jarvisctl.engine.session import Session, observe_host
from jarvisctl.engine.window import in_window
from jarvisctl.plan.model import HostPlan, PlayPlan, RolloutPlan
from jarvisctl.store.base import Store
from jarvisctl.store.leases import Leasing
from jarvisctl.store.rollouts import (
    DONE,
    ENDED,
    HostState,
    Rollout,
    RolloutActiveError,
    RolloutHeldError,
    RolloutHost,
    RolloutState,
    RolloutStore,
    StepRecord,
    StepState,
    ended_text,
    hold_rollout,
    turn_started,
)
from jarvisctl.store.rollouts_redacted import RedactedRollouts

CHECK_ID = "check"  # check mode's rollouts are not recorded
NAMED = 5  # failed hosts a finished rollout's reason names


class Fleet(Protocol):
    """What a rollout needs of the run (engine/runner.py's Runner)."""

    @property
    def pool(self) -> ConnectionPool: ...

    @property
    def threads(self) -> Executor: ...

    @property
    def mode(self) -> str: ...

    @property
    def cancel(self) -> threading.Event: ...

    @property
    def events(self) -> EventSink: ...

    @property
    def store(self) -> Store | None: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def backups(self) -> BackupWork: ...

    @property
    def on_host(self) -> Callable[[HostRun], None]: ...

    @property
    def on_start(self) -> Callable[[str, str], None]: ...

    @property
    def leases(self) -> Leasing | None: ...

    def session(self, play: PlayPlan, host: HostPlan) -> Session: ...

    def skipped(self, play: PlayPlan, host: HostPlan, why: HostSkipped) -> HostRun: ...

    def finish(
        self, play: PlayPlan, host: HostPlan, run: HostRun, conn: Connection | None
    ) -> HostRun: ...


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


def failure_share(hosts: Sequence[RolloutHost]) -> tuple[int, int]:
    """(failed, attempted) over the hosts whose turn ended: what max_fail_percentage is of."""
    ended = [h for h in hosts if h.failed or h.state in TURNED]
    return sum(1 for h in ended if h.failed), len(ended)


TURNED = (
    HostState.UPDATED,
    HostState.UNCHANGED,
    HostState.ROLLED_BACK,
    HostState.ROLLBACK_FAILED,
)


# a host in one of these states may have stopped in the middle of its turn (`phase`, `step`):
# the controller was killed, or the host went away under its steps (deferred)
STOPPED_AT = (HostState.IN_FLIGHT, HostState.DEFERRED)


def crossed(plan: RolloutPlan, failed: int, attempted: int) -> bool:
    return attempted > 0 and 100.0 * failed / attempted > plan.max_fail_percentage


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
    record = _open(fleet, planned or play, store, request)
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
            _decided(store, record, host, fleet.clock.now())
    batches = _Batches(fleet, play, play.rollout, store, record)
    return batches.abort() if request is not None and request.abort else batches.run()


def _decided(store: RolloutStore, record: Rollout, host: str, now: float) -> None:
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


def _open(
    fleet: Fleet, play: PlayPlan, store: RolloutStore | None, request: RolloutRequest | None
) -> Rollout | str:
    """The rollout this run works on (a new one, recorded), or why it works on none."""
    plan, now = play.rollout, fleet.clock.now()
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


def _skip_every(fleet: Fleet, play: PlayPlan, reason: str) -> list[HostRun]:
    runs = [fleet.skipped(play, host, HostSkipped(reason)) for host in play.hosts]
    for run in runs:
        fleet.on_host(run)
    return runs


class _Batches:
    """One run's work on a rollout: its batches in order."""

    def __init__(
        self,
        fleet: Fleet,
        play: PlayPlan,
        plan: RolloutPlan,
        store: RolloutStore | None,
        record: Rollout,
    ) -> None:
        self.fleet, self.play, self.plan, self.store, self.record = (
            fleet,
            play,
            plan,
            store,
            record,
        )
        self.hosts = {h.host: h for h in play.hosts}
        self.halt = threading.Event()
        self.lock = threading.Lock()
        if store is None:
            self.states = {
                name: RolloutHost(record.id, name, number)
                for number, names in enumerate(plan.batches, 1)
                for name in names
            }
            self.earlier: dict[str, list[StepRecord]] = {}
        else:
            self.states = {h.host: h for h in store.hosts(record.id)}
            self.earlier = {}
            for step in store.steps(record.id):
                self.earlier.setdefault(step.host, []).append(step)
        self.halted_reason = ""
        # the batches an earlier run finished: the pauses after them have been had
        self.finished_before = record.batch
        self.aborting = False  # `abort --rollback`: failed rollbacks do not halt anything

    def emit(
        self,
        state: str,
        batch: int = 0,
        *,
        hosts: tuple[str, ...] = (),
        failed: int = 0,
        attempted: int = 0,
        reason: str = "",
    ) -> None:
        payload = RolloutEvent(self.record.id, state, batch, hosts, failed, attempted, reason)
        self.fleet.events.emit(Event(payload, None, self.play.name))

    def run(self) -> list[HostRun]:
        resumed = any(h.state is not HostState.PENDING for h in self.states.values())
        self.emit("resumed" if resumed else "started")
        results: list[HostRun] = []
        paused = ""
        if self.store is not None:
            results += self._expire()
            self._judge()  # also: a controller killed before it wrote the halt
        for number, names in enumerate(self.plan.batches, 1):
            todo = self._todo(names)
            if not todo:
                # its hosts ended in an earlier run, killed before it recorded the batch
                # finished (and the pause after it): that is done now
                if self.store is not None and number > self.record.batch and not paused:
                    paused = self._finished(number)
                continue
            if self.halt.is_set() or paused or self.fleet.cancel.is_set():
                results += [self._not_started(h, paused or self._halted()) for h in todo]
                continue
            self.emit("batch_started", number, hosts=tuple(h.host for h in todo))
            results += self._batch(number, todo)
            failed, attempted = failure_share(list(self.states.values()))
            self.emit("batch_finished", number, failed=failed, attempted=attempted)
            paused = self._finished(number)
        self._end(paused)
        return results

    def _finished(self, number: int) -> str:
        """Record batch `number` finished (the rollout's batch never goes back), then pause
        when it is in pause_after, was not paused after before, and hosts remain; why it
        paused, or ""."""
        self._update(batch=max(number, self.record.batch))
        later = any(self._todo(rest) for rest in self.plan.batches[number:])
        pause = number in self.plan.pause_after and number > self.finished_before
        if not pause or not later or self.halt.is_set():
            return ""
        if self.fleet.mode == "check":  # no recorded rollout to continue: every host is probed
            return ""
        paused = (
            f"paused after batch {number}: `jarvisctl rollout continue {self.record.id}` goes on"
        )
        self._update(state=RolloutState.PAUSED, reason=paused)
        self.emit("paused", number, reason=paused)
        return paused

    def abort(self) -> list[HostRun]:
        """`rollout abort --rollback`: every host the rollout may have changed (updated, in
        flight, waiting for a decision, deferred where it stood) runs its rollback and the
        gate; no host starts; the rollout ends aborted."""
        self.aborting = True
        self.emit("aborting")
        todo = [
            host
            for names in self.plan.batches
            for name in names
            if (host := self.hosts.get(name)) is not None
            and name in self.states
            and _changed_it(self.states[name])
        ]
        results: list[HostRun] = []
        for number, names in enumerate(self.plan.batches, 1):
            hosts = [h for h in todo if h.host in names]
            if hosts:
                results += self._batch(number, hosts, rollback=True)
        reason = "aborted by an operator, with the rollback of the hosts it had changed"
        for name, state in list(self.states.items()):
            waiting = state.state in (HostState.PENDING, HostState.DEFERRED)
            if waiting and not turn_started(state) and self.store is not None:
                self._set(name, HostState.SKIPPED, reason)
        if not self.fleet.cancel.is_set():
            self._update(state=RolloutState.ABORTED, reason=reason)
            self.emit("aborted", reason=reason)
        return results

    def _todo(self, names: Sequence[str]) -> list[HostPlan]:
        """The batch's hosts whose turn is still to come (or to go on); a host whose turn
        ended in an earlier run is not part of this one's work."""
        todo: list[HostPlan] = []
        for name in names:
            host, state = self.hosts.get(name), self.states.get(name)
            if host is None or state is None:
                continue
            if state.state in DONE or state.state is HostState.DECISION:
                continue
            todo.append(host)
        return todo

    def _expire(self) -> list[HostRun]:
        """The deferred hosts whose deadline (their first deferral + defer_for) has passed end
        now, failed: they never came back in time. Their runs, for the hosts planned."""
        now, runs = self.fleet.clock.now(), []
        for name, state in list(self.states.items()):
            until = state.deferred_until
            if state.state is not HostState.DEFERRED or until is None or now <= until:
                continue
            end = expired_end(self.plan, state)
            self._ended(name, state.batch, end, None)
            host = self.hosts.get(name)
            if host is None:
                continue
            run = HostRun(
                host.host, self.play.name, host.connection, Outcome.FAILED, error=end.reason
            )
            self.fleet.events.emit(Event(HostFailed(end.reason), name, self.play.name))
            run = _with_turn(run, self.record.id, state.batch, end)
            self.fleet.on_host(run)
            runs.append(run)
        return runs

    def _batch(
        self, number: int, hosts: list[HostPlan], *, rollback: bool = False
    ) -> list[HostRun]:
        fleet = self.fleet

        def work(host: HostPlan) -> HostRun:
            if self.halt.is_set() and not rollback:
                return self._not_started(host, self._halted())
            fleet.on_start(host.host, self.play.name)
            run = self._turn(number, host, rollback=rollback)
            fleet.on_host(run)
            return run

        def skipped(host: HostPlan) -> HostRun:
            return self._not_started(host, "interrupted: the run was stopped before this host")

        return in_window(fleet.threads, fleet.pool, fleet.cancel, hosts, work, skipped, _nothing)

    def _turn(self, number: int, host: HostPlan, *, rollback: bool = False) -> HostRun:
        fleet, plan = self.fleet, self.plan
        session = fleet.session(self.play, host)
        state = self.states[host.host]
        others = tuple(b for b in host.backups if b.name not in plan.backup)
        finishing = replace(host, backups=others)
        started = time.monotonic()
        try:
            run, connection = observe_host(session, fleet.pool)
            if connection is None:
                end = self._no_session(run)
                if end is not None:
                    self._ended(host.host, number, end, session)
                    run = _with_turn(run, self.record.id, number, end)
                return fleet.finish(self.play, finishing, run, None)
            if not rollback:  # the play's tasks and other backups first, as plan shows them
                run = fleet.finish(self.play, finishing, run, connection)
                if run.outcome in (Outcome.FAILED, Outcome.INTERRUPTED, Outcome.UNREACHABLE):
                    return self._before_turn(number, host, run, session)
            progress = Progress(
                self.store, self.record.id, host.host, fleet.clock, until=state.deferred_until
            )
            turn = Turn(
                session,
                connection,
                fleet.pool,
                fleet.backups,
                plan,
                self.record.id,
                number,
                fleet.mode,
                fleet.cancel,
                progress,
                resumed_phase=state.phase if state.state in STOPPED_AT else "",
                earlier=tuple(self.earlier.get(host.host, ())),
                abort=rollback,
            )
            run, end = turn.run(run)
            run = replace(run, duration=time.monotonic() - started)  # its whole turn
            self._counted(host.host, end)
            before = run.outcome
            run = _with_outcome(run, end, aborting=rollback)
            if run.outcome is not before:  # the journal says it as the run does
                _said(session, run)
            return run
        except Exception as exc:  # a bug or the store: this host's failure, and it counts
            reason = f"{type(exc).__name__}: {exc}"
            outcome, error = session.broken_off(Outcome.FAILED, reason)
            end = TurnEnd(HostState.SKIPPED, reason, failed=True)
            self._ended(host.host, number, end, None)
            failed = HostRun(host.host, self.play.name, host.connection, outcome, error=error)
            return _with_turn(failed, self.record.id, number, end)

    def _before_turn(self, number: int, host: HostPlan, run: HostRun, session: Session) -> HostRun:
        """A host whose tasks (or other backups) failed, or whose session ended, before its
        turn: it does not start; a failure counts against max_fail_percentage."""
        if run.outcome is Outcome.INTERRUPTED:
            return run  # the run was stopped: the host keeps its state for a resume
        if run.outcome is Outcome.UNREACHABLE:
            end = unreachable_end(self.plan, f"unreachable: {run.error}", self.fleet.clock.now())
        else:
            end = TurnEnd(HostState.SKIPPED, f"before its turn: {run.error}", failed=True)
        self._ended(host.host, number, end, session)
        return _with_turn(run, self.record.id, number, end)

    def _no_session(self, run: HostRun) -> TurnEnd | None:
        if run.outcome is Outcome.UNREACHABLE:
            return unreachable_end(self.plan, f"unreachable: {run.error}", self.fleet.clock.now())
        if run.outcome is Outcome.INTERRUPTED:
            return None  # the run was stopped: the host keeps its state for a resume
        return TurnEnd(HostState.SKIPPED, run.error, failed=True)

    def _ended(self, host: str, number: int, end: TurnEnd, session: Session | None) -> None:
        """A turn that ended outside Turn.run (no session): written, said, counted."""
        if self.store is not None:
            self.store.set_host(
                self.record.id,
                host,
                end.state,
                at=self.fleet.clock.now(),
                reason=end.reason,
                deferred_until=first_deadline(end, self.states[host].deferred_until),
                failed=end.failed,
            )
        payload = RolloutHostEvent(self.record.id, number, end.turn.value, end.reason)
        if session is not None:
            session.emit(payload)
        else:
            self.fleet.events.emit(Event(payload, host, self.play.name))
        self._counted(host, end)

    def _counted(self, host: str, end: TurnEnd) -> None:
        """Keep the host's end for the halt rule; halt when failures cross the limit."""
        with self.lock:
            self.states[host] = replace(
                self.states[host], state=end.state, failed=end.failed, reason=end.reason
            )
        self._judge(f"{host}: {end.reason}" if end.failed else "")

    def _judge(self, last: str = "") -> None:
        """Halt when the failures so far cross max_fail_percentage (`last`: the failure that
        made them cross it, named in the reason)."""
        with self.lock:
            failed, attempted = failure_share(list(self.states.values()))
            if self.aborting or self.halt.is_set() or not crossed(self.plan, failed, attempted):
                return
            share = 100.0 * failed / attempted
            self.halted_reason = (
                f"{failed} of {attempted} hosts attempted failed ({share:.0f}%), "
                f"above max_fail_percentage {self.plan.max_fail_percentage:g}"
                + (f" (the last: {_shortened(last)})" if last else "")
            )
            self.halt.set()
        if self.fleet.mode != "check":
            self._update(state=RolloutState.HALTED, reason=self.halted_reason)
        self.emit("halted", failed=failed, attempted=attempted, reason=self.halted_reason)

    def _halted(self) -> str:
        return f"halted: {self.halted_reason}"

    def _not_started(self, host: HostPlan, reason: str) -> HostRun:
        """A host whose turn does not start in this run: halted, paused or stopped."""
        number = self.plan.batch_of(host.host)
        stopping = self.fleet.cancel.is_set() and not self.halt.is_set()
        if self.halt.is_set() and self.store is not None:
            self._set(host.host, HostState.SKIPPED, reason)
        run = self.fleet.skipped(self.play, host, HostSkipped(reason))
        if not stopping and not reason.startswith("paused"):
            note = RolloutNote(self.record.id, number, RolloutTurn.SKIPPED, reason)
            run = replace(run, rollout=note)
            payload = RolloutHostEvent(self.record.id, number, note.turn.value, reason)
            self.fleet.events.emit(Event(payload, host.host, self.play.name))
        self.fleet.on_host(run)
        return run

    def _set(self, host: str, state: HostState, reason: str) -> None:
        if self.store is not None:
            self.store.set_host(
                self.record.id, host, state, at=self.fleet.clock.now(), reason=reason
            )
        with self.lock:
            self.states[host] = replace(self.states[host], state=state, reason=reason)

    def _update(self, **changes: object) -> None:
        if self.store is not None:
            self.record = self.store.update(
                self.record.id,
                at=self.fleet.clock.now(),
                **changes,  # type: ignore[arg-type]
            )

    def _defer_absent(self) -> None:
        """The hosts this run did not work on (another run held their lease: the runner
        skipped them) and whose turn has not started are deferred, so that the rollout is
        not finished without them (a resume, or the daemon, finishes them)."""
        if self.store is None:
            return
        reason = "not worked on: another run held its lease"
        until = self.fleet.clock.now() + self.plan.defer_for
        for name, state in list(self.states.items()):
            if name in self.hosts or state.state is not HostState.PENDING:
                continue
            self.store.set_host(
                self.record.id,
                name,
                HostState.DEFERRED,
                at=self.fleet.clock.now(),
                reason=reason,
                deferred_until=until,
            )
            with self.lock:
                self.states[name] = replace(state, state=HostState.DEFERRED, reason=reason)

    def _end(self, paused: str) -> None:
        if self.fleet.cancel.is_set() and not self.halt.is_set():
            self.emit("stopped", reason="the run was stopped: `jarvisctl rollout resume` goes on")
            return
        if self.halt.is_set():
            return
        if paused:
            return
        self._defer_absent()
        absent = [h for h, s in self.states.items() if s.state is HostState.IN_FLIGHT]
        waiting = [
            h for h in self.states.values() if h.state in (HostState.DEFERRED, HostState.DECISION)
        ] + [self.states[h] for h in absent if h not in self.hosts]
        failed, attempted = failure_share(list(self.states.values()))
        if waiting:
            names = ", ".join(h.host for h in waiting)
            reason = f"{len(waiting)} host(s) to finish later: {names}"
            self._update(state=RolloutState.DEFERRED, reason=reason)
            self.emit("deferred", failed=failed, attempted=attempted, reason=reason)
        else:
            reason = self._failures(failed, attempted)
            self._update(state=RolloutState.FINISHED, reason=reason)
            self.emit("finished", failed=failed, attempted=attempted, reason=reason)

    def _failures(self, failed: int, attempted: int) -> str:
        """What a rollout that finished within its max_fail_percentage says of the hosts that
        failed ("" when none did): how many, and each one's reason."""
        hosts = [h for h in self.states.values() if h.failed]
        if not hosts:
            return ""
        named = "; ".join(f"{h.host}: {_shortened(h.reason)}" for h in hosts[:NAMED])
        more = f"; and {len(hosts) - NAMED} more" if len(hosts) > NAMED else ""
        return (
            f"{failed} of {attempted} hosts counted as failed, within max_fail_percentage "
            f"{self.plan.max_fail_percentage:g}: {named}{more}"
        )


def _changed_it(host: RolloutHost) -> bool:
    """The rollout may have changed the host: updated, or its turn started and not ended."""
    return host.state is HostState.UPDATED or turn_started(host)


def _shortened(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _nothing(_: object) -> None:
    return None


def _said(session: Session, run: HostRun) -> None:
    """The event that records the host's outcome its turn decided (failed, skipped)."""
    if run.outcome is Outcome.UNREACHABLE:
        session.emit(HostUnreachable(run.address, run.error))
    elif run.outcome is Outcome.FAILED:
        session.emit(HostFailed(run.error))
    elif run.outcome is Outcome.SKIPPED:
        session.emit(HostSkipped(run.error))


def _with_turn(run: HostRun, rollout: str, batch: int, end: TurnEnd) -> HostRun:
    return replace(run, rollout=RolloutNote(rollout, batch, end.turn, end.reason))


def _with_outcome(run: HostRun, end: TurnEnd, *, aborting: bool = False) -> HostRun:
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
