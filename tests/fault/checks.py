"""The promises, checked on the emulators' own data: no duplicate, nothing lost, every record joined one
to one, and every record left unjoined named by an open record error."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tests.fault.seeding import Population
from tests.fault.world import APP_ID, ENTITY_TYPES, World


def cloze_identity(entity: str, record: Mapping[str, Any]) -> str:
    if entity == "person":
        raw = record.get("emails") or []
        items = raw if isinstance(raw, list) else [raw]  # a bad-input case stores a bare string
        emails = sorted(str(e.get("value", "") if isinstance(e, dict) else e).lower() for e in items
                        if not (isinstance(e, dict) and e.get("archived")))
        return emails[0] if emails else f"<no email: {record.get('direct')}>"
    if entity == "company" and not record.get("name"):
        # Cloze makes a nameless company for a person's relation to a domain it does not know yet;
        # creating the real company later merges into it (same domain).
        domains = [str(d.get("domain", "") if isinstance(d, dict) else d) for d in record.get("domains", [])]
        return f"<domain {domains[0] if domains else record.get('direct')}>"
    return str(record.get("name") or "")


def hub_identity(entity: str, obj: Mapping[str, Any]) -> str:
    props = obj["properties"]
    if entity == "person":
        return str(props.get("email", f"<no email: {obj['id']}>")).lower()
    return str(props.get("name" if entity == "company" else "dealname", ""))


def cloze_links(record: Mapping[str, Any]) -> list[str]:
    """Live App Links of this pair's App ID on a Cloze record (their Unique IDs)."""
    return [str(l.get("uniqueid")) for l in record.get("appLinks", [])
            if str(l.get("source", "")).lower() == APP_ID and not l.get("archived")]


@dataclass(frozen=True)
class Sides:
    """Both emulators' live records of one entity."""

    entity: str
    cloze: list[dict[str, Any]]
    hubspot: list[dict[str, Any]]

    @classmethod
    def read(cls, world: World, entity: str) -> Sides:
        return cls(entity, world.cloze.records(entity), world.hubspot.objects(ENTITY_TYPES[entity]))


def check_no_duplicates(world: World) -> None:
    """No identity, App Link or stored Cloze identity appears twice on one side."""
    for entity in ENTITY_TYPES:
        sides = Sides.read(world, entity)
        twice = [k for k, n in Counter(cloze_identity(entity, r) for r in sides.cloze).items() if n > 1]
        assert not twice, f"Cloze holds duplicate {entity} records: {twice[:5]}"
        twice = [k for k, n in Counter(hub_identity(entity, o) for o in sides.hubspot).items() if n > 1]
        assert not twice, f"HubSpot holds duplicate {entity} records: {twice[:5]}"
        links = [uid for r in sides.cloze for uid in cloze_links(r)]
        twice = [k for k, n in Counter(links).items() if n > 1]
        assert not twice, f"App Links to the same HubSpot {entity} on several Cloze records: {twice[:5]}"
        many = [r["direct"] for r in sides.cloze if len(cloze_links(r)) > 1]
        assert not many, f"Cloze {entity} records linked to several HubSpot records: {many[:5]}"
        refs = [o["properties"]["cloze_syncd_id"] for o in sides.hubspot if o["properties"].get("cloze_syncd_id")]
        twice = [k for k, n in Counter(refs).items() if n > 1]
        assert not twice, f"the same Cloze identity on several HubSpot {entity} records: {twice[:5]}"


def check_nothing_lost(world: World, pop: Population) -> None:
    """Every seeded record is still on the side it was seeded on."""
    for entity in ENTITY_TYPES:
        sides = Sides.read(world, entity)
        on_cloze = {cloze_identity(entity, r) for r in sides.cloze}
        on_hub = {hub_identity(entity, o) for o in sides.hubspot}
        lost = sorted(pop.cloze[entity] - on_cloze)
        assert not lost, f"Cloze lost {entity} records: {lost[:5]}"
        lost = sorted(pop.hubspot[entity] - on_hub)
        assert not lost, f"HubSpot lost {entity} records: {lost[:5]}"


def unjoined(world: World) -> dict[str, list[str]]:
    """Records not (yet) joined to a counterpart that points back at them, by entity: ``side:id``."""
    out: dict[str, list[str]] = {}
    for entity in ENTITY_TYPES:
        sides = Sides.read(world, entity)
        hub = {o["id"]: o for o in sides.hubspot}
        bad: list[str] = []
        joined_hub: set[str] = set()
        for record in sides.cloze:
            targets = cloze_links(record)
            target = hub.get(targets[0]) if len(targets) == 1 else None
            if target is None or target["properties"].get("cloze_syncd_id") != record["direct"]:
                bad.append(f"cloze:{record['direct']}")
            else:
                joined_hub.add(target["id"])
        for obj in sides.hubspot:
            if obj["id"] not in joined_hub:
                bad.append(f"external:{obj['id']}")
        if bad:
            out[entity] = bad
    return out


def check_joined(world: World, pop: Population | None = None) -> None:
    """Every record on each side is joined one-to-one; with ``pop``, both sides hold every seeded identity."""
    problems = unjoined(world)
    assert not problems, f"records not joined: { {k: v[:5] for k, v in problems.items()} }"
    for entity in ENTITY_TYPES:
        sides = Sides.read(world, entity)
        assert len(sides.cloze) == len(sides.hubspot), (entity, len(sides.cloze), len(sides.hubspot))
        if pop is not None:
            want = pop.union(entity)
            assert {cloze_identity(entity, r) for r in sides.cloze} >= want, entity
            assert {hub_identity(entity, o) for o in sides.hubspot} >= want, entity
    check_people_equal(world)


def check_people_equal(world: World) -> None:
    """Linked people agree on the fields compared here directly on the wire: names and e-mail."""
    hub = {o["id"]: o["properties"] for o in world.hubspot.objects("contacts")}
    for record in world.cloze.records("person"):
        [uid] = cloze_links(record)
        props = hub[uid]
        assert (record.get("first") or None, record.get("last") or None) == (
            props.get("firstname"), props.get("lastname")), (record, props)
        assert cloze_identity("person", record) == str(props.get("email", "")).lower(), (record, props)


def check_errors_cover(world: World) -> None:
    """Every record left unjoined is named by an open record error (its id or its counterpart's)."""
    named: set[str] = set()
    for err in world.open_errors():
        named.add(str(err["record_id"]))
    problems = unjoined(world)
    links = {l["cloze_id"]: l["external_id"] for l in world.export().get("links", [])}
    back = {v: k for k, v in links.items()}
    for entity, items in problems.items():
        for item in items:
            side, _, rid = item.partition(":")
            partner = links.get(rid) if side == "cloze" else back.get(rid)
            hub_ref = None
            if side == "external":
                obj = world.hubspot.get_object(ENTITY_TYPES[entity], rid)
                hub_ref = (obj or {}).get("properties", {}).get("cloze_syncd_id")
            assert {rid, partner, hub_ref} & named, (
                f"{entity} {item} is not joined and no open record error names it; open errors: "
                f"{[(e['op'], e['record_id'], e['message']) for e in world.open_errors()][:10]}")
