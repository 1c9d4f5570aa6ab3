"""Associations v4: default and labelled links, per record and in batches.

Associations are stored in both directions with each type's inverse id (279 <-> 280
for contact/company, 3 <-> 4 deal/contact, 341 <-> 342 deal/company), as HubSpot
shows them from either side. Object ids in v4 replies are numbers, as HubSpot sends them.
"""

from __future__ import annotations

from typing import Any

from connectors.hubspot.emulator import schema
from connectors.hubspot.emulator.api_objects import batch_reply
from connectors.hubspot.emulator.call import Call, Reply
from connectors.hubspot.emulator.errors import bad_request, batch_error, not_found


def _spec(type_id: int) -> dict[str, Any]:
    return {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}


def _types(from_type: str, to_type: str, type_ids: set[int]) -> list[dict[str, Any]]:
    out = []
    for type_id in sorted(type_ids):
        spec = schema.ASSOCIATION_BY_ID.get((type_id, from_type, to_type))
        out.append({"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": spec.label if spec else None})
    return out


def _default_type(from_type: str, to_type: str) -> int:
    type_id = schema.DEFAULT_ASSOCIATION.get((from_type, to_type))
    if type_id is None:
        raise bad_request(f"No default association type from {from_type} to {to_type}")
    return type_id


def _require(call: Call, type_: str, object_id: str) -> None:
    if call.store.get(type_, object_id) is None:
        raise not_found(f"{type_} {object_id} was not found", {"id": [object_id]})


def _int(value: str) -> int | str:
    return int(value) if value.isdigit() else value


def put_default(call: Call, from_type: str, from_id: str, to_type: str, to_id: str) -> Reply:
    _require(call, from_type, from_id)
    _require(call, to_type, to_id)
    type_id = _default_type(from_type, to_type)
    call.store.associate(from_type, from_id, to_type, to_id, type_id)
    call.stats.bump("associations_created")
    results = [
        {"from": {"id": from_id}, "to": {"id": to_id}, "associationSpec": _spec(type_id)},
        {"from": {"id": to_id}, "to": {"id": from_id},
         "associationSpec": _spec(schema.INVERSE_ASSOCIATION.get(type_id, type_id))},
    ]
    return batch_reply(call.store, results, [])


def put_labelled(call: Call, from_type: str, from_id: str, to_type: str, to_id: str) -> Reply:
    _require(call, from_type, from_id)
    _require(call, to_type, to_id)
    specs = call.body if isinstance(call.body, list) else []
    if not specs:
        raise bad_request("Expected a list of {associationCategory, associationTypeId}")
    return Reply(201, _associate(call, from_type, from_id, to_type, to_id, specs))


def _associate(call: Call, from_type: str, from_id: str, to_type: str, to_id: str,
               specs: list[dict[str, Any]]) -> dict[str, Any]:
    """Store one association per spec (all checked first); the v4 reply row naming the pair and its labels."""
    known = []
    for spec in specs:
        type_id = int(spec.get("associationTypeId") or 0)
        found = schema.ASSOCIATION_BY_ID.get((type_id, from_type, to_type))
        if found is None:
            raise bad_request(f"association type {type_id} is not valid from {from_type} to {to_type}")
        known.append((type_id, found))
    for type_id, _ in known:
        call.store.associate(from_type, from_id, to_type, to_id, type_id)
        call.stats.bump("associations_created")
    return {"fromObjectTypeId": schema.TYPE_IDS[from_type], "fromObjectId": _int(from_id),
            "toObjectTypeId": schema.TYPE_IDS[to_type], "toObjectId": _int(to_id),
            "labels": [k.label for _, k in known if k.label]}


def delete_pair(call: Call, from_type: str, from_id: str, to_type: str, to_id: str) -> Reply:
    if call.store.dissociate(from_type, from_id, to_type, to_id):
        call.stats.bump("associations_archived")
    return Reply(204)


