"""Pair leases under contention: many processes claim one pair at the same instant, on a free
lease, on an expired one and on one left by a killed process; exactly one wins every round,
on a SQLite file and on PostgreSQL (where two READ COMMITTED transactions racing through a
read-then-write claim both won; the claim is one conditional ``INSERT … ON CONFLICT … DO UPDATE
… WHERE`` that the loser finds already taken)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
from sqlalchemy import text

from state.store import StateStore
from tests.state.conftest import NewLocation

ROUNDS = 15
RACERS = 6


def _claim(location: Path | str, owner: str, ready: object, go: object, out: object) -> None:
    store = StateStore.open(location)
    try:
        ready.put(owner)  # type: ignore[attr-defined]
        go.wait()  # type: ignore[attr-defined]
        try:
            won = store.acquire_lease("p", owner, 60)
            out.put((owner, "won" if won else "lost"))  # type: ignore[attr-defined]
        except Exception as exc:  # noqa: BLE001 - the failure the test looks for
            out.put((owner, f"error: {type(exc).__name__}: {exc}"))  # type: ignore[attr-defined]
    finally:
        store.close()


def _race(location: Path | str) -> list[str]:
    ctx = multiprocessing.get_context("fork")
    ready, out, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=_claim, args=(location, f"racer{i}", ready, go, out)) for i in range(RACERS)]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=60)
    go.set()
    results = [out.get(timeout=60)[1] for _ in procs]
    for p in procs:
        p.join(timeout=60)
    return results


def _expire(store: StateStore, owner: str = "gone", pair: str = "p") -> None:
    """The holder stopped renewing long ago (by both clocks)."""
    with store.engine.begin() as conn:
        changed = conn.execute(text("UPDATE leases SET owner = :owner, expires_at = 0, mono_expires = 0 "
                                    "WHERE pair = :pair"), {"owner": owner, "pair": pair}).rowcount
    assert changed == 1


@pytest.mark.parametrize("start", ["free", "expired"])
def test_exactly_one_process_wins_a_lease_claimed_at_once(new_state_location: NewLocation, start: str) -> None:
    for round_no in range(ROUNDS):
        location = new_state_location()
        store = StateStore.open(location)
        if start == "expired":
            assert store.acquire_lease("p", "earlier", 60)
            _expire(store)
        store.close()
        results = _race(location)
        assert sorted(results) == ["lost"] * (RACERS - 1) + ["won"], f"round {round_no}: {results}"


def test_a_lease_left_by_a_killed_process_is_taken_over_by_exactly_one(new_state_location: NewLocation) -> None:
    from syncd.engine.runner import take_lease

    ctx = multiprocessing.get_context("fork")
    dead = ctx.Process(target=lambda: None)
    dead.start()
    dead.join()
    import socket

    for round_no in range(ROUNDS):
        location = new_state_location()
        store = StateStore.open(location)
        assert store.acquire_lease("p", f"{socket.gethostname()}:{dead.pid}:run", 600)
        store.close()

        def claim(location: Path | str, owner: str, ready: object, go: object, out: object) -> None:
            s = StateStore.open(location)
            try:
                ready.put(owner)  # type: ignore[attr-defined]
                go.wait()  # type: ignore[attr-defined]
                try:
                    won = take_lease(s, "p", owner)
                    out.put((owner, "won" if won else "lost"))  # type: ignore[attr-defined]
                except Exception as exc:  # noqa: BLE001
                    out.put((owner, f"error: {type(exc).__name__}: {exc}"))  # type: ignore[attr-defined]
            finally:
                s.close()

        ready, out, go = ctx.Queue(), ctx.Queue(), ctx.Event()
        procs = [ctx.Process(target=claim, args=(location, f"{socket.gethostname()}:1:r{i}", ready, go, out))
                 for i in range(RACERS)]
        for p in procs:
            p.start()
        for _ in procs:
            ready.get(timeout=60)
        go.set()
        results = [out.get(timeout=60)[1] for _ in procs]
        for p in procs:
            p.join(timeout=60)
        assert sorted(results) == ["lost"] * (RACERS - 1) + ["won"], f"round {round_no}: {results}"


TWO_PROCESS_ROUNDS = 150


def _contender(location: Path | str, owner: str, rounds: int, barrier: object, out: object) -> None:
    """One worker: each round, claim that round's pair the instant the other worker does."""
    store = StateStore.open(location)
    try:
        for n in range(rounds):
            barrier.wait(timeout=60)  # type: ignore[attr-defined]
            try:
                epoch = store.claim_lease(f"pair-{n}", owner, 60)
                out.put((n, owner, epoch))  # type: ignore[attr-defined]
            except Exception as exc:  # noqa: BLE001 - the failure the test looks for
                out.put((n, owner, f"error: {type(exc).__name__}: {exc}"))  # type: ignore[attr-defined]
    finally:
        store.close()


def test_two_worker_processes_racing_round_after_round_have_exactly_one_winner(
        new_state_location: NewLocation) -> None:
    """Two real processes, one pair per round: a third free, a third expired, a third released;
    exactly one gets an epoch, one past the lease's last, and the loser gets None (no error)."""
    location = new_state_location()
    store = StateStore.open(location)
    last_epoch: dict[int, int] = {}
    for n in range(TWO_PROCESS_ROUNDS):
        if n % 3 == 0:
            continue  # free: no row yet, both INSERTs race
        epoch = store.claim_lease(f"pair-{n}", "earlier", 60)
        assert epoch is not None
        last_epoch[n] = epoch
        if n % 3 == 1:
            _expire(store, pair=f"pair-{n}")
        else:
            store.release_lease(f"pair-{n}", "earlier", epoch)
    ctx = multiprocessing.get_context("fork")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_contender, args=(location, owner, TWO_PROCESS_ROUNDS, barrier, out))
             for owner in ("worker-a", "worker-b")]
    for p in procs:
        p.start()
    results: dict[int, list[tuple[str, object]]] = {}
    for _ in range(2 * TWO_PROCESS_ROUNDS):
        n, owner, epoch = out.get(timeout=120)
        results.setdefault(n, []).append((owner, epoch))
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    for n in range(TWO_PROCESS_ROUNDS):
        epochs = sorted((e for _, e in results[n]), key=lambda e: (e is not None, str(e)))
        assert epochs[0] is None and isinstance(epochs[1], int), f"round {n}: {results[n]}"
        assert epochs[1] == last_epoch.get(n, 0) + 1, f"round {n}: {results[n]}"
        winner = next(o for o, e in results[n] if e is not None)
        holder = store.lease_holder(f"pair-{n}")
        assert holder is not None and holder.owner == winner and holder.epoch == epochs[1]
    store.close()
