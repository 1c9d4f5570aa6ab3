"""End to end: the guard against twins follows the target side's declared merge behaviour."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.cloze.emulator import ClozeEmulator
from connectors.hubspot.emulator import HubSpotEmulator
from syncd.sandbox import HUBSPOT_TOKEN, write_config
from syncd.sandbox_files import CLOZE_KEY
from tests.e2e.test_hubspot_reconcile import person, syncd


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[ClozeEmulator, HubSpotEmulator, Path]]:
    with ClozeEmulator(api_key=CLOZE_KEY, user="sandbox@example.com") as cloze, HubSpotEmulator(token=HUBSPOT_TOKEN) as hubspot:
        yield cloze, hubspot, write_config(tmp_path, cloze.url, hubspot.url)


def test_two_cloze_people_sharing_an_office_phone_are_both_created_in_hubspot(
    world: tuple[ClozeEmulator, HubSpotEmulator, Path],
) -> None:
    """HubSpot does not merge contacts by phone, so Cloze twins are two contacts there."""
    cloze, hubspot, config = world
    cloze.add_record("person", person("Ann", "Lee", "ann@acme.example", phones=[{"value": "+1 555 0100"}]))
    cloze.add_record("person", person("Bob", "Ng", "bob@acme.example", phones=[{"value": "+1 555 0100"}]))
    syncd("reconcile", config=config)
    contacts = sorted(o["properties"]["email"] for o in hubspot.objects("contacts"))
    assert contacts == ["ann@acme.example", "bob@acme.example"]
    export = json.loads(syncd("state", "export", config=config).stdout)
    assert len([l for l in export["links"] if l["status"] == "active"]) == 2
    assert [e for e in export["record_errors"] if not e["resolved"]] == []
    writes = (cloze.writes, hubspot.stats.writes)
    syncd("reconcile", config=config)
    assert (cloze.writes, hubspot.stats.writes) == writes
