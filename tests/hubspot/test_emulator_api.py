"""The emulator over HTTP behaves like HubSpot's CRM API: objects, batches, search, errors, auth."""

from __future__ import annotations

import httpx
import pytest

from connectors.hubspot.emulator import HubSpotEmulator

V3 = "/crm/v3/objects"
DATED = "/crm/objects/2026-03"


def test_unknown_token_gets_hubspots_401_body(emulator: HubSpotEmulator) -> None:
    reply = httpx.get(f"{emulator.url}{V3}/contacts", headers={"Authorization": "Bearer wrong"})
    assert reply.status_code == 401
    body = reply.json()
    assert body["category"] == "INVALID_AUTHENTICATION"
    assert body["status"] == "error" and body["correlationId"]
    assert body["message"].startswith("Authentication credentials not found.")
    assert httpx.get(f"{emulator.url}{V3}/contacts").status_code == 401
    assert emulator.stats.unauthorized == 2


def test_create_read_update_archive_on_both_path_styles(http: httpx.Client) -> None:
    created = http.post(f"{V3}/contacts", json={"properties": {"email": "Ann@Example.com", "firstname": "Ann"}})
    assert created.status_code == 201
    obj = created.json()
    assert obj["id"].isdigit() and obj["properties"]["hs_object_id"] == obj["id"]
    assert obj["properties"]["email"] == "ann@example.com"  # HubSpot stores e-mail in lower case
    assert obj["properties"]["lastmodifieddate"].endswith("Z") and obj["archived"] is False
    got = http.get(f"{DATED}/0-1/{obj['id']}", params={"properties": "firstname,jobtitle"}).json()
    assert got["properties"]["firstname"] == "Ann" and got["properties"]["jobtitle"] is None
    assert set(got["properties"]) == {"firstname", "jobtitle", "createdate", "hs_object_id", "lastmodifieddate"}
    patched = http.patch(f"{DATED}/contacts/{obj['id']}", json={"properties": {"jobtitle": "Owner", "firstname": ""}})
    assert patched.status_code == 200
    again = http.get(f"{V3}/contacts/{obj['id']}", params={"properties": ["firstname", "jobtitle"]}).json()
    assert again["properties"] == again["properties"] | {"firstname": None, "jobtitle": "Owner"}
    by_email = http.get(f"{V3}/contacts/ann@example.com", params={"idProperty": "email"})
    assert by_email.json()["id"] == obj["id"]
    assert http.delete(f"{V3}/contacts/{obj['id']}").status_code == 204
    assert http.get(f"{V3}/contacts/{obj['id']}").status_code == 404
    archived = http.get(f"{V3}/contacts/{obj['id']}", params={"archived": "true"}).json()
    assert archived["archived"] is True and archived["archivedAt"]


def test_list_pages_by_after_and_accepts_capitalised_archived(emulator: HubSpotEmulator, http: httpx.Client) -> None:
    ids = [emulator.add_object("companies", {"name": f"Co {i}", "domain": f"co{i}.com"}) for i in range(7)]
    emulator.archive("companies", ids[3])
    seen, after = [], None
    while True:
        params: dict[str, str | int] = {"limit": 3, "archived": "False", "properties": "name"}
        if after:
            params["after"] = after
        body = http.get(f"{V3}/companies", params=params).json()
        seen += [r["id"] for r in body["results"]]
        after = body.get("paging", {}).get("next", {}).get("after")
        if not after:
            break
    assert seen == [i for i in ids if i != ids[3]]
    only_archived = http.get(f"{V3}/companies", params={"archived": "true"}).json()["results"]
    assert [r["id"] for r in only_archived] == [ids[3]] and only_archived[0]["archivedAt"]
    assert http.get(f"{V3}/companies", params={"archived": "maybe"}).status_code == 400
    assert http.get(f"{V3}/companies", params={"limit": 101}).status_code == 400


