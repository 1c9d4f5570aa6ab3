"""sObject Collections: create, update, upsert, delete and retrieve up to 200 records per call.

Results come in request order with HTTP 200 even when some records fail. With ``allOrNone`` the
first failure rolls every record back and the others report ``ALL_OR_NONE_OPERATION_ROLLED_BACK``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connectors.salesforce import ids
from connectors.salesforce.emulator import soql, writes
from connectors.salesforce.emulator.call import Call, Reply
from connectors.salesforce.emulator.errors import RecordError, api_error
from connectors.salesforce.emulator.query import render
from connectors.salesforce.emulator.schema import object_name

_ROLLED_BACK = RecordError("ALL_OR_NONE_OPERATION_ROLLED_BACK", "Record rolled back because not all records were "
                           "valid and the request was using AllOrNone header", [])

Apply = Callable[[dict[str, Any]], dict[str, Any]]


def _records(call: Call) -> tuple[list[dict[str, Any]], bool]:
    body = call.json_object()
    records = body.get("records")
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise api_error(400, "JSON_PARSER_ERROR", "records must be a list of objects")
    _check_count(call, len(records))
    return records, bool(body.get("allOrNone", False))


def _check_count(call: Call, count: int) -> None:
    limit = call.settings.collection_max_records
    if count > limit:
        raise api_error(400, "EXCEEDED_ID_LIMIT", f"record limit reached. cannot submit more than {limit} records "
                        "into this call")


def _type_of(call: Call, record: dict[str, Any], default: str | None = None) -> str:
    attributes = record.get("attributes")
    given = attributes.get("type") if isinstance(attributes, dict) else default
    name = object_name(call.store.defs, str(given)) if given else None
    if name is None:
        raise RecordError("INVALID_TYPE", f"sObject type '{given}' is not supported." if given else
                          "Missing attributes.type", [])
    return name


def _one(apply: Apply, record: dict[str, Any]) -> dict[str, Any]:
    try:
        return apply(record)
    except RecordError as exc:
        return {"success": False, "errors": [exc.collection_item()]}


def _run(call: Call, records: list[dict[str, Any]], all_or_none: bool, apply: Apply,
         input_id: Callable[[dict[str, Any]], str | None] = lambda r: None) -> Reply:
    if not all_or_none:
        return Reply(200, [_one(apply, r) for r in records])
    results: list[dict[str, Any]] = []
    counts = call.stats.snapshot()
    try:
        with call.store.transaction():
            for record in records:
                results.append(_one(apply, record))
                if not results[-1]["success"]:
                    raise _Rollback()
    except _Rollback:
        for name in ("records_created", "records_updated", "records_deleted"):
            setattr(call.stats, name, counts[name])
        failed = len(results) - 1
        out: list[dict[str, Any]] = []
        for index, record in enumerate(records):
            if index == failed:
                out.append(results[failed])
                continue
            entry: dict[str, Any] = {"success": False, "errors": [_ROLLED_BACK.collection_item()]}
            known = input_id(record)
            if known:
                entry = {"id": known, **entry}
            out.append(entry)
        return Reply(200, out)
    return Reply(200, results)


class _Rollback(Exception):
    pass


def create(call: Call) -> Reply:
    records, all_or_none = _records(call)

    def apply(record: dict[str, Any]) -> dict[str, Any]:
        name = _type_of(call, record)
        if any(k.lower() == "id" for k in record):
            raise RecordError("INVALID_FIELD", "Unable to create/update fields: Id. Please check the security "
                              "settings of this field and verify that it is read/write for your profile or "
                              "permission set.", ["Id"])
        row = writes.create(call, name, record)
        return {"id": row["Id"], "success": True, "errors": []}

    return _run(call, records, all_or_none, apply)


def update(call: Call) -> Reply:
    records, all_or_none = _records(call)

    def apply(record: dict[str, Any]) -> dict[str, Any]:
        name = _type_of(call, record)
        key = next((k for k in record if k.lower() == "id"), None)
        if key is None or not record[key]:
            raise RecordError("MISSING_ARGUMENT", "Id not specified in an update call", [])
        row = writes.update(call, name, str(record[key]), {k: v for k, v in record.items() if k != key})
        return {"id": row["Id"], "success": True, "errors": []}

    return _run(call, records, all_or_none, apply, lambda r: _normalized(r.get("id") or r.get("Id")))


def upsert(call: Call, object_name_: str, field_name: str) -> Reply:
    fdef = call.store.defs[object_name_].field(field_name)
    if fdef is None or not fdef.external_id:
        raise api_error(404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: "
                        f"{field_name}")
    records, all_or_none = _records(call)

    def apply(record: dict[str, Any]) -> dict[str, Any]:
        if _type_of(call, record, object_name_) != object_name_:
            raise RecordError("INVALID_TYPE", f"records must all be of type {object_name_}", [])
        key = next((k for k in record if k.lower() == fdef.name.lower()), None)
        value = record.get(key) if key else None
        if value in (None, ""):
            raise RecordError("MISSING_ARGUMENT", f"{fdef.name} not specified", [fdef.name])
        try:
            row, created = writes.upsert(call, object_name_, fdef.name, str(value), record)
        except RecordError as exc:
            if exc.status == 300:
                raise RecordError("DUPLICATE_EXTERNAL_ID", exc.message, exc.fields) from None
            raise
        return {"id": row["Id"], "success": True, "errors": [], "created": created}

    return _run(call, records, all_or_none, apply)


def delete(call: Call) -> Reply:
    raw = call.arg("ids") or ""
    wanted = [i for i in raw.split(",") if i]
    _check_count(call, len(wanted))
    all_or_none = (call.arg("allOrNone") or "").lower() == "true"

    def apply(record: dict[str, Any]) -> dict[str, Any]:
        record_id = record["id"]
        name = call.store.object_of(record_id)
        if name is None:
            raise RecordError("MALFORMED_ID", f"malformed id {record_id}", [])
        writes.delete(call, name, record_id)
        return {"id": _normalized(record_id), "success": True, "errors": []}

    return _run(call, [{"id": i} for i in wanted], all_or_none, apply, lambda r: _normalized(r["id"]))


def _normalized(value: Any) -> str | None:
    return ids.normalize(str(value)) if value else None


def retrieve(call: Call, object_name_: str) -> Reply:
    if call.method == "POST":
        body = call.json_object()
        wanted, fields = list(body.get("ids") or []), list(body.get("fields") or [])
        limit = 2_000
    else:
        wanted = [i for i in (call.arg("ids") or "").split(",") if i]
        fields = [f for f in (call.arg("fields") or "").split(",") if f]
        limit = 800
    if len(wanted) > limit:
        raise api_error(414 if call.method == "GET" else 400, "EXCEEDED_ID_LIMIT", f"more than {limit} ids")
    odef = call.store.defs[object_name_]
    paths = []
    for name in fields:
        if odef.field(name) is None:
            raise api_error(400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {object_name_}")
        paths.append(soql.Path((name,), 0))
    out: list[dict[str, Any] | None] = []
    for record_id in wanted:
        row = call.store.find(object_name_, str(record_id))
        out.append(None if row is None or row["IsDeleted"] else
                   render(call.store, odef, row, paths or None, call.version))
    return Reply(200, out)
