"""Alerts, silences and the notification outbox, as the store keeps them (issue 19).

An alert is deduplicated by its fingerprint: recording a firing alert whose fingerprint fires
already updates that alert (what it says, keeping when it started); recording it resolved ends
it. Resolved alerts are kept as history (pruned by retention). The outbox holds each
notification once per deliverable part of its receiver (`integration`, notify/resolve.py), with
its attempts, when to try next and when it was delivered: a daemon killed with notifications in
it sends them after its restart, and a retry sends the same notification key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import field
from typing import Protocol

from jarvisctl.core.alerts import Alert, Notification, Silence
from jarvisctl.core.frozen import frozen


@frozen
class StoredAlert:
    alert: Alert
    updated_at: float
    acked_at: float | None = None
    acked_by: str = ""
    ack_comment: str = ""

    @property
    def acknowledged(self) -> bool:
        return self.acked_at is not None


@frozen
class OutboxEntry:
    notification: Notification
    integration: str  # receiver/kind/part
    attempts: int = 0
    next_attempt_at: float | None = None  # None: delivered, or given up
    delivered_at: float | None = None
    last_error: str = ""


@frozen
class OutboxCounts:
    """One receiver's notifications in the outbox, each deliverable part counted."""

    receiver: str
    delivered: int = 0
    failed: int = 0  # failed attempts, every retry counted (a given-up entry's last one too)
    pending: int = 0  # not delivered, to be tried again
    given_up: int = 0  # not delivered, and no more attempts


@frozen
class GroupChanges:
    """What one pass of the dispatcher (notify/dispatch.py) writes at once: the state of each
    notification group it changed (its own JSON: the store keeps it as text), the groups it
    ended, and the notifications it enqueued, each with the integrations that deliver it.
    Written together, so that a controller killed at any point neither loses a notification
    nor sends one twice."""

    saved: Mapping[str, str] = field(default_factory=dict)
    removed: Sequence[str] = ()
    enqueued: Sequence[tuple[Notification, Sequence[str]]] = ()


class AlertStore(Protocol):
    def record(self, alert: Alert, at: float) -> StoredAlert | None:
        """Store a firing alert (deduplicated by fingerprint) or end a firing one; the row as
        stored, or None for a resolved alert whose fingerprint was not firing."""
        ...

    def firing(self) -> list[StoredAlert]: ...

    def since(self, at: float) -> list[StoredAlert]:
        """Every alert firing, or updated at or after `at`, oldest first."""
        ...

    def acknowledge(self, fingerprint: str, at: float, by: str, comment: str) -> StoredAlert | None:
        """Acknowledge the firing alert of that fingerprint (None when none fires)."""
        ...

    def add_silence(self, silence: Silence) -> None: ...

    def silences(self, at: float | None = None) -> list[Silence]:
        """The silences active at `at`, or every one kept when `at` is None."""
        ...

    def expire_silence(self, silence_id: str, at: float) -> bool:
        """End a silence now; False when there is no such silence or it has ended."""
        ...

    def update_groups(self, update: Callable[[Mapping[str, str]], GroupChanges]) -> GroupChanges:
        """In one transaction: read every group's state, call `update` with them (it may read
        this store: alerts, silences), and write what it returns. Two dispatchers (the daemon,
        a `run --notify`) take turns."""
        ...

    def outbox(self, limit: int = 1000) -> list[OutboxEntry]:
        """Every entry not delivered and not given up, oldest notification first (due or not:
        a receiver's notifications are delivered in order)."""
        ...

    def claim(self, key: str, integration: str, now: float, until: float) -> bool:
        """Take a due entry for one attempt: its next attempt moves to `until`, so that no
        other process sends it meanwhile (a sender killed mid-attempt: it is tried again
        then). False when it is not due (delivered, given up, or claimed by another)."""
        ...

    def enqueue(self, notification: Notification, integrations: Sequence[str]) -> int:
        """Add the notification for each integration, due at once; a (key, integration) that
        is there already is left as it is. The number of rows added."""
        ...

    def due(self, now: float, limit: int = 100) -> list[OutboxEntry]:
        """Undelivered entries whose next attempt is due, the earliest first."""
        ...

    def delivered(self, key: str, integration: str, at: float) -> None: ...

    def failed(
        self, key: str, integration: str, at: float, error: str, retry_at: float | None
    ) -> None:
        """Count a failed attempt; `retry_at` None gives the entry up."""
        ...

    def pending(self) -> int:
        """Entries not delivered and not given up."""
        ...

    def outbox_counts(self) -> list[OutboxCounts]:
        """Per receiver (by name), what became of its entries so far."""
        ...
