"""How a create/update body merges into a stored record (spec §2.4, §9.5).

Pure functions over plain dicts. Arrays of sub-objects merge element by element
under a key (an email's value, an App Link's ``(source, uniqueid)``...); an
element sent with ``archived: true`` removes its match. Scalars are overwritten
by the body; ``default*`` fields fill only empty values; custom fields merge by
id unless ``replace: true``. ``keywords`` follow the ``keywords_mode`` switch.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal

from connectors.cloze.wire import format_address, is_empty_enum
from connectors.model import Entity
from connectors.values import norm_domain, norm_email, norm_phone  # as the sync engine compares them

Key = Callable[[Mapping[str, Any]], Any]


def _text(item: Mapping[str, Any], name: str) -> str:
    value = item.get(name)
    return str(value).strip() if value is not None else ""


def _email_key(item: Mapping[str, Any]) -> Any:
    return norm_email(_text(item, "value")) or None


def _phone_key(item: Mapping[str, Any]) -> Any:
    return norm_phone(_text(item, "value")) or None


def _address_key(item: Mapping[str, Any]) -> Any:
    return format_address(item).lower() or None


def _social_key(item: Mapping[str, Any]) -> Any:
    value = _text(item, "value").lower()
    return (_text(item, "type").lower(), value) if value else None


def _url_key(item: Mapping[str, Any]) -> Any:
    return (_text(item, "address") or _text(item, "value")).lower() or None


def _work_key(item: Mapping[str, Any]) -> Any:
    return _text(item, "organization").lower()


def _app_link_key(item: Mapping[str, Any]) -> Any:
    source, uid = _text(item, "source").lower(), _text(item, "uniqueid")
    return (source, uid) if source and uid else None


def link_key(item: Mapping[str, Any]) -> Any:
    """Key of a stored link to another record: its direct id, else its name."""
    if item.get("direct"):
        return ("direct", str(item["direct"]))
    name = _text(item, "name").lower()
    return ("name", name) if name else None


_COMMON: dict[str, Key] = {
    "addresses": _address_key,
    "appLinks": _app_link_key,
}
_CONTACT: dict[str, Key] = {
    **_COMMON,
    "emails": _email_key,
    "phones": _phone_key,
    "faxes": _phone_key,
    "socials": _social_key,
    "urls": _url_key,
}
ARRAYS: Mapping[Entity, Mapping[str, Key]] = {
    "person": {**_CONTACT, "workHistory": _work_key},
    "company": _CONTACT,
    "project": _COMMON,
}
LINKS: Mapping[Entity, tuple[str, ...]] = {
    "person": ("companies",),
    "company": (),
    "project": ("clientpeople", "partnerpeople", "clientcompanies", "partnercompanies"),
}
"""Arrays of references to other records; the store resolves them (they may create records)."""

STRING_SETS: Mapping[Entity, Mapping[str, Callable[[str], str]]] = {
    "person": {},
    "company": {"domains": norm_domain},
    "project": {"projectTeam": norm_email, "pictures": str.strip},
}

_IDENTITY = ("name", "first", "middle", "last", "gender", "formality", "birthday")
SCALARS: Mapping[Entity, frozenset[str]] = {
    "person": frozenset(
        (
            *_IDENTITY,
            "headline",
            "household",
            "picture",
            "private",
            "locale",
            "country",
            "location",
            "stage",
            "segment",
            "step",
            "atAGlanceNotes",
            "notes",
            "archived",
            "visibility",
            "campaignId",
            "bucket",
        )
    ),
    "company": frozenset(
        (
            "name",
            "description",
            "industry",
            "businessSize",
            "employees",
            "headline",
            "picture",
            "stage",
            "segment",
            "step",
            "country",
            "location",
            "locale",
            "archived",
            "atAGlanceNotes",
            "notes",
            "visibility",
        )
    ),
    "project": frozenset(
        (
            "name",
            "summary",
            "stage",
            "segment",
            "step",
            "node",
            "archived",
            "atAGlanceNotes",
            "notes",
            "createdDate",
            "startDate",
            "pendingDate",
            "endDate",
            "visibility",
        )
    ),
}
DEFAULTS = {
    "defaultStage": "stage",
    "defaultSegment": "segment",
    "defaultStep": "step",
    "defaultAssignTo": "assignee",
    "defaultNode": "node",
}
AUDITED = ("stage", "segment", "step")
_SEPARATORS = r"[,;]"
_MULTI_TYPES = frozenset(("keywords", "people", "entities", "projects", "contacts", "references"))


def merge_array(stored: list[Any], incoming: Any, key: Key) -> None:
    """Merge ``incoming`` elements into ``stored`` in place (``archived: true`` removes)."""
    if not isinstance(incoming, list):
        incoming = [incoming] if isinstance(incoming, Mapping) else []
    for item in incoming:
        if isinstance(item, str):
            item = {"value": item}
        if not isinstance(item, Mapping):
            continue
        k = key(item)
        if k is None:
            continue
        found = next((i for i, e in enumerate(stored) if isinstance(e, Mapping) and key(e) == k), None)
        if item.get("archived"):
            if found is not None:
                del stored[found]
            continue
        clean = {n: copy.deepcopy(v) for n, v in item.items() if n not in ("archived", "replace")}
        if found is None:
            stored.append(clean)
        else:
            stored[found] = {**stored[found], **clean}
        target = stored[found if found is not None else -1]
        if key is _address_key and not target.get("formatted"):
            target["formatted"] = format_address(target)


def merge_strings(stored: list[str], incoming: Any, norm: Callable[[str], str]) -> None:
    """A set of plain strings; an element ``{value, archived: true}`` removes (EMULATOR_CHOICES §domains)."""
    if not isinstance(incoming, list):
        incoming = [incoming]
    for item in incoming:
        archived = False
        if isinstance(item, Mapping):
            archived = bool(item.get("archived"))
            item = item.get("value") or item.get("domain") or item.get("address")
        if not isinstance(item, str) or not norm(item):
            continue
        value = norm(item)
        if archived:
            stored[:] = [s for s in stored if s != value]
        elif value not in stored:
            stored.append(value)


def merge_custom_fields(stored: list[dict[str, Any]], incoming: Any, split_at: Any = None) -> None:
    """Merge by field id. A multi-valued field keeps a scalar ``value`` (the schema's string or
    number): its values are joined with ``", "`` and an incoming string is split at ``split_at``
    (a regex) or else at commas and semicolons."""
    if not isinstance(incoming, list):
        return
    for item in incoming:
        if not isinstance(item, Mapping) or not item.get("id"):
            continue
        fid = str(item["id"])
        found = next((i for i, e in enumerate(stored) if e.get("id") == fid), None)
        has_value = any(item.get(k) not in (None, "") for k in ("value", "min", "max"))
        if not has_value:
            if found is not None:
                del stored[found]
            continue
        clean = {n: copy.deepcopy(v) for n, v in item.items() if n != "replace"}
        if found is None:
            stored.append(clean)
            continue
        old = stored[found]
        ftype = str(clean.get("type") or old.get("type") or "")
        if ftype in _MULTI_TYPES and not item.get("replace"):
            merged = _split(old.get("value"), split_at)
            merged += [v for v in _split(clean.get("value"), split_at) if v not in merged]
            clean["value"] = ", ".join(merged)
        stored[found] = {**old, **clean}


def _split(value: Any, split_at: Any) -> list[str]:
    if value is None or value == "":
        return []
    items = value if isinstance(value, list) else [value]  # a list is stored as sent (value_validation "store")
    pattern = split_at if isinstance(split_at, str) and split_at else _SEPARATORS
    out: list[str] = []
    for item in items:
        for part in re.split(pattern, str(item)):
            if part.strip() and part.strip() not in out:
                out.append(part.strip())
    return out


def merge_keywords(stored: list[str], incoming: Any, mode: Literal["replace", "merge"]) -> list[str]:
    values = [
        str(v).strip() for v in (incoming if isinstance(incoming, list) else [incoming]) if v is not None
    ]
    values = list(dict.fromkeys(v for v in values if v))
    if mode == "replace":
        return values
    return stored + [v for v in values if v not in stored]


def apply(
    entity: Entity, data: dict[str, Any], body: Mapping[str, Any], keywords_mode: Literal["replace", "merge"]
) -> None:
    """Merge ``body`` into the stored record ``data`` in place (links excluded)."""
    for name, value in body.items():
        if name in SCALARS[entity]:
            if name in AUDITED:
                data[name] = "" if is_empty_enum(value) else value
            elif value is None:
                data.pop(name, None)
            else:
                data[name] = copy.deepcopy(value)
        elif name in DEFAULTS:
            target = DEFAULTS[name]
            if not is_empty_enum(value) and is_empty_enum(data.get(target)):
                data[target] = value
        elif name == "assignTo" and isinstance(value, str):
            data["assignee"] = norm_email(value)
        elif name in ARRAYS[entity]:
            merge_array(data.setdefault(name, []), value, ARRAYS[entity][name])
        elif name in STRING_SETS[entity]:
            merge_strings(data.setdefault(name, []), value, STRING_SETS[entity][name])
        elif name == "keywords":
            data["keywords"] = merge_keywords(list(data.get("keywords", [])), value, keywords_mode)
        elif name == "customFields":
            merge_custom_fields(data.setdefault("customFields", []), value, body.get("splitAt"))
    if entity == "person":
        _person_name(data, body)
    for name in [n for n, v in data.items() if v == [] and n != "keywords"]:
        del data[name]


def _person_name(data: dict[str, Any], body: Mapping[str, Any]) -> None:
    """Keep ``name`` and ``first``/``last`` consistent whichever of them the body set."""
    if "name" in body and "first" not in body and "last" not in body and isinstance(body["name"], str):
        first, _, last = body["name"].strip().partition(" ")
        data["first"], data["last"] = first, last.strip()
    parts = [str(data[k]).strip() for k in ("first", "middle", "last") if data.get(k)]
    if parts:
        data["name"] = " ".join(parts)


def fold(entity: Entity, survivor: dict[str, Any], other: Mapping[str, Any]) -> None:
    """Merge a second record into ``survivor`` (two records matched one payload)."""
    for name in SCALARS[entity]:
        if is_empty_enum(survivor.get(name)) and not is_empty_enum(other.get(name)):
            survivor[name] = copy.deepcopy(other[name])
    for name, key in ARRAYS[entity].items():
        if other.get(name):
            stored = survivor.setdefault(name, [])
            merge_array(stored, [e for e in other[name] if not any(key(s) == key(e) for s in stored)], key)
    for name in LINKS[entity]:
        if other.get(name):
            merge_array(survivor.setdefault(name, []), copy.deepcopy(other[name]), link_key)
    for name, norm in STRING_SETS[entity].items():
        if other.get(name):
            merge_strings(survivor.setdefault(name, []), list(other[name]), norm)
    if other.get("keywords"):
        survivor["keywords"] = merge_keywords(
            list(survivor.get("keywords", [])), list(other["keywords"]), "merge"
        )
    for item in other.get("customFields", []):
        if not any(e.get("id") == item.get("id") for e in survivor.get("customFields", [])):
            survivor.setdefault("customFields", []).append(copy.deepcopy(item))
    if not survivor.get("assignee") and other.get("assignee"):
        survivor["assignee"] = other["assignee"]


def audit_changes(entity: Entity, before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """``{field: {before, after}}`` for the audited fields (stage, segment, step, custom fields)."""
    changes: dict[str, Any] = {}
    for name in AUDITED:
        old, new = before.get(name) or "", after.get(name) or ""
        if old != new:
            changes[name] = {"before": old or "none", "after": new or "none"}
    old_cf = {c["id"]: c.get("value") for c in before.get("customFields", [])}
    new_cf = {c["id"]: c.get("value") for c in after.get("customFields", [])}
    for fid in sorted(set(old_cf) | set(new_cf)):
        if old_cf.get(fid) != new_cf.get(fid):
            changes[fid] = {"before": old_cf.get(fid), "after": new_cf.get(fid)}
    return changes


def identity_keys(entity: Entity, data: Mapping[str, Any]) -> list[tuple[str, ...]]:
    """Index keys naming a record or a body, strongest first (direct, syncKey, App Links, contact points)."""
    keys: list[tuple[str, ...]] = []
    direct = data.get("direct")
    if isinstance(direct, str) and direct:
        keys.append(("direct", direct.removeprefix("direct:")))
    if isinstance(data.get("syncKey"), str) and data["syncKey"]:
        keys.append(("sync", data["syncKey"]))
    for link in _live(data.get("appLinks")):
        k = _app_link_key(link)
        if k:
            keys.append(("app", *k))
    if entity != "project":
        for item in _live(data.get("emails")):
            if _email_key(item):
                keys.append(("email", _email_key(item)))
        for item in _live(data.get("phones")):
            if _phone_key(item):
                keys.append(("phone", _phone_key(item)))
        if entity == "company":
            for domain in data.get("domains", []) if isinstance(data.get("domains"), list) else []:
                if isinstance(domain, str) and norm_domain(domain):
                    keys.append(("domain", norm_domain(domain)))
        for item in _live(data.get("socials")):
            k = _social_key(item)
            if k:
                keys.append(("social", f"{k[0]}:{k[1]}"))
    return keys


def _live(items: Any) -> list[Mapping[str, Any]]:
    if not isinstance(items, list):
        return []
    return [
        i if isinstance(i, Mapping) else {"value": i}
        for i in items
        if isinstance(i, (Mapping, str)) and not (isinstance(i, Mapping) and i.get("archived"))
    ]
