"""Creates, updates and archives in batches, with one WriteResult per request and no exception per record.

Creates are ``batch/upsert`` keyed on the identity property, so a create repeated after
a crash updates the record it made the first time. A contact create that HubSpot refuses
with 409 "Contact already exists. Existing ID: N" is matched to contact N: the identity
is stamped on it and it is returned as a success (``details["matched_existing"]``).
A 207 reply's errors are matched to inputs by ``objectWriteTraceId`` or id; a batch
refused as a whole (400) is retried input by input, so each record gets its own verdict.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from connectors.hubspot import values as v
from connectors.hubspot.client import HubSpotClient, HubSpotRejected
from connectors.hubspot.mapping import OBJECT_TYPE, RELATIONS, Mapper, WritePlan
from connectors.hubspot.messages import one_line
from connectors.hubspot.relations import Relations, chunks
from connectors.model import CHANGED_SINCE_READ, CreateRequest, Entity, Record, UpdateRequest, WriteResult

_EXISTING = re.compile(r"Existing ID:\s*(\d+)")


@dataclass
class _Item:
    """One input of a batch: the caller's key, the id HubSpot knows it by, what to write."""

    key: str
    ref: str  # identity value (creates) or record id (updates)
    plan: WritePlan
    result: dict[str, Any] | None = None
    failure: WriteResult | None = None
    details: dict[str, Any] = field(default_factory=dict)


def _failed(key: str, exc: HubSpotRejected | str, *, code: str | None = None, record_id: str | None = None
            ) -> WriteResult:
    if isinstance(exc, str):
        return WriteResult(key=key, ok=False, id=record_id, error=exc, code=code or "ERROR")
    details = {"status": exc.status, "correlation_id": exc.correlation_id}
    return WriteResult(key=key, ok=False, id=record_id, error=exc.message, code=str(code or exc.code or exc.status),
                       details={k: val for k, val in details.items() if val is not None})


def _error_text(error: Mapping[str, Any]) -> str:
    return f"HubSpot {error.get('category') or 'error'}: {one_line(str(error.get('message') or 'no message'))}"


