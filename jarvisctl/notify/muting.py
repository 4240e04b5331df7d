"""Whether an alert is muted, and by what: inhibition by another firing alert, a silence, or a
maintenance window. A muted alert is still recorded; it is only not sent."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, tzinfo

from jarvisctl.core.alert_routes import InhibitRule, MaintenanceWindow
from jarvisctl.core.alerts import Silence, matches_all


def inhibited_by(
    labels: Mapping[str, str], firing: Iterable[Mapping[str, str]], rules: Iterable[InhibitRule]
) -> Mapping[str, str] | None:
    """The first firing alert (by its labels) that inhibits an alert with `labels`, if any: one
    that matches a rule's source while `labels` match its target and both have the same values
    of the rule's `equal` labels. An alert never inhibits itself."""
    sources = list(firing)
    for rule in rules:
        if not matches_all(rule.target, labels):
            continue
        for source in sources:
            if source == labels or not matches_all(rule.source, source):
                continue
            if all(source.get(name, "") == labels.get(name, "") for name in rule.equal):
                return source
    return None


def silenced_by(
    labels: Mapping[str, str], silences: Iterable[Silence], at: float
) -> tuple[Silence, ...]:
    """The silences that mute an alert with `labels` at `at` (epoch seconds)."""
    return tuple(silence for silence in silences if silence.mutes(labels, at))


def window_active(window: MaintenanceWindow, at: datetime, timezone: tzinfo) -> bool:
    """Whether a maintenance window is open at `at` (an aware datetime): the cron expression
    named a time in (at - duration, at]. The expression is read in `timezone` (the
    controller's, as schedules are)."""
    from jarvisctl.config.schedule import cron_trigger  # imports APScheduler

    trigger = cron_trigger(window.cron, timezone)
    since = (at - timedelta(seconds=window.duration)).astimezone(timezone)
    # APScheduler's next fire time at or after `since`: strictly after it opens the window
    started = trigger.get_next_fire_time(None, since + timedelta(microseconds=1))
    return started is not None and started <= at


def windows_muting(
    labels: Mapping[str, str],
    windows: Iterable[MaintenanceWindow],
    at: datetime,
    timezone: tzinfo,
) -> tuple[MaintenanceWindow, ...]:
    """The maintenance windows open at `at` whose matchers all match `labels`."""
    return tuple(
        window
        for window in windows
        if matches_all(window.matchers, labels) and window_active(window, at, timezone)
    )
