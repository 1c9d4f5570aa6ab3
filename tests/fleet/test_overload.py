"""Under overload every pair slows equally: a worker with fewer run slots than the pairs' schedules
need runs every pair about as often as every other (Jain's index over runs per pair), and no pair
starves (each pair's longest wait between two of its runs stays within a few times the average).

8 pairs due every 5 s, each run about 2 s (every emulator request takes 300 ms: wall time, not
CPU), on one worker with 2 slots: the schedules ask for about twice what the fleet can do.
"""

from __future__ import annotations

import itertools
import time
from collections import defaultdict

import pytest

from tests.fleet.rig import Fleet, jain

PAIRS, CONCURRENCY, INTERVAL, DURATION = 8, 2, 5.0, 40.0


@pytest.mark.slow
def test_under_overload_every_pair_slows_equally_and_none_starves(fleet: Fleet) -> None:
    pairs = fleet.add_pairs(PAIRS, seed_people=2, latency_ms=300)
    fleet.write_config(interval=INTERVAL, concurrency=CONCURRENCY)
    fleet.start_worker()
    fleet.wait_until(lambda: {r["pair"] for r in fleet.runs()} >= set(pairs), 120, "every pair ran once")
    start_ms = int(time.time() * 1000)
    time.sleep(DURATION)
    end_ms = int(time.time() * 1000)
    runs = fleet.runs()
    # The worker does [fleet] concurrency runs at once, no more (its tick and reaper are not runs).
    edges = sorted([(r["started_at"], 1) for r in runs] + [(r["finished_at"] or end_ms, -1) for r in runs],
                   key=lambda e: (e[0], e[1]))
    at_once = max(itertools.accumulate(step for _, step in edges))
    assert at_once <= CONCURRENCY, f"{at_once} runs at once on a worker with {CONCURRENCY} slots"
    starts: dict[str, list[int]] = defaultdict(list)
    for run in runs:
        if start_ms <= run["started_at"] < end_ms:
            starts[run["pair"]].append(run["started_at"])
    counts = [len(starts[p]) for p in pairs]
    asked = DURATION / INTERVAL  # runs per pair the schedules ask for in the window
    mean = sum(counts) / len(counts)
    assert mean < 0.8 * asked, f"not overloaded: {mean:.1f} runs per pair of {asked:.0f} asked"
    assert jain(counts) >= 0.95, f"runs per pair {sorted(counts)}: Jain {jain(counts):.3f}"
    assert min(counts) >= mean / 2, f"a pair starved: runs per pair {sorted(counts)}"
    fair_gap = (end_ms - start_ms) / mean  # each pair's average time between runs under this load
    for pair in pairs:
        edges = [start_ms, *sorted(starts[pair]), end_ms]
        longest = max(b - a for a, b in itertools.pairwise(edges))
        assert longest <= 3 * fair_gap, f"{pair} waited {longest / 1000:.1f} s (fair: {fair_gap / 1000:.1f} s)"
