"""What `jarvisctl alerts [ack]` and the daemon's /alerts do: read the alerts the store keeps,
each firing one with what mutes it now (the silences, the maintenance windows of jarvisctl.yml's
`notify:`, the firing alert that inhibits it: notify/muting.py, as the dispatcher decides), and
acknowledge a firing alert, recorded as a run (app/alert_actions.py).

An alert is named by its fingerprint (Alertmanager's, so both UIs show the same id) or a unique
start of one; a name that fits none, or several, is a usage error naming the candidates.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence

from jarvisctl.app.alert_actions import alert_action, clean_text, stored_text
from jarvisctl.config.project import Project
from jarvisctl.core.alert_events import AlertAck
from jarvisctl.core.alert_routes import DEFAULT_INHIBIT_RULES, InhibitRule, MaintenanceWindow
from jarvisctl.core.alerts import AlertState, Severity, Silence, fingerprint
from jarvisctl.core.errors import UsageError
from jarvisctl.core.events import Event
from jarvisctl.core.frozen import frozen
from jarvisctl.core.secrets import SecretValues
from jarvisctl.render.alerts_text import Muted
from jarvisctl.store.alerts import OutboxCounts, StoredAlert
from jarvisctl.store.base import Store
from jarvisctl.store.factory import open_store

RECENT = 7 * 86400.0  # `--all`: resolved alerts updated this recently
SHOWN = 8  # candidates named in an error
SEVERITY_ORDER = {s.value: n for n, s in enumerate(Severity)}
MAX_BY = 200  # characters of who acknowledged
MAX_COMMENT = 2000


class UnknownAlertError(UsageError):
    """No firing alert has that fingerprint (nor a fingerprint that starts so)."""


class AmbiguousAlertError(UnknownAlertError):
    """Several firing alerts' fingerprints start so."""


class AlertNotFiringError(UnknownAlertError):
    """The alert has resolved: there is nothing to acknowledge."""


@frozen
class AlertView:
    stored: StoredAlert
    muted: Muted


def list_alerts(
    project: Project, resolved: bool = False, since: float = RECENT, now: float | None = None
) -> tuple[AlertView, ...]:
    """The firing alerts, the most severe first (then the oldest); with `resolved`, also those
    resolved within `since` seconds, the most recent first, after them."""
    at = time.time() if now is None else now
    with _reader(project) as store:
        found = store.alerts.since(at - since) if resolved else store.alerts.firing()
        silences = store.alerts.silences(at)
    firing = [s for s in found if s.alert.state is AlertState.FIRING]
    ended = [s for s in found if s.alert.state is not AlertState.FIRING]
    firing.sort(key=lambda s: (SEVERITY_ORDER.get(s.alert.severity or "", 9), s.alert.starts_at))
    ended.sort(key=lambda s: -(s.alert.ends_at or s.updated_at))
    muting = Muting(project, silences, [s.alert.labels for s in firing], at)
    return (
        *(AlertView(s, muting.of(s.alert.labels)) for s in firing),
        *(AlertView(s, Muted()) for s in ended),
    )


class Muting:
    """What mutes an alert at one instant: the active silences, the open maintenance windows of
    the project's `notify:`, and inhibition by the other firing alerts (its rules, or the
    default one: an unreachable host inhibits its own check alerts)."""

    def __init__(
        self,
        project: Project,
        silences: Sequence[Silence],
        firing: Sequence[Mapping[str, str]],
        at: float,
    ) -> None:
        self.silences, self.firing, self.at = silences, firing, at
        self.rules: tuple[InhibitRule, ...] = DEFAULT_INHIBIT_RULES
        self.windows: tuple[MaintenanceWindow, ...] = ()
        if project.notify is not None:
            from jarvisctl.config.notify import notify_policy

            policy = notify_policy(project.notify)
            self.rules, self.windows = policy.inhibit, policy.maintenance

    def of(self, labels: Mapping[str, str]) -> Muted:
        from jarvisctl.notify.muting import inhibited_by, silenced_by

        source = inhibited_by(labels, self.firing, self.rules)
        return Muted(
            silenced_by(labels, self.silences, self.at),
            self._windows(labels),
            None if source is None else fingerprint(source),
        )

    def _windows(self, labels: Mapping[str, str]) -> tuple[str, ...]:
        if not self.windows:  # (APScheduler, which reads the cron, only when there are some)
            return ()
        from datetime import datetime

        from tzlocal import get_localzone

        from jarvisctl.notify.muting import windows_muting

        zone = get_localzone()
        now = datetime.fromtimestamp(self.at, zone)
        return tuple(w.name for w in windows_muting(labels, self.windows, now, zone))


