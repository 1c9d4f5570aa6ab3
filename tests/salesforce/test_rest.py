"""sObject REST: validation errors as Salesforce sends them, upsert answers, conditional updates, merges,
getUpdated/getDeleted windows, describe and versions."""

from __future__ import annotations

import email.utils

import httpx
import pytest

from connectors.salesforce.emulator import SalesforceEmulator


def error_code(reply: httpx.Response) -> str:
    return str(reply.json()[0]["errorCode"])


@pytest.mark.parametrize(("object_name", "body", "code", "fields"), [
    ("Contact", {"FirstName": "Ann"}, "REQUIRED_FIELD_MISSING", ["LastName"]),
    ("Account", {"Website": "https://x.example"}, "REQUIRED_FIELD_MISSING", ["Name"]),
    ("Opportunity", {"Name": "Deal"}, "REQUIRED_FIELD_MISSING", ["StageName", "CloseDate"]),
    ("Opportunity", {"Name": "Deal", "StageName": "Won-ish", "CloseDate": "2026-03-01"},
     "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", ["StageName"]),
    ("Contact", {"LastName": "X", "Id": "003000000000001"}, "INVALID_FIELD", ["Id"]),
    ("Contact", {"LastName": "X", "Shoe_Size__c": 9}, "INVALID_FIELD", ["Shoe_Size__c"]),
    ("Contact", {"LastName": "X", "SystemModstamp": "2026-01-01T00:00:00Z"}, "INVALID_FIELD_FOR_INSERT_UPDATE",
     ["SystemModstamp"]),
    ("Contact", {"LastName": "X", "Email": "not-an-address"}, "INVALID_EMAIL_ADDRESS", ["Email"]),
    ("Contact", {"LastName": "X", "AccountId": "001000000000001"}, "INVALID_CROSS_REFERENCE_KEY", ["AccountId"]),
    ("Contact", {"LastName": "X" * 81}, "STRING_TOO_LONG", ["LastName"]),
])
def test_create_refusals(api: httpx.Client, object_name: str, body: dict[str, object], code: str,
                         fields: list[str]) -> None:
    reply = api.post(f"/sobjects/{object_name}", json=body)
    assert reply.status_code == 400
    assert reply.json()[0]["errorCode"] == code and reply.json()[0]["fields"] == fields


def test_stage_derives_closed_won_and_probability(api: httpx.Client, emulator: SalesforceEmulator) -> None:
    made = api.post("/sobjects/Opportunity", json={"Name": "Deal", "StageName": "Closed Won",
                                                   "CloseDate": "2026-03-01", "Amount": "4800"})
    assert made.status_code == 201 and made.json()["success"] is True
    row = api.get(f"/sobjects/Opportunity/{made.json()['id']}").json()
    assert (row["IsClosed"], row["IsWon"], row["Probability"], row["Amount"]) == (True, True, 100.0, 4800.0)


def test_duplicate_rule_blocks_unless_allow_save(api: httpx.Client, emulator: SalesforceEmulator) -> None:
    first = emulator.add_record("Contact", {"LastName": "Patel", "Email": "priya@northgate.example"})
    reply = api.post("/sobjects/Contact", json={"LastName": "Patel", "Email": "PRIYA@northgate.example"})
    assert reply.status_code == 400 and error_code(reply) == "DUPLICATES_DETECTED"
    match = reply.json()[0]["duplicateResult"]["matchResults"][0]["matchRecords"][0]["record"]
    assert match["Id"] == first
    allowed = api.post("/sobjects/Contact", json={"LastName": "Patel", "Email": "priya@northgate.example"},
                       headers={"Sforce-Duplicate-Rule-Header": "allowSave=true; includeRecordDetails=true"})
    assert allowed.status_code == 201
    emulator.configure(duplicate_rule="block")
    blocked = api.post("/sobjects/Contact", json={"LastName": "P", "Email": "priya@northgate.example"},
                       headers={"Sforce-Duplicate-Rule-Header": "allowSave=true"})
    assert error_code(blocked) == "DUPLICATES_DETECTED"
    emulator.configure(duplicate_rule="off")
    assert api.post("/sobjects/Contact", json={"LastName": "P", "Email": "priya@northgate.example"}).status_code == 201


