"""Value maps write the configured external value exactly: HubSpot's dropdowns refuse any other case."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from config.loader import load_config
from connectors.cloze.emulator import ClozeEmulator
from connectors.hubspot.emulator import HubSpotEmulator
from state.store import StateStore
from syncd.engine.runner import sync_pair
from syncd.sandbox import HUBSPOT_TOKEN, set_keys
from tests.unpaced import unpaced_sandbox

PERSON_FIELDS = """
[pairs.sandbox.entities.person.fields]
first = {}
last = {}
emails = {}
segment = { values = { customer = "CONNECTED", partner = "OPEN_DEAL" } }
"""
COMPANY_FIELDS = """
[pairs.sandbox.entities.company.fields]
name = {}
domains = {}
segment = { values = { customer = "PROSPECT", partner = "PARTNER" } }
industry = { values = { Software = "COMPUTER_SOFTWARE", "Real estate" = "REAL_ESTATE" } }
"""


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[ClozeEmulator, HubSpotEmulator, Path]]:
    with unpaced_sandbox(tmp_path) as (cloze, hubspot, config):
        text = config.read_text()
        for table, block in (("person", PERSON_FIELDS), ("company", COMPANY_FIELDS)):
            start = text.index(f"[pairs.sandbox.entities.{table}.fields]")
            end = text.index("\n[", start + 1)
            text = text[:start] + block.strip() + "\n" + text[end:]
        text = set_keys(text, "pairs.sandbox.entities.project", {"enabled": False})
        config.write_text(text)
        yield cloze, hubspot, config


def run(config: Path) -> None:
    loaded = load_config(config)
    store = StateStore.open(loaded.state_path)
    try:
        report = sync_pair(loaded, "sandbox", store=store, mode="full")
    finally:
        store.close()
    assert report.ok and report.record_errors == 0, (report.error, report.record_errors)


def test_configured_upper_case_values_are_written_exactly_and_read_back_quietly(
        world: tuple[ClozeEmulator, HubSpotEmulator, Path]) -> None:
    cloze, hubspot, config = world
    cloze.add_record("person", {"first": "Ann", "last": "Lee", "name": "Ann Lee", "segment": "customer",
                                "emails": [{"value": "ann@acme.example"}]})
    cloze.add_record("company", {"name": "Acme", "domains": [{"value": "acme.example"}], "segment": "partner",
                                 "industry": "Software"})
    run(config)
    [contact] = hubspot.objects("contacts")
    assert contact["properties"]["hs_lead_status"] == "CONNECTED"
    [company] = hubspot.objects("companies")
    assert company["properties"]["type"] == "PARTNER"
    assert company["properties"]["industry"] == "COMPUTER_SOFTWARE"

    # HubSpot's value reads back as the Cloze value it maps to: nothing to write.
    writes = (cloze.writes, hubspot.stats.writes)
    run(config)
    assert (cloze.writes, hubspot.stats.writes) == writes

    # A HubSpot-side change comes to Cloze in Cloze's own vocabulary.
    hubspot.update_object("companies", company["id"], {"industry": "REAL_ESTATE", "type": "PROSPECT"})
    run(config)
    [cloze_company] = cloze.records("company")
    assert cloze_company.get("industry") == "Real estate"
    assert cloze_company.get("segment") == "customer"


def test_the_emulator_refuses_an_option_in_the_wrong_case_as_hubspot_does(
        world: tuple[ClozeEmulator, HubSpotEmulator, Path]) -> None:
    import httpx

    _, hubspot, _ = world
    reply = httpx.post(f"{hubspot.url}/crm/v3/objects/contacts/batch/create",
                       headers={"Authorization": f"Bearer {HUBSPOT_TOKEN}"},
                       json={"inputs": [{"properties": {"email": "a@b.example", "hs_lead_status": "connected"}}]})
    assert reply.status_code in (207, 400)
    text = reply.text
    assert "connected was not one of the allowed options" in text and "CONNECTED" in text
