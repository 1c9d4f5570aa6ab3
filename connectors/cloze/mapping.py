"""Cloze records <-> canonical fields (``connectors.entities.ENTITY_KINDS``).

Reading turns a wire record into a :class:`~connectors.model.Record`. Writing
turns canonical changes into the fragment of a create/update body that makes
them, given the record as it is now: Cloze merges arrays, so a removal is sent
as the current element with ``archived: true`` (spec §2.4), and only the named
fields ever appear in the body.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.cloze.choices import ClozeApiAssumptions
from connectors.cloze.wire import (
    element_value,
    format_address,
    is_empty_enum,
    live_elements,
)
from connectors.model import CUSTOM_PREFIX, AppLink, Entity, Record, SetPatch, custom_key
from connectors.values import norm_domain, norm_email, norm_phone

Json = dict[str, Any]
Value = str | SetPatch | None

_TEXT: Mapping[Entity, Mapping[str, str]] = {
    "person": {"first": "first", "last": "last", "notes": "notes"},
    "company": {"name": "name", "industry": "industry", "description": "description"},
    "project": {"name": "name", "summary": "summary"},
}
TEXT_FIELDS = _TEXT  # canonical text field -> its wire key, stored as written
_ENUMS = ("stage", "segment")


class Unsupported(ValueError):
    """A change this API cannot express (per the ``api_assumptions`` in force)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


# -- reading -------------------------------------------------------------------------


def _values(items: Any, *keys: str) -> list[str]:
    out = []
    for item in live_elements(items):
        value = element_value(item, *keys)
        if value:
            out.append(value)
    return out


def _contact_values(items: Any) -> Any:
    """E-mails or phones; a lone element where Cloze sends a list counts as a list of one, and
    anything else goes to the normaliser as it is, which reads a string as one address and
    refuses the rest as a recorded field problem."""
    if isinstance(items, Mapping):
        items = [items]
    return _values(items) if items is None or isinstance(items, list) else items


def _enum(value: Any) -> str | None:
    return None if is_empty_enum(value) else str(value)


def _text(value: Any) -> Any:
    # Not str(): a list or an object where Cloze sends text goes to the normaliser as it came,
    # which refuses it as a recorded field problem instead of syncing its Python repr.
    if value is None or value == "":
        return None
    return value


def _ref_ids(refs: Any) -> list[str]:
    """The ``direct`` ids of the records a reference array links to (a name-only link has none)."""
    out: list[str] = []
    for ref in live_elements(refs):
        if isinstance(ref, Mapping) and isinstance(ref.get("direct"), str) and ref["direct"].strip():
            out.append(ref["direct"].strip())
    return out


