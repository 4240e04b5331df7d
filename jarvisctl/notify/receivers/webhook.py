"""A generic webhook: a POST of Alertmanager's webhook JSON (version 4), so that the consumers
teams already run for Alertmanager take jarvisctl's notifications unchanged.

The body (application/json)::

    {
      "version": "4",
      "groupKey": "0:{host=\\"jetson-01\\"}",   # the route node and the group's labels
      "truncatedAlerts": 0,                      # alerts left out by max_alerts
      "status": "firing",                        # or "resolved": firing when any alert is
      "receiver": "hook",                        # the receiver's name in jarvisctl.yml
      "groupLabels": {"host": "jetson-01"},
      "commonLabels": {...}, "commonAnnotations": {...},
      "externalURL": "http://127.0.0.1:9469",    # the daemon's address ("" from a run)
      "alerts": [{"status": "firing", "labels": {...}, "annotations": {...},
                  "startsAt": "2026-12-04T10:00:00.000Z",
                  "endsAt": "0001-01-01T00:00:00Z",   # while firing, as Alertmanager sends
                  "generatorURL": "...", "fingerprint": "6ca47c8fe5e86bc4"}],
      "notificationKey": "..."                   # jarvisctl's addition, stable across retries
    }

The same key is sent as the `Idempotency-Key` header: a consumer that remembers keys it has
seen never acts twice on a notification retried after an unclear failure.
"""

from __future__ import annotations

from typing import Any

from jarvisctl.config.models.notify import WebhookParams
from jarvisctl.core.alerts import Alert, AlertState, Notification
from jarvisctl.notify.message import rfc3339
from jarvisctl.notify.receivers.base import ReceiverKind, SendContext
from jarvisctl.notify.receivers.http import post_json

ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time: what Alertmanager sends as a firing endsAt


def webhook_body(
    notification: Notification, context: SendContext, max_alerts: int = 0
) -> dict[str, Any]:
    alerts = notification.alerts
    kept = alerts[:max_alerts] if max_alerts else alerts
    return {
        "version": "4",
        "groupKey": notification.group_key,
        "truncatedAlerts": len(alerts) - len(kept),
        "status": notification.status.value,
        "receiver": notification.receiver,
        "groupLabels": dict(notification.group_labels),
        "commonLabels": dict(notification.common_labels()),
        "commonAnnotations": dict(notification.common_annotations()),
        "externalURL": context.external_url,
        "alerts": [alert_body(alert, context) for alert in kept],
        "notificationKey": notification.key,
    }


def alert_body(alert: Alert, context: SendContext) -> dict[str, Any]:
    resolved = alert.state is AlertState.RESOLVED and alert.ends_at is not None
    return {
        "status": alert.state.value,
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "startsAt": rfc3339(alert.starts_at),
        "endsAt": rfc3339(alert.ends_at) if resolved and alert.ends_at else ZERO_TIME,
        "generatorURL": alert.generator or context.external_url,
        "fingerprint": alert.fingerprint,
    }


def auth_headers(key: str, bearer_token: str | None) -> dict[str, str]:
    headers = {"Idempotency-Key": key}
    if bearer_token:
        headers["Authorization"] = f"Bearer {bearer_token}"
    return headers


class Webhook(ReceiverKind[WebhookParams]):
    name = "webhook"
    params_model = WebhookParams

    def send(self, params: WebhookParams, notification: Notification, context: SendContext) -> None:
        post_json(
            params.url,
            webhook_body(notification, context, params.max_alerts),
            timeout=params.timeout,
            headers=auth_headers(notification.key, params.bearer_token),
        )
