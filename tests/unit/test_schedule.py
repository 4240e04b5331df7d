from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from jarvisctl.config.schedule import CronSpec, IntervalSpec, cron_trigger, next_fire_times

# Tuesday 24 November 2026, 03:41 UTC
NOW = datetime(2026, 11, 24, 3, 41, tzinfo=timezone.utc)


def fires(expression: str) -> list[str]:
    return [t.strftime("%a %d %H:%M") for t in next_fire_times(CronSpec(expression), NOW)]


def test_every_five_minutes() -> None:
    assert fires("*/5 * * * *") == ["Tue 24 03:45", "Tue 24 03:50", "Tue 24 03:55"]


@pytest.mark.parametrize("sunday", ["0", "7", "sun", "SUN"])
def test_day_of_week_follows_crontab_not_apscheduler(sunday: str) -> None:
    # APScheduler 3 alone would read 0 as Monday; crontab(5) says 0 and 7 are Sunday.
    assert fires(f"0 2 * * {sunday}") == ["Sun 29 02:00", "Sun 06 02:00", "Sun 13 02:00"]


def test_weekday_ranges_and_steps() -> None:
    assert fires("0 9 * * 1-5") == ["Tue 24 09:00", "Wed 25 09:00", "Thu 26 09:00"]
    assert fires("0 3 * * */2") == ["Thu 26 03:00", "Sat 28 03:00", "Sun 29 03:00"]


def test_day_of_month_or_day_of_week_like_cron() -> None:
    # crontab(5): with both day fields restricted, either one matching fires the job
    assert fires("0 0 25 * 0") == ["Wed 25 00:00", "Sun 29 00:00", "Sun 06 00:00"]


def test_a_day_of_month_that_never_comes_leaves_the_weekdays_and_costs_nothing() -> None:
    # 30 February never comes: only the Mondays of February fire, as with cron; asking for them
    # took APScheduler 1.7 s here (it searched the date branch up to year 9999 every time)
    started = time.monotonic()
    assert fires("0 0 30 2 1") == ["Mon 01 00:00", "Mon 08 00:00", "Mon 15 00:00"]
    assert time.monotonic() - started < 0.5


def test_macros() -> None:
    assert fires("@daily") == ["Wed 25 00:00", "Thu 26 00:00", "Fri 27 00:00"]


def test_interval_nominal_times_ignore_jitter() -> None:
    times = next_fire_times(IntervalSpec(300, jitter=30), NOW)
    assert [t.strftime("%H:%M:%S") for t in times] == ["03:46:00", "03:51:00", "03:56:00"]


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("* * *", "has 3 fields"),
        ("61 * * * *", "the last value (61) is higher than the maximum value (59)"),
        ("0 0 * * 8", "day of week '8' is not 0-7"),
        ("0 0 * * 5-1", "runs backwards"),
        ("*/0 * * * *", "Increment must be higher than 0"),
    ],
)
def test_invalid_cron_says_what_is_wrong(expression: str, message: str) -> None:
    with pytest.raises(ValueError, match="minute hour day-of-month month day-of-week") as err:
        cron_trigger(expression, timezone.utc)
    assert message in str(err.value)
