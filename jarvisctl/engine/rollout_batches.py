"""A rollout's batches in order, as one run works on them: each batch's hosts `forks` at a time
(engine/window.py), no host started once the rollout halts or the run stops, a pause after
the batches `pause_after` names, the batches an earlier run finished not repeated; or, for
`rollout abort --rollback`, the rollback of every host the rollout may have changed."""

from __future__ import annotations

from collections.abc import Sequence

from jarvisctl.core.results import HostRun
from jarvisctl.engine.rollout_book import RolloutBook
from jarvisctl.engine.rollout_host import host_turn
from jarvisctl.engine.rollout_rules import changed_it, failure_share
from jarvisctl.engine.window import in_window
from jarvisctl.plan.model import HostPlan
from jarvisctl.store.rollouts import DONE, HostState, RolloutState, turn_started


class Batches:
    """One run's work on a rollout: its batches in order."""

    def __init__(self, book: RolloutBook) -> None:
        self.book = book
        self.plan = book.plan

    def run(self) -> list[HostRun]:
        book = self.book
        resumed = any(h.state is not HostState.PENDING for h in book.states.values())
        book.emit("resumed" if resumed else "started")
        results: list[HostRun] = []
        paused = ""
        if book.store is not None:
            results += book.expire()
            book.judge()  # also: a controller killed before it wrote the halt
        for number, names in enumerate(self.plan.batches, 1):
            todo = self._todo(names)
            if not todo:
                # its hosts ended in an earlier run, killed before it recorded the batch
                # finished (and the pause after it): that is done now
                if book.store is not None and number > book.record.batch and not paused:
                    paused = self._finished(number)
                continue
            if book.halt.is_set() or paused or book.fleet.cancel.is_set():
                results += [book.not_started(h, paused or book.halted()) for h in todo]
                continue
            book.emit("batch_started", number, hosts=tuple(h.host for h in todo))
            results += self._batch(number, todo)
            failed, attempted = failure_share(list(book.states.values()))
            book.emit("batch_finished", number, failed=failed, attempted=attempted)
            paused = self._finished(number)
        book.end(paused)
        return results

    def _finished(self, number: int) -> str:
        """Record batch `number` finished (the rollout's batch never goes back), then pause
        when it is in pause_after, was not paused after before, and hosts remain; why it
        paused, or ""."""
        book = self.book
        book.update(batch=max(number, book.record.batch))
        later = any(self._todo(rest) for rest in self.plan.batches[number:])
        pause = number in self.plan.pause_after and number > book.finished_before
        if not pause or not later or book.halt.is_set():
            return ""
        if book.fleet.mode == "check":  # no recorded rollout to continue: every host is probed
            return ""
        paused = (
            f"paused after batch {number}: `jarvisctl rollout continue {book.record.id}` goes on"
        )
        book.update(state=RolloutState.PAUSED, reason=paused)
        book.emit("paused", number, reason=paused)
        return paused

    def abort(self) -> list[HostRun]:
        """`rollout abort --rollback`: every host the rollout may have changed (updated, in
        flight, waiting for a decision, deferred where it stood) runs its rollback and the
        gate; no host starts; the rollout ends aborted."""
        book = self.book
        book.aborting = True
        book.emit("aborting")
        todo = [
            host
            for names in self.plan.batches
            for name in names
            if (host := book.hosts.get(name)) is not None
            and name in book.states
            and changed_it(book.states[name])
        ]
        results: list[HostRun] = []
        for number, names in enumerate(self.plan.batches, 1):
            hosts = [h for h in todo if h.host in names]
            if hosts:
                results += self._batch(number, hosts, rollback=True)
        reason = "aborted by an operator, with the rollback of the hosts it had changed"
        for name, state in list(book.states.items()):
            waiting = state.state in (HostState.PENDING, HostState.DEFERRED)
            if waiting and not turn_started(state) and book.store is not None:
                book.set(name, HostState.SKIPPED, reason)
        if not book.fleet.cancel.is_set():
            book.update(state=RolloutState.ABORTED, reason=reason)
            book.emit("aborted", reason=reason)
        return results

    def _todo(self, names: Sequence[str]) -> list[HostPlan]:
        """The batch's hosts whose turn is still to come (or to go on); a host whose turn
        ended in an earlier run is not part of this one's work."""
        todo: list[HostPlan] = []
        for name in names:
            host, state = self.book.hosts.get(name), self.book.states.get(name)
            if host is None or state is None:
                continue
            if state.state in DONE or state.state is HostState.DECISION:
                continue
            todo.append(host)
        return todo

    def _batch(
        self, number: int, hosts: list[HostPlan], *, rollback: bool = False
    ) -> list[HostRun]:
        book, fleet = self.book, self.book.fleet

        def work(host: HostPlan) -> HostRun:
            if book.halt.is_set() and not rollback:
                return book.not_started(host, book.halted())
            fleet.on_start(host.host, book.play.name)
            run = host_turn(book, number, host, rollback=rollback)
            fleet.on_host(run)
            return run

        def skipped(host: HostPlan) -> HostRun:
            return book.not_started(host, "interrupted: the run was stopped before this host")

        return in_window(fleet.threads, fleet.pool, fleet.cancel, hosts, work, skipped, _nothing)


def _nothing(_: object) -> None:
    return None
