"""sObject Collections: per-record results in request order, allOrNone rollback, the 200-record cap,
upsert by External ID, update, delete and retrieve."""

from __future__ import annotations

import httpx

from connectors.salesforce.emulator import SalesforceEmulator


def contact(last: str | None, **fields: object) -> dict[str, object]:
    body: dict[str, object] = {"attributes": {"type": "Contact"}, **fields}
    if last is not None:
        body["LastName"] = last
    return body


def test_create_reports_each_record_in_order(api: httpx.Client, emulator: SalesforceEmulator) -> None:
    reply = api.post("/composite/sobjects", json={"records": [contact("A"), contact(None), contact("C")]})
    assert reply.status_code == 200
    results = reply.json()
    assert [r["success"] for r in results] == [True, False, True]
    assert results[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert len(emulator.records("Contact")) == 2


def test_all_or_none_rolls_back_every_record(api: httpx.Client, emulator: SalesforceEmulator) -> None:
    existing = emulator.add_record("Contact", {"LastName": "Before"})
    reply = api.post("/composite/sobjects", json={"allOrNone": True, "records": [
        contact("A"), {"attributes": {"type": "Account"}, "Name": "Co"}, contact(None)]})
    results = reply.json()
    assert [r["errors"][0]["statusCode"] for r in results] == [
        "ALL_OR_NONE_OPERATION_ROLLED_BACK", "ALL_OR_NONE_OPERATION_ROLLED_BACK", "REQUIRED_FIELD_MISSING"]
    assert [r["Id"] for r in emulator.records("Contact")] == [existing] and emulator.records("Account") == []
    assert emulator.stats.records_created == 0
    update = api.patch("/composite/sobjects", json={"allOrNone": True, "records": [
        contact(None, id=existing, Title="Owner"), contact(None, id=existing, Email="bad")]})
    assert update.json()[0] == {"id": existing, "success": False, "errors": [
        {"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK", "message": "Record rolled back because not all records "
         "were valid and the request was using AllOrNone header", "fields": []}]}
    assert emulator.get_record("Contact", existing)["Title"] is None  # type: ignore[index]


def test_more_than_200_records_is_refused_whole(api: httpx.Client, emulator: SalesforceEmulator) -> None:
    reply = api.post("/composite/sobjects", json={"records": [contact(f"P{i}") for i in range(201)]})
    assert reply.status_code == 400 and reply.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    assert emulator.records("Contact") == []
    assert api.post("/composite/sobjects", json={"records": [contact(f"P{i}") for i in range(200)]}).status_code == 200


def test_upsert_update_delete_retrieve(api: httpx.Client, emulator: SalesforceEmulator) -> None:
    path = "/composite/sobjects/Contact/Cloze_Syncd_Id__c"
    records = [contact("Haddad", Cloze_Syncd_Id__c="p-1"), contact("Tanaka", Cloze_Syncd_Id__c="p-2")]
    first = api.patch(path, json={"allOrNone": False, "records": records}).json()
    assert [r["created"] for r in first] == [True, True]
    second = api.patch(path, json={"records": [contact("Haddad", Cloze_Syncd_Id__c="p-1", Title="CEO"),
                                               contact("Brooks")]}).json()
    assert second[0] == {"id": first[0]["id"], "success": True, "errors": [], "created": False}
    assert second[1]["errors"][0]["statusCode"] == "MISSING_ARGUMENT"
    ids = [r["id"] for r in first]
    fetched = api.get("/composite/sobjects/Contact", params={"ids": ",".join([*ids, "003000000000001AAA"]),
                                                             "fields": "LastName,Title"}).json()
    assert [f and f["Title"] for f in fetched] == ["CEO", None, None]
    gone = api.delete("/composite/sobjects", params={"ids": ids[0][:15], "allOrNone": "false"}).json()
    assert gone == [{"id": ids[0], "success": True, "errors": []}]
    again = api.delete("/composite/sobjects", params={"ids": ids[0]}).json()
    assert again[0]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"


def test_upsert_on_a_missing_external_id_field(api: httpx.Client, emulator: SalesforceEmulator) -> None:
    emulator.configure(external_id_objects=[])
    reply = api.patch("/composite/sobjects/Contact/Cloze_Syncd_Id__c", json={"records": [contact("X")]})
    assert reply.status_code == 404 and "Cloze_Syncd_Id__c" in reply.json()[0]["message"]


def test_rolled_back_upsert_leaves_no_trace_for_the_next_one(api: httpx.Client, emulator: SalesforceEmulator) -> None:
    path = "/composite/sobjects/Contact/Cloze_Syncd_Id__c"
    failed = api.patch(path, json={"allOrNone": True, "records": [contact("Chen", Cloze_Syncd_Id__c="p-1"),
                                                                  contact(None, Cloze_Syncd_Id__c="p-2")]})
    assert [r["success"] for r in failed.json()] == [False, False]
    retry = api.patch(path, json={"allOrNone": True, "records": [contact("Chen", Cloze_Syncd_Id__c="p-1")]}).json()
    assert retry[0]["created"] is True
    twin = api.post("/composite/sobjects", json={"records": [contact("Chen2", Cloze_Syncd_Id__c="P-1")]}).json()
    assert twin[0]["errors"][0]["statusCode"] == "DUPLICATE_VALUE"  # the unique check sees the retried record
