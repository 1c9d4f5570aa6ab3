"""Fencing: a run whose lease is taken over stops writing at once, to the sides and to the state
database, and ends as ``lease_lost`` (exit 75); the new holder's lease is left alone. Each case runs
on a SQLite file and on PostgreSQL."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import text

from state.lease import LeaseKeeper, LeaseToken
from state.store import StateStore
from syncd.engine.runner import PairEngine
from tests.engine.harness import World, assert_converged
from tests.memory_rig import MemoryConnector


def _steal(location: Path | str, pair: str = "p") -> None:
    """Another process takes the lease over (as after an expiry): new owner, next epoch."""
    other = StateStore.open(location)
    try:
        with other.engine.begin() as conn:
            changed = conn.execute(text("UPDATE leases SET owner = 'thief', epoch = epoch + 1 WHERE pair = :pair"),
                                   {"pair": pair}).rowcount
        assert changed == 1
    finally:
        other.close()


def _world(tmp_path: Path, location: Path | str) -> World:
    world = World(tmp_path)
    world.store.close()
    world.store = StateStore.open(location)
    return world


class StealingConnector(MemoryConnector):
    """Creates as usual; after ``after`` create batches the lease is stolen."""

    def __init__(self, inner: MemoryConnector, location: Path | str, after: int) -> None:
        super().__init__(inner.settings, inner.context)
        self.location, self.after, self.batches = location, after, 0

    def create(self, entity: Any, requests: Any) -> Any:
        out = super().create(entity, requests)
        self.batches += 1
        if self.batches == self.after:
            _steal(self.location)
        return out


def test_a_run_whose_lease_is_taken_over_stops_writing_at_once(tmp_path: Path, state_location: Path | str) -> None:
    world = _world(tmp_path, state_location)
    try:
        for i in range(60):
            world.cloze.put("person", {"first": f"P{i}", "emails": [f"p{i}@x.com"]})
        store = world.store
        epoch = store.claim_lease("p", "runner", 60)
        assert epoch is not None
        keeper = LeaseKeeper(store, LeaseToken("p", "runner", epoch, 60)).start()
        c, x = world.connectors()
        ext = StealingConnector(x, state_location, after=2)
        try:
            report = PairEngine(pair="p", cfg=world.cfg, cloze=c, external=ext, store=store.fenced(keeper),
                                mode="full", batch_size=10, lease=keeper).run()
        finally:
            keeper.stop()
        assert report.status == "lease_lost" and report.exit_code() == 75, report.as_dict()
        assert "lease" in (report.error or "")
        # the batch in flight when the lease went finished on both sides (creates, then their App
        # Links); not one write after it
        assert ext.batches == 2 and world.ext.writes == 20, (ext.batches, world.ext.writes)
        assert world.cloze.writes == 20
        # no state write of the lost run landed after the takeover; the thief still holds the lease
        holder = store.lease_holder("p")
        assert holder is not None and holder.owner == "thief"
        run = store.runs("p", limit=1)[0]
        assert run.status == "lease_lost"
        # the next run settles the interrupted batch through its journal: nothing lost or duplicated
        store.release_lease("p", "thief")
        again = world.run("full")
        assert again.ok, again.as_dict()
        cl, ex = world.canon()
        assert len(cl) == 60 and len(ex) == 60
        assert_converged(world)
    finally:
        world.store.close()
        world.close()


def test_a_failed_renewal_during_a_long_read_stops_the_run_before_any_write(
        tmp_path: Path, state_location: Path | str) -> None:
    world = _world(tmp_path, state_location)
    try:
        for i in range(30):
            world.cloze.put("person", {"first": f"P{i}", "emails": [f"p{i}@x.com"]})
        store = world.store
        epoch = store.claim_lease("p", "runner", 60)
        assert epoch is not None
        keeper = LeaseKeeper(store, LeaseToken("p", "runner", epoch, 60), interval=0.05).start()

        class SlowReads(MemoryConnector):
            def list_all(self, entity: Any) -> Any:
                _steal(state_location)
                time.sleep(0.5)  # the keeper's renewal fails meanwhile
                yield from super().list_all(entity)

        c, x = world.connectors()
        try:
            report = PairEngine(pair="p", cfg=world.cfg, cloze=c, external=SlowReads(x.settings, x.context),
                                store=store.fenced(keeper), mode="full", batch_size=10, lease=keeper).run()
        finally:
            keeper.stop()
        assert keeper.lost
        assert report.status == "lease_lost", report.as_dict()
        assert world.writes() == 0
    finally:
        world.store.close()
        world.close()


def test_renewal_and_release_only_touch_the_lease_at_its_own_epoch(state_location: Path | str) -> None:
    store = StateStore.open(state_location)
    try:
        first = store.claim_lease("p", "a", 0)
        assert first is not None
        second = store.claim_lease("p", "b", 60)  # a's zero-length lease has expired
        assert second == first + 1
        assert not store.renew_lease("p", "a", first, 60)
        store.release_lease("p", "a", first)
        holder = store.lease_holder("p")
        assert holder is not None and holder.owner == "b"
        assert store.renew_lease("p", "b", second, 60)
        store.release_lease("p", "b", second)
        assert store.lease_holder("p") is None
        assert store.claim_lease("p", "c", 60) == second + 1  # epochs never repeat, even after a release
    finally:
        store.close()
