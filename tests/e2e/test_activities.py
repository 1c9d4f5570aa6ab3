"""End to end: HubSpot engagements on linked contacts reach Cloze's timeline once each, against both
emulators over real HTTP and a real state file."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from config.loader import load_config
from connectors.activity import PutResult, TimelineItem
from connectors.cloze.connector import ClozeConnector
from connectors.cloze.emulator import ClozeEmulator
from connectors.hubspot.emulator import HubSpotEmulator
from state import activities as journal_db
from state.store import StateStore
from syncd.engine.report import RunReport
from syncd.engine.runner import sync_pair
from syncd.sandbox import HUBSPOT_TOKEN, tune_config
from tests.unpaced import unpaced_sandbox

HOUR = 3_600_000


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[ClozeEmulator, HubSpotEmulator, Path]]:
    with unpaced_sandbox(tmp_path) as (cloze, hubspot, config):
        tune_config(config, {"pairs.sandbox.external": {"change_overlap_seconds": 0}})
        with config.open("a") as out:
            out.write('\n[pairs.sandbox.activities]\nkinds = ["note", "task", "call", "meeting"]\n'
                      'call_as = "communication"\n')
        yield cloze, hubspot, config


def run(config: Path, **kw: Any) -> RunReport:
    loaded = load_config(config)
    store = StateStore.open(loaded.state_path)
    try:
        return sync_pair(loaded, "sandbox", store=store, **kw)
    finally:
        store.close()


def seed(hubspot: HubSpotEmulator) -> dict[str, str]:
    """Two contacts of one company, a deal, and one engagement of each kind on them."""
    now = int(time.time() * 1000)
    ann = hubspot.add_object("contacts", {"email": "ann@acme.example", "firstname": "Ann", "lastname": "Lee"})
    bob = hubspot.add_object("contacts", {"email": "bob@acme.example", "firstname": "Bob", "lastname": "Ng"})
    acme = hubspot.add_object("companies", {"name": "Acme", "domain": "acme.example"})
    ids = {
        "note": hubspot.add_object("notes", {"hs_timestamp": str(now - 2 * HOUR), "hs_note_body": "<p>Likes blue</p>"}),
        "task": hubspot.add_object("tasks", {"hs_timestamp": str(now + 24 * HOUR), "hs_task_subject": "Send quote",
                                             "hs_task_status": "NOT_STARTED"}),
        "call": hubspot.add_object("calls", {"hs_timestamp": str(now - HOUR), "hs_call_title": "Intro",
                                             "hs_call_direction": "OUTBOUND", "hs_call_duration": "600000"}),
        "meeting": hubspot.add_object("meetings", {"hs_timestamp": str(now + 48 * HOUR),
                                                   "hs_meeting_title": "Demo",
                                                   "hs_meeting_start_time": str(now + 48 * HOUR)}),
        "lonely": hubspot.add_object("notes", {"hs_timestamp": str(now), "hs_note_body": "about nobody"}),
    }
    for kind in ("note", "task", "call", "meeting"):
        hubspot.associate(f"{kind}s", ids[kind], "contacts", ann)
    hubspot.associate("notes", ids["note"], "companies", acme)
    hubspot.associate("calls", ids["call"], "contacts", bob)
    return ids


def timeline(cloze: ClozeEmulator) -> list[dict[str, Any]]:
    return cloze.timeline()


def people_of(cloze: ClozeEmulator, item: dict[str, Any]) -> set[str]:
    """Who a stored item names, as the Cloze person directs its references resolve to."""
    out: set[str] = set()
    for ref in item.get("references", []):
        for person in cloze.records("person"):
            if any(e["value"].lower() == ref["value"] for e in person.get("emails", [])):
                out.add(person["direct"])
    return out


def test_activities_on_linked_contacts_appear_once_each_and_a_second_run_writes_nothing(
        world: tuple[ClozeEmulator, HubSpotEmulator, Path]) -> None:
    cloze, hubspot, config = world
    ids = seed(hubspot)
    first = run(config, mode="full")
    assert first.ok, first.as_dict()
    items = timeline(cloze)
    by_key = {(t.get("style"), t.get("uniqueid") or t.get("threadid")): t for t in items}
    assert sorted(by_key) == sorted([
        ("note", f"note:{ids['note']}"), ("todo", f"task:{ids['task']}"),
        ("call", f"hubspot.com:call:{ids['call']}"), ("event", f"meeting:{ids['meeting']}")])
    assert len(items) == 4, "each once; the note about nobody is skipped"
    assert all(t.get("source") in ("hubspot.com", None) for t in items)
    ann = next(p["direct"] for p in cloze.records("person") if p["emails"][0]["value"] == "ann@acme.example")
    bob = next(p["direct"] for p in cloze.records("person") if p["emails"][0]["value"] == "bob@acme.example")
    note = by_key[("note", f"note:{ids['note']}")]
    assert people_of(cloze, note) == {ann}
    assert {r["value"] for r in note["references"]} == {"ann@acme.example", "acme.example"}, "the company too"
    assert people_of(cloze, by_key[("call", f"hubspot.com:call:{ids['call']}")]) == {ann, bob}
    task = by_key[("todo", f"task:{ids['task']}")]
    assert task["subject"] == "Send quote" and task["due"] > time.time() * 1000
    assert (first.writes["cloze.activity.send"], first.writes["cloze.activity.put"]) == (1, 3)

    writes = cloze.writes
    second = run(config)
    assert second.ok, second.as_dict()
    assert cloze.writes == writes, "a second run writes nothing"
    assert len(timeline(cloze)) == 4


def test_an_edited_note_updates_its_copy_and_a_completed_task_is_marked(
        world: tuple[ClozeEmulator, HubSpotEmulator, Path]) -> None:
    cloze, hubspot, config = world
    ids = seed(hubspot)
    assert run(config, mode="full").ok
    hubspot.update_object("notes", ids["note"], {"hs_note_body": "<p>Likes green now</p>"})
    hubspot.update_object("tasks", ids["task"], {"hs_task_status": "COMPLETED"})
    hubspot.update_object("calls", ids["call"], {"hs_call_title": "Intro (edited)"})
    report = run(config)
    assert report.ok, report.as_dict()
    notes = cloze.timeline(uniqueid=f"note:{ids['note']}")
    assert [n["body"] for n in notes] == ["<p>Likes green now</p>"], "replaced, not duplicated"
    assert [t["subject"] for t in cloze.timeline(uniqueid=f"task:{ids['task']}")] == ["✓ Send quote"]
    calls = cloze.timeline(kind="communication")
    assert [c["subject"] for c in calls] == ["Intro"], "a sent communication is never sent again"
    assert len(timeline(cloze)) == 4


def test_an_activity_waits_for_its_contact_to_link(world: tuple[ClozeEmulator, HubSpotEmulator, Path]) -> None:
    cloze, hubspot, config = world
    tune_config(config, {"pairs.sandbox.entities.person": {"create_in_cloze": False}})
    cy = hubspot.add_object("contacts", {"email": "cy@beta.example", "firstname": "Cy", "lastname": "Oh"})
    note = hubspot.add_object("notes", {"hs_timestamp": str(int(time.time() * 1000)), "hs_note_body": "hello"})
    hubspot.associate("notes", note, "contacts", cy)
    assert run(config, mode="full").ok
    assert timeline(cloze) == []
    loaded = load_config(config)
    store = StateStore.open(loaded.state_path)
    try:
        assert journal_db.counts(store, "sandbox")["note"] == {"waiting": 1}
    finally:
        store.close()
    tune_config(config, {"pairs.sandbox.entities.person": {"create_in_cloze": True}})
    assert run(config, mode="full").ok
    assert [t["uniqueid"] for t in timeline(cloze)] == [f"note:{note}"]


@pytest.mark.parametrize("crash_at", [1, 2, 3, 4])
def test_a_crash_at_any_write_then_a_clean_run_leaves_no_duplicate_and_no_repeated_communication(
        world: tuple[ClozeEmulator, HubSpotEmulator, Path], monkeypatch: pytest.MonkeyPatch, crash_at: int) -> None:
    """The process dies right after the ``crash_at``-th timeline write reached Cloze, before its record."""
    cloze, hubspot, config = world
    seed(hubspot)
    real_put = ClozeConnector.put_timeline
    done = [0]

    def put_then_die(self: ClozeConnector, item: TimelineItem) -> PutResult:
        result = real_put(self, item)
        done[0] += 1
        if done[0] == crash_at:
            raise SystemExit("killed between the write and its record")
        return result

    monkeypatch.setattr(ClozeConnector, "put_timeline", put_then_die)
    with pytest.raises(SystemExit):
        run(config, mode="full")
    monkeypatch.setattr(ClozeConnector, "put_timeline", real_put)
    lost = timeline(cloze)[-1]  # the write whose record the crash lost

    report = run(config)
    items = timeline(cloze)
    keyed = [(t["source"], t["uniqueid"]) for t in items if t.get("uniqueid")]
    assert len(keyed) == len(set(keyed)) == 3, "a keyed record written again replaces itself"
    assert len(cloze.timeline(kind="communication")) == 1, "the call is sent once, whether or not it was recorded"
    if lost.get("style") == "call":
        assert report.status == "errors" and any("may or may not have reached Cloze" in n for n in report.notes)
        loaded = load_config(config)
        store = StateStore.open(loaded.state_path)
        try:
            assert journal_db.uncertain(store, "sandbox") == [("call", lost["threadid"].rsplit(":", 1)[1])]
        finally:
            store.close()
    else:
        assert report.ok and report.status == "ok", report.as_dict()
    writes = cloze.writes
    run(config)
    assert cloze.writes == writes and len(cloze.timeline(kind="communication")) == 1, "nor on any later run"


def test_a_deleted_note_stays_by_default_and_a_tombstone_scrubs_it_when_asked(
        world: tuple[ClozeEmulator, HubSpotEmulator, Path]) -> None:
    cloze, hubspot, config = world
    ids = seed(hubspot)
    assert run(config, mode="full").ok
    hubspot.archive("notes", ids["note"])
    writes = cloze.writes
    assert run(config).ok
    assert cloze.writes == writes, "ignored by default: Cloze has no delete for timeline items"
    tune_config(config, {"pairs.sandbox.activities": {"on_delete": "tombstone"}})
    assert run(config).ok, "the first look only takes the watermark"
    hubspot.archive("tasks", ids["task"])
    report = run(config)
    assert report.ok, report.as_dict()
    (task,) = cloze.timeline(uniqueid=f"task:{ids['task']}")
    assert (task["subject"], task.get("body"), task.get("references")) == ("[deleted in HubSpot (sandbox)]", "", None)
    (note,) = cloze.timeline(uniqueid=f"note:{ids['note']}")
    assert note["body"] == "<p>Likes blue</p>", "deleted before tombstones were asked for: left alone"
    writes = cloze.writes
    assert run(config).ok and cloze.writes == writes, "tombstoned once"


def test_an_api_error_in_the_activity_pass_leaves_the_record_sync_done(
        world: tuple[ClozeEmulator, HubSpotEmulator, Path]) -> None:
    cloze, hubspot, config = world
    ids = seed(hubspot)
    hubspot.set_faults(script=[{"match": "/objects/notes/search", "kind": "error", "status": 400}])
    report = run(config, mode="full")
    assert report.status == "errors" and any("record sync unaffected" in n for n in report.notes), report.as_dict()
    assert len(cloze.records("person")) == 2, "the people were synced and recorded"
    assert cloze.timeline(uniqueid=f"note:{ids['note']}") == []
    hubspot.set_faults(script=[])
    assert run(config).ok
    assert len(cloze.timeline(uniqueid=f"note:{ids['note']}")) == 1, "the notes go on from their cursor"


def test_a_sent_communication_that_loses_and_regains_its_contacts_is_not_sent_again(
        world: tuple[ClozeEmulator, HubSpotEmulator, Path]) -> None:
    cloze, hubspot, config = world
    ids = seed(hubspot)
    assert run(config, mode="full").ok
    assert len(cloze.timeline(kind="communication")) == 1
    contacts = hubspot.associations("calls", ids["call"], "contacts")
    with httpx.Client(base_url=hubspot.url, headers={"Authorization": f"Bearer {HUBSPOT_TOKEN}"}) as http:
        for contact in contacts:
            gone = http.delete(f"/crm/v4/objects/calls/{ids['call']}/associations/contacts/{contact}")
            assert gone.status_code == 204, gone.text
    hubspot.update_object("calls", ids["call"], {"hs_call_title": "Intro, about nobody now"})
    assert run(config).ok
    for contact in contacts:
        hubspot.associate("calls", ids["call"], "contacts", contact)
    hubspot.update_object("calls", ids["call"], {"hs_call_title": "Intro, about them again"})
    run(config)
    assert [c["subject"] for c in cloze.timeline(kind="communication")] == ["Intro"]
