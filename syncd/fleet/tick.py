"""The tick (schedule -> queued runs) and the reaper (dead workers' jobs -> failed, pairs due).

**The tick** runs every ``[fleet] tick`` seconds on whichever worker procrastinate hands it
(its periodic deferrer queues one per period for the whole fleet). In one short transaction it
takes the due rows of ``pair_schedule``, earliest due first, ``FOR UPDATE SKIP LOCKED``, at most
*free slots x 2* of them (slots: the live workers' concurrency; free: minus the runs already
queued), advances each to its next due time (its interval on from when it was due, or now if
it fell a whole interval behind) and commits; then it queues one run per row.
A run still waiting from before makes the queueing attempt a no-op. Earliest-due-first plus
one waiting run per pair is what keeps it fair: under overload every pair's interval stretches
by the same factor, and a pair that is noisy (webhooks) cannot crowd out the others.

**The reaper** fails the jobs whose worker stopped sending heartbeats (killed, frozen, cut
off) and makes their pairs due now. It never retries them: retrying a stalled job breaks when
the pair already has a run queued (its queueing lock is taken), and nothing is lost by failing it —
the pair's lease keeps the dead run's writes out and the next run picks up where it stopped.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

import procrastinate
import structlog
from procrastinate.jobs import Status
from sqlalchemy import Connection, Engine, text

from config.models import ScheduleConfig
from state import schedule
from syncd.fleet import due as due_times
from syncd.fleet.accounts import busy_pairs
from syncd.fleet.app import RUN_TASK, RunKind, enqueue

log = structlog.get_logger("syncd.fleet")


@dataclass(frozen=True)
class TickResult:
    queued: list[schedule.Due]  # taken off the schedule and queued (or already waiting)
    limit: int  # how many the tick could take this time
    depth: int  # runs waiting before this tick


def wanted_rows(pairs: Mapping[str, ScheduleConfig], now: int) -> dict[tuple[str, str], int]:
    """Every ``(pair, kind)`` the config schedules, with the first due time of a new row."""
    return {(pair, kind): due_times.first_due(pair, kind, sched, now)
            for pair, sched in pairs.items() for kind in due_times.wanted_kinds(sched)}


def sync_schedule(engine: Engine, pairs: Mapping[str, ScheduleConfig]) -> None:
    """Make ``pair_schedule`` match the config (at a worker's start and after a reload)."""
    with engine.begin() as conn:
        schedule.sync_rows(conn, wanted_rows(pairs, schedule.db_now_ms(conn)))


def queue_depth(conn: Connection) -> int:
    return int(conn.execute(text("SELECT count(*) FROM procrastinate_jobs WHERE task_name = :t AND status = 'todo'"),
                            {"t": RUN_TASK}).scalar_one())


def in_flight(conn: Connection) -> int:
    return int(conn.execute(text("SELECT count(*) FROM procrastinate_jobs WHERE task_name = :t AND status = 'doing'"),
                            {"t": RUN_TASK}).scalar_one())


TAKEOVERS_KEY = "fleet_lease_takeovers"  # meta row: how many takeovers the fleet's workers made


def lease_takeovers(conn: Connection) -> int:
    value = conn.execute(text("SELECT value FROM meta WHERE key = :k"), {"k": TAKEOVERS_KEY}).scalar_one_or_none()
    return int(value) if value else 0


def count_takeover(conn: Connection) -> None:
    """One more takeover, in the caller's transaction (PostgreSQL: the fleet's database)."""
    conn.execute(text("INSERT INTO meta (key, value) VALUES (:k, '1') ON CONFLICT (key) "
                      "DO UPDATE SET value = CAST(CAST(meta.value AS BIGINT) + 1 AS TEXT)"), {"k": TAKEOVERS_KEY})


def live_workers(conn: Connection, stall_after: float) -> int:
    return int(conn.execute(text(
        "SELECT count(*) FROM procrastinate_workers WHERE last_heartbeat > now() - make_interval(secs => :s)"),
        {"s": stall_after}).scalar_one())


def tick(engine: Engine, app: procrastinate.App, pairs: Mapping[str, ScheduleConfig], *,
         concurrency: int, stall_after: float, accounts: Mapping[str, Collection[str]] | None = None) -> TickResult:
    """One tick; see the module's doc. ``accounts`` (pair -> its account keys): a pair whose account
    is busy or out of its day's budget stays due (:func:`syncd.fleet.accounts.busy_pairs`)."""
    with engine.begin() as conn:
        now = schedule.db_now_ms(conn)
        slots = max(1, live_workers(conn, stall_after)) * concurrency
        depth = queue_depth(conn)
        limit = max(0, 2 * slots - depth)
        rows = schedule.take_due(conn, now, limit, busy_pairs(conn, accounts or {}))
        taken = []
        for row in rows:
            sched = pairs.get(row.pair)
            if sched is None:
                continue  # removed from the config since the rows were synced; the next sync drops it
            schedule.advance(conn, row, due_times.next_due(row.pair, row.kind, sched, now, row.due_at), now)
            taken.append(row)
    for row in taken:
        kind: RunKind = "reconcile" if row.kind == "reconcile" else "incremental"
        enqueue(app, row.pair, kind)
    if taken:
        log.debug("tick", queued=len(taken), limit=limit, depth=depth)
    return TickResult(taken, limit, depth)


async def reap(app: procrastinate.App, engine: Engine, *, stall_after: float) -> list[tuple[str, str]]:
    """Fail the runs of workers silent for ``stall_after`` seconds; make their pairs due. The pairs."""
    import asyncio

    stalled = await app.job_manager.get_stalled_jobs(task_name=RUN_TASK, seconds_since_heartbeat=stall_after)
    reaped: list[tuple[str, str]] = []
    for job in stalled:
        await app.job_manager.finish_job(job, status=Status.FAILED, delete_job=True)
        pair, kind = str(job.task_kwargs.get("pair", "")), str(job.task_kwargs.get("kind", "incremental"))
        reaped.append((pair, kind))
        log.warning("stalled_run_failed", pair=pair, kind=kind, job_id=job.id, worker_id=job.worker_id)
    if reaped:
        await asyncio.to_thread(_make_due, engine, reaped)
    return reaped


def _make_due(engine: Engine, reaped: list[tuple[str, str]]) -> None:
    with engine.begin() as conn:
        for pair, kind in reaped:
            schedule.make_due(conn, pair, "reconcile" if kind == "reconcile" else "incremental")
