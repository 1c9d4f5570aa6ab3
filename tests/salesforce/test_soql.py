"""SOQL over ``/query`` and ``/queryAll``: operators, literals, ordering, paging and the errors Salesforce sends."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from connectors.salesforce.emulator import SalesforceEmulator


def q(api: httpx.Client, soql: str, endpoint: str = "query", **headers: str) -> httpx.Response:
    return api.get(f"/{endpoint}", params={"q": soql}, headers=headers)


def names(reply: httpx.Response) -> list[str]:
    assert reply.status_code == 200, reply.text
    return [r["LastName"] for r in reply.json()["records"]]


@pytest.fixture
def people(emulator: SalesforceEmulator) -> dict[str, str]:
    account = emulator.add_record("Account", {"Name": "Ridgeline Builders", "Website": "https://ridgeline.example"})
    rows = {
        "Alvarez": {"Email": "ana@ridgeline.example", "Title": "Owner", "AccountId": account},
        "Brooks": {"Email": "ben@gmail.example", "Title": "Bookkeeper"},
        "chen": {"Email": None, "Title": "Founder", "AccountId": account},
        "Dubois": {"Email": "dee_50%@ridgeline.example", "Title": None},
    }
    out = {"account": account}
    for i, (last, fields) in enumerate(rows.items()):
        out[last] = emulator.add_record("Contact", {"LastName": last, **fields}, created=1_767_225_600 + i * 60)
    return out


def test_comparisons_in_like_and_null(api: httpx.Client, people: dict[str, str]) -> None:
    base = "SELECT LastName FROM Contact WHERE "
    assert names(q(api, base + "Email = null ORDER BY LastName")) == ["chen"]
    assert names(q(api, base + "Email != null ORDER BY LastName")) == ["Alvarez", "Brooks", "Dubois"]
    assert names(q(api, base + "LastName = 'CHEN'")) == ["chen"]  # text compares case-insensitively
    assert names(q(api, base + "Title != 'Owner' ORDER BY LastName")) == ["Brooks", "chen", "Dubois"]
    assert names(q(api, base + "LastName IN ('Brooks', 'Dubois') ORDER BY LastName")) == ["Brooks", "Dubois"]
    assert names(q(api, base + "LastName NOT IN ('Brooks') ORDER BY LastName")) == ["Alvarez", "chen", "Dubois"]
    assert names(q(api, base + "Email LIKE '%@ridgeline.example' ORDER BY LastName")) == ["Alvarez", "Dubois"]
    assert names(q(api, base + r"Email LIKE '%\_50\%%'")) == ["Dubois"]
    assert names(q(api, base + "LastName > 'b' AND LastName <= 'Chen' ORDER BY LastName")) == ["Brooks", "chen"]


def test_boolean_logic_and_parentheses(api: httpx.Client, people: dict[str, str]) -> None:
    soql = ("SELECT LastName FROM Contact WHERE (Title = 'Owner' OR Title = 'Founder') AND NOT LastName = 'chen'")
    assert names(q(api, soql)) == ["Alvarez"]
    soql = "SELECT LastName FROM Contact WHERE NOT (Title = 'Owner' OR Title = null) ORDER BY LastName DESC"
    assert names(q(api, soql)) == ["chen", "Brooks"]


def test_ids_match_in_either_form(api: httpx.Client, people: dict[str, str]) -> None:
    id18 = people["Brooks"]
    assert names(q(api, f"SELECT LastName FROM Contact WHERE Id = '{id18[:15]}'")) == ["Brooks"]
    assert names(q(api, f"SELECT LastName FROM Contact WHERE AccountId IN ('{people['account'][:15]}') "
                        "ORDER BY LastName")) == ["Alvarez", "chen"]


def test_datetime_literals_and_keyset_order(api: httpx.Client, people: dict[str, str]) -> None:
    soql = ("SELECT LastName, CreatedDate FROM Contact WHERE CreatedDate >= 2026-01-01T00:01:00Z "
            "AND CreatedDate < 2026-01-01T01:03:00.000+0100 ORDER BY CreatedDate DESC, Id")
    reply = q(api, soql)
    assert names(reply) == ["chen", "Brooks"]
    assert reply.json()["records"][0]["CreatedDate"] == "2026-01-01T00:02:00.000+0000"


def test_order_nulls_limit_offset(api: httpx.Client, people: dict[str, str]) -> None:
    assert names(q(api, "SELECT LastName FROM Contact ORDER BY Email")) [0] == "chen"  # ASC: nulls first
    assert names(q(api, "SELECT LastName FROM Contact ORDER BY Email NULLS LAST LIMIT 1")) == ["Alvarez"]
    assert names(q(api, "SELECT LastName FROM Contact ORDER BY Title DESC, LastName LIMIT 2 OFFSET 1")) == \
        ["chen", "Brooks"]


def test_parent_fields_and_aggregates(api: httpx.Client, people: dict[str, str]) -> None:
    reply = q(api, "SELECT LastName, Account.Website FROM Contact WHERE Account.Name = 'Ridgeline Builders' "
                   "ORDER BY LastName")
    records = reply.json()["records"]
    assert [r["Account"]["Website"] for r in records] == ["https://ridgeline.example"] * 2
    assert q(api, "SELECT COUNT() FROM Contact").json() == {"totalSize": 4, "done": True, "records": []}
    top = q(api, "SELECT MAX(CreatedDate) FROM Contact").json()["records"][0]
    assert top["expr0"] == "2026-01-01T00:03:00.000+0000"


@pytest.mark.parametrize(("soql", "code"), [
    ("SELECT FROM Contact", "MALFORMED_QUERY"),
    ("SELECT Id FROM Contact WHERE", "MALFORMED_QUERY"),
    ("SELECT Id FROM Contact WHERE LastName = 'open", "MALFORMED_QUERY"),
    ("SELECT Id FROM Contact GROUP BY LastName", "MALFORMED_QUERY"),
    ("SELECT Id FROM Contact WHERE Id IN (SELECT ContactId FROM OpportunityContactRole)", "MALFORMED_QUERY"),
    ("SELECT Nope__c FROM Contact", "INVALID_FIELD"),
    ("SELECT Id FROM Contact WHERE CreatedDate > '2026-01-01T00:00:00Z'", "INVALID_FIELD"),
    ("SELECT Id FROM Widget__c", "INVALID_TYPE"),
])
def test_refused_queries_answer_like_salesforce(api: httpx.Client, soql: str, code: str) -> None:
    reply = q(api, soql)
    assert reply.status_code == 400
    body: list[dict[str, Any]] = reply.json()
    assert body[0]["errorCode"] == code and "ERROR at Row:1:Column:" in body[0]["message"]


def test_query_all_returns_deleted_and_merged_rows(api: httpx.Client, emulator: SalesforceEmulator,
                                                   people: dict[str, str]) -> None:
    emulator.merge("Contact", people["Alvarez"], [people["Dubois"]])
    emulator.delete_record("Contact", people["Brooks"])
    soql = "SELECT LastName, IsDeleted, MasterRecordId FROM Contact WHERE IsDeleted = true ORDER BY LastName"
    assert q(api, soql).json()["records"] == []
    rows = q(api, soql, "queryAll").json()["records"]
    assert [(r["LastName"], r["MasterRecordId"]) for r in rows] == [("Brooks", None), ("Dubois", people["Alvarez"])]


def test_paging_with_batch_size_and_expired_locator(api: httpx.Client, emulator: SalesforceEmulator) -> None:
    for i in range(450):
        emulator.add_record("Account", {"Name": f"Account {i:03d}"})
    first = q(api, "SELECT Name FROM Account ORDER BY Name", **{"Sforce-Query-Options": "batchSize=200"}).json()
    assert (first["totalSize"], len(first["records"]), first["done"]) == (450, 200, False)
    assert first["nextRecordsUrl"].startswith("/services/data/v66.0/query/0r8") and first["nextRecordsUrl"].endswith("-200")
    seen = [r["Name"] for r in first["records"]]
    url = first["nextRecordsUrl"]
    while url:
        page = api.get(emulator.url + url).json()
        seen += [r["Name"] for r in page["records"]]
        url = page.get("nextRecordsUrl")
    assert seen == [f"Account {i:03d}" for i in range(450)]
    emulator.advance_clock(2 * 86_400 + 1)
    gone = api.get(emulator.url + first["nextRecordsUrl"])
    assert gone.status_code == 400 and gone.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_default_page_is_2000_rows(api: httpx.Client, emulator: SalesforceEmulator) -> None:
    for i in range(2_001):
        emulator.add_record("Lead", {"LastName": f"L{i}", "Company": "Acme"})
    page = q(api, "SELECT Id FROM Lead").json()
    assert len(page["records"]) == 2_000 and not page["done"]


def test_keyset_paging_over_a_shared_system_modstamp(api: httpx.Client, emulator: SalesforceEmulator) -> None:
    """The change feed's query: many rows share one whole-second stamp, so Id breaks the tie."""
    emulator.freeze_clock(1_767_225_600)
    made = [emulator.add_record("Account", {"Name": f"Shared {i}"}) for i in range(5)]
    emulator.freeze_clock(None)
    stamp, last, seen = "2026-01-01T00:00:00Z", "", []
    while True:
        soql = (f"SELECT Id, SystemModstamp FROM Account WHERE SystemModstamp > {stamp} OR "
                f"(SystemModstamp = {stamp} AND Id > '{last}') ORDER BY SystemModstamp, Id LIMIT 2")
        rows = q(api, soql, "queryAll").json()["records"]
        if not rows:
            break
        seen += [r["Id"] for r in rows]
        last = rows[-1]["Id"]
        assert rows[-1]["SystemModstamp"] == "2026-01-01T00:00:00.000+0000"
    assert seen == made
