"""The Cloze emulator's timeline: what the three timeline writes store, how it validates them, and the
admin API that shows them (the real API cannot read the timeline back)."""

from __future__ import annotations

import time

import httpx
import pytest

from connectors.cloze.client import ClozeClient
from connectors.cloze.emulator import ClozeEmulator
from connectors.errors import RecordRejected

SOURCE = "hubspot.com"


def _admin_timeline(emulator: ClozeEmulator, **query: str) -> list[dict[str, object]]:
    reply = httpx.get(f"{emulator.url}/_emulator/timeline", params=query, timeout=5)
    assert reply.status_code == 200
    items = reply.json()["items"]
    assert isinstance(items, list)
    return items


def test_keyed_content_is_stored_once_and_replaced_by_a_repost(emulator: ClozeEmulator, client: ClozeClient) -> None:
    emulator.add_record("person", {"first": "Ann", "emails": [{"value": "ann@acme.example"}]})
    note = {"style": "note", "source": SOURCE, "uniqueid": "note:41", "subject": "Note",
            "body": "first", "references": [{"value": "ann@acme.example"}]}
    client.create_content(note)
    client.create_content({**note, "uniqueid": "note:42"})
    client.create_content({**note, "body": "edited"})
    items = _admin_timeline(emulator, source=SOURCE)
    assert sorted((t["uniqueid"], t["body"]) for t in items) == [("note:41", "edited"), ("note:42", "first")]
    assert [t["uniqueid"] for t in _admin_timeline(emulator, source=SOURCE, uniqueid="note:42")] == ["note:42"]


def test_communications_and_todos_are_not_keyed(emulator: ClozeEmulator, client: ClozeClient) -> None:
    call = {"style": "call", "date": int(time.time() * 1000) - 60_000, "subject": "Intro",
            "recipients": [{"value": "+1 650 555 1212"}]}
    client.create_communication(call)
    client.create_communication(call)
    client.create_todo({"subject": "Send the quote", "participants": ["ann@acme.example"]})
    assert len(_admin_timeline(emulator, kind="communication")) == 2, "a repeat makes a second item"
    assert [t["subject"] for t in _admin_timeline(emulator, kind="todo")] == ["Send the quote"]


def test_a_future_communication_is_refused_but_a_future_event_is_stored(
        emulator: ClozeEmulator, client: ClozeClient) -> None:
    tomorrow = int(time.time() * 1000) + 86_400_000
    with pytest.raises(RecordRejected) as refused:
        client.create_communication({"style": "meeting", "date": tomorrow, "subject": "Demo"})
    assert refused.value.code == 38
    client.create_content({"style": "event", "date": tomorrow, "source": SOURCE, "uniqueid": "meeting:7",
                           "update": True, "subject": "Demo"})
    assert [t["uniqueid"] for t in _admin_timeline(emulator, style="event")] == ["meeting:7"]


def test_a_reference_that_is_no_address_is_refused(emulator: ClozeEmulator, client: ClozeClient) -> None:
    with pytest.raises(RecordRejected) as refused:
        client.create_content({"style": "note", "source": SOURCE, "uniqueid": "note:1", "subject": "x",
                               "references": [{"value": "a1b2c3d4"}]})
    assert refused.value.code == 32
    assert _admin_timeline(emulator) == []


def test_a_preview_over_1_kb_is_refused_and_keeps_the_earlier_copy(
        emulator: ClozeEmulator, client: ClozeClient) -> None:
    """INFERRED code: the Swagger says "no longer than 1kb" but names no error; the emulator answers 26,
    Cloze's code for an invalid value, and counts bytes (UTF-8), not characters."""
    note = {"style": "note", "source": SOURCE, "uniqueid": "note:9", "subject": "x", "preview": "é" * 512}
    client.create_content(note)
    with pytest.raises(RecordRejected) as refused:
        client.create_content({**note, "preview": "é" * 512 + "a"})
    assert refused.value.code == 26
    assert [len(str(t["preview"])) for t in _admin_timeline(emulator)] == [512]