def work(record: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """``(organization, title)`` of a person's current job (first live ``workHistory`` entry)."""
    jobs = [j for j in live_elements(record.get("workHistory")) if isinstance(j, Mapping)]
    org = _text(jobs[0].get("organization")) if jobs else None
    title = _text(record.get("jobtitle")) or (_text(jobs[0].get("title")) if jobs else None)
    if org is None:
        companies = [c for c in live_elements(record.get("companies")) if isinstance(c, Mapping)]
        org = _text(companies[0].get("name")) if companies else None
    return org, title


def custom_value(record: Mapping[str, Any], field_id: str) -> Any:
    for item in live_elements(record.get("customFields")):
        if isinstance(item, Mapping) and item.get("id") == field_id:
            if item.get("value") is not None:
                return item["value"]
            if item.get("min") is not None or item.get("max") is not None:
                return f"{item.get('min', '')}-{item.get('max', '')}"
    return None


def _number_text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def app_links(record: Mapping[str, Any]) -> tuple[AppLink, ...]:
    links = []
    for item in live_elements(record.get("appLinks")):
        if isinstance(item, Mapping) and item.get("source") and item.get("uniqueid"):
            links.append(
                AppLink(
                    str(item["source"]).lower(),
                    str(item["uniqueid"]),
                    str(item.get("label") or ""),
                    str(item.get("url") or ""),
                )
            )
    return tuple(links)


def to_record(
    entity: Entity,
    data: Mapping[str, Any],
    custom_fields: Sequence[str],
    assumptions: ClozeApiAssumptions,
    custom_types: Mapping[str, str] | None = None,
) -> Record:
    """A canonical :class:`Record` for one Cloze record (``id`` = its ``direct`` id)."""
    fields: dict[str, Any] = {}
    if entity == "person":
        first, last = _text(data.get("first")), _text(data.get("last"))
        if first is None and last is None and _text(data.get("name")):
            first = _text(data.get("name"))
        org, title = work(data)
        fields.update(
            first=first,
            last=last,
            title=title,
            company=org,
            emails=_contact_values(data.get("emails")),
            phones=_contact_values(data.get("phones")),
            addresses=[
                format_address(a)
                for a in live_elements(data.get("addresses"))
                if isinstance(a, Mapping) and format_address(a)
            ],
            tags=data.get("keywords"),  # the normaliser refuses what is not a list
            stage=_enum(data.get("stage")),
            segment=_enum(data.get("segment")),
            notes=_text(data.get("notes")),
            companies=_ref_ids(data.get("companies")),
        )
    elif entity == "company":
        fields.update(
            name=_text(data.get("name")),
            domains=[norm_domain(d) for d in _values(data.get("domains"), "value", "domain")],
            emails=_contact_values(data.get("emails")),
            phones=_contact_values(data.get("phones")),
            addresses=[
                format_address(a)
                for a in live_elements(data.get("addresses"))
                if isinstance(a, Mapping) and format_address(a)
            ],
            industry=_text(data.get("industry")),
            description=_text(data.get("description")),
            tags=data.get("keywords"),  # the normaliser refuses what is not a list
            stage=_enum(data.get("stage")),
            segment=_enum(data.get("segment")),
        )
    else:
        fields.update(
            name=_text(data.get("name")),
            summary=_text(data.get("summary")),
            stage=_enum(data.get("stage")),
            segment=_enum(data.get("segment")),
            value=_number_text(custom_value(data, assumptions.project_value_field)),
            close_date=_text(data.get("endDate")),
            tags=data.get("keywords"),  # the normaliser refuses what is not a list
            people=_ref_ids(data.get("clientpeople")),
            companies=_ref_ids(data.get("clientcompanies")),
        )
    for field_id in custom_fields:
        value = custom_value(data, field_id)
        if (custom_types or {}).get(field_id) in MULTI_VALUED_CUSTOM:
            value = split_custom(value)
        fields[custom_key(field_id)] = value
    modified = data.get("lastChanged")
    return Record(
        id=str(data.get("direct") or ""),
        fields=fields,
        modified_at=int(modified) if isinstance(modified, (int, float)) else None,
        app_links=app_links(data),
        archived=bool(data.get("archived")),
    )


# -- writing -------------------------------------------------------------------------


def _patch_values(patch: SetPatch, creating: bool) -> tuple[set[str], set[str]]:
    """``(add, remove)``; on create the full ``result`` counts as additions too."""
    add = set(patch.add) | (set(patch.result) if creating else set())
    return add, set() if creating else set(patch.remove)


def _find(current: Any, value: str, norm: Any, *keys: str) -> Any:
    for item in live_elements(current):
        text = element_value(item, *keys)
        if text and norm(text) == norm(value):
            return item
    return None


def _contact_points(name: str, patch: SetPatch, current: Mapping[str, Any], creating: bool) -> list[Any]:
    norm = norm_email if name == "emails" else norm_phone
    add, remove = _patch_values(patch, creating)
    items: list[Any] = []
    for value in sorted(remove):
        found = _find(current.get(name), value, norm)
        items.append(
            {**found, "archived": True} if isinstance(found, Mapping) else {"value": value, "archived": True}
        )
    items += [{"value": v} for v in sorted(add)]
    return items


def _addresses(patch: SetPatch, current: Mapping[str, Any], creating: bool) -> list[Any]:
    add, remove = _patch_values(patch, creating)
    items: list[Any] = []
    for line in sorted(remove):
        found = next(
            (
                a
                for a in live_elements(current.get("addresses"))
                if isinstance(a, Mapping) and format_address(a).lower() == " ".join(line.split()).lower()
            ),
            None,
        )
        items.append({**found, "archived": True} if found else {"formatted": line, "archived": True})
    # The line goes in as ``street`` as well, so it reads back the same whether or not ``formatted`` is stored.
    items += [{"street": line, "formatted": line} for line in sorted(add)]
    return items


def _keywords(
    patch: SetPatch, current: Mapping[str, Any], creating: bool, a: ClozeApiAssumptions
) -> list[str]:
    add, remove = _patch_values(patch, creating)
    existing = [str(k) for k in current.get("keywords") or []]
    if a.keywords_write == "merge":
        if remove:
            raise Unsupported(
                "tags", "removing a tag is not possible with api_assumptions.keywords_write='merge'"
            )
        return sorted(add)
    drop = {r.lower() for r in remove}
    kept = [k for k in existing if k.lower() not in drop]
    return kept + sorted(v for v in add if v.lower() not in {k.lower() for k in kept})


def _domains(patch: SetPatch, creating: bool, a: ClozeApiAssumptions) -> list[Any]:
    add, remove = _patch_values(patch, creating)
    if remove and a.string_element_removal == "unsupported":
        raise Unsupported(
            "domains", "removing a company domain is disabled (api_assumptions.string_element_removal)"
        )
    return [{"value": d, "archived": True} for d in sorted(remove)] + sorted(norm_domain(d) for d in add)


def _refs(field: str, patch: SetPatch, creating: bool, a: ClozeApiAssumptions) -> list[Json]:
    """Reference elements naming each record by its ``direct`` id (spec §2.3: CompanyRef and
    PersonRef carry it), so a relation needs no e-mail or domain; ``archived`` unlinks."""
    add, remove = _patch_values(patch, creating)
    if remove and a.relation_unlink == "unsupported":
        raise Unsupported(field, f"unlinking ({field}) is disabled (api_assumptions.relation_unlink)")
    return [{"direct": v, "archived": True} for v in sorted(remove)] + [{"direct": v} for v in sorted(add)]


def _number(value: str) -> int | float:
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise Unsupported("value", f"not a number: {value!r}") from None
    return int(number) if number == number.to_integral_value() else float(number)


def _work(fields: Mapping[str, Value], current: Mapping[str, Any]) -> list[Json]:
    """``workHistory`` elements that set a person's title and/or company.

    Cloze merges ``workHistory`` elements by organization, so a change of title is
    written under the current job's own organization (which may be empty when the
    company shown comes from a company relation); otherwise it would add a second job.
    """
    cur_org, cur_title = work(current)
    jobs = [j for j in live_elements(current.get("workHistory")) if isinstance(j, Mapping)]
    job_org = str(jobs[0].get("organization") or "") if jobs else None
    org = _scalar(fields["company"]) if "company" in fields else cur_org
    title = _scalar(fields["title"]) if "title" in fields else cur_title
    items: list[Json] = []
    moved = "company" in fields and (org or "").lower() != (cur_org or "").lower()
    if not moved and job_org is not None:
        items.append({"organization": job_org, "title": title or ""})
        return items
    if moved and job_org is not None:
        items.append({"organization": job_org, "archived": True})
    if org or title:
        items.append({"organization": org or "", "title": title or ""})
    return items


def _scalar(value: Value) -> str | None:
    if isinstance(value, SetPatch):
        raise Unsupported("?", "a set change was given for a single-valued field")
    return value


def body_for(
    entity: Entity,
    fields: Mapping[str, Value],
    current: Mapping[str, Any],
    assumptions: ClozeApiAssumptions,
    custom_types: Mapping[str, str],
    *,
    creating: bool = False,
) -> Json:
    """The body fragment that applies ``fields`` to ``current`` (``{}`` for a new record)."""
    body: Json = {}
    custom: list[Json] = []
    for name, value in fields.items():
        try:
            if name in _TEXT[entity]:
                body[_TEXT[entity][name]] = _scalar(value) or ""
            elif name in _ENUMS:
                body[name] = _scalar(value) or assumptions.clear_enum_value
            elif name in ("title", "company") and entity == "person":
                continue  # both handled together below
            elif name in ("emails", "phones") and entity != "project":
                body[name] = _contact_points(name, _patch(value), current, creating)
            elif name == "addresses" and entity != "project":
                body["addresses"] = _addresses(_patch(value), current, creating)
            elif name == "tags":
                body["keywords"] = _keywords(_patch(value), current, creating, assumptions)
            elif name == "domains" and entity == "company":
                body["domains"] = _domains(_patch(value), creating, assumptions)
            elif name == "companies" and entity == "person":
                body["companies"] = _refs(name, _patch(value), creating, assumptions)
            elif name == "companies" and entity == "project":
                body["clientcompanies"] = _refs(name, _patch(value), creating, assumptions)
            elif name == "people" and entity == "project":
                body["clientpeople"] = _refs(name, _patch(value), creating, assumptions)
            elif name == "value" and entity == "project":
                number = _scalar(value)
                custom.append(
                    {
                        "id": assumptions.project_value_field,
                        "type": assumptions.project_value_type,
                        "value": _number(number) if number else None,
                        "replace": True,
                    }
                )
            elif name == "close_date" and entity == "project":
                body["endDate"] = _scalar(value) or ""
            elif name.startswith(CUSTOM_PREFIX):
                custom.append(_custom(name[len(CUSTOM_PREFIX) :], value, current, custom_types))
            else:
                raise Unsupported(name, f"Cloze has no canonical field {name!r} for a {entity}")
        except Unsupported as exc:
            if exc.field == "?":
                raise Unsupported(
                    name, f"a set change was given for the single-valued field {name!r}"
                ) from None
            raise
    if entity == "person" and ("title" in fields or "company" in fields):
        jobs = _work(fields, current)
        if jobs:
            body["workHistory"] = jobs
    if entity == "person" and ("first" in fields or "last" in fields) and not creating:
        body["replaceIdentity"] = "replace"  # a sync must overwrite names, not "merge when safe" (spec §2.4)
    if custom:
        body["customFields"] = custom
    return body


def _patch(value: Value) -> SetPatch:
    if isinstance(value, SetPatch):
        return value
    if value is None:
        return SetPatch()
    return SetPatch(add=frozenset([value]))


MULTI_VALUED_CUSTOM = frozenset(("keywords", "people", "entities", "projects", "contacts", "references"))
_CUSTOM_SEPARATOR = re.compile(r"\s*[,;]\s*")


def split_custom(value: Any) -> list[str]:
    """The values of a multi-valued custom field, whose ``value`` is one string (spec §2.5, §7)."""
    items = value if isinstance(value, list) else [value] if value not in (None, "") else []
    return [part for item in items for part in _CUSTOM_SEPARATOR.split(str(item).strip()) if part]


def _custom(field_id: str, value: Value, current: Mapping[str, Any], types: Mapping[str, str]) -> Json:
    ftype = types.get(field_id, "text")
    if isinstance(value, SetPatch):
        values = split_custom(custom_value(current, field_id))
        drop = set(value.remove)
        merged = [v for v in values if v not in drop] + sorted(v for v in value.add if v not in values)
        # the schema's value is a scalar: a set travels as one comma-separated string
        return {"id": field_id, "type": ftype, "value": ", ".join(merged) or None, "replace": True}
    if value is None:
        return {"id": field_id, "type": ftype, "value": None, "replace": True}
    if ftype in ("number", "decimal", "currency"):
        return {"id": field_id, "type": ftype, "value": _number(value), "replace": True}
    return {"id": field_id, "type": ftype, "value": value, "replace": True}
