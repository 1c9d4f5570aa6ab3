"""The CRM objects API: basic (list/get/create/update/archive), batch, and search.

Writes in a batch are validated first and applied together, with one timestamp,
so a refused batch (409 duplicate e-mail, 400) changes nothing. Per-input problems
become a 207 reply ``{status, results, errors, numErrors}``; results come back in an
order unrelated to the inputs, as HubSpot does not promise one either.
"""

from __future__ import annotations

import hashlib
import heapq
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from connectors.hubspot.emulator import engagements, history, query, schema
from connectors.hubspot.emulator.call import Call, Reply
from connectors.hubspot.emulator.errors import (
    EmulatorError,
    bad_request,
    batch_error,
    conflict,
    correlation_id,
    not_found,
    validation_details,
    validation_message,
)
from connectors.hubspot.emulator.store import Store, StoredObject

LABELS = {schema.CONTACTS: "CONTACT", schema.COMPANIES: "COMPANY", schema.DEALS: "DEAL", **engagements.LABELS}


# -- rendering -------------------------------------------------------------------------

def render(store: Store, obj: StoredObject, props: Iterable[str] | None,
           associations: Iterable[str] | None = None, with_history: Iterable[str] | None = None) -> dict[str, Any]:
    """A record as HubSpot returns it: requested properties (``None`` when empty) plus the base ones,
    and ``propertiesWithHistory`` for the properties named in ``with_history``."""
    wanted = list(props) if props is not None else list(schema.DEFAULT_READ[obj.type])
    names: list[str] = []
    for name in [*wanted, *schema.ALWAYS_READ[obj.type]]:
        if name not in names and name in store.definitions[obj.type]:
            names.append(name)
    out: dict[str, Any] = {
        "id": obj.id,
        "properties": {name: obj.value(name) for name in names},
        "createdAt": schema.iso_from_ms(obj.created_ms),
        "updatedAt": schema.iso_from_ms(obj.modified_ms),
        "archived": obj.archived,
    }
    if with_history:
        out["propertiesWithHistory"] = history.render(obj.history, with_history, store.definitions[obj.type])
    if obj.archived and obj.archived_ms is not None:
        out["archivedAt"] = schema.iso_from_ms(obj.archived_ms)
    if associations:
        block: dict[str, Any] = {}
        for requested in associations:
            to_type = schema.object_type(requested)
            if to_type is None:
                continue
            items = []
            for to_id, type_ids in store.associated(obj.type, obj.id, to_type).items():
                for type_id in sorted(type_ids):
                    spec = store.association_type(type_id, obj.type, to_type)
                    items.append({"id": to_id, "type": spec.name if spec else str(type_id)})
            if items:
                block[requested] = {"results": items}
        if block:
            out["associations"] = block
    return out


def written(store: Store, obj: StoredObject) -> dict[str, Any]:
    """A record as a write reply shows it: every stored property plus the base ones."""
    return render(store, obj, sorted(obj.properties))


