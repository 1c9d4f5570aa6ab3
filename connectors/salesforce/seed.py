"""A deterministic, realistic Salesforce org for a small business: accounts, contacts, opportunities,
their contact roles, and a few open leads.

``build_dataset(seed)`` returns the same records for the same arguments; ``load_into(emulator)``
writes them into a :class:`~connectors.salesforce.emulator.SalesforceEmulator` without HTTP and
returns the Salesforce id of every record by its seed key (``account-03``, ``contact-17``, ``opp-05``).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from connectors.seeding import unique


class SeedTarget(Protocol):
    """What loading needs of an emulator (:class:`~connectors.salesforce.emulator.SalesforceEmulator`)."""

    def add_record(self, object_name: str, fields: Mapping[str, Any], *, created: float | None = None,
                   modified: float | None = None) -> str: ...

BASE_SECONDS = 1_767_225_600  # 2026-01-01T00:00:00Z: seed records are stamped from here on

_ACCOUNTS = [
    ("Harbor Point Dental", "harborpointdental.com", "Healthcare"),
    ("Maple & Finch Bakery", "mapleandfinch.com", "Food & Beverage"),
    ("Ridgeline Builders", "ridgelinebuilders.com", "Construction"),
    ("Bluewater Insurance Group", "bluewaterins.com", "Insurance"),
    ("Copperleaf Design Studio", "copperleafdesign.com", "Media"),
    ("Northgate Accounting", "northgatecpa.com", "Finance"),
    ("Summit Trail Outfitters", "summittrail.com", "Retail"),
    ("Lakeside Family Law", "lakesidefamilylaw.com", "Consulting"),
    ("Brightpath Tutoring", "brightpathtutoring.com", "Education"),
    ("Old Mill Properties", "oldmillproperties.com", "Other"),
    ("Kestrel IT Services", "kestrelit.com", "Technology"),
    ("Greenway Landscaping", "greenwaylandscape.com", "Environmental"),
]
_FIRST = ["Olivia", "Liam", "Emma", "Noah", "Ava", "Mateo", "Sophia", "Lucas", "Mia", "Ethan", "Amara", "Kenji",
          "Priya", "Diego", "Hannah", "Samuel", "Leah", "Omar", "Grace", "Chloe", "Isaac", "Nadia", "Owen"]
_LAST = ["Bennett", "Okafor", "Nguyen", "Schmidt", "Alvarez", "Kowalski", "Patel", "Murphy", "Haddad", "Larsen",
         "Rossi", "Tanaka", "Brooks", "Dubois", "Fischer", "Moreno", "Sullivan", "Chen", "Ibrahim", "Walsh"]
_TITLES = ["Owner", "Office Manager", "Operations Director", "Founder", "Managing Partner", "Bookkeeper",
           "Marketing Lead", "General Manager"]
_CITIES = [("Portland", "OR", "97205"), ("Boise", "ID", "83702"), ("Tacoma", "WA", "98402"),
           ("Eugene", "OR", "97401"), ("Spokane", "WA", "99201")]
_STREETS = ["Alder St", "Burnside Ave", "Cascade Way", "Division St", "Elm Ct", "Front Ave"]
_DEALS = ["Website redesign", "Annual bookkeeping retainer", "Office network upgrade", "Brand refresh",
          "Quarterly advisory", "Payroll setup", "SEO package"]
_STAGES = ["Prospecting", "Qualification", "Needs Analysis", "Proposal/Price Quote", "Negotiation/Review",
           "Closed Won", "Closed Lost"]
_ROLES = ["Decision Maker", "Economic Buyer", "Influencer", "Evaluator"]


@dataclass(frozen=True)
class SeedRecord:
    """One record: a stable key, its object, its fields, and keys of the records its references point to."""

    key: str
    object_name: str
    fields: dict[str, Any]
    references: dict[str, str] = field(default_factory=dict)  # field name -> seed key
    created: int = BASE_SECONDS


@dataclass(frozen=True)
class Dataset:
    records: list[SeedRecord] = field(default_factory=list)

    def of(self, object_name: str) -> list[SeedRecord]:
        return [r for r in self.records if r.object_name == object_name]


def build_dataset(seed: int = 7, *, accounts: int = 10, contacts: int = 30, opportunities: int = 12,
                  leads: int = 5) -> Dataset:
    """The same small-business org for the same arguments (``accounts`` at most 12)."""
    rng = random.Random(seed)
    hour = 3_600
    out: list[SeedRecord] = []
    account_rows = []
    phones: set[str] = set()
    for i, (name, domain, industry) in enumerate(_ACCOUNTS[:max(0, min(accounts, len(_ACCOUNTS)))]):
        city, state, zip_code = rng.choice(_CITIES)
        row = SeedRecord(f"account-{i + 1:02d}", "Account", {
            "Name": name, "Website": f"https://www.{domain}", "Industry": industry, "Type": "Customer - Direct",
            "Phone": unique(lambda: f"+1 503 555 {rng.randint(1000, 9999)}", phones),
            "BillingStreet": f"{rng.randint(100, 4999)} {rng.choice(_STREETS)}", "BillingCity": city,
            "BillingState": state, "BillingPostalCode": zip_code, "BillingCountry": "United States",
        }, created=BASE_SECONDS + i * hour)
        account_rows.append((row, domain))
        out.append(row)
    names: set[str] = set()
    contact_rows = []
    for i in range(contacts):
        full = unique(lambda: f"{rng.choice(_FIRST)} {rng.choice(_LAST)}", names)
        first, last = full.split(" ", 1)
        employer = account_rows[i % len(account_rows)] if account_rows and i % 5 != 4 else None
        domain = employer[1] if employer else rng.choice(["gmail.com", "outlook.com", "fastmail.com"])
        fields: dict[str, Any] = {"FirstName": first, "LastName": last, "Email": f"{first}.{last}@{domain}".lower(),
                                  "Title": rng.choice(_TITLES),
                                  "Phone": unique(lambda: f"+1 541 555 {rng.randint(1000, 9999)}", phones)}
        if i % 3 == 0:
            fields["MobilePhone"] = unique(lambda: f"+1 971 555 {rng.randint(1000, 9999)}", phones)
        row = SeedRecord(f"contact-{i + 1:02d}", "Contact", fields,
                         {"AccountId": employer[0].key} if employer else {}, created=BASE_SECONDS + (24 + i) * hour)
        contact_rows.append(row)
        out.append(row)
    for i in range(opportunities if account_rows else 0):
        client = account_rows[i % len(account_rows)][0]
        kind = rng.choice(_DEALS)
        opp = SeedRecord(f"opp-{i + 1:02d}", "Opportunity", {
            "Name": f"{client.fields['Name']} - {kind}", "StageName": rng.choice(_STAGES),
            "CloseDate": f"2026-{1 + i % 9:02d}-{10 + (i * 7) % 18:02d}",
            "Amount": float(rng.choice([1500, 2400, 4800, 7500, 12000])), "Description": f"{kind} for "
            f"{client.fields['Name']}.",
        }, {"AccountId": client.key}, created=BASE_SECONDS + (96 + i) * hour)
        out.append(opp)
        people = [c for c in contact_rows if c.references.get("AccountId") == client.key][:2]
        for j, person in enumerate(people):
            out.append(SeedRecord(f"ocr-{i + 1:02d}-{j + 1}", "OpportunityContactRole",
                                  {"Role": _ROLES[(i + j) % len(_ROLES)], "IsPrimary": j == 0},
                                  {"OpportunityId": opp.key, "ContactId": person.key}, created=opp.created + 60))
    for i in range(leads):
        full = unique(lambda: f"{rng.choice(_FIRST)} {rng.choice(_LAST)}", names)
        first, last = full.split(" ", 1)
        out.append(SeedRecord(f"lead-{i + 1:02d}", "Lead", {
            "FirstName": first, "LastName": last, "Company": f"{last} Consulting",
            "Email": f"{first}.{last}@{last.lower()}consulting.com".lower(), "Status": "Open - Not Contacted",
        }, created=BASE_SECONDS + (200 + i) * hour))
    return Dataset(out)


def load_into(emulator: SeedTarget, dataset: Dataset | None = None) -> dict[str, str]:
    """Write ``dataset`` (default: ``build_dataset()``) into ``emulator``; returns seed key -> Salesforce id."""
    data = dataset or build_dataset()
    ids: dict[str, str] = {}
    for record in data.records:
        fields = {**record.fields, **{name: ids[key] for name, key in record.references.items()}}
        ids[record.key] = emulator.add_record(record.object_name, fields, created=record.created,
                                              modified=record.created + 300)
    return ids
