"""The reconcile schedule: crontab's five fields as an APScheduler 3 trigger, and its validation.

The config check and the daemon's scheduler (:mod:`syncd.scheduler`) both go through
:func:`cron_trigger`, so a schedule that passes ``syncd config check`` is exactly the one
the daemon runs. Three APScheduler 3 pitfalls are handled here rather than left to the
operator:

- crontab numbers weekdays from Sunday (0 and 7), APScheduler 3 from Monday, and
  ``CronTrigger.from_crontab`` passes numbers through unchanged (``0 3 * * 0`` would
  fire on Mondays). We split the five fields ourselves and hand APScheduler day
  *names*, which both agree on.
- crontab fires when *either* day-of-month or day-of-week matches if both are
  restricted; APScheduler requires both. Such an expression becomes an ``OrTrigger``.
- across daylight-saving changes APScheduler 3's ``CronTrigger`` fires the repeated
  autumn hour twice (01:30 EDT and 01:30 EST) and can then keep answering a time
  before ``now``. :class:`WallClockTrigger` matches the crontab fields against the
  zone's wall clock itself, like cron: each wall-clock time fires at most once (the
  first time it occurs), and a time the spring change skips fires when the clock
  jumps over it, so a daily reconcile runs exactly once every day.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger

DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # crontab order: 0 (and 7) = Sunday
_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


def _day_number(token: str) -> int:
    """0..7 for numbers (7 stays 7 so ranges like ``5-7`` work), 0..6 for names."""
    token = token.strip().lower()
    if token in DAY_NAMES:
        return DAY_NAMES.index(token)
    if token.isdigit() and 0 <= int(token) <= 7:
        return int(token)
    raise ValueError(f"day of week {token!r} is not 0-7 or sun..sat")


def crontab_day_of_week(spec: str) -> str:
    """Translate crontab's day-of-week field into APScheduler 3 day names.

    ``0``/``7`` and ``sun`` are Sunday, ``1`` Monday ... ``6`` Saturday; ranges,
    lists and steps (``1-5``, ``0,6``, ``*/2``, ``5-7``) are expanded, so the
    result never contains a number APScheduler would read Monday-based.
    """
    spec = spec.strip().lower()
    if spec in ("*", "?"):
        return "*"
    days: set[int] = set()
    for item in spec.split(","):
        base, _, step_text = item.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) < 1:
                raise ValueError(f"bad step {step_text!r} in day of week {spec!r}")
            step = int(step_text)
        if base == "*":
            lo, hi = 0, 6
        elif "-" in base:
            first, _, last = base.partition("-")
            lo, hi = _day_number(first), _day_number(last)
            if hi < lo:
                raise ValueError(f"day-of-week range {base!r} runs backwards")
        else:
            lo = _day_number(base)
            hi = max(lo, 6) if step_text else lo  # "N/step" means N..end
        days.update(d % 7 for d in range(lo, hi + 1, step))
    if len(days) == 7:
        return "*"
    # Monday-first order reads naturally and is stable for tests and logs
    return ",".join(DAY_NAMES[d] for d in (1, 2, 3, 4, 5, 6, 0) if d in days)


def zone(name: str) -> ZoneInfo:
    """A time zone by IANA name, with an error that says which."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


_GAP_STEPS = 24 * 60  # minutes searched for the end of a daylight-saving gap (real gaps are 30-120)


def _wall(moment: datetime, tz: ZoneInfo) -> datetime:
    """``moment``'s wall-clock reading in ``tz``, as a UTC-stamped datetime (a clock without DST)."""
    return moment.astimezone(tz).replace(tzinfo=UTC)


def _real(wall: datetime, tz: ZoneInfo) -> datetime:
    """The instant ``tz``'s clock shows ``wall``: the first one if it shows it twice (autumn);
    the instant it jumps over it if it never shows it (spring)."""
    naive = wall.replace(tzinfo=None)
    first = naive.replace(tzinfo=tz, fold=0)
    if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == naive:
        return first.astimezone(tz)
    moment = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)  # just before the gap
    for _ in range(_GAP_STEPS):
        if moment.astimezone(tz).replace(tzinfo=None) > naive:
            break
        moment += timedelta(minutes=1)
    return moment.astimezone(tz)


class WallClockTrigger(BaseTrigger):  # type: ignore[misc]
    """Fires when ``tz``'s wall clock matches ``wall`` (a trigger evaluated in UTC, which has no DST).

    A wall-clock time fires once: not again when the clock is turned back over it, and
    never before the previous fire. Jitter is added after, as APScheduler does.
    """

    def __init__(self, wall: BaseTrigger, tz: ZoneInfo, jitter: int | None = None) -> None:
        self.wall = wall
        self.timezone = tz
        self.jitter = jitter

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        tz = self.timezone
        prev_wall = _wall(previous_fire_time, tz) if previous_fire_time is not None else None
        search = _wall(now, tz)
        for _ in range(8):
            wall = self.wall.get_next_fire_time(prev_wall, search)
            if wall is None:
                return None
            real = _real(wall, tz)
            # compared in UTC: aware datetimes of one zone compare by wall time, ignoring fold
            at = real.astimezone(UTC)
            after_previous = previous_fire_time is None or at > previous_fire_time.astimezone(UTC)
            # with no previous fire (start, restart) a time already past is not caught up:
            # it may be the first pass of a repeated hour that fired before the restart
            if after_previous and (previous_fire_time is not None or at >= now.astimezone(UTC)):
                fire: datetime | None = self._apply_jitter(real, self.jitter, now)
                return fire
            prev_wall, search = wall, wall + timedelta(seconds=1)
        return None

    def __str__(self) -> str:
        return f"wall clock {self.timezone.key}: {self.wall}"

    def __repr__(self) -> str:
        return f"<WallClockTrigger ({self.wall!r}, timezone={self.timezone.key!r}, jitter={self.jitter})>"


def cron_trigger(expr: str, *, tz: str = "UTC", jitter: float | None = None) -> WallClockTrigger:
    """A trigger for a five-field crontab expression (or ``@daily`` style macro).

    Raises ``ValueError`` naming the problem; callers prefix the config key path.
    """
    text = _MACROS.get(expr.strip().lower(), expr)
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(f"cron expression {expr!r} must have five fields: minute hour day month weekday")
    minute, hour, day, month, weekday = fields
    tzinfo = zone(tz)
    jit = int(jitter) if jitter else None
    dow = crontab_day_of_week(weekday)

    def make(day_field: str, dow_field: str) -> CronTrigger:
        try:
            # evaluated on the zone's wall clock (see WallClockTrigger), so in UTC, which has no DST
            return CronTrigger(
                minute=minute, hour=hour, day=day_field, month=month, day_of_week=dow_field, timezone=UTC,
            )
        except ValueError as exc:
            raise ValueError(f"cron expression {expr!r}: {exc}") from exc

    # crontab: if both day fields are restricted, either matching is enough
    wall: BaseTrigger = OrTrigger([make(day, "*"), make("*", dow)]) if day != "*" and dow != "*" else make(day, dow)
    return WallClockTrigger(wall, tzinfo, jit)


def validate_crontab(expr: str, timezone: str = "UTC") -> None:
    """Raise ValueError with a readable reason if ``expr`` is not a usable crontab schedule."""
    cron_trigger(expr, tz=timezone, jitter=0)
