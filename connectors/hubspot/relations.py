"""Relation fields as HubSpot associations (v4): a person's companies, a project's people and companies.

Canonically a relation lists keys: the primary ``domain`` of each associated company and
the primary ``email`` of each associated contact. Reading turns associations into those
keys; writing resolves keys to record ids (records seen in this run first, because
search results lag behind writes, then search) and adds or archives the default
(unlabeled) association so HubSpot matches the wanted set. Associated records without
a key (a company with no domain) are not part of the canonical set and are left alone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from connectors.hubspot import values as v
from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.mapping import OBJECT_TYPE, RELATIONS
from connectors.model import Entity

KEY_PROPERTY = {"contacts": "email", "companies": "domain"}
_NORM = {"contacts": v.norm_email, "companies": v.norm_domain}
_IN_CHUNK = 40  # values per IN filter: a search body must stay under 3,000 characters


def chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class KeyCache:
    """Key (e-mail / domain) -> id of records read or written in this run."""

    def __init__(self) -> None:
        self._ids: dict[str, dict[str, str]] = defaultdict(dict)

    def remember(self, object_type: str, obj: Mapping[str, Any]) -> None:
        prop = KEY_PROPERTY.get(object_type)
        if prop is None:
            return
        key = ((obj.get("properties") or {}).get(prop) or "")
        if key:
            self._ids[object_type][_NORM[object_type](str(key))] = str(obj["id"])

    def forget(self, object_type: str, object_id: str) -> None:
        table = self._ids.get(object_type, {})
        for key in [k for k, i in table.items() if i == object_id]:
            table.pop(key)

    def get(self, object_type: str, key: str) -> str | None:
        return self._ids.get(object_type, {}).get(_NORM[object_type](key))


def sub_category(error: Mapping[str, Any]) -> str:
    """An error's ``subCategory``: a string in live replies, an object in the OpenAPI files."""
    value = error.get("subCategory")
    if isinstance(value, Mapping):
        value = next((v for v in value.values() if isinstance(v, str)), "")
    return str(value or "")