def test_upsert_answers_201_200_300_and_update_only(api: httpx.Client, emulator: SalesforceEmulator) -> None:
    path = "/sobjects/Account/Cloze_Syncd_Id__c/company-7"
    assert api.patch(path, json={"Name": "Atlas"}).status_code == 201
    updated = api.patch(path, json={"Name": "Atlas Marketing"})
    assert updated.status_code == 200 and updated.json()["created"] is False
    emulator.configure(upsert_update_status=204)
    assert api.patch(path, json={"Name": "Atlas Marketing Partners"}).status_code == 204
    missing = api.patch("/sobjects/Account/Cloze_Syncd_Id__c/none", params={"updateOnly": "true"},
                        json={"Name": "N"})
    assert missing.status_code == 404
    assert api.patch("/sobjects/Account/Website/x", json={"Name": "N"}).status_code == 404  # not an External ID
    # An External ID that is not Unique can match several records: 300 with their URLs.
    emulator.add_field("Account", "Legacy_Id__c", external_id=True, unique=False)
    emulator.add_record("Account", {"Name": "A", "Legacy_Id__c": "L1"})
    emulator.add_record("Account", {"Name": "B", "Legacy_Id__c": "L1"})
    several = api.patch("/sobjects/Account/Legacy_Id__c/L1", json={"Name": "C"})
    assert several.status_code == 300 and len(several.json()) == 2


def test_unique_external_id_clash_is_duplicate_value(api: httpx.Client, emulator: SalesforceEmulator) -> None:
    holder = emulator.add_record("Contact", {"LastName": "A", "Cloze_Syncd_Id__c": "p-1"})
    other = emulator.add_record("Contact", {"LastName": "B"})
    reply = api.patch(f"/sobjects/Contact/{other}", json={"Cloze_Syncd_Id__c": "p-1"})
    assert error_code(reply) == "DUPLICATE_VALUE" and holder in reply.json()[0]["message"]


def test_deleted_records_answer_entity_is_deleted(api: httpx.Client, emulator: SalesforceEmulator) -> None:
    made = emulator.add_record("Account", {"Name": "Gone"})
    assert api.delete(f"/sobjects/Account/{made[:15]}").status_code == 204
    for reply in (api.get(f"/sobjects/Account/{made}"), api.patch(f"/sobjects/Account/{made}", json={"Name": "x"}),
                  api.delete(f"/sobjects/Account/{made}")):
        assert reply.status_code == 404 and error_code(reply) == "ENTITY_IS_DELETED"
    assert error_code(api.get("/sobjects/Account/001000000000001AAA")) == "NOT_FOUND"


def test_if_unmodified_since_refuses_a_stale_update(api: httpx.Client, emulator: SalesforceEmulator) -> None:
    made = emulator.add_record("Contact", {"LastName": "Walsh"})
    read = api.get(f"/sobjects/Contact/{made}")
    stamp = read.headers["Last-Modified"]
    emulator.advance_clock(5)
    emulator.update_record("Contact", made, {"Title": "Edited in Salesforce"})
    stale = api.patch(f"/sobjects/Contact/{made}", json={"Title": "Ours"}, headers={"If-Unmodified-Since": stamp})
    assert stale.status_code == 412
    assert emulator.get_record("Contact", made)["Title"] == "Edited in Salesforce"  # type: ignore[index]
    fresh = email.utils.formatdate(emulator.clock.now() + 1, usegmt=True)
    ok = api.patch(f"/sobjects/Contact/{made}", json={"Title": "Ours"}, headers={"If-Unmodified-Since": fresh})
    assert ok.status_code == 204


def test_merge_deletes_losers_with_master_and_reparents(api: httpx.Client, emulator: SalesforceEmulator) -> None:
    keep = emulator.add_record("Account", {"Name": "Bluewater Insurance"})
    lose = emulator.add_record("Account", {"Name": "Bluewater Ins."})
    person = emulator.add_record("Contact", {"LastName": "Larsen", "AccountId": lose})
    deal = emulator.add_record("Opportunity", {"Name": "Renewal", "StageName": "Prospecting",
                                               "CloseDate": "2026-06-01", "AccountId": lose})
    before = emulator.get_record("Account", keep)["SystemModstamp"]  # type: ignore[index]
    emulator.advance_clock(2)
    assert emulator.handle("POST", "/_emulator/merge", {}, b'{"object": "Account", "master": "%s", "losers": ["%s"]}'
                           % (keep.encode(), lose.encode()))[0].status == 200
    loser = emulator.get_record("Account", lose)
    assert loser is not None and loser["IsDeleted"] is True and loser["MasterRecordId"] == keep
    assert emulator.get_record("Contact", person)["AccountId"] == keep  # type: ignore[index]
    assert emulator.get_record("Opportunity", deal)["AccountId"] == keep  # type: ignore[index]
    assert emulator.get_record("Account", keep)["SystemModstamp"] > before  # type: ignore[index]


