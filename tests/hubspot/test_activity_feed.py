"""The HubSpot activity feed: engagements by ``hs_lastmodifieddate`` with keyset paging (ties walked by
id), resumable cursors, a window, associations as addresses, and the mapping of each kind."""

from __future__ import annotations

from connectors.activity import ActivityRef
from connectors.hubspot.emulator import HubSpotEmulator
from tests.hubspot.conftest import ConnectorFactory

T = 1_780_000_000_000


def ids(pages: list[list[str]]) -> list[str]:
    return [i for page in pages for i in page]


def test_ties_larger_than_a_page_are_walked_by_id_and_a_cursor_resumes(
        make_connector: ConnectorFactory, emulator: HubSpotEmulator) -> None:
    stamps = [T, T + 5, T + 5, T + 5, T + 5, T + 5, T + 9]
    made = [emulator.add_object("notes", {"hs_timestamp": str(T)}, modified_ms=m) for m in stamps]
    connector = make_connector(search_page_size=2)
    pages = list(connector.activity_pages("note", None, since=T))
    assert ids([[a.id for a in p.activities] for p in pages]) == made, "each once, in change order"
    later = emulator.add_object("notes", {"hs_timestamp": str(T)}, modified_ms=T + 20)
    again = list(connector.activity_pages("note", pages[-1].cursor))
    assert ids([[a.id for a in p.activities] for p in again]) == [later]
    mid = list(connector.activity_pages("note", pages[1].cursor))
    assert ids([[a.id for a in p.activities] for p in mid]) == made[3:] + [later], "resumes inside the tie"


def test_a_window_bounds_the_feed(make_connector: ConnectorFactory, emulator: HubSpotEmulator) -> None:
    made = [emulator.add_object("calls", {"hs_timestamp": str(T)}, modified_ms=T + i) for i in range(6)]
    connector = make_connector(search_page_size=2)
    window = list(connector.activity_pages("call", None, since=T + 1, until=T + 4))
    assert ids([[a.id for a in p.activities] for p in window]) == made[1:5]
    assert connector.activity_count("call", T + 1, T + 4) == 4


def test_kinds_map_to_activities_with_addresses(make_connector: ConnectorFactory, emulator: HubSpotEmulator) -> None:
    ann = emulator.add_object("contacts", {"email": "ann@acme.example"})
    nomail = emulator.add_object("contacts", {"firstname": "No"})
    acme = emulator.add_object("companies", {"name": "Acme", "domain": "acme.example"})
    deal = emulator.add_object("deals", {"dealname": "Pilot"})
    call = emulator.add_object("calls", {
        "hs_timestamp": str(T), "hs_call_title": "Intro", "hs_call_body": "<p>hi</p>", "hs_call_direction": "INBOUND",
        "hs_call_duration": "754000", "hs_call_disposition": "b2cf5968-551e-4856-9783-52b3da59a7d0"})
    for to_type, to_id in (("contacts", ann), ("contacts", nomail), ("companies", acme), ("deals", deal)):
        emulator.associate("calls", call, to_type, to_id)
    task = emulator.add_object("tasks", {"hs_timestamp": str(T + 1), "hs_task_subject": "Quote",
                                         "hs_task_status": "COMPLETED"})
    meeting = emulator.add_object("meetings", {"hs_timestamp": str(T), "hs_meeting_title": "Demo",
                                               "hs_meeting_start_time": str(T + 60_000),
                                               "hs_meeting_end_time": str(T + 60_000 + 1_800_000),
                                               "hs_meeting_location": "Room 1"})
    email = emulator.add_object("emails", {"hs_timestamp": str(T), "hs_email_subject": "Offer",
                                           "hs_email_text": "Dear Ann", "hs_email_direction": "INCOMING_EMAIL"})
    connector = make_connector()
    got = connector.activity_get("call", [call])[call]
    assert (got.kind, got.subject, got.body, got.body_type, got.direction, got.duration_min, got.outcome) == (
        "call", "Intro", "<p>hi</p>", "html", "inbound", 13, "leftvm")
    assert sorted(got.refs, key=lambda r: r.entity) == [
        ActivityRef("company", acme, "acme.example"), ActivityRef("person", ann, "ann@acme.example"),
        ActivityRef("person", nomail, f"hubspot.com:{nomail}"), ActivityRef("project", deal, f"hubspot.com:{deal}")]
    done = connector.activity_get("task", [task])[task]
    assert (done.subject, done.done, done.occurred_at) == ("Quote", True, T + 1)
    demo = connector.activity_get("meeting", [meeting])[meeting]
    assert (demo.occurred_at, demo.duration_min, demo.location) == (T + 60_000, 30, "Room 1")
    mail = connector.activity_get("email", [email])[email]
    assert (mail.subject, mail.body, mail.body_type, mail.direction) == ("Offer", "Dear Ann", "text", "inbound")
    assert connector.activity_get("note", ["999999"]) == {}
    assert connector.activity_kinds() == {"note", "task", "call", "meeting", "email", "message"}


def test_archived_engagements_are_listed_as_deleted(make_connector: ConnectorFactory,
                                                    emulator: HubSpotEmulator) -> None:
    keep = emulator.add_object("notes", {"hs_timestamp": str(T)})
    gone = emulator.add_object("notes", {"hs_timestamp": str(T)})
    connector = make_connector()
    first, watermark = connector.activity_deleted("note", since=T)
    assert first == []
    emulator.archive("notes", gone)
    found, newer = connector.activity_deleted("note", since=watermark)
    assert found == [gone] and newer >= watermark and keep not in found
