"""The tasks a worker runs, bound to its resident :class:`Runtime`.

- ``syncd.run_pair(pair, kind)``: take the pair's lease (busy: the job ends at once as
  ``skipped``, and a webhook or reconcile run comes back later: :meth:`Runtime.come_back`), run
  today's engine with fenced state transactions, release the lease.
- ``syncd.tick``: periodic, one per period for the whole fleet (:func:`syncd.fleet.tick.tick`).
- ``syncd.reap``: periodic, fails dead workers' runs (:func:`syncd.fleet.tick.reap`).

The config, the state store and its connection pool stay resident in the process; each run
builds its two connectors from the config (what ``syncd run`` does too).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import procrastinate
import structlog
from sqlalchemy import text

from config.loader import LoadedConfig
from config.models import ScheduleConfig
from connectors.errors import LeaseHeldError, SyncdError
from state import schedule
from state.store import StateStore
from syncd.engine.accounts import account_keys
from syncd.engine.runner import Mode, sync_pair
from syncd.fleet import tick as ticking
from syncd.fleet.app import QUEUE, REAP_TASK, RUN_TASK, TICK_TASK, enqueue
from syncd.fleet.metrics import FleetMetrics

log = structlog.get_logger("syncd.fleet")

SKIPPED = "skipped"


@dataclass
class Runtime:
    """What a worker keeps between runs."""

    loaded: LoadedConfig
    store: StateStore
    app: procrastinate.App
    metrics: FleetMetrics
    stop: threading.Event = field(default_factory=threading.Event)
    _accounts: tuple[LoadedConfig, dict[str, list[str]]] | None = field(default=None, repr=False)

    @property
    def schedules(self) -> dict[str, ScheduleConfig]:
        return {name: p.schedule for name, p in self.loaded.app.pairs.items()}

    @property
    def accounts(self) -> dict[str, list[str]]:
        """Each pair's account keys (they name no secret), for the tick's busy-account check: worked out
        once per config (a reload brings a new one), not at every tick (hashing every pair's settings
        was a tenth of a worker's CPU at 200 pairs)."""
        if self._accounts is None or self._accounts[0] is not self.loaded:
            keys = {name: list(account_keys(self.loaded, name).values()) for name in self.loaded.app.pairs}
            self._accounts = (self.loaded, keys)
        return self._accounts[1]

    def run_pair(self, pair: str, kind: str) -> str:
        """One run; its outcome (``ok``, ``stopped``, ``failed``, ``lease_lost``, ``skipped``...)."""
        loaded = self.loaded
        if pair not in loaded.app.pairs:
            log.warning("run_for_unknown_pair", pair=pair, kind=kind)
            return "unknown_pair"
        if self.stop.is_set():
            return "stopping"  # fetched as the stop began; the schedule queues it again
        mode: Mode = "full" if kind == "reconcile" else "incremental"
        holder = self.unreleased_holder(pair)
        self.metrics.in_flight.inc()
        try:
            with structlog.contextvars.bound_contextvars(kind=kind):
                report = sync_pair(loaded, pair, store=self.store, mode=mode, stop=self.stop,
                                   observer=self.metrics)
        except LeaseHeldError:
            log.info("run_skipped_pair_busy", pair=pair, kind=kind)
            self.metrics.outcome(kind, SKIPPED)
            self.come_back(pair, kind)
            return SKIPPED
        except SyncdError as exc:
            log.error("run_failed", pair=pair, kind=kind, error=str(exc), **exc.context())
            self.metrics.outcome(kind, "failed")
            return "failed"
        finally:
            self.metrics.in_flight.dec()
        if holder is not None:
            # The lease was never released: its holder died or froze, and this run took the pair over.
            log.warning("lease_taken_over", pair=pair, kind=kind, holder=holder)
            self.metrics.takeovers.inc()
            with self.store.engine.begin() as conn:
                ticking.count_takeover(conn)  # for `syncd fleet status`, whichever worker is asked
        return self.metrics.observe_run(report, kind, lease_lost=report.lease_lost)

    def come_back(self, pair: str, kind: str) -> None:
        """A run that found its pair busy, unless the busy run does its work, is queued again.

        The run in flight may have read a side before the change a webhook announced, and it may
        be an incremental run where a reconcile was due: those come back (a webhook run after
        :meth:`retry_after`, a reconcile through the schedule's next tick). A skipped incremental
        run is not needed: the one in flight reads what changed.
        """
        if kind == "webhook":
            enqueue(self.app, pair, "webhook", delay=self.retry_after(pair))
        elif kind == "reconcile":
            with self.store.engine.begin() as conn:
                schedule.make_due(conn, pair, "reconcile")

    def retry_after(self, pair: str) -> float:
        """When to look again at a busy pair: half as long as its run has lasted so far, from
        ``[fleet] poll`` up to a sixth of the lease time, so that a short run is followed at once
        and a long reconcile is not asked every ``poll``."""
        poll, ttl = self.loaded.app.fleet.poll, self.loaded.app.state.lease_ttl
        lease = self.store.lease_holder(pair)
        if lease is None:
            return poll  # released meanwhile
        busy_for = max(0.0, (self.store.database_now_ms() - lease.acquired_at) / 1000)
        return min(max(poll, busy_for / 2), max(poll, ttl / 6))

    def unreleased_holder(self, pair: str) -> str | None:
        """Who holds the pair's lease without having released it (expired or not), if anyone."""
        with self.store.engine.connect() as conn:
            owner = conn.execute(text("SELECT owner FROM leases WHERE pair = :pair"), {"pair": pair}).scalar()
        return str(owner) if owner else None


def cron_every(seconds: float) -> str:
    """A six-field (seconds) cron firing every ``seconds``, rounded to a whole second."""
    n = max(1, min(59, round(seconds)))
    return "* * * * * *" if n == 1 else f"*/{n} * * * * *"


def register(rt: Runtime) -> None:
    """Register the three tasks on ``rt.app``."""
    app, fleet = rt.app, rt.loaded.app.fleet

    @app.task(name=RUN_TASK, queue=QUEUE)
    def run_pair(pair: str, kind: str) -> str:
        return rt.run_pair(pair, kind)

    # Fetched before any run (priority), and one at most waiting (queueing lock).
    @app.periodic(cron=cron_every(fleet.tick), periodic_id="tick")
    @app.task(name=TICK_TASK, queue=QUEUE, priority=100, queueing_lock="syncd.tick")
    def tick(timestamp: int) -> int:
        result = ticking.tick(rt.store.engine, app, rt.schedules, concurrency=rt.loaded.app.fleet.concurrency,
                              stall_after=rt.loaded.app.fleet.stall_after, accounts=rt.accounts)
        for row in result.queued:
            rt.metrics.deferred.labels(kind=row.kind).inc()
        return len(result.queued)

    @app.periodic(cron=cron_every(fleet.reap), periodic_id="reap")
    @app.task(name=REAP_TASK, queue=QUEUE, priority=100, queueing_lock="syncd.reap")
    async def reap(timestamp: int) -> int:
        reaped = await ticking.reap(app, rt.store.engine, stall_after=rt.loaded.app.fleet.stall_after)
        rt.metrics.reaped.inc(len(reaped))
        return len(reaped)
