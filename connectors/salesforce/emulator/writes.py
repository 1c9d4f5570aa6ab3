"""The write path shared by sObject REST and sObject Collections: validation, duplicate rules, counters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.salesforce.emulator.call import Call
from connectors.salesforce.emulator.errors import RecordError


def _writable(call: Call, object_name: str, operation: str) -> None:
    if not call.store.defs[object_name].writable:
        raise RecordError("INVALID_TYPE_FOR_OPERATION", f"entity type {object_name} does not support {operation}", [])


def create(call: Call, object_name: str, values: Mapping[str, Any]) -> dict[str, Any]:
    store = call.store
    _writable(call, object_name, "insert")
    clean = store.clean(object_name, values, creating=True)
    _duplicate_rule(call, object_name, clean, None)
    row = store.insert(object_name, clean)
    call.stats.bump("records_created")
    return row


def update(call: Call, object_name: str, record_id: str, values: Mapping[str, Any]) -> dict[str, Any]:
    store = call.store
    _writable(call, object_name, "update")
    row = store.live(object_name, record_id)
    clean = store.clean(object_name, values, creating=False)
    if object_name == "Lead" and row.get("IsConverted"):
        raise RecordError("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", [])
    _duplicate_rule(call, object_name, clean, row["Id"])
    store.modify(row, object_name, clean)
    call.stats.bump("records_updated")
    return row


def delete(call: Call, object_name: str, record_id: str) -> None:
    store = call.store
    _writable(call, object_name, "delete")
    row = store.live(object_name, record_id)
    store.delete(object_name, row)
    call.stats.bump("records_deleted")


def upsert(call: Call, object_name: str, field_name: str, value: str, values: Mapping[str, Any]
           ) -> tuple[dict[str, Any], bool]:
    """Create or update by an External ID value; returns the record and whether it was created.

    Several matches raise a RecordError with status 300 carrying the matching ids.
    """
    matches = call.store.matching(object_name, field_name, value)
    if len(matches) > 1:
        raise RecordError("MULTIPLE_CHOICES", f"{field_name}: more than one record found for external id field: "
                          f"[{', '.join(r['Id'] for r in matches)}]", [field_name], status=300,
                          extra={"ids": [r["Id"] for r in matches]})
    body = {k: v for k, v in values.items() if k.lower() != field_name.lower()}
    if matches:
        return update(call, object_name, matches[0]["Id"], body), False
    return create(call, object_name, {**body, field_name: value}), True


def _duplicate_rule(call: Call, object_name: str, clean: Mapping[str, Any], own_id: str | None) -> None:
    """The org's standard Contact duplicate rule, reduced to an exact (case-insensitive) Email match."""
    rule = call.settings.duplicate_rule
    email = clean.get("Email")
    if object_name != "Contact" or rule == "off" or not email:
        return
    if rule == "alert" and call.allow_save():
        return
    twins = [r for r in call.store.matching("Contact", "Email", email) if r["Id"] != own_id]
    if not twins:
        return
    raise RecordError("DUPLICATES_DETECTED", "Use one of these records?", [], extra={"duplicateResult": {
        "allowSave": rule == "alert", "duplicateRule": "Standard_Contact_Duplicate_Rule",
        "duplicateRuleEntityType": "Contact", "errorMessage": "You're creating a duplicate record. We recommend "
        "you use an existing record instead.",
        "matchResults": [{"entityType": "Contact", "errors": [], "matchEngine": "ExactMatchEngine",
                          "matchRecords": [{"additionalInformation": [], "fieldDiffs": [], "matchConfidence": 100.0,
                                            "record": {"attributes": {"type": "Contact",
                                                                      "url": f"/services/data/v{call.version}/"
                                                                             f"sobjects/Contact/{r['Id']}"},
                                                       "Id": r["Id"]}} for r in twins],
                          "rule": "Standard_Contact_Match_Rule_v1_1", "size": len(twins), "success": True}]}})
