"""An activity's CRM owner becomes Cloze's ``from`` (its author) when the owner is one of the Cloze users:
the API user, or one listed in ``owner_users``. Any other owner is left out, and ``owner_as = "none"``
leaves every owner out."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from config.loader import load_config
from connectors.cloze.emulator import ClozeEmulator
from connectors.hubspot.emulator import HubSpotEmulator
from connectors.salesforce.emulator import SalesforceEmulator
from state.store import StateStore
from syncd import sandbox, sandbox_salesforce
from syncd.engine.report import RunReport
from syncd.engine.runner import sync_pair
from syncd.sandbox import set_keys
from syncd.sandbox_files import CLOZE_KEY

HOUR = 3_600_000
HUBSPOT_OWNER = ("75123456", "owner@example.com")  # the HubSpot emulator's one owner


def run(config: Path) -> RunReport:
    loaded = load_config(config)
    store = StateStore.open(loaded.state_path)
    try:
        return sync_pair(loaded, "sandbox", store=store, mode="full")
    finally:
        store.close()


def froms(cloze: ClozeEmulator) -> dict[str, Any]:
    return {t.get("uniqueid") or t["threadid"]: t.get("from") for t in cloze.timeline()}


@pytest.fixture
def salesforce_world(tmp_path: Path) -> Iterator[tuple[ClozeEmulator, SalesforceEmulator, Path]]:
    with ClozeEmulator(api_key=CLOZE_KEY, user="sandbox@example.com") as cloze, \
            SalesforceEmulator(sandbox_salesforce.SALESFORCE_SESSION) as salesforce:
        config = sandbox_salesforce.write_config(tmp_path, cloze.url, salesforce.url)
        config.write_text(set_keys(config.read_text(), "pairs.sandbox.entities.project", {"enabled": False}))
        yield cloze, salesforce, config


@pytest.mark.parametrize("owner_as", ["from", "none"])
def test_a_salesforce_owner_who_is_the_cloze_user_is_the_author(
        salesforce_world: tuple[ClozeEmulator, SalesforceEmulator, Path], owner_as: str) -> None:
    cloze, salesforce, config = salesforce_world
    config.write_text(set_keys(config.read_text(), "pairs.sandbox.activities", {"owner_as": owner_as}))
    me = salesforce.add_user("Sandbox@example.com", "Sam", "Box")  # the pair's Cloze user, in Salesforce
    stranger = salesforce.add_user("stranger@example.com", "Stan", "Ger")
    ann = salesforce.add_record("Contact", {"LastName": "Lee", "Email": "ann@acme.example"})
    mine = salesforce.add_record("Task", {"Subject": "Mine", "WhoId": ann, "OwnerId": me})
    theirs = salesforce.add_record("Task", {"Subject": "Theirs", "WhoId": ann, "OwnerId": stranger})
    default = salesforce.add_record("Task", {"Subject": "The integration user's", "WhoId": ann})
    assert run(config).ok
    expected = "sandbox@example.com" if owner_as == "from" else None
    assert froms(cloze) == {f"task:{mine}": expected, f"task:{theirs}": None, f"task:{default}": None}


def test_a_hubspot_owner_listed_among_the_cloze_users_is_the_author(tmp_path: Path) -> None:
    with ClozeEmulator(api_key=CLOZE_KEY, user="sandbox@example.com") as cloze, \
            HubSpotEmulator(token=sandbox.HUBSPOT_TOKEN, rate_limit_per_10s=None,
                            search_rate_per_second=None) as hubspot:
        config = sandbox.write_config(tmp_path, cloze.url, hubspot.url)
        sandbox.tune_config(config, {"pairs.sandbox.external": {"change_overlap_seconds": 0}})
        now = int(time.time() * 1000)
        ann = hubspot.add_object("contacts", {"email": "ann@acme.example", "firstname": "Ann", "lastname": "Lee"})
        owned = hubspot.add_object("notes", {"hs_timestamp": str(now - HOUR), "hs_note_body": "owned",
                                             "hubspot_owner_id": HUBSPOT_OWNER[0]})
        call = hubspot.add_object("calls", {"hs_timestamp": str(now - HOUR), "hs_call_title": "in",
                                            "hs_call_direction": "INBOUND", "hubspot_owner_id": HUBSPOT_OWNER[0]})
        nobody = hubspot.add_object("notes", {"hs_timestamp": str(now - HOUR), "hs_note_body": "no owner"})
        for type_, engagement in (("notes", owned), ("calls", call), ("notes", nobody)):
            hubspot.associate(type_, engagement, "contacts", ann)
        with config.open("a") as out:
            out.write(f'\n[pairs.sandbox.activities]\ncall_as = "communication"\n'
                      f'owner_users = ["{HUBSPOT_OWNER[1].upper()}"]\n')
        assert run(config).ok
        assert froms(cloze) == {f"note:{owned}": HUBSPOT_OWNER[1], f"note:{nobody}": None,
                                f"hubspot.com:call:{call}": None}, "an inbound call was begun by the contact"
