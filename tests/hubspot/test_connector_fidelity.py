"""The connector copes with both documented reply forms and reads the dated batch/archive body."""

from __future__ import annotations

import pytest

from connectors.hubspot.emulator import HubSpotEmulator
from connectors.hubspot.relations import archive_failures, sub_category
from tests.hubspot.conftest import ConnectorFactory


def test_unset_properties_read_the_same_in_either_form(
    emulator: HubSpotEmulator, make_connector: ConnectorFactory
) -> None:
    person = emulator.add_object("contacts", {"email": "ann@x.example", "firstname": "Ann"})
    connector = make_connector()
    seen = {}
    for form in ("null", "empty"):
        emulator.configure(unset_property_value=form)
        record = connector.get("person", [person])[person]
        assert [r for page in connector.list_all("person") for r in page] == [record]
        seen[form] = record
    assert seen["null"] == seen["empty"]
    fields = seen["empty"].fields
    assert fields["first"] == "Ann" and fields["emails"] == ["ann@x.example"]
    assert fields["last"] is None and fields["title"] is None and fields["phones"] == []  # unset, never ""


@pytest.mark.parametrize("api_version", ["2026-03", "v3"])
def test_archive_errors_are_read_from_the_reply(
    emulator: HubSpotEmulator, make_connector: ConnectorFactory, api_version: str
) -> None:
    person = emulator.add_object("contacts", {"email": "ann@x.example"})
    company = emulator.add_object("companies", {"domain": "x.example"})
    emulator.associate("contacts", person, "companies", company)
    connector = make_connector(api_version=api_version)
    client = connector.client
    inputs = [{"from": {"id": person}, "to": [{"id": company}]}, {"from": {"id": "777"}, "to": [{"id": company}]}]
    reply = client.post(client.paths.associations("contacts", "companies", "archive"), {"inputs": inputs})
    failed = archive_failures(reply.body, inputs)
    # 2026-03 names the failed input; v4 answers 204 and reports nothing
    assert failed == ({"777": [company]} if api_version == "2026-03" else {})
    assert emulator.associations("contacts", person, "companies") == []


def test_unmatched_archive_error_fails_the_whole_chunk() -> None:
    inputs = [{"from": {"id": "1"}, "to": [{"id": "9"}]}, {"from": {"id": "2"}, "to": [{"id": "8"}]}]
    body = {"status": "COMPLETE", "results": [], "errors": [{"status": "error", "message": "boom", "context": {}}]}
    assert archive_failures(body, inputs) == {"1": ["9"], "2": ["8"]}


def test_relation_removal_hubspot_refused_stays_in_the_written_record(
    emulator: HubSpotEmulator, make_connector: ConnectorFactory
) -> None:
    """The written record reports what HubSpot holds: a link whose archive failed is still there."""
    from connectors.hubspot import relations as rel

    person = emulator.add_object("contacts", {"email": "ann@x.example"})
    company = emulator.add_object("companies", {"domain": "x.example"})
    emulator.associate("contacts", person, "companies", company)
    connector = make_connector()
    real = rel.archive_failures
    refused: list[dict[str, list[str]]] = []

    def archive_then_restore(body: object, inputs: object) -> dict[str, list[str]]:
        # HubSpot refused the archive: put the link back and report it, as a 207 naming the input would
        emulator.associate("contacts", person, "companies", company)
        refused.append({person: [company]})
        return {person: [company]} | real(body, inputs)  # type: ignore[arg-type]

    rel.archive_failures = archive_then_restore  # type: ignore[assignment]
    try:
        outcome = connector.relations.write("person", {person: {"companies": []}})
    finally:
        rel.archive_failures = real
    assert refused and outcome.not_removed[person] == {"companies": [company]}
    assert emulator.associations("contacts", person, "companies") == [company]


def test_sub_category_in_either_form() -> None:
    assert sub_category({"subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND"}) == "crm.associations.NO_ASSOCIATIONS_FOUND"
    assert sub_category({"subCategory": {"code": "crm.associations.NO_ASSOCIATIONS_FOUND"}}) == (
        "crm.associations.NO_ASSOCIATIONS_FOUND")
    assert sub_category({}) == ""
