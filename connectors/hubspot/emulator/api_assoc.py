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
from connectors.hubspot.emulator.store import Store


def _spec(type_id: int, category: str = "HUBSPOT_DEFINED") -> dict[str, Any]:
    return {"associationCategory": category, "associationTypeId": type_id}


def _label_row(kind: schema.AssociationType) -> dict[str, Any]:
    """``{category, typeId, label}``; an unlabeled type has ``label: null``, as HubSpot sends it."""
    return {"category": kind.category, "typeId": kind.type_id, "label": kind.label}


def _types(store: Store, from_type: str, to_type: str, type_ids: set[int]) -> list[dict[str, Any]]:
    out = []
    for type_id in sorted(type_ids):
        kind = store.association_type(type_id, from_type, to_type)
        out.append(_label_row(kind) if kind else {"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": None})
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
         "associationSpec": _spec(call.store.inverse(type_id))},
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
        found = call.store.association_type(type_id, from_type, to_type)
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
    body: dict[str, Any] = {"results": [{"toObjectId": _int(to_id), "associationTypes": _types(call.store, from_type, to_type, t)}
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
                        "to": [{"toObjectId": _int(to_id), "associationTypes": _types(call.store, from_type, to_type, t)}
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


def batch_archive(call: Call, from_type: str, to_type: str, *, dated: bool) -> Reply:
    """v4 answers 204 with no body; 2026-03 answers a BatchResponse (200, or 207 with ``errors``)."""
    errors = []
    for item in _batch_inputs(call):
        from_id = str((item.get("from") or {}).get("id") or "")
        if call.store.get(from_type, from_id) is None:
            errors.append(batch_error(
                f"{schema.SINGULAR[from_type].capitalize()} {from_id} does not exist.", "OBJECT_NOT_FOUND",
                context={"fromObjectId": [from_id], "fromObjectType": [schema.SINGULAR[from_type]]}))
            continue
        for target in item.get("to") or []:
            if call.store.dissociate(from_type, from_id, to_type, str(target.get("id") or "")):
                call.stats.bump("associations_archived")
    return batch_reply(call.store, [], errors) if dated else Reply(204)


def batch_archive_labels(call: Call, from_type: str, to_type: str) -> Reply:
    """Remove only the given association types of each pair (the pair stays linked by its other types)."""
    for item in _batch_inputs(call):
        from_id, to_id = _pair(item)
        type_ids = [int(t.get("associationTypeId") or 0) for t in item.get("types") or []]
        if call.store.dissociate(from_type, from_id, to_type, to_id, type_ids):
            call.stats.bump("associations_archived")
    return Reply(204)


# -- label definitions -----------------------------------------------------------------------

def list_labels(call: Call, from_type: str, to_type: str) -> Reply:
    return Reply(200, {"results": [_label_row(k) for k in call.store.association_types(from_type, to_type)]})


def create_label(call: Call, from_type: str, to_type: str) -> Reply:
    body = call.json_object()
    label, name = str(body.get("label") or "").strip(), str(body.get("name") or "").strip()
    if not label or not name:
        raise bad_request("A label definition needs label and name")
    if any(k.name == name for k in call.store.association_types(from_type, to_type)):
        raise bad_request(f"An association label named {name} already exists")
    forward = call.store.define_label(from_type, to_type, name, label, body.get("inverseLabel"))
    backward = call.store.association_type(call.store.inverse(forward.type_id), to_type, from_type)
    rows = [_label_row(forward)] + ([_label_row(backward)] if backward and backward.label != forward.label else [])
    return Reply(200, {"results": rows})


def update_label(call: Call, from_type: str, to_type: str) -> Reply:
    body = call.json_object()
    type_id = int(body.get("associationTypeId") or 0)
    kind = call.store.user_associations.get((type_id, from_type, to_type))
    if kind is None:
        raise not_found(f"No USER_DEFINED association type {type_id} from {from_type} to {to_type}")
    label = str(body.get("label") or kind.label or "")
    call.store.user_associations[(type_id, from_type, to_type)] = schema.AssociationType(
        type_id, from_type, to_type, kind.name, label, kind.category)
    return Reply(204)


def delete_label(call: Call, from_type: str, to_type: str, type_id: str) -> Reply:
    if not type_id.isdigit() or not call.store.drop_label(from_type, to_type, int(type_id)):
        raise not_found(f"No USER_DEFINED association type {type_id} from {from_type} to {to_type}")
    return Reply(204)
