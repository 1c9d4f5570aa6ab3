"""A webhook delivery to a worker's listener queues a run of its pair: the change is synced long
before the next interval, and a burst of deliveries is one run (one waiting run per pair)."""

from __future__ import annotations

import json
import signal
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from connectors.cloze.client import ClozeClient
from connectors.cloze.emulator import DEFAULT_API_KEY
from syncd.cli_daemon import webhooks_group
from tests.daemon.procs import free_port
from tests.fleet.rig import ENV, Fleet


def _external_emails(path: Path) -> set[str]:
    if not path.exists():
        return set()
    people = json.loads(path.read_text())["items"].get("person", [])
    return {str((p["fields"].get("emails") or [""])[0]) for p in people}


def test_a_webhook_delivery_queues_a_run_of_its_pair(fleet: Fleet, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    [pair, quiet] = fleet.add_pairs(2, webhook_time_scale=0.01)
    port = free_port()
    config = fleet.write_config(interval=3600, webhooks=True, port=port)
    worker = fleet.start_worker()
    fleet.wait_until(lambda: {r["pair"] for r in fleet.runs() if r["status"] == "ok"} >= {pair, quiet}, 120,
                     "the first runs")
    result = CliRunner().invoke(webhooks_group, ["subscribe", "--config", str(config)])
    assert result.exit_code == 0, result.output
    before = len(fleet.runs(quiet))
    with ClozeClient(DEFAULT_API_KEY, base_url=fleet.emulators[pair].url, rate_per_second=None) as c:
        c.create("person", {"name": "Grace Hopper", "emails": [{"value": "grace@example.com"}]})
    created = time.monotonic()
    fleet.wait_until(lambda: "grace@example.com" in _external_emails(fleet.external_path(pair)), 20,
                     "the webhook's run synced the new person")
    assert time.monotonic() - created < 10  # the next interval is an hour away
    hook_runs = [r for r in fleet.runs(pair) if r["mode"] == "incremental"]
    assert len(hook_runs) >= 2
    assert len(fleet.runs(quiet)) == before  # only the pair the delivery named ran
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        metrics = reply.read().decode()
    assert 'syncd_runs_queued_total{kind="webhook"}' in metrics
    assert "pair=" not in metrics  # bounded cardinality: no per-pair series
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as reply:
        health = json.loads(reply.read())
    assert health["ok"] is True and health["pairs"]["fleet"]["workers_alive"] == 1
    worker.signal(signal.SIGTERM)
    assert worker.wait(30) == 0
