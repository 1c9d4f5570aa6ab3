"""``POST /composite``: references between subrequests, allOrNone, and one API call for the lot."""

from __future__ import annotations

import httpx

from connectors.salesforce.emulator import SalesforceEmulator

BASE = "/services/data/v66.0"


def test_later_subrequests_use_earlier_results(api: httpx.Client, emulator: SalesforceEmulator) -> None:
    reply = api.post("/composite", json={"compositeRequest": [
        {"method": "POST", "url": f"{BASE}/sobjects/Account", "referenceId": "acct", "body": {"Name": "Atlas"}},
        {"method": "POST", "url": f"{BASE}/sobjects/Contact", "referenceId": "person",
         "body": {"LastName": "Walsh", "AccountId": "@{acct.id}"}},
        {"method": "GET", "url": f"{BASE}/sobjects/Contact/@{{person.id}}?fields=AccountId", "referenceId": "read"},
    ]})
    responses = reply.json()["compositeResponse"]
    assert [r["httpStatusCode"] for r in responses] == [201, 201, 200]
    assert responses[2]["body"]["AccountId"] == responses[0]["body"]["id"]
    assert reply.headers["Sforce-Limit-Info"] == "api-usage=1/15000"  # the whole request is one call


def test_all_or_none_rolls_back_every_subrequest(api: httpx.Client, emulator: SalesforceEmulator) -> None:
    reply = api.post("/composite", json={"allOrNone": True, "compositeRequest": [
        {"method": "POST", "url": f"{BASE}/sobjects/Account", "referenceId": "acct", "body": {"Name": "Atlas"}},
        {"method": "POST", "url": f"{BASE}/sobjects/Opportunity", "referenceId": "deal",
         "body": {"Name": "Deal", "AccountId": "@{acct.id}"}},
        {"method": "POST", "url": f"{BASE}/sobjects/Account", "referenceId": "never", "body": {"Name": "B"}},
    ]})
    responses = reply.json()["compositeResponse"]
    assert [r["body"][0]["errorCode"] for r in responses] == ["PROCESSING_HALTED", "REQUIRED_FIELD_MISSING",
                                                              "PROCESSING_HALTED"]
    assert emulator.records("Account") == []


def test_a_failed_collection_inside_composite_rolls_back_alone(api: httpx.Client,
                                                               emulator: SalesforceEmulator) -> None:
    reply = api.post("/composite", json={"compositeRequest": [
        {"method": "POST", "url": f"{BASE}/composite/sobjects", "referenceId": "batch",
         "body": {"allOrNone": True, "records": [{"attributes": {"type": "Account"}, "Name": "A"},
                                                 {"attributes": {"type": "Account"}}]}},
        {"method": "POST", "url": f"{BASE}/sobjects/Account", "referenceId": "single", "body": {"Name": "C"}},
        {"method": "GET", "url": f"{BASE}/sobjects/Account/@{{missing.id}}", "referenceId": "dangling"},
    ]})
    responses = reply.json()["compositeResponse"]
    assert [r["success"] for r in responses[0]["body"]] == [False, False]
    assert responses[1]["httpStatusCode"] == 201
    assert responses[2]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert [r["Name"] for r in emulator.records("Account")] == ["C"]


def test_more_than_25_subrequests_are_refused(api: httpx.Client) -> None:
    subs = [{"method": "GET", "url": f"{BASE}/limits", "referenceId": f"r{i}"} for i in range(26)]
    reply = api.post("/composite", json={"compositeRequest": subs})
    assert reply.status_code == 400 and reply.json()[0]["errorCode"] == "INVALID_INPUT"
