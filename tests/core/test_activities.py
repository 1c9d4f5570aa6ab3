"""``plan_activities`` on plain data: one decision per activity, for each kind, state and policy."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from connectors.activity import Activity, ActivityRef, uniqueid
from syncd.core.activities import (
    PREVIEW_MAX_BYTES,
    ActivityOptions,
    JournalRow,
    Linked,
    cut_preview,
    decide,
    payload_sha256,
    plain_text,
    plan_activities,
    to_item,
)

NOW = 1_780_000_000_000
OPTS = ActivityOptions(app_id="HubSpot.com", app_name="HubSpot", ref_wait_ms=3_600_000)
ANN = ActivityRef("person", "101", "ann@acme.example")
ACME = ActivityRef("company", "201", "acme.example")
LINKED: Linked = {"person": {"101"}, "company": {"201"}}


BASE = Activity(kind="note", id="41", occurred_at=NOW - 3_600_000, modified_at=NOW - 1000,
                body="<p>Met at the fair</p>", body_type="html", refs=(ANN, ACME))


def note(**kw: Any) -> Activity:
    return replace(BASE, **kw)


def sent(activity: Activity, opts: ActivityOptions = OPTS) -> JournalRow:
    first = decide(activity, None, LINKED, opts, now=NOW)
    assert first.action == "put" and first.item is not None
    return JournalRow(activity.kind, activity.id, "sent", first.item.target, first.payload_sha256, 1, NOW)


def test_a_note_on_linked_records_becomes_a_keyed_note_referencing_their_addresses() -> None:
    d = decide(note(), None, LINKED, OPTS, now=NOW)
    assert d.action == "put" and d.item is not None
    assert (d.item.target, d.item.style, d.item.source, d.item.uniqueid) == (
        "content_note", "note", "hubspot.com", "note:41")
    assert d.item.references == ("acme.example", "ann@acme.example")
    assert d.item.subject == "Note from HubSpot" and d.item.bodytype == "html"
    assert uniqueid("task", "7") == "task:7"


def test_a_repeat_with_the_same_payload_is_unchanged_and_an_edit_is_put_again_under_the_same_key() -> None:
    row = sent(note())
    assert decide(note(), row, LINKED, OPTS, now=NOW).action == "unchanged"
    edited = decide(note(body="<p>Met at the fair, twice</p>"), row, LINKED, OPTS, now=NOW)
    assert edited.action == "put" and edited.item is not None and edited.item.uniqueid == "note:41"


def test_an_edit_of_an_unlinked_association_only_changes_nothing() -> None:
    row = sent(note())
    stranger = ActivityRef("person", "999", "who@else.example")
    assert decide(note(refs=(ANN, ACME, stranger)), row, LINKED, OPTS, now=NOW).action == "unchanged"


def test_only_linked_records_are_referenced_and_an_unlinked_activity_waits_then_is_skipped() -> None:
    lone = note(refs=(ActivityRef("person", "999", "who@else.example"),))
    first = decide(lone, None, LINKED, OPTS, now=NOW)
    assert (first.action, first.reason) == ("wait", "unlinked")
    waiting = JournalRow("note", "41", "waiting", first_seen_at=NOW)
    assert decide(lone, waiting, LINKED, OPTS, now=NOW + 3_599_000).action == "wait"
    assert (decide(lone, waiting, LINKED, OPTS, now=NOW + 3_600_000).reason) == "unlinked"
    only: Linked = {"person": {"999"}}
    linked_later = decide(lone, waiting, only, OPTS, now=NOW + 60_000)
    assert linked_later.action == "put" and linked_later.item is not None
    assert linked_later.item.references == ("who@else.example",)


@pytest.mark.parametrize(("activity", "reason"), [
    (note(kind="meeting"), "kind_off"),
    (note(private=True), "private"),
    (note(refs=()), "no_refs"),
    (note(archived=True), "deleted"),
])
def test_skips(activity: Activity, reason: str) -> None:
    d = decide(activity, None, LINKED, OPTS, now=NOW)
    assert (d.action, d.reason) == ("skip", reason)


def test_a_task_becomes_a_keyed_todo_and_completion_marks_the_subject() -> None:
    task = note(kind="task", id="7", subject="Send quote", body=None, occurred_at=NOW + 86_400_000)
    open_ = decide(task, None, LINKED, OPTS, now=NOW).item
    assert open_ is not None and (open_.style, open_.subject, open_.due, open_.uniqueid) == (
        "todo", "Send quote", NOW + 86_400_000, "task:7")
    done = decide(replace(task, done=True), None, LINKED, OPTS, now=NOW).item
    assert done is not None and (done.subject, done.due) == ("✓ Send quote", None)


def test_a_call_is_a_note_with_its_facts_by_default_or_a_communication_when_asked() -> None:
    call = note(kind="call", id="9", subject="Intro", body="Spoke about pricing", body_type="text",
                direction="outbound", duration_min=12, outcome="connected")
    item = decide(call, None, LINKED, OPTS, now=NOW).item
    assert item is not None and (item.style, item.subject) == ("note", "Call: Intro")
    assert item.body == "Direction: outbound\nDuration: 12 min\nOutcome: connected\n\nSpoke about pricing"
    as_comm = replace(OPTS, targets={"call": "communication"})
    comm = decide(call, None, LINKED, as_comm, now=NOW).item
    assert comm is not None and (comm.target, comm.style, comm.source, comm.uniqueid, comm.threadid) == (
        "communication", "call", None, None, "hubspot.com:call:9")
    assert (comm.direction, comm.duration_min, comm.outcome) == ("outbound", 12, "connected")


def test_a_communication_is_sent_at_most_once() -> None:
    opts = replace(OPTS, targets={"call": "communication"})
    call = note(kind="call", id="9", subject="Intro")
    row = sent(call, opts)
    assert decide(call, row, LINKED, opts, now=NOW).action == "unchanged"
    assert decide(replace(call, subject="Intro (edited)"), row, LINKED, opts, now=NOW).reason == "edit_not_sent"
    interrupted = replace(row, state="sending")
    assert decide(call, interrupted, LINKED, opts, now=NOW).action == "uncertain"
    assert (decide(call, replace(row, state="uncertain"), LINKED, opts, now=NOW).reason) == "uncertain"
    refused = replace(row, state="failed", attempts=1)
    assert decide(call, refused, LINKED, opts, now=NOW).action == "put", "a definite refusal was not created"
    parked = replace(row, state="failed", attempts=opts.max_attempts)
    assert decide(call, parked, LINKED, opts, now=NOW).reason == "parked"


def test_a_future_meeting_is_an_event_even_when_meetings_go_as_communications() -> None:
    opts = replace(OPTS, kinds=frozenset({"meeting"}), targets={"meeting": "communication"})
    meeting = note(kind="meeting", id="5", subject="Demo", occurred_at=NOW + 86_400_000, location="Room 1")
    item = decide(meeting, None, LINKED, opts, now=NOW).item
    assert item is not None and (item.target, item.style, item.uniqueid, item.location) == (
        "content_event", "event", "meeting:5", "Room 1")
    row = JournalRow("meeting", "5", "sent", "content_event", payload_sha256(item), 1, NOW)
    later = decide(meeting, row, LINKED, opts, now=NOW + 2 * 86_400_000)
    assert later.action == "unchanged", "once written as an event it stays the event: no second copy"
    past = decide(replace(meeting, occurred_at=NOW - 1000), None, LINKED, opts, now=NOW).item
    assert past is not None and past.style == "meeting"


def test_email_bodies_are_off_by_default_and_a_preview_is_cut_at_1_kb() -> None:
    email = note(kind="email", id="3", subject="Offer", body="<p>" + "é" * 700 + "</p>")
    opts = replace(OPTS, kinds=frozenset({"email"}))
    bare = decide(email, None, LINKED, opts, now=NOW).item
    assert bare is not None and (bare.subject, bare.body, bare.preview) == ("Email: Offer", None, None)
    cut = decide(email, None, LINKED, replace(opts, email_body="preview"), now=NOW).item
    assert cut is not None and cut.body is None and cut.preview == "é" * 512
    full = decide(email, None, LINKED, replace(opts, email_body="full"), now=NOW).item
    assert full is not None and full.body == email.body


def test_cut_preview_never_splits_a_character() -> None:
    text = "a" + "€" * 400
    cut = cut_preview(text)
    assert len(cut.encode()) <= PREVIEW_MAX_BYTES and cut == "a" + "€" * 341
    assert plain_text("<p>One &amp; two</p><p>three</p>", "html") == "One & two\nthree"


def test_failed_content_is_retried_then_parked_for_the_same_payload() -> None:
    row = sent(note())
    failed = replace(row, state="failed", attempts=2)
    assert decide(note(), failed, LINKED, OPTS, now=NOW).action == "put"
    parked = replace(row, state="failed", attempts=OPTS.max_attempts)
    assert decide(note(), parked, LINKED, OPTS, now=NOW).reason == "parked"
    assert decide(note(body="edited"), parked, LINKED, OPTS, now=NOW).action == "put", "an edit tries again"


def test_deletes_are_ignored_by_default_and_tombstone_scrubs_a_keyed_copy_once() -> None:
    row = sent(note())
    assert plan_activities([], {("note", "41"): row}, LINKED, OPTS, now=NOW, deleted=[("note", "41")])[0].reason == (
        "deleted")
    tomb_opts = replace(OPTS, on_delete="tombstone")
    d = plan_activities([], {("note", "41"): row}, LINKED, tomb_opts, now=NOW, deleted=[("note", "41")])[0]
    assert d.action == "put" and d.item is not None
    assert (d.item.uniqueid, d.item.subject, d.item.body, d.item.references) == (
        "note:41", "[deleted in HubSpot]", "", ())
    done = replace(row, payload_sha256=d.payload_sha256)
    again = plan_activities([], {("note", "41"): done}, LINKED, tomb_opts, now=NOW + 5, deleted=[("note", "41")])
    assert again[0].action == "unchanged"


def test_the_payload_hash_is_stable_and_names_no_text() -> None:
    item = to_item(note(), "content_note", [ACME, ANN], OPTS)
    same = to_item(note(), "content_note", [ANN, ACME], OPTS)
    assert payload_sha256(item) == payload_sha256(same)
    assert "fair" not in payload_sha256(item) and len(payload_sha256(item)) == 64
