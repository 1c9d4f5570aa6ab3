"""A daily reconcile runs once a day across daylight-saving changes: once on the autumn day
(the repeated hour does not fire again) and once on the spring day (a skipped time still runs).

The fire times come from the trigger the daemon schedules (``config.cron.cron_trigger``),
walked the way APScheduler walks it: each next fire computed from the previous one.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from config.cron import cron_trigger

# (zone, crontab, a day before the change, the change day)
AUTUMN = [
    ("America/New_York", "30 1 * * *", date(2026, 10, 31), date(2026, 11, 1)),
    ("America/New_York", "0 1 * * *", date(2026, 10, 31), date(2026, 11, 1)),
    ("Europe/Berlin", "30 2 * * *", date(2026, 10, 24), date(2026, 10, 25)),
    ("Europe/Berlin", "0 2 * * *", date(2026, 10, 24), date(2026, 10, 25)),
    ("Europe/Berlin", "59 2 * * *", date(2026, 10, 24), date(2026, 10, 25)),
]
SPRING = [
    ("America/New_York", "30 2 * * *", date(2026, 3, 7), date(2026, 3, 8)),
    ("America/New_York", "0 2 * * *", date(2026, 3, 7), date(2026, 3, 8)),
    ("Europe/Berlin", "30 2 * * *", date(2026, 3, 28), date(2026, 3, 29)),
]


def fires(expr: str, tz: str, start: date, days: int = 4, jitter: float | None = None,
          per_day: int = 3) -> list[datetime]:
    trigger = cron_trigger(expr, tz=tz, jitter=jitter)
    zone = ZoneInfo(tz)
    now = datetime(start.year, start.month, start.day, 12, tzinfo=zone)
    end = now + timedelta(days=days)
    out: list[datetime] = []
    previous = None
    for _ in range(days * per_day):
        fire = trigger.get_next_fire_time(previous, now)
        assert fire is not None
        assert fire >= now, f"{fire} is before {now}"
        if fire > end:
            break
        out.append(fire)
        previous, now = fire, fire + timedelta(seconds=1)
    return out


def local_days(fired: list[datetime], tz: str) -> list[date]:
    return [f.astimezone(ZoneInfo(tz)).date() for f in fired]


@pytest.mark.parametrize(("tz", "expr", "before", "change"), AUTUMN)
def test_the_repeated_hour_of_autumn_fires_once(tz: str, expr: str, before: date, change: date) -> None:
    fired = fires(expr, tz, before)
    days = local_days(fired, tz)
    assert days == [before + timedelta(days=i) for i in range(1, 5)], fired
    on_change = [f for f in fired if f.astimezone(ZoneInfo(tz)).date() == change]
    assert len(on_change) == 1
    gaps = {round((b - a).total_seconds() / 3600) for a, b in itertools.pairwise(fired)}
    assert gaps <= {24, 25}, fired  # never 1 hour apart


@pytest.mark.parametrize(("tz", "expr", "before", "change"), SPRING)
def test_a_time_skipped_in_spring_still_runs_once_that_day(tz: str, expr: str, before: date, change: date) -> None:
    fired = fires(expr, tz, before)
    assert local_days(fired, tz) == [before + timedelta(days=i) for i in range(1, 5)], fired
    skipped = next(f for f in fired if f.astimezone(ZoneInfo(tz)).date() == change)
    local = skipped.astimezone(ZoneInfo(tz))
    assert local.hour == 3 and local.minute == 0, local  # when the clock jumps over the hour
    later = [f.astimezone(ZoneInfo(tz)) for f in fired if f > skipped]
    assert all((f.hour, f.minute) == (int(expr.split()[1]), int(expr.split()[0])) for f in later), later


def test_jitter_does_not_bring_the_repeated_hour_back() -> None:
    fired = fires("30 1 * * *", "America/New_York", date(2026, 10, 31), jitter=600)
    assert len(local_days(fired, "America/New_York")) == len(set(local_days(fired, "America/New_York"))) == 4


def test_a_restart_inside_the_repeated_hour_does_not_fire_it_again() -> None:
    zone = ZoneInfo("America/New_York")
    trigger = cron_trigger("30 1 * * *", tz="America/New_York")
    # 01:10 EST: the second pass of 01:xx; 01:30 EDT already happened an hour ago
    now = datetime(2026, 11, 1, 6, 10, tzinfo=UTC).astimezone(zone)
    fire = trigger.get_next_fire_time(None, now)
    assert fire is not None and fire.astimezone(zone).date() == date(2026, 11, 2), fire


def test_hourly_schedules_keep_firing_through_the_changes() -> None:
    fired = fires("0 * * * *", "Europe/Berlin", date(2026, 10, 24), days=2, per_day=30)
    assert all(b > a for a, b in itertools.pairwise(fired))
    assert 46 <= len(fired) <= 49
