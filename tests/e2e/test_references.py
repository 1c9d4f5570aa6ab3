"""End to end: relations travel by record id, so they need no e-mail and no domain.

``syncd`` as a subprocess against the Cloze and HubSpot emulators over real HTTP. Cloze
relates records by ``direct`` id, HubSpot by association; the engine translates one side's
ids into the other's through its link table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connectors.cloze.emulator import ClozeEmulator
from connectors.hubspot.emulator import HubSpotEmulator
from tests.e2e.test_hubspot_reconcile import syncd, world  # noqa: F401 - the fixture


def _one(rows: list[dict[str, Any]], **wanted: str) -> dict[str, Any]:
    found = [r for r in rows if all((r.get("properties", r)).get(k) == v for k, v in wanted.items())]
    assert len(found) == 1, found
    return found[0]


def _linked(record: dict[str, Any], name: str) -> list[str]:
    return sorted(str(ref["direct"]) for ref in record.get(name, []) if not ref.get("archived"))


def test_a_person_without_email_and_a_company_without_domain_relate_both_ways(
    world: tuple[ClozeEmulator, HubSpotEmulator, Path],  # noqa: F811 - the fixture
) -> None:
    cloze, hubspot, config = world
    gamma = cloze.add_record("company", {"name": "Gamma Works", "phones": [{"value": "+1 555 0100"}]})
    cloze.add_record("person", {"first": "Dee", "last": "Ray", "name": "Dee Ray",
                                "phones": [{"value": "+1 555 0101"}], "companies": [{"direct": gamma}]})
    delta = hubspot.add_object("companies", {"name": "Delta Labs"})
    eve = hubspot.add_object("contacts", {"firstname": "Eve", "lastname": "Stone", "phone": "+1 555 0102"})
    hubspot.associate("contacts", eve, "companies", delta)
    deal = hubspot.add_object("deals", {"dealname": "Delta pilot", "dealstage": "qualifiedtobuy",
                                        "pipeline": "default"})
    hubspot.associate("deals", deal, "contacts", eve)
    hubspot.associate("deals", deal, "companies", delta)

    syncd("reconcile", config=config)

    hub_gamma = _one(hubspot.objects("companies"), name="Gamma Works")["id"]
    hub_dee = _one(hubspot.objects("contacts"), firstname="Dee")["id"]
    assert hubspot.associations("contacts", hub_dee, "companies") == [hub_gamma]
    cloze_delta = _one(cloze.records("company"), name="Delta Labs")["direct"]
    cloze_eve = _one(cloze.records("person"), first="Eve")
    assert _linked(cloze_eve, "companies") == [cloze_delta]
    pilot = _one(cloze.records("project"), name="Delta pilot")
    assert _linked(pilot, "clientpeople") == [cloze_eve["direct"]]
    assert _linked(pilot, "clientcompanies") == [cloze_delta]

    # Both sides agree: another run writes nothing.
    writes = (cloze.writes, hubspot.stats.writes)
    syncd("reconcile", config=config)
    assert (cloze.writes, hubspot.stats.writes) == writes

    # Dee moves to Delta in HubSpot: Cloze follows, by id.
    hubspot.associate("contacts", hub_dee, "companies", delta)
    syncd("reconcile", config=config)
    dee = _one(cloze.records("person"), first="Dee")
    assert _linked(dee, "companies") == sorted([gamma, cloze_delta])
