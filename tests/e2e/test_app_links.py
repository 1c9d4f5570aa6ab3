"""App Links written to Cloze open the HubSpot record: one URL form per entity (object type ids)."""

from __future__ import annotations

from pathlib import Path

from connectors.cloze.emulator import ClozeEmulator
from connectors.hubspot.emulator import HubSpotEmulator
from syncd.sandbox import HUBSPOT_TOKEN, write_config
from syncd.sandbox_files import CLOZE_KEY
from tests.e2e.test_hubspot_reconcile import person, syncd


def _hubspot_links(cloze: ClozeEmulator, kind: str) -> list[dict[str, str]]:
    return [link for record in cloze.records(kind) for link in record.get("appLinks", [])
            if link.get("source") == "hubspot.com" and not link.get("archived")]


def test_sandbox_app_links_use_hubspot_record_urls_per_entity(tmp_path: Path) -> None:
    with ClozeEmulator(api_key=CLOZE_KEY, user="sandbox@example.com") as cloze, \
            HubSpotEmulator(token=HUBSPOT_TOKEN) as hubspot:
        config = write_config(tmp_path, cloze.url, hubspot.url)
        hub_person = hubspot.add_object("contacts", {"email": "cy@beta.example", "firstname": "Cy", "lastname": "Oh"})
        hub_company = hubspot.add_object("companies", {"domain": "beta.example", "name": "Beta"})
        hub_deal = hubspot.add_object("deals", {"dealname": "Beta renewal", "dealstage": "qualifiedtobuy",
                                                "pipeline": "default"})
        cloze.add_record("person", person("Ann", "Lee", "ann@acme.example"))
        syncd("reconcile", config=config)
        base = f"{hubspot.url}/contacts/4242424/record"
        people = {link["uniqueid"]: link["url"] for link in _hubspot_links(cloze, "person")}
        assert people[hub_person] == f"{base}/0-1/{hub_person}"
        assert len(people) == 2 and all(url == f"{base}/0-1/{uid}" for uid, url in people.items())
        companies = {link["uniqueid"]: link["url"] for link in _hubspot_links(cloze, "company")}
        assert companies[hub_company] == f"{base}/0-2/{hub_company}"
        deals = {link["uniqueid"]: link["url"] for link in _hubspot_links(cloze, "project")}
        assert deals[hub_deal] == f"{base}/0-3/{hub_deal}"
