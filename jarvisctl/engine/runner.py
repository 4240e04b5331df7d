"""Run a plan over the fleet: hosts in a sliding window of `forks` workers.

A host never waits for another host, except in a play with remediations: there every host's
checks finish first, so that the fleet circuit breaker can see how many hosts need the same fix;
then the remediations run, again in the window. An exception on one host is that host's
failure. When the run is interrupted, hosts not yet started are reported skipped (reason:
interrupted), in-flight sessions are ended by closing their connections (reported interrupted),
and everything that finished is reported. A host another run holds (its lease) is skipped, with
the holder. Every host of the plan ends as exactly one HostRun per play, given to `on_host`.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from jarvisctl.connection.base import Connection
from jarvisctl.core.clock import SYSTEM_CLOCK, Clock
from jarvisctl.core.events import CircuitOpen, Event, EventSink, HostSkipped, NullSink
from jarvisctl.core.frozen import frozen
from jarvisctl.core.results import Attempt, HostRun, Outcome, RunReport
from jarvisctl.engine.attempts import Remediator
from jarvisctl.engine.backup_work import LazyBackupWork, needs_after
from jarvisctl.engine.pool import ConnectionPool
from jarvisctl.engine.remedy import (
    Need,
    blocked,
    circuit_breaker,
    decide,
    remediation_event,
    would_run,
)
from jarvisctl.engine.rollout_request import RolloutRequest
from jarvisctl.engine.session import Session, observe_host
from jarvisctl.engine.tasks import run_tasks
from jarvisctl.engine.window import in_window
from jarvisctl.kinds.registry import KindRegistry
from jarvisctl.plan.model import HostPlan, Plan, PlayPlan
from jarvisctl.store.base import Store
from jarvisctl.store.leases import Leasing, hold_leases
from jarvisctl.store.ledger import RemediationLedger

if TYPE_CHECKING:
    from jarvisctl.engine.backups import BackupWork

POLL_SECONDS = 0.1
NOT_STARTED = "interrupted: the run was stopped before this host started"
T = TypeVar("T")


def new_run_id(now: datetime) -> str:
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


@frozen
class Runner:
    """What the hosts of one run share: the kinds, the connections and worker threads, the run's
    mode and stop, its sinks, store and leases."""

    registry: KindRegistry
    pool: ConnectionPool
    threads: ThreadPoolExecutor
    mode: str  # "run" or "check"
    cancel: threading.Event
    events: EventSink
    store: Store | None
    on_host: Callable[[HostRun], None]
    window: int  # hosts worked on at once
    on_start: Callable[[str, str], None]  # (host, play) as its session starts: live progress
    clock: Clock
    work: LazyBackupWork  # the run's backup stores and snapshot index, made on first use
    leases: Leasing | None = None  # the run's leases and holder (a rollout is leased too)

    @property
    def backups(self) -> BackupWork:
        return self.work.get()

    def session(self, play: PlayPlan, host: HostPlan) -> Session:
        checks = self.store.checks if self.store else None
        return Session(play, host, self.registry, self.events, checks, self.cancel, self.clock)

    def skipped(self, play: PlayPlan, host: HostPlan, why: HostSkipped) -> HostRun:
        """The host is not worked on in this play: recorded (host_skipped), never OK."""
        self.events.emit(Event(why, host.host, play.name))
        return HostRun(host.host, play.name, host.connection, Outcome.SKIPPED, error=why.reason)

    def not_started(self, play: PlayPlan, host: HostPlan) -> HostRun:
        return self.skipped(play, host, HostSkipped(NOT_STARTED))

    def finish(
        self, play: PlayPlan, host: HostPlan, run: HostRun, conn: Connection | None
    ) -> HostRun:
        """After the checks and remediations: tasks, backups, then the controller-side checks.
        Never raises: whatever goes wrong is this host's failure."""
        if not needs_after(self.registry, host):
            return run
        from jarvisctl.engine.after import finish_host

        session, started = self.session(play, host), time.monotonic()
        try:
            run, conn = run_tasks(
                session, run, conn, self.pool, self.backups, mode=self.mode, cancel=self.cancel
            )
            run = finish_host(session, run, conn, self.backups)
        except Exception as exc:
            outcome, error = session.broken_off(Outcome.FAILED, f"{type(exc).__name__}: {exc}")
            run = replace(run, outcome=outcome, error=error)
        return replace(run, duration=run.duration + time.monotonic() - started)


