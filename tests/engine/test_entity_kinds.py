"""A kind of record declared in the test alone syncs end to end: the registry, not the engine, lists kinds.

The ``ticket`` kind below exists only here. It is declared with one
:class:`~connectors.entities.EntitySpec` and held by a memory connector that says
it supports it; the config, the mapping, the sync order and the engine pick it up
with no change to ``syncd/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from config.loader import load_config_text
from config.models import PairConfig
from connectors.base import ConnectorContext
from connectors.entities import ENTITY_KINDS, EntitySpec
from connectors.errors import ConfigError
from connectors.model import Entity, FieldKind, FieldSpec
from state.store import StateStore
from syncd.core.label import record_label
from syncd.engine.runner import PairEngine
from tests.memory_rig import MemoryBackend, MemoryConnector, MemorySettings

APP_ID = "desk.example.com"


class TicketMemory(MemoryConnector):
    """The memory connector, holding tickets too: the connector-side half of adding a kind."""

    kinds: ClassVar[frozenset[Entity]] = MemoryConnector.kinds | {"ticket"}


@pytest.fixture
def ticket_kind() -> Iterator[EntitySpec]:
    spec = ENTITY_KINDS.register(EntitySpec(
        name="ticket",
        description="a support ticket",
        fields={
            "name": FieldSpec("name", FieldKind.TEXT, "subject"),
            "priority": FieldSpec("priority", FieldKind.NUMBER, "1 (urgent) to 4"),
            "notes": FieldSpec("notes", FieldKind.LONGTEXT, "what happened"),
            "requester": FieldSpec("requester", FieldKind.REF, "relation: the person who asked"),
        },
        relations={"requester": "person"},
        match_on=("name",),
    ))
    try:
        yield spec
    finally:
        ENTITY_KINDS.unregister("ticket")


class Desk:
    """Two memory systems holding tickets, a state database, and a pair between them."""

    def __init__(self, tmp: Path, external: type[MemoryConnector] = TicketMemory, **pair: Any) -> None:
        self.names = (f"desk-cloze-{tmp.name}", f"desk-ext-{tmp.name}")
        self.cloze = MemoryBackend.named(self.names[0], "cloze")
        self.ext = MemoryBackend.named(self.names[1], "external")
        self.external = external
        self.cfg = PairConfig.model_validate(
            {"app_id": APP_ID, "cloze": {}, "external": {"connector": "memory"}, **pair})
        self.store = StateStore.open(tmp / "state.db")

    def run(self, mode: str = "full") -> Any:
        cloze = TicketMemory(MemorySettings(backend=self.names[0], role="cloze"), ConnectorContext("p", "cloze", APP_ID))
        ext = self.external(MemorySettings(backend=self.names[1], role="external"),
                            ConnectorContext("p", "external", APP_ID))
        return PairEngine(pair="p", cfg=self.cfg, cloze=cloze, external=ext, store=self.store,
                          mode=mode).run()  # type: ignore[arg-type]

    def tickets(self, backend: MemoryBackend) -> dict[str, dict[str, Any]]:
        return {item.fields["name"]: item.fields for item in backend.items["ticket"].values()}

    def close(self) -> None:
        for name in self.names:
            MemoryBackend.forget(name)


@pytest.fixture
def desk(tmp_path: Path, ticket_kind: EntitySpec) -> Iterator[Desk]:
    d = Desk(tmp_path)
    yield d
    d.close()


def test_the_sync_order_puts_a_new_kind_after_the_kinds_it_refers_to(ticket_kind: EntitySpec) -> None:
    order = ENTITY_KINDS.sync_order()
    assert set(order) == {"person", "company", "project", "ticket"}
    assert order.index("company") < order.index("person") < order.index("ticket")
    assert order.index("person") < order.index("project")


def test_an_operator_sees_a_record_of_the_new_kind_by_the_name_it_declares(ticket_kind: EntitySpec) -> None:
    assert record_label("ticket", {"name": "Printer jam", "requester": "c1"}) == "Printer jam"
    assert record_label("ticket", {"priority": "2"}) is None


def test_a_kind_no_one_declared_is_labelled_by_its_name() -> None:
    assert ENTITY_KINDS.get("invoice") is None
    assert ENTITY_KINDS.get("person") is ENTITY_KINDS["person"]
    assert record_label("invoice", {"name": "INV-7", "total": "12"}) == "INV-7"


def test_the_built_in_order_follows_the_relations() -> None:
    assert ENTITY_KINDS.sync_order() == ("company", "person", "project")


def test_relations_in_a_cycle_are_refused(ticket_kind: EntitySpec) -> None:
    ENTITY_KINDS.register(EntitySpec(
        name="queue", fields={"tickets": FieldSpec("tickets", FieldKind.REFS)}, relations={"tickets": "ticket"}))
    ENTITY_KINDS.unregister("ticket")
    ENTITY_KINDS.register(EntitySpec(
        name="ticket", fields={"queue": FieldSpec("queue", FieldKind.REF)}, relations={"queue": "queue"}))
    try:
        with pytest.raises(ValueError, match="cycle"):
            ENTITY_KINDS.sync_order()
    finally:
        ENTITY_KINDS.unregister("queue")


def test_a_declaration_that_does_not_hold_together_is_refused(ticket_kind: EntitySpec) -> None:
    name = {"name": FieldSpec("name", FieldKind.TEXT)}
    with pytest.raises(ValueError, match="relations name fields it does not have: asker"):
        EntitySpec(name="queue", fields=name, relations={"asker": "person"})
    with pytest.raises(ValueError, match="match rules on fields it does not have: email"):
        EntitySpec(name="queue", fields=name, match_on=("email",))
    with pytest.raises(ValueError, match="declared twice"):
        ENTITY_KINDS.register(EntitySpec(name="ticket", fields=name))
    with pytest.raises(ValueError, match="relation fields must be of kind REF or REFS: name"):
        EntitySpec(name="queue", fields=name, relations={"name": "desk"})
    ENTITY_KINDS.register(EntitySpec(name="queue", fields={"desk": FieldSpec("desk", FieldKind.REF)},
                                     relations={"desk": "desk"}))
    try:
        with pytest.raises(ValueError, match="undeclared kinds: desk"):
            ENTITY_KINDS.sync_order()
    finally:
        ENTITY_KINDS.unregister("queue")
    with pytest.raises(KeyError, match="unknown entity kind 'queue'; known: person, company, project, ticket"):
        ENTITY_KINDS.fields("queue")


def test_a_kind_declared_in_a_test_syncs_both_ways_through_the_engine(desk: Desk) -> None:
    ann = desk.cloze.put("person", {"first": "Ann", "last": "Lee", "emails": ["ann@acme.example"]})
    desk.cloze.put("ticket", {"name": "Printer jam", "priority": "2", "requester": ann})
    desk.ext.put("ticket", {"name": "VPN down", "priority": "1", "notes": "since Monday"})
    # The same ticket on both sides already: the kind's own match rule (name) links them.
    login = desk.cloze.put("ticket", {"name": "Login fails"})
    desk.ext.put("ticket", {"name": "login  fails", "notes": "after the update"})
    desk.cloze.edit("ticket", login, priority="3")  # the later edit: Cloze's spelling of the name wins

    report = desk.run("full")

    assert report.ok, report.error
    assert report.reads["cloze.ticket"] == 2 and report.reads["external.ticket"] == 2
    cloze, ext = desk.tickets(desk.cloze), desk.tickets(desk.ext)
    assert set(cloze) == set(ext) == {"Printer jam", "VPN down", "Login fails"}, "matched, not duplicated"
    [ann_link] = [link for link in desk.store.links("p", "person") if link.status == "active"]
    assert ann_link.cloze_id == ann
    assert ext["Printer jam"]["requester"] == ann_link.external_id, "the reference, in the other side's ids"
    assert ext["Printer jam"]["priority"] == "2"
    assert cloze["VPN down"]["notes"] == "since Monday"
    assert cloze["Login fails"]["notes"] == "after the update" and ext["Login fails"]["priority"] == "3"
    links = [link for link in desk.store.links("p", "ticket") if link.status == "active"]
    assert len(links) == 3
    assert len([link for link in desk.store.links("p", "person") if link.status == "active"]) == 1

    # A later edit on one side reaches the other through the change feed.
    vpn = next(item for item in desk.ext.items["ticket"].values() if item.fields["name"] == "VPN down")
    desk.ext.edit("ticket", vpn.id, priority="4")
    assert desk.run("incremental").ok
    assert desk.tickets(desk.cloze)["VPN down"]["priority"] == "4"
    assert desk.run("incremental").ok  # the echo of its own write
    writes = desk.cloze.writes + desk.ext.writes
    assert desk.run("incremental").ok and desk.cloze.writes + desk.ext.writes == writes, "nothing left to write"


def test_a_pair_whose_connector_lacks_the_kind_syncs_the_others(tmp_path: Path, ticket_kind: EntitySpec) -> None:
    d = Desk(tmp_path, external=MemoryConnector)
    try:
        d.cloze.put("ticket", {"name": "Printer jam"})
        d.cloze.put("company", {"name": "Acme", "domains": ["acme.example"]})
        report = d.run("full")
        assert report.ok, report.error
        assert "ticket" not in d.ext.items or not d.ext.items["ticket"]
        assert [i.fields["name"] for i in d.ext.items["company"].values()] == ["Acme"]
    finally:
        d.close()


CONFIG = """
[pairs.main]
app_id = "desk.example.com"

