"""A worker's ``/metrics``: no pair label, so the series stay few however many pairs the fleet has.

Per worker: runs by kind and outcome, run time by kind, API requests by side and status
class, leases lost, lease takeovers, runs in flight. Fleet views (the same from every worker, read from the
database at scrape time): queue depth, schedule lag, runs in flight, workers alive, lease takeovers. Per-pair detail is in
the state database (``syncd status``, the ``runs`` table), not in metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from syncd.metrics import RunSummary, run_outcome, status_class

_DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)

FleetView = Callable[[], Mapping[str, float]]
FLEET_GAUGES = {
    "queue_depth": "Runs queued and not started, all pairs",
    "schedule_lag_seconds": "How late the most overdue scheduled run is",
    "runs_in_flight": "Runs being done by any worker",
    "workers_alive": "Workers that sent a heartbeat recently",
    "lease_takeovers": "Runs that took a pair over from a holder that died or froze, since the database was created",
}


class _Fleet(Collector):
    """The fleet gauges, read through ``view`` when scraped (nothing when the database is down)."""

    def __init__(self, view: FleetView) -> None:
        self.view = view

    def collect(self) -> Iterable[Metric]:
        try:
            values = self.view()
        except Exception:  # noqa: BLE001 - a scrape must not fail because the database is away
            return []
        out = []
        for name, text in FLEET_GAUGES.items():
            if name in values:
                family = GaugeMetricFamily(f"syncd_fleet_{name}", text)
                family.add_metric([], float(values[name]))
                out.append(family)
        return out


class FleetMetrics:
    """What one worker counts; implements ``ApiObserver`` for its runs' HTTP sessions."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.runs = Counter("syncd_runs", "Sync runs finished by this worker", ["kind", "outcome"], registry=r)
        self.run_duration = Histogram("syncd_run_duration_seconds", "Wall time of a sync run", ["kind"],
                                      buckets=_DURATION_BUCKETS, registry=r)
        self.api_requests = Counter("syncd_api_requests", "HTTP requests to a side's API", ["side", "status_class"],
                                    registry=r)
        self.api_retries = Counter("syncd_api_retries", "HTTP requests retried", ["side"], registry=r)
        self.lease_lost = Counter("syncd_lease_lost", "Runs that lost their pair's lease and stopped writing",
                                  registry=r)
        self.takeovers = Counter("syncd_lease_takeovers", "Runs that took over a lease its holder never released "
                                 "(the holder died or froze)", registry=r)
        self.in_flight = Gauge("syncd_worker_runs_in_flight", "Runs this worker is doing now", registry=r)
        self.deferred = Counter("syncd_runs_queued", "Runs the tick or a webhook queued", ["kind"], registry=r)
        self.reaped = Counter("syncd_jobs_reaped", "Jobs of dead workers failed by the reaper", registry=r)

    def watch_fleet(self, view: FleetView) -> None:
        self.registry.register(_Fleet(view))

    # -- ApiObserver ---------------------------------------------------------------

    def api_request(self, side: str, method: str, status: int | None, seconds: float) -> None:
        self.api_requests.labels(side=side, status_class=status_class(status)).inc()

    def api_retry(self, side: str, reason: str) -> None:
        self.api_retries.labels(side=side).inc()

    # -- runs ------------------------------------------------------------------------

    def observe_run(self, report: RunSummary, kind: str, *, lease_lost: bool) -> str:
        outcome = "lease_lost" if lease_lost else run_outcome(report)
        self.runs.labels(kind=kind, outcome=outcome).inc()
        self.run_duration.labels(kind=kind).observe(report.duration_s)
        if lease_lost:
            self.lease_lost.inc()
        return outcome

    def outcome(self, kind: str, outcome: str) -> None:
        self.runs.labels(kind=kind, outcome=outcome).inc()