def execute(
    plan: Plan,
    registry: KindRegistry,
    pool: ConnectionPool,
    *,
    forks: int,
    mode: str,
    cancel: threading.Event,
    on_host: Callable[[HostRun], None] = lambda _: None,
    on_start: Callable[[str, str], None] = lambda host, play: None,
    store: Store | None = None,
    events: EventSink | None = None,
    run_id: str | None = None,
    leases: Leasing | None = None,
    clock: Clock = SYSTEM_CLOCK,
    state_dir: Path | None = None,
    rollout: RolloutRequest | None = None,
) -> RunReport:
    """`state_dir`: where the run's backup stores are (the default local one is under it);
    without it a host's backups fail, saying so. `rollout`: how the run was asked for, kept
    with the rollouts it starts, and the rollout it resumes."""
    started = datetime.fromtimestamp(clock.now(), timezone.utc)
    results: list[HostRun] = []
    plays = [play for book in plan.playbooks for play in book.plays]
    workers = max(1, min(forks, max((len(p.hosts) for p in plays), default=1)))
    sink = events or NullSink()
    hosts = [h.host for p in plays for h in p.hosts]
    guard: AbstractContextManager[dict[str, HostSkipped]] = (
        hold_leases(leases.store, hosts, leases.holder, sink) if leases else nullcontext({})
    )
    with guard as leased, ThreadPoolExecutor(workers, thread_name_prefix="host") as threads:
        work = LazyBackupWork(state_dir, store, mode)
        runner = Runner(
            registry,
            pool,
            threads,
            mode,
            cancel,
            sink,
            store,
            on_host,
            workers,
            on_start,
            clock,
            work,
            leases,
        )
        for book in plan.playbooks:
            for play in book.plays:
                held = [
                    runner.skipped(play, h, leased[h.host]) for h in play.hosts if h.host in leased
                ]
                for run in held:
                    on_host(run)
                results += held
                planned = play
                play = replace(play, hosts=tuple(h for h in play.hosts if h.host not in leased))
                if cancel.is_set():
                    results += _skip_all(runner, play)
                elif play.rollout is not None:
                    asked = replace(rollout or RolloutRequest(), playbook=str(book.path or ""))
                    results += _run_rollout(runner, play, asked, planned)
                else:
                    results += _run_play(runner, play)
    return RunReport(
        run_id=run_id or new_run_id(started),
        mode=mode,
        started=started,
        finished=datetime.fromtimestamp(clock.now(), timezone.utc),
        hosts=tuple(results),
        interrupted=cancel.is_set(),
        playbooks=tuple(p.file for p in plan.playbooks),
    )


def _run_rollout(
    runner: Runner, play: PlayPlan, asked: RolloutRequest, planned: PlayPlan
) -> list[HostRun]:
    from jarvisctl.engine.rollout import run_rollout  # a run without rollouts does not load it

    return run_rollout(runner, play, asked, planned)


def _run_play(runner: Runner, play: PlayPlan) -> list[HostRun]:
    remediating = any(c.remediations for h in play.hosts for c in h.checks)
    report = (lambda _: None) if remediating else runner.on_host
    # The hosts the window starts with get their TCP connections now: their sshds set up while
    # the workers start (and, in a fresh process, import paramiko).
    runner.pool.warm(h.settings for h in play.hosts[: runner.window])

    def observe(host: HostPlan) -> tuple[HostRun, Connection | None]:
        runner.on_start(host.host, play.name)
        run, connection = observe_host(runner.session(play, host), runner.pool)
        if not remediating:  # else after the play's remediations
            run = runner.finish(play, host, run, connection)
        return run, connection

    observed = _in_window(
        runner,
        play.hosts,
        observe,
        lambda host: (runner.not_started(play, host), None),
        lambda pair: report(pair[0]),
    )
    if not remediating:
        return [run for run, _ in observed]
    finished = _remediate_play(runner, play, observed)
    for run in finished:
        runner.on_host(run)
    return finished


