"""A Cloze edit landing between the sync's read of a Cloze record and its write is never overwritten silently.

Cloze has no conditional write. The connector reads the feed once just before a batch of
updates (a record changed since the sync read it is not written) and once after it, to
confirm the writes (a written field that came back with someone else's value was changed
right after the write). The emulator's ``before_request`` hook lands the edit at an exact
point of the run, with no timing involved; each case ends as a conflict settled by policy.
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
from syncd.sandbox import set_keys
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


def edit_cloze_at(cloze: ClozeEmulator, method: str, route: str, nth: int, direct: str, fields: dict[str, str]
                  ) -> list[bool]:
    """Edit the Cloze person just before the ``nth`` ``method`` request to ``route``; the list says it did."""
    fired: list[bool] = []

    def edit() -> None:
        httpx.post(f"{cloze.url}/v1/people/update", params={"api_key": CLOZE_KEY},
                   json={"direct": direct, **fields}).raise_for_status()
        fired.append(True)

    def hook(remaining: int) -> None:
        if remaining > 1:
            cloze.before_request(method, route, lambda: hook(remaining - 1))
        else:
            edit()
    cloze.before_request(method, route, lambda: hook(nth))
    return fired


# The run reads the quiet Cloze feed once, then the person by id; the writer's check is the
# next feed read, the update comes after it, and the feed read that confirms it after that.
MOMENTS = {"before_the_check": ("GET", "/people/feed", 2), "before_the_confirming_read": ("GET", "/people/feed", 3)}


@pytest.mark.parametrize("moment", sorted(MOMENTS))
@pytest.mark.parametrize(("policy", "hubspot_after", "cloze_after", "status"), [
    ("cloze_wins", "Lee-Cloze", "Lee-Cloze", "auto"),
    ("external_wins", "Lee-HubSpot", "Lee-HubSpot", "auto"),
    ("manual", "Lee-HubSpot", "Lee-Cloze", "open"),
])
def test_a_cloze_edit_of_the_same_field_in_the_write_window_is_a_conflict_settled_by_policy(
        world: World, moment: str, policy: str, hubspot_after: str, cloze_after: str, status: str) -> None:
    cloze, hubspot, config = world
    config.write_text(set_keys(config.read_text(), "pairs.sandbox.entities.person", {"policy": policy}))
    ann, contact = linked_pair(cloze, hubspot, config)

    hubspot.update_object("contacts", contact, {"lastname": "Lee-HubSpot"})
    method, route, nth = MOMENTS[moment]
    fired = edit_cloze_at(cloze, method, route, nth, ann, {"last": "Lee-Cloze"})
    run(config)

    assert fired == [True]
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


def test_a_cloze_edit_of_another_field_at_the_write_is_kept_beside_the_syncs_write(world: World) -> None:
    cloze, hubspot, config = world
    ann, contact = linked_pair(cloze, hubspot, config)

    hubspot.update_object("contacts", contact, {"lastname": "Lee-HubSpot"})
    fired = edit_cloze_at(cloze, "POST", "/people/update", 1, ann, {"first": "Annie"})
    run(config)

    assert fired == [True] and conflicts(config) == []
    after = hubspot.get_object("contacts", contact)
    assert after is not None and (after["properties"]["firstname"], after["properties"]["lastname"]) == (
        "Annie", "Lee-HubSpot")
    record = cloze.get_record("person", ann)
    assert record is not None and (record["first"], record["last"]) == ("Annie", "Lee-HubSpot")


def test_the_guard_costs_one_feed_read_per_batch_of_cloze_updates(world: World) -> None:
    cloze, hubspot, config = world
    people = [cloze.add_record("person", {"first": f"P{i}", "last": "Lee", "name": f"P{i} Lee",
                                          "emails": [{"value": f"p{i}@acme.example"}]}) for i in range(20)]
    run(config, "full")
    run(config)
    for contact in hubspot.objects("contacts"):
        hubspot.update_object("contacts", str(contact["id"]), {"lastname": "Lee-HubSpot"})
    before = {name: cloze.request_count(name) for name in ("POST /v1/people/update", "GET /v1/people/feed", "GET /v1/people/get")}
    run(config)
    calls = {name: cloze.request_count(name) - count for name, count in before.items()}
    assert all(cloze.get_record("person", p)["last"] == "Lee-HubSpot" for p in people)  # type: ignore[index]
    # One update per record. The feed: the run's read of its changes (1), one listing to read the
    # 20 counterparts (2: cheaper than 20 gets), then the check and the confirming read around
    # the batch: calls per record updated 21/20 = 1.05 without the check, 22/20 = 1.10 with it
    # (batches of 100: 1.01 -> 1.02).
    assert calls["POST /v1/people/update"] == len(people)
    assert calls["GET /v1/people/get"] == 0
    assert calls["GET /v1/people/feed"] == 5
