"""Work on hosts `forks` at a time: a sliding window over a thread pool, stopped by the run's
cancel. Shared by plays (engine/runner.py) and a rollout's batches (engine/rollout_batches.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from typing import TypeVar

from jarvisctl.engine.pool import ConnectionPool
from jarvisctl.plan.model import HostPlan

POLL_SECONDS = 0.1
T = TypeVar("T")


def in_window(
    threads: Executor,
    pool: ConnectionPool,
    cancel: threading.Event,
    hosts: Sequence[HostPlan],
    work: Callable[[HostPlan], T],
    skipped: Callable[[HostPlan], T],
    done: Callable[[T], None],
) -> list[T]:
    """`work` on every host (as many at once as `threads` has workers); on cancel, hosts not
    started are `skipped` and in-flight sessions are ended by closing every connection of the
    pool. `done` is called for every result, the skipped ones included. `work` must not
    raise: it returns the host's failure."""

    def start(host: HostPlan) -> T:  # a stop between two polls starts no further host
        return skipped(host) if cancel.is_set() else work(host)

    pending: dict[Future[T], HostPlan] = {threads.submit(start, h): h for h in hosts}
    results: list[T] = []
    interrupted = False
    while pending:
        finished, _ = wait(pending, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
        for future in finished:
            pending.pop(future)
            result = future.result()
            results.append(result)
            done(result)
        if cancel.is_set() and not interrupted:
            interrupted = True
            for future, host in list(pending.items()):
                if future.cancel():
                    pending.pop(future)
                    results.append(skipped(host))
                    done(results[-1])
            pool.close_all()  # ends in-flight sessions; their hosts report what happened
    return results
