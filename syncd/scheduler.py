"""Per-pair jobs on APScheduler 3: an incremental sync on an interval, a full reconcile on a cron.

Two APScheduler 3 pitfalls are handled here rather than left to the operator:

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

Jobs are plain functions with string ids and string arguments, so a move to
APScheduler 4 stays possible. The job store is the in-memory default: jobs are
derived from the config at start and on reload, never persisted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog
from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from config.models import ScheduleConfig

log = structlog.get_logger("syncd.scheduler")

RunKind = Literal["incremental", "reconcile"]

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


def schedule_problems(pairs: Mapping[str, ScheduleConfig]) -> list[str]:
    """Every schedule error as ``pairs.NAME.schedule.KEY: message`` (empty when all are valid)."""
    problems = []
    for name, sched in pairs.items():
        try:
            zone(sched.timezone)
        except ValueError as exc:
            problems.append(f"pairs.{name}.schedule.timezone: {exc}")
            continue
        if sched.reconcile_cron:
            try:
                cron_trigger(sched.reconcile_cron, tz=sched.timezone)
            except ValueError as exc:
                problems.append(f"pairs.{name}.schedule.reconcile_cron: {exc}")
    return problems


@dataclass(frozen=True)
class JobSpec:
    """What a job should look like; two equal specs need no reschedule."""

    job_id: str
    pair: str
    kind: RunKind
    interval: float | None = None
    jitter: float = 0.0
    cron: str | None = None
    timezone: str = "UTC"

    def trigger(self) -> BaseTrigger:
        if self.interval is not None:
            return IntervalTrigger(seconds=self.interval, jitter=int(self.jitter) or None)
        assert self.cron is not None
        return cron_trigger(self.cron, tz=self.timezone, jitter=self.jitter or None)


def job_specs(pairs: Mapping[str, ScheduleConfig]) -> dict[str, JobSpec]:
    """The jobs a config asks for, by job id."""
    specs: dict[str, JobSpec] = {}
    for name, sched in pairs.items():
        inc = JobSpec(f"incremental:{name}", name, "incremental", interval=sched.interval, jitter=sched.jitter)
        specs[inc.job_id] = inc
        if sched.reconcile_cron:
            rec = JobSpec(
                f"reconcile:{name}", name, "reconcile",
                cron=sched.reconcile_cron, timezone=sched.timezone, jitter=sched.jitter,
            )
            specs[rec.job_id] = rec
    return specs


@dataclass
class ScheduleDiff:
    """What an :meth:`PairScheduler.apply` changed, for the log."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    rescheduled: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.rescheduled)


RunFunc = Callable[[str, RunKind], None]


class PairScheduler:
    """A ``BackgroundScheduler`` holding the per-pair jobs, plus a heartbeat job.

    The heartbeat runs in an executor of its own, so the supervisor can tell a
    live scheduler (``heartbeat_age()`` stays small) from a wedged one even while
    every sync thread is busy with a long run.
    """

    def __init__(self, run: RunFunc, *, max_workers: int = 16, heartbeat_seconds: float = 2.0) -> None:
        self._run = run
        self._heartbeat_seconds = heartbeat_seconds
        self._beat = time.monotonic()
        self._specs: dict[str, JobSpec] = {}
        self._lock = threading.Lock()
        self.scheduler = BackgroundScheduler(
            executors={
                "default": ThreadPoolExecutor(max_workers),
                "heartbeat": ThreadPoolExecutor(1),
            },
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
        )
        self.scheduler.add_listener(self._on_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)

    # -- life cycle --------------------------------------------------------------

    def start(self) -> None:
        self.scheduler.add_job(
            self._heartbeat, IntervalTrigger(seconds=self._heartbeat_seconds),
            id="heartbeat", executor="heartbeat", replace_existing=True,
        )
        self.scheduler.start()
        self._beat = time.monotonic()

    def shutdown(self) -> None:
        """Stop firing jobs. Runs in flight are not interrupted (they watch the stop event)."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def _heartbeat(self) -> None:
        self._beat = time.monotonic()

    def heartbeat_age(self) -> float:
        """Seconds since the scheduler last dispatched its heartbeat job."""
        return time.monotonic() - self._beat

    # -- jobs --------------------------------------------------------------------

    def apply(self, pairs: Mapping[str, ScheduleConfig], *, first_run_now: bool = True) -> ScheduleDiff:
        """Make the jobs match ``pairs``: add, remove, reschedule. Never restarts the scheduler.

        New incremental jobs run at once (a catch-up after start or after a pair is
        added); a changed interval takes effect from now.
        """
        wanted = job_specs(pairs)
        diff = ScheduleDiff()
        with self._lock:
            for job_id in sorted(set(self._specs) - set(wanted)):
                if self.scheduler.get_job(job_id) is not None:
                    self.scheduler.remove_job(job_id)
                del self._specs[job_id]
                diff.removed.append(job_id)
            for job_id, spec in sorted(wanted.items()):
                old = self._specs.get(job_id)
                if old == spec:
                    continue
                if old is None:
                    extra: dict[str, Any] = {}
                    if spec.kind == "incremental" and first_run_now:
                        extra["next_run_time"] = datetime.now(UTC)
                    self.scheduler.add_job(
                        self._run, spec.trigger(), args=(spec.pair, spec.kind), id=job_id,
                        name=job_id, replace_existing=True, **extra,
                    )
                    diff.added.append(job_id)
                else:
                    self.scheduler.reschedule_job(job_id, trigger=spec.trigger())
                    diff.rescheduled.append(job_id)
                self._specs[job_id] = spec
        return diff

    def submit(self, func: Callable[..., None], *args: Any, name: str) -> None:
        """Run ``func(*args)`` once, now, on the sync thread pool."""
        self.scheduler.add_job(func, args=args, name=name, misfire_grace_time=None)

    def next_runs(self) -> dict[str, datetime | None]:
        """Next fire time of every pair job, by job id."""
        return {job.id: job.next_run_time for job in self.scheduler.get_jobs() if job.id in self._specs}

    def _on_event(self, event: JobExecutionEvent | JobSubmissionEvent) -> None:
        if event.code == EVENT_JOB_ERROR:
            log.error("job crashed", job=event.job_id, error=repr(getattr(event, "exception", None)))
        elif event.code == EVENT_JOB_MISSED:
            log.warning("job run missed", job=event.job_id)
        else:
            log.info("job skipped: previous run still going", job=event.job_id)