def _remediate_play(
    runner: Runner, play: PlayPlan, observed: Sequence[tuple[HostRun, Connection | None]]
) -> list[HostRun]:
    ledger = runner.store.ledger if runner.store else None
    now = runner.clock.now()
    hosts = {h.host: h for h in play.hosts}
    needs = {
        run.host: decide(play, hosts[run.host], run, ledger, now)
        for run, connection in observed
        if connection is not None and run.outcome is Outcome.OK
    }
    tripped = circuit_breaker(play, [n for ns in needs.values() for n in ns])
    for (check, use), names in tripped.items():
        opened = CircuitOpen(
            check=check,
            use=use,
            hosts=tuple(names),
            of=len(play.hosts),
            percent=round(100 * len(names) / max(1, len(play.hosts)), 1),
            limit=play.max_fleet_percent,
        )
        runner.events.emit(Event(opened, None, play.name))
    for host, host_needs in needs.items():
        needs[host] = [
            blocked(n, tripped[(n.check.name, n.remediation.use)], play)
            if n.remediation is not None and (n.check.name, n.remediation.use) in tripped
            else n
            for n in host_needs
        ]
    connections = {run.host: conn for run, conn in observed}
    runs = {run.host: run for run, _ in observed}

    def work(host: HostPlan) -> HostRun:
        run, connection = runs[host.host], connections[host.host]
        if needs.get(host.host):
            run = _remediate_host(runner, play, run, connection, needs[host.host], ledger)
        return runner.finish(play, host, run, connection)

    def not_started(host: HostPlan) -> HostRun:  # stopped: its backups say so, none is taken
        return runner.finish(play, host, runs[host.host], connections[host.host])

    todo = [hosts[run.host] for run, _ in observed]
    done = _in_window(runner, todo, work, not_started, lambda _: None)
    finished = {run.host: run for run in done}
    return [finished.get(run.host, run) for run, _ in observed]


def _remediate_host(
    runner: Runner,
    play: PlayPlan,
    run: HostRun,
    connection: Connection | None,
    needs: Sequence[Need],
    ledger: RemediationLedger | None,
) -> HostRun:
    session = runner.session(play, next(h for h in play.hosts if h.host == run.host))
    if runner.mode == "check" or connection is None or ledger is None:
        notes = [note for need in needs for note in need.notes]
        notes += [would_run(n) for n in needs if n.rung is not None]
        for note in notes:
            session.emit(remediation_event(note))
        return replace(run, remediations=tuple(notes))
    remediator = Remediator(session, connection, runner.pool, ledger, runner.cancel)
    try:
        notes, recovered = remediator.run(needs)
    except Exception as exc:  # the connection died, or worse: this host's failure only
        outcome, error = session.broken_off(Outcome.FAILED, f"{type(exc).__name__}: {exc}")
        return replace(run, outcome=outcome, error=error)
    checks = tuple(
        replace(recovered[c.name], previous_status=c.status) if c.name in recovered else c
        for c in run.checks
    )
    ran = [
        n for n in notes if n.outcome in (Attempt.VERIFIED, Attempt.NOT_VERIFIED, Attempt.FAILED)
    ]
    outcome = (
        Outcome.FAILED
        if any(n.outcome is Attempt.FAILED for n in ran)
        else (Outcome.CHANGED if ran else run.outcome)
    )
    return replace(run, checks=checks, remediations=tuple(notes), outcome=outcome)


def _skip_all(runner: Runner, play: PlayPlan) -> list[HostRun]:
    """A play the run was stopped before: none of its hosts started."""
    runs = [runner.not_started(play, host) for host in play.hosts]
    for run in runs:
        runner.on_host(run)
    return runs


def _in_window(
    runner: Runner,
    hosts: Sequence[HostPlan],
    work: Callable[[HostPlan], T],
    skipped: Callable[[HostPlan], T],
    done: Callable[[T], None],
) -> list[T]:
    return in_window(runner.threads, runner.pool, runner.cancel, hosts, work, skipped, done)
