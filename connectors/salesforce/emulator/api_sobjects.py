"""sObject REST: create, get, update, delete, upsert by External ID, describe, getUpdated/getDeleted, limits."""

from __future__ import annotations

import email.utils
from typing import Any

from connectors.salesforce.emulator import soql, writes
from connectors.salesforce.emulator.call import Call, Reply
from connectors.salesforce.emulator.clock import format_datetime, parse_datetime
from connectors.salesforce.emulator.errors import RecordError, api_error, not_found
from connectors.salesforce.emulator.query import render
from connectors.salesforce.emulator.schema import LABELS, FieldDef, ObjectDef

_DESCRIBE_TYPES = {"id": "id", "reference": "reference", "string": "string", "email": "email", "phone": "phone",
                   "url": "url", "textarea": "textarea", "picklist": "picklist", "boolean": "boolean",
                   "date": "date", "datetime": "datetime", "currency": "currency", "double": "double",
                   "percent": "percent", "int": "int"}


def _odef(call: Call, object_name: str) -> ObjectDef:
    return call.store.defs[object_name]


def create(call: Call, object_name: str) -> Reply:
    try:
        row = writes.create(call, object_name, call.json_object())
    except RecordError as exc:
        raise exc.rest() from None
    return Reply(201, {"id": row["Id"], "success": True, "errors": []})


def get(call: Call, object_name: str, record_id: str) -> Reply:
    try:
        row = call.store.live(object_name, record_id)
    except RecordError as exc:
        raise exc.rest() from None
    since = _header_time(call, "If-Modified-Since")
    if since is not None and row["LastModifiedDate"] <= since:
        return Reply(304)
    return _render_one(call, object_name, row)


def _header_time(call: Call, name: str) -> float | None:
    """An HTTP-date header as epoch seconds; an absent or unparseable one is ignored, as HTTP says."""
    value = call.header(name)
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None


