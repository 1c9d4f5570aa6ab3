"""``syncd sandbox --external salesforce``: the sandbox story with the Salesforce emulator as the external side.

The same three runs as the HubSpot sandbox: a first reconcile matching the people already on both
sides by e-mail, an incremental sync after conflicting edits, and a reconcile that writes nothing.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import httpx

from connectors.cloze.emulator import ClozeEmulator
from connectors.salesforce.emulator import SalesforceEmulator
from connectors.salesforce.seed import build_dataset, load_into
from state.store import StateStore
from syncd.sandbox_files import CLOZE_KEY, write_private

SALESFORCE_SESSION = "00D5g0000000001!sandbox-salesforce-session"
APP_ID = "sandbox.my.salesforce.com"

CONFIG = """\
# Written by `syncd sandbox --external salesforce`: a pair between the local Cloze and Salesforce emulators.
[state]
path = "{state}"

[logging]
level = "warning"

[daemon.http]
port = 0

[pairs.sandbox]
# The org's My Domain host: it names the Cloze App Links and must never change.
app_id = "{app_id}"
app_name = "Salesforce (sandbox)"
app_url = "{salesforce}/{{id}}"
delete_policy = "unlink"

[pairs.sandbox.schedule]
interval = "30s"
reconcile_cron = "0 3 * * *"

[pairs.sandbox.cloze]
base_url = "{cloze}"
rate_per_second = 200
api_key = "file:{cloze_key}"
user = "sandbox@example.com"

[pairs.sandbox.external]
connector = "salesforce"
# A fixed session for the emulator; a real org uses auth = "jwt" (see README, Salesforce).
auth = "session"
session_id = "file:{session_file}"
instance_url = "{salesforce}"
api_version = "66.0"
poll_overlap_seconds = 0

[pairs.sandbox.entities.person]
policy = "newest_wins"

[pairs.sandbox.entities.person.fields]
first = {{}}
last = {{}}
title = {{}}
emails = {{}}
phones = {{}}
addresses = {{}}
companies = {{}}

[pairs.sandbox.entities.company]
policy = "newest_wins"

[pairs.sandbox.entities.company.fields]
name = {{}}
domains = {{}}
phones = {{}}
addresses = {{}}
description = {{}}

# Tasks, calls (TaskSubtype = Call) and meetings (Events) into Cloze's timeline, one way.
[pairs.sandbox.activities]
kinds = ["task", "call", "meeting"]

[pairs.sandbox.entities.project]
policy = "cloze_wins"

[pairs.sandbox.entities.project.fields]
name = {{}}
summary = {{}}
value = {{}}
close_date = {{}}
people = {{}}
companies = {{}}
# Cloze project stages <-> the standard sales process (StageName is a restricted picklist).
stage = {{ values = {{ future = "Prospecting", current = "Qualification", {pending}won = "Closed Won", lost = "Closed Lost" }}, more_external_values = {{ "Needs Analysis" = "current", "Proposal/Price Quote" = "current"{negotiation} }} }}
"""


def write_config(directory: Path, cloze_url: str, salesforce_url: str, *, pending_stage: bool = False) -> Path:
    """Write the Salesforce sandbox pair's config and its secret files into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    write_private(directory / "cloze_api_key", CLOZE_KEY + "\n")
    write_private(directory / "salesforce_session", SALESFORCE_SESSION + "\n")
    config_path = directory / "config.toml"
    write_private(config_path, CONFIG.format(
        state=(directory / "state.db").resolve(), cloze=cloze_url, salesforce=salesforce_url, app_id=APP_ID,
        cloze_key=(directory / "cloze_api_key").resolve(), session_file=(directory / "salesforce_session").resolve(),
        pending='pending = "Negotiation/Review", ' if pending_stage else "",
        negotiation="" if pending_stage else ', "Negotiation/Review" = "current"'))
    return config_path


def seed_salesforce(salesforce: SalesforceEmulator, people: int, seed_value: int) -> dict[str, str]:
    return load_into(salesforce, build_dataset(seed_value, accounts=12, contacts=max(30, people // 3),
                                               opportunities=max(12, people // 10)))


def seed_overlap(cloze: ClozeEmulator, salesforce: SalesforceEmulator, rng: random.Random, count: int) -> int:
    """Put ``count`` Cloze people into Salesforce too (same e-mail, Salesforce's own spelling of the rest)."""
    people = [p for p in cloze.records("person") if p.get("emails") and p.get("last")][:count]
    for person in people:
        email = person["emails"][0]["value"]
        fields: dict[str, Any] = {"Email": email.upper() if rng.random() < 0.3 else email,
                                  "FirstName": person.get("first") or None, "LastName": person["last"]}
        if rng.random() < 0.5:
            fields["Title"] = rng.choice(["Broker", "Partner", "Office manager", "Agent"])
        salesforce.add_record("Contact", {k: v for k, v in fields.items() if v is not None})
    return len(people)


def conflicting_edits(cloze_url: str, salesforce: SalesforceEmulator, loaded: Any, count: int) -> list[str]:
    """Edit the first name of ``count`` linked people on both sides (a conflict each)."""
    store = StateStore.open(loaded.state_path)
    try:
        links = [link for link in store.links("sandbox", "person") if link.status == "active"][:count]
    finally:
        store.close()
    names = []
    with httpx.Client(base_url=cloze_url, params={"api_key": CLOZE_KEY, "user": "sandbox@example.com"}) as http:
        for link in links:
            http.post("/v1/people/update", json={"direct": link.cloze_id, "first": "Cloze-Edited"})
            salesforce.update_record("Contact", str(link.external_id), {"FirstName": "Salesforce-Edited"})
            names.append(str(link.cloze_id))
    return names


def counts(salesforce: SalesforceEmulator) -> str:
    return (f"{len(salesforce.records('Contact'))} contacts, {len(salesforce.records('Account'))} accounts, "
            f"{len(salesforce.records('Opportunity'))} opportunities")
