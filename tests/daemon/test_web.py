"""Metrics and the HTTP listener (/metrics, /healthz, /webhooks/cloze/<pair>) on a real socket."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from connectors.cloze.notifications import pair_token
from connectors.errors import ConfigError
from syncd.engine.report import RunReport
from syncd.metrics import Metrics, status_class
from syncd.web import Health, HttpListener, is_loopback, make_app
from syncd.webhooks import Batch, ReceiverConfig, WebhookReceiver
from tests.daemon.cloze_hooks import cloze_sources

SECRET = "another-secret-value"


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client import generate_latest

    out = {}
    for family in text_string_to_metric_families(generate_latest(metrics.registry).decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def report(**kw: object) -> RunReport:
    start = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
    base: dict[str, object] = {
        "run_id": "r1", "pair": "main", "mode": "incremental",
        "started_at": start, "finished_at": start + timedelta(seconds=4),
        "reads": Counter({"cloze.person": 3, "external.company": 2}),
        "writes": Counter({"external.person.update": 2, "cloze.company.create": 1}),
        "conflicts": 1, "record_errors": 2,
    }
    base.update(kw)
    return RunReport(**base)  # type: ignore[arg-type]


def test_metrics_names_and_labels() -> None:
    m = Metrics(process_metrics=False)
    m.api_request("cloze", "GET", 200, 0.1)
    m.api_request("cloze", "GET", 429, 0.1)
    m.api_request("external", "POST", None, 30.0)
    m.api_retry("cloze", "429")
    m.observe_run(report())
    m.observe_run(report(run_id="r2", ok=False, error="boom"), "reconcile")
    m.observe_run(report(run_id="r3", dry_run=True))
    s = samples(m)
    assert s[("syncd_records_read_total", (("entity", "person"), ("pair", "main"), ("side", "cloze")))] == 6
    assert s[("syncd_records_written_total",
              (("entity", "person"), ("op", "update"), ("pair", "main"), ("side", "external")))] == 4
    assert s[("syncd_conflicts_total", (("pair", "main"),))] == 2
    assert s[("syncd_record_errors_total", (("pair", "main"),))] == 4
    assert s[("syncd_api_requests_total", (("side", "cloze"), ("status_class", "2xx")))] == 1
    assert s[("syncd_api_requests_total", (("side", "cloze"), ("status_class", "4xx")))] == 1
    assert s[("syncd_api_requests_total", (("side", "external"), ("status_class", "error")))] == 1
    assert s[("syncd_api_retries_total", (("side", "cloze"),))] == 1
    assert s[("syncd_run_duration_seconds_count", (("kind", "incremental"), ("pair", "main")))] == 2
    assert s[("syncd_runs_total", (("kind", "reconcile"), ("outcome", "failed"), ("pair", "main")))] == 1
    # only the successful real run sets the success time (not the failed one, not the dry run)
    finished = report().finished_at
    assert finished is not None
    assert s[("syncd_last_success_timestamp_seconds", (("pair", "main"),))] == finished.timestamp()
    assert ("syncd_build_info", (("version", "0.1.0"),)) in s
    assert status_class(503) == "5xx"


def test_webhook_runs_do_not_count_as_pair_success() -> None:
    m = Metrics(process_metrics=False)
    m.observe_run(report(), "webhook")
    assert not any(name == "syncd_last_success_timestamp_seconds" for name, _ in samples(m))


class Served:
    def __init__(self, listener: HttpListener, queued: list[tuple[str, Batch]], metrics: Metrics) -> None:
        self.listener = listener
        self.queued = queued
        self.metrics = metrics
        self.health = Health(ok=True, pairs={"main": {"ok": True}})


@pytest.fixture
def served() -> Iterator[Served]:
    metrics = Metrics()
    queued: list[tuple[str, Batch]] = []
    receiver = WebhookReceiver(
        ReceiverConfig(cloze_sources(SECRET, ["main"]), max_body_bytes=2048),
        lambda pair, batch: queued.append((pair, batch)),
        count=metrics.webhook,
    )
    holder: list[Served] = []
    app = make_app(registry=metrics.registry, health=lambda: holder[0].health, webhooks=lambda: receiver)
    listener = HttpListener(app, "127.0.0.1", 0)
    listener.start()
    holder.append(Served(listener, queued, metrics))
    yield holder[0]
    listener.stop()


def test_metrics_endpoint(served: Served) -> None:
    served.metrics.api_request("cloze", "GET", 200, 0.2)
    r = httpx.get(served.listener.url + "/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert 'syncd_api_requests_total{side="cloze",status_class="2xx"} 1.0' in r.text
    assert "process_resident_memory_bytes" in r.text  # the process collector works here


def test_healthz(served: Served) -> None:
    r = httpx.get(served.listener.url + "/healthz")
    assert r.status_code == 200 and r.json()["ok"] is True
    served.health = Health(ok=False, pairs={"main": {"ok": False, "age_s": 9999.0}, "eu": {"ok": True}})
    r = httpx.get(served.listener.url + "/healthz")
    assert r.status_code == 503 and r.json()["stale"] == ["main"]


def test_webhook_over_http(served: Served) -> None:
    url = served.listener.url + "/webhooks/cloze/main"
    body = json.dumps([{"person": {"direct": "P1"}, "changes": {}, "event": "person.change"}])
    r = httpx.post(url, content=body)
    assert r.status_code == 401 and served.queued == []
    r = httpx.post(url, params={"token": pair_token(SECRET, "main")}, content=body,
                   headers={"X-Cloze-Subscription-ID": "abc"})
    assert (r.status_code, r.text, r.headers["content-type"]) == (200, "OK", "text/plain; charset=utf-8")
    assert served.queued[0][1].only() == {"person": frozenset({"P1"})}
    r = httpx.post(url, params={"token": pair_token(SECRET, "main")}, content=b"x" * 4096)
    assert r.status_code == 413
    r = httpx.post(url, params={"token": pair_token(SECRET, "main")}, content=b"{nope")
    assert r.status_code == 400
    assert httpx.get(url).status_code == 405
    assert httpx.get(served.listener.url + "/nothing").status_code == 404
    assert httpx.post(served.listener.url + "/metrics").status_code == 405
    text = httpx.get(served.listener.url + "/metrics").text
    assert 'syncd_webhook_deliveries_total{outcome="accepted",pair="main"} 1.0' in text
    assert 'syncd_webhook_deliveries_total{outcome="unauthorized",pair="main"} 1.0' in text


def test_listener_refuses_non_loopback_unless_allowed() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.0.2.1")
    app = make_app(registry=Metrics(process_metrics=False).registry, health=lambda: Health(True, {}),
                   webhooks=lambda: None)
    with pytest.raises(ConfigError):
        HttpListener(app, "0.0.0.0", 0)
    taken = HttpListener(app, "127.0.0.1", 0)
    taken.start()
    try:
        with pytest.raises(ConfigError, match="could not bind"):
            HttpListener(app, "127.0.0.1", taken.port).start()
    finally:
        taken.stop()
