"""The engine acts on what a connector declares it can do, never on which system a side is."""

from __future__ import annotations

from collections.abc import Sequence

from config.models import EntityConfig
from connectors.base import Capabilities, ConnectorContext
from connectors.entities import ENTITY_KINDS
from connectors.model import CreateRequest, Entity, Record, UpdateRequest, WriteResult
from state.store import StateStore
from syncd.core.mapping import build_entity_mapping
from syncd.core.plan import Observation
from syncd.engine import observe
from syncd.engine.runner import PairEngine
from tests.engine.harness import APP_ID, World
from tests.memory_rig import MemoryConnector, MemorySettings


class Declaring(MemoryConnector):
    """A memory connector declaring batch limits, that counts the size of each call it gets."""

    def __init__(self, settings: MemorySettings, context: ConnectorContext, caps: Capabilities) -> None:
        super().__init__(settings, context)
        self.caps = caps
        self.calls: list[tuple[str, int]] = []

    def capabilities(self, entity: Entity) -> Capabilities:
        return self.caps

    def get(self, entity: Entity, ids: Sequence[str]) -> dict[str, Record]:
        self.calls.append(("get", len(ids)))
        return super().get(entity, ids)

    def create(self, entity: Entity, requests: Sequence[CreateRequest]) -> list[WriteResult]:
        self.calls.append(("create", len(requests)))
        return super().create(entity, requests)

    def update(self, entity: Entity, requests: Sequence[UpdateRequest]) -> list[WriteResult]:
        self.calls.append(("update", len(requests)))
        return super().update(entity, requests)


def _run(world: World, external: Declaring, store: StateStore) -> None:
    cloze = MemoryConnector(MemorySettings(backend=world.cloze_name, role="cloze"), ConnectorContext("p", "cloze", APP_ID))
    report = PairEngine(pair="p", cfg=world.cfg, cloze=cloze, external=external, store=store, mode="full").run()
    assert report.ok, report.error


def test_writes_go_to_a_side_in_calls_no_larger_than_it_declares() -> None:
    world = World()
    try:
        for i in range(7):
            world.cloze.put("person", {"first": f"P{i}", "emails": [f"p{i}@x.example"]})
        external = Declaring(MemorySettings(backend=world.ext_name, role="external"),
                             ConnectorContext("p", "external", APP_ID), Capabilities(write_batch=3))
        _run(world, external, world.store)
        creates = [n for op, n in external.calls if op == "create"]
        assert creates == [3, 3, 1]
        assert len(world.ext.items["person"]) == 7
        # The Cloze side declares no limit, yet its join markers go in batches the external side can take.
        assert len(world.links()) == 7
    finally:
        world.close()


def test_reads_by_id_go_to_a_side_in_calls_no_larger_than_it_declares() -> None:
    world = World()
    try:
        ids = [world.ext.put("person", {"first": f"P{i}"}) for i in range(5)]
        external = Declaring(MemorySettings(backend=world.ext_name, role="external"),
                             ConnectorContext("p", "external", APP_ID), Capabilities(read_batch=2))
        mapping, problems = build_entity_mapping("person", EntityConfig(), ENTITY_KINDS.fields("person"),
                                                 ENTITY_KINDS.fields("person"))
        assert not problems
        obs = Observation()
        read = observe.add_by_id(obs, "external", external, "person", [*ids, "gone-1"], mapping)
        assert read == 5 and obs.external_gone == {"gone-1"}
        assert external.calls == [("get", 2), ("get", 2), ("get", 2)]
    finally:
        world.close()


def test_twins_are_held_back_toward_an_external_side_that_merges_on_create() -> None:
    """The twins rule follows the capability: toward a merging external side it applies, toward Cloze it need not."""
    world = World()
    try:
        for name in ("Ann", "Bob"):
            world.cloze.put("person", {"first": name, "phones": ["+1 555 0100"], "emails": [f"{name}@x.example"]})
        merging = Declaring(MemorySettings(backend=world.ext_name, role="external", merges_on_create=frozenset({"phones"})),
                            ConnectorContext("p", "external", APP_ID), Capabilities(merges_on_create=frozenset({"phones"})))
        _run(world, merging, world.store)
        assert world.ext.items["person"] == {}  # both wait for an operator instead of being folded into one
        codes = {e.code for e in world.store.open_errors("p", "person")}
        assert codes == {"duplicate_on_side"}
    finally:
        world.close()