def archive_failures(body: Any, inputs: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """``{from id: [to ids still linked]}`` from a batch/archive reply.

    v4 answers 204 with no body; 2026-03 answers a BatchResponse whose ``errors`` name the
    failed inputs in ``context.fromObjectId``. An error that names no input fails the whole chunk,
    so a link is never reported as removed when it may not be.
    """
    errors = (body or {}).get("errors") if isinstance(body, Mapping) else None
    if not errors:
        return {}
    wanted = {str(i["from"]["id"]): [str(t["id"]) for t in i["to"]] for i in inputs}
    failed: dict[str, list[str]] = {}
    for error in errors:
        named = [str(x) for x in ((error.get("context") or {}).get("fromObjectId") or []) if str(x) in wanted]
        for from_id in named or list(wanted):
            failed[from_id] = wanted[from_id]
    return failed


@dataclass
class RelationOutcome:
    """Per record id and relation field: keys that resolved to no record, and keys HubSpot kept linked."""

    unresolved: dict[str, dict[str, list[str]]] = field(default_factory=lambda: defaultdict(dict))
    not_removed: dict[str, dict[str, list[str]]] = field(default_factory=lambda: defaultdict(dict))


class Relations:
    def __init__(self, client: HubSpotClient, cache: KeyCache, batch_size: int) -> None:
        self.client = client
        self.cache = cache
        self.batch_size = batch_size

    # -- reading ----------------------------------------------------------------------

    def read(self, entity: Entity, ids: Sequence[str]) -> dict[str, dict[str, list[str]]]:
        """``{record id: {relation field: [keys]}}`` for every id (empty lists included)."""
        out: dict[str, dict[str, list[str]]] = {i: {} for i in ids}
        from_type = OBJECT_TYPE[entity]
        for field_name, to_type in RELATIONS[entity].items():
            links = self.associated(from_type, to_type, ids)
            keys = self.keys(to_type, sorted({t for targets in links.values() for t in targets}))
            for record_id in ids:
                out[record_id][field_name] = sorted({keys[t] for t in links.get(record_id, []) if t in keys})
        return out

    def associated(self, from_type: str, to_type: str, ids: Sequence[str]) -> dict[str, list[str]]:
        """``{from id: [to ids]}`` through the v4 batch read (no associations: an empty list)."""
        found: dict[str, list[str]] = {}
        for chunk in chunks(list(ids), self.batch_size):
            reply = self.client.post(self.client.paths.associations(from_type, to_type, "read"),
                                     {"inputs": [{"id": i} for i in chunk]})
            for result in (reply.body or {}).get("results", []):
                from_id = str((result.get("from") or {}).get("id"))
                found[from_id] = [str(t.get("toObjectId")) for t in result.get("to") or []]
            # 207 errors here say "no associations" (crm.associations.NO_ASSOCIATIONS_FOUND): nothing to add.
        return found

    def keys(self, object_type: str, ids: Sequence[str]) -> dict[str, str]:
        """``{id: key}`` for the records that have a key."""
        prop = KEY_PROPERTY[object_type]
        out: dict[str, str] = {}
        for chunk in chunks(list(ids), self.batch_size):
            reply = self.client.post(f"{self.client.paths.objects(object_type)}/batch/read",
                                     {"inputs": [{"id": i} for i in chunk], "properties": [prop]})
            for obj in (reply.body or {}).get("results", []):
                self.cache.remember(object_type, obj)
                key = (obj.get("properties") or {}).get(prop)
                if key:
                    out[str(obj["id"])] = str(key)
        return out

    # -- writing ----------------------------------------------------------------------

    def resolve(self, object_type: str, keys: Iterable[str]) -> dict[str, str]:
        """``{normalised key: id}`` for the keys HubSpot has (oldest record wins a tie)."""
        norm = _NORM[object_type]
        wanted = sorted({norm(k) for k in keys if k})
        found: dict[str, str] = {}
        missing = []
        for key in wanted:
            cached = self.cache.get(object_type, key)
            if cached:
                found[key] = cached
            else:
                missing.append(key)
        prop = KEY_PROPERTY[object_type]
        for chunk in chunks(missing, _IN_CHUNK):
            for obj in self._search(object_type, [[{"propertyName": prop, "operator": "IN", "values": list(chunk)}]],
                                    [prop]):
                key = norm(str((obj.get("properties") or {}).get(prop) or ""))
                if key and key not in found:
                    found[key] = str(obj["id"])
                    self.cache.remember(object_type, obj)
        extra = "hs_additional_emails" if object_type == "contacts" else "hs_additional_domains"
        for key in [k for k in missing if k not in found]:
            hits = self._search(object_type, [[{"propertyName": extra, "operator": "CONTAINS_TOKEN", "value": key}]],
                                [prop])
            if hits:
                found[key] = str(hits[0]["id"])
        return found

    def _search(self, object_type: str, groups: list[list[dict[str, Any]]], props: list[str]) -> list[dict[str, Any]]:
        body = {"filterGroups": [{"filters": g} for g in groups], "properties": props,
                "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}], "limit": 200}
        reply = self.client.post(f"{self.client.paths.objects(object_type)}/search", body, search=True)
        results: list[dict[str, Any]] = (reply.body or {}).get("results", [])
        return results

    def write(self, entity: Entity, wanted: Mapping[str, Mapping[str, Sequence[str]]]) -> RelationOutcome:
        """Make associations match ``{record id: {relation field: [keys]}}``.

        Returns the keys that could not be resolved to a HubSpot record, and those whose
        association HubSpot refused to archive (they are still linked).
        """
        from_type = OBJECT_TYPE[entity]
        outcome = RelationOutcome()
        for field_name, to_type in RELATIONS[entity].items():
            targets = {rid: list(fields[field_name]) for rid, fields in wanted.items() if field_name in fields}
            if not targets:
                continue
            norm = _NORM[to_type]
            current = self.associated(from_type, to_type, list(targets))
            current_keys = self.keys(to_type, sorted({t for ids in current.values() for t in ids}))
            resolved = self.resolve(to_type, [k for keys in targets.values() for k in keys])
            add: list[dict[str, Any]] = []
            remove: list[dict[str, Any]] = []
            for record_id, keys in targets.items():
                want = {norm(k) for k in keys if k}
                have = current.get(record_id, [])
                have_by_key = {norm(current_keys[t]): t for t in have if t in current_keys}
                missing = sorted(k for k in want if k not in resolved)
                if missing:
                    outcome.unresolved[record_id][field_name] = missing
                for key in sorted(want - set(have_by_key)):
                    if key in resolved and resolved[key] not in have:
                        add.append({"from": {"id": record_id}, "to": {"id": resolved[key]}})
                gone = [t for key, t in have_by_key.items() if key not in want]
                if gone:
                    remove.append({"from": {"id": record_id}, "to": [{"id": t} for t in gone]})
            for chunk in chunks(add, self.batch_size):
                self.client.post(self.client.paths.associations(from_type, to_type, "associate/default"),
                                 {"inputs": list(chunk)})
            for chunk in chunks(remove, self.batch_size):
                reply = self.client.post(self.client.paths.associations(from_type, to_type, "archive"),
                                         {"inputs": list(chunk)})
                for record_id, kept in archive_failures(reply.body, chunk).items():
                    outcome.not_removed[record_id][field_name] = sorted(current_keys[t] for t in kept
                                                                        if t in current_keys)
        return outcome