def test_duplicate_email_is_409_with_existing_id(http: httpx.Client, emulator: HubSpotEmulator) -> None:
    first = emulator.add_object("contacts", {"email": "dup@example.com"})
    single = http.post(f"{V3}/contacts", json={"properties": {"email": "DUP@example.com"}})
    assert single.status_code == 409
    assert single.json()["message"] == f"Contact already exists. Existing ID: {first}"
    assert single.json()["category"] == "CONFLICT"
    batch = http.post(f"{V3}/contacts/batch/create", json={"inputs": [
        {"properties": {"email": "new@example.com"}}, {"properties": {"email": "dup@example.com"}}]})
    assert batch.status_code == 409
    assert len(emulator.objects("contacts")) == 1  # a refused batch writes nothing
    secondary = emulator.add_object("contacts", {"email": "x@example.com", "hs_additional_emails": "alt@example.com"})
    clash = http.post(f"{V3}/contacts", json={"properties": {"email": "alt@example.com"}})
    assert clash.json()["message"].endswith(secondary)


def test_batch_create_partial_failure_is_207(http: httpx.Client) -> None:
    reply = http.post(f"{DATED}/contacts/batch/create", json={"inputs": [
        {"properties": {"email": "ok@example.com"}, "objectWriteTraceId": "a"},
        {"properties": {"email": "not-an-email"}, "objectWriteTraceId": "b"},
        {"properties": {"lifecyclestage": "wizard"}, "objectWriteTraceId": "c"},
        {"properties": {"nosuchproperty": "1"}, "objectWriteTraceId": "d"},
    ]})
    assert reply.status_code == 207
    body = reply.json()
    assert body["status"] == "COMPLETE" and body["numErrors"] == 3
    assert [r["objectWriteTraceId"] for r in body["results"]] == ["a"]
    by_trace = {e["context"]["objectWriteTraceId"][0]: e for e in body["errors"]}
    assert by_trace["b"]["category"] == "VALIDATION_ERROR" and "INVALID_EMAIL" in by_trace["b"]["message"]
    assert by_trace["c"]["errors"][0]["code"] == "INVALID_OPTION"
    assert by_trace["d"]["errors"][0]["code"] == "PROPERTY_DOESNT_EXIST"
    for error in body["errors"]:  # the StandardError shape: every key present
        assert {"status", "category", "message", "context", "links", "errors"} <= set(error)


def test_all_or_nothing_batches_refuse_with_400(emulator: HubSpotEmulator, http: httpx.Client) -> None:
    emulator.configure(batch_validation="all_or_nothing")
    reply = http.post(f"{V3}/contacts/batch/create", json={"inputs": [
        {"properties": {"email": "ok@example.com"}}, {"properties": {"email": "bad"}}]})
    assert reply.status_code == 400 and reply.json()["category"] == "VALIDATION_ERROR"
    assert emulator.objects("contacts") == []


