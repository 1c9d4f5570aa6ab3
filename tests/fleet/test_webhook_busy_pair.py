"""A webhook run that finds its pair busy (another run holds the lease) is not dropped: the change
it announces may have come after the running run read that side, so a run of the pair follows the
busy one, long before the pair's next interval."""

from __future__ import annotations

import time

from syncd.fleet.app import enqueue, new_app
from tests.fleet.rig import Fleet


def test_a_webhook_run_for_a_busy_pair_runs_after_the_busy_run(fleet: Fleet) -> None:
    # Every request takes 0.1 s: the first run (40 people to create) lasts seconds.
    [pair] = fleet.add_pairs(1, seed_people=40, latency_ms=100)
    fleet.write_config(interval=3600, concurrency=2)
    fleet.start_worker()
    first = fleet.wait_until(lambda: fleet.runs(pair), 120, "the first run started")[0]
    app = new_app(fleet.db_url)
    with app.open():
        queued_ms = int(time.time() * 1000)
        assert enqueue(app, pair, "webhook") is not None
    fleet.wait_until(lambda: fleet.runs(pair)[0]["finished_at"], 120, "the first run finished")
    assert fleet.runs(pair)[0]["finished_at"] > queued_ms, "the webhook's run was queued after the first run ended"
    # The next interval is an hour away: only the webhook's run can start the pair again.
    after = fleet.wait_until(lambda: [r for r in fleet.runs(pair) if r["id"] != first["id"]], 30,
                             "a run after the busy one")
    assert after[0]["started_at"] >= fleet.runs(pair)[0]["finished_at"]
