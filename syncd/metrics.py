"""Prometheus metrics of the daemon, in a registry of their own.

Names follow https://prometheus.io/docs/practices/naming: prefix ``syncd_``,
base units, ``_total`` on counters. Labels hold pair, side, entity, operation and
status class only: never a record id or an email (unbounded cardinality, and
personal data).

:class:`Metrics` is also the :class:`~connectors.base.ApiObserver` handed to the
connectors, so every HTTP request and retry is counted where it happens.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from connectors.entities import ENTITY_KINDS
from connectors.scrub import scrub
from syncd import __version__

# The `_created` series double every counter and histogram and nothing here reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

SIDES = ("cloze", "external")
WRITE_OPS = ("create", "update", "delete", "link")
RUN_KINDS = ("incremental", "reconcile", "webhook")
OUTCOMES = ("ok", "stopped", "failed")
STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx", "error")

BacklogSource = Callable[[], Mapping[str, tuple[int, int]]]
"""pair -> (conflicts waiting for an operator, open record errors), read at each scrape."""


class _Backlog(Collector):
    """Gauges read from the state database at scrape time, so a conflict resolved from the CLI shows at once."""

    def __init__(self) -> None:
        self.source: BacklogSource | None = None
        self.pairs: tuple[str, ...] = ()

    def collect(self) -> Iterable[GaugeMetricFamily]:
        pending = GaugeMetricFamily("syncd_conflicts_pending", "Field conflicts waiting for an operator", labels=["pair"])
        errors = GaugeMetricFamily("syncd_record_errors_open", "Records a side refused, not yet synced", labels=["pair"])
        try:
            counts = dict(self.source()) if self.source is not None else {}
        except Exception:  # noqa: BLE001 - a locked or missing database must not break /metrics
            counts = {}
        for pair in sorted(set(self.pairs) | set(counts)):
            conflicts, open_errors = counts.get(pair, (0, 0))
            pending.add_metric([pair], conflicts)
            errors.add_metric([pair], open_errors)
        return [pending, errors]

# Runs take from well under a second (a webhook for one record) to hours (a first full reconcile).
_DURATION_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, float("inf"))


class ScrubbedRegistry:
    """What ``/metrics`` serves: the registry's samples with every label value through :mod:`connectors.scrub`
    (labels come from the config and the sides' replies, so they pass the scrubber like every other sink)."""

    def __init__(self, inner: CollectorRegistry) -> None:
        self.inner = inner

    def collect(self) -> Iterator[Metric]:
        for metric in self.inner.collect():
            metric.samples = [sample._replace(labels={k: scrub(v) for k, v in sample.labels.items()})
                              for sample in metric.samples]
            yield metric

    def restricted_registry(self, names: Iterable[str]) -> ScrubbedRegistry:
        return ScrubbedRegistry(self.inner.restricted_registry(names))  # type: ignore[arg-type]


class RunSummary(Protocol):
    """The parts of the engine's ``RunReport`` the metrics read."""

    @property
    def pair(self) -> str: ...
    @property
    def ok(self) -> bool: ...
    @property
    def stopped(self) -> bool: ...
    @property
    def dry_run(self) -> bool: ...
    @property
    def reads(self) -> Mapping[str, int]: ...
    @property
    def writes(self) -> Mapping[str, int]: ...
    @property
    def conflicts(self) -> int: ...
    @property
    def record_errors(self) -> int: ...
    @property
    def finished_at(self) -> datetime | None: ...
    @property
    def error(self) -> str | None: ...
    @property
    def run_id(self) -> str: ...
    @property
    def duration_s(self) -> float: ...


def status_class(status: int | None) -> str:
    """``2xx``, ``4xx``, ``5xx``...; ``error`` when no response came (timeout, connection)."""
    if status is None:
        return "error"
    return f"{status // 100}xx"


def run_outcome(report: RunSummary) -> str:
    """``ok``, ``stopped`` (graceful stop mid-run) or ``failed``."""
    if not report.ok:
        return "failed"
    return "stopped" if report.stopped else "ok"


class Metrics:
    """All metrics of one daemon process; implements ``ApiObserver``."""

    def __init__(self, registry: CollectorRegistry | None = None, *, process_metrics: bool = True) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        if process_metrics:
            ProcessCollector(registry=r)
            PlatformCollector(registry=r)
            GCCollector(registry=r)
        self.records_read = Counter(
            "syncd_records_read", "Records read from a side", ["pair", "side", "entity"], registry=r
        )
        self.records_written = Counter(
            "syncd_records_written", "Records written to a side, by operation",
            ["pair", "side", "entity", "op"], registry=r,
        )
        self.conflicts = Counter("syncd_conflicts", "Field conflicts detected", ["pair"], registry=r)
        self.record_errors = Counter(
            "syncd_record_errors", "Records a side rejected (recorded, retried later)", ["pair"], registry=r
        )
        self.api_requests = Counter(
            "syncd_api_requests", "HTTP requests to a side's API", ["side", "status_class"], registry=r
        )
        self.api_retries = Counter("syncd_api_retries", "HTTP requests retried", ["side"], registry=r)
        self.runs = Counter("syncd_runs", "Sync runs finished", ["pair", "kind", "outcome"], registry=r)
        self.run_duration = Histogram(
            "syncd_run_duration_seconds", "Wall time of a sync run", ["pair", "kind"],
            buckets=_DURATION_BUCKETS, registry=r,
        )
        self.last_success = Gauge(
            "syncd_last_success_timestamp_seconds", "Unix time the pair last finished a run successfully",
            ["pair"], registry=r,
        )
        self.webhook_deliveries = Counter(
            "syncd_webhook_deliveries", "Webhook requests received, by outcome",
            ["pair", "outcome"], registry=r,
        )
        self.skipped_runs = Counter(
            "syncd_runs_skipped", "Runs not started because the pair was busy", ["pair", "kind"], registry=r
        )
        self.backlog = _Backlog()
        r.register(self.backlog)
        self.build_info = Info("syncd_build", "cloze-syncd version", registry=r)
        self.build_info.info({"version": __version__})
        self._lock = threading.Lock()
        self._succeeded: set[str] = set()

    # -- ApiObserver ---------------------------------------------------------------

    def api_request(self, side: str, method: str, status: int | None, seconds: float) -> None:
        self.api_requests.labels(side=side, status_class=status_class(status)).inc()

    def api_retry(self, side: str, reason: str) -> None:
        self.api_retries.labels(side=side).inc()

    # -- runs --------------------------------------------------------------------

    def run_failed(self, pair: str, kind: str) -> None:
        """Count a run that raised instead of returning a report."""
        self.runs.labels(pair=pair, kind=kind, outcome="failed").inc()

    def observe_run(self, report: RunSummary, kind: str | None = None) -> None:
        """Count one finished run. ``kind``: ``incremental``, ``reconcile`` or ``webhook``.

        A dry run is counted as a run but moves no record counter and no success time.
        """
        kind = kind or "incremental"
        pair = report.pair
        with self._lock:
            self.runs.labels(pair=pair, kind=kind, outcome=run_outcome(report)).inc()
            self.run_duration.labels(pair=pair, kind=kind).observe(max(0.0, report.duration_s))
            if report.dry_run:
                return
            for key, count in report.reads.items():
                side, _, entity = key.partition(".")
                self.records_read.labels(pair=pair, side=side, entity=entity).inc(count)
            for key, count in report.writes.items():
                side, entity, op = (key.split(".", 2) + ["", ""])[:3]
                self.records_written.labels(pair=pair, side=side, entity=entity, op=op).inc(count)
            if report.conflicts:
                self.conflicts.labels(pair=pair).inc(report.conflicts)
            if report.record_errors:
                self.record_errors.labels(pair=pair).inc(report.record_errors)
            if report.ok and not report.stopped and kind != "webhook":
                self.set_last_success(pair, report.finished_at or datetime.now(UTC))

    def _pair_series(self, pair: str) -> Iterator[tuple[Any, dict[str, str]]]:
        """Every labelled series of one pair (the record and run counters, durations, skips)."""
        yield self.conflicts, {"pair": pair}
        yield self.record_errors, {"pair": pair}
        for kind in RUN_KINDS:
            yield self.run_duration, {"pair": pair, "kind": kind}
            yield self.skipped_runs, {"pair": pair, "kind": kind}
            for outcome in OUTCOMES:
                yield self.runs, {"pair": pair, "kind": kind, "outcome": outcome}
        for side in SIDES:
            for entity in ENTITY_KINDS:
                yield self.records_read, {"pair": pair, "side": side, "entity": entity}
                for op in WRITE_OPS:
                    yield self.records_written, {"pair": pair, "side": side, "entity": entity, "op": op}

    def track_pairs(self, pairs: Iterable[str], backlog: BacklogSource | None = None) -> None:
        """Create every series of these pairs at zero, so dashboards and alerts see them from start-up."""
        pairs = tuple(pairs)
        if backlog is not None:
            self.backlog.source = backlog
        with self._lock:
            self.backlog.pairs = tuple(sorted(set(self.backlog.pairs) | set(pairs)))
            for side in SIDES:
                self.api_retries.labels(side=side)
                for status in STATUS_CLASSES:
                    self.api_requests.labels(side=side, status_class=status)
            for pair in pairs:
                for metric, labels in self._pair_series(pair):
                    metric.labels(**labels)
                if pair not in self._succeeded:  # never synced: 0 until the first success
                    self.last_success.labels(pair=pair).set(0)

    def set_last_success(self, pair: str, when: datetime) -> None:
        """Set the pair's last success time (also used at start, from the state database)."""
        self._succeeded.add(pair)
        self.last_success.labels(pair=pair).set(when.timestamp())

    def forget_pair(self, pair: str) -> None:
        """Drop a removed pair's series so they stop being reported."""
        with self._lock:
            self.backlog.pairs = tuple(p for p in self.backlog.pairs if p != pair)
            self._succeeded.discard(pair)
            for metric, labels in [*self._pair_series(pair), (self.last_success, {"pair": pair})]:
                try:
                    metric.remove(*labels.values())
                except KeyError:
                    pass

    def webhook(self, pair: str, outcome: str) -> None:
        """Count one webhook request: ``accepted``, ``unauthorized``, ``too_large``, ``malformed``..."""
        self.webhook_deliveries.labels(pair=pair, outcome=outcome).inc()

    def skipped(self, pair: str, kind: str) -> None:
        """Count a run not started because the pair was already syncing."""
        self.skipped_runs.labels(pair=pair, kind=kind).inc()
