"""The properties API: list, read, create, update and archive property definitions (with ``hasUniqueValue``)."""

from __future__ import annotations

import re

from connectors.hubspot.emulator import schema
from connectors.hubspot.emulator.call import Call, Reply
from connectors.hubspot.emulator.errors import (
    EmulatorError,
    bad_request,
    error_body,
    missing_scopes,
    not_found,
)
from connectors.hubspot.emulator.schema import PropertyDef

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_TYPES = {"string", "number", "date", "datetime", "enumeration", "bool"}


def list_properties(call: Call, type_: str) -> Reply:
    return Reply(200, {"results": [p.to_json() for p in call.store.definitions[type_].values()]})


def get_property(call: Call, type_: str, name: str) -> Reply:
    definition = call.store.definitions[type_].get(name)
    if definition is None:
        raise not_found(f"Unable to find property {name} for object type {schema.TYPE_IDS[type_]}",
                        {"propertyName": [name]})
    return Reply(200, definition.to_json())


def _definition(call: Call, type_: str, name: str) -> PropertyDef:
    definition = call.store.definitions[type_].get(name)
    if definition is None:
        raise not_found(f"Unable to find property {name} for object type {schema.TYPE_IDS[type_]}",
                        {"propertyName": [name]})
    return definition


# What PATCH may change (``PropertyUpdate``); the name, and a HubSpot-defined property's type, stay.
_UPDATABLE = {"label": "label", "description": "description", "groupName": "group_name",
              "fieldType": "field_type", "options": "options", "type": "type"}


def update_property(call: Call, type_: str, name: str) -> Reply:
    definition = _definition(call, type_, name)
    body = call.json_object()
    unknown = sorted(set(body) - set(_UPDATABLE) - {"displayOrder", "hidden", "formField", "calculationFormula"})
    if unknown:
        raise bad_request(f"Unknown fields in the property update: {', '.join(unknown)}")
    if definition.hubspot_defined and any(k in body for k in ("type", "fieldType", "groupName")):
        raise bad_request(f"The definition of the HubSpot-defined property {name} is read only; only its label, "
                          "description and options can change")
    if "type" in body and body["type"] not in _TYPES:
        raise bad_request(f"Unknown property type {body['type']!r}")
    if "groupName" in body and body["groupName"] != schema.GROUPS[type_]:
        raise bad_request(f"Property group {body['groupName']!r} does not exist for {type_}")
    for key, attr in _UPDATABLE.items():
        if key in body:
            setattr(definition, attr, list(body[key] or []) if key == "options" else str(body[key]))
    definition.updated_at = schema.iso_from_ms(call.store.now_ms())
    return Reply(200, definition.to_json())


def archive_property(call: Call, type_: str, name: str) -> Reply:
    definition = _definition(call, type_, name)
    if definition.hubspot_defined:
        raise bad_request(f"The HubSpot-defined property {name} cannot be archived")
    del call.store.definitions[type_][name]
    return Reply(204)


def create_property(call: Call, type_: str) -> Reply:
    scope = f"crm.schemas.{type_}.write"
    if scope in call.settings.missing_scopes:
        raise missing_scopes([scope])
    body = call.json_object()
    missing = [k for k in ("name", "label", "type", "fieldType", "groupName") if not body.get(k)]
    if missing:
        raise bad_request(f"Missing required fields: {', '.join(missing)}")
    name = str(body["name"])
    if not _NAME.match(name):
        raise bad_request(f"Property name {name!r} must start with a letter and use only a-z, 0-9 and _")
    if body["type"] not in _TYPES:
        raise bad_request(f"Unknown property type {body['type']!r}")
    if body["groupName"] != schema.GROUPS[type_]:
        raise bad_request(f"Property group {body['groupName']!r} does not exist for {type_}")
    if name in call.store.definitions[type_]:
        raise EmulatorError(409, error_body(f"Property named '{name}' already exists.", "OBJECT_ALREADY_EXISTS"))
    unique = bool(body.get("hasUniqueValue"))
    if unique and body["type"] not in ("string", "number"):
        raise bad_request("Only string and number properties can require unique values")
    now = schema.iso_from_ms(call.store.now_ms())
    definition = PropertyDef(
        name=name, label=str(body["label"]), type=str(body["type"]), field_type=str(body["fieldType"]),
        group_name=str(body["groupName"]), options=list(body.get("options") or []), has_unique_value=unique,
        hubspot_defined=False, description=str(body.get("description") or ""), created_at=now, updated_at=now)
    call.store.definitions[type_][name] = definition
    return Reply(201, definition.to_json())
