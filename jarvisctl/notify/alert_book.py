"""The alerts a controller knows to fire, and each change to them recorded in the store: the thin
part of notify/derive.py that has state. Its text is redacted (the front door's secrets, as
they are when the change is recorded) before it is stored, so that no outbox row, message or
API answer can hold a secret."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace

from jarvisctl.core.alerts import Alert, AlertState, Labels
from jarvisctl.core.events import Event
from jarvisctl.core.secrets import Redactor
from jarvisctl.notify.derive import DeriveContext, Series, derive, series
from jarvisctl.store.alerts import AlertStore


class AlertBook:
    """The firing alerts (read from the store on first use) and each change recorded in it,
    its labels and annotations redacted first. Thread-safe: a daemon's runs share one."""

    def __init__(
        self,
        store: AlertStore,
        redactor: Callable[[], Redactor],
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store
        self.redactor = redactor  # the current one: secrets learned later are redacted too
        self.on_change = on_change
        self._firing: dict[Series, dict[str, Alert]] | None = None
        self._lock = threading.Lock()

    def firing(self) -> dict[Series, tuple[Alert, ...]]:
        with self._lock:
            return {key: tuple(alerts.values()) for key, alerts in self._loaded().items()}

    def apply(self, event: Event, context: DeriveContext) -> list[Alert]:
        """Derive the event's changes and record them; the changes recorded."""
        with self._lock:
            loaded = self._loaded()
            view = {key: tuple(alerts.values()) for key, alerts in loaded.items()}
            changes = derive(event, view, context)
            recorded = [self._record(loaded, alert, event.at) for alert in changes]
        done = [alert for alert in recorded if alert is not None]
        if done:
            self.on_change()
        return done

    def record(self, alerts: list[Alert], at: float) -> list[Alert]:
        """Record changes made outside any event (derive.stale's); those recorded."""
        with self._lock:
            loaded = self._loaded()
            recorded = [self._record(loaded, alert, at) for alert in alerts]
        done = [alert for alert in recorded if alert is not None]
        if done:
            self.on_change()
        return done

    def forget(self) -> None:
        """Read the firing alerts from the store again at next use: another process (a `run
        --notify` beside the daemon) may have changed them. The derivation is level-triggered
        (every run says each check's status), so a view that was stale is healed by the next
        run's events."""
        with self._lock:
            self._firing = None

    def _loaded(self) -> dict[Series, dict[str, Alert]]:
        if self._firing is None:
            self._firing = {}
            for stored in self.store.firing():
                alert = stored.alert
                self._firing.setdefault(series(alert.labels), {})[alert.fingerprint] = alert
        return self._firing

    def _record(
        self, loaded: dict[Series, dict[str, Alert]], alert: Alert, at: float
    ) -> Alert | None:
        """Record one change (None: it changes nothing, once redacted)."""
        alert = _redacted(alert, self.redactor())
        key = series(alert.labels)
        alerts = loaded.setdefault(key, {})
        if alerts.get(alert.fingerprint) == alert:
            return None
        self.store.record(alert, at)
        if alert.state is AlertState.FIRING:
            alerts[alert.fingerprint] = alert
        else:
            alerts.pop(alert.fingerprint, None)
        if not alerts:
            del loaded[key]
        return alert


def _redacted(alert: Alert, redactor: Redactor) -> Alert:
    if not redactor.secrets:
        return alert
    return replace(
        alert,
        labels=Labels({k: redactor.text(v) for k, v in alert.labels.items()}),
        annotations=Labels({k: redactor.text(v) for k, v in alert.annotations.items()}),
    )
