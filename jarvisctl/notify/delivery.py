"""The outbox's worker (issue 19, CONTRACT-19.md): each notification the dispatcher enqueued is
sent to each part of its receiver (an integration: notify/resolve.py) on a thread of its own,
never on a run's.

- A receiver's notifications go out in the order they were made: while its oldest waits for a
  retry, the later ones wait behind it (a resolved message never overtakes its firing one).
- An attempt first claims its entry in the store (store.claim), so that two workers (the
  daemon's, a `run --notify`'s) never send one twice; a worker killed mid-attempt leaves the
  claim to expire, and the entry is tried again.
- A failure that may pass (DeliveryError.retryable: refused or reset connections, timeouts,
  408/425/429/5xx, SMTP 4xx) is tried again after a backoff that doubles from `first` up to
  `most`; one that will not (a 4xx, refused credentials), or one still failing `give_up_after`
  seconds after the notification was made, is given up, with its last error kept.
- Every attempt sends the notification's key (Idempotency-Key, the webhook body's
  notificationKey, an e-mail's Message-ID): a retry after an unclear failure (a timeout after the
  receiver got it) is recognised by receivers that deduplicate (Alertmanager, webhooks that
  remember keys).

Parts of one receiver, and receivers, are sent to concurrently, so a receiver that is down or
slow delays only its own notifications.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait

from jarvisctl.core.clock import SYSTEM_CLOCK, Clock
from jarvisctl.core.frozen import frozen
from jarvisctl.notify.receivers.base import DeliveryError, SendContext
from jarvisctl.notify.resolve import Integration
from jarvisctl.store.alerts import AlertStore, OutboxEntry

CLAIM_MARGIN = 30.0  # seconds a claim outlives the attempt's own timeout
WORKERS = 4  # integrations sent to at once


@frozen
class Backoff:
    first: float = 5.0
    most: float = 300.0
    give_up_after: float = 86400.0

    def retry_at(self, attempts: int, now: float) -> float:
        """When to try again after `attempts` failed attempts (1 or more)."""
        delay: float = self.first * 2.0 ** max(attempts - 1, 0)
        return now + min(delay, self.most)


@frozen
class Attempted:
    """One attempt's outcome: delivered, to be retried at `retry_at`, or given up."""

    entry: OutboxEntry
    delivered: bool
    error: str = ""
    retry_at: float | None = None

    @property
    def given_up(self) -> bool:
        return not self.delivered and self.retry_at is None


@frozen
class DeliveryPass:
    attempted: tuple[Attempted, ...]
    next_due: float | None  # the earliest entry left waiting (None: the outbox is empty)
    pending: int  # entries not delivered nor given up, after the pass


class Delivery:
    def __init__(
        self,
        store: AlertStore,
        integrations: Mapping[str, Integration],
        context: SendContext,
        *,
        backoff: Backoff | None = None,
        clock: Clock = SYSTEM_CLOCK,
        redact: Callable[[str], str] = lambda text: text,
        on_attempt: Callable[[Attempted], None] = lambda attempted: None,
        workers: int = WORKERS,
    ) -> None:
        self.store, self.integrations, self.context = store, integrations, context
        self.backoff = backoff or Backoff()
        self.clock, self.redact, self.on_attempt = clock, redact, on_attempt
        self.workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def run_once(self, timeout: float | None = None) -> DeliveryPass:
        """Send every due entry (each receiver's in order); wait at most `timeout` seconds
        for the attempts (None: until they end): those still running are left to finish on
        their own, their entries claimed."""
        now = self.clock.now()
        queues: dict[str, list[OutboxEntry]] = {}
        for entry in self.store.outbox():
            queues.setdefault(entry.integration, []).append(entry)
        due = [q for q in queues.values() if _due(q[0], now)]
        results: list[list[Attempted]] = [[] for _ in due]
        if due:
            pool = self._executor()
            futures = [
                pool.submit(self._send_in_order, queue, out)
                for queue, out in zip(due, results, strict=True)
            ]
            wait(futures, timeout=timeout)
        attempted = tuple(a for out in results for a in list(out))
        left = self.store.outbox()
        waiting = [e.next_attempt_at for e in left if e.next_attempt_at is not None]
        return DeliveryPass(attempted, min(waiting, default=None), len(left))

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="deliver")
            return self._pool

    def _send_in_order(self, queue: Sequence[OutboxEntry], out: list[Attempted]) -> None:
        for entry in queue:
            if not _due(entry, self.clock.now()):
                return
            done = self.attempt(entry)
            if done is None:
                return  # another worker holds it
            out.append(done)
            if not done.delivered:
                return  # the later ones wait behind it

    def attempt(self, entry: OutboxEntry) -> Attempted | None:
        """One attempt at one entry (None: it was not due, or another worker claimed it)."""
        key, name = entry.notification.key, entry.integration
        now = self.clock.now()
        integration = self.integrations.get(name)
        if integration is None:
            receiver = name.split("/")[0]
            error = f"receiver {receiver!r} ({name}) is no longer in jarvisctl.yml: given up"
            self.store.failed(key, name, now, error, None)
            return self._told(Attempted(entry, False, error))
        until = now + 3 * integration.params.timeout + CLAIM_MARGIN
        if not self.store.claim(key, name, now, until):
            return None
        try:
            integration.kind.send(integration.params, entry.notification, self.context)
        except DeliveryError as exc:
            return self._failed(entry, str(exc), exc.retryable)
        except Exception as exc:  # a plugin's bug: said, and tried again as a transient fault
            return self._failed(entry, f"{type(exc).__name__}: {exc}", True)
        self.store.delivered(key, name, self.clock.now())
        return self._told(Attempted(entry, True))

    def _failed(self, entry: OutboxEntry, error: str, retryable: bool) -> Attempted:
        now = self.clock.now()
        error = self.redact(error)
        attempts = entry.attempts + 1
        late = now - entry.notification.created_at >= self.backoff.give_up_after
        retry_at = self.backoff.retry_at(attempts, now) if retryable and not late else None
        if retryable and late:
            error = f"{error} (given up: still failing after {attempts} attempts)"
        key, name = entry.notification.key, entry.integration
        self.store.failed(key, name, now, error, retry_at)
        return self._told(Attempted(entry, False, error, retry_at))

    def _told(self, attempted: Attempted) -> Attempted:
        with contextlib.suppress(Exception):  # a log that fails must not stop deliveries
            self.on_attempt(attempted)
        return attempted


def _due(entry: OutboxEntry, now: float) -> bool:
    return entry.next_attempt_at is not None and entry.next_attempt_at <= now
