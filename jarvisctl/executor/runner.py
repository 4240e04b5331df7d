"""Run a plan over the fleet: hosts in a sliding window of `forks` workers.

A host never waits for another host; an exception on one host is that host's failure. When the
run is interrupted, hosts not yet started are reported skipped, in-flight sessions are ended by
closing their connections, and everything that finished is still reported.
"""

from __future__ import annotations

import functools
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import datetime, timezone

from jarvisctl.executor.pool import ConnectionPool
from jarvisctl.executor.session import run_host
from jarvisctl.kinds.registry import KindRegistry
from jarvisctl.plan_model import HostPlan, Plan, PlayPlan
from jarvisctl.results import HostRun, Outcome, RunReport
from jarvisctl.state import StateStore

POLL_SECONDS = 0.1


def new_run_id(now: datetime) -> str:
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


def execute(
    plan: Plan,
    registry: KindRegistry,
    pool: ConnectionPool,
    *,
    forks: int,
    mode: str,
    cancel: threading.Event,
    on_host: Callable[[HostRun], None] = lambda _: None,
    store: StateStore | None = None,
) -> RunReport:
    started = datetime.now(timezone.utc)
    results: list[HostRun] = []
    jobs = [(play, host) for book in plan.playbooks for play in book.plays for host in play.hosts]
    workers = max(1, min(forks, len(jobs)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="host") as threads:
        for play in (p for book in plan.playbooks for p in book.plays):
            if cancel.is_set():
                results += [_skipped(play, h) for h in play.hosts]
                continue
            work = functools.partial(run_host, pool=pool, registry=registry, mode=mode, store=store)
            results += _run_play(play, threads, work, pool, cancel, on_host)
    finished = datetime.now(timezone.utc)
    return RunReport(
        run_id=new_run_id(started),
        mode=mode,
        started=started,
        finished=finished,
        hosts=tuple(results),
        interrupted=cancel.is_set(),
        playbooks=tuple(p.file for p in plan.playbooks),
    )


def _run_play(
    play: PlayPlan,
    threads: ThreadPoolExecutor,
    work: Callable[[PlayPlan, HostPlan], HostRun],
    pool: ConnectionPool,
    cancel: threading.Event,
    on_host: Callable[[HostRun], None],
) -> list[HostRun]:
    pending: dict[Future[HostRun], HostPlan] = {
        threads.submit(work, play, host): host for host in play.hosts
    }
    done: list[HostRun] = []
    interrupted = False
    while pending:
        finished, _ = wait(pending, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
        for future in finished:
            host = pending.pop(future)
            result = _result_of(future, play, host)
            done.append(result)
            on_host(result)
        if cancel.is_set() and not interrupted:
            interrupted = True
            for future, host in list(pending.items()):
                if future.cancel():
                    pending.pop(future)
                    done.append(_skipped(play, host))
            pool.close_all()  # ends in-flight sessions; their hosts report what happened
    return done


def _result_of(future: Future[HostRun], play: PlayPlan, host: HostPlan) -> HostRun:
    try:
        return future.result()
    except Exception as exc:  # run_host guards itself; this is the last line of defence
        return HostRun(
            host.host,
            play.name,
            host.connection,
            Outcome.FAILED,
            error=f"internal error: {type(exc).__name__}: {exc}",
        )


def _skipped(play: PlayPlan, host: HostPlan) -> HostRun:
    return HostRun(
        host.host,
        play.name,
        host.connection,
        Outcome.SKIPPED,
        error="interrupted before this host started",
    )
