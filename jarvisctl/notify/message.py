"""What a notification says, as text: what, where, since when, the value and threshold, the
remediations tried; for a resolved alert, how long it lasted. Receivers that take text (email,
Slack, Apprise) send these; the webhook and Alertmanager kinds send the alerts themselves.

An alert's annotations carry the parts (CONTRACT-19.md): `summary`, `description`, `value`,
`threshold`, `remediations`. Labels other than the reserved ones are listed, so a play's
`labels:` (team, site...) reach the reader.
"""

from __future__ import annotations

import time

from jarvisctl.config.models.values import format_duration
from jarvisctl.core.alerts import Alert, AlertState, Notification

RESERVED = ("alertname", "host", "check", "play", "severity")


def subject(notification: Notification) -> str:
    """`[FIRING] root disk on jetson-01`, or for a group `[FIRING:3] host=jetson-01 (4 alerts)`."""
    firing = [a for a in notification.alerts if a.state is AlertState.FIRING]
    status = "FIRING" if firing else "RESOLVED"
    if len(notification.alerts) == 1:
        return f"[{status}] {title(notification.alerts[0])}"
    count = f":{len(firing)}" if firing else ""
    grouped = " ".join(f"{k}={v}" for k, v in notification.group_labels.items())
    what = grouped or title(notification.alerts[0])
    return f"[{status}{count}] {what} ({len(notification.alerts)} alerts)"


def title(alert: Alert) -> str:
    name = alert.labels.get("alertname") or alert.labels.get("check") or "alert"
    host = alert.labels.get("host")
    return f"{name} on {host}" if host else name


def body(notification: Notification) -> str:
    """One paragraph per alert, the firing ones first."""
    ordered = sorted(notification.alerts, key=lambda a: a.state is not AlertState.FIRING)
    return "\n\n".join(describe(alert, notification.created_at) for alert in ordered) + "\n"


def describe(alert: Alert, now: float) -> str:
    severity = alert.labels.get("severity")
    head = f"{alert.state.value.upper()}{' ' + severity if severity else ''}: {title(alert)}"
    lines = [head]
    notes = alert.annotations
    if notes.get("summary"):
        lines.append(notes["summary"])
    measured = _measured(alert)
    if measured:
        lines.append(measured)
    lines.append(_when(alert, now))
    context = [f"play: {alert.labels['play']}"] if alert.labels.get("play") else []
    context += [f"{k}={v}" for k, v in alert.labels.items() if k not in RESERVED]
    if context:
        lines.append("; ".join(context))
    for key, label in (("description", ""), ("remediations", "remediations: ")):
        if notes.get(key):
            lines.append(label + notes[key])
    return "\n  ".join(lines)


def _measured(alert: Alert) -> str:
    value, threshold = alert.annotations.get("value"), alert.annotations.get("threshold")
    if value and threshold:
        return f"value {value} (threshold {threshold})"
    return f"value {value}" if value else ""


def _when(alert: Alert, now: float) -> str:
    started = stamp(alert.starts_at)
    if alert.state is AlertState.RESOLVED and alert.ends_at is not None:
        lasted = format_duration(max(0.0, round(alert.ends_at - alert.starts_at)))
        return f"lasted {lasted} (from {started} to {stamp(alert.ends_at)})"
    return f"since {started} ({format_duration(max(0.0, round(now - alert.starts_at)))} ago)"


def stamp(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))


def rfc3339(at: float) -> str:
    """Alertmanager's time format (UTC, milliseconds)."""
    seconds, millis = divmod(round(at * 1000), 1000)
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(seconds))}.{millis:03d}Z"
