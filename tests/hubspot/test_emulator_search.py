"""The emulator's search API: every operator, both sort forms, paging by after, and the result cap."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from connectors.hubspot.emulator import HubSpotEmulator

SEARCH = "/crm/v3/objects/contacts/search"


@pytest.fixture
def people(emulator: HubSpotEmulator) -> dict[str, str]:
    rows = {
        "ann": {"email": "ann@acme.com", "firstname": "Ann", "lifecyclestage": "lead", "hs_additional_emails": "a@x.io"},
        "bob": {"email": "bob@acme.com", "firstname": "Bob", "lifecyclestage": "customer", "jobtitle": "CEO"},
        "cyd": {"email": "cyd@other.org", "firstname": "Cyd", "lifecyclestage": "customer"},
        "dee": {"firstname": "Dee"},
    }
    ids = {}
    for offset, (key, props) in enumerate(rows.items()):
        ids[key] = emulator.add_object("contacts", props, created_ms=1_000 * (offset + 1),
                                       modified_ms=10_000 * (offset + 1))
    return ids


def _ids(http: httpx.Client, body: dict[str, Any]) -> list[str]:
    reply = http.post(SEARCH, json=body)
    assert reply.status_code == 200, reply.text
    return [r["id"] for r in reply.json()["results"]]


def _one(prop: str, op: str, **extra: Any) -> dict[str, Any]:
    return {"filterGroups": [{"filters": [{"propertyName": prop, "operator": op, **extra}]}], "limit": 100}


def test_operators(http: httpx.Client, people: dict[str, str]) -> None:
    a, b, c, d = people["ann"], people["bob"], people["cyd"], people["dee"]
    assert _ids(http, _one("email", "EQ", value="ANN@acme.com")) == [a]  # strings ignore case
    assert _ids(http, _one("firstname", "NEQ", value="ann")) == [b, c, d]
    assert _ids(http, _one("lastmodifieddate", "LT", value="20000")) == [a]
    assert _ids(http, _one("lastmodifieddate", "LTE", value="20000")) == [a, b]
    assert _ids(http, _one("lastmodifieddate", "GT", value="30000")) == [d]
    assert _ids(http, _one("lastmodifieddate", "GTE", value="1970-01-01T00:00:30.000Z")) == [c, d]
    assert _ids(http, _one("lastmodifieddate", "BETWEEN", value="20000", highValue="30000")) == [b, c]
    assert _ids(http, _one("hs_object_id", "GT", value=b)) == [c, d]
    assert _ids(http, _one("lifecyclestage", "IN", values=["customer"])) == [b, c]
    assert _ids(http, _one("firstname", "IN", values=["ann", "Bob"])) == [a]  # IN wants lower case values
    assert _ids(http, _one("lifecyclestage", "NOT_IN", values=["customer"])) == [a, d]
    assert _ids(http, _one("jobtitle", "HAS_PROPERTY")) == [b]
    assert _ids(http, _one("email", "NOT_HAS_PROPERTY")) == [d]
    assert _ids(http, _one("email", "CONTAINS_TOKEN", value="*@acme.com")) == [a, b]
    assert _ids(http, _one("hs_additional_emails", "CONTAINS_TOKEN", value="a@x.io")) == [a]
    assert _ids(http, _one("email", "NOT_CONTAINS_TOKEN", value="*@acme.com")) == [c, d]
    assert _ids(http, _one("lifecyclestage", "EQ", value="CUSTOMER")) == []  # enumerations are case-sensitive


def test_groups_are_or_and_filters_are_and(http: httpx.Client, people: dict[str, str]) -> None:
    body = {"filterGroups": [
        {"filters": [{"propertyName": "lifecyclestage", "operator": "EQ", "value": "customer"},
                     {"propertyName": "jobtitle", "operator": "EQ", "value": "ceo"}]},
        {"filters": [{"propertyName": "firstname", "operator": "EQ", "value": "dee"}]}]}
    assert _ids(http, body) == [people["bob"], people["dee"]]
    assert _ids(http, {"query": "acme"}) == [people["ann"], people["bob"]]


def test_sorts_object_and_string_forms(http: httpx.Client, people: dict[str, str]) -> None:
    newest_first = [people[k] for k in ("dee", "cyd", "bob", "ann")]
    by_object = {"sorts": [{"propertyName": "lastmodifieddate", "direction": "DESCENDING"}]}
    assert _ids(http, by_object) == newest_first
    assert _ids(http, {"sorts": ["-lastmodifieddate"]}) == newest_first
    assert _ids(http, {"sorts": ["lastmodifieddate"]}) == newest_first[::-1]


def test_only_the_first_sort_rule_applies(emulator: HubSpotEmulator, http: httpx.Client) -> None:
    ids = [emulator.add_object("companies", {"name": f"c{i}"}, modified_ms=5_000) for i in range(12)]
    body = {"sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"},
                      {"propertyName": "hs_object_id", "direction": "ASCENDING"}], "limit": 100}
    got = [r["id"] for r in http.post("/crm/v3/objects/companies/search", json=body).json()["results"]]
    assert sorted(got) == sorted(ids) and got != sorted(ids, key=int)  # ties come in HubSpot's own order


def test_paging_and_the_result_cap(emulator: HubSpotEmulator, http: httpx.Client) -> None:
    emulator.configure(search_result_cap=25)
    for i in range(40):
        emulator.add_object("deals", {"dealname": f"d{i}"})
    seen: list[str] = []
    body: dict[str, Any] = {"limit": 10}
    while True:
        reply = http.post("/crm/objects/2026-03/deals/search", json=body)
        if reply.status_code == 400:
            break
        data = reply.json()
        assert data["total"] == 40
        seen += [r["id"] for r in data["results"]]
        body["after"] = data["paging"]["next"]["after"]
    assert len(seen) == 25 and body["after"] == "25"  # HubSpot offers the next page, then refuses it
    assert "limit" in reply.json()["message"] and reply.json()["category"] == "VALIDATION_ERROR"


def test_search_validation(http: httpx.Client, people: dict[str, str]) -> None:
    assert http.post(SEARCH, json={"limit": 201}).status_code == 400
    assert http.post(SEARCH, json=_one("nosuch", "EQ", value="1")).status_code == 400
    assert http.post(SEARCH, json=_one("email", "LIKE", value="1")).status_code == 400
    too_many = {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}]}] * 6}
    assert http.post(SEARCH, json=too_many).status_code == 400
    assert http.post(SEARCH, json={"query": "x" * 3100}).status_code == 400
    archived = people["ann"]
    http.delete(f"/crm/v3/objects/contacts/{archived}")
    assert archived not in _ids(http, {"limit": 100})  # archived records are never searchable