def _unordered(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(items, key=lambda r: hashlib.sha1(str(r.get("id")).encode()).hexdigest())


def batch_reply(store: Store, results: list[dict[str, Any]], errors: list[dict[str, Any]],
                ok_status: int = 200) -> Reply:
    now = schema.iso_from_ms(store.now_ms())
    body: dict[str, Any] = {"status": "COMPLETE", "results": _unordered(results),
                            "requestedAt": now, "startedAt": now, "completedAt": now}
    if errors:
        body["errors"] = errors
        body["numErrors"] = len(errors)
        return Reply(207, body)
    return Reply(ok_status, body)


def _inputs(call: Call) -> list[dict[str, Any]]:
    body = call.json_object()
    inputs = body.get("inputs")
    if not isinstance(inputs, list):
        raise bad_request("Invalid input JSON: inputs must be a list")
    if len(inputs) > call.settings.max_batch_inputs:
        raise bad_request(f"Batch input size {len(inputs)} exceeds the limit of {call.settings.max_batch_inputs} inputs")
    if not all(isinstance(item, dict) for item in inputs):
        raise bad_request("Invalid input JSON: each input must be an object")
    return inputs


def _not_found_error(type_: str, ids: list[str]) -> dict[str, Any]:
    return batch_error(
        f"Could not get some {LABELS[type_]} objects, they may be deleted or not exist. Check that ids are valid.",
        "OBJECT_NOT_FOUND", context={"ids": ids})


# -- write planning ----------------------------------------------------------------------

@dataclass
class _Plan:
    index: int
    trace: str | None
    ref: str | None  # the id the caller used (record id or unique value), for error context
    target: StoredObject | None
    clean: dict[str, str]
    links: list[tuple[str, str, int]] = field(default_factory=list)
    new: bool = False


def _context(plan: _Plan) -> dict[str, Any]:
    if plan.trace:
        return {"objectWriteTraceId": [plan.trace]}
    if plan.ref:
        return {"ids": [plan.ref]}
    return {}


def _links(call: Call, type_: str, raw: Any) -> list[tuple[str, str, int]]:
    """Inline ``associations`` of a create input, checked against existing records."""
    found: list[tuple[str, str, int]] = []
    for item in raw or []:
        to_id = str((item.get("to") or {}).get("id") or "")
        for spec in item.get("types") or []:
            type_id = int(spec.get("associationTypeId") or 0)
            match = [a for to in schema.OBJECT_TYPES for a in call.store.association_types(type_, to)
                     if a.type_id == type_id]
            if not match:
                raise ValueError(f"association type {type_id} is not defined from {type_}")
            if call.store.get(match[0].to_type, to_id) is None:
                raise ValueError(f"{match[0].to_type} {to_id} does not exist")
            found.append((match[0].to_type, to_id, type_id))
    return found


def _write(call: Call, type_: str, plans: list[_Plan], earlier: list[dict[str, Any]] | None = None,
           ) -> tuple[list[_Plan], list[dict[str, Any]]]:
    """Validate ``plans``; apply the good ones. Returns (applied, errors).

    ``earlier`` are the errors found while parsing the inputs; with ``all_or_nothing``
    batch validation any error refuses the whole request.
    """
    store, settings = call.store, call.settings
    errors: list[dict[str, Any]] = []
    good: list[_Plan] = []
    claimed: dict[tuple[str, str], int] = {}
    for plan in plans:
        self_id = plan.target.id if plan.target else None
        missing = engagements.missing_required(type_, plan.clean) if plan.target is None else []
        if missing:
            message = f"Property values were not valid: {', '.join(missing)} is required"
            errors.append(batch_error(message, "VALIDATION_ERROR", context=_context(plan)))
            continue
        # A duplicate e-mail on create refuses the whole request, as HubSpot's 409 does.
        if type_ == schema.CONTACTS:
            owner = store.email_clash(plan.clean, self_id)
            if owner is not None:
                if plan.target is None:
                    raise conflict(f"Contact already exists. Existing ID: {owner.id}")
                errors.append(batch_error(f"A contact with this email address already exists. Existing ID: {owner.id}",
                                          "CONFLICT", context=_context(plan)))
                continue
        clashes = store.unique_clashes(type_, plan.clean, self_id, company_domain_unique=settings.company_domain_unique)
        in_batch = [(n, v) for n, v in plan.clean.items()
                    if v and (store.is_unique(type_, n) or (type_ == schema.COMPANIES and n == "domain"
                                                           and settings.company_domain_unique))
                    and (n, v.lower()) in claimed]
        if clashes or in_batch:
            name, value = (clashes[0][0], clashes[0][1]) if clashes else in_batch[0]
            holder = clashes[0][2].id if clashes else "another input of this batch"
            message = (f'A record ({holder}) already has the value "{value}" for the unique property "{name}".')
            errors.append(batch_error(message, "VALIDATION_ERROR", context=_context(plan),
                                      errors=[{"message": message, "code": "INVALID_VALUE",
                                               "context": {"propertyName": [name]}}]))
            continue
        for name, value in plan.clean.items():
            if value and store.is_unique(type_, name):
                claimed[(name, value.lower())] = plan.index
        good.append(plan)
    if (earlier or errors) and settings.batch_validation == "all_or_nothing":
        raise EmulatorError(400, _as_single((earlier or errors)[0]))
    now = store.now_ms()
    for plan in good:
        if plan.target is None:
            plan.target = store.create(type_, plan.clean, now=now)
            plan.new = True
            call.stats.bump("records_created")
        else:
            store.update(plan.target, plan.clean, now=now)
            call.stats.bump("records_updated")
        for to_type, to_id, type_id in plan.links:
            store.associate(type_, plan.target.id, to_type, to_id, type_id)
            call.stats.bump("associations_created")
    return good, errors


def _clean(call: Call, type_: str, plan_index: int, raw_props: Any, trace: str | None, ref: str | None
           ) -> tuple[_Plan | None, dict[str, Any] | None]:
    if raw_props is None:
        raw_props = {}
    if not isinstance(raw_props, dict):
        raise bad_request("properties must be an object")
    clean, problems = call.store.clean(type_, raw_props, enforce_options=call.settings.enforce_enum_options)
    plan = _Plan(plan_index, trace, ref, None, clean)
    if problems:
        portal = call.settings.portal_id
        return None, batch_error(validation_message(problems, portal), "VALIDATION_ERROR", context=_context(plan),
                                 errors=validation_details(problems))
    return plan, None


# -- basic -------------------------------------------------------------------------------

def list_objects(call: Call, type_: str) -> Reply:
    try:
        limit = int(call.arg("limit") or 10)
        after = int(call.arg("after") or 0)
    except ValueError:
        raise bad_request("limit and after must be integers") from None
    if not 1 <= limit <= call.settings.list_max_limit:
        raise bad_request(f"limit must be between 1 and {call.settings.list_max_limit}")
    with_history = call.names("propertiesWithHistory")
    if with_history:
        limit = min(limit, history.LIST_LIMIT)
    archived = call.flag("archived")
    # the page and one more (to know whether there is a next page), without sorting them all
    rows = heapq.nsmallest(limit + 1, (o for o in call.store.all(type_, archived=archived) if int(o.id) >= after),
                           key=lambda o: int(o.id))
    page = rows[:limit]
    body: dict[str, Any] = {
        "results": [render(call.store, o, call.names("properties"), call.names("associations"), with_history)
                    for o in page]}
    if len(rows) > limit:
        nxt = str(int(page[-1].id) + 1)
        body["paging"] = {"next": {"after": nxt, "link": f"{call.path}?after={nxt}"}}
    return Reply(200, body)


def _find(call: Call, type_: str, ref: str, id_property: str | None, *, archived: bool = False) -> StoredObject | None:
    if id_property and id_property != "hs_object_id":
        if archived:
            return next((o for o in call.store.all(type_, archived=True)
                         if (o.properties.get(id_property) or "").lower() == ref.lower()), None)
        return call.store.find_by(type_, id_property, ref)
    return call.store.get(type_, call.store.survivor(type_, ref), archived=archived)


def _check_id_property(call: Call, type_: str, id_property: str | None) -> None:
    if id_property and id_property != "hs_object_id" and not call.store.is_unique(type_, id_property):
        raise bad_request(f"Unable to perform update/upsert by non-unique {schema.TYPE_IDS[type_]} property "
                          f"{id_property} in portal ID {call.settings.portal_id}")


def get_object(call: Call, type_: str, ref: str) -> Reply:
    id_property = call.arg("idProperty")
    _check_id_property(call, type_, id_property)
    obj = _find(call, type_, ref, id_property, archived=call.flag("archived"))
    if obj is None:
        raise not_found("Object not found.  objectId are usually numeric.", {"id": [ref]})
    return Reply(200, render(call.store, obj, call.names("properties"), call.names("associations"),
                             call.names("propertiesWithHistory")))


def create_object(call: Call, type_: str) -> Reply:
    body = call.json_object()
    plan, error = _clean(call, type_, 0, body.get("properties"), None, None)
    if error is not None or plan is None:
        raise EmulatorError(400, _as_single(error))
    try:
        plan.links = _links(call, type_, body.get("associations"))
    except ValueError as exc:
        raise bad_request(str(exc)) from None
    applied, errors = _write(call, type_, [plan])
    if errors:
        raise EmulatorError(409 if errors[0]["category"] == "CONFLICT" else 400, _as_single(errors[0]))
    return Reply(201, written(call.store, applied[0].target))  # type: ignore[arg-type]


def update_object(call: Call, type_: str, ref: str) -> Reply:
    id_property = call.arg("idProperty")
    _check_id_property(call, type_, id_property)
    obj = _find(call, type_, ref, id_property)
    if obj is None:
        raise not_found("Object not found.  objectId are usually numeric.", {"id": [ref]})
    plan, error = _clean(call, type_, 0, call.json_object().get("properties"), None, ref)
    if error is not None or plan is None:
        raise EmulatorError(400, _as_single(error))
    plan.target = obj
    _, errors = _write(call, type_, [plan])
    if errors:
        raise EmulatorError(409 if errors[0]["category"] == "CONFLICT" else 400, _as_single(errors[0]))
    return Reply(200, written(call.store, obj))


def merge(call: Call, type_: str) -> Reply:
    """``POST .../{type}/merge`` ``{primaryObjectId, objectIdToMerge}``: the merged record (the primary)."""
    body = call.json_object()
    primary_id, other_id = str(body.get("primaryObjectId") or ""), str(body.get("objectIdToMerge") or "")
    if not primary_id or not other_id:
        raise bad_request("A merge needs primaryObjectId and objectIdToMerge")
    if primary_id == other_id:
        raise bad_request("An object cannot be merged with itself")
    primary, other = call.store.get(type_, primary_id), call.store.get(type_, other_id)
    if primary is None or other is None:
        missing = primary_id if primary is None else other_id
        raise not_found(f"Object {missing} was not found", {"id": [missing]})
    call.store.merge(primary, other)
    call.stats.bump("records_updated")
    call.stats.bump("records_archived")
    return Reply(200, written(call.store, primary))


def archive_object(call: Call, type_: str, ref: str) -> Reply:
    obj = call.store.get(type_, ref)
    if obj is not None:
        call.store.archive(obj)
        call.stats.bump("records_archived")
    return Reply(204)


def _as_single(error: dict[str, Any] | None) -> dict[str, Any]:
    error = error or {}
    body = {k: v for k, v in error.items() if k in ("status", "message", "category", "errors", "context", "subCategory")}
    body.setdefault("status", "error")
    body["correlationId"] = correlation_id()
    return body


# -- batch -------------------------------------------------------------------------------

def batch_read(call: Call, type_: str) -> Reply:
    body = call.json_object()
    inputs = _inputs(call)
    id_property = body.get("idProperty")
    _check_id_property(call, type_, id_property)
    props = body.get("properties") or None
    with_history = body.get("propertiesWithHistory") or None
    archived = call.flag("archived")
    results, missing = [], []
    seen: set[str] = set()
    for item in inputs:
        ref = str(item.get("id") or "")
        obj = _find(call, type_, ref, id_property, archived=archived)
        if obj is None:
            missing.append(ref)
        elif obj.id not in seen:
            seen.add(obj.id)
            results.append(render(call.store, obj, props, with_history=with_history))
    errors = [_not_found_error(type_, missing)] if missing else []
    return batch_reply(call.store, results, errors)


def batch_create(call: Call, type_: str) -> Reply:
    plans, errors = [], []
    for index, item in enumerate(_inputs(call)):
        trace = item.get("objectWriteTraceId")
        plan, error = _clean(call, type_, index, item.get("properties"), trace, None)
        if plan is not None:
            try:
                plan.links = _links(call, type_, item.get("associations"))
            except ValueError as exc:
                errors.append(batch_error(str(exc), "VALIDATION_ERROR", context=_context(plan)))
                continue
            plans.append(plan)
        elif error is not None:
            errors.append(error)
    _reject_duplicate_emails(type_, plans)
    applied, more = _write(call, type_, plans, errors)
    results = [written(call.store, p.target) | _trace(p) for p in applied if p.target is not None]
    return batch_reply(call.store, results, errors + more, ok_status=201)


def _trace(plan: _Plan) -> dict[str, Any]:
    return {"objectWriteTraceId": plan.trace} if plan.trace else {}


def _reject_duplicate_emails(type_: str, plans: list[_Plan]) -> None:
    if type_ != schema.CONTACTS:
        return
    seen: set[str] = set()
    for plan in plans:
        if plan.target is not None:
            continue
        email = plan.clean.get("email")
        if email:
            if email in seen:
                raise bad_request(f"Duplicate email {email} found in the batch inputs", sub_category="DUPLICATE_INPUT")
            seen.add(email)


def batch_update(call: Call, type_: str) -> Reply:
    plans, errors, missing = [], [], []
    for index, item in enumerate(_inputs(call)):
        ref = str(item.get("id") or "")
        id_property = item.get("idProperty")
        _check_id_property(call, type_, id_property)
        obj = _find(call, type_, ref, id_property)
        if obj is None:
            missing.append(ref)
            continue
        plan, error = _clean(call, type_, index, item.get("properties"), item.get("objectWriteTraceId"), ref)
        if plan is None:
            errors.append(error or {})
            continue
        plan.target = obj
        plans.append(plan)
    if missing:
        errors.append(_not_found_error(type_, missing))
    applied, more = _write(call, type_, plans, errors)
    results = [written(call.store, p.target) | _trace(p) for p in applied if p.target is not None]
    return batch_reply(call.store, results, errors + more)


def batch_upsert(call: Call, type_: str) -> Reply:
    plans: list[_Plan] = []
    errors: list[dict[str, Any]] = []
    for index, item in enumerate(_inputs(call)):
        ref = str(item.get("id") or "")
        id_property = item.get("idProperty")
        if not id_property:
            raise bad_request("Each upsert input needs an idProperty naming a unique property")
        _check_id_property(call, type_, id_property)
        if not ref:
            raise bad_request("Each upsert input needs the unique value as id")
        plan, error = _clean(call, type_, index, item.get("properties"), item.get("objectWriteTraceId"), ref)
        if plan is None:
            errors.append(error or {})
            continue
        plan.target = _find(call, type_, ref, id_property)
        if plan.target is None:
            plan.clean[id_property] = ref.lower() if id_property == "email" else ref
        plans.append(plan)
    _reject_duplicate_emails(type_, plans)
    applied, more = _write(call, type_, plans, errors)
    results = [written(call.store, p.target) | _trace(p) | {"new": p.new} for p in applied if p.target is not None]
    return batch_reply(call.store, results, errors + more)


def batch_archive(call: Call, type_: str) -> Reply:
    for item in _inputs(call):
        obj = call.store.get(type_, str(item.get("id") or ""))
        if obj is not None:
            call.store.archive(obj)
            call.stats.bump("records_archived")
    return Reply(204)


# -- search ------------------------------------------------------------------------------

def search(call: Call, type_: str) -> Reply:
    body = call.json_object()
    if len(json.dumps(body)) > call.settings.search_body_max_chars:
        raise bad_request(f"The request body exceeds {call.settings.search_body_max_chars} characters")
    matches = query.compile_filters(call.store, type_, body)
    offset, limit = query.page_bounds(body, max_limit=call.settings.search_max_limit, cap=call.settings.search_result_cap)
    page, total = query.search_page(call.store, type_, body, matches, offset, limit)
    props = body.get("properties") or None
    out: dict[str, Any] = {"total": total, "results": [render(call.store, o, props) for o in page]}
    if offset + len(page) < total:
        out["paging"] = {"next": {"after": str(offset + len(page))}}
    return Reply(200, out)
