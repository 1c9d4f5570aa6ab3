"""Seeded records: people, companies and deals on both sides, each with an identity of its own (person
e-mail, company name, deal name), so that counting identities finds any duplicate or lost record; and raw
values put behind the APIs' backs (what a buggy or hostile API could send)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from tests.fault.world import ENTITY_TYPES, World

PERSON_STAGES = ("lead", "future", "current", "past", "out")
HUB_LIFECYCLE = ("lead", "opportunity", "customer", "evangelist", "subscriber")
DEAL_STAGES = ("appointmentscheduled", "presentationscheduled", "contractsent", "closedwon", "closedlost")
FIRST_NAMES = ("Ann", "Bo", "Chen", "Dara", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lea")


@dataclass
class Population:
    """Identities seeded on each side: person e-mail, company name, deal name."""

    cloze: dict[str, set[str]] = field(default_factory=lambda: {e: set() for e in ENTITY_TYPES})
    hubspot: dict[str, set[str]] = field(default_factory=lambda: {e: set() for e in ENTITY_TYPES})
    cloze_ids: dict[str, dict[str, str]] = field(default_factory=lambda: {e: {} for e in ENTITY_TYPES})
    hubspot_ids: dict[str, dict[str, str]] = field(default_factory=lambda: {e: {} for e in ENTITY_TYPES})

    def union(self, entity: str) -> set[str]:
        return self.cloze[entity] | self.hubspot[entity]

    def extend(self, other: Population) -> None:
        for entity in ENTITY_TYPES:
            self.cloze[entity] |= other.cloze[entity]
            self.hubspot[entity] |= other.hubspot[entity]
            self.cloze_ids[entity].update(other.cloze_ids[entity])
            self.hubspot_ids[entity].update(other.hubspot_ids[entity])


def cloze_person(first: str, last: str, email: str, **extra: Any) -> dict[str, Any]:
    return {"first": first, "last": last, "name": f"{first} {last}", "emails": [{"value": email}], **extra}


def populate(world: World, *, seed: int, cloze_people: int, hub_people: int, overlap: int,
             companies: int = 0, deals: int = 0, tag: str = "w") -> Population:
    """Seed both sides. ``overlap`` of the HubSpot contacts share an e-mail with a Cloze person.

    ``tag`` keeps identities of several calls apart (each call adds new records).
    """
    rng = random.Random(f"world:{seed}:{tag}")
    pop = Population()
    cloze_companies: list[tuple[str, str]] = []
    hub_companies: list[tuple[str, str]] = []
    for i in range(companies):
        name, domain = f"Cz {tag} Works {i}", f"cz{i}.{tag}.example"
        direct = world.cloze.add_record("company", {"name": name, "domains": [domain],
                                                   "keywords": [f"t{rng.randint(0, 5)}"]})
        pop.cloze["company"].add(name)
        pop.cloze_ids["company"][name] = direct
        cloze_companies.append((name, domain))
        name, domain = f"Hs {tag} Group {i}", f"hs{i}.{tag}.example"
        hub_id = world.hubspot.add_object("companies", {"name": name, "domain": domain, "description": f"d{i}"})
        pop.hubspot["company"].add(name)
        pop.hubspot_ids["company"][name] = hub_id
        hub_companies.append((name, hub_id))
    cloze_emails: list[str] = []
    for i in range(cloze_people):
        first, last = rng.choice(FIRST_NAMES), f"Cz{tag}{i}"
        email = f"c{i}.{tag}@people.example"
        extra: dict[str, Any] = {"stage": rng.choice(PERSON_STAGES), "keywords": [f"k{rng.randint(0, 3)}"]}
        if cloze_companies and rng.random() < 0.5:
            # Half of them name the employer in a job too; for the others Cloze derives the company name
            # from the relation (see test_baseline).
            company, domain = rng.choice(cloze_companies)
            extra["companies"] = [{"domains": [domain]}]
            if rng.random() < 0.5:
                extra["workHistory"] = [{"organization": company, "title": "Staff"}]
        direct = world.cloze.add_record("person", cloze_person(first, last, email, **extra))
        pop.cloze["person"].add(email)
        pop.cloze_ids["person"][email] = direct
        cloze_emails.append(email)
    hub_emails: list[str] = []
    for i in range(hub_people):
        if i < overlap and i < len(cloze_emails):
            email = cloze_emails[i]
            spelled = email.upper() if i % 2 else email
        else:
            email = f"h{i}.{tag}@people.example"
            spelled = email
        props = {"firstname": rng.choice(FIRST_NAMES), "lastname": f"Hs{tag}{i}", "email": spelled,
                 "jobtitle": rng.choice(("Agent", "Broker", "Owner")), "lifecyclestage": rng.choice(HUB_LIFECYCLE)}
        assoc = None
        if hub_companies and rng.random() < 0.5:
            company, company_id = rng.choice(hub_companies)
            if rng.random() < 0.5:  # the others are associated without the company text
                props["company"] = company
            assoc = {"companies": [company_id]}
        hub_id = world.hubspot.add_object("contacts", props, assoc)
        pop.hubspot["person"].add(email)
        pop.hubspot_ids["person"][email] = hub_id
        hub_emails.append(hub_id)
    for i in range(deals):
        name = f"Cz {tag} Deal {i}"
        body: dict[str, Any] = {"name": name, "stage": rng.choice(("future", "current", "won")),
                                "customFields": [{"id": "value", "type": "currency", "value": 1000 + i}]}
        if cloze_emails:
            body["clientpeople"] = [{"emails": [{"value": rng.choice(cloze_emails)}]}]
        direct = world.cloze.add_record("project", body)
        pop.cloze["project"].add(name)
        pop.cloze_ids["project"][name] = direct
        name = f"Hs {tag} Deal {i}"
        links: dict[str, list[str]] = {}
        if hub_emails:
            links["contacts"] = [rng.choice(hub_emails)]
        if hub_companies:
            links["companies"] = [rng.choice(hub_companies)[1]]
        hub_id = world.hubspot.add_object("deals", {"dealname": name, "dealstage": rng.choice(DEAL_STAGES),
                                                    "pipeline": "default", "amount": str(500 + i)}, links or None)
        pop.hubspot["project"].add(name)
        pop.hubspot_ids["project"][name] = hub_id
    return pop


def cloze_poke(world: World, entity: str, direct: str, **raw: Any) -> None:
    """Set fields of a stored Cloze record as given, skipping the emulator's own validation."""
    store = world.cloze.store
    with store.lock:
        store._records[entity][direct].data.update(raw)  # type: ignore[index]
        store._changed()


def hubspot_poke(world: World, object_type: str, object_id: str, **raw: Any) -> None:
    """Set properties of a stored HubSpot record as given (any JSON type), skipping validation."""
    store = world.hubspot.store
    with store.lock:
        store.set_raw(store.objects[object_type][object_id], raw)