def test_batch_read_update_upsert_archive(emulator: HubSpotEmulator, http: httpx.Client) -> None:
    http.post("/crm/v3/properties/contacts", json={
        "name": "ext_id", "label": "Ext", "type": "string", "fieldType": "text", "groupName": "contactinformation",
        "hasUniqueValue": True})
    a = emulator.add_object("contacts", {"email": "a@example.com", "ext_id": "A"})
    read = http.post(f"{V3}/contacts/batch/read", json={"inputs": [{"id": a}, {"id": "999999"}],
                                                        "properties": ["email"]})
    assert read.status_code == 207
    assert read.json()["errors"][0]["category"] == "OBJECT_NOT_FOUND"
    assert read.json()["errors"][0]["context"]["ids"] == ["999999"]
    by_prop = http.post(f"{V3}/contacts/batch/read", json={"idProperty": "ext_id", "inputs": [{"id": "A"}]})
    assert by_prop.json()["results"][0]["id"] == a
    upsert = http.post(f"{V3}/contacts/batch/upsert", json={"inputs": [
        {"id": "A", "idProperty": "ext_id", "properties": {"firstname": "Ada"}},
        {"id": "B", "idProperty": "ext_id", "properties": {"firstname": "Bo", "email": "b@example.com"}}]})
    assert upsert.status_code == 200
    new = {r["properties"].get("ext_id"): r["new"] for r in upsert.json()["results"]}
    assert new == {"A": False, "B": True}
    again = http.post(f"{V3}/contacts/batch/upsert", json={"inputs": [
        {"id": "B", "idProperty": "ext_id", "properties": {"firstname": "Bob"}}]})
    assert again.json()["results"][0]["new"] is False and len(emulator.objects("contacts")) == 2
    not_unique = http.post(f"{V3}/contacts/batch/upsert", json={"inputs": [
        {"id": "x", "idProperty": "firstname", "properties": {}}]})
    assert not_unique.status_code == 400 and "non-unique 0-1 property firstname" in not_unique.json()["message"]
    update = http.post(f"{V3}/contacts/batch/update", json={"inputs": [
        {"id": a, "properties": {"jobtitle": "CEO"}}, {"id": "424242", "properties": {"jobtitle": "x"}}]})
    assert update.status_code == 207 and update.json()["errors"][0]["context"]["ids"] == ["424242"]
    clash = http.post(f"{V3}/contacts/batch/update", json={"inputs": [{"id": a, "properties": {"ext_id": "B"}}]})
    assert clash.status_code == 207 and "unique property" in clash.json()["errors"][0]["message"]
    assert http.post(f"{V3}/contacts/batch/archive", json={"inputs": [{"id": a}, {"id": "31337"}]}).status_code == 204
    assert [o["id"] for o in emulator.objects("contacts", archived=True)] == [a]
    too_many = http.post(f"{V3}/contacts/batch/read", json={"inputs": [{"id": str(i)} for i in range(101)]})
    assert too_many.status_code == 400


def test_read_only_properties_are_refused(http: httpx.Client) -> None:
    reply = http.post(f"{V3}/deals", json={"properties": {"dealname": "X", "hs_lastmodifieddate": "0"}})
    assert reply.status_code == 400 and "READ_ONLY_VALUE" in reply.json()["message"]


def test_properties_api_and_missing_scope(emulator: HubSpotEmulator, http: httpx.Client) -> None:
    spec = {"name": "cz", "label": "Cz", "type": "string", "fieldType": "text", "groupName": "companyinformation",
            "hasUniqueValue": True}
    made = http.post("/crm/properties/2026-03/companies", json=spec)
    assert made.status_code == 201 and made.json()["hasUniqueValue"] is True
    assert http.post("/crm/v3/properties/companies", json=spec).status_code == 409
    assert http.get("/crm/v3/properties/companies/cz").json()["name"] == "cz"
    assert any(p["name"] == "domain" for p in http.get("/crm/v3/properties/0-2").json()["results"])
    assert http.get("/crm/v3/properties/companies/nope").status_code == 404
    emulator.configure(missing_scopes={"crm.schemas.deals.write"})
    refused = http.post("/crm/v3/properties/deals", json=spec | {"groupName": "dealinformation"})
    assert refused.status_code == 403 and refused.json()["category"] == "MISSING_SCOPES"


