"""Creates, updates and deletes through sObject Collections, one WriteResult per request.

Creates are upserts on the identity field (``Cloze_Syncd_Id__c``), up to 200 records per call,
so a create repeated after a crash updates the record it made the first time. An update the
caller guards with ``seen_modified_at`` is sent alone with ``If-Unmodified-Since``: Salesforce
answers 412 when someone changed the record after that read, and the result is
CHANGED_SINCE_READ with the record as it is now, so the engine merges again instead of
overwriting. Unguarded updates go 200 per call. A person whose id is a Lead's is written with the
Lead's fields (a lead holds no ``companies``: it belongs to no Account).
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from connectors.model import CHANGED_SINCE_READ, CreateRequest, Entity, Record, UpdateRequest, WriteResult
from connectors.salesforce import ids
from connectors.salesforce.client import SalesforceClient, SalesforceRejected, error_text, path_segment
from connectors.salesforce.mapping import LEAD, OBJECT, Mapper, WritePlan, is_lead
from connectors.salesforce.relations import Relations, chunks

_GONE = {"ENTITY_IS_DELETED", "NOT_FOUND", "INVALID_CROSS_REFERENCE_KEY"}
Reader = Callable[[Entity, Sequence[str]], dict[str, Record]]


@dataclass
class _Item:
    key: str
    ref: str  # Cloze identity (creates) or record id (updates)
    plan: WritePlan
    record_id: str | None = None
    failure: WriteResult | None = None
    details: dict[str, Any] = field(default_factory=dict)


def _result_failure(key: str, result: Mapping[str, Any], record_id: str | None = None) -> WriteResult:
    errors = [e for e in result.get("errors") or [] if isinstance(e, dict)]
    code = str(errors[0].get("statusCode") or errors[0].get("errorCode") or "ERROR") if errors else "ERROR"
    text = "; ".join(error_text(e) for e in errors) or "Salesforce returned no result for this record"
    details: dict[str, Any] = {}
    if code == "DUPLICATE_VALUE":
        text += " (two Salesforce records claim one Cloze identity; merge them or clear the field on one)"
    matches = _duplicate_matches(errors[0]) if errors else []
    if matches:
        details["matching_records"] = matches
        text += (f" (a duplicate rule matched {', '.join(matches)}: link the Cloze record to it by hand, or set "
                 "duplicate_rules = \"allow\" to save past an 'alert' rule)")
    return WriteResult(key=key, ok=False, id=record_id, error=f"Salesforce {text}", code=code, details=details)


def _duplicate_matches(error: Mapping[str, Any]) -> list[str]:
    """The ids a ``DUPLICATES_DETECTED`` error's ``duplicateResult`` names."""
    result = error.get("duplicateResult")
    found: list[str] = []
    for match in (result.get("matchResults") or []) if isinstance(result, dict) else []:
        for item in (match.get("matchRecords") or []) if isinstance(match, dict) else []:
            record = item.get("record") if isinstance(item, dict) else None
            if isinstance(record, dict) and record.get("Id"):
                found.append(ids.normalize(str(record["Id"])) or str(record["Id"]))
    return found


def _object(entity: Entity, record_id: str) -> str:
    return LEAD if entity == "person" and is_lead(record_id) else OBJECT[entity]


