"""Any Apprise URL (SMS gateways, ntfy, Teams, Telegram, PagerDuty, Pushover...): the
notification's subject and text, one URL at a time.

Apprise (and requests, which it brings) is imported only here, when such a notification is
sent: importing it costs about 0.14 s and 36 MiB of memory (NOTES.md). Each URL is a part of its
own (`parts`): a retry re-sends only to the URLs that failed. Apprise's HTTP plugins take their
timeouts from the URL (`cto`, `rto`); the receiver's `timeout` is added to a URL that has none.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from jarvisctl.config.models.notify import AppriseParams
from jarvisctl.core.alerts import AlertState, Notification, Severity
from jarvisctl.notify.message import body, subject
from jarvisctl.notify.receivers.base import DeliveryError, ReceiverKind, SendContext

LOG_TAIL = 300  # characters of Apprise's own account of a failure


def with_timeouts(url: str, timeout: float) -> str:
    query = urlsplit(url).query
    present = {item.partition("=")[0] for item in query.split("&") if item}
    extra = [f"{key}={timeout:g}" for key in ("cto", "rto") if key not in present]
    if not extra:
        return url
    return url + ("&" if "?" in url else "?") + "&".join(extra)


class Apprise(ReceiverKind[AppriseParams]):
    name = "apprise"
    params_model = AppriseParams

    def parts(self, params: AppriseParams) -> tuple[AppriseParams, ...]:
        return tuple(params.model_copy(update={"urls": [url]}) for url in params.urls)

    def send(self, params: AppriseParams, notification: Notification, context: SendContext) -> None:
        import apprise

        failed = []
        for number, url in enumerate(params.urls, start=1):
            scheme = urlsplit(url).scheme or "?"
            sender = apprise.Apprise()
            if not sender.add(with_timeouts(url, params.timeout)):
                raise DeliveryError(
                    f"Apprise URL {number} ({scheme}://...) is not one Apprise can use",
                    retryable=False,
                )
            with apprise.LogCapture(level=logging.WARNING) as log:  # type: ignore[no-untyped-call]
                sent = sender.notify(
                    title=subject(notification),
                    body=body(notification),
                    notify_type=_notify_type(notification, apprise),
                )
            if not sent:
                said = " ".join(log.getvalue().split())[-LOG_TAIL:]
                failed.append(f"URL {number} ({scheme}://...){': ' + said if said else ''}")
        if failed:
            raise DeliveryError("Apprise could not send to " + "; ".join(failed), retryable=True)


def _notify_type(notification: Notification, apprise: Any) -> Any:
    if notification.status is AlertState.RESOLVED:
        return apprise.NotifyType.SUCCESS
    firing = [a for a in notification.alerts if a.state is AlertState.FIRING]
    if any(a.severity is Severity.CRITICAL for a in firing):
        return apprise.NotifyType.FAILURE
    return apprise.NotifyType.WARNING
