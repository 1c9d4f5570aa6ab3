"""Crash recovery of creates: the records a crashed run created are found by their join marker in
one lookup per page of journal entries, and linked, without a duplicate."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from connectors.model import Entity, Record
from tests.engine.harness import World
from tests.memory_rig import MemoryConnector, SimulatedCrash


class Lookups:
    """Counts the engine's marker lookups on the connectors (each one, single or batched, is one call)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.single = 0
        self.batched = 0
        self.inside_batch = False
        single, batched = MemoryConnector.find_linked, MemoryConnector.find_linked_many

        def find_linked(conn: MemoryConnector, entity: Entity, ref: str) -> Record | None:
            if not self.inside_batch:
                self.single += 1
            return single(conn, entity, ref)

        def find_linked_many(conn: MemoryConnector, entity: Entity, refs: Sequence[str]) -> dict[str, Record]:
            self.batched += 1
            self.inside_batch = True
            try:
                return batched(conn, entity, refs)
            finally:
                self.inside_batch = False

        monkeypatch.setattr(MemoryConnector, "find_linked", find_linked)
        monkeypatch.setattr(MemoryConnector, "find_linked_many", find_linked_many)


def crashed_after_creating(world: World, count: int) -> None:
    """``count`` external people created in Cloze by a run that died before linking any of them."""
    for i in range(count):
        world.ext.put("person", {"first": f"P{i}", "emails": [f"p{i}@acme.example"]})
    world.ext.crash_after_writes = 0  # the Cloze creates land; the run dies at its first external write
    with pytest.raises(SimulatedCrash):
        world.run("full")
    world.ext.crash_after_writes = None


def test_the_recovery_of_a_crashed_batch_of_creates_looks_up_one_page_of_entries_per_call(
        monkeypatch: pytest.MonkeyPatch) -> None:
    world = World()
    try:
        crashed_after_creating(world, 100)  # one write batch
        assert len(world.store.journal_pending("p", "person")) == 100 and world.links() == []
        lookups = Lookups(monkeypatch)

        assert world.run("incremental").ok

        # One batched lookup for the page of 100 entries (it was one find_linked per entry: 100).
        assert (lookups.batched, lookups.single) == (1, 0)
        assert world.store.journal_pending("p", "person") == []
        assert len(world.links()) == 100 and len(world.cloze.items["person"]) == 100  # linked, no duplicate
    finally:
        world.close()
