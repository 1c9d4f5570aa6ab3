"""Cron translation (APScheduler 3 reads weekday 0 as Monday) and job bookkeeping."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from config.cron import cron_trigger, crontab_day_of_week
from config.models import ScheduleConfig
from syncd.scheduler import PairScheduler, job_specs, schedule_problems

SATURDAY_NOON = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)  # 2026-11-22 is a Sunday


def next_fires(expr: str, start: datetime = SATURDAY_NOON, n: int = 3, tz: str = "UTC") -> list[datetime]:
    trigger = cron_trigger(expr, tz=tz)
    out: list[datetime] = []
    previous = None
    now = start
    for _ in range(n):
        fire = trigger.get_next_fire_time(previous, now)
        assert fire is not None
        out.append(fire)
        previous, now = fire, fire + timedelta(seconds=1)
    return out


@pytest.mark.parametrize(
    ("field", "names"),
    [
        ("0", "sun"),
        ("7", "sun"),
        ("sun", "sun"),
        ("1", "mon"),
        ("6", "sat"),
        ("1-5", "mon,tue,wed,thu,fri"),
        ("mon-fri", "mon,tue,wed,thu,fri"),
        ("0,6", "sat,sun"),
        ("5-7", "fri,sat,sun"),
        ("*/2", "tue,thu,sat,sun"),  # crontab: 0,2,4,6
        ("1-5/2", "mon,wed,fri"),
        ("0-7", "*"),
        ("*", "*"),
    ],
)
def test_day_of_week_translation(field: str, names: str) -> None:
    assert crontab_day_of_week(field) == names


@pytest.mark.parametrize("bad", ["8", "funday", "5-1", "*/0", "1-x"])
def test_day_of_week_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        crontab_day_of_week(bad)


def test_weekday_zero_is_sunday_not_monday() -> None:
    """The pin: APScheduler 3's own from_crontab gets this wrong (fires Monday 2026-11-23)."""
    fires = next_fires("0 3 * * 0")
    assert fires[0] == datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
    assert all(f.weekday() == 6 for f in fires)  # Python: 6 = Sunday
    assert next_fires("0 3 * * 7")[0] == fires[0]
    wrong = CronTrigger.from_crontab("0 3 * * 0", timezone=UTC).get_next_fire_time(None, SATURDAY_NOON)
    assert wrong is not None and wrong.weekday() == 0  # documents why the translation exists


def test_weekdays_range() -> None:
    fires = next_fires("30 6 * * 1-5", n=5)
    assert [f.strftime("%a") for f in fires] == ["Mon", "Tue", "Wed", "Thu", "Fri"]


def test_day_of_month_or_day_of_week_like_crontab() -> None:
    trigger = cron_trigger("0 3 14 * 5")
    assert isinstance(trigger.wall, OrTrigger)
    fires = next_fires("0 3 14 * 5", start=datetime(2026, 11, 1, tzinfo=UTC), n=6)
    assert any(f.day == 14 and f.weekday() != 4 for f in fires)  # the 14th fires though not a Friday
    assert any(f.weekday() == 4 and f.day != 14 for f in fires)


def test_time_zone_applies() -> None:
    fire = next_fires("0 3 * * *", tz="Europe/Berlin", n=1)[0]
    assert fire.astimezone(UTC).hour == 2  # CET = UTC+1 in November


def test_macros_and_jitter() -> None:
    assert next_fires("@daily", n=1)[0] == datetime(2026, 11, 22, 0, 0, tzinfo=UTC)
    jittered = cron_trigger("0 3 * * 0", jitter=30)
    assert isinstance(jittered.wall, CronTrigger) and jittered.jitter == 30


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [("0 3 * *", "five fields"), ("61 3 * * *", "61"), ("0 3 * * 9", "0-7")],
)
def test_bad_expressions_say_why(expr: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        cron_trigger(expr)


def test_schedule_problems_name_key_paths() -> None:
    good = ScheduleConfig()
    problems = schedule_problems(
        {
            "main": good,
            "eu": ScheduleConfig(reconcile_cron="0 3 * *"),
            "tz": ScheduleConfig(timezone="Mars/Olympus"),
        }
    )
    assert len(problems) == 2
    assert problems[0].startswith("pairs.eu.schedule.reconcile_cron: ")
    assert problems[1].startswith("pairs.tz.schedule.timezone: ")


def test_job_specs() -> None:
    specs = job_specs({"a": ScheduleConfig(interval=60, jitter=5), "b": ScheduleConfig(reconcile_cron=None)})
    assert sorted(specs) == ["incremental:a", "incremental:b", "reconcile:a"]
    assert isinstance(specs["incremental:a"].trigger(), IntervalTrigger)
    assert specs["reconcile:a"].kind == "reconcile"


def test_apply_adds_removes_and_reschedules() -> None:
    calls: list[tuple[str, str]] = []
    ran = threading.Event()

    def run(pair: str, kind: str) -> None:
        calls.append((pair, kind))
        ran.set()

    sched = PairScheduler(run, heartbeat_seconds=0.2)
    sched.start()
    try:
        diff = sched.apply({"a": ScheduleConfig(interval=600, jitter=0), "b": ScheduleConfig(interval=600)})
        assert diff.added == ["incremental:a", "incremental:b", "reconcile:a", "reconcile:b"]
        assert ran.wait(5), "first incremental run happens at start"
        assert sched.apply({"a": ScheduleConfig(interval=600, jitter=0), "b": ScheduleConfig(interval=600)}) == type(diff)()

        before = time.time()
        diff = sched.apply({"a": ScheduleConfig(interval=30, jitter=0, reconcile_cron="0 4 * * 0")})
        assert diff.removed == ["incremental:b", "reconcile:b"]
        assert diff.rescheduled == ["incremental:a", "reconcile:a"]
        nxt = sched.next_runs()
        assert set(nxt) == {"incremental:a", "reconcile:a"}
        inc = nxt["incremental:a"]
        assert inc is not None and 25 <= inc.timestamp() - before <= 35  # new interval counts from now
        rec = nxt["reconcile:a"]
        assert rec is not None and rec.astimezone(UTC).weekday() == 6 and rec.hour == 4
        time.sleep(0.5)
        assert sched.heartbeat_age() < 0.5
    finally:
        sched.shutdown()
    assert ("a", "incremental") in calls
