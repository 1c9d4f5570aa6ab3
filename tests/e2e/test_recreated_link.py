"""A record re-created after its counterpart was deleted keeps one join marker: the new one."""

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


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[ClozeEmulator, HubSpotEmulator, Path]]:
    with unpaced_sandbox(tmp_path) as (cloze, hubspot, config):
        text = set_keys(config.read_text(), "pairs.sandbox", {"delete_policy": "delete"})
        for entity in ("company", "project"):
            text = set_keys(text, f"pairs.sandbox.entities.{entity}", {"enabled": False})
        config.write_text(text)
        yield cloze, hubspot, config


def run(config: Path, mode: str) -> RunReport:
    loaded = load_config(config)
    store = StateStore.open(loaded.state_path)
    try:
        report = sync_pair(loaded, "sandbox", store=store, mode=mode)  # type: ignore[arg-type]
    finally:
        store.close()
    assert report.ok, report.error
    return report


def hubspot_links(record: dict[str, Any]) -> list[str]:
    return sorted(str(l["uniqueid"]) for l in record.get("appLinks", [])
                  if l.get("source") == "hubspot.com" and not l.get("archived"))


@pytest.mark.parametrize("mode", ["full", "incremental"])
def test_contact_archived_while_the_person_is_edited_is_recreated_and_the_old_app_link_removed(
        world: tuple[ClozeEmulator, HubSpotEmulator, Path], mode: str) -> None:
    cloze, hubspot, config = world
    ann = cloze.add_record("person", {"first": "Ann", "last": "Lee", "name": "Ann Lee",
                                      "emails": [{"value": "ann@acme.example"}]})
    cloze.add_record("person", {"first": "Bob", "last": "Ng", "name": "Bob Ng", "emails": [{"value": "bob@acme.example"}]})
    run(config, "full")
    run(config, "incremental")  # past the first run's own echoes
    [old] = [c["id"] for c in hubspot.objects("contacts") if c["properties"]["email"] == "ann@acme.example"]
    record = cloze.get_record("person", ann)
    assert record is not None and hubspot_links(record) == [old]

    hubspot.archive("contacts", old)
    httpx.post(f"{cloze.url}/v1/people/update", params={"api_key": CLOZE_KEY},
               json={"direct": ann, "last": "Lee-Smith"}).raise_for_status()
    report = run(config, mode)
    assert report.writes["external.person.create"] == 1, dict(report.writes)
    [new] = [c["id"] for c in hubspot.objects("contacts") if c["properties"]["email"] == "ann@acme.example"]
    assert new != old
    record = cloze.get_record("person", ann)
    assert record is not None
    assert hubspot_links(record) == [new], record.get("appLinks")

    # Quiet afterwards, and the state knows only the new pair.
    writes = (cloze.writes, hubspot.stats.writes)
    run(config, "full")
    assert (cloze.writes, hubspot.stats.writes) == writes
    loaded = load_config(config)
    store = StateStore.open(loaded.state_path)
    try:
        links = [(l["cloze_id"], l["external_id"]) for l in json.loads(json.dumps(store.export()))["links"]
                 if l["status"] == "active"]
    finally:
        store.close()
    assert (ann, new) in links and not [l for l in links if l[1] == old]
