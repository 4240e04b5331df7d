"""What `jarvisctl notify test RECEIVER` does: send one test notification through each part of
that receiver of jarvisctl.yml's `notify:` now, in turn, bypassing the outbox, and say what each
answered. The receiver's secrets are rendered first (notify/resolve.py), so that every output,
the journal included, redacts them; recorded as a run whose journal has a notify_test record per
part.

The test alert: `alertname="jarvisctl notify test"`, `severity="warning"`, `test="true"`, the
controller as `host`. Receivers that deduplicate see a new notification key at each test.
"""

from __future__ import annotations

import socket
import time

from jarvisctl.app.alert_actions import alert_action, current_user
from jarvisctl.config.project import Project
from jarvisctl.core.alert_events import NotifyTest
from jarvisctl.core.alerts import Alert, Labels, Notification
from jarvisctl.core.errors import UsageError, known_list
from jarvisctl.core.events import Event
from jarvisctl.core.frozen import frozen
from jarvisctl.core.secrets import SecretValues
from jarvisctl.notify.receivers.base import DeliveryError, SendContext
from jarvisctl.notify.resolve import Integration, resolve_receivers

TEST_ALERT = "jarvisctl notify test"


class UnknownReceiverError(UsageError):
    """RECEIVER names no receiver of jarvisctl.yml's `notify:`."""


@frozen
class PartAnswer:
    """What one deliverable part of the receiver answered."""

    integration: str  # receiver/kind/part
    kind: str
    delivered: bool
    error: str = ""
    retryable: bool = False
    seconds: float = 0.0


@frozen
class ProbeReport:
    receiver: str
    parts: tuple[PartAnswer, ...]
    run_id: str

    @property
    def ok(self) -> bool:
        return all(part.delivered for part in self.parts)


def send_test_notification(
    project: Project,
    name: str,
    secrets: SecretValues,
    arguments: tuple[str, ...] = (),
    source: str = "cli",
    now: float | None = None,
) -> ProbeReport:
    """Send the test notification through every part of receiver `name`; an unknown receiver
    (or a project that notifies nobody) is an UnknownReceiverError, and nothing is sent."""
    if project.notify is None:
        raise UnknownReceiverError(
            f"no receiver {name!r}: jarvisctl.yml has no notify: section (declare receivers "
            "under notify: receivers:, e.g. ops: {webhook: {url: http://127.0.0.1:9000/hook}})"
        )
    if name not in project.notify.receivers:
        known = known_list(project.notify.receivers, near=name)
        raise UnknownReceiverError(f"no receiver {name!r} in jarvisctl.yml's notify: ({known})")
    receiver = resolve_receivers(project, secrets, [name])[name]  # secrets known from here on
    notification = probe_notification(name, time.time() if now is None else now)
    with alert_action(project, arguments, source, secrets) as log:
        answers = []
        for integration in receiver.integrations:
            answer = _send(integration, notification)
            answers.append(answer)
            log.events.emit(
                Event(
                    NotifyTest(
                        name,
                        answer.integration,
                        answer.delivered,
                        answer.error,
                        answer.retryable,
                        answer.seconds,
                    )
                )
            )
    return ProbeReport(name, tuple(answers), log.run_id)


def probe_notification(receiver: str, now: float) -> Notification:
    host = socket.gethostname()
    labels = Labels({"alertname": TEST_ALERT, "host": host, "severity": "warning", "test": "true"})
    notes = Labels(
        {
            "summary": f"A test notification for receiver {receiver!r}, sent by {current_user()} "
            f"with `jarvisctl notify test {receiver}`.",
            "description": "If you read this, jarvisctl's notifications reach you here. "
            "Nothing is wrong.",
        }
    )
    alert = Alert(labels, notes, starts_at=now)
    return Notification(receiver, f"{TEST_ALERT}:{receiver}", labels, (alert,), now)


def _send(integration: Integration, notification: Notification) -> PartAnswer:
    context = SendContext(hostname=socket.gethostname())
    began = time.monotonic()
    try:
        integration.kind.send(integration.params, notification, context)
    except DeliveryError as exc:
        return _answer(integration, began, str(exc), exc.retryable)
    except Exception as exc:  # a plugin's bug: one part failed, the others are still tried
        return _answer(integration, began, f"{type(exc).__name__}: {exc}", False)
    return PartAnswer(integration.name, integration.kind.name, True, seconds=_since(began))


def _answer(integration: Integration, began: float, error: str, retryable: bool) -> PartAnswer:
    name, kind = integration.name, integration.kind.name
    return PartAnswer(name, kind, False, error or "failed", retryable, _since(began))


def _since(began: float) -> float:
    return round(time.monotonic() - began, 3)
