"""``syncd worker`` processes against real emulators and a real PostgreSQL."""

from __future__ import annotations

import json
import signal

from tests.fleet.rig import Fleet
from tests.heap_probe import START_UP_OBJECTS, probe_env


def test_workers_run_every_pair_and_stop_gracefully(fleet: Fleet) -> None:
    pairs = fleet.add_pairs(4, seed_people=3)
    fleet.write_config(interval=5, concurrency=2)
    workers = [fleet.start_worker(), fleet.start_worker()]
    fleet.wait_until(lambda: all(len([r for r in fleet.runs(p) if r["status"] == "ok"]) >= 2 for p in pairs),
                     120, "every pair ran twice")
    for w in workers:
        w.signal(signal.SIGTERM)
    assert [w.wait(40) for w in workers] == [0, 0]
    assert all(fleet.lease(p) is None for p in pairs)  # every lease released
    for p in pairs:
        assert fleet.emulators[p].stats.call_log()[0].run is not None  # requests carry the run id


def test_sighup_reloads_the_config_and_a_new_pair_runs(fleet: Fleet) -> None:
    [first] = fleet.add_pairs(1)
    fleet.write_config(interval=3600)
    worker = fleet.start_worker()
    fleet.wait_until(lambda: fleet.runs(first), 120, "the first pair ran")
    [added] = fleet.add_pairs(1)
    fleet.write_config(interval=3600)
    worker.signal(signal.SIGHUP)
    worker.wait_event("config reloaded", timeout=60)
    fleet.wait_until(lambda: fleet.runs(added), 60, "the added pair ran without a restart")
    assert len(fleet.runs(first)) == 1  # its next run is an hour away
    worker.signal(signal.SIGTERM)
    assert worker.wait(40) == 0


def test_a_worker_freezes_its_start_up_and_leaves_the_collector_on(fleet: Fleet) -> None:
    [pair] = fleet.add_pairs(1, seed_people=3)
    fleet.write_config(interval=3600)
    env, out = probe_env(fleet.tmp)
    worker = fleet.start_worker(env)
    fleet.wait_until(lambda: [r for r in fleet.runs(pair) if r["status"] == "ok"], 120, "the pair ran")
    worker.signal(signal.SIGTERM)
    assert worker.wait(40) == 0
    heap = json.loads(out.read_text())
    assert heap["frozen"] > START_UP_OBJECTS
    assert heap["enabled"] is True
