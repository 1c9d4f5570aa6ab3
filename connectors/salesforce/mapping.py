"""Canonical fields <-> Salesforce fields for Contact (person), Account (company) and Opportunity (project).

Relations hold Salesforce ids (the engine translates them through its link table): a
person's and a project's ``companies`` are ``AccountId``; a project's ``people`` are the
Contact ids of its OpportunityContactRole rows (:mod:`connectors.salesforce.relations`).

With ``leads`` on, a person may also be a Lead (id prefix ``00Q``): the same canonical fields from
the Lead's own (two phones, the ``Street``... address). A lead has no account, so its ``companies``
is empty (its ``Website`` is no record the link table can translate).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from connectors.entities import ENTITY_KINDS
from connectors.model import Entity, FieldSpec, Record, SetPatch
from connectors.salesforce import ids
from connectors.salesforce.settings import SalesforceSettings

OBJECT: dict[Entity, str] = {"person": "Contact", "company": "Account", "project": "Opportunity"}
SCALARS: dict[Entity, dict[str, str]] = {
    "person": {"first": "FirstName", "last": "LastName", "title": "Title", "notes": "Description"},
    "company": {"name": "Name", "industry": "Industry", "description": "Description"},
    "project": {"name": "Name", "summary": "Description", "stage": "StageName", "value": "Amount",
                "close_date": "CloseDate"},
}
PHONE_SLOTS: dict[Entity, list[str]] = {"person": ["Phone", "MobilePhone", "HomePhone", "OtherPhone"],
                                        "company": ["Phone"]}
ADDRESS: dict[Entity, str] = {"person": "Mailing", "company": "Billing"}
_ADDRESS_PARTS = ("Street", "City", "State", "PostalCode", "Country")
SYSTEM = ["Id", "IsDeleted", "MasterRecordId", "SystemModstamp", "LastModifiedDate"]
SUPPORTED: dict[Entity, list[str]] = {
    "person": ["first", "last", "title", "emails", "phones", "addresses", "notes", "companies"],  # notes: Description
    "company": ["name", "domains", "phones", "addresses", "industry", "description"],
    "project": ["name", "summary", "stage", "value", "close_date", "companies", "people"],
}
LEAD = "Lead"
LEAD_PREFIX = "00Q"
LEAD_SCALARS = {"first": "FirstName", "last": "LastName", "title": "Title", "notes": "Description"}
LEAD_PHONES = ["Phone", "MobilePhone"]
WriteValue = str | SetPatch | None


def is_lead(record_id: str) -> bool:
    return record_id.startswith(LEAD_PREFIX)


def _scalars(entity: Entity, lead: bool) -> dict[str, str]:
    return LEAD_SCALARS if lead else SCALARS[entity]


def _phones(entity: Entity, lead: bool) -> list[str] | None:
    return LEAD_PHONES if lead else PHONE_SLOTS.get(entity)


def _address(entity: Entity, lead: bool) -> str | None:
    return "" if lead else ADDRESS.get(entity)


@dataclass
class WritePlan:
    """Salesforce fields for one write, the relation ids to write, and what could not be stored."""

    fields: dict[str, Any] = field(default_factory=dict)
    relations: dict[str, list[str]] = field(default_factory=dict)
    dropped: dict[str, list[str]] = field(default_factory=dict)


def sf_time_ms(text: Any) -> int | None:
    """``2026-01-01T09:30:00.000+0000`` as epoch ms."""
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = dt.datetime.strptime(text.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError:
        return None
    return int(moment.timestamp() * 1000)


# SystemModstamp and SOQL datetime literals are whole seconds: a row changed again within the second
# it was read keeps its (SystemModstamp, Id), so a feed resumed in a later call reads that second
# again, whatever poll_overlap_seconds says (what is read twice hashes the same and is not written).
STAMP_RESOLUTION_MS = 1000


def resume_lookback_ms(overlap_ms: int) -> int:
    """How far before its last position a feed resumed in a later call starts reading, inclusive."""
    return max(overlap_ms, STAMP_RESOLUTION_MS)


def soql_time(ms: int) -> str:
    """A SOQL datetime literal (second precision, as Salesforce stamps)."""
    return dt.datetime.fromtimestamp(ms // 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def domain_of(website: Any) -> str | None:
    text = str(website or "").strip().lower()
    if not text:
        return None
    text = text.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    return text.removeprefix("www.") or None


def _one_slot(value: WriteValue) -> list[str]:
    """The values for a single-value field, the one to store first: one already held (in the result but not
    being added) is kept, so a second address added in Cloze does not replace the Salesforce one."""
    wanted = _values(value)
    if isinstance(value, SetPatch):
        kept = sorted(value.result - value.add)
        if kept:
            wanted = [kept[0]] + [v for v in wanted if v != kept[0]]
    return wanted


def _values(value: WriteValue) -> list[str]:
    if isinstance(value, SetPatch):
        return sorted(value.result)
    return [value] if value else []


class Mapper:
    def __init__(self, settings: SalesforceSettings) -> None:
        self.settings = settings

    def fields(self, entity: Entity) -> Mapping[str, FieldSpec]:
        return {name: ENTITY_KINDS.fields(entity)[name] for name in SUPPORTED[entity]}

    def lead_fields(self) -> list[str]:
        names = SYSTEM + list(LEAD_SCALARS.values()) + [self.settings.identity_field, "Email", "Website",
                                                        *LEAD_PHONES, *_ADDRESS_PARTS, "IsConverted",
                                                        "ConvertedContactId"]
        return list(dict.fromkeys(names))

    def read_fields(self, entity: Entity) -> list[str]:
        # Opportunities cannot be merged: they have no MasterRecordId.
        names = [n for n in SYSTEM if entity != "project" or n != "MasterRecordId"] + list(SCALARS[entity].values()) + [self.settings.identity_field]
        if entity == "person":
            names.append("Email")
        if entity == "company":
            names.append("Website")
        names += PHONE_SLOTS.get(entity, [])
        if entity in ADDRESS:
            names += [ADDRESS[entity] + part for part in _ADDRESS_PARTS]
        if entity in ("person", "project"):
            names.append("AccountId")
        return list(dict.fromkeys(names))

    def to_record(self, entity: Entity, row: Mapping[str, Any], people: Sequence[str] | None = None) -> Record:
        lead = entity == "person" and is_lead(str(row.get("Id") or ""))
        out: dict[str, Any] = {}
        for canonical, native in _scalars(entity, lead).items():
            value = row.get(native)
            if canonical == "value" and value is not None:
                value = format(float(value), "f").rstrip("0").rstrip(".")
            out[canonical] = None if value is None or value == "" else str(value)
        if entity == "person":
            out["emails"] = [row["Email"]] if row.get("Email") else []
        if entity == "company":
            domain = domain_of(row.get("Website"))
            out["domains"] = [domain] if domain else []
        slots = _phones(entity, lead)
        if slots is not None:
            out["phones"] = [str(row[s]) for s in slots if row.get(s)]
        prefix = _address(entity, lead)
        if prefix is not None:
            parts = [str(row.get(prefix + p) or "").strip() for p in _ADDRESS_PARTS]
            line = ", ".join(p for p in parts if p)
            out["addresses"] = [line] if line else []
        if lead:
            out["companies"] = []  # a lead belongs to no Account
        elif entity in ("person", "project"):
            account = ids.normalize(str(row.get("AccountId") or ""))
            out["companies"] = [account] if account else []
        if entity == "project" and people is not None:
            out["people"] = sorted(people)
        record_id = ids.normalize(str(row.get("Id") or "")) or str(row.get("Id") or "")
        ref = row.get(self.settings.identity_field)
        return Record(id=record_id, fields=out, modified_at=sf_time_ms(row.get("LastModifiedDate")),
                      cloze_ref=str(ref) if ref else None, archived=bool(row.get("IsDeleted")))

    def to_fields(self, entity: Entity, values: Mapping[str, WriteValue], *, creating: bool,
                  lead: bool = False) -> WritePlan:
        """``lead``: the fields of a Lead (updates only: new people are always created as Contacts)."""
        plan = WritePlan()
        slots = _phones(entity, lead)
        prefix = _address(entity, lead)
        for canonical, value in values.items():
            native = _scalars(entity, lead).get(canonical)
            if native is not None:
                plan.fields[native] = value if isinstance(value, str) and value != "" else None
            elif canonical == "emails" and entity == "person":
                wanted = _one_slot(value)
                plan.fields["Email"] = wanted[0] if wanted else None
                if len(wanted) > 1:
                    plan.dropped["emails"] = wanted[1:]
            elif canonical == "companies" and lead:
                continue  # a lead belongs to no Account: it holds no company reference (it reads back empty)
            elif canonical == "domains" and entity == "company":
                wanted = _one_slot(value)
                plan.fields["Website"] = wanted[0] if wanted else None
                if len(wanted) > 1:
                    plan.dropped[canonical] = wanted[1:]
            elif canonical == "phones" and slots is not None:
                wanted = _values(value)
                for slot, number in zip(slots, wanted + [None] * len(slots)):
                    plan.fields[slot] = number
                if len(wanted) > len(slots):
                    plan.dropped["phones"] = wanted[len(slots):]
            elif canonical == "addresses" and prefix is not None:
                wanted = _values(value)
                for part in _ADDRESS_PARTS:  # one formatted line cannot be split safely: it goes in Street
                    plan.fields[prefix + part] = None
                plan.fields[prefix + "Street"] = wanted[0] if wanted else None
                if len(wanted) > 1:
                    plan.dropped["addresses"] = wanted[1:]
            elif canonical in ("companies", "people"):
                plan.relations[canonical] = _values(value)
        if creating:
            self._required(entity, plan)
        return plan

    def _required(self, entity: Entity, plan: WritePlan) -> None:
        """Fill the fields Salesforce requires on create where Cloze has nothing to give."""
        if entity == "person" and not plan.fields.get("LastName"):
            plan.fields["LastName"] = self.settings.missing_last_name
        if entity == "project" and not plan.fields.get("CloseDate"):
            due = dt.date.today() + dt.timedelta(days=self.settings.default_close_days)
            plan.fields["CloseDate"] = due.isoformat()
        for name in [k for k, v in plan.fields.items() if v is None]:
            del plan.fields[name]  # a create has nothing to clear
