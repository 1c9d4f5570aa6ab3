"""A deterministic, realistic HubSpot account for a small business: its client companies, people and deals.

``build_dataset(seed)`` always returns the same records for the same arguments, so
tests and the sandbox can refer to them; ``load_into(emulator)`` writes them into a
:class:`~connectors.hubspot.emulator.HubSpotEmulator` without HTTP and returns the
HubSpot id of every record by its seed key (``company-03``, ``contact-17``, ``deal-05``).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from connectors.seeding import unique


class SeedTarget(Protocol):
    """What loading needs of an emulator (:class:`~connectors.hubspot.emulator.HubSpotEmulator`)."""

    def add_object(self, object_type: str, properties: Mapping[str, Any],
                   associations: Iterable[tuple[str, str]], *,
                   created_ms: int | None = None, modified_ms: int | None = None) -> str: ...


BASE_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z: seed records are stamped from here on

_COMPANY_STEMS = [
    ("Harbor Point Dental", "harborpointdental.com", "HOSPITAL_HEALTH_CARE"),
    ("Maple & Finch Bakery", "mapleandfinch.com", "FOOD_BEVERAGES"),
    ("Ridgeline Builders", "ridgelinebuilders.com", "CONSTRUCTION"),
    ("Bluewater Insurance Group", "bluewaterins.com", "INSURANCE"),
    ("Copperleaf Design Studio", "copperleafdesign.com", "DESIGN"),
    ("Northgate Accounting", "northgatecpa.com", "ACCOUNTING"),
    ("Summit Trail Outfitters", "summittrail.com", "RETAIL"),
    ("Lakeside Family Law", "lakesidefamilylaw.com", "LAW_PRACTICE"),
    ("Brightpath Tutoring", "brightpathtutoring.com", "EDUCATION_MANAGEMENT"),
    ("Old Mill Properties", "oldmillproperties.com", "REAL_ESTATE"),
    ("Kestrel IT Services", "kestrelit.com", "INFORMATION_TECHNOLOGY_AND_SERVICES"),
    ("Greenway Landscaping", "greenwaylandscape.com", "CONSUMER_SERVICES"),
    ("Cedar Street Cafe", "cedarstreetcafe.com", "RESTAURANTS"),
    ("Pioneer Wholesale Supply", "pioneerwholesale.com", "WHOLESALE"),
    ("Atlas Marketing Partners", "atlasmarketing.co", "MARKETING_AND_ADVERTISING"),
    ("Riverbend Veterinary", "riverbendvet.com", "HOSPITAL_HEALTH_CARE"),
]
_FIRST = ["Olivia", "Liam", "Emma", "Noah", "Ava", "Mateo", "Sophia", "Lucas", "Mia", "Ethan", "Amara", "Kenji",
          "Priya", "Diego", "Hannah", "Samuel", "Leah", "Omar", "Grace", "Tomás", "Chloe", "Isaac", "Nadia", "Owen"]
_LAST = ["Bennett", "Okafor", "Nguyen", "Schmidt", "Alvarez", "Kowalski", "Patel", "Murphy", "Haddad", "Larsen",
         "Rossi", "Tanaka", "Brooks", "Dubois", "Fischer", "Moreno", "Sullivan", "Chen", "Ibrahim", "Walsh"]
_TITLES = ["Owner", "Office Manager", "Operations Director", "Founder", "Managing Partner", "Bookkeeper",
           "Marketing Lead", "General Manager", "Practice Manager", "Head of Purchasing"]
_CITIES = [("Portland", "OR", "97205"), ("Boise", "ID", "83702"), ("Tacoma", "WA", "98402"),
           ("Eugene", "OR", "97401"), ("Spokane", "WA", "99201"), ("Bend", "OR", "97701")]
_STREETS = ["Alder St", "Burnside Ave", "Cascade Way", "Division St", "Elm Ct", "Front Ave", "Grand Blvd",
            "Hawthorne Rd"]
_DEAL_KINDS = ["Website redesign", "Annual bookkeeping retainer", "Office network upgrade", "Brand refresh",
               "Quarterly advisory", "Payroll setup", "SEO package", "Point-of-sale rollout"]
_STAGES = ["appointmentscheduled", "qualifiedtobuy", "presentationscheduled", "decisionmakerboughtin",
           "contractsent", "closedwon", "closedlost"]
_LIFECYCLE = ["lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer", "evangelist"]
_LEAD_STATUS = ["NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "CONNECTED", "ATTEMPTED_TO_CONTACT"]
_COMPANY_TYPES = ["PROSPECT", "PARTNER", "RESELLER", "VENDOR", "OTHER"]


@dataclass(frozen=True)
class SeedRecord:
    """One record: a stable key, its HubSpot properties, keys of records it is associated with, and times."""

    key: str
    object_type: str  # contacts | companies | deals
    properties: dict[str, str]
    associations: tuple[str, ...] = ()
    created_ms: int = BASE_MS
    modified_ms: int = BASE_MS


@dataclass(frozen=True)
class Dataset:
    companies: list[SeedRecord] = field(default_factory=list)
    contacts: list[SeedRecord] = field(default_factory=list)
    deals: list[SeedRecord] = field(default_factory=list)

    def all(self) -> list[SeedRecord]:
        return [*self.companies, *self.contacts, *self.deals]


def _person_name(rng: random.Random, used: set[str]) -> tuple[str, str]:
    """A first and last name not drawn before while any combination is left, then any (names repeat)."""
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    if len(used) < len(_FIRST) * len(_LAST):
        while f"{first} {last}" in used:
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
        used.add(f"{first} {last}")
    return first, last


def build_dataset(seed: int = 7, *, companies: int = 12, contacts: int = 40, deals: int = 15) -> Dataset:
    """The same small-business account for the same arguments (``companies`` at most 16)."""
    rng = random.Random(seed)
    hour = 3_600_000
    stems = _COMPANY_STEMS[: max(0, min(companies, len(_COMPANY_STEMS)))]
    company_rows: list[SeedRecord] = []
    for i, (name, domain, industry) in enumerate(stems):
        city, state, zip_code = rng.choice(_CITIES)
        company_rows.append(SeedRecord(
            key=f"company-{i + 1:02d}", object_type="companies",
            properties={
                "name": name, "domain": domain, "phone": f"+1 503 555 {rng.randint(1000, 9999)}",
                "address": f"{rng.randint(100, 4999)} {rng.choice(_STREETS)}", "city": city, "state": state,
                "zip": zip_code, "country": "United States", "industry": industry,
                "description": f"{name} is a local {industry.replace('_', ' ').lower()} business.",
                "type": rng.choice(_COMPANY_TYPES), "lifecyclestage": rng.choice(_LIFECYCLE),
            },
            created_ms=BASE_MS + i * hour, modified_ms=BASE_MS + i * hour + 5 * 60_000))
    contact_rows: list[SeedRecord] = []
    used: set[str] = set()
    numbers: set[str] = set()

    def number(prefix: str) -> str:
        return unique(lambda: f"{prefix} {rng.randint(1000, 9999)}", numbers)

    emails: set[str] = set()
    for i in range(contacts):
        first, last = _person_name(rng, used)
        employer = company_rows[i % len(company_rows)] if company_rows and i % 5 != 4 else None
        domain = employer.properties["domain"] if employer else rng.choice(["gmail.com", "outlook.com", "fastmail.com"])
        local = f"{first}.{last}".lower().replace("á", "a")
        email = f"{local}@{domain}"
        if email in emails:  # a repeated name (the pool is used up): its own address, as people do
            email = f"{local}{i + 1}@{domain}"
        emails.add(email)
        props = {
            "firstname": first, "lastname": last, "email": email, "jobtitle": rng.choice(_TITLES),
            "phone": number("+1 541 555"), "lifecyclestage": rng.choice(_LIFECYCLE),
            "hs_lead_status": rng.choice(_LEAD_STATUS),
        }
        if employer:
            props["company"] = employer.properties["name"]
        if i % 3 == 0:
            props["mobilephone"] = number("+1 971 555")
        if i % 4 == 0:
            city, state, zip_code = rng.choice(_CITIES)
            props.update({"address": f"{rng.randint(10, 999)} {rng.choice(_STREETS)}", "city": city, "state": state,
                          "zip": zip_code, "country": "United States"})
        contact_rows.append(SeedRecord(
            key=f"contact-{i + 1:02d}", object_type="contacts", properties=props,
            associations=(employer.key,) if employer else (),
            created_ms=BASE_MS + 24 * hour + i * hour, modified_ms=BASE_MS + 24 * hour + i * hour + 60_000))
    deal_rows: list[SeedRecord] = []
    for i in range(deals if company_rows else 0):
        client = company_rows[i % len(company_rows)]
        people = [c.key for c in contact_rows if c.associations == (client.key,)][:2]
        kind = rng.choice(_DEAL_KINDS)
        close_day = 10 + (i * 7) % 18
        deal_rows.append(SeedRecord(
            key=f"deal-{i + 1:02d}", object_type="deals",
            properties={
                "dealname": f"{client.properties['name']} - {kind}", "amount": str(rng.choice([1500, 2400, 4800, 7500,
                                                                                              12000, 18500])),
                "closedate": f"2026-0{1 + i % 9}-{close_day:02d}T00:00:00.000Z", "dealstage": rng.choice(_STAGES),
                "pipeline": "default", "description": f"{kind} for {client.properties['name']}.",
            },
            associations=(client.key, *people),
            created_ms=BASE_MS + 96 * hour + i * hour, modified_ms=BASE_MS + 96 * hour + i * hour + 120_000))
    return Dataset(company_rows, contact_rows, deal_rows)


def load_into(
    emulator: SeedTarget, dataset: Dataset | None = None, *, progress: Callable[[int, int], None] | None = None
) -> dict[str, str]:
    """Write ``dataset`` (default: ``build_dataset()``) into ``emulator``; returns seed key -> HubSpot id.

    ``progress(done, total)`` is called after each record.
    """
    data = dataset or build_dataset()
    ids: dict[str, str] = {}
    records = data.all()
    types = {r.key: r.object_type for r in records}
    for done, record in enumerate(records, 1):
        links = [(types[k], ids[k]) for k in record.associations if k in ids]
        ids[record.key] = emulator.add_object(record.object_type, record.properties, links,
                                              created_ms=record.created_ms, modified_ms=record.modified_ms)
        if progress is not None:
            progress(done, len(records))
    return ids