class Writer:
    def __init__(self, client: SalesforceClient, mapper: Mapper, relations: Relations, read: Reader,
                 batch_size: int) -> None:
        self.client = client
        self.mapper = mapper
        self.relations = relations
        self.read = read
        self.batch_size = batch_size

    @property
    def identity(self) -> str:
        return self.mapper.settings.identity_field

    def _accounts(self, items: Sequence[_Item]) -> None:
        """``companies`` -> ``AccountId``: a record has one Account, the first wanted; the rest are reported."""
        for item in items:
            wanted = item.plan.relations.pop("companies", None)
            if wanted is None:
                continue
            accounts = sorted(wanted)
            item.plan.fields["AccountId"] = accounts[0] if accounts else None
            if len(accounts) > 1:
                item.plan.dropped["companies"] = accounts[1:]

    # -- create -------------------------------------------------------------------------

    def create(self, entity: Entity, requests: Sequence[CreateRequest]) -> list[WriteResult]:
        items = [_Item(r.key, r.cloze_ref or "", self.mapper.to_fields(entity, r.fields, creating=True))
                 for r in requests]
        self._accounts(items)
        for item in items:  # a create has nothing to clear
            item.plan.fields = {k: v for k, v in item.plan.fields.items() if v is not None}
        obj = OBJECT[entity]
        keyed = [i for i in items if i.ref]
        for chunk in chunks(keyed, self.batch_size):
            records = [{"attributes": {"type": obj}, **i.plan.fields, self.identity: i.ref} for i in chunk]
            results = self.client.collection("PATCH", f"/{obj}/{self.identity}",
                                             {"allOrNone": False, "records": records})
            self._apply(list(chunk), results)
        plain = [i for i in items if not i.ref]
        for chunk in chunks(plain, self.batch_size):
            records = [{"attributes": {"type": obj}, **i.plan.fields} for i in chunk]
            # A create without a Cloze identity cannot be repeated safely: never retried.
            reply = self.client.request("POST", "/composite/sobjects", json={"allOrNone": False, "records": records},
                                        idempotent=False)
            self._apply(list(chunk), reply.body if isinstance(reply.body, list) else [])
        return self._finish(entity, items)

    def _apply(self, items: list[_Item], results: list[dict[str, Any]]) -> None:
        for n, item in enumerate(items):
            result = results[n] if n < len(results) else {}
            if result.get("success") and result.get("id"):
                item.record_id = ids.normalize(str(result["id"])) or str(result["id"])
                if result.get("created") is False:
                    item.details["existed"] = True  # a create repeated after a crash
            else:
                item.failure = _result_failure(item.key, result)

    # -- update -------------------------------------------------------------------------

    def update(self, entity: Entity, requests: Sequence[UpdateRequest]) -> list[WriteResult]:
        items: list[_Item] = []
        guarded: dict[str, int] = {}
        for req in requests:
            plan = self.mapper.to_fields(entity, req.fields, creating=False,
                                         lead=entity == "person" and is_lead(req.id))
            if req.cloze_ref:
                plan.fields[self.identity] = req.cloze_ref
            elif req.clear_cloze_ref:
                plan.fields[self.identity] = None
            record_id = ids.normalize(req.id) or req.id
            items.append(_Item(req.id, record_id, plan, record_id=record_id))
            if req.seen_modified_at is not None and req.fields:
                guarded[req.id] = req.seen_modified_at
        self._accounts(items)
        for item in items:
            if item.key in guarded and item.plan.fields:
                self._conditional(entity, item, guarded[item.key])
        free = [i for i in items if i.key not in guarded and i.plan.fields]
        for chunk in chunks(free, self.batch_size):
            records = [{"attributes": {"type": _object(entity, i.ref)}, "id": i.ref, **i.plan.fields} for i in chunk]
            results = self.client.collection("PATCH", "", {"allOrNone": False, "records": records})
            for n, item in enumerate(chunk):
                result = results[n] if n < len(results) else {}
                if not result.get("success"):
                    item.failure = _result_failure(item.key, result, item.ref)
        return self._finish(entity, items)

    def _conditional(self, entity: Entity, item: _Item, seen_ms: int) -> None:
        since = email.utils.formatdate(seen_ms / 1000, usegmt=True)
        try:
            self.client.request("PATCH", f"/sobjects/{_object(entity, item.ref)}/{path_segment(item.ref)}",
                                json=item.plan.fields, headers={"If-Unmodified-Since": since})
        except SalesforceRejected as exc:
            if exc.status == 412:
                now = self.read(entity, [item.ref]).get(item.ref)
                item.failure = WriteResult(key=item.key, ok=False, id=item.ref, record=now, code=CHANGED_SINCE_READ,
                                           retryable=True, error=f"Salesforce record {item.ref} was changed by "
                                                                 "someone else after it was read")
                return
            item.failure = WriteResult(key=item.key, ok=False, id=item.ref, error=exc.message,
                                       code=str(exc.code or exc.status))

    # -- common -------------------------------------------------------------------------

    def _finish(self, entity: Entity, items: list[_Item]) -> list[WriteResult]:
        done = [i for i in items if i.failure is None and i.record_id]
        if entity == "project":
            wanted = {i.record_id: i.plan.relations["people"] for i in done
                      if i.record_id and "people" in i.plan.relations}
            if wanted:
                self.relations.set_project_people(wanted)
        now = self.read(entity, [i.record_id for i in done if i.record_id]) if done else {}
        out = []
        for item in items:
            if item.failure is not None:
                out.append(item.failure)
                continue
            record = now.get(item.record_id or "")
            if record is None:
                out.append(WriteResult(key=item.key, ok=False, id=item.record_id, code="NOT_FOUND",
                                       error=f"Salesforce has no live record {item.record_id} after the write"))
                continue
            details = dict(item.details)
            if item.plan.dropped:
                details["dropped"] = item.plan.dropped
            out.append(WriteResult(key=item.key, ok=True, id=record.id, record=record, details=details))
        return out

    def delete(self, entity: Entity, record_ids: Sequence[str]) -> list[WriteResult]:
        out: list[WriteResult] = []
        for chunk in chunks(list(record_ids), self.batch_size):
            wire = [ids.normalize(i) or i for i in chunk]
            reply = self.client.request("DELETE", "/composite/sobjects",
                                        params={"ids": ",".join(wire), "allOrNone": "false"})
            results = reply.body if isinstance(reply.body, list) else []
            for n, key in enumerate(chunk):
                result = results[n] if n < len(results) and isinstance(results[n], dict) else {}
                codes = {str(e.get("statusCode")) for e in result.get("errors") or [] if isinstance(e, dict)}
                if result.get("success") or codes & _GONE:
                    out.append(WriteResult(key=key, ok=True, id=key))  # gone already is what was asked
                else:
                    out.append(_result_failure(key, result, key))
        return out
