"""The HubSpot emulator's engagement objects: notes, tasks, calls, meetings and emails as CRM objects,
with associations to contacts, companies and deals, paging, and search on ``hs_lastmodifieddate``."""

from __future__ import annotations

import httpx
import pytest

from connectors.hubspot.emulator import HubSpotEmulator

CREATE_CASES = [
    ("notes", {"hs_timestamp": "2026-11-02T10:00:00Z", "hs_note_body": "<p>Met at the fair</p>"}, 202),
    ("tasks", {"hs_timestamp": "1780000000000", "hs_task_subject": "Send quote", "hs_task_status": "NOT_STARTED"}, 204),
    ("calls", {"hs_timestamp": "1780000000000", "hs_call_title": "Intro", "hs_call_direction": "OUTBOUND",
               "hs_call_duration": "120000"}, 194),
    ("meetings", {"hs_timestamp": "1780000000000", "hs_meeting_title": "Demo", "hs_meeting_outcome": "SCHEDULED"}, 200),
    ("emails", {"hs_timestamp": "1780000000000", "hs_email_subject": "Hello", "hs_email_direction": "EMAIL"}, 198),
]


@pytest.mark.parametrize(("type_", "properties", "to_contact"), CREATE_CASES)
def test_engagement_created_with_inline_association_reads_back(
        http: httpx.Client, emulator: HubSpotEmulator, type_: str, properties: dict[str, str], to_contact: int) -> None:
    contact = emulator.add_object("contacts", {"email": "ann@acme.example"})
    reply = http.post(f"/crm/v3/objects/{type_}", json={"properties": properties, "associations": [
        {"to": {"id": contact}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": to_contact}]}]})
    assert reply.status_code == 201, reply.text
    object_id = reply.json()["id"]
    got = http.get(f"/crm/v3/objects/{type_}/{object_id}",
                   params={"properties": ",".join(properties), "associations": "contacts"}).json()
    assert {k: got["properties"][k] for k in properties if k != "hs_timestamp"} == {
        k: v for k, v in properties.items() if k != "hs_timestamp"}
    assert got["properties"]["hs_lastmodifieddate"]
    assert got["associations"]["contacts"]["results"][0]["id"] == contact
    assert emulator.associations(type_, object_id, "contacts") == [contact]
    assert emulator.associations("contacts", contact, type_) == [object_id]


def test_create_without_hs_timestamp_is_refused(http: httpx.Client) -> None:
    reply = http.post("/crm/v3/objects/notes", json={"properties": {"hs_note_body": "no time"}})
    assert reply.status_code == 400
    assert "hs_timestamp" in reply.json()["message"]


def test_unknown_enumeration_value_is_refused(http: httpx.Client) -> None:
    reply = http.post("/crm/v3/objects/tasks", json={"properties": {"hs_timestamp": "1", "hs_task_status": "FINISHED"}})
    assert reply.status_code == 400


def test_labels_serve_engagement_association_type_ids(http: httpx.Client) -> None:
    body = http.get("/crm/v4/associations/notes/contacts/labels").json()
    assert [r["typeId"] for r in body["results"]] == [202]
    back = http.get("/crm/v4/associations/companies/calls/labels").json()
    assert [r["typeId"] for r in back["results"]] == [181]


def test_v4_batch_read_lists_each_notes_contacts_and_deals(http: httpx.Client, emulator: HubSpotEmulator) -> None:
    ann = emulator.add_object("contacts", {"email": "ann@acme.example"})
    bob = emulator.add_object("contacts", {"email": "bob@acme.example"})
    deal = emulator.add_object("deals", {"dealname": "Pilot"})
    note = emulator.add_object("notes", {"hs_timestamp": "1780000000000", "hs_note_body": "x"})
    lonely = emulator.add_object("notes", {"hs_timestamp": "1780000000000", "hs_note_body": "y"})
    for target in (ann, bob):
        emulator.associate("notes", note, "contacts", target)
    emulator.associate("notes", note, "deals", deal)
    reply = http.post("/crm/v4/associations/notes/contacts/batch/read", json={"inputs": [{"id": note}, {"id": lonely}]})
    results = {r["from"]["id"]: sorted(t["toObjectId"] for t in r["to"]) for r in reply.json()["results"]}
    assert results == {note: sorted(int(i) for i in (ann, bob))}
    deals = http.post("/crm/v4/associations/notes/deals/batch/read", json={"inputs": [{"id": note}]}).json()
    assert [t["toObjectId"] for t in deals["results"][0]["to"]] == [int(deal)]


def test_search_by_last_modified_pages_in_order_and_skips_archived(
        http: httpx.Client, emulator: HubSpotEmulator) -> None:
    ids = [emulator.add_object("calls", {"hs_timestamp": "1780000000000", "hs_call_title": f"c{i}"},
                               modified_ms=1_780_000_000_000 + i) for i in range(5)]
    emulator.add_object("calls", {"hs_timestamp": "1780000000000"}, archived=True, modified_ms=1_780_000_000_100)
    seen: list[str] = []
    after = None
    while True:
        body = {"filterGroups": [{"filters": [
            {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": "1780000000001"}]}],
            "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
            "properties": ["hs_call_title"], "limit": 2, **({"after": after} if after else {})}
        reply = http.post("/crm/v3/objects/calls/search", json=body).json()
        seen += [r["id"] for r in reply["results"]]
        after = ((reply.get("paging") or {}).get("next") or {}).get("after")
        if not after:
            break
    assert seen == ids[1:]


def test_list_archived_engagements(http: httpx.Client, emulator: HubSpotEmulator) -> None:
    live = emulator.add_object("notes", {"hs_timestamp": "1780000000000"})
    gone = emulator.add_object("notes", {"hs_timestamp": "1780000000000"})
    assert http.delete(f"/crm/v3/objects/notes/{gone}").status_code == 204
    archived = http.get("/crm/v3/objects/notes", params={"archived": "true"}).json()["results"]
    assert [r["id"] for r in archived] == [gone] and archived[0]["archivedAt"]
    assert [r["id"] for r in http.get("/crm/v3/objects/notes").json()["results"]] == [live]


def test_object_type_ids_route_like_names(http: httpx.Client, emulator: HubSpotEmulator) -> None:
    task = emulator.add_object("tasks", {"hs_timestamp": "1780000000000", "hs_task_subject": "Call back"})
    got = http.get(f"/crm/v3/objects/0-27/{task}", params={"properties": "hs_task_subject"}).json()
    assert got["properties"]["hs_task_subject"] == "Call back"
