"""Pair leases under contention: many processes claim one pair at the same instant, on a free
lease, on an expired one and on one left by a killed process; exactly one wins every round."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from state.store import StateStore

ROUNDS = 15
RACERS = 6


def _claim(path: str, owner: str, ready: object, go: object, out: object) -> None:
    store = StateStore.open(Path(path))
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


def _race(path: Path) -> list[str]:
    ctx = multiprocessing.get_context("fork")
    ready, out, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=_claim, args=(str(path), f"racer{i}", ready, go, out)) for i in range(RACERS)]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=60)
    go.set()
    results = [out.get(timeout=60)[1] for _ in procs]
    for p in procs:
        p.join(timeout=60)
    return results


def _expire(path: Path, owner: str = "gone") -> None:
    conn = sqlite3.connect(path)
    conn.execute("UPDATE leases SET owner = ?, expires_at = 0, mono_expires = 0", (owner,))
    assert conn.total_changes == 1
    conn.commit()
    conn.close()


@pytest.mark.parametrize("start", ["free", "expired"])
def test_exactly_one_process_wins_a_lease_claimed_at_once(tmp_path: Path, start: str) -> None:
    for round_no in range(ROUNDS):
        path = tmp_path / f"r{round_no}.db"
        store = StateStore.open(path)
        if start == "expired":
            assert store.acquire_lease("p", "earlier", 60)
        store.close()
        if start == "expired":
            _expire(path)
        results = _race(path)
        assert sorted(results) == ["lost"] * (RACERS - 1) + ["won"], f"round {round_no}: {results}"


def test_a_lease_left_by_a_killed_process_is_taken_over_by_exactly_one(tmp_path: Path) -> None:
    from syncd.engine.runner import take_lease

    ctx = multiprocessing.get_context("fork")
    dead = ctx.Process(target=lambda: None)
    dead.start()
    dead.join()
    import socket

    for round_no in range(ROUNDS):
        path = tmp_path / f"k{round_no}.db"
        store = StateStore.open(path)
        assert store.acquire_lease("p", f"{socket.gethostname()}:{dead.pid}:run", 600)
        store.close()

        def claim(path: str, owner: str, ready: object, go: object, out: object) -> None:
            s = StateStore.open(Path(path))
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
        procs = [ctx.Process(target=claim, args=(str(path), f"{socket.gethostname()}:1:r{i}", ready, go, out))
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
