"""The activity feed works whichever way Cloze answers the timeline's open questions (timeline.md §8).

Each Cloze emulator switch below is one reading of an undocumented behaviour (the default is the
documented or most cautious one; see connectors/cloze/EMULATOR_CHOICES.md). With each flipped, a
first run copies every activity once, an edit costs at most one write, and a quiet run writes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from config.loader import load_config
from connectors.cloze.emulator import ClozeEmulator
from connectors.hubspot.emulator import HubSpotEmulator
from state import activities as journal_db
from state.store import StateStore
from syncd.engine.report import RunReport
from syncd.engine.runner import sync_pair
from syncd.sandbox import tune_config
from tests.unpaced import unpaced_sandbox

HOUR = 3_600_000
World = tuple[ClozeEmulator, HubSpotEmulator, Path]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
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
    now = int(time.time() * 1000)
    ann = hubspot.add_object("contacts", {"email": "ann@acme.example", "firstname": "Ann", "lastname": "Lee"})
    ids = {
        "note": hubspot.add_object("notes", {"hs_timestamp": str(now - 2 * HOUR), "hs_note_body": "<p>Blue</p>"}),
        "task": hubspot.add_object("tasks", {"hs_timestamp": str(now + 24 * HOUR), "hs_task_subject": "Quote"}),
        "call": hubspot.add_object("calls", {"hs_timestamp": str(now - HOUR), "hs_call_title": "Intro"}),
        "meeting": hubspot.add_object("meetings", {"hs_timestamp": str(now + 48 * HOUR), "hs_meeting_title": "Demo",
                                                   "hs_meeting_start_time": str(now + 48 * HOUR)}),
    }
    for kind, engagement in ids.items():
        hubspot.associate(f"{kind}s", engagement, "contacts", ann)
    return ids


def edit_and_rerun(cloze: ClozeEmulator, hubspot: HubSpotEmulator, config: Path, ids: dict[str, str]) -> None:
    """An edit of the note and the call: the note's copy is reposted once, the call is not sent again;
    then a quiet run writes nothing."""
    hubspot.update_object("notes", ids["note"], {"hs_note_body": "<p>Green</p>"})
    hubspot.update_object("calls", ids["call"], {"hs_call_title": "Intro (edited)"})
    writes = cloze.writes
    report = run(config)
    assert report.ok, report.as_dict()
    assert cloze.writes == writes + 1, "one write for the note's edit, none for the sent call"
    writes = cloze.writes
    assert run(config).ok and cloze.writes == writes, "a quiet run writes nothing"


@pytest.mark.parametrize("flag", ["all", "none"])
def test_a_repost_replaces_whichever_styles_need_the_update_flag(world: World, flag: str) -> None:
    """§8.2: whether ``update: true`` matters for notes and to-dos as it does for events. The feed sends
    it with every keyed item, so a repost replaces the copy either way."""
    cloze, hubspot, config = world
    cloze.set_behaviour(content_update_flag=flag)
    ids = seed(hubspot)
    assert run(config, mode="full").ok
    edit_and_rerun(cloze, hubspot, config, ids)
    assert [n["body"] for n in cloze.timeline(uniqueid=f"note:{ids['note']}")] == ["<p>Green</p>"]
    assert len(cloze.timeline()) == 4


def test_a_repost_that_adds_a_copy_costs_one_write_per_real_edit(world: World) -> None:
    """§8.2, the pessimistic reading: Cloze keeps every post of a key. Nothing is posted twice for the same
    content, so the only extra copy is the one a real edit makes (the docs warn of it)."""
    cloze, hubspot, config = world
    cloze.set_behaviour(content_repost_replaces=False)
    ids = seed(hubspot)
    assert run(config, mode="full").ok
    assert len(cloze.timeline()) == 4
    edit_and_rerun(cloze, hubspot, config, ids)
    assert [n["body"] for n in cloze.timeline(uniqueid=f"note:{ids['note']}")] == ["<p>Blue</p>", "<p>Green</p>"]


def test_communications_matched_by_threadid_are_still_sent_once(world: World) -> None:
    """§8.1: if ``update: true`` matched communications by ``threadid``. The feed sends a communication
    once and never updates it, so nothing changes."""
    cloze, hubspot, config = world
    cloze.set_behaviour(communication_update_matches="threadid")
    ids = seed(hubspot)
    assert run(config, mode="full").ok
    edit_and_rerun(cloze, hubspot, config, ids)
    assert [c["subject"] for c in cloze.timeline(kind="communication")] == ["Intro"]


def test_a_future_event_cloze_refuses_waits_for_its_date_and_is_posted_once_then(world: World) -> None:
    """If Cloze refused future events as it refuses future communications (errorcode 38), the meeting waits
    for its date: no refusal is counted against it, no write is spent on it before then."""
    cloze, hubspot, config = world
    cloze.set_behaviour(event_future_allowed=False)
    ids = seed(hubspot)
    report = run(config, mode="full")
    assert report.ok, report.as_dict()
    assert cloze.timeline(uniqueid=f"meeting:{ids['meeting']}") == []
    store = StateStore.open(load_config(config).state_path)
    try:
        assert journal_db.counts(store, "sandbox")["meeting"] == {"waiting": 1}
    finally:
        store.close()
    writes = cloze.writes
    assert run(config).ok and cloze.writes == writes, "not tried again before its date"
    past = str(int(time.time() * 1000) - HOUR)  # the meeting moved to an hour ago: it has happened now
    hubspot.update_object("meetings", ids["meeting"], {"hs_timestamp": past, "hs_meeting_start_time": past})
    assert run(config).ok
    (meeting,) = cloze.timeline(uniqueid=f"meeting:{ids['meeting']}")
    assert (meeting["style"], meeting["date"]) == ("event", int(past))
    writes = cloze.writes
    assert run(config).ok and cloze.writes == writes, "posted once"


def test_an_unknown_reference_that_would_create_a_person_is_never_sent(world: World) -> None:
    """§8.5: whether Cloze makes a person of an address it does not know. Only linked records are named,
    so no stray person appears in Cloze."""
    cloze, hubspot, config = world
    cloze.set_behaviour(unknown_reference_creates_person=True)
    tune_config(config, {"pairs.sandbox.entities.person": {"create_in_cloze": False}})
    ann = cloze.add_record("person", {"first": "Ann", "last": "Lee", "emails": [{"value": "ann@acme.example"}]})
    ids = seed(hubspot)
    cy = hubspot.add_object("contacts", {"email": "cy@beta.example", "firstname": "Cy", "lastname": "Oh"})
    hubspot.associate("notes", ids["note"], "contacts", cy)
    assert run(config, mode="full").ok
    assert [p["direct"] for p in cloze.records("person")] == [ann], "Cy is not linked, so never named"
    (note,) = cloze.timeline(uniqueid=f"note:{ids['note']}")
    assert [r["value"] for r in note["references"]] == ["ann@acme.example"]


def test_timeline_writes_that_bump_the_people_are_absorbed_as_echoes(world: World) -> None:
    """§8.4: if a timeline write moved the named records' ``lastChanged``, every activity would come back
    as a person change; the record sync sees nothing changed and writes nothing to either side."""
    cloze, hubspot, config = world
    cloze.set_behaviour(timeline_bumps_last_changed=True)
    seed(hubspot)
    assert run(config, mode="full").ok
    cloze_writes, hubspot_writes = cloze.writes, hubspot.stats.writes
    second = run(config)
    assert second.ok, second.as_dict()
    assert (cloze.writes, hubspot.stats.writes) == (cloze_writes, hubspot_writes)
