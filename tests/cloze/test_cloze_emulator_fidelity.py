"""The emulator answers as the Swagger file describes: value types, validation order, timeline arrays."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from connectors.base import ConnectorContext
from connectors.cloze import ClozeConnector, ClozeSettings
from connectors.cloze.emulator import ClozeEmulator
from connectors.model import AppLink, CreateRequest, SetPatch, UpdateRequest
from tests.cloze.conftest import API_KEY, USER


def post(emulator: ClozeEmulator, path: str, body: Any) -> httpx.Response:
    with httpx.Client(base_url=emulator.url, timeout=5) as http:
        return http.post(path, params={"api_key": API_KEY}, json=body)


def custom_fields(emulator: ClozeEmulator) -> dict[str, Any]:
    (person,) = emulator.records("person")
    return {f["id"]: f["value"] for f in person["customFields"]}


def test_multi_valued_custom_field_stays_a_scalar_after_a_second_write(emulator: ClozeEmulator) -> None:
    email = {"value": "ann@x.example"}
    field = {"id": "lead-source", "type": "keywords"}
    assert post(emulator, "/v1/people/create", {"emails": [email], "customFields": [{**field, "value": "web"}]}).json() == {"errorcode": 0}
    post(emulator, "/v1/people/update", {"emails": [email], "customFields": [{**field, "value": "event, web"}]})
    assert custom_fields(emulator) == {"lead-source": "web, event"}  # merged, still one string
    post(emulator, "/v1/people/update", {"emails": [email], "customFields": [{**field, "value": "referral", "replace": True}]})
    assert custom_fields(emulator) == {"lead-source": "referral"}


def test_custom_field_value_that_is_not_a_scalar_is_refused(emulator: ClozeEmulator) -> None:
    reply = post(
        emulator,
        "/v1/people/create",
        {"emails": [{"value": "ann@x.example"}], "customFields": [{"id": "lead-source", "type": "keywords", "value": ["a", "b"]}]},
    )
    assert reply.status_code == 200 and reply.json()["errorcode"] == 26
    assert emulator.records("person") == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"emails": [{"value": "not-an-address"}], "first": "Ann"}, "email"),
        ({"emails": [{"value": "ann@x.example"}], "first": 42}, "first"),
        ({"emails": [{"value": "ann@x.example"}], "headline": 7}, "headline"),
        ({"emails": [{"value": "ann@x.example", "work": "yes"}]}, "work"),
        ({"emails": [{"value": "ann@x.example"}], "private": "true"}, "private"),
        ({"emails": [{"value": "ann@x.example"}], "phones": [{"value": 5550100}]}, "phone"),
        ({"emails": [{"value": "ann@x.example"}], "keywords": [1, 2]}, "keywords"),
        (
            {"emails": [{"value": "ann@x.example"}], "customFields": [{"id": "birthday-card", "type": "number", "value": "many"}]},
            "birthday-card",
        ),
    ],
)
def test_values_of_the_wrong_type_are_refused_with_the_error_envelope(
    emulator: ClozeEmulator, body: dict[str, Any], field: str
) -> None:
    reply = post(emulator, "/v1/people/create", body).json()
    assert reply["errorcode"] == 26 and field in reply["message"]
    assert emulator.records("person") == []


def test_value_validation_store_keeps_the_old_schemaless_reaction(emulator: ClozeEmulator) -> None:
    emulator.set_behaviour(value_validation="store")
    reply = post(emulator, "/v1/people/create", {"emails": [{"value": "ann@x.example", "work": "yes"}], "headline": 7})
    assert reply.json() == {"errorcode": 0}
    assert emulator.records("person")[0]["headline"] == 7


def test_missing_identifiers_are_reported_before_an_unknown_segment(emulator: ClozeEmulator) -> None:
    reply = post(emulator, "/v1/people/create", {"first": "Ann", "segment": "no-such-segment"}).json()
    assert reply["errorcode"] == 11 and reply["message"] == "No identifiers available"
    reply = post(emulator, "/v1/projects/create", {"name": "Deal", "segment": "no-such-segment"}).json()
    assert reply["errorcode"] == 11
    # with identifiers, the unknown segment is the error
    reply = post(emulator, "/v1/people/create", {"emails": [{"value": "ann@x.example"}], "segment": "no-such-segment"}).json()
    assert reply["errorcode"] == 26


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/timeline/todo/create", {"subject": "Call back", "participants": 5550100}),
        ("/v1/timeline/todo/create", {"subject": "Call back", "participants": "ann@x.example"}),
        ("/v1/timeline/communication/create", {"style": "email", "subject": "Hi", "recipients": 3}),
        ("/v1/timeline/communication/create", {"style": "email", "subject": "Hi", "recipients": {"value": "ann@x.example"}}),
        ("/v1/timeline/communication/create", {"style": "email", "subject": "Hi", "references": 3}),
    ],
)
def test_timeline_arrays_that_are_not_arrays_get_an_error_reply(
    emulator: ClozeEmulator, path: str, body: dict[str, Any]
) -> None:
    reply = post(emulator, path, body)
    assert reply.status_code == 200 and reply.json()["errorcode"] == 26
    assert emulator.store.timeline == []


def test_connector_round_trips_a_multi_valued_custom_field_as_one_string(emulator: ClozeEmulator) -> None:
    """The connector writes a set-valued custom field as the schema's scalar and reads it back as a set."""
    settings = ClozeSettings(base_url=emulator.url, api_key=API_KEY, user=USER, rate_per_second=1000)
    context = ConnectorContext(pair="main", side="cloze", app_id="crm.example.com",
                               custom_fields={"person": ["interests"]})
    with ClozeConnector(settings, context) as connector:
        created = connector.create("person", [CreateRequest(
            "p", {"emails": SetPatch(add=frozenset({"ann@x.example"})),
                  "custom:interests": SetPatch(add=frozenset({"golf", "sailing"}))},
            app_link=AppLink("crm.example.com", "7", "", ""))])[0]
        assert created.ok and created.record is not None, created
        assert sorted(created.record.fields["custom:interests"]) == ["golf", "sailing"]
        updated = connector.update("person", [UpdateRequest(created.id or "", {
            "custom:interests": SetPatch(add=frozenset({"chess"}), remove=frozenset({"golf"}))})])[0]
        assert updated.ok and updated.record is not None, updated
        assert sorted(updated.record.fields["custom:interests"]) == ["chess", "sailing"]
    stored = {f["id"]: f["value"] for f in emulator.records("person")[0]["customFields"]}
    assert stored == {"interests": "sailing, chess"} or stored == {"interests": "chess, sailing"}
