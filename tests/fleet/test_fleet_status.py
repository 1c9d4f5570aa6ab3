"""``syncd fleet status`` reads the fleet's figures from the state database: before any worker (no
queue yet, a lease left expired by a dead holder), while one worker with one slot works through
three slow pairs (a run in flight, runs queued), and after it took the dead holder's pair over."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from state.store import StateStore
from syncd.cli import main
from syncd.fleet.status import fleet_status
from tests.fleet.rig import ENV, Fleet


def _status(config: Path, *extra: str) -> Any:
    result = CliRunner().invoke(main, ["fleet", "status", "--config", str(config), *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.output) if "--json" in extra else result.output


@pytest.mark.slow
def test_fleet_status_shows_queue_in_flight_lag_and_takeovers(fleet: Fleet, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    pairs = fleet.add_pairs(3, seed_people=2, latency_ms=150)  # a run takes a few seconds
    config = fleet.write_config(interval=3600, concurrency=1)
    store = StateStore.open(fleet.db_url)
    try:
        assert store.claim_lease(pairs[0], "gone-host:4242", 0.05) is not None  # its holder dies
        time.sleep(0.2)
        before = _status(config, "--json")
        assert before["queue_ready"] is False and before["workers_alive"] == 0
        assert before["leases_expired_unreleased"] == 1 and before["lease_takeovers"] == 0

        fleet.start_worker()
        seen: dict[str, int] = {}

        def busy() -> bool:
            try:
                now = fleet_status(store.engine, stall_after=3.0)
            except Exception:  # noqa: BLE001 - the worker is still creating the queue's tables
                return False
            if now.runs_in_flight == 1 and now.queue_depth >= 1:
                seen.update(in_flight=now.runs_in_flight, depth=now.queue_depth,
                            incremental=now.queued_by_kind["incremental"], workers=now.workers_alive)
            return bool(seen)

        fleet.wait_until(busy, 120, "a run in flight with runs queued behind it")
        assert seen["incremental"] == seen["depth"] and seen["workers"] == 1
        fleet.wait_until(lambda: {r["pair"] for r in fleet.runs() if r["status"] == "ok"} >= set(pairs), 120,
                         "every pair's first run")
        after = _status(config, "--json")
        assert after["queue_ready"] is True and after["workers_alive"] == 1
        assert after["runs_in_flight"] == 0 and after["queue_depth"] == 0
        assert after["pairs_scheduled"] == 3 and after["runs_due"] == 0
        assert after["schedule_lag_seconds"] == 0  # the next runs are an hour away
        assert after["lease_takeovers"] == 1 and after["leases_expired_unreleased"] == 0
        table = _status(config)
        assert "lease takeovers" in table and "workers alive" in table and "schedule lag" in table
    finally:
        store.close()
