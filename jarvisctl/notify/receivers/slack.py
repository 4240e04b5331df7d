"""A Slack incoming webhook: the notification's text, in an attachment coloured by its state
(red: critical, orange: warning or unknown, green: resolved). Slack answers `ok`; a 404 or 403
(`no_service`, `invalid_token`) means the webhook is gone and is not retried."""

from __future__ import annotations

from typing import Any

from jarvisctl.config.models.notify import SlackParams
from jarvisctl.core.alerts import AlertState, Notification, Severity
from jarvisctl.notify.message import body, subject
from jarvisctl.notify.receivers.base import ReceiverKind, SendContext
from jarvisctl.notify.receivers.http import post_json

COLOURS = {"resolved": "#2eb886", "critical": "#d00000", "other": "#f2a33a"}
TEXT_LIMIT = 3000  # characters of an attachment's text: Slack truncates long ones itself


def slack_payload(params: SlackParams, notification: Notification) -> dict[str, Any]:
    title = subject(notification)
    text = body(notification)
    if len(text) > TEXT_LIMIT:
        text = text[: TEXT_LIMIT - 1] + "…"
    payload: dict[str, Any] = {
        "text": title,
        "attachments": [{"color": _colour(notification), "fallback": title, "text": text}],
    }
    for key in ("channel", "username", "icon_emoji"):
        if getattr(params, key):
            payload[key] = getattr(params, key)
    return payload


def _colour(notification: Notification) -> str:
    if notification.status is AlertState.RESOLVED:
        return COLOURS["resolved"]
    firing = [a for a in notification.alerts if a.state is AlertState.FIRING]
    critical = any(a.severity is Severity.CRITICAL for a in firing)
    return COLOURS["critical"] if critical else COLOURS["other"]


class Slack(ReceiverKind[SlackParams]):
    name = "slack"
    params_model = SlackParams

    def send(self, params: SlackParams, notification: Notification, context: SendContext) -> None:
        post_json(
            params.url,
            slack_payload(params, notification),
            timeout=params.timeout,
            headers={"Idempotency-Key": notification.key},
        )
