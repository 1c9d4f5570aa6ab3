"""Canonical fields <-> HubSpot properties for contacts (person), companies (company) and deals (project).

Relation fields (a person's ``companies``, a project's ``people`` and ``companies``) are
associations, not properties; :mod:`connectors.hubspot.relations` reads and writes them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from connectors.entities import ENTITY_KINDS
from connectors.errors import ApiError
from connectors.hubspot import values as v
from connectors.hubspot.settings import HubSpotSettings
from connectors.model import Entity, FieldSpec, Record, SetPatch, custom_key

OBJECT_TYPE: dict[Entity, str] = {"person": "contacts", "company": "companies", "project": "deals"}
MODIFIED: dict[str, str] = {"contacts": "lastmodifieddate", "companies": "hs_lastmodifieddate",
                            "deals": "hs_lastmodifieddate"}
# Relation fields: canonical name -> the associated object type whose ids the field lists.
RELATIONS: dict[Entity, dict[str, str]] = {
    "person": {"companies": "companies"},
    "company": {},
    "project": {"people": "contacts", "companies": "companies"},
}
# Fields whose current HubSpot values decide how a new set is laid out in slots.
_SLOTTED = {"emails", "phones", "domains", "addresses"}

WriteValue = str | SetPatch | None


@dataclass
class WritePlan:
    """HubSpot properties for one write, plus what could not be stored."""

    properties: dict[str, str] = field(default_factory=dict)
    relations: dict[str, list[str]] = field(default_factory=dict)
    dropped: dict[str, list[str]] = field(default_factory=dict)


class Mapper:
    """Converts between one pair's canonical records and HubSpot objects."""

    def __init__(self, settings: HubSpotSettings, custom_fields: Mapping[Entity, Sequence[str]]) -> None:
        self.settings = settings
        self.custom = {e: list(custom_fields.get(e, ())) for e in OBJECT_TYPE}
        s = settings
        scalars: dict[Entity, dict[str, str | None]] = {
            "person": {"first": "firstname", "last": "lastname", "title": "jobtitle", "company": "company",
                       "stage": s.person_stage_property, "segment": s.person_segment_property,
                       "notes": s.person_notes_property},
            "company": {"name": "name", "industry": s.company_industry_property, "description": "description",
                        "stage": s.company_stage_property, "segment": s.company_segment_property},
            "project": {"name": "dealname", "summary": "description", "stage": s.project_stage_property,
                        "segment": s.project_segment_property, "value": s.project_value_property},
        }
        self.scalars: dict[Entity, dict[str, str]] = {
            e: {k: p for k, p in m.items() if p} for e, m in scalars.items()}

    # -- description -----------------------------------------------------------------

    def fields(self, entity: Entity) -> dict[str, FieldSpec]:
        specs = ENTITY_KINDS.fields(entity)
        names = set(self.scalars[entity])
        names |= {"person": {"emails", "phones", "addresses"}, "company": {"domains", "phones", "addresses"},
                  "project": {"close_date"}}[entity]
        if self.settings.tags_property:
            names.add("tags")
        if self.settings.read_associations:
            names |= set(RELATIONS[entity])
        out = {name: spec for name, spec in specs.items() if name in names}
        if entity == "company" and self.settings.company_industry_property == "industry":
            # HubSpot's own industry property is a dropdown of fixed keys (ACCOUNTING, ...).
            out["industry"] = replace(out["industry"], fixed_values=True)
        return out

    def read_properties(self, entity: Entity) -> list[str]:
        """Every HubSpot property a read of ``entity`` asks for."""
        object_type = OBJECT_TYPE[entity]
        props = set(self.scalars[entity].values())
        props |= {"person": {"email", "hs_additional_emails", "phone", "mobilephone", *v.ADDRESS_PARTS},
                  "company": {"domain", "hs_additional_domains", "phone", "address2", *v.ADDRESS_PARTS},
                  "project": {"closedate"}}[entity]
        props |= {self.settings.identity_property, MODIFIED[object_type], "createdate", "hs_object_id"}
        if self.settings.tags_property:
            props.add(self.settings.tags_property)
        props |= set(self.custom[entity])
        return sorted(props)

    # -- HubSpot -> canonical ---------------------------------------------------------

    def to_record(self, entity: Entity, obj: Mapping[str, Any],
                  relations: Mapping[str, Sequence[str]] | None = None) -> Record:
        props: Mapping[str, Any] = obj.get("properties") or {}

        def get(name: str) -> str | None:
            value = props.get(name)
            return None if value in (None, "") else str(value)

        def raw(name: str) -> Any:
            # Scalars go to the normaliser as HubSpot sent them: str() would sync a list's or an object's repr.
            value = props.get(name)
            return None if value is None or value == "" else value

        fields: dict[str, Any] = {name: raw(prop) for name, prop in self.scalars[entity].items()}
        if entity == "person":
            fields["emails"] = _unique([get("email"), *v.split_joined(get("hs_additional_emails"))])
            fields["phones"] = _unique([get("phone"), get("mobilephone")])
            fields["addresses"] = _unique([v.format_address({p: get(p) for p in v.ADDRESS_PARTS})])
        elif entity == "company":
            fields["domains"] = _unique([get("domain"), *v.split_joined(get("hs_additional_domains"))])
            fields["phones"] = _unique([get("phone")])
            fields["addresses"] = _unique([v.format_address({p: get(p) for p in v.ADDRESS_PARTS},
                                                            street_extra=get("address2"))])
        else:
            fields["close_date"] = v.date_part(get("closedate"))
        if self.settings.tags_property:
            fields["tags"] = sorted(set(v.split_joined(get(self.settings.tags_property))))
        if relations is not None:
            for name in RELATIONS[entity]:
                fields[name] = sorted(set(relations.get(name, ())))
        for prop in self.custom[entity]:
            fields[custom_key(prop)] = get(prop)
        modified = v.ms_from(get(MODIFIED[OBJECT_TYPE[entity]])) or v.ms_from(obj.get("updatedAt"))
        return Record(id=str(obj["id"]), fields=fields, modified_at=modified,
                      cloze_ref=get(self.settings.identity_property), archived=bool(obj.get("archived")))

    # -- canonical -> HubSpot ---------------------------------------------------------

    def needs_current(self, entity: Entity, fields: Mapping[str, WriteValue]) -> bool:
        """Whether laying out these values needs the record's current HubSpot values."""
        for name, value in fields.items():
            if name in _SLOTTED:
                return True
            if isinstance(value, SetPatch) and not value.result and (value.add or value.remove):
                return True
        return False

    def to_properties(self, entity: Entity, fields: Mapping[str, WriteValue],
                      current: Mapping[str, Any] | None = None) -> WritePlan:
        """HubSpot properties for the given canonical values (only those given)."""
        now: Mapping[str, Any] = (current or {}).get("properties") or {}

        def cur(name: str) -> str | None:
            value = now.get(name)
            return None if value in (None, "") else str(value)

        plan = WritePlan()
        scalars = self.scalars[entity]
        for name, value in fields.items():
            if name in scalars:
                plan.properties[scalars[name]] = _scalar(value)
            elif name in RELATIONS[entity]:
                plan.relations[name] = _members(value, [])
            elif name == "tags" and self.settings.tags_property:
                tags_now = v.split_joined(cur(self.settings.tags_property))
                plan.properties[self.settings.tags_property] = v.join(_members(value, tags_now, v.norm_text))
            elif name == "close_date" and entity == "project":
                day = _scalar(value)
                plan.properties["closedate"] = v.midnight_ms(day) if day else ""
            elif name == "emails" and entity == "person":
                current_all = [e for e in [cur("email"), *v.split_joined(cur("hs_additional_emails"))] if e]
                wanted = _members(value, current_all, v.norm_email)
                primary, rest = v.primary_and_rest(wanted, cur("email"), v.norm_email)
                plan.properties["email"] = primary
                if self.settings.write_additional_emails:
                    plan.properties["hs_additional_emails"] = ";".join(rest)
                elif rest:
                    plan.dropped["emails"] = rest
            elif name == "domains" and entity == "company":
                current_all = [d for d in [cur("domain"), *v.split_joined(cur("hs_additional_domains"))] if d]
                wanted = _members(value, current_all, v.norm_domain)
                primary, rest = v.primary_and_rest(wanted, cur("domain"), v.norm_domain)
                plan.properties["domain"] = primary
                plan.properties["hs_additional_domains"] = ";".join(rest)
            elif name == "phones":
                slot_names = ["phone", "mobilephone"] if entity == "person" else ["phone"]
                current_slots = [cur(n) for n in slot_names]
                wanted = _members(value, [p for p in current_slots if p], v.norm_phone)
                slots, extra = v.fill_slots(wanted, current_slots, v.norm_phone)
                for slot_name, slot_value in zip(slot_names, slots):
                    plan.properties[slot_name] = slot_value or ""
                if extra:
                    plan.dropped["phones"] = extra
            elif name == "addresses" and entity in ("person", "company"):
                street_extra = cur("address2") if entity == "company" else None
                line_now = v.format_address({p: cur(p) for p in v.ADDRESS_PARTS}, street_extra=street_extra)
                wanted = _members(value, [line_now] if line_now else [], v.norm_text)
                slots, extra = v.fill_slots(wanted, [line_now], v.norm_text)
                if slots[0] != line_now:
                    plan.properties.update(v.parse_address(slots[0]) if slots[0] else
                                           {p: "" for p in v.ADDRESS_PARTS})
                    if entity == "company":
                        plan.properties["address2"] = ""
                if extra:
                    plan.dropped["addresses"] = extra
            elif name.startswith("custom:") and name[len("custom:"):] in self.custom[entity]:
                prop = name[len("custom:"):]
                plan.properties[prop] = (v.join(_members(value, v.split_joined(cur(prop))))
                                         if isinstance(value, SetPatch) else _scalar(value))
            else:
                plan.dropped.setdefault("unmapped", []).append(name)
        return plan