def _render_one(call: Call, object_name: str, row: dict[str, Any]) -> Reply:
    odef = _odef(call, object_name)
    wanted = call.arg("fields")
    paths = None
    if wanted:
        paths = []
        for name in (n.strip() for n in wanted.split(",") if n.strip()):
            if odef.field(name) is None:
                raise api_error(400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {object_name}")
            paths.append(soql.Path((name,), 0))
    modified = row["LastModifiedDate"]
    headers = {"Last-Modified": email.utils.formatdate(modified, usegmt=True)}
    return Reply(200, render(call.store, odef, row, paths, call.version), headers)


def update(call: Call, object_name: str, record_id: str) -> Reply:
    try:
        row = call.store.live(object_name, record_id)
        _precondition(call, row)
        writes.update(call, object_name, record_id, call.json_object())
    except RecordError as exc:
        raise exc.rest() from None
    return Reply(204)


def _precondition(call: Call, row: dict[str, Any]) -> None:
    """``If-Unmodified-Since``: 412 when the record changed after the given time (second precision)."""
    since = _header_time(call, "If-Unmodified-Since")
    if since is not None and row["LastModifiedDate"] > since:
        raise RecordError("PRECONDITION_FAILED", "The requested record has been modified since "
                          f"{format_datetime(since)}", [], status=412)


def delete(call: Call, object_name: str, record_id: str) -> Reply:
    try:
        writes.delete(call, object_name, record_id)
    except RecordError as exc:
        raise exc.rest() from None
    return Reply(204)


def _external_field(call: Call, object_name: str, field_name: str) -> FieldDef:
    fdef = _odef(call, object_name).field(field_name)
    if fdef is None or not (fdef.external_id or fdef.name == "Id"):
        raise api_error(404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: "
                        f"{field_name}")
    return fdef


def get_by_external_id(call: Call, object_name: str, field_name: str, value: str) -> Reply:
    fdef = _external_field(call, object_name, field_name)
    if fdef.name == "Id":
        return get(call, object_name, value)
    matches = call.store.matching(object_name, fdef.name, value)
    if not matches:
        raise not_found()
    if len(matches) > 1:
        return Reply(300, [f"/services/data/v{call.version}/sobjects/{object_name}/{r['Id']}" for r in matches])
    return _render_one(call, object_name, matches[0])


def upsert(call: Call, object_name: str, field_name: str, value: str) -> Reply:
    fdef = _external_field(call, object_name, field_name)
    if fdef.name == "Id":
        raise api_error(400, "METHOD_NOT_ALLOWED", "Upsert by Id needs a POST to create; use PATCH on the record")
    body = call.json_object()
    if (call.arg("updateOnly") or "").lower() == "true" and not call.store.matching(object_name, fdef.name, value):
        raise not_found()
    try:
        row, created = writes.upsert(call, object_name, fdef.name, value, body)
    except RecordError as exc:
        if exc.status == 300:
            return Reply(300, [f"/services/data/v{call.version}/sobjects/{object_name}/{i}"
                               for i in exc.extra.get("ids", [])])
        raise exc.rest() from None
    if created:
        return Reply(201, {"id": row["Id"], "success": True, "errors": [], "created": True})
    if call.settings.upsert_update_status == 204:
        return Reply(204)
    return Reply(200, {"id": row["Id"], "success": True, "errors": [], "created": False})


def describe(call: Call, object_name: str) -> Reply:
    odef = _odef(call, object_name)
    fields = [_describe_field(f) for f in odef.fields.values()]
    base = f"/services/data/v{call.version}/sobjects/{object_name}"
    return Reply(200, {
        "name": object_name, "label": LABELS.get(object_name, object_name), "keyPrefix": odef.key_prefix,
        "custom": False, "createable": odef.writable, "updateable": odef.writable, "deletable": odef.writable,
        "queryable": True,
        "replicateable": True, "searchable": True, "undeletable": True, "mergeable": object_name in
        ("Account", "Contact", "Lead"), "fields": fields,
        "urls": {"sobject": base, "describe": base + "/describe", "rowTemplate": base + "/{ID}"},
    })


def _describe_field(f: FieldDef) -> dict[str, Any]:
    picklist = [{"value": v, "label": v, "active": True, "defaultValue": v == f.default, "validFor": None}
                for v in f.picklist]
    nillable = not f.required and f.type != "boolean" and f.name not in ("Id", "IsDeleted", "CreatedDate",
                                                                          "LastModifiedDate", "SystemModstamp")
    return {"name": f.name, "label": f.name.removesuffix("__c").replace("_", " "), "type": _DESCRIBE_TYPES[f.type],
            "length": f.length, "nillable": nillable, "createable": f.createable, "updateable": f.updateable,
            "externalId": f.external_id, "unique": f.unique, "idLookup": f.name == "Id" or f.external_id,
            "custom": f.custom, "calculated": False, "defaultedOnCreate": f.default is not None or not f.createable,
            "restrictedPicklist": f.restricted, "picklistValues": picklist,
            "referenceTo": f.reference_to.split("|") if f.reference_to else [], "relationshipName": f.relationship_name,
            "caseSensitive": False, "filterable": True, "sortable": f.type != "textarea"}


def global_describe(call: Call) -> Reply:
    sobjects = [{"name": d.name, "label": LABELS.get(d.name, d.name), "keyPrefix": d.key_prefix, "custom": False,
                 "queryable": True, "createable": True, "updateable": True, "deletable": True,
                 "urls": {"sobject": f"/services/data/v{call.version}/sobjects/{d.name}"}}
                for d in call.store.defs.values()]
    return Reply(200, {"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": sobjects})


def _window(call: Call, max_days: int) -> tuple[int, int]:
    """``start``/``end`` truncated to the minute; INVALID_REPLICATION_DATE outside the allowed window."""
    raw_start, raw_end = call.arg("start"), call.arg("end")
    if not raw_start or not raw_end:
        raise api_error(400, "MALFORMED_QUERY", "Both start and end dates are required")
    try:
        start, end = parse_datetime(raw_start), parse_datetime(raw_end)
    except ValueError:
        raise api_error(400, "INVALID_REPLICATION_DATE", "start and end must be ISO 8601 dates") from None
    start_min, end_min = int(start) // 60 * 60, int(end) // 60 * 60
    now = call.store.clock.stamp()
    if start_min > end_min:
        raise api_error(400, "INVALID_REPLICATION_DATE", "startDate must chronologically precede endDate")
    if start_min < now - max_days * 86_400:
        raise api_error(400, "INVALID_REPLICATION_DATE", f"startDate cannot be more than {max_days} days ago")
    return start_min, min(end_min, now // 60 * 60)


def updated(call: Call, object_name: str) -> Reply:
    start, end = _window(call, call.settings.replication_updated_days)
    found = sorted(r["Id"] for r in call.store.rows[object_name].values()
                   if not r["IsDeleted"] and start <= r["SystemModstamp"] < end)
    if len(found) > call.settings.replication_id_limit:
        raise api_error(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than "
                        f"{call.settings.replication_id_limit} records into this call")
    return Reply(200, {"ids": found, "latestDateCovered": format_datetime(end)})


def deleted(call: Call, object_name: str) -> Reply:
    start, end = _window(call, call.settings.replication_deleted_days)
    store = call.store
    entries = [e for e in store.deleted_log if e.object_name == object_name and start <= e.deleted_at < end]
    return Reply(200, {"deletedRecords": [{"id": e.id, "deletedDate": format_datetime(e.deleted_at)}
                                          for e in sorted(entries, key=lambda e: (e.deleted_at, e.id))],
                       "earliestDateAvailable": format_datetime(max(store.log_start // 60 * 60, start)),
                       "latestDateCovered": format_datetime(end)})


def limits(call: Call) -> Reply:
    used = call.api_usage
    limit = call.settings.daily_api_limit
    maximum = limit if limit is not None else 5_000_000
    return Reply(200, {"DailyApiRequests": {"Max": maximum, "Remaining": max(0, maximum - used)},
                       "DailyBulkApiBatches": {"Max": 15_000, "Remaining": 15_000},
                       "DailyBulkV2QueryJobs": {"Max": 10_000, "Remaining": 10_000}})
