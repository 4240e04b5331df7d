"""Work on hosts `forks` at a time: a sliding window over a thread pool, stopped by the run's
cancel. Shared by plays (engine/runner.py) and a rollout's batches (engine/rollout_batches.py)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
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

    # Each future says when it is done on one queue: waiting on every pending future at each
    # turn (concurrent.futures.wait) costs a turn O(hosts), a run of hundreds of hosts O(hosts²).
    finished: queue.SimpleQueue[Future[T]] = queue.SimpleQueue()
    pending: dict[Future[T], HostPlan] = {}
    for host in hosts:
        future = threads.submit(start, host)
        pending[future] = host
        future.add_done_callback(finished.put)
    results: list[T] = []
    interrupted = False
    while pending:
        try:
            ended: Future[T] | None = finished.get(timeout=POLL_SECONDS)
        except queue.Empty:
            ended = None
        # a future cancelled below is told here too, and was popped then
        if ended is not None and pending.pop(ended, None) is not None:
            results.append(ended.result())
            done(results[-1])
        if cancel.is_set() and not interrupted:
            interrupted = True
            for future, host in list(pending.items()):
                if future.cancel():
                    pending.pop(future)
                    results.append(skipped(host))
                    done(results[-1])
            pool.close_all()  # ends in-flight sessions; their hosts report what happened
    return results
