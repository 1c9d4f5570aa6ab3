"""/metrics gauges of the activity backfill, read from the state database at each scrape.

``syncd_activity_backfill_total{pair,kind}``: activities in the backfill window;
``syncd_activity_backfill_done{pair,kind}``: how many of them were planned so far;
``syncd_activity_backfill_estimated_end_timestamp_seconds{pair,kind}``: when, at the pace so
far, the backfill ends (0 once finished or while there is no pace yet). Labels name pairs and
kinds only, never an activity.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

ProgressSource = Callable[[], Mapping[str, Sequence[Mapping[str, object]]]]
"""pair -> the backfill rows of :func:`syncd.engine.activities.progress`."""


class ActivityBackfill(Collector):
    def __init__(self, source: ProgressSource) -> None:
        self.source = source

    def collect(self) -> Iterable[GaugeMetricFamily]:
        labels = ["pair", "kind"]
        total = GaugeMetricFamily("syncd_activity_backfill_total", "Activities in the backfill window", labels=labels)
        done = GaugeMetricFamily("syncd_activity_backfill_done", "Activities of the backfill window planned so far",
                                 labels=labels)
        eta = GaugeMetricFamily("syncd_activity_backfill_estimated_end_timestamp_seconds",
                                "Unix time the backfill should end at its pace so far (0: finished or unknown)",
                                labels=labels)
        try:
            rows = dict(self.source())
        except Exception:  # noqa: BLE001 - a locked or missing database must not break /metrics
            rows = {}
        for pair, kinds in sorted(rows.items()):
            for row in kinds:
                key = [pair, str(row["kind"])]
                total.add_metric(key, float(_number(row.get("total"))))
                done.add_metric(key, float(_number(row.get("done"))))
                end = row.get("estimated_end_ms")
                eta.add_metric(key, _number(end) / 1000 if not row.get("finished") else 0.0)
        return [total, done, eta]


def _number(value: object) -> float:
    return float(value) if isinstance(value, (int, float)) else 0.0
