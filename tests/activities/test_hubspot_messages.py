"""End to end: HubSpot communications (WhatsApp, LinkedIn and SMS messages logged in the CRM) are the
opt-in kind ``message``: each becomes one Cloze communication, an SMS a text and the others a direct
message, sent once and never again."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from config.loader import load_config
from connectors.cloze.emulator import ClozeEmulator
from connectors.hubspot.emulator import HubSpotEmulator
from state.store import StateStore
from syncd.engine.report import RunReport
from syncd.engine.runner import sync_pair
from syncd.sandbox import tune_config
from tests.unpaced import unpaced_sandbox

HOUR = 3_600_000


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[ClozeEmulator, HubSpotEmulator, Path]]:
    with unpaced_sandbox(tmp_path) as (cloze, hubspot, config):
        tune_config(config, {"pairs.sandbox.external": {"change_overlap_seconds": 0}})
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
    acme = hubspot.add_object("companies", {"name": "Acme", "domain": "acme.example"})
    ids = {}
    for name, channel, at in (("sms", "SMS", now - 3 * HOUR), ("whatsapp", "WHATS_APP", now - 2 * HOUR),
                              ("linkedin", "LINKEDIN_MESSAGE", now - HOUR)):
        ids[name] = hubspot.add_object("communications", {
            "hs_timestamp": str(at), "hs_communication_channel_type": channel,
            "hs_communication_logged_from": "CRM", "hs_communication_body": f"<p>Hello by {name}</p>"})
        hubspot.associate("communications", ids[name], "contacts", ann)
    hubspot.associate("communications", ids["whatsapp"], "companies", acme)
    return ids


def test_messages_are_off_by_default(world: tuple[ClozeEmulator, HubSpotEmulator, Path]) -> None:
    cloze, hubspot, config = world
    tune_config(config, {"pairs.sandbox.activities": {"enabled": True}})
    seed(hubspot)
    assert run(config, mode="full").ok
    assert cloze.timeline() == [], "texts are opt-in: Cloze logs texts of its own (RingCentral)"


def test_opted_in_messages_become_one_communication_each_and_are_never_sent_again(
        world: tuple[ClozeEmulator, HubSpotEmulator, Path]) -> None:
    cloze, hubspot, config = world
    with config.open("a") as out:
        out.write('\n[pairs.sandbox.activities]\nkinds = ["message"]\n')
    ids = seed(hubspot)
    first = run(config, mode="full")
    assert first.ok, first.as_dict()
    sent = {t["threadid"]: t for t in cloze.timeline(kind="communication")}
    assert sorted(sent) == sorted(f"hubspot.com:message:{i}" for i in ids.values())
    by_channel = {name: sent[f"hubspot.com:message:{i}"] for name, i in ids.items()}
    assert {n: (t["style"], t["subject"]) for n, t in by_channel.items()} == {
        "sms": ("text", "SMS"), "whatsapp": ("direct", "WhatsApp message"),
        "linkedin": ("direct", "LinkedIn message")}
    assert by_channel["sms"]["body"] == "<p>Hello by sms</p>"
    assert {r["value"] for r in by_channel["whatsapp"]["references"]} == {"ann@acme.example", "acme.example"}
    assert first.writes["cloze.activity.send"] == 3

    hubspot.update_object("communications", ids["sms"], {"hs_communication_body": "<p>Edited</p>"})
    writes = cloze.writes
    second = run(config)
    assert second.ok, second.as_dict()
    assert cloze.writes == writes, "a communication is written once; an edit is not sent"
    assert len(cloze.timeline()) == 3
