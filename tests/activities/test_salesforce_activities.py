"""End to end: Salesforce Tasks (tasks, calls) and Events (meetings) on linked contacts reach Cloze's
timeline once each, against the Cloze and Salesforce emulators over real HTTP and a real state file."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from config.loader import load_config
from connectors.activity import PutResult, TimelineItem
from connectors.cloze.connector import ClozeConnector
from connectors.cloze.emulator import ClozeEmulator
from connectors.salesforce.emulator import SalesforceEmulator
from state import activities as journal_db
from state.store import StateStore
from syncd.engine import activities as activity_pass
from syncd.engine.report import RunReport
from syncd.engine.runner import sync_pair
from syncd.sandbox import set_keys
from syncd.sandbox_files import CLOZE_KEY
from syncd.sandbox_salesforce import APP_ID, SALESFORCE_SESSION, write_config

HOUR = 3600
World = tuple[ClozeEmulator, SalesforceEmulator, Path]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with ClozeEmulator(api_key=CLOZE_KEY, user="sandbox@example.com") as cloze, \
            SalesforceEmulator(SALESFORCE_SESSION) as salesforce:
        config = write_config(tmp_path, cloze.url, salesforce.url)
        text = set_keys(config.read_text(), "pairs.sandbox.entities.project", {"enabled": False})
        # A long interval: the activity pass's share of it (pacing, tested in test_pacing.py) must
        # not cut a run short on a loaded machine, where these tests check what one run writes.
        text = set_keys(text, "pairs.sandbox.schedule", {"interval": "10m"})
        config.write_text(set_keys(text, "pairs.sandbox.activities", {"meeting_as": "communication"}))
        yield cloze, salesforce, config


def run(config: Path, **kw: Any) -> RunReport:
    loaded = load_config(config)
    store = StateStore.open(loaded.state_path)
    try:
        return sync_pair(loaded, "sandbox", store=store, **kw)
    finally:
        store.close()


def iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def seed(salesforce: SalesforceEmulator) -> dict[str, str]:
    """Two contacts of one account and a task, a call, a past and a future meeting on them; a task on nobody;
    and an old task Salesforce has archived (only ``queryAll`` still returns it)."""
    now = time.time()
    acme = salesforce.add_record("Account", {"Name": "Acme", "Website": "https://www.acme.example"})
    ann = salesforce.add_record("Contact", {"FirstName": "Ann", "LastName": "Lee", "Email": "ann@acme.example",
                                            "AccountId": acme})
    bob = salesforce.add_record("Contact", {"FirstName": "Bob", "LastName": "Ng", "Email": "bob@acme.example"})
    tomorrow = time.strftime("%Y-%m-%d", time.gmtime(now + 24 * HOUR))
    ids = {
        "task": salesforce.add_record("Task", {"Subject": "Send quote", "ActivityDate": tomorrow, "WhoId": ann,
                                               "WhatId": acme}),
        "call": salesforce.add_record("Task", {"Subject": "Intro", "TaskSubtype": "Call", "WhoId": ann,
                                               "CallType": "Outbound", "CallDurationInSeconds": 600,
                                               "CallDisposition": "Connected", "Status": "Completed",
                                               "Description": "Wants a demo"}),
        "met": salesforce.add_record("Event", {"Subject": "Kick-off", "WhoId": ann, "StartDateTime": iso(now - 2 * HOUR),
                                              "DurationInMinutes": 30}),
        "demo": salesforce.add_record("Event", {"Subject": "Demo", "WhoId": bob, "StartDateTime": iso(now + 48 * HOUR),
                                               "DurationInMinutes": 45, "Location": "Zoom"}),
        "lonely": salesforce.add_record("Task", {"Subject": "About nobody"}),
        "old": salesforce.add_record("Task", {"Subject": "Old follow-up", "WhoId": bob, "Status": "Completed"}),
    }
    salesforce.add_record("TaskRelation", {"TaskId": ids["call"], "RelationId": bob})  # a shared activity
    salesforce.archive_activities("Task", [ids["old"]])
    return ids


def people(cloze: ClozeEmulator, item: dict[str, Any]) -> set[str]:
    return {ref["value"] for ref in item.get("references", [])}


def test_tasks_calls_and_meetings_on_linked_contacts_appear_once_each_and_a_second_run_writes_nothing(
        world: World) -> None:
    cloze, salesforce, config = world
    ids = seed(salesforce)
    first = run(config, mode="full")
    assert first.ok, first.as_dict()
    items = cloze.timeline()
    by_key = {(t.get("style"), t.get("uniqueid") or t.get("threadid")): t for t in items}
    assert sorted(by_key) == sorted([
        ("todo", f"task:{ids['task']}"), ("todo", f"task:{ids['old']}"), ("note", f"call:{ids['call']}"),
        ("meeting", f"{APP_ID}:meeting:{ids['met']}"), ("event", f"meeting:{ids['demo']}")])
    assert len(items) == 5, "each once; the task about nobody is skipped"
    assert {t.get("source") for t in items} == {APP_ID, None}
    task = by_key[("todo", f"task:{ids['task']}")]
    assert people(cloze, task) == {"ann@acme.example", "acme.example"}, "the Who and the What's domain"
    assert task["subject"] == "Send quote" and task["due"] > time.time() * 1000
    call = by_key[("note", f"call:{ids['call']}")]
    assert people(cloze, call) == {"ann@acme.example", "bob@acme.example"}, "the TaskRelation's contact too"
    assert call["subject"] == "Call: Intro"
    assert call["body"] == "Direction: outbound\nDuration: 10 min\nOutcome: connected\n\nWants a demo"
    assert by_key[("todo", f"task:{ids['old']}")]["subject"] == "✓ Old follow-up", "archived, read by queryAll"
    met = by_key[("meeting", f"{APP_ID}:meeting:{ids['met']}")]
    assert (met["subject"], met.get("duration"), people(cloze, met)) == ("Kick-off", 30, {"ann@acme.example"})
    demo = by_key[("event", f"meeting:{ids['demo']}")]
    assert (demo["location"], people(cloze, demo)) == ("Zoom", {"bob@acme.example"}), \
        "a future meeting is an event: Cloze refuses a future communication"
    assert demo["links"] == [{"title": "Open in Salesforce (sandbox)", "value": f"https://{APP_ID}/{ids['demo']}"}]
    assert (first.writes["cloze.activity.send"], first.writes["cloze.activity.put"]) == (1, 4)
    store = StateStore.open(load_config(config).state_path, readonly=True)
    try:
        totals = {r["kind"]: (r["total"], r["finished"]) for r in activity_pass.progress(store, "sandbox")}
    finally:
        store.close()
    assert totals == {"task": (3, True), "call": (1, True), "meeting": (2, True)}, "the archived task counts"

    writes = cloze.writes
    second = run(config)
    assert second.ok, second.as_dict()
    assert cloze.writes == writes, "a second run writes nothing"


def test_an_edit_updates_the_keyed_copy_and_a_closed_task_is_marked(world: World) -> None:
    cloze, salesforce, config = world
    ids = seed(salesforce)
    assert run(config, mode="full").ok
    salesforce.update_record("Task", ids["task"], {"Status": "Completed"})
    salesforce.update_record("Task", ids["call"], {"Description": "Wants a demo next week"})
    salesforce.update_record("Event", ids["met"], {"Subject": "Kick-off (renamed)"})
    report = run(config)
    assert report.ok, report.as_dict()
    assert [t["subject"] for t in cloze.timeline(uniqueid=f"task:{ids['task']}")] == ["✓ Send quote"]
    (call,) = cloze.timeline(uniqueid=f"call:{ids['call']}")
    assert call["body"].endswith("Wants a demo next week"), "replaced, not duplicated"
    assert [c["subject"] for c in cloze.timeline(kind="communication")] == ["Kick-off"], \
        "a sent communication is never sent again"
    assert len(cloze.timeline()) == 5


def test_a_deleted_task_is_read_from_the_recycle_bin_and_tombstoned_when_asked(world: World) -> None:
    cloze, salesforce, config = world
    ids = seed(salesforce)
    config.write_text(set_keys(config.read_text(), "pairs.sandbox.activities", {"on_delete": "tombstone"}))
    assert run(config, mode="full").ok
    salesforce.delete_record("Task", ids["task"])
    report = run(config)
    assert report.ok, report.as_dict()
    (task,) = cloze.timeline(uniqueid=f"task:{ids['task']}")
    assert task["subject"] == "[deleted in Salesforce (sandbox)]" and task.get("body") == ""


@pytest.mark.parametrize("crash_at", [1, 2, 3, 4, 5])
def test_a_crash_at_any_write_then_a_clean_run_leaves_no_duplicate_and_no_repeated_communication(
        world: World, monkeypatch: pytest.MonkeyPatch, crash_at: int) -> None:
    """The process dies right after the ``crash_at``-th timeline write reached Cloze, before its record."""
    cloze, salesforce, config = world
    seed(salesforce)
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
    lost = cloze.timeline()[-1]  # the write whose record the crash lost

    report = run(config)
    keyed = [(t["source"], t["uniqueid"]) for t in cloze.timeline() if t.get("uniqueid")]
    assert len(keyed) == len(set(keyed)) == 4, "a keyed record written again replaces itself"
    assert len(cloze.timeline(kind="communication")) == 1, "the meeting is sent once, recorded or not"
    if lost.get("style") == "meeting":
        assert report.status == "errors" and any("may or may not have reached Cloze" in n for n in report.notes)
        store = StateStore.open(load_config(config).state_path)
        try:
            assert journal_db.uncertain(store, "sandbox") == [("meeting", lost["threadid"].rsplit(":", 1)[1])]
        finally:
            store.close()
    else:
        assert report.ok and report.status == "ok", report.as_dict()
    writes = cloze.writes
    run(config)
    assert cloze.writes == writes and len(cloze.timeline(kind="communication")) == 1, "nor on any later run"


def test_an_edit_in_the_second_the_activity_was_read_is_read_next_run(world: World) -> None:
    """Salesforce stamps whole seconds: an activity changed again within the second of its last read keeps
    its ``(SystemModstamp, Id)``, so the next run must read that second again, overlap setting or not
    (the sandbox ships ``poll_overlap_seconds = 0``). The org's clock runs a few seconds ahead here, so
    the seeded rows, the first read and the edit all fall in one stamped second."""
    cloze, salesforce, config = world
    salesforce.freeze_clock(int(time.time()) + 5)
    ids = seed(salesforce)
    assert run(config, mode="full").ok
    salesforce.update_record("Task", ids["task"], {"Status": "Completed"})
    report = run(config)
    assert report.ok, report.as_dict()
    assert [t["subject"] for t in cloze.timeline(uniqueid=f"task:{ids['task']}")] == ["✓ Send quote"]


def test_a_delete_in_the_second_of_the_last_seen_delete_is_tombstoned(world: World) -> None:
    """The deletions' watermark is a whole second too: a task deleted within the second of the newest
    deletion already seen is still read."""
    cloze, salesforce, config = world
    config.write_text(set_keys(config.read_text(), "pairs.sandbox.activities", {"on_delete": "tombstone"}))
    salesforce.freeze_clock(int(time.time()) + 5)
    ids = seed(salesforce)
    assert run(config, mode="full").ok
    salesforce.delete_record("Task", ids["lonely"])
    assert run(config).ok  # sees that task's deletion: the tasks' watermark is now the frozen second
    salesforce.delete_record("Task", ids["task"])
    report = run(config)
    assert report.ok, report.as_dict()
    (task,) = cloze.timeline(uniqueid=f"task:{ids['task']}")
    assert task["subject"] == "[deleted in Salesforce (sandbox)]"