def test_associations_v4(emulator: HubSpotEmulator, http: httpx.Client) -> None:
    person = emulator.add_object("contacts", {"email": "p@example.com"})
    firm = emulator.add_object("companies", {"name": "Firm", "domain": "firm.com"})
    deal = emulator.add_object("deals", {"dealname": "D"})
    put = http.put(f"/crm/v4/objects/contacts/{person}/associations/default/companies/{firm}")
    assert put.status_code == 200
    assert {r["associationSpec"]["associationTypeId"] for r in put.json()["results"]} == {279, 280}
    read = http.post("/crm/associations/2026-03/companies/contacts/batch/read", json={"inputs": [{"id": firm}]})
    assert read.json()["results"][0]["to"][0]["toObjectId"] == int(person)
    assert read.json()["results"][0]["to"][0]["associationTypes"][0]["typeId"] == 280
    made = http.post("/crm/v4/associations/deals/contacts/batch/create", json={"inputs": [
        {"from": {"id": deal}, "to": {"id": person},
         "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 3}]}]})
    assert made.status_code == 201 and made.json()["results"][0]["toObjectId"] == int(person)
    default = http.post("/crm/v4/associations/deals/companies/batch/associate/default", json={"inputs": [
        {"from": {"id": deal}, "to": {"id": firm}}]})
    assert default.json()["results"][0]["associationSpec"]["associationTypeId"] == 341
    on_read = http.get(f"{V3}/deals/{deal}", params={"associations": "contacts,companies"}).json()
    assert on_read["associations"]["contacts"]["results"] == [{"id": person, "type": "deal_to_contact"}]
    assert on_read["associations"]["companies"]["results"][0]["id"] == firm
    none = http.post("/crm/v4/associations/contacts/deals/batch/read", json={"inputs": [{"id": firm}]})
    assert none.status_code == 207
    assert none.json()["errors"][0]["subCategory"] == {"code": "crm.associations.NO_ASSOCIATIONS_FOUND"}
    archived = http.post("/crm/v4/associations/deals/contacts/batch/archive", json={"inputs": [
        {"from": {"id": deal}, "to": [{"id": person}]}]})
    assert archived.status_code == 204
    assert emulator.associations("contacts", person, "deals") == []
    listed = http.get(f"/crm/v4/objects/contacts/{person}/associations/companies").json()
    assert listed["results"][0]["toObjectId"] == int(firm)
    assert http.delete(f"/crm/v4/objects/contacts/{person}/associations/companies/{firm}").status_code == 204
    assert emulator.associations("companies", firm, "contacts") == []
    inline = http.post(f"{V3}/deals", json={"properties": {"dealname": "E"}, "associations": [
        {"to": {"id": firm}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 341}]}]})
    assert emulator.associations("deals", inline.json()["id"], "companies") == [firm]


def test_unknown_route_is_404(http: httpx.Client) -> None:
    assert http.get("/crm/v3/objects/contacts/1/2/3").status_code == 404
    assert http.get("/nothing").status_code == 404
    assert http.get("/crm/v3/objects/widgets").status_code == 400


def test_malformed_request_json_is_400(http: httpx.Client) -> None:
    reply = http.post(f"{V3}/contacts/search", content=b"{not json", headers={"Content-Type": "application/json"})
    assert reply.status_code == 400 and reply.json()["category"] == "VALIDATION_ERROR"


@pytest.mark.parametrize("path", ["/crm/v3/objects/contacts", "/crm/objects/2026-03/contacts"])
def test_direct_api_round_trip(emulator: HubSpotEmulator, http: httpx.Client, path: str) -> None:
    cid = emulator.add_object("contacts", {"email": "d@example.com"}, created_ms=1_000, modified_ms=2_000)
    got = http.get(f"{path}/{cid}").json()
    assert got["createdAt"] == "1970-01-01T00:00:01.000Z" and got["updatedAt"] == "1970-01-01T00:00:02.000Z"
    emulator.set_modified("contacts", [cid], 5_000)
    stored = emulator.get_object("contacts", cid)
    assert stored is not None and stored["properties"]["lastmodifieddate"] == "1970-01-01T00:00:05.000Z"
    emulator.freeze_clock(7_000)
    http.patch(f"{path}/{cid}", json={"properties": {"firstname": "F"}})
    assert emulator.objects("contacts")[0]["updatedAt"] == "1970-01-01T00:00:07.000Z"
    with pytest.raises(ValueError):
        emulator.add_object("contacts", {"email": "d@example.com"})


def test_company_domain_uniqueness_is_a_switch(emulator: HubSpotEmulator, http: httpx.Client) -> None:
    emulator.add_object("companies", {"name": "A", "domain": "same.com"})
    assert http.post(f"{V3}/companies", json={"properties": {"name": "B", "domain": "same.com"}}).status_code == 201
    emulator.configure(company_domain_unique=True)
    refused = http.post(f"{V3}/companies/batch/create", json={"inputs": [
        {"properties": {"name": "C", "domain": "SAME.com"}, "objectWriteTraceId": "c"}]})
    assert refused.status_code == 207 and "unique property" in refused.json()["errors"][0]["message"]