class Writer:
    def __init__(self, client: HubSpotClient, mapper: Mapper, relations: Relations, *,
                 batch_size: int, read_properties: Callable[[Entity], list[str]]) -> None:
        self.client = client
        self.mapper = mapper
        self.relations = relations
        self.batch_size = batch_size
        self.read_properties = read_properties

    @property
    def identity(self) -> str:
        return self.mapper.settings.identity_property

    # -- create --------------------------------------------------------------------------

    def create(self, entity: Entity, requests: Sequence[CreateRequest]) -> list[WriteResult]:
        items: list[_Item] = []
        for req in requests:
            plan = self.mapper.to_properties(entity, req.fields)
            if req.cloze_ref:
                plan.properties[self.identity] = req.cloze_ref
            items.append(_Item(req.key, req.cloze_ref or "", plan))
        # Inputs with a Cloze identity are upserted (idempotent); any without one are plain creates.
        for group in ([i for i in items if i.ref], [i for i in items if not i.ref]):
            for chunk in chunks(group, self.batch_size):
                self._create_batch(entity, list(chunk))
        self._write_relations(entity, [i for i in items if i.result is not None and i.plan.relations])
        return [self._outcome(entity, item) for item in items]

    def _create_batch(self, entity: Entity, items: list[_Item]) -> None:
        pending = [i for i in items if i.result is None and i.failure is None]
        path = f"{self.client.paths.objects(OBJECT_TYPE[entity])}/batch/{{}}"
        while pending:
            upsert = all(i.ref for i in pending)
            inputs = [({"id": i.ref, "idProperty": self.identity} if upsert else {})
                      | {"properties": i.plan.properties, "objectWriteTraceId": i.key} for i in pending]
            try:
                reply = self.client.post(path.format("upsert" if upsert else "create"), {"inputs": inputs})
            except HubSpotRejected as exc:
                existing = _EXISTING.search(exc.message or "")
                if exc.status == 409 and existing and entity == "person":
                    matched = self._match_existing(pending, existing.group(1))
                    if matched is not None:
                        pending.remove(matched)
                        continue
                self._one_by_one(entity, pending, exc)
                return
            self._apply_reply(pending, reply.body or {}, by_identity=upsert)
            leftovers = [i for i in pending if i.result is None and i.failure is None]
            if leftovers and len(pending) > 1:
                for item in leftovers:
                    self._create_batch(entity, [item])
            elif leftovers:
                leftovers[0].failure = _failed(leftovers[0].key, "HubSpot returned no result for this record")
            return

    def _one_by_one(self, entity: Entity, items: list[_Item], exc: HubSpotRejected) -> None:
        """A whole batch was refused: find out which inputs HubSpot objects to."""
        if len(items) == 1:
            items[0].failure = _failed(items[0].key, exc)
            return
        for item in items:
            self._create_batch(entity, [item])

    def _match_existing(self, pending: list[_Item], existing_id: str) -> _Item | None:
        """Tie the contact HubSpot says already has this e-mail to the input that carries it."""
        reply = self.client.post(f"{self.client.paths.objects('contacts')}/batch/read",
                                 {"inputs": [{"id": existing_id}], "properties": self.read_properties("person")})
        found = (reply.body or {}).get("results") or []
        if not found:
            return None
        contact = found[0]
        props = contact.get("properties") or {}
        emails = {e.strip().lower() for e in [props.get("email") or "", *(props.get("hs_additional_emails") or "")
                                              .split(";")] if e.strip()}
        for item in pending:
            mine = {e.strip().lower() for e in [item.plan.properties.get("email") or "",
                                                *(item.plan.properties.get("hs_additional_emails") or "").split(";")]
                    if e.strip()}
            if not mine & emails:
                continue
            holder = props.get(self.identity)
            if holder and item.ref and holder != item.ref:
                item.failure = _failed(
                    item.key, f"HubSpot contact {existing_id} has this e-mail address but is already linked to "
                              f"Cloze record {holder}", code="CONFLICT", record_id=existing_id)
                return item
            if item.ref and holder != item.ref:
                self.client.post(f"{self.client.paths.objects('contacts')}/batch/update",
                                 {"inputs": [{"id": existing_id, "properties": {self.identity: item.ref}}]})
                props[self.identity] = item.ref
            item.result = contact
            item.details["matched_existing"] = True
            return item
        return None

    # -- update ---------------------------------------------------------------------------
    #
    # HubSpot has no conditional write, so an update guarded by ``seen_modified_at`` is
    # checked twice. Just before the write, one batch read per batch: a record modified
    # since the caller's read is not written. After the write, one batch read of the written
    # properties' history: a change by someone else stamped between the caller's read and
    # this write was overwritten in that last moment; it is put back at once. Either way the
    # result is CHANGED_SINCE_READ with the record as it is now, and the caller merges again.

    def update(self, entity: Entity, requests: Sequence[UpdateRequest]) -> list[WriteResult]:
        guarded = {r.id: r.seen_modified_at for r in requests if r.seen_modified_at is not None and r.fields}
        current = self._current(entity, [r.id for r in requests
                                         if self.mapper.needs_current(entity, r.fields) or r.id in guarded])
        items: list[_Item] = []
        for req in requests:
            if (self.mapper.needs_current(entity, req.fields) or req.id in guarded) and req.id not in current:
                items.append(_Item(req.id, req.id, WritePlan(), failure=_failed(
                    req.id, f"HubSpot has no live record {req.id}", code="OBJECT_NOT_FOUND", record_id=req.id)))
                continue
            seen = guarded.get(req.id)
            if seen is not None and (self._modified(entity, current[req.id]) or 0) > seen:
                items.append(_Item(req.id, req.id, WritePlan(), failure=self._changed(entity, req.id, current[req.id])))
                continue
            plan = self.mapper.to_properties(entity, req.fields, current.get(req.id))
            if req.cloze_ref:
                plan.properties[self.identity] = req.cloze_ref
            elif req.clear_cloze_ref:
                plan.properties[self.identity] = ""
            items.append(_Item(req.id, req.id, plan))
        writes = [i for i in items if i.failure is None and i.plan.properties]
        for chunk in chunks(writes, self.batch_size):
            self._update_batch(entity, list(chunk))
            self._undo_overwrites(entity, [i for i in chunk if i.result is not None and i.key in guarded], guarded)
        for item in items:
            if item.failure is None and not item.plan.properties:
                item.result = current.get(item.ref) or {"id": item.ref, "properties": {}}
        self._write_relations(entity, [i for i in items if i.result is not None and i.plan.relations])
        return [self._outcome(entity, item) for item in items]

    def _update_batch(self, entity: Entity, items: list[_Item]) -> None:
        inputs = [{"id": i.ref, "properties": i.plan.properties, "objectWriteTraceId": i.key} for i in items]
        try:
            reply = self.client.post(f"{self.client.paths.objects(OBJECT_TYPE[entity])}/batch/update",
                                     {"inputs": inputs})
        except HubSpotRejected as exc:
            if len(items) == 1:
                items[0].failure = _failed(items[0].key, exc, record_id=items[0].ref)
            else:
                for item in items:
                    self._update_batch(entity, [item])
            return
        self._apply_reply(items, reply.body or {}, by_identity=False)
        leftovers = [i for i in items if i.result is None and i.failure is None]
        if len(items) > 1:
            for item in leftovers:
                self._update_batch(entity, [item])
        elif leftovers:
            leftovers[0].failure = _failed(leftovers[0].key, "HubSpot returned no result for this record")

    def _modified(self, entity: Entity, obj: Mapping[str, Any]) -> int | None:
        return self.mapper.to_record(entity, obj).modified_at

    def _changed(self, entity: Entity, record_id: str, obj: Mapping[str, Any]) -> WriteResult:
        return WriteResult(key=record_id, ok=False, id=record_id, record=self.mapper.to_record(entity, obj),
                           code=CHANGED_SINCE_READ, retryable=True,
                           error=f"HubSpot record {record_id} was changed by someone else after it was read")

    def _undo_overwrites(self, entity: Entity, items: list[_Item], seen: Mapping[str, int | None]) -> None:
        """Put back what someone else set between the caller's read and this write, and say so."""
        if not items:
            return
        names = sorted({name for i in items for name in i.plan.properties})
        path = self.client.paths.objects(OBJECT_TYPE[entity])
        reply = self.client.post(f"{path}/batch/read", {"inputs": [{"id": i.ref} for i in items],
                                                       "properties": self.read_properties(entity),
                                                       "propertiesWithHistory": names})
        now = {str(o["id"]): o for o in (reply.body or {}).get("results", [])}
        restores: list[tuple[_Item, dict[str, str]]] = []
        for item in items:
            obj = now.get(item.ref)
            read_at = seen.get(item.ref)
            if obj is None or read_at is None or item.result is None:
                continue
            written_at = v.ms_from(str(item.result.get("updatedAt") or "")) or 0
            lost = replaced_changes(obj.get("propertiesWithHistory") or {}, item.plan.properties,
                                    item.result.get("properties") or {}, read_at, written_at)
            if lost:
                restores.append((item, lost))
        if not restores:
            return
        inputs = [{"id": item.ref, "properties": lost} for item, lost in restores]
        try:
            body = self.client.post(f"{path}/batch/update", {"inputs": inputs}).body or {}
        except HubSpotRejected as exc:
            for item, lost in restores:
                item.failure = _failed(item.key, f"this write replaced a change someone else made meanwhile "
                                                 f"({', '.join(sorted(lost))}) and it could not be put back: "
                                                 f"{exc.message}", code=CHANGED_SINCE_READ, record_id=item.ref)
            return
        fresh = {str(o["id"]): o for o in body.get("results") or []}
        for item, _ in restores:
            item.failure = self._changed(entity, item.ref, fresh.get(item.ref) or now[item.ref])

    def _current(self, entity: Entity, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for chunk in chunks(list(dict.fromkeys(ids)), self.batch_size):
            reply = self.client.post(f"{self.client.paths.objects(OBJECT_TYPE[entity])}/batch/read",
                                     {"inputs": [{"id": i} for i in chunk], "properties": self.read_properties(entity)})
            for obj in (reply.body or {}).get("results", []):
                found[str(obj["id"])] = obj
        return found

    # -- delete ---------------------------------------------------------------------------

    def delete(self, entity: Entity, ids: Sequence[str]) -> list[WriteResult]:
        object_type = OBJECT_TYPE[entity]
        for chunk in chunks(list(ids), self.batch_size):
            # Archiving is idempotent on HubSpot: an id that is gone already is not an error (204).
            self.client.post(f"{self.client.paths.objects(object_type)}/batch/archive",
                             {"inputs": [{"id": i} for i in chunk]})
        return [WriteResult(key=i, ok=True, id=i) for i in ids]

    # -- shared -----------------------------------------------------------------------------

    def _apply_reply(self, items: list[_Item], body: Mapping[str, Any], *, by_identity: bool) -> None:
        by_key = {i.key: i for i in items}
        by_ref = {i.ref: i for i in items if i.ref}
        for result in body.get("results") or []:
            item = by_key.get(str(result.get("objectWriteTraceId") or ""))
            if item is None:
                props = result.get("properties") or {}
                ref = props.get(self.identity) if by_identity else result.get("id")
                item = by_ref.get(str(ref or ""))
            if item is not None:
                item.result = result
        unmatched: list[Mapping[str, Any]] = []
        for error in body.get("errors") or []:
            context = error.get("context") or {}
            targets = [by_key[k] for k in context.get("objectWriteTraceId") or [] if k in by_key]
            targets += [by_ref[r] for r in context.get("ids") or [] if r in by_ref]
            if not targets:
                unmatched.append(error)
            for item in targets:
                if item.result is None:
                    item.failure = WriteResult(
                        key=item.key, ok=False, id=None if by_identity else item.ref, error=_error_text(error),
                        code=str(error.get("category") or "ERROR"),
                        details={"subCategory": error.get("subCategory")} if error.get("subCategory") else {})
        open_items = [i for i in items if i.result is None and i.failure is None]
        if len(unmatched) == 1 and len(open_items) == 1:
            error = unmatched[0]
            item = open_items[0]
            item.failure = WriteResult(key=item.key, ok=False, error=_error_text(error),
                                       code=str(error.get("category") or "ERROR"))

    def _write_relations(self, entity: Entity, items: list[_Item]) -> None:
        wanted = {str(i.result["id"]): i.plan.relations for i in items if i.result is not None}
        if not wanted:
            return
        outcome = self.relations.write(entity, wanted)
        for item in items:
            record_id = str(item.result["id"]) if item.result is not None else ""
            if outcome.not_removed.get(record_id):
                item.details["not_removed_relations"] = outcome.not_removed[record_id]
            if outcome.not_added.get(record_id):
                item.details["not_added_relations"] = outcome.not_added[record_id]

    def _outcome(self, entity: Entity, item: _Item) -> WriteResult:
        if item.failure is not None:
            return item.failure
        assert item.result is not None
        relations = None
        if item.plan.relations:
            # what HubSpot now holds: the wanted ids, plus links it kept
            kept = item.details.get("not_removed_relations", {})
            refused = item.details.get("not_added_relations", {})
            relations = {name: sorted((set(ids) | set(kept.get(name, []))) - set(refused.get(name, {})))
                         for name, ids in item.plan.relations.items()}
        # Relation fields appear only when written: the reply carries no associations.
        record: Record = self.mapper.to_record(entity, item.result, relations)
        details = dict(item.details)
        if item.plan.dropped:
            details["dropped"] = item.plan.dropped
        from_type = OBJECT_TYPE[entity]
        not_added: Mapping[str, Mapping[str, str]] = item.details.get("not_added_relations", {})
        refusals = {name: "; ".join(f"HubSpot refused to associate {from_type} {record.id} with "
                                    f"{RELATIONS[entity][name]} {to_id}: {message}"
                                    for to_id, message in sorted(by_target.items()))
                    for name, by_target in not_added.items() if by_target}
        return WriteResult(key=item.key, ok=True, id=record.id, record=record, details=details, refused=refusals)


def replaced_changes(history: Mapping[str, Any], written: Mapping[str, str], stored: Mapping[str, Any],
                     read_at: int, written_at: int) -> dict[str, str]:
    """Properties this write replaced although someone else had set them after ``read_at``:
    property -> the value they set (the newest such change), from HubSpot's property history.
    ``stored`` holds the written properties as the write's reply showed them."""
    lost: dict[str, str] = {}
    for name in written:
        entries = [(str(e.get("value") or ""), v.ms_from(str(e.get("timestamp") or "")) or 0)
                   for e in history.get(name) or []]  # newest first
        mine = str(stored.get(name) or "")
        # This write's own entry holds the value now stored, at the reply's time (or, should the
        # two clocks differ, it is the newest entry holding that value); only changes older
        # than it were replaced by it.
        own = next((k for k, (value, ms) in enumerate(entries) if ms == written_at and value == mine), None)
        if own is None:
            own = next((k for k, (value, ms) in enumerate(entries) if value == mine and ms > read_at), None)
        if own is None:
            continue
        theirs = [value for value, ms in entries[own + 1:] if ms > read_at]
        if theirs and theirs[0] != mine:
            lost[name] = theirs[0]
    return lost
