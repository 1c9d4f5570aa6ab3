"""Emulator replies shaped as HubSpot's OpenAPI files and its official Python client expect them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from connectors.hubspot.emulator import HubSpotEmulator
from tests.hubspot.conftest import TOKEN

hubspot = pytest.importorskip("hubspot")
from hubspot import HubSpot
from hubspot.crm.contacts import SimplePublicObjectInput


def _contact(emulator: HubSpotEmulator, email: str, **props: str) -> str:
    return emulator.add_object("contacts", {"email": email, **props})


def _company(emulator: HubSpotEmulator, domain: str) -> str:
    return emulator.add_object("companies", {"domain": domain, "name": domain})


# -- association batch archive -------------------------------------------------------------

def test_dated_batch_archive_answers_a_batch_response_with_errors(emulator: HubSpotEmulator, http: httpx.Client) -> None:
    person, company = _contact(emulator, "a@x.example"), _company(emulator, "x.example")
    emulator.associate("contacts", person, "companies", company)
    inputs = [{"from": {"id": person}, "to": [{"id": company}]}, {"from": {"id": "999999"}, "to": [{"id": company}]}]
    reply = http.post("/crm/associations/2026-03/contacts/companies/batch/archive", json={"inputs": inputs})
    assert reply.status_code == 207
    body = reply.json()
    assert body["status"] == "COMPLETE" and body["numErrors"] == 1
    assert body["errors"][0]["context"]["fromObjectId"] == ["999999"]
    assert emulator.associations("contacts", person, "companies") == []
    ok = http.post("/crm/associations/2026-03/contacts/companies/batch/archive", json={"inputs": inputs[:1]})
    assert ok.status_code == 200 and ok.json()["status"] == "COMPLETE"
    legacy = http.post("/crm/v4/associations/contacts/companies/batch/archive", json={"inputs": inputs})
    assert legacy.status_code == 204 and legacy.content == b""


# -- unset properties ------------------------------------------------------------------------

@pytest.mark.parametrize(("form", "expected"), [("null", None), ("empty", "")])
def test_unset_requested_property_form_is_a_setting(
    emulator: HubSpotEmulator, http: httpx.Client, form: str, expected: Any
) -> None:
    emulator.configure(unset_property_value=form)
    person = _contact(emulator, "a@x.example")
    body = http.get(f"/crm/objects/2026-03/contacts/{person}", params={"properties": "email,phone"}).json()
    assert body["properties"]["phone"] == expected and body["properties"]["email"] == "a@x.example"


# -- ids in paths ----------------------------------------------------------------------------

def test_official_client_get_by_email_id_property(emulator: HubSpotEmulator) -> None:
    person = _contact(emulator, "ann+sync@x.example", firstname="Ann")
    client = HubSpot(access_token=TOKEN, host=emulator.url)
    found = client.crm.contacts.basic_api.get_by_id("ann+sync@x.example", id_property="email", properties=["firstname"])
    assert found.id == person and found.properties["firstname"] == "Ann"
    updated = client.crm.contacts.basic_api.update(
        "ann+sync@x.example", SimplePublicObjectInput(properties={"firstname": "Anne"}), id_property="email")
    assert updated.properties["firstname"] == "Anne"


# -- errors[].subCategory ----------------------------------------------------------------------

def test_batch_error_sub_category_is_an_object_by_default(emulator: HubSpotEmulator, http: httpx.Client) -> None:
    person = _contact(emulator, "a@x.example")
    path = "/crm/associations/2026-03/contacts/companies/batch/read"
    error = http.post(path, json={"inputs": [{"id": person}]}).json()["errors"][0]
    assert error["subCategory"] == {"code": "crm.associations.NO_ASSOCIATIONS_FOUND"}
    emulator.configure(batch_error_sub_category="string")
    error = http.post(path, json={"inputs": [{"id": person}]}).json()["errors"][0]
    assert error["subCategory"] == "crm.associations.NO_ASSOCIATIONS_FOUND"


# -- association labels ------------------------------------------------------------------------

def test_association_label_definitions_and_label_archive(emulator: HubSpotEmulator, http: httpx.Client) -> None:
    labels = http.get("/crm/associations/2026-03/contacts/companies/labels").json()["results"]
    assert {"category": "HUBSPOT_DEFINED", "typeId": 279, "label": None} in labels
    assert {"category": "HUBSPOT_DEFINED", "typeId": 1, "label": "Primary"} in labels
    made = http.post("/crm/associations/2026-03/contacts/companies/labels",
                     json={"label": "Billing contact", "name": "billing_contact"})
    assert made.status_code == 200
    (user_type,) = [r for r in made.json()["results"] if r["label"] == "Billing contact"]
    assert user_type["category"] == "USER_DEFINED"
    person, company = _contact(emulator, "a@x.example"), _company(emulator, "x.example")
    spec = {"associationCategory": "USER_DEFINED", "associationTypeId": user_type["typeId"]}
    unlabeled = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}
    put = http.put(f"/crm/objects/2026-03/contacts/{person}/associations/companies/{company}", json=[spec, unlabeled])
    assert put.status_code == 201 and put.json()["labels"] == ["Billing contact"]
    archive = http.post("/crm/associations/2026-03/contacts/companies/batch/labels/archive",
                        json={"inputs": [{"from": {"id": person}, "to": {"id": company}, "types": [spec]}]})
    assert archive.status_code == 204
    listed = http.get(f"/crm/objects/2026-03/contacts/{person}/associations/companies").json()["results"]
    assert listed[0]["associationTypes"] == [{"category": "HUBSPOT_DEFINED", "typeId": 279, "label": None}]
    client = HubSpot(access_token=TOKEN, host=emulator.url)
    defined = client.crm.associations.v4.schema.definitions_api.get_all("contacts", "companies")
    assert "Billing contact" in [d.label for d in defined.results]


# -- propertiesWithHistory -------------------------------------------------------------------------

def test_properties_with_history_on_get_list_and_batch_read(emulator: HubSpotEmulator, http: httpx.Client) -> None:
    person = http.post("/crm/objects/2026-03/contacts", json={"properties": {"email": "a@x.example", "firstname": "Ann"}}).json()["id"]
    http.patch(f"/crm/objects/2026-03/contacts/{person}", json={"properties": {"firstname": "Anne"}})
    got = http.get(f"/crm/objects/2026-03/contacts/{person}", params={"propertiesWithHistory": "firstname"}).json()
    history = got["propertiesWithHistory"]["firstname"]
    assert [h["value"] for h in history] == ["Anne", "Ann"]  # newest first
    assert all(h["sourceType"] == "INTEGRATION" and h["timestamp"].endswith("Z") for h in history)
    listed = http.get("/crm/objects/2026-03/contacts", params={"propertiesWithHistory": "firstname"}).json()
    assert [h["value"] for h in listed["results"][0]["propertiesWithHistory"]["firstname"]] == ["Anne", "Ann"]
    read = http.post("/crm/objects/2026-03/contacts/batch/read",
                     json={"inputs": [{"id": person}], "properties": [], "propertiesWithHistory": ["firstname"]}).json()
    assert [h["value"] for h in read["results"][0]["propertiesWithHistory"]["firstname"]] == ["Anne", "Ann"]
    client = HubSpot(access_token=TOKEN, host=emulator.url)
    typed = client.crm.contacts.basic_api.get_by_id(person, properties_with_history=["firstname"])
    assert typed.properties_with_history["firstname"][0].value == "Anne"


# -- pipelines and owners -------------------------------------------------------------------------

def test_deal_pipelines_and_stages(emulator: HubSpotEmulator) -> None:
    client = HubSpot(access_token=TOKEN, host=emulator.url)
    pipelines = client.crm.pipelines.pipelines_api.get_all("deals").results
    (default,) = [p for p in pipelines if p.id == "default"]
    stage_ids = [s.id for s in default.stages]
    assert "closedwon" in stage_ids and "appointmentscheduled" in stage_ids
    one = client.crm.pipelines.pipeline_stages_api.get_by_id("deals", "default", "closedwon")
    assert one.metadata["isClosed"] == "true" and one.metadata["probability"] == "1.0"


def test_owners(emulator: HubSpotEmulator) -> None:
    client = HubSpot(access_token=TOKEN, host=emulator.url)
    owners = client.crm.owners.owners_api.get_page().results
    assert owners and owners[0].email
    assert client.crm.owners.owners_api.get_by_id(int(owners[0].id)).email == owners[0].email


# -- properties PATCH / DELETE --------------------------------------------------------------------

def test_property_update_and_archive(emulator: HubSpotEmulator, http: httpx.Client) -> None:
    emulator.add_property("contacts", "ext_ref")
    patched = http.patch("/crm/properties/2026-03/contacts/ext_ref", json={"label": "External reference"})
    assert patched.status_code == 200 and patched.json()["label"] == "External reference"
    assert http.patch("/crm/properties/2026-03/contacts/email", json={"type": "number"}).status_code == 400
    assert http.delete("/crm/properties/2026-03/contacts/ext_ref").status_code == 204
    assert http.get("/crm/properties/2026-03/contacts/ext_ref").status_code == 404
    assert http.delete("/crm/properties/2026-03/contacts/email").status_code == 400


# -- merge ------------------------------------------------------------------------------------------

def test_merge_contacts(emulator: HubSpotEmulator, http: httpx.Client) -> None:
    keep = _contact(emulator, "ann@x.example", firstname="Ann")
    gone = _contact(emulator, "ann@y.example", lastname="Lee")
    company = _company(emulator, "y.example")
    emulator.associate("contacts", gone, "companies", company)
    reply = http.post("/crm/v3/objects/contacts/merge", json={"primaryObjectId": keep, "objectIdToMerge": gone})
    assert reply.status_code == 200
    merged = reply.json()
    assert merged["id"] == keep
    got = http.get(f"/crm/v3/objects/contacts/{keep}",
                   params={"properties": "email,firstname,lastname,hs_additional_emails"}).json()["properties"]
    assert got["email"] == "ann@x.example" and got["firstname"] == "Ann" and got["lastname"] == "Lee"
    assert got["hs_additional_emails"] == "ann@y.example"
    assert emulator.associations("contacts", keep, "companies") == [company]
    assert http.get(f"/crm/v3/objects/contacts/{gone}").json()["id"] == keep  # the old id leads to the survivor
    assert http.post("/crm/v3/objects/contacts/merge",
                     json={"primaryObjectId": keep, "objectIdToMerge": "424242"}).status_code == 404