def _unique(items: Sequence[str | None]) -> list[str]:
    seen: list[str] = []
    for item in items:
        if item and item not in seen:
            seen.append(item)
    return seen


def _scalar(value: WriteValue) -> str:
    if value is None:
        return ""  # HubSpot clears a property given an empty string
    if isinstance(value, SetPatch):
        return v.join(value.result)
    return value


def _members(value: WriteValue, current: Sequence[str], norm: Any = v.norm_text) -> list[str]:
    if isinstance(value, SetPatch):
        return v.patch_result(value, current, norm)
    if value is None:
        return []
    return [value] if value.strip() else []


def row_id(row: Any) -> str:
    """The id of one result row; a row without one is a reply cloze-syncd cannot read at all."""
    object_id = row.get("id") if isinstance(row, Mapping) else None
    if isinstance(object_id, bool) or not isinstance(object_id, (str, int)) or not str(object_id).strip():
        raise ApiError(f"HubSpot sent a result row without a usable id ({type(row).__name__})", side="external")
    return str(object_id)


def shape_problem(row: Mapping[str, Any]) -> str | None:
    """Why a result row (with an id) cannot be read as a record, or ``None`` when it can."""
    props = row.get("properties")
    if props is not None and not isinstance(props, Mapping):
        return f"HubSpot sent record {row_id(row)} with properties as a {type(props).__name__}, not an object"
    return None
