"""Schedules: standard 5-field cron or `every` with jitter, as APScheduler 3 triggers.

APScheduler 3's `CronTrigger.from_crontab` reads numeric days of week with 0 = Monday and requires
both day-of-month and day-of-week to match; standard cron (crontab(5)) has 0 and 7 = Sunday and
fires when *either* restricted day field matches. We translate to standard semantics here, because
operators paste expressions from their crontabs.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

from jarvisctl.config.models.values import format_duration
from jarvisctl.core.frozen import frozen

if TYPE_CHECKING:  # APScheduler is imported where a trigger is built: runs that plan no schedule
    from apscheduler.triggers.base import BaseTrigger  # do not pay for it at start-up
    from apscheduler.triggers.interval import IntervalTrigger

_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_MACROS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
CRON_HINT = "5 fields: minute hour day-of-month month day-of-week, e.g. '*/5 * * * *'"


@frozen
class CronSpec:
    """`schedule: '*/5 * * * *'`: a standard 5-field cron expression, or a macro such as @hourly."""

    expression: str

    def describe(self) -> str:
        return f"cron {self.expression!r}"


@frozen
class IntervalSpec:
    """`schedule: {every, jitter}`: a run every `every` seconds, each delayed at random by up to
    `jitter` seconds."""

    every: float
    jitter: float = 0.0

    def describe(self) -> str:
        text = f"every {format_duration(self.every)}"
        return text + (f" (jitter {format_duration(self.jitter)})" if self.jitter else "")


ScheduleSpec = CronSpec | IntervalSpec


def cron_trigger(expression: str, timezone: tzinfo, end: datetime | None = None) -> BaseTrigger:
    """A trigger with standard crontab semantics; raises ValueError saying what is wrong."""
    fields = _MACROS.get(expression.strip(), expression).split()
    if len(fields) != 5:
        raise ValueError(f"cron expression {expression!r} has {len(fields)} fields ({CRON_HINT})")
    minute, hour, dom, month, dow = fields
    from apscheduler.triggers.combining import OrTrigger
    from apscheduler.triggers.cron import CronTrigger

    try:
        days = _weekday_names(dow)
        common = {
            "minute": minute,
            "hour": hour,
            "month": month,
            "timezone": timezone,
            "end_date": end,
        }
        if dom != "*" and dow != "*":
            by_date, by_weekday = (
                CronTrigger(day=dom, **common),
                CronTrigger(day_of_week=days, **common),
            )
            if not _ever_fires(by_date, timezone):
                # `0 0 30 2 1`: only the Mondays can fire; APScheduler would search the date
                # branch up to year 9999 at every fire time asked for (a quarter second each)
                return by_weekday
            return OrTrigger([by_date, by_weekday])
        return CronTrigger(day=dom, day_of_week=days, **common)
    except ValueError as exc:
        raise ValueError(f"invalid cron expression {expression!r}: {exc} ({CRON_HINT})") from None


# Long enough for the rarest date a 5-field expression can name: 29 February, up to 8 years
# apart (2096, then 2104).
_NEVER_HORIZON = timedelta(days=9 * 366)


def _ever_fires(trigger: BaseTrigger, timezone: tzinfo) -> bool:
    from apscheduler.triggers.cron import CronTrigger

    assert isinstance(trigger, CronTrigger)
    now = datetime.now(timezone)
    bounded = CronTrigger(
        **{f.name: str(f) for f in trigger.fields if not f.is_default},
        timezone=timezone,
        end_date=now + _NEVER_HORIZON,
    )
    return bounded.get_next_fire_time(None, now) is not None


def check_cron(expression: str, timezone: tzinfo) -> None:
    """Raise ValueError when the expression is invalid, or names no date that exists (`0 0 30 2
    *`): APScheduler would accept it and the job would silently never run."""
    now = datetime.now(timezone)
    trigger = cron_trigger(expression, timezone, end=now + _NEVER_HORIZON)
    if trigger.get_next_fire_time(None, now) is None:
        raise ValueError(
            f"cron expression {expression!r} never fires: no month it names has that day "
            "(February has 28 or 29 days; April, June, September and November 30)"
        )


def _weekday_names(field: str) -> str:
    """Translate a crontab day-of-week field (0/7 = Sunday) into APScheduler's day names."""
    if field == "*":
        return "*"
    days: set[int] = set()
    for item in field.split(","):
        days |= _expand_weekday_item(item)
    return ",".join(_DAY_NAMES[d] for d in sorted(days))


def _expand_weekday_item(item: str) -> set[int]:
    span, _, step_text = item.partition("/")
    step = int(step_text) if step_text.isdigit() else None
    if step_text and (step is None or step == 0):
        raise ValueError(f"day-of-week step {step_text!r} must be a positive number")
    if span == "*":
        first, last = 0, 6
    else:
        start, _, end = span.partition("-")
        first = _weekday_number(start)
        last = _weekday_number(end) if end else (6 if step else first)
    if last < first:
        raise ValueError(f"day-of-week range {span!r} runs backwards")
    return {d % 7 for d in range(first, last + 1, step or 1)}


def _weekday_number(text: str) -> int:
    lowered = text.strip().lower()
    if lowered in _DAY_NAMES:
        return _DAY_NAMES.index(lowered)
    if lowered.isdigit() and 0 <= int(lowered) <= 7:
        return int(lowered)
    raise ValueError(f"day of week {text!r} is not 0-7 or a name (sun, mon, ... sat)")


def interval_trigger(spec: IntervalSpec, timezone: tzinfo, start: datetime) -> IntervalTrigger:
    if spec.every <= 0:
        raise ValueError("'every' must be longer than 0s")
    from apscheduler.triggers.interval import IntervalTrigger

    return IntervalTrigger(
        seconds=spec.every,
        jitter=spec.jitter or None,  # a float: int() would drop a jitter under 1s
        timezone=timezone,
        start_date=start + timedelta(seconds=spec.every),
    )


def build_trigger(spec: ScheduleSpec, timezone: tzinfo, now: datetime) -> BaseTrigger:
    if isinstance(spec, CronSpec):
        return cron_trigger(spec.expression, timezone)
    return interval_trigger(spec, timezone, now)


def next_fire_times(spec: ScheduleSpec, now: datetime, count: int = 3) -> tuple[datetime, ...]:
    """The next `count` nominal fire times after `now` (interval jitter is not applied)."""
    timezone = now.tzinfo
    if timezone is None:
        raise ValueError("'now' must be timezone-aware")
    if isinstance(spec, IntervalSpec):
        spec = IntervalSpec(spec.every)  # nominal times: jitter is random by design
    trigger = build_trigger(spec, timezone, now)
    times: list[datetime] = []
    previous: datetime | None = None
    probe = now
    while len(times) < count:
        fire = trigger.get_next_fire_time(previous, probe)
        if fire is None:
            break
        times.append(fire)
        previous, probe = fire, fire + timedelta(microseconds=1)
    return tuple(times)
