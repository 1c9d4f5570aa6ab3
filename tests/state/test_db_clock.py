"""Lease times on PostgreSQL come from the database server's clock: workers on hosts whose clocks
are minutes apart agree on when a lease expires. A worker on another host is simulated by
injecting its wall clock (minutes off) and its boot id (another host's) into the state store
of a separate process or of this one."""

from __future__ import annotations

import multiprocessing
import time

import pytest
from sqlalchemy import text

import state.store
from state.store import StateStore

TTL = 6.0  # long enough that opening a second store on a loaded machine stays within it
MINUTES = 60_000


def _on_another_host(monkeypatch: pytest.MonkeyPatch, skew_ms: int) -> None:
    """This process now acts as a worker on another host, whose clock is ``skew_ms`` off."""
    real = state.store.wall_ms
    monkeypatch.setattr(state.store, "wall_ms", lambda: real() + skew_ms)
    monkeypatch.setattr(state.store, "boot_id", lambda: f"elsewhere-{skew_ms}/boot")


def _take_over(store: StateStore, owner: str, limit: float) -> tuple[int, int]:
    """Claim until it is won; the epoch and the database's time of the win."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        epoch = store.claim_lease("p", owner, 60)
        if epoch is not None:
            return epoch, store.database_now_ms()
        time.sleep(0.05)
    raise AssertionError(f"{owner} never took the lease over within {limit} s")


@pytest.mark.parametrize("skew_minutes", [10, -10])
def test_a_worker_with_a_skewed_clock_takes_a_lease_over_exactly_when_it_expires(
        pg_url: str, monkeypatch: pytest.MonkeyPatch, skew_minutes: int) -> None:
    holder = StateStore.open(pg_url)
    first = holder.claim_lease("p", "worker-a", TTL)
    assert first == 1
    lease = holder.lease_holder("p")
    assert lease is not None and lease.expires_at == lease.acquired_at + TTL * 1000
    claimed_at = lease.acquired_at  # by the database's clock
    assert abs(claimed_at - holder.database_now_ms()) < 1_000
    holder.close()

    _on_another_host(monkeypatch, skew_minutes * MINUTES)
    other = StateStore.open(pg_url)
    try:
        # Ten minutes ahead, the lease looked expired at once; ten minutes behind, it would have
        # stayed live ten more minutes. By the database's clock it is live for TTL, then free.
        assert other.claim_lease("p", "worker-b", 60) is None
        live = other.lease_holder("p")
        assert live is not None and live.owner == "worker-a"
        epoch, won_at = _take_over(other, "worker-b", limit=TTL + 10)
        assert epoch == first + 1
        assert claimed_at + TTL * 1000 <= won_at <= claimed_at + TTL * 1000 + 3_000, (claimed_at, won_at)
        taken = other.lease_holder("p")
        assert taken is not None and taken.owner == "worker-b" and taken.boot_id == ""
    finally:
        other.close()


RACERS = 6


def _skewed_claim(url: str, owner: str, skew_ms: int, ready: object, go: object, out: object) -> None:
    mp = pytest.MonkeyPatch()
    _on_another_host(mp, skew_ms)
    store = StateStore.open(url)
    try:
        ready.put(owner)  # type: ignore[attr-defined]
        go.wait()  # type: ignore[attr-defined]
        try:
            out.put((owner, store.claim_lease("p", owner, 60)))  # type: ignore[attr-defined]
        except Exception as exc:  # noqa: BLE001 - the failure the test looks for
            out.put((owner, f"error: {type(exc).__name__}: {exc}"))  # type: ignore[attr-defined]
    finally:
        store.close()
        mp.undo()


def _race(url: str) -> list[object]:
    ctx = multiprocessing.get_context("fork")
    ready, out, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    skews = [(-5 + 2 * i) * MINUTES for i in range(RACERS)]  # -5, -3, -1, +1, +3, +5 minutes
    procs = [ctx.Process(target=_skewed_claim, args=(url, f"racer{i}", skew, ready, go, out))
             for i, skew in enumerate(skews)]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=60)
    go.set()
    results = [out.get(timeout=60)[1] for _ in procs]
    for p in procs:
        p.join(timeout=60)
    return results


def test_workers_with_clocks_minutes_apart_never_take_a_live_lease_and_one_takes_the_expired_one(
        pg_url: str) -> None:
    store = StateStore.open(pg_url)
    try:
        assert store.claim_lease("p", "holder", 120) == 1  # racers 3 and 5 minutes ahead saw it expired
        assert _race(pg_url) == [None] * RACERS  # live by the database's clock, whatever theirs say
        with store.engine.begin() as conn:  # the holder stopped renewing: expired a moment ago, by that clock
            conn.execute(text("UPDATE leases SET expires_at = CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 "
                              "AS BIGINT) - 1 WHERE pair = 'p'"))
        results = _race(pg_url)
        assert sorted(results, key=lambda r: (r is not None, str(r))) == [None] * (RACERS - 1) + [2], results
        holder = store.lease_holder("p")
        assert holder is not None and holder.owner.startswith("racer") and holder.epoch == 2
    finally:
        store.close()
