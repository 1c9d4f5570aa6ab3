"""Many small pairs over several workers: every pair runs about as often as the others (Jain's
index), none waits long past its due time (schedule lag), and no pair ever runs on two workers at
once (in the emulators' request logs and in the ``runs`` table).

CI runs a small fleet for half a minute; ``SYNCD_LONG=1`` runs 1,000 pairs over 3 workers for ten
minutes at a 60 s interval, each pair's runs offset within it by its share of a 60 s jitter (as a
fleet of many pairs is configured: without it every pair is due at the same instant).
"""

from __future__ import annotations

import itertools
import os
import time
from collections import Counter

import pytest

from state import schedule
from tests.fleet.rig import Fleet, jain, overlapping_runs

LONG = os.environ.get("SYNCD_LONG") == "1"
PAIRS, WORKERS, CONCURRENCY = (1000, 3, 8) if LONG else (9, 3, 2)
INTERVAL, JITTER, DURATION = (60.0, 60.0, 600.0) if LONG else (5.0, 0.0, 20.0)
# Starting 1,000 emulators, every pair's first run, then the window: past the suite's 300 s timeout.
pytestmark: list[pytest.MarkDecorator] = [pytest.mark.timeout(1800)] if LONG else []


def _lag_seconds(fleet: Fleet) -> float:
    from sqlalchemy import create_engine

    engine = create_engine(fleet.db_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            return schedule.lag_ms(conn, schedule.db_now_ms(conn)) / 1000
    finally:
        engine.dispose()


@pytest.mark.slow
def test_many_small_pairs_are_scheduled_fairly_and_never_run_twice_at_once(fleet: Fleet) -> None:
    pairs = fleet.add_pairs(PAIRS, seed_people=2)
    fleet.write_config(interval=INTERVAL, jitter=JITTER, concurrency=CONCURRENCY)
    for _ in range(WORKERS):
        fleet.start_worker()
    # generous: worker processes start slowly on a loaded machine
    fleet.wait_until(lambda: {r["pair"] for r in fleet.runs()} >= set(pairs), 120 + INTERVAL + JITTER, "every pair ran once")
    # The measured window is the steady state: first runs (each pair's initial sync) cost several
    # times a quiet run, so 1,000 of them fall behind their jitter window on 2 cores; the window
    # starts once that backlog is worked off (the schedule is back on time).
    fleet.wait_until(lambda: _lag_seconds(fleet) < 1.0, 2 * INTERVAL + 60, "the first round's backlog worked off")
    start_ms = int(time.time() * 1000)
    lags = []
    deadline = time.monotonic() + DURATION
    while time.monotonic() < deadline:
        lags.append(_lag_seconds(fleet))
        time.sleep(0.5)
    end_ms = int(time.time() * 1000)
    runs = fleet.runs()
    window = Counter(r["pair"] for r in runs if start_ms <= r["started_at"] < end_ms)
    counts = [window.get(p, 0) for p in pairs]
    least_expected = int(DURATION // INTERVAL) - 1
    lags.sort()
    p99 = lags[min(len(lags) - 1, int(0.99 * len(lags)))]
    print(f"\n{PAIRS} pairs over {WORKERS} workers x {CONCURRENCY}, interval {INTERVAL:g} s, {DURATION:g} s: "
          f"runs per pair {min(counts)} to {max(counts)}, Jain {jain(counts):.3f}; "
          f"schedule lag p50 {lags[len(lags) // 2]:.2f} s, p99 {p99:.2f} s")
    assert min(counts) >= least_expected, f"a pair starved: {sorted(counts)[:5]} (expected >= {least_expected})"
    assert jain(counts) >= 0.95, sorted(counts)
    assert p99 < 10, f"schedule lag p99 {p99:.1f} s"
    for pair in pairs:
        assert overlapping_runs(fleet.calls(pair)) == [], pair
        spans = sorted((r["started_at"], r["finished_at"] or end_ms) for r in runs if r["pair"] == pair)
        assert all(b[0] >= a[1] for a, b in itertools.pairwise(spans)), f"{pair}: runs overlap in the runs table"
