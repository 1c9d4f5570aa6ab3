"""An association HubSpot refuses is a record error on the link, never booked as agreed; later runs retry it.

The company is deleted in HubSpot at the exact moment the sync asks HubSpot to associate a
contact with it (the emulator's ``before_request`` hook): HubSpot answers the batch with a
207 whose error names the pair it refused.
"""

from __future__ import annotations

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
ASSOCIATE = "/contacts/companies/batch/associate/default"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with unpaced_sandbox(tmp_path) as (cloze, hubspot, config):
        text = set_keys(config.read_text(), "pairs.sandbox.entities.project", {"enabled": False})
        config.write_text(set_keys(text, "pairs.sandbox.external", {"change_overlap_seconds": 0}))
        yield cloze, hubspot, config


def run(config: Path, mode: str = "incremental") -> RunReport:
    loaded = load_config(config)
    store = StateStore.open(loaded.state_path)
    try:
        return sync_pair(loaded, "sandbox", store=store, mode=mode)  # type: ignore[arg-type]
    finally:
        store.close()


def open_errors(config: Path) -> list[Any]:
    store = StateStore.open(load_config(config).state_path)
    try:
        return store.open_errors("sandbox")
    finally:
        store.close()


def one(rows: list[dict[str, Any]], **wanted: str) -> str:
    [found] = [r for r in rows if all(r["properties"].get(k) == v for k, v in wanted.items())]
    return str(found["id"])


def test_a_refused_association_is_a_record_error_and_is_retried_until_hubspot_takes_it(world: World) -> None:
    cloze, hubspot, config = world
    acme = cloze.add_record("company", {"name": "Acme", "domains": ["acme.example"]})
    ann = cloze.add_record("person", {"first": "Ann", "last": "Lee", "name": "Ann Lee",
                                      "emails": [{"value": "ann@acme.example"}]})
    assert run(config, "full").ok
    assert run(config).ok
    contact = one(hubspot.objects("contacts"), email="ann@acme.example")
    company = one(hubspot.objects("companies"), name="Acme")
    assert hubspot.associations("contacts", contact, "companies") == []

    # Ann joins Acme in Cloze; Acme is deleted in HubSpot just as the sync associates them.
    httpx.post(f"{cloze.url}/v1/people/update", params={"api_key": CLOZE_KEY},
               json={"direct": ann, "companies": [{"direct": acme}]}).raise_for_status()
    hubspot.before_request("POST", ASSOCIATE, lambda: hubspot.archive("companies", company))
    report = run(config)

    assert report.record_errors == 1
    [error] = open_errors(config)
    assert (error.pair, error.entity, error.side, error.record_id, error.field, error.code) == (
        "sandbox", "person", "external", ann, "companies", "refused_field")
    assert f"contacts {contact}" in error.message and f"companies {company}" in error.message
    assert "OBJECT_NOT_FOUND" in error.message and "does not exist" in error.message

    # Acme comes back from HubSpot's recycling bin: the next run writes the association again.
    hubspot.restore("companies", company)
    assert run(config).ok
    assert hubspot.associations("contacts", contact, "companies") == [company]
    assert open_errors(config) == []
    # Agreed now: another run writes nothing.
    writes = (cloze.writes, hubspot.stats.writes)
    assert run(config).ok
    assert (cloze.writes, hubspot.stats.writes) == writes


def test_a_refused_association_on_create_is_a_record_error_and_the_link_writes_it_later(world: World) -> None:
    cloze, hubspot, config = world
    acme = cloze.add_record("company", {"name": "Acme", "domains": ["acme.example"]})
    assert run(config, "full").ok
    company = one(hubspot.objects("companies"), name="Acme")
    ann = cloze.add_record("person", {"first": "Ann", "last": "Lee", "name": "Ann Lee",
                                      "emails": [{"value": "ann@acme.example"}], "companies": [{"direct": acme}]})
    hubspot.before_request("POST", ASSOCIATE, lambda: hubspot.archive("companies", company))
    run(config)

    [error] = open_errors(config)
    assert (error.entity, error.side, error.record_id, error.field, error.op, error.code) == (
        "person", "external", ann, "companies", "create", "refused_field")
    contact = one(hubspot.objects("contacts"), email="ann@acme.example")
    assert hubspot.associations("contacts", contact, "companies") == []

    hubspot.restore("companies", company)
    assert run(config).ok
    assert hubspot.associations("contacts", contact, "companies") == [company]
    assert open_errors(config) == []


def test_association_refusals_name_the_refused_pairs_and_an_unnamed_error_refuses_its_chunk() -> None:
    from connectors.hubspot.relations import association_refusals

    inputs = [{"from": {"id": "1"}, "to": {"id": "7"}}, {"from": {"id": "2"}, "to": {"id": "8"}}]
    named = {"errors": [{"category": "OBJECT_NOT_FOUND", "message": "One of the records 2 or 8 does not exist.",
                         "context": {"fromObjectId": ["2"], "toObjectId": ["8"]}}]}
    assert association_refusals(named, inputs) == {
        ("2", "8"): "HubSpot OBJECT_NOT_FOUND: One of the records 2 or 8 does not exist."}
    unnamed = {"errors": [{"category": "VALIDATION_ERROR", "message": "Invalid association"}]}
    assert set(association_refusals(unnamed, inputs)) == {("1", "7"), ("2", "8")}
    assert association_refusals({"results": [], "status": "COMPLETE"}, inputs) == {}
    assert association_refusals(None, inputs) == {}
