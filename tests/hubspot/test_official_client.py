"""HubSpot's own Python client (hubspot-api-client) works against the emulator: its models fail loudly on drift."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.hubspot.emulator import HubSpotEmulator
from tests.hubspot.conftest import TOKEN

hubspot = pytest.importorskip("hubspot")
from hubspot import HubSpot
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchInputSimplePublicObjectId,
    BatchReadInputSimplePublicObjectId,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInput,
    SimplePublicObjectBatchInputForCreate,
    SimplePublicObjectBatchInputUpsert,
    SimplePublicObjectId,
    SimplePublicObjectInputForCreate,
)


@pytest.fixture
def client(emulator: HubSpotEmulator) -> Any:
    emulator.add_property("contacts", "ext_id", unique=True)
    return HubSpot(access_token=TOKEN, host=emulator.url)


def test_get_page_with_archived_false(client: Any, emulator: HubSpotEmulator) -> None:
    for i in range(3):
        emulator.add_object("contacts", {"email": f"c{i}@example.com", "firstname": f"C{i}"})
    page = client.crm.contacts.basic_api.get_page(limit=2, properties=["email", "firstname"], archived=False)
    assert [r.properties["firstname"] for r in page.results] == ["C0", "C1"]
    rest = client.crm.contacts.basic_api.get_page(limit=2, after=page.paging.next.after, archived=False)
    assert [r.properties["email"] for r in rest.results] == ["c2@example.com"] and rest.paging is None


def test_search_with_string_sorts(client: Any, emulator: HubSpotEmulator) -> None:
    for i in range(4):
        emulator.add_object("contacts", {"email": f"s{i}@example.com"}, modified_ms=1_700_000_000_000 + i)
    request = PublicObjectSearchRequest(
        filter_groups=[{"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE",
                                     "value": "1700000000001"}]}],
        sorts=["-lastmodifieddate"], limit=2, properties=["email"], after="0")
    found = client.crm.contacts.search_api.do_search(public_object_search_request=request)
    assert found.total == 3
    assert [r.properties["email"] for r in found.results] == ["s3@example.com", "s2@example.com"]
    assert found.paging.next.after == "2"


def test_batch_create_update_upsert_read_and_archive(client: Any, emulator: HubSpotEmulator) -> None:
    batch = client.crm.contacts.batch_api
    created = batch.create(batch_input_simple_public_object_batch_input_for_create=(
        BatchInputSimplePublicObjectBatchInputForCreate(inputs=[
            SimplePublicObjectBatchInputForCreate(properties={"email": "a@example.com", "firstname": "A"},
                                                  associations=[]),
            SimplePublicObjectBatchInputForCreate(properties={"email": "b@example.com", "firstname": "B"},
                                                  associations=[])])))
    assert created.status == "COMPLETE" and len(created.results) == 2
    ids = {r.properties["email"]: r.id for r in created.results}
    updated = batch.update(batch_input_simple_public_object_batch_input=BatchInputSimplePublicObjectBatchInput(
        inputs=[SimplePublicObjectBatchInput(id=ids["a@example.com"], properties={"jobtitle": "Owner"})]))
    assert updated.results[0].properties["jobtitle"] == "Owner"
    upserted = batch.upsert(batch_input_simple_public_object_batch_input_upsert=(
        BatchInputSimplePublicObjectBatchInputUpsert(inputs=[
            SimplePublicObjectBatchInputUpsert(id="X-1", id_property="ext_id", properties={"firstname": "New"}),
            SimplePublicObjectBatchInputUpsert(id="b@example.com", id_property="email",
                                               properties={"firstname": "Bee"})])))
    assert sorted(r.new for r in upserted.results) == [False, True]
    read = batch.read(batch_read_input_simple_public_object_id=BatchReadInputSimplePublicObjectId(
        inputs=[SimplePublicObjectId(id=ids["b@example.com"])], properties=["firstname"], properties_with_history=[]),
        archived=False)
    assert read.results[0].properties["firstname"] == "Bee"
    batch.archive(batch_input_simple_public_object_id=BatchInputSimplePublicObjectId(
        inputs=[SimplePublicObjectId(id=ids["a@example.com"])]))
    client.crm.contacts.basic_api.archive(contact_id=ids["b@example.com"])
    assert {o["id"] for o in emulator.objects("contacts", archived=True)} == set(ids.values())


def test_partial_failure_is_readable_by_the_client(client: Any) -> None:
    created = client.crm.contacts.batch_api.create(batch_input_simple_public_object_batch_input_for_create=(
        BatchInputSimplePublicObjectBatchInputForCreate(inputs=[
            SimplePublicObjectBatchInputForCreate(properties={"email": "ok@example.com"}, associations=[]),
            SimplePublicObjectBatchInputForCreate(properties={"email": "broken"}, associations=[])])))
    assert created.num_errors == 1 and created.errors[0].category == "VALIDATION_ERROR"
    assert len(created.results) == 1


def test_basic_create_and_conflict(client: Any) -> None:
    api = client.crm.contacts.basic_api
    made = api.create(simple_public_object_input_for_create=SimplePublicObjectInputForCreate(
        properties={"email": "c@example.com"}, associations=[]))
    assert made.id and made.properties["email"] == "c@example.com"
    from hubspot.crm.contacts.exceptions import ApiException

    with pytest.raises(ApiException) as conflict:
        api.create(simple_public_object_input_for_create=SimplePublicObjectInputForCreate(
            properties={"email": "c@example.com"}, associations=[]))
    assert conflict.value.status == 409 and f"Existing ID: {made.id}" in conflict.value.body


def test_associations_and_properties_clients(client: Any, emulator: HubSpotEmulator) -> None:
    person = emulator.add_object("contacts", {"email": "p@example.com"})
    firm = emulator.add_object("companies", {"name": "F", "domain": "f.com"})
    client.crm.associations.v4.basic_api.create_default(
        from_object_type="contacts", from_object_id=person, to_object_type="companies", to_object_id=firm)
    from hubspot.crm.associations.v4 import (
        BatchInputPublicFetchAssociationsBatchRequest,
        PublicFetchAssociationsBatchRequest,
    )

    found = client.crm.associations.v4.batch_api.get_page(
        from_object_type="contacts", to_object_type="companies",
        batch_input_public_fetch_associations_batch_request=BatchInputPublicFetchAssociationsBatchRequest(
            inputs=[PublicFetchAssociationsBatchRequest(id=person)]))
    assert found.results[0].to[0].to_object_id == firm
    props = client.crm.properties.core_api.get_all(object_type="companies")
    assert any(p.name == "domain" for p in props.results)


def test_merge_property_update_and_label_archive(client: Any, emulator: HubSpotEmulator) -> None:
    from hubspot.crm.associations.v4 import (
        AssociationSpec,
        BatchInputPublicAssociationMultiPost,
        PublicAssociationMultiPost,
    )
    from hubspot.crm.contacts import PublicMergeInput
    from hubspot.crm.properties import PropertyUpdate

    keep = emulator.add_object("contacts", {"email": "a@x.example", "firstname": "A"})
    gone = emulator.add_object("contacts", {"email": "b@x.example", "lastname": "B"})
    company = emulator.add_object("companies", {"domain": "x.example"})
    emulator.associate("contacts", gone, "companies", company)
    merged = client.crm.contacts.basic_api.merge(
        public_merge_input=PublicMergeInput(primary_object_id=keep, object_id_to_merge=gone))
    assert merged.id == keep and merged.properties["lastname"] == "B"
    assert client.crm.properties.core_api.update(
        "contacts", "ext_id", property_update=PropertyUpdate(label="External id")).label == "External id"
    unlabeled = AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=279)
    client.crm.associations.v4.batch_api.archive_labels(
        "contacts", "companies", batch_input_public_association_multi_post=BatchInputPublicAssociationMultiPost(
            inputs=[PublicAssociationMultiPost(_from={"id": keep}, to={"id": company}, types=[unlabeled])]))
    assert emulator.associations("contacts", keep, "companies") == []
    assert client.crm.properties.core_api.archive("contacts", "ext_id") is None
