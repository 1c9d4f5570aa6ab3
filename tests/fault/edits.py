"""Edits a user makes between runs, on linked records of both sides, and the check that each survived."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tests.fault.world import ENTITY_TYPES, World


@dataclass(frozen=True)
class Edit:
    """One field changed by hand on one side; after a good run both sides must hold ``value``."""

    entity: str
    side: str  # "cloze" | "hubspot"
    record_id: str  # the id on ``side``
    field: str  # canonical name: first, last, title, description, value
    value: str


_CLOZE_PATH = {"person": "people", "company": "companies", "project": "projects"}
_HUB_PROPERTY = {("person", "first"): "firstname", ("person", "last"): "lastname", ("person", "title"): "jobtitle",
                 ("company", "description"): "description", ("project", "value"): "amount"}


def active_links(world: World, entity: str) -> list[tuple[str, str]]:
    """``(cloze_id, external_id)`` of the pair's active links of ``entity``, from the state database."""
    return sorted((str(l["cloze_id"]), str(l["external_id"])) for l in world.export().get("links", [])
                  if l["entity"] == entity and l["status"] == "active" and l["cloze_id"] and l["external_id"])


def make_edits(world: World, rng: random.Random, *, people: int, tag: str) -> list[Edit]:
    """Edit linked records on both sides: Cloze changes ``last`` of some people, HubSpot ``title`` and
    ``first`` of others and of some of the same people (disjoint fields merge), plus company
    descriptions in Cloze and deal amounts in HubSpot."""
    edits: list[Edit] = []
    persons = active_links(world, "person")
    rng.shuffle(persons)
    chosen = persons[: people * 2]
    cloze_side, hub_side = chosen[:people], chosen[people // 2: people // 2 + people]
    with world.cloze_http() as http:
        for n, (cid, _) in enumerate(cloze_side):
            edits.append(Edit("person", "cloze", cid, "last", f"Edited{tag}c{n}"))
            http.post("/v1/people/update", json={"direct": cid, "last": f"Edited{tag}c{n}"}).raise_for_status()
        for n, (cid, _) in enumerate(active_links(world, "company")[:3]):
            text = f"Described {tag} {n}"
            edits.append(Edit("company", "cloze", cid, "description", text))
            http.post("/v1/companies/update", json={"direct": cid, "description": text}).raise_for_status()
    for n, (_, hid) in enumerate(hub_side):
        props = {"jobtitle": f"Title{tag}h{n}"}
        edits.append(Edit("person", "hubspot", hid, "title", props["jobtitle"]))
        if n % 2:
            props["firstname"] = f"First{tag}h{n}"
            edits.append(Edit("person", "hubspot", hid, "first", props["firstname"]))
        world.hubspot.update_object("contacts", hid, props)
    for n, (_, hid) in enumerate(active_links(world, "project")[:3]):
        amount = str(7000 + 13 * n + rng.randint(0, 99))
        edits.append(Edit("project", "hubspot", hid, "value", amount))
        world.hubspot.update_object("deals", hid, {"amount": amount})
    return edits


def _cloze_value(entity: str, record: Mapping[str, Any], name: str) -> str | None:
    from connectors.cloze.mapping import custom_value, work

    if name == "title":
        return work(record)[1]
    if name == "value":
        raw = custom_value(record, "value")
        return None if raw is None else str(raw)
    value = record.get(name)
    return None if value is None else str(value)


def _same(name: str, a: str | None, b: str | None) -> bool:
    if name == "value" and a is not None and b is not None:
        from decimal import Decimal

        return Decimal(a) == Decimal(b)
    return a == b


def check_edits(world: World, edits: list[Edit]) -> None:
    """Every edit is on both sides of its link."""
    by_entity = {entity: active_links(world, entity) for entity in {e.entity for e in edits}}
    for edit in edits:
        links = by_entity[edit.entity]
        pair = next((l for l in links if (l[0] if edit.side == "cloze" else l[1]) == edit.record_id), None)
        assert pair is not None, f"{edit}: the record is no longer linked"
        record = world.cloze.get_record(edit.entity, pair[0])
        obj = world.hubspot.get_object(ENTITY_TYPES[edit.entity], pair[1])
        assert record is not None and obj is not None, f"{edit}: a side lost the record"
        on_cloze = _cloze_value(edit.entity, record, edit.field)
        on_hub = obj["properties"].get(_HUB_PROPERTY[(edit.entity, edit.field)])
        assert _same(edit.field, on_cloze, edit.value), (
            f"{edit} lost on Cloze: {on_cloze!r}; the Cloze record: {record}; the HubSpot one: {obj}")
        assert _same(edit.field, on_hub, edit.value), (
            f"{edit} lost on HubSpot: {on_hub!r}; the Cloze record: {record}; the HubSpot one: {obj}")
