"""Per-pair jobs on APScheduler 3: an incremental sync on an interval, a full reconcile on a cron.

The triggers come from :func:`config.cron.cron_trigger`, which handles crontab's
weekday numbering, its either-day rule and daylight-saving changes.

Jobs are plain functions with string ids and string arguments, so a move to
APScheduler 4 stays possible. The job store is the in-memory default: jobs are
derived from the config at start and on reload, never persisted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

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
from apscheduler.triggers.interval import IntervalTrigger

from config.cron import cron_trigger, zone
from config.models import ScheduleConfig

log = structlog.get_logger("syncd.scheduler")

RunKind = Literal["incremental", "reconcile"]

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
