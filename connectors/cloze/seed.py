"""Deterministic sample data for a small business's Cloze account.

``generate(count, seed)`` returns people (``count`` of them), their companies
(about a quarter as many) and projects (about a fifth), in Cloze's wire shape:
names, e-mails, phones, addresses, stages, segments, keywords, job titles,
company links, projects with a ``value`` custom field and client people and
companies. The same ``(count, seed)`` always yields the same data. Domains use
the reserved ``.example`` TLD and phone numbers the fictional 555-01xx range.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from connectors.cloze.wire import PENDING_STAGE
from connectors.seeding import unique


class _Behaviour(Protocol):
    @property
    def project_pending_stage(self) -> bool: ...
    @property
    def project_segment_keys(self) -> str: ...


class SeedTarget(Protocol):
    """What seeding needs of an emulator (:class:`~connectors.cloze.emulator.ClozeEmulator` is one)."""

    @property
    def behaviour(self) -> _Behaviour: ...
    def add_record(self, kind: str, record: Mapping[str, Any]) -> str: ...

_FIRST = [
    "Maria",
    "James",
    "Aisha",
    "Tom",
    "Priya",
    "Lucas",
    "Sofia",
    "Daniel",
    "Chen",
    "Olivia",
    "Mateo",
    "Hannah",
    "Noah",
    "Fatima",
    "Ethan",
    "Grace",
    "Liam",
    "Yuki",
    "Amara",
    "Leo",
    "Isabel",
    "Omar",
    "Chloe",
    "Raj",
    "Elena",
    "Samuel",
    "Nora",
    "Diego",
    "Ava",
    "Kofi",
    "Mia",
    "Jonas",
    "Zara",
    "Felix",
    "Ines",
    "Arjun",
    "Lena",
    "Hugo",
]
_LAST = [
    "Lopez",
    "Carter",
    "Khan",
    "Nguyen",
    "Patel",
    "Moreau",
    "Rossi",
    "Schmidt",
    "Okafor",
    "Jensen",
    "Silva",
    "Kowalski",
    "Haddad",
    "Murphy",
    "Tanaka",
    "Berg",
    "Fischer",
    "Alvarez",
    "Brennan",
    "Costa",
    "Novak",
    "Dubois",
    "Larsen",
    "Mendes",
    "Quinn",
    "Ward",
    "Ibrahim",
    "Walsh",
    "Park",
    "Romero",
    "Hughes",
    "Sato",
]
_COMPANY_A = [
    "Bluebird",
    "Harbor",
    "Cedar",
    "Summit",
    "Maple",
    "Copper",
    "Northwind",
    "Riverside",
    "Granite",
    "Lantern",
    "Meadow",
    "Orchard",
]
_COMPANY_B = [
    "Bakery",
    "Design",
    "Logistics",
    "Dental",
    "Builders",
    "Analytics",
    "Florists",
    "Consulting",
    "Realty",
    "Studio",
    "Brewing",
    "Clinic",
]
_SUFFIX = ("", " LLC", " Inc", " & Co", " Group")
_INDUSTRY = {
    "Bakery": "Food & Beverage",
    "Design": "Creative Services",
    "Logistics": "Transportation",
    "Dental": "Healthcare",
    "Builders": "Construction",
    "Analytics": "Software",
    "Florists": "Retail",
    "Consulting": "Professional Services",
    "Realty": "Real Estate",
    "Studio": "Media",
    "Brewing": "Food & Beverage",
    "Clinic": "Healthcare",
}
_TITLES = (
    "Owner",
    "Office Manager",
    "Operations Lead",
    "Head of Marketing",
    "Accountant",
    "CEO",
    "Purchasing Manager",
    "Founder",
    "Project Coordinator",
    "Sales Director",
)
_CITIES = (
    ("Portland", "OR", "97205"),
    ("Austin", "TX", "78701"),
    ("Denver", "CO", "80202"),
    ("Madison", "WI", "53703"),
    ("Raleigh", "NC", "27601"),
    ("Boise", "ID", "83702"),
)
_STREETS = ("Oak St", "Main St", "Pine Ave", "Elm Rd", "Market St", "Harbor Way", "Lake Dr", "2nd Ave")
_TAGS = (
    "newsletter",
    "holiday-card",
    "vip",
    "referral",
    "trade-show-2025",
    "webinar",
    "golf",
    "quarterly-review",
)
_PERSON_SEGMENTS = (
    "customer",
    "customer",
    "customer",
    "partner",
    "supplier",
    "advisor",
    "custom1",
    "network",
)
_PERSON_STAGES = ("lead", "future", "current", "current", "past", "out")
_PROJECT_STAGES = ("future", "current", PENDING_STAGE, "won", "lost")
_SERVICES = (
    "Website refresh",
    "Annual maintenance",
    "Spring campaign",
    "Office fit-out",
    "Bookkeeping setup",
    "Catering contract",
    "Fleet renewal",
    "Brand workshop",
)
_EPOCH = 1_735_689_600_000  # 2025-01-01T00:00:00Z: seeded history starts here
_DAY = 86_400_000


@dataclass(frozen=True)
class SeedData:
    """Generated records in Cloze wire shape, ready for ``ClozeEmulator.add_record``."""

    companies: list[dict[str, Any]]
    people: list[dict[str, Any]]
    projects: list[dict[str, Any]]


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", name.lower().replace("&", "and"))


def _phone(rng: random.Random, used: set[str]) -> str:
    return unique(lambda: f"+1 ({rng.randint(201, 989)}) 555-01{rng.randint(0, 99):02d}", used)


def _address(rng: random.Random) -> dict[str, Any]:
    city, region, postcode = rng.choice(_CITIES)
    return {
        "street": f"{rng.randint(10, 9999)} {rng.choice(_STREETS)}",
        "city": city,
        "region": region,
        "postcode": postcode,
        "country": "US",
        "work": True,
    }


def _stamps(rng: random.Random, index: int) -> tuple[int, int]:
    first = _EPOCH + index * 3_600_000 + rng.randint(0, 3_599_999)
    return first, first + rng.randint(0, 300) * _DAY + rng.randint(0, _DAY - 1)


def generate(count: int, seed: int = 0) -> SeedData:
    """``count`` people plus their companies and projects, the same for the same ``(count, seed)``."""
    rng = random.Random(f"cloze-seed:{seed}")
    n_companies = max(1, count // 4) if count > 0 else 0
    n_projects = max(1, count // 5) if count > 0 else 0
    stamp_index = 0
    companies: list[dict[str, Any]] = []
    used_names: set[str] = set()
    used_domains: set[str] = set()
    used_phones: set[str] = set()
    for _ in range(n_companies):
        b = rng.choice(_COMPANY_B)
        name = f"{rng.choice(_COMPANY_A)} {b}{rng.choice(_SUFFIX)}"
        if name in used_names:
            name = f"{name} {len(used_names) + 1}"
        used_names.add(name)
        stem = _slug(name.removesuffix(' LLC').removesuffix(' Inc'))
        domain = f"{stem}.example"
        if domain in used_domains:  # "X LLC" and "X Inc" would share a domain: Cloze would merge them
            domain = f"{stem}{len(used_domains) + 1}.example"
        used_domains.add(domain)
        first_seen, last_changed = _stamps(rng, stamp_index)
        stamp_index += 1
        company: dict[str, Any] = {
            "name": name,
            "domains": [domain],
            "industry": _INDUSTRY[b],
            "description": f"{name} is a {_INDUSTRY[b].lower()} business in {rng.choice(_CITIES)[0]}.",
            "phones": [{"value": _phone(rng, used_phones), "work": True}],
            "emails": [{"value": f"hello@{domain}", "work": True}],
            "addresses": [_address(rng)],
            "stage": rng.choice(_PERSON_STAGES),
            "segment": rng.choice(_PERSON_SEGMENTS[:5]),
            "keywords": sorted(rng.sample(_TAGS, rng.randint(0, 2))),
            "firstSeen": first_seen,
            "lastChanged": last_changed,
        }
        if rng.random() < 0.3:
            company["customFields"] = [
                {"id": "account-number", "type": "text", "value": f"AC-{rng.randint(1000, 9999)}"}
            ]
        companies.append(company)

    people: list[dict[str, Any]] = []
    used_emails: set[str] = set()
    for i in range(count):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        employer = rng.choice(companies) if companies and rng.random() < 0.75 else None
        domain = (
            employer["domains"][0]
            if employer
            else rng.choice(("mail.example", "post.example", "inbox.example"))
        )
        local = f"{first}.{last}".lower()
        email = f"{local}@{domain}"
        if email in used_emails:
            email = f"{local}{i}@{domain}"
        used_emails.add(email)
        first_seen, last_changed = _stamps(rng, stamp_index)
        stamp_index += 1
        person: dict[str, Any] = {
            "first": first,
            "last": last,
            "emails": [{"value": email, "work": employer is not None}],
            "stage": rng.choice(_PERSON_STAGES),
            "segment": rng.choice(_PERSON_SEGMENTS),
            "keywords": sorted(rng.sample(_TAGS, rng.randint(0, 3))),
            "firstSeen": first_seen,
            "lastChanged": last_changed,
        }
        if rng.random() < 0.6:
            person["phones"] = [{"value": _phone(rng, used_phones), "mobile": True}]
        if employer:
            person["workHistory"] = [{"organization": employer["name"], "title": rng.choice(_TITLES)}]
            person["companies"] = [{"name": employer["name"], "domains": [employer["domains"][0]]}]
        if rng.random() < 0.4:
            person["addresses"] = [_address(rng)]
        if rng.random() < 0.2:
            person["notes"] = (
                f"Met {first} at the {rng.choice(('spring fair', 'chamber breakfast', 'webinar'))}."
            )
        if rng.random() < 0.3:
            person["customFields"] = [
                {"id": "lead-source", "type": "keyword", "value": rng.choice(("referral", "web", "event"))}
            ]
        if rng.random() < 0.1:
            person["appLinks"] = [
                {"source": "mailchimp.com", "uniqueid": str(48_000_000 + i), "label": "Mailchimp"}
            ]
        people.append(person)

    # People by employer domain, in seed order: one pass instead of a scan of everyone per project.
    staff: dict[str, list[dict[str, Any]]] = {}
    for p in people:
        if p.get("companies"):
            staff.setdefault(p["companies"][0]["domains"][0], []).append(p)
    projects: list[dict[str, Any]] = []
    for _ in range(n_projects):
        client = rng.choice(companies)
        contacts = staff.get(client["domains"][0], [])
        first_seen, last_changed = _stamps(rng, stamp_index)
        stamp_index += 1
        project: dict[str, Any] = {
            "name": f"{client['name']} – {rng.choice(_SERVICES)}",
            "summary": f"Scope agreed with {client['name']}.",
            "stage": rng.choice(_PROJECT_STAGES),
            "segment": rng.choice(("project", "project1", "project1")),
            "customFields": [
                {"id": "value", "type": "currency", "value": rng.randrange(1_000, 60_000, 250), "unit": "USD"}
            ],
            "endDate": _date(_EPOCH + rng.randint(30, 540) * _DAY),
            "keywords": sorted(rng.sample(_TAGS, rng.randint(0, 2))),
            "clientcompanies": [{"name": client["name"], "domains": list(client["domains"])}],
            "firstSeen": first_seen,
            "lastChanged": last_changed,
        }
        if contacts:
            chosen = rng.sample(contacts, min(len(contacts), rng.randint(1, 2)))
            project["clientpeople"] = [{"emails": [{"value": p["emails"][0]["value"]}]} for p in chosen]
        projects.append(project)
    return SeedData(companies, people, projects)


def _date(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).date().isoformat()


def seed_emulator(
    emulator: SeedTarget, count: int, seed: int = 0, *, progress: Callable[[int, int], None] | None = None
) -> dict[str, int]:
    """Add :func:`generate` output to ``emulator`` (companies first, so links resolve).

    ``progress(done, total)`` is called after each record, so a large seed can show it is moving.
    """
    data = generate(count, seed)
    behaviour = emulator.behaviour
    for project in data.projects:  # in the forms the emulated account lists
        if project.get("stage") == PENDING_STAGE and not behaviour.project_pending_stage:
            project["stage"] = "current"
        if behaviour.project_segment_keys == "dashed" and project.get("segment"):
            project["segment"] = f"-{project['segment']}"
    total, done = len(data.companies) + len(data.people) + len(data.projects), 0
    for entity, records in (("company", data.companies), ("person", data.people), ("project", data.projects)):
        for record in records:
            emulator.add_record(entity, record)
            done += 1
            if progress is not None:
                progress(done, total)
    return {"company": len(data.companies), "person": len(data.people), "project": len(data.projects)}
