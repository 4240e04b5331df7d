"""The notifications pipeline of the daemon and of a notifying `jarvisctl run` (issue 19):

    a run's events ──sink (queues)──▶ derive (notify/derive.py, AlertBook) ──▶ store: alerts
        ──▶ dispatch (notify/dispatch.py: routes, groups, timers, muting, escalation)
        ──▶ store: outbox ──▶ delivery (notify/delivery.py) ──▶ receivers

A run only queues its events (its sink's emit returns at once); one thread derives the alerts,
records jarvisctl's maintenance silences and runs the dispatcher (when a run's events came in,
when a group's timer is due, and every POLL seconds besides); another delivers the outbox. A
receiver that is down delays its own notifications only, never a run.

A `jarvisctl run` ends with `finish`: the events left are derived, the groups its alerts made are
told at once (all its alerts are in: group_wait has no more to gather; group_interval still holds
for groups told before), and the outbox is delivered for at most `notify.delivery.run_wait`
seconds. What is left stays in the outbox: the daemon, or the next notifying run, sends it.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
import time
from dataclasses import replace
from typing import Any, Protocol

from tzlocal import get_localzone

from jarvisctl.app.notify_sink import MAINTENANCE_KINDS
from jarvisctl.config.notify import notify_policy
from jarvisctl.config.project import Project
from jarvisctl.core.alerts import Alert, AlertState
from jarvisctl.core.clock import SYSTEM_CLOCK, Clock
from jarvisctl.core.errors import JarvisError
from jarvisctl.core.events import Event, EventKind
from jarvisctl.core.frozen import frozen
from jarvisctl.core.secrets import SecretValues
from jarvisctl.notify.alert_book import AlertBook
from jarvisctl.notify.delivery import Attempted, Backoff, Delivery, DeliveryPass
from jarvisctl.notify.derive import (
    ALERT_KINDS,
    ESCALATED,
    ROLLOUT_HALTED,
    DeriveContext,
    context_of,
    stale,
)
from jarvisctl.notify.dispatch import Dispatched, Dispatcher, Parts
from jarvisctl.notify.maintenance import MaintenanceSilences
from jarvisctl.notify.receivers.base import SendContext
from jarvisctl.notify.resolve import resolve_receivers
from jarvisctl.plan.model import Plan
from jarvisctl.store.alerts import AlertStore
from jarvisctl.store.factory import open_store
from jarvisctl.store.rollouts import RolloutState, UnknownRolloutError

TICK = 1.0  # seconds a pipeline thread sleeps at most before it looks again
POLL = 10.0  # seconds between two dispatcher passes when nothing asks for one
STOP_WAIT = 5.0  # how long a stopping daemon still delivers what is due
FINISH_POLL = 0.2  # seconds between two looks at the outbox while a run's end waits


class NotifyLog(Protocol):
    """Where the pipeline says what it does (the daemon's EventLog; a run's stderr)."""

    def info(self, event: str, **fields: Any) -> None: ...

    def warning(self, event: str, **fields: Any) -> None: ...

    def error(self, event: str, **fields: Any) -> None: ...


@frozen
class Finished:
    """What a notifying run delivered (its pipeline's threads and its end alike), what it left
    in the outbox, and the groups whose change waits for their group_interval: when the first
    of those is due (None: none waits)."""

    sent: int
    failed: int
    pending: int
    held: int = 0
    held_until: float | None = None


class Notifications:
    def __init__(
        self,
        project: Project,
        secrets: SecretValues,
        log: NotifyLog,
        *,
        clock: Clock = SYSTEM_CLOCK,
        external_url: str = "",
    ) -> None:
        """Raises a ConfigError when a receiver cannot be resolved (a variable not set)."""
        self.secrets, self.log, self.clock = secrets, log, clock
        self.external_url = external_url
        self.state = open_store(project.state_dir, lock_timeout=project.config.timeouts.state_lock)
        self.store: AlertStore = self.state.alerts
        self.book = AlertBook(self.store, secrets.redactor)
        self._inbox: queue.SimpleQueue[tuple[_RunSink, Event]] = queue.SimpleQueue()
        self._wake_dispatch = threading.Event()
        self._wake_delivery = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._counts = {"sent": 0, "failed": 0}  # attempts since the start, by any thread
        self._count_lock = threading.Lock()
        self.silences: MaintenanceSilences | None = None
        self.configure(project)

    # -- configuration -------------------------------------------------------------------------

    def configure(self, project: Project) -> None:
        """Use the project's `notify:` (at start, and on the daemon's reload): on a mistake
        (a ConfigError) the pipeline keeps what it had."""
        settings = project.notify
        if settings is None:
            raise ValueError("the project has no notify: section")
        receivers = resolve_receivers(project, self.secrets)
        integrations = {i.name: i for r in receivers.values() for i in r.integrations}
        parts = {
            name: Parts(
                tuple(i.name for i in r.integrations),
                {i.name: i.kind.name for i in r.integrations},
            )
            for name, r in receivers.items()
        }
        delivery = settings.delivery
        backoff = Backoff(delivery.retry_after, delivery.retry_max, delivery.give_up_after)
        context = SendContext(self.external_url, socket.gethostname())
        self.run_wait = delivery.run_wait
        if self.silences is None:
            self.silences = MaintenanceSilences(self.store, settings.maintenance_grace)
        else:  # a reload: the silences open now still end with their work
            self.silences.grace = settings.maintenance_grace
        self.dispatcher = Dispatcher(
            self.store, notify_policy(settings), parts, get_localzone(), self._muted
        )
        old = getattr(self, "delivery", None)
        self.delivery = Delivery(
            self.store,
            integrations,
            context,
            backoff=backoff,
            clock=self.clock,
            redact=lambda text: self.secrets.redactor().text(text),
            on_attempt=self._attempted,
        )
        if old is not None:
            old.close()

    # -- a run's events ------------------------------------------------------------------------

    def sink(self, plan: Plan) -> _RunSink:
        return _RunSink(self, context_of(plan, generator=self.external_url))

    def queue(self, run: _RunSink, event: Event) -> None:
        self._inbox.put((run, event))
        self._wake_dispatch.set()

    def derive(self) -> int:
        """Derive the queued events (in order): the alerts changed."""
        changed = 0
        while True:
            try:
                run, event = self._inbox.get_nowait()
            except queue.Empty:
                return changed
            try:
                changed += self._derive(run, event)
            except JarvisError as exc:  # the store's fault: the next run's events say it again
                self.log.warning("alert_not_recorded", kind=event.kind.value, error=str(exc))

    def _derive(self, run: _RunSink, event: Event) -> int:
        silences = self.silences
        if silences is not None and event.kind in MAINTENANCE_KINDS and silences.wants(event):
            for what, silence in silences.apply(event, run.context.run_id):
                self.log.info(
                    f"silence_{what}",
                    silence=silence.id,
                    created_by=silence.created_by,
                    comment=silence.comment,
                )
        if event.kind not in ALERT_KINDS:
            return 0
        recorded = self.book.apply(event, run.context)
        for alert in recorded:
            self._said(alert)
        return len(recorded)

    def _said(self, alert: Alert) -> None:
        firing = alert.state is AlertState.FIRING
        self.log.info(
            "alert_firing" if firing else "alert_resolved",
            alert=alert.fingerprint,
            alertname=alert.labels.get("alertname"),
            host=alert.labels.get("host"),
            severity=alert.labels.get("severity"),
        )

    def reconcile(self) -> int:
        """Resolve the alerts whose condition an operator ended outside any run (a halted
        rollout aborted, an escalation reset): the alerts changed."""
        firing = self.book.firing()
        if not any(key[0] in (ROLLOUT_HALTED, ESCALATED) for key in firing):
            return 0
        ended = stale(firing, self._rollout_halted, self._escalated, self.clock.now())
        for alert in self.book.record(ended, self.clock.now()):
            self._said(alert)
        return len(ended)

    def _rollout_halted(self, rollout_id: str) -> bool:
        try:
            return self.state.rollouts.get(rollout_id).state is RolloutState.HALTED
        except UnknownRolloutError:
            return False

    def _escalated(self, host: str, play: str, check: str) -> bool:
        return self.state.ledger.read(host, play, check).escalated_since is not None

    # -- dispatching and delivering ------------------------------------------------------------

    def dispatch(self, *, flush_new: bool = False) -> Dispatched:
        done = self.dispatcher.run(self.clock.now(), flush_new=flush_new)
        for out in done.outgoing:
            note = out.notification
            self.log.info(
                "notification_queued",
                receiver=note.receiver,
                key=note.key,
                status=note.status.value,
                alerts=len(note.alerts),
                group=note.group_key,
                only=out.only or None,
            )
        if done.outgoing:
            self._wake_delivery.set()
        return done

    def deliver(self, timeout: float | None = None) -> DeliveryPass:
        return self.delivery.run_once(timeout)

    def _muted(self, fingerprint: str, why: str) -> None:
        self.log.info("alert_muted", alert=fingerprint, why=why)

    def _attempted(self, attempted: Attempted) -> None:
        entry = attempted.entry
        fields = {
            "receiver": entry.notification.receiver,
            "integration": entry.integration,
            "key": entry.notification.key,
            "attempts": entry.attempts + 1,
        }
        with self._count_lock:
            self._counts["sent" if attempted.delivered else "failed"] += 1
        if attempted.delivered:
            self.log.info("notification_sent", **fields)
        elif attempted.given_up:
            self.log.error("notification_given_up", error=attempted.error, **fields)
        else:
            retry = attempted.retry_at
            self.log.warning("notification_failed", error=attempted.error, retry_at=retry, **fields)

    # -- threads -------------------------------------------------------------------------------

    def start(self) -> None:
        """The dispatcher's thread and the delivery's, until `stop`."""
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._dispatching, name="notify dispatch", daemon=True),
            threading.Thread(target=self._delivering, name="notify delivery", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _dispatching(self) -> None:
        """A pass when a run's events came in, when a group's timer is due, and every POLL
        seconds besides (what other processes changed: an acknowledgement, a silence, is read
        at the timers anyway; the poll only bounds how stale a view can get)."""
        due = self.clock.now()
        while not self._stop.is_set():
            woken = self._wake_dispatch.is_set()
            self._wake_dispatch.clear()
            with self._guarded("dispatch"):
                if self.clock.now() >= due:
                    self.book.forget()  # what other processes recorded is read again
                changed = self.derive() + self.reconcile()
                now = self.clock.now()
                if woken or changed or now >= due:
                    done = self.dispatch()
                    due = min(now + POLL, done.next_wake or now + POLL)
            self._wake_dispatch.wait(max(0.0, min(due - self.clock.now(), TICK)))

    def _delivering(self) -> None:
        while not self._stop.is_set():
            self._wake_delivery.clear()
            wake = self.clock.now() + TICK
            with self._guarded("delivery"):
                done = self.deliver(timeout=TICK)
                if done.next_due is not None:
                    wake = min(wake, done.next_due)
            self._wake_delivery.wait(max(0.05, min(wake - self.clock.now(), TICK)))

    @contextlib.contextmanager
    def _guarded(self, what: str) -> Any:
        """A fault (the store locked or full, a bug) is said and the loop goes on after a
        pause: the daemon outlives it, and what it could not do is done on a later pass."""
        try:
            yield
        except Exception as exc:
            self.log.error(f"notify_{what}_failed", error=f"{type(exc).__name__}: {exc}")
            self._stop.wait(TICK)

    def stop(self, wait: float = STOP_WAIT) -> None:
        """End the threads; what is due is still delivered for up to `wait` seconds (the
        rest waits in the outbox for the next start)."""
        self._stop.set()
        self._wake_dispatch.set()
        self._wake_delivery.set()
        for thread in self._threads:
            thread.join(wait)
        self._threads = []
        with self._guarded("stop"):
            self.derive()
            self.dispatch()
            self.deliver(timeout=wait)
        self.delivery.close()

    def finish(self, seconds: float | None = None) -> Finished:
        """A run's end: its events derived, its new groups told at once, the outbox delivered
        for at most `seconds` (notify.delivery.run_wait when None); a group's change held by
        its group_interval is told too when that falls within those seconds."""
        self._stop.set()
        self._wake_dispatch.set()  # the threads end now, not at their next look (TICK)
        self._wake_delivery.set()
        for thread in self._threads:
            thread.join()
        self._threads = []
        self.book.forget()
        self.derive()
        self.reconcile()
        held = self.dispatch(flush_new=True).held
        limit = self.run_wait if seconds is None else seconds
        deadline = time.monotonic() + limit
        while True:
            if held and min(held.values()) <= self.clock.now():
                held = self.dispatch(flush_new=True).held  # its group_interval has passed
            left = deadline - time.monotonic()
            done = self.deliver(timeout=max(left, 0.0))
            timers = [t for t in (done.next_due, min(held.values(), default=None)) if t is not None]
            waiting = bool(timers) and min(timers) - self.clock.now() < left
            if not waiting or left <= 0:
                break
            time.sleep(min(FINISH_POLL, max(left, 0.0)))
        self.delivery.close()
        with self._count_lock:
            sent, failed = self._counts["sent"], self._counts["failed"]
        until = min(held.values(), default=None)
        return Finished(sent, failed, self.store.pending(), len(held), until)


class _RunSink:
    """One run's events, queued for the pipeline (emit never waits for anything)."""

    kinds = ALERT_KINDS | MAINTENANCE_KINDS

    def __init__(self, owner: Notifications, context: DeriveContext) -> None:
        self.owner, self.context = owner, context

    def emit(self, event: Event) -> None:
        if event.kind is EventKind.RUN_STARTED:
            self.context = replace(self.context, run_id=str(event.data.get("run_id", "")))
            return
        self.owner.queue(self, event)