@frozen
class AckRequest:
    alert: str  # a fingerprint, or a unique start of one
    by: str
    comment: str = ""
    arguments: tuple[str, ...] = ()  # the command line (or the API request), for the journal
    source: str = "cli"


@frozen
class AckReport:
    alert: AlertView
    run_id: str


def acknowledge_alert(
    project: Project, request: AckRequest, secrets: SecretValues, now: float | None = None
) -> AckReport:
    """Acknowledge the firing alert `request` names: escalation stops for it while it fires.
    Recorded as a run (its journal's alert_ack record says who and why); an unknown, ambiguous
    or resolved alert is an UnknownAlertError (exit 2), and nothing is recorded."""
    by = clean_text(request.by, "by", MAX_BY, required=True)
    comment = clean_text(request.comment, "comment", MAX_COMMENT)
    at = time.time() if now is None else now
    with _reader(project) as store:
        found = find_firing(store, request.alert, at)
    redact = secrets.redactor()
    by, comment = stored_text(redact, by), stored_text(redact, comment)
    with alert_action(project, request.arguments, request.source, secrets) as log:
        acked = log.store.alerts.acknowledge(found.alert.fingerprint, at, by, comment)
        if acked is not None:
            alert = acked.alert
            payload = AlertAck(alert.fingerprint, dict(alert.labels), alert.starts_at, by, comment)
            log.events.emit(Event(payload))
    if acked is None:  # it resolved between the look-up and the write
        raise AlertNotFiringError(f"alert {found.alert.fingerprint} has resolved meanwhile")
    return AckReport(_one(project, acked, at), log.run_id)


def _one(project: Project, stored: StoredAlert, at: float) -> AlertView:
    with _reader(project) as store:
        silences = store.alerts.silences(at)
        firing = [s.alert.labels for s in store.alerts.firing()]
    return AlertView(stored, Muting(project, silences, firing, at).of(stored.alert.labels))


def find_firing(store: Store, wanted: str, now: float) -> StoredAlert:
    """The firing alert whose fingerprint is `wanted` or starts with it."""
    key = wanted.strip().lower()
    if not key:
        raise UnknownAlertError("no alert fingerprint given (`jarvisctl alerts` lists them)")
    firing = store.alerts.firing()
    matches = [s for s in firing if s.alert.fingerprint.startswith(key)]
    exact = [s for s in matches if s.alert.fingerprint == key]
    if exact or len(matches) == 1:
        return (exact or matches)[0]
    if matches:
        raise AmbiguousAlertError(
            f"{wanted!r} is the start of {len(matches)} firing alerts' fingerprints "
            f"({_candidates(matches)}): give more of it"
        )
    ended = [
        s
        for s in store.alerts.since(now - RECENT)
        if s.alert.fingerprint.startswith(key) and s.alert.state is AlertState.RESOLVED
    ]
    if ended:
        latest = max(ended, key=lambda s: s.alert.ends_at or 0.0)
        raise AlertNotFiringError(
            f"alert {latest.alert.fingerprint} is not firing: it resolved; only a firing alert "
            "can be acknowledged"
        )
    shown = f"firing: {_candidates(firing)}" if firing else "no alert is firing"
    raise UnknownAlertError(f"no firing alert {wanted[:40]!r} ({shown})")


def _candidates(found: Iterable[StoredAlert]) -> str:
    items = list(found)
    named = ", ".join(f"{s.alert.fingerprint} ({_title(s)})" for s in items[:SHOWN])
    more = f" and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return named + more


def _title(stored: StoredAlert) -> str:
    labels = stored.alert.labels
    name = labels.get("alertname") or "alert"
    host = labels.get("host")
    return repr(f"{name} on {host}" if host else name)


@frozen
class AlertCounts:
    """What /metrics says of alerts: the firing ones by severity, and each receiver's outbox."""

    firing: Mapping[str, int]
    receivers: tuple[OutboxCounts, ...]


def alert_counts(project: Project) -> AlertCounts:
    """Every severity and every configured receiver is counted, 0 included."""
    with _reader(project) as store:
        firing = store.alerts.firing()
        outbox = store.alerts.outbox_counts()
    by_severity = dict.fromkeys((s.value for s in Severity), 0)
    for stored in firing:
        severity = stored.alert.labels.get("severity", "")
        by_severity[severity] = by_severity.get(severity, 0) + 1
    configured = project.notify.receivers if project.notify is not None else {}
    known = {name: OutboxCounts(name) for name in configured}
    known.update((row.receiver, row) for row in outbox)
    return AlertCounts(by_severity, tuple(known[name] for name in sorted(known)))


def _reader(project: Project) -> Store:
    """Never created, migrated or written: a missing store (or one before version 8) reads as
    having no alerts."""
    return open_store(project.state_dir, readonly=True)
