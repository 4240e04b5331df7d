"""One run's book of a rollout: each host's state as the run knows it (read from the store
when it starts, written through to it as each turn ends), the halt rule applied as each turn
ends, the rollout's own state (paused, halted, deferred, finished, aborted) and its events,
and the hosts whose turn ends without starting in this run (halted, paused, stopped, deferred
past their deadline)."""

from __future__ import annotations

import threading
from dataclasses import replace

from jarvisctl.core.events import Event, HostFailed, HostSkipped
from jarvisctl.core.results import HostRun, Outcome, RolloutNote, RolloutTurn
from jarvisctl.core.step_events import Rollout as RolloutEvent
from jarvisctl.core.step_events import RolloutHost as RolloutHostEvent
from jarvisctl.engine.rollout_ends import TurnEnd, expired_end, first_deadline
from jarvisctl.engine.rollout_fleet import Fleet
from jarvisctl.engine.rollout_outcome import with_turn
from jarvisctl.engine.rollout_rules import (
    crossed,
    failure_share,
    finished_reason,
    halted_reason,
)
from jarvisctl.engine.session import Session
from jarvisctl.plan.model import HostPlan, PlayPlan, RolloutPlan
from jarvisctl.store.rollouts import (
    HostState,
    Rollout,
    RolloutHost,
    RolloutState,
    RolloutStore,
    StepRecord,
)


class RolloutBook:
    """The rollout's hosts and state as this run works on them; in check mode (no store)
    nothing is written."""

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
        self.earlier: dict[str, list[StepRecord]] = {}
        if store is None:
            self.states = {
                name: RolloutHost(record.id, name, number)
                for number, names in enumerate(plan.batches, 1)
                for name in names
            }
        else:
            self.states = {h.host: h for h in store.hosts(record.id)}
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

    def ended(self, host: str, number: int, end: TurnEnd, session: Session | None) -> None:
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
        self.counted(host, end)

    def counted(self, host: str, end: TurnEnd) -> None:
        """Keep the host's end for the halt rule; halt when failures cross the limit."""
        with self.lock:
            self.states[host] = replace(
                self.states[host], state=end.state, failed=end.failed, reason=end.reason
            )
        self.judge(f"{host}: {end.reason}" if end.failed else "")

    def judge(self, last: str = "") -> None:
        """Halt when the failures so far cross max_fail_percentage (`last`: the failure that
        made them cross it, named in the reason)."""
        with self.lock:
            failed, attempted = failure_share(list(self.states.values()))
            if self.aborting or self.halt.is_set() or not crossed(self.plan, failed, attempted):
                return
            self.halted_reason = halted_reason(self.plan, failed, attempted, last)
            self.halt.set()
        if self.fleet.mode != "check":
            self.update(state=RolloutState.HALTED, reason=self.halted_reason)
        self.emit("halted", failed=failed, attempted=attempted, reason=self.halted_reason)

    def halted(self) -> str:
        return f"halted: {self.halted_reason}"

    def not_started(self, host: HostPlan, reason: str) -> HostRun:
        """A host whose turn does not start in this run: halted, paused or stopped."""
        number = self.plan.batch_of(host.host)
        stopping = self.fleet.cancel.is_set() and not self.halt.is_set()
        if self.halt.is_set() and self.store is not None:
            self.set(host.host, HostState.SKIPPED, reason)
        run = self.fleet.skipped(self.play, host, HostSkipped(reason))
        if not stopping and not reason.startswith("paused"):
            note = RolloutNote(self.record.id, number, RolloutTurn.SKIPPED, reason)
            run = replace(run, rollout=note)
            payload = RolloutHostEvent(self.record.id, number, note.turn.value, reason)
            self.fleet.events.emit(Event(payload, host.host, self.play.name))
        self.fleet.on_host(run)
        return run

    def expire(self) -> list[HostRun]:
        """The deferred hosts whose deadline (their first deferral + defer_for) has passed end
        now, failed: they never came back in time. Their runs, for the hosts planned."""
        now, runs = self.fleet.clock.now(), []
        for name, state in list(self.states.items()):
            until = state.deferred_until
            if state.state is not HostState.DEFERRED or until is None or now <= until:
                continue
            end = expired_end(self.plan, state)
            self.ended(name, state.batch, end, None)
            host = self.hosts.get(name)
            if host is None:
                continue
            run = HostRun(
                host.host, self.play.name, host.connection, Outcome.FAILED, error=end.reason
            )
            self.fleet.events.emit(Event(HostFailed(end.reason), name, self.play.name))
            run = with_turn(run, self.record.id, state.batch, end)
            self.fleet.on_host(run)
            runs.append(run)
        return runs

    def set(self, host: str, state: HostState, reason: str) -> None:
        if self.store is not None:
            self.store.set_host(
                self.record.id, host, state, at=self.fleet.clock.now(), reason=reason
            )
        with self.lock:
            self.states[host] = replace(self.states[host], state=state, reason=reason)

    def update(self, **changes: object) -> None:
        if self.store is not None:
            self.record = self.store.update(
                self.record.id,
                at=self.fleet.clock.now(),
                **changes,  # type: ignore[arg-type]
            )

    def end(self, paused: str) -> None:
        """The rollout's state once this run's batches are done: stopped (the run was),
        halted (already written), paused (already written), deferred (hosts to finish
        later), or finished."""
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
            self.update(state=RolloutState.DEFERRED, reason=reason)
            self.emit("deferred", failed=failed, attempted=attempted, reason=reason)
        else:
            reason = finished_reason(self.plan, list(self.states.values()), failed, attempted)
            self.update(state=RolloutState.FINISHED, reason=reason)
            self.emit("finished", failed=failed, attempted=attempted, reason=reason)

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
