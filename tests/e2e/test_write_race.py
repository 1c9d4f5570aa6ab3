"""A HubSpot edit landing between the sync's read and its write is never overwritten silently.

The emulator's ``before_request`` hook makes the edit at an exact point of the run (no
timing involved): after the sync read the contact, either before its last check read or
between that check and the write itself. Every such case ends as a recorded conflict,
settled by the field's policy.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from config.loader import load_config
from connectors.cloze.emulator import ClozeEmulator
from connectors.hubspot.emulator import HubSpotEmulator
from state.store import StateStore
from syncd.engine.report import RunReport
from syncd.engine.runner import sync_pair
from syncd.sandbox import HUBSPOT_TOKEN, set_keys
from syncd.sandbox_files import CLOZE_KEY
from tests.unpaced import unpaced_sandbox

World = tuple[ClozeEmulator, HubSpotEmulator, Path]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with unpaced_sandbox(tmp_path) as (cloze, hubspot, config):
        text = config.read_text()
        for entity in ("company", "project"):
            text = set_keys(text, f"pairs.sandbox.entities.{entity}", {"enabled": False})
        config.write_text(set_keys(text, "pairs.sandbox.external", {"change_overlap_seconds": 0}))
        yield cloze, hubspot, config


def set_policy(config: Path, policy: str) -> None:
    config.write_text(set_keys(config.read_text(), "pairs.sandbox.entities.person", {"policy": policy}))


def run(config: Path, mode: str = "incremental") -> RunReport:
    loaded = load_config(config)
    store = StateStore.open(loaded.state_path)
    try:
        report = sync_pair(loaded, "sandbox", store=store, mode=mode)  # type: ignore[arg-type]
    finally:
        store.close()
    assert report.ok, report.error
    return report


def conflicts(config: Path) -> list[Any]:
    loaded = load_config(config)
    store = StateStore.open(loaded.state_path)
    try:
        return store.conflicts("sandbox")
    finally:
        store.close()


def linked_pair(cloze: ClozeEmulator, hubspot: HubSpotEmulator, config: Path) -> tuple[str, str]:
    ann = cloze.add_record("person", {"first": "Ann", "last": "Lee", "name": "Ann Lee",
                                      "emails": [{"value": "ann@acme.example"}]})
    run(config, "full")
    run(config)  # past the first run's own echoes
    [contact] = hubspot.objects("contacts")
    return ann, str(contact["id"])


def edit_in_cloze(cloze: ClozeEmulator, direct: str, **fields: str) -> None:
    httpx.post(f"{cloze.url}/v1/people/update", params={"api_key": CLOZE_KEY},
               json={"direct": direct, **fields}).raise_for_status()


def edit_hubspot_at(hubspot: HubSpotEmulator, route: str, nth: int, contact: str, properties: dict[str, str]) -> None:
    """Edit the contact just before the ``nth`` POST to ``route`` reaches the emulator."""
    def hook(remaining: int) -> None:
        if remaining > 1:
            hubspot.before_request("POST", route, lambda: hook(remaining - 1))
        else:
            hubspot.update_object("contacts", contact, properties)
    hubspot.before_request("POST", route, lambda: hook(nth))


# The counterpart of a Cloze-only edit is read with one batch/read; the writer's check is the second.
MOMENTS = {"before_the_check": ("/contacts/batch/read", 2), "between_check_and_write": ("/contacts/batch/update", 1)}


@pytest.mark.parametrize("moment", sorted(MOMENTS))
@pytest.mark.parametrize(("policy", "hubspot_after", "cloze_after", "status"), [
    ("cloze_wins", "Lee-Cloze", "Lee-Cloze", "auto"),
    ("external_wins", "Lee-HubSpot", "Lee-HubSpot", "auto"),
    ("manual", "Lee-HubSpot", "Lee-Cloze", "open"),
])
def test_an_edit_of_the_same_field_in_the_write_window_is_a_conflict_settled_by_policy(
        world: World, moment: str, policy: str, hubspot_after: str, cloze_after: str, status: str) -> None:
    cloze, hubspot, config = world
    set_policy(config, policy)
    ann, contact = linked_pair(cloze, hubspot, config)

    edit_in_cloze(cloze, ann, last="Lee-Cloze")
    route, nth = MOMENTS[moment]
    edit_hubspot_at(hubspot, route, nth, contact, {"lastname": "Lee-HubSpot"})
    run(config)

    found = [c for c in conflicts(config) if c.field == "last"]
    assert [(json.loads(c.cloze_value), json.loads(c.external_value), c.policy, c.status) for c in found] == [
        ("Lee-Cloze", "Lee-HubSpot", policy, status)]
    after = hubspot.get_object("contacts", contact)
    assert after is not None and after["properties"]["lastname"] == hubspot_after
    record = cloze.get_record("person", ann)
    assert record is not None and record["last"] == cloze_after
    # Settled: the next run has nothing to do.
    writes = (cloze.writes, hubspot.stats.writes)
    run(config)
    assert (cloze.writes, hubspot.stats.writes) == writes


@pytest.mark.parametrize("moment", sorted(MOMENTS))
def test_an_edit_of_another_field_in_the_write_window_is_kept_beside_the_syncs_write(world: World, moment: str) -> None:
    cloze, hubspot, config = world
    ann, contact = linked_pair(cloze, hubspot, config)

    edit_in_cloze(cloze, ann, last="Lee-Cloze")
    route, nth = MOMENTS[moment]
    edit_hubspot_at(hubspot, route, nth, contact, {"firstname": "Annie"})
    run(config)

    assert conflicts(config) == []
    after = hubspot.get_object("contacts", contact)
    assert after is not None and (after["properties"]["firstname"], after["properties"]["lastname"]) == (
        "Annie", "Lee-Cloze")
    record = cloze.get_record("person", ann)
    assert record is not None and (record["first"], record["last"]) == ("Annie", "Lee-Cloze")


def test_the_emulator_returns_property_history_newest_first(world: World) -> None:
    _, hubspot, _ = world
    contact = hubspot.add_object("contacts", {"email": "h@x.example", "lastname": "One"})
    hubspot.update_object("contacts", contact, {"lastname": "Two"})
    reply = httpx.post(f"{hubspot.url}/crm/v3/objects/contacts/batch/read",
                       headers={"Authorization": f"Bearer {HUBSPOT_TOKEN}"},
                       json={"inputs": [{"id": contact}], "properties": ["lastname"],
                             "propertiesWithHistory": ["lastname"]})
    [result] = reply.json()["results"]
    history = result["propertiesWithHistory"]["lastname"]
    assert [(h["value"], h["sourceType"]) for h in history] == [("Two", "CRM_UI"), ("One", "CRM_UI")]
    assert all(h["timestamp"].endswith("Z") for h in history)
    single = httpx.get(f"{hubspot.url}/crm/v3/objects/contacts/{contact}",
                       headers={"Authorization": f"Bearer {HUBSPOT_TOKEN}"},
                       params={"propertiesWithHistory": "lastname"}).json()
    assert [h["value"] for h in single["propertiesWithHistory"]["lastname"]] == ["Two", "One"]


def test_replaced_changes_reads_property_history() -> None:
    from connectors.hubspot.writes import replaced_changes

    def entry(value: str, ms: int) -> dict[str, str]:
        from connectors.hubspot.emulator.schema import iso_from_ms
        return {"value": value, "timestamp": iso_from_ms(ms), "sourceType": "CRM_UI"}

    read_at, written_at = 1_000, 2_000
    history = {"lastname": [entry("Ours", 2_000), entry("Theirs", 1_500), entry("Read", 900)],
               "firstname": [entry("Ann", 2_000), entry("Read", 900)],
               "jobtitle": [entry("Later", 2_500), entry("CEO", 2_000), entry("Read", 900)]}
    written = {"lastname": "Ours", "firstname": "Ann", "jobtitle": "CEO"}
    stored = dict(written)  # as the write's reply shows them
    # lastname: replaced; firstname: nobody else wrote; jobtitle: someone wrote after us (not replaced).
    assert replaced_changes(history, written, stored, read_at, written_at) == {"lastname": "Theirs"}
    # The reply's clock and the history's may differ: the newest entry holding our value is ours.
    skewed = {"lastname": [entry("Ours", 2_003), entry("Theirs", 1_500)]}
    assert replaced_changes(skewed, {"lastname": "Ours"}, {"lastname": "Ours"}, read_at, written_at) == {
        "lastname": "Theirs"}