def test_automation_moves_system_modstamp_only(emulator: SalesforceEmulator) -> None:
    made = emulator.add_record("Contact", {"LastName": "Fischer"})
    emulator.advance_clock(61)
    emulator.touch("Contact", [made])
    row = emulator.get_record("Contact", made)
    assert row is not None and row["SystemModstamp"] > row["LastModifiedDate"]


def test_replication_windows(api: httpx.Client, emulator: SalesforceEmulator) -> None:
    now = emulator.clock.now()
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    import time as _time

    def at(seconds: float) -> str:
        return _time.strftime(fmt, _time.gmtime(seconds))

    too_old = api.get("/sobjects/Contact/updated/", params={"start": at(now - 31 * 86_400), "end": at(now)})
    assert too_old.status_code == 400 and error_code(too_old) == "INVALID_REPLICATION_DATE"
    assert error_code(api.get("/sobjects/Contact/deleted/", params={"start": at(now - 16 * 86_400),
                                                                  "end": at(now)})) == "INVALID_REPLICATION_DATE"
    made = emulator.add_record("Contact", {"LastName": "Moreno"})
    emulator.delete_record("Contact", made)
    emulator.advance_clock(16 * 86_400)  # past the Recycle Bin horizon: the record and its log entry are purged
    reply = api.get("/sobjects/Contact/deleted/", params={"start": at(now + 86_400 * 2), "end": at(now + 86_400 * 16)})
    assert reply.json()["deletedRecords"] == []
    assert api.get("/queryAll", params={"q": "SELECT Id FROM Contact"}).json()["totalSize"] == 0


def test_versions_and_retired_versions(http: httpx.Client, emulator: SalesforceEmulator) -> None:
    versions = http.get(f"{emulator.url}/services/data/").json()
    assert {"label": "Spring '26", "url": "/services/data/v66.0", "version": "66.0"} in versions
    assert "Sforce-Limit-Info" not in http.get(f"{emulator.url}/services/data/").headers
    headers = {"Authorization": "Bearer 00D5g0000000001!test-session-token"}
    assert http.get(f"{emulator.url}/services/data/v30.0/limits", headers=headers).status_code == 410
    assert http.get(f"{emulator.url}/services/data/v99.0/limits", headers=headers).status_code == 404


def test_describe_without_the_external_id_field(api: httpx.Client, emulator: SalesforceEmulator) -> None:
    emulator.configure(external_id_objects=["Contact"])
    names = [f["name"] for f in api.get("/sobjects/Account/describe").json()["fields"]]
    assert "Cloze_Syncd_Id__c" not in names and "Name" in names
    assert api.patch("/sobjects/Account/Cloze_Syncd_Id__c/x", json={"Name": "N"}).status_code == 404


def test_opportunity_stage_is_query_only(api: httpx.Client) -> None:
    rows = api.get("/query", params={"q": "SELECT ApiName, IsClosed, IsWon, DefaultProbability FROM OpportunityStage "
                                          "WHERE IsClosed = true ORDER BY SortOrder"}).json()["records"]
    assert [(r["ApiName"], r["IsWon"]) for r in rows] == [("Closed Won", True), ("Closed Lost", False)]
    refused = api.post("/sobjects/OpportunityStage", json={})
    assert refused.status_code == 400 and refused.json()[0]["errorCode"] == "INVALID_TYPE_FOR_OPERATION"


def test_if_modified_since_and_method_override(api: httpx.Client, emulator: SalesforceEmulator) -> None:
    made = emulator.add_record("Account", {"Name": "Cedar Street Cafe"})
    stamp = api.get(f"/sobjects/Account/{made}").headers["Last-Modified"]
    assert api.get(f"/sobjects/Account/{made}", headers={"If-Modified-Since": stamp}).status_code == 304
    overridden = api.post(f"/sobjects/Account/{made}", json={"Phone": "+1 503 555 0101"},
                          headers={"X-HTTP-Method-Override": "PATCH"})
    assert overridden.status_code == 204
    assert emulator.get_record("Account", made)["Phone"] == "+1 503 555 0101"  # type: ignore[index]
