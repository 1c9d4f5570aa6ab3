"""The tick and the reaper, in this process against a real PostgreSQL (no worker running)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import procrastinate
import pytest
from procrastinate.jobs import Status
from sqlalchemy import text

from config.models import ScheduleConfig
from state import budget, schedule
from state.store import StateStore
from syncd.fleet import tick as ticking
from syncd.fleet.app import RUN_TASK, enqueue, ensure_queue_schema, new_app
from tests.pgserver import PostgresServer


@pytest.fixture
def world(postgres: PostgresServer) -> Iterator[tuple[StateStore, procrastinate.App]]:
    url = postgres.new_database()
    store = StateStore.open(url)
    assert ensure_queue_schema(store.engine) is True
    assert ensure_queue_schema(store.engine) is False  # a second worker finds it there
    app = new_app(url)
    with app.open():
        yield store, app
    store.close()


def _todo(store: StateStore) -> list[tuple[str, str, int]]:
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT queueing_lock, args->>'kind', priority FROM procrastinate_jobs "
                                 "WHERE status = 'todo' ORDER BY id")).all()
    return [(str(a), str(b), int(c)) for a, b, c in rows]


def _due(store: StateStore) -> dict[tuple[str, str], int]:
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT pair, kind, next_due_at FROM pair_schedule")).all()
    return {(str(p), str(k)): int(d) for p, k, d in rows}


def _now(store: StateStore) -> int:
    with store.engine.connect() as conn:
        return schedule.db_now_ms(conn)


def _make_overdue(store: StateStore, pair: str, seconds: int) -> None:
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE pair_schedule SET next_due_at = next_due_at - :ms WHERE pair = :p"),
                     {"ms": seconds * 1000, "p": pair})


def test_the_tick_queues_earliest_due_first_at_most_twice_the_free_slots(
        world: tuple[StateStore, procrastinate.App]) -> None:
    store, app = world
    pairs = {f"p{i}": ScheduleConfig(interval=60, jitter=0) for i in range(6)}
    ticking.sync_schedule(store.engine, pairs)
    for i, pair in enumerate(pairs):
        _make_overdue(store, pair, 10 - i)  # p0 the most overdue
    result = ticking.tick(store.engine, app, pairs, concurrency=2, stall_after=30)  # no live worker: 1 x 2 slots
    assert [row.pair for row in result.queued] == ["p0", "p1", "p2", "p3"]
    assert _todo(store) == [(f"incremental:p{i}", "incremental", 0) for i in range(4)]
    due, now = _due(store), _now(store)
    # advanced by the interval from when each was due: the grid holds however late the tick ran
    assert all(now + 40_000 < due[(f"p{i}", "incremental")] <= now + 56_000 for i in range(4))
    assert all(due[(f"p{i}", "incremental")] < now - 4_000 for i in (4, 5))  # still due, next tick
    again = ticking.tick(store.engine, app, pairs, concurrency=2, stall_after=30)
    assert again.queued == [] and again.depth == 4  # the queue is full: nothing more until runs start


def test_a_pair_a_whole_interval_behind_is_due_once_not_once_per_missed_interval(
        world: tuple[StateStore, procrastinate.App]) -> None:
    store, app = world
    pairs = {"a": ScheduleConfig(interval=60, jitter=0, reconcile_cron=None)}
    ticking.sync_schedule(store.engine, pairs)
    _make_overdue(store, "a", 600)  # ten intervals missed (the fleet was down)
    assert len(ticking.tick(store.engine, app, pairs, concurrency=1, stall_after=30).queued) == 1
    assert _due(store)[("a", "incremental")] <= _now(store)  # due again at once: it is late
    assert ticking.tick(store.engine, app, pairs, concurrency=1, stall_after=30).queued[0].pair == "a"
    assert len(_todo(store)) == 1  # still one waiting run, not a backlog of ten


def test_one_waiting_run_per_pair_and_kind(world: tuple[StateStore, procrastinate.App]) -> None:
    store, app = world
    assert enqueue(app, "a", "webhook") is not None
    assert enqueue(app, "a", "webhook") is None  # a burst of deliveries: one waiting run
    assert enqueue(app, "a", "incremental") is not None  # another kind may wait beside it
    assert enqueue(app, "b", "webhook") is not None
    assert sorted(_todo(store)) == [("incremental:a", "incremental", 0), ("webhook:a", "webhook", 10),
                                    ("webhook:b", "webhook", 10)]


def test_reconcile_rows_follow_the_cron_and_removed_pairs_leave_the_schedule(
        world: tuple[StateStore, procrastinate.App]) -> None:
    store, _app = world
    ticking.sync_schedule(store.engine, {"a": ScheduleConfig(interval=60, jitter=0, reconcile_cron="0 3 * * *"),
                                         "b": ScheduleConfig(interval=60, jitter=0, reconcile_cron=None)})
    assert set(_due(store)) == {("a", "incremental"), ("a", "reconcile"), ("b", "incremental")}
    ticking.sync_schedule(store.engine, {"a": ScheduleConfig(interval=60, jitter=0, reconcile_cron=None)})
    assert set(_due(store)) == {("a", "incremental")}


def test_the_reaper_fails_a_dead_workers_run_and_makes_its_pair_due(
        world: tuple[StateStore, procrastinate.App]) -> None:
    store, app = world
    pairs = {"a": ScheduleConfig(interval=3600, jitter=0)}
    ticking.sync_schedule(store.engine, pairs)
    ticking.tick(store.engine, app, pairs, concurrency=1, stall_after=30)
    with store.engine.begin() as conn:  # a worker took the job, then died: its heartbeat is old
        worker = conn.execute(text("INSERT INTO procrastinate_workers (last_heartbeat) "
                                   "VALUES (now() - interval '1 hour') RETURNING id")).scalar_one()
        conn.execute(text("UPDATE procrastinate_jobs SET status = 'doing', worker_id = :w"), {"w": worker})
    assert enqueue(app, "a", "incremental") is not None  # the pair's next run is already queued: a retry would clash
    assert _due(store)[("a", "incremental")] > _now(store) + 3_000_000  # next run an hour away
    async def reap() -> list[tuple[str, str]]:
        async with app.open_async():  # as in a worker: the reaper is an async task
            return await ticking.reap(app, store.engine, stall_after=5)

    reaped = asyncio.run(reap())
    assert reaped == [("a", "incremental")]
    with store.engine.connect() as conn:
        statuses = conn.execute(text("SELECT status FROM procrastinate_jobs WHERE task_name = :t"),
                                {"t": RUN_TASK}).scalars().all()
        assert statuses == [Status.TODO.value]  # the dead run is gone, the queued one stays
    assert _due(store)[("a", "incremental")] <= _now(store)  # due now: the next tick queues it


def test_a_pair_whose_account_is_held_or_spent_stays_due(world: tuple[StateStore, procrastinate.App]) -> None:
    store, app = world
    pairs = {name: ScheduleConfig(interval=60, jitter=0) for name in ("a", "b", "c", "d")}
    accounts = {"a": ["cloze@x#1", "hubspot@h#shared"], "b": ["cloze@x#2", "hubspot@h#shared"],
                "c": ["cloze@x#3", "hubspot@h#spent"], "d": ["cloze@x#4", "hubspot@h#4"]}
    ticking.sync_schedule(store.engine, pairs)
    for pair in pairs:
        _make_overdue(store, pair, 10)
    # a's run holds the shared account; c's account has used 950 of its 1,000 calls today
    assert store.claim_lease("a", "worker-1", 60, accounts=accounts["a"]) is not None
    with store.transaction() as s:
        budget.record_usage(s, "hubspot@h#spent", budget.usage_day(), 950, remaining=50)
    result = ticking.tick(store.engine, app, pairs, concurrency=4, stall_after=30, accounts=accounts)
    assert sorted(row.pair for row in result.queued) == ["d"]  # a itself runs already; b shares its account
    assert all(_due(store)[(p, "incremental")] <= _now(store) for p in ("a", "b", "c"))  # still due

    store.release_lease("a", "worker-1")
    result = ticking.tick(store.engine, app, pairs, concurrency=4, stall_after=30, accounts=accounts)
    assert sorted(row.pair for row in result.queued) == ["a", "b"]  # c waits for the next day's budget
