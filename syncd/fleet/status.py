"""``syncd fleet status``: what the whole fleet is doing, read from the state database.

Every figure comes from the one database the workers share, so any host with the config can ask,
with no worker's ``/metrics`` at hand: runs queued (by kind) and in flight, the schedule's lag
(how late the most overdue run is) and how many runs are due, the workers alive, and the lease
takeovers (runs that took a pair over from a holder that died or froze, counted since the
database was created; and leases held past their expiry now, takeovers still to come).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from sqlalchemy import Engine, text

from state import schedule
from state.backend import table_names
from state.clock import lease_expired_sql
from syncd.fleet.app import RUN_KINDS, RUN_TASK
from syncd.fleet.metrics import FLEET_GAUGES
from syncd.fleet.tick import in_flight, lease_takeovers, live_workers


@dataclass(frozen=True)
class FleetStatus:
    queue_depth: int  # runs queued, not started
    queued_by_kind: dict[str, int] = field(default_factory=dict)
    runs_in_flight: int = 0
    schedule_lag_seconds: float = 0.0  # how late the most overdue scheduled run is
    runs_due: int = 0  # schedule rows due now and not queued yet
    pairs_scheduled: int = 0
    workers_alive: int = 0
    lease_takeovers: int = 0
    leases_expired_unreleased: int = 0  # held past their expiry: their holder died or froze
    queue_ready: bool = True  # False: no worker has created the queue's tables yet

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def fleet_status(engine: Engine, stall_after: float) -> FleetStatus:
    with engine.connect() as conn:
        now = schedule.db_now_ms(conn)
        lag = schedule.lag_ms(conn, now) / 1000
        due, scheduled = conn.execute(text(
            "SELECT count(*) FILTER (WHERE next_due_at <= :now), count(DISTINCT pair) FROM pair_schedule"),
            {"now": now}).one()
        expired = int(conn.execute(text(
            f"SELECT count(*) FROM leases WHERE owner <> '' AND {lease_expired_sql('leases', 'postgresql')}")
        ).scalar_one())
        takeovers = lease_takeovers(conn)
        if "procrastinate_jobs" not in table_names(conn):
            return FleetStatus(0, {}, 0, lag, int(due), int(scheduled), 0, takeovers, expired, queue_ready=False)
        by_kind: dict[str, int] = {kind: 0 for kind in RUN_KINDS}
        for kind, count in conn.execute(text(
                "SELECT args->>'kind', count(*) FROM procrastinate_jobs WHERE task_name = :t AND status = 'todo' "
                "GROUP BY 1"), {"t": RUN_TASK}):
            by_kind[str(kind)] = int(count)
        return FleetStatus(sum(by_kind.values()), by_kind, in_flight(conn), lag, int(due), int(scheduled),
                           live_workers(conn, stall_after), takeovers, expired)


def fleet_view(engine: Engine, stall_after: float) -> dict[str, float]:
    """The fleet gauges of ``/metrics`` and ``/healthz`` (:data:`FLEET_GAUGES`), read as ``syncd fleet status`` reads them."""
    status = fleet_status(engine, stall_after)
    return {name: getattr(status, name) for name in FLEET_GAUGES}
