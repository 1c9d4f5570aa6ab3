"""A worker killed or frozen mid-run: its pair is taken over, nothing is duplicated or lost, and a
frozen worker that wakes up after the takeover writes nothing (the emulator's request log says so).
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from typing import Any

import pytest

from connectors.cloze.client import ClozeClient
from connectors.cloze.emulator import DEFAULT_API_KEY
from tests.fleet.rig import LEASE_TTL, Fleet, Worker


def _holder(fleet: Fleet, pair: str) -> tuple[Worker, int]:
    """The worker holding the pair's lease, and the epoch, once one does."""
    def find() -> tuple[Worker, int] | None:
        lease = fleet.lease(pair)
        if lease is None:
            return None
        pid = int(lease[0].split(":")[1])
        return next(((w, lease[1]) for w in fleet.workers if w.pid == pid), None)

    found: tuple[Worker, int] = fleet.wait_until(find, 60, "a worker holds the lease")
    return found


def _cloze_writes(fleet: Fleet, pair: str, epoch: int | None = None) -> list[Any]:
    return [c for c in fleet.calls(pair) if c.write and c.run and (epoch is None or c.lease == str(epoch))]


def _external_people(fleet: Fleet, pair: str) -> list[dict[str, Any]]:
    path = fleet.external_path(pair)
    if not path.exists():
        return []
    return list(json.loads(path.read_text())["items"].get("person", []))


def _assert_converged(fleet: Fleet, pair: str, seeded: int) -> None:
    """Every Cloze person once on the external side, each Cloze person linked once (no duplicate)."""
    def done() -> bool:
        people = _external_people(fleet, pair)
        return len(people) >= seeded and len(fleet.emulators[pair].store.rendered("person")) == seeded

    fleet.wait_until(done, 60, "the pair converged")
    people = _external_people(fleet, pair)
    refs = Counter(p["cloze_ref"] for p in people)
    assert len(people) == seeded, f"{len(people)} external people for {seeded} in Cloze"
    assert max(refs.values()) == 1, f"duplicated: {[r for r, n in refs.items() if n > 1]}"
    assert len(fleet.emulators[pair].store.rendered("person")) == seeded  # none created back in Cloze twice


@pytest.mark.slow
def test_sigkill_mid_run_is_taken_over_without_duplicates(fleet: Fleet) -> None:
    [pair] = fleet.add_pairs(1, seed_people=120, latency_ms=15)
    fleet.write_config(interval=5, concurrency=2)
    fleet.start_worker(), fleet.start_worker()
    victim, epoch = _holder(fleet, pair)
    fleet.wait_until(lambda: len(_cloze_writes(fleet, pair, epoch)) >= 10, 60, "the first run writes to Cloze")
    victim.signal(signal.SIGKILL)
    killed_at = time.monotonic()
    victim.wait(10)
    with ClozeClient(DEFAULT_API_KEY, base_url=fleet.emulators[pair].url, rate_per_second=None) as c:
        c.create("person", {"name": "Late Edit", "emails": [{"value": "late@example.com"}]})  # while nobody runs
    survivor = next(w for w in fleet.workers if w is not victim)
    fleet.wait_until(lambda: (fleet.lease(pair) or ("", 0))[1] > epoch, LEASE_TTL + 15, "the pair is taken over")
    assert time.monotonic() - killed_at <= LEASE_TTL + 15
    assert _holder(fleet, pair)[0] is survivor
    _assert_converged(fleet, pair, 121)
    emails = {str((p["fields"].get("emails") or [""])[0]) for p in _external_people(fleet, pair)}
    assert "late@example.com" in emails  # no lost edit
    fleet.wait_until(lambda: not fleet.sql("SELECT id FROM journal"), 30, "the create journal is settled")
    survivor.wait_event("lease_taken_over", timeout=60)  # counted in syncd_lease_takeovers_total


@pytest.mark.slow
def test_frozen_worker_writes_nothing_after_the_takeover(fleet: Fleet) -> None:
    [pair] = fleet.add_pairs(1, seed_people=150, latency_ms=15)
    fleet.write_config(interval=5, concurrency=2)
    fleet.start_worker(), fleet.start_worker()
    zombie, epoch = _holder(fleet, pair)
    fleet.wait_until(lambda: len(_cloze_writes(fleet, pair, epoch)) >= 10, 60, "the first run writes to Cloze")
    zombie.signal(signal.SIGSTOP)
    fleet.wait_until(lambda: (fleet.lease(pair) or ("", 0))[1] > epoch, LEASE_TTL + 20, "the pair is taken over")
    taken_over = time.monotonic()
    zombie.signal(signal.SIGCONT)
    _assert_converged(fleet, pair, 150)
    late = [c for c in _cloze_writes(fleet, pair, epoch) if c.started > taken_over]
    assert late == [], f"{len(late)} writes of the fenced-out run after the takeover: {late[:3]}"
    zombie.wait_event("run_failed", timeout=30)  # it found out and stopped (lease lost)


def test_sigterm_mid_run_finishes_the_batch_and_releases_the_lease(fleet: Fleet) -> None:
    [pair] = fleet.add_pairs(1, seed_people=120, latency_ms=15)
    fleet.write_config(interval=5, concurrency=2)
    worker = fleet.start_worker()
    _, epoch = _holder(fleet, pair)
    fleet.wait_until(lambda: len(_cloze_writes(fleet, pair, epoch)) >= 10, 60, "the first run writes to Cloze")
    worker.signal(signal.SIGTERM)
    assert worker.wait(40) == 0
    assert fleet.lease(pair) is None  # released, not left to expire
    assert not fleet.sql("SELECT id FROM procrastinate_jobs WHERE status = 'doing'")  # nothing for the reaper
    [run] = fleet.runs(pair)
    assert run["finished_at"] is not None
    fleet.start_worker()  # another worker picks up where it stopped
    _assert_converged(fleet, pair, 120)
