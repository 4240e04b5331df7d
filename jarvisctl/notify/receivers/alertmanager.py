"""A real Alertmanager, for teams that already route there: its `POST /api/v2/alerts` with each
alert's labels, annotations, startsAt, endsAt (once resolved) and generatorURL. Alertmanager
deduplicates by labels, so a retried post never doubles an alert.

A firing alert is posted without endsAt: Alertmanager resolves it by itself after its
`resolve_timeout` (5m by default) unless it is posted again, as Prometheus re-posts its firing
alerts; re-sending firing alerts in time is the dispatcher's part (CONTRACT-19.md)."""

from __future__ import annotations

from typing import Any

from jarvisctl.config.models.notify import AlertmanagerParams
from jarvisctl.core.alerts import Alert, AlertState, Notification
from jarvisctl.notify.message import rfc3339
from jarvisctl.notify.receivers.base import ReceiverKind, SendContext
from jarvisctl.notify.receivers.http import post_json
from jarvisctl.notify.receivers.webhook import auth_headers

API = "/api/v2/alerts"


def postable(alert: Alert, context: SendContext) -> dict[str, Any]:
    """One alert as Alertmanager's API takes it (models.PostableAlert)."""
    item: dict[str, Any] = {
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "startsAt": rfc3339(alert.starts_at),
    }
    if alert.state is AlertState.RESOLVED and alert.ends_at is not None:
        item["endsAt"] = rfc3339(alert.ends_at)
    generator = alert.generator or context.external_url
    if generator.startswith(("http://", "https://")):  # Alertmanager refuses any other
        item["generatorURL"] = generator
    return item


class Alertmanager(ReceiverKind[AlertmanagerParams]):
    name = "alertmanager"
    params_model = AlertmanagerParams

    def send(
        self, params: AlertmanagerParams, notification: Notification, context: SendContext
    ) -> None:
        post_json(
            params.url.rstrip("/") + API,
            [postable(alert, context) for alert in notification.alerts],
            timeout=params.timeout,
            headers=auth_headers(notification.key, params.bearer_token),
        )