[pairs.main.cloze]
connector = "cloze"
api_key = "k"
user = "u@example.com"

[pairs.main.external]
connector = "memory"

[pairs.main.entities.ticket]
policy = "cloze_wins"
match_on = ["name"]
"""


def test_the_config_takes_a_table_for_a_declared_kind(tmp_path: Path, ticket_kind: EntitySpec) -> None:
    loaded = load_config_text(CONFIG, tmp_path / "config.toml")
    entities = loaded.pair("main").entities
    assert list(entities) == ["person", "company", "project", "ticket"]
    assert entities["ticket"].policy == "cloze_wins" and entities["person"].policy == "newest_wins"


def test_the_config_names_an_unknown_kind_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config_text(CONFIG, tmp_path / "config.toml")
    line = CONFIG.splitlines().index("[pairs.main.entities.ticket]") + 1
    assert err.value.problems == [
        f"pairs.main.entities.ticket: unknown entity kind 'ticket'; known: person, company, project (line {line})"]


def test_a_kind_declared_after_the_config_was_read_is_left_alone(tmp_path: Path) -> None:
    d = Desk(tmp_path)  # validated while only the built-in kinds exist
    try:
        ENTITY_KINDS.register(EntitySpec(name="ticket", fields={"name": FieldSpec("name", FieldKind.TEXT)}))
        d.cloze.put("ticket", {"name": "Printer jam"})
        d.cloze.put("company", {"name": "Acme", "domains": ["acme.example"]})
        report = d.run("full")
        assert report.ok, report.error
        assert not d.ext.items["ticket"] and len(d.ext.items["company"]) == 1
    finally:
        ENTITY_KINDS.unregister("ticket")
        d.close()