def list_for(call: Call, from_type: str, from_id: str, to_type: str) -> Reply:
    _require(call, from_type, from_id)
    try:
        limit = int(call.arg("limit") or 500)
        after = int(call.arg("after") or 0)
    except ValueError:
        raise bad_request("limit and after must be integers") from None
    rows = [(to_id, types) for to_id, types in call.store.associated(from_type, from_id, to_type).items()
            if int(to_id) >= after]
    page = rows[:limit]
    body: dict[str, Any] = {"results": [{"toObjectId": _int(to_id), "associationTypes": _types(from_type, to_type, t)}
                                        for to_id, t in page]}
    if len(rows) > limit:
        body["paging"] = {"next": {"after": str(int(page[-1][0]) + 1)}}
    return Reply(200, body)


def _batch_inputs(call: Call) -> list[dict[str, Any]]:
    inputs = call.json_object().get("inputs")
    if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
        raise bad_request("Invalid input JSON: inputs must be a list of objects")
    if len(inputs) > 1000:
        raise bad_request("Batch input size exceeds the limit of 1000 inputs")
    return inputs


def batch_read(call: Call, from_type: str, to_type: str) -> Reply:
    results, errors = [], []
    for item in _batch_inputs(call):
        from_id = str(item.get("id") or "")
        found = call.store.associated(from_type, from_id, to_type) if call.store.get(from_type, from_id) else {}
        if not found:
            errors.append(batch_error(
                f"No {schema.SINGULAR[to_type]} is associated with {schema.SINGULAR[from_type]} {from_id}.",
                "OBJECT_NOT_FOUND", context={"fromObjectId": [from_id], "fromObjectType": [schema.SINGULAR[from_type]],
                                             "toObjectType": [schema.SINGULAR[to_type]]},
                sub_category="crm.associations.NO_ASSOCIATIONS_FOUND"))
            continue
        results.append({"from": {"id": from_id},
                        "to": [{"toObjectId": _int(to_id), "associationTypes": _types(from_type, to_type, t)}
                               for to_id, t in found.items()]})
    reply = batch_reply(call.store, results, errors)
    reply.body["results"] = results  # keep input order for readability; HubSpot promises none
    return reply


def _pair(item: dict[str, Any]) -> tuple[str, str]:
    return str((item.get("from") or {}).get("id") or ""), str((item.get("to") or {}).get("id") or "")


def batch_create(call: Call, from_type: str, to_type: str) -> Reply:
    results, errors = [], []
    for item in _batch_inputs(call):
        from_id, to_id = _pair(item)
        if call.store.get(from_type, from_id) is None or call.store.get(to_type, to_id) is None:
            errors.append(batch_error(f"One of the records {from_id} or {to_id} does not exist.",
                                      "OBJECT_NOT_FOUND", context={"fromObjectId": [from_id], "toObjectId": [to_id]}))
            continue
        specs = item.get("types") or [_spec(_default_type(from_type, to_type))]
        results.append(_associate(call, from_type, from_id, to_type, to_id, specs))
    return batch_reply(call.store, results, errors, ok_status=201)


def batch_default(call: Call, from_type: str, to_type: str) -> Reply:
    type_id = _default_type(from_type, to_type)
    results, errors = [], []
    for item in _batch_inputs(call):
        from_id, to_id = _pair(item)
        if call.store.get(from_type, from_id) is None or call.store.get(to_type, to_id) is None:
            errors.append(batch_error(f"One of the records {from_id} or {to_id} does not exist.",
                                      "OBJECT_NOT_FOUND", context={"fromObjectId": [from_id], "toObjectId": [to_id]}))
            continue
        call.store.associate(from_type, from_id, to_type, to_id, type_id)
        call.stats.bump("associations_created")
        results.append({"from": {"id": from_id}, "to": {"id": to_id}, "associationSpec": _spec(type_id)})
    return batch_reply(call.store, results, errors)


def batch_archive(call: Call, from_type: str, to_type: str) -> Reply:
    for item in _batch_inputs(call):
        from_id = str((item.get("from") or {}).get("id") or "")
        for target in item.get("to") or []:
            if call.store.dissociate(from_type, from_id, to_type, str(target.get("id") or "")):
                call.stats.bump("associations_archived")
    return Reply(204)
