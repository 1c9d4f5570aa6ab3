"""The emulator driven by simple-salesforce (direct-session mode over HTTPS), a client written against the
real service: query, query_all, query_more, CRUD, upsert by External ID, updated/deleted, collections."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from connectors.salesforce.emulator import SalesforceEmulator


def test_crud_round_trip(simple: Any, tls_emulator: SalesforceEmulator) -> None:
    account = simple.Account.create({"Name": "Harbor Point Dental", "Website": "https://harborpoint.example"})
    assert account["success"] and account["id"].startswith("001") and len(account["id"]) == 18
    contact = simple.Contact.create({"LastName": "Okafor", "FirstName": "Amara", "AccountId": account["id"],
                                     "Email": "amara@harborpoint.example"})
    got = simple.Contact.get(contact["id"])
    assert got["Name"] == "Amara Okafor" and got["AccountId"] == account["id"] and got["IsDeleted"] is False
    assert got["SystemModstamp"].endswith(".000+0000")
    assert simple.Contact.update(contact["id"], {"Title": "Owner"}) == 204
    assert simple.Contact.get(contact["id"][:15])["Title"] == "Owner"  # 15-character ids are accepted
    assert simple.Contact.delete(contact["id"]) == 204
    from simple_salesforce.exceptions import SalesforceResourceNotFound

    with pytest.raises(SalesforceResourceNotFound) as info:
        simple.Contact.get(contact["id"])
    assert info.value.content[0]["errorCode"] == "ENTITY_IS_DELETED"
    simple.query("SELECT Id FROM Contact")
    assert simple.api_usage["api-usage"].used == 8  # it parsed Sforce-Limit-Info: every call above counted
    assert simple.api_usage["api-usage"].total == 15_000


def test_upsert_by_external_id_creates_then_updates(simple: Any, tls_emulator: SalesforceEmulator) -> None:
    assert simple.Contact.upsert("Cloze_Syncd_Id__c/person-1", {"LastName": "Nguyen"}) == 201
    assert simple.Contact.upsert("Cloze_Syncd_Id__c/person-1", {"LastName": "Nguyen", "Title": "CFO"}) == 200
    found = simple.Contact.get_by_custom_id("Cloze_Syncd_Id__c", "person-1")
    assert found["Title"] == "CFO" and found["Cloze_Syncd_Id__c"] == "person-1"
    assert len(tls_emulator.records("Contact")) == 1


def test_query_query_more_and_query_all(simple: Any, tls_emulator: SalesforceEmulator) -> None:
    made = [tls_emulator.add_record("Contact", {"LastName": f"Person {i:03d}"}) for i in range(450)]
    tls_emulator.delete_record("Contact", made[0])
    first = simple.query("SELECT Id, LastName FROM Contact ORDER BY LastName")
    assert first["totalSize"] == 449 and len(first["records"]) == 200 and not first["done"]
    second = simple.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert len(second["records"]) == 200 and second["records"][0]["LastName"] == "Person 201"
    assert simple.query_all("SELECT Id FROM Contact")["totalSize"] == 449
    everything = simple.query_all("SELECT Id, IsDeleted FROM Contact", include_deleted=True)
    assert everything["totalSize"] == 450 and len(everything["records"]) == 450
    assert [r["Id"] for r in everything["records"] if r["IsDeleted"]] == [made[0]]
    streamed = list(simple.query_all_iter("SELECT Id FROM Contact WHERE IsDeleted = true", include_deleted=True))
    assert [r["Id"] for r in streamed] == [made[0]]


def test_updated_and_deleted(simple: Any, tls_emulator: SalesforceEmulator) -> None:
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    kept = tls_emulator.add_record("Account", {"Name": "Kestrel IT"})
    gone = tls_emulator.add_record("Account", {"Name": "Old Mill"})
    tls_emulator.delete_record("Account", gone)
    tls_emulator.advance_clock(120)  # getUpdated works in whole minutes
    end = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2)
    updated = simple.Account.updated(start, end)
    assert updated["ids"] == [kept] and updated["latestDateCovered"].endswith(":00.000+0000")
    deleted = simple.Account.deleted(start, end)
    assert [d["id"] for d in deleted["deletedRecords"]] == [gone] and "earliestDateAvailable" in deleted


def test_describe_shows_external_id_and_picklists(simple: Any) -> None:
    fields = {f["name"]: f for f in simple.Opportunity.describe()["fields"]}
    assert fields["Cloze_Syncd_Id__c"]["externalId"] and fields["Cloze_Syncd_Id__c"]["unique"]
    assert fields["StageName"]["restrictedPicklist"] and not fields["StageName"]["nillable"]
    assert "Closed Won" in [v["value"] for v in fields["StageName"]["picklistValues"]]


def test_collections_through_restful(simple: Any, tls_emulator: SalesforceEmulator) -> None:
    body = {"allOrNone": False, "records": [
        {"attributes": {"type": "Contact"}, "LastName": "Rossi", "Cloze_Syncd_Id__c": "p-1"},
        {"attributes": {"type": "Contact"}, "FirstName": "No last name", "Cloze_Syncd_Id__c": "p-2"},
    ]}
    results = simple.restful("composite/sobjects/Contact/Cloze_Syncd_Id__c", method="PATCH", json=body)
    assert results[0]["success"] and results[0]["created"] is True
    assert results[1] == {"success": False, "errors": [{"statusCode": "REQUIRED_FIELD_MISSING", "message":
                                                        "Required fields are missing: [LastName]",
                                                        "fields": ["LastName"]}]}
    again = simple.restful("composite/sobjects/Contact/Cloze_Syncd_Id__c", method="PATCH", json=body)
    assert again[0]["created"] is False and again[0]["id"] == results[0]["id"]
