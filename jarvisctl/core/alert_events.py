"""The payloads of what an operator does to alerts (their kinds are core/events.py's
EventKind.ALERT_ACK, SILENCE and NOTIFY_TEST): `jarvisctl alerts ack`, `silence add|expire`,
`notify test`, and the daemon's API doing the same, each recorded as a run (app/alert_actions.py)
so that the audit journal says who silenced what, when, and why."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from jarvisctl.core.events import EventKind, Fields
from jarvisctl.core.frozen import frozen


@frozen
class AlertAck(Fields):
    """A firing alert acknowledged: no escalation for it while it fires."""

    kind: ClassVar[EventKind] = EventKind.ALERT_ACK
    fingerprint: str
    labels: Mapping[str, str]
    starts_at: float
    by: str
    comment: str


@frozen
class SilenceChange(Fields):
    """A silence `added` or `expired` (ended now), as it is after the change."""

    kind: ClassVar[EventKind] = EventKind.SILENCE
    action: str  # added | expired
    id: str
    matchers: tuple[str, ...]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str


@frozen
class NotifyTest(Fields):
    """One part of a receiver sent a test notification: delivered, or why not (and whether a
    later attempt might work)."""

    kind: ClassVar[EventKind] = EventKind.NOTIFY_TEST
    receiver: str
    integration: str  # receiver/kind/part
    delivered: bool
    error: str
    retryable: bool
    seconds: float
