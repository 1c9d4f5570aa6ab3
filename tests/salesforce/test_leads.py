"""Leads as people (``leads = true``, off by default): read, fed, found and updated beside the contacts; a
converted lead handed over to its contact. The connector against the emulator over loopback."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.base import ConnectorContext
from connectors.model import SetPatch, UpdateRequest
from connectors.salesforce.connector import SalesforceConnector
from connectors.salesforce.emulator import SalesforceEmulator
from connectors.salesforce.settings import SalesforceSettings

from .conftest import SESSION

WITH_LEAD = ("Contact", "Account", "Opportunity", "Lead")


def connect(emulator: SalesforceEmulator, **settings: Any) -> SalesforceConnector:
    config = SalesforceSettings.model_validate({"auth": "session", "session_id": SESSION,
                                                "instance_url": emulator.url, **settings})
    return SalesforceConnector(config, ConnectorContext(pair="p", side="external", app_id="acme.my.salesforce.com"))


@pytest.fixture
def org(emulator: SalesforceEmulator) -> SalesforceEmulator:
    emulator.configure(external_id_objects=WITH_LEAD)
    return emulator


@pytest.fixture
def conn(org: SalesforceEmulator) -> Iterator[SalesforceConnector]:
    with connect(org, leads=True, poll_overlap_seconds=0) as connector:
        yield connector


def _lead(org: SalesforceEmulator, **extra: Any) -> str:
    return org.add_record("Lead", {"FirstName": "Lee", "LastName": "Park", "Company": "Park Bakery",
                                   "Email": "lee@parkbakery.example", "Phone": "+1 555 0100",
                                   "Website": "https://www.parkbakery.example", "Street": "1 Main St", **extra})


def test_leads_are_off_by_default(org: SalesforceEmulator) -> None:
    _lead(org)
    with connect(org) as conn:
        assert [r for page in conn.list_all("person") for r in page] == []
        assert conn.lookup("person", "emails", "lee@parkbakery.example") == []


def test_a_lead_reads_as_a_person_listed_found_and_fed(org: SalesforceEmulator, conn: SalesforceConnector) -> None:
    # The org's clock held in the past: the rows' stamped second has ended when the cursor is taken, so a
    # read resumed from it re-reads nothing (a second still open is read again, see test_e2e).
    org.freeze_clock(time.time() - 10)
    contact = org.add_record("Contact", {"LastName": "Oh", "Email": "oh@acme.example"})
    lead = _lead(org, Cloze_Syncd_Id__c="cloze-lee")
    listed = {r.id: r for page in conn.list_all("person") for r in page}
    assert set(listed) == {contact, lead}
    person = listed[lead]
    assert person.fields["emails"] == ["lee@parkbakery.example"] and person.fields["phones"] == ["+1 555 0100"]
    assert person.fields["companies"] == [] and person.fields["addresses"] == ["1 Main St"]  # a lead has no Account
    assert person.cloze_ref == "cloze-lee"
    assert [r.id for r in conn.lookup("person", "emails", "lee@parkbakery.example")] == [lead]
    found = conn.find_linked("person", "cloze-lee")
    assert found is not None and found.id == lead
    assert set(conn.get("person", [lead, contact])) == {lead, contact}
    fed = [r.id for page in conn.changes("person", None) for r in page.records]
    assert sorted(fed) == sorted([contact, lead])
    cursor = conn.current_cursor("person")
    assert cursor is not None and cursor.startswith("sfp|")
    assert [r for page in conn.changes("person", cursor) for r in page.records] == []
    org.advance_clock(2)
    org.update_record("Lead", lead, {"Title": "Baker"})
    [edited] = [r for page in conn.changes("person", cursor) for r in page.records]
    assert edited.id == lead and edited.fields["title"] == "Baker"


def test_a_lead_is_updated_with_its_own_fields(org: SalesforceEmulator, conn: SalesforceConnector) -> None:
    lead = _lead(org)
    [result] = conn.update("person", [UpdateRequest(id=lead, fields={
        "title": "Owner", "phones": SetPatch(result=frozenset({"+1 555 0100", "+1 555 0199"})),
        "companies": SetPatch(result=frozenset({"001000000000001AAA"}), add=frozenset()),
        "addresses": SetPatch(result=frozenset({"2 Side St"}))}, cloze_ref="cloze-lee")])
    assert result.ok, result.error
    row = org.get_record("Lead", lead)
    assert row is not None and row["Title"] == "Owner" and row["Street"] == "2 Side St"
    assert {row["Phone"], row["MobilePhone"]} == {"+1 555 0100", "+1 555 0199"}
    assert row["Website"] == "https://www.parkbakery.example", "a lead holds no company reference: left alone"
    assert row["Cloze_Syncd_Id__c"] == "cloze-lee"
    assert org.records("Contact") == []  # nothing written to a contact


def test_the_identity_field_must_exist_on_lead_when_leads_are_synced(emulator: SalesforceEmulator) -> None:
    with connect(emulator, leads=True) as conn:
        problems = conn.check()
    assert [p.where for p in problems] == ["Lead.Cloze_Syncd_Id__c"], problems
    assert "Lead" in problems[0].what and "Cloze_Syncd_Id__c" in problems[0].what


def test_a_converted_lead_hands_over_to_its_contact_when_the_identity_is_mapped(org: SalesforceEmulator,
                                                                                conn: SalesforceConnector) -> None:
    org.configure(lead_convert_custom_fields=("Cloze_Syncd_Id__c",))
    lead = _lead(org, Cloze_Syncd_Id__c="cloze-lee")
    cursor = conn.current_cursor("person")
    org.advance_clock(2)
    made = org.convert_lead(lead)
    pages = list(conn.changes("person", cursor))
    records = [r for p in pages for r in p.records]
    assert {r.id for r in records} == {made["contact"]}  # from the Contact feed, and as the lead's successor
    assert all(r.cloze_ref == "cloze-lee" and not r.unreadable for r in records)
    assert lead in [d for p in pages for d in p.deleted_ids]
    # A full listing: the converted lead is gone, its contact is there.
    assert {r.id for page in conn.list_all("person") for r in page} == {made["contact"]}


def test_a_converted_lead_without_the_mapped_identity_is_a_record_error(org: SalesforceEmulator,
                                                                        conn: SalesforceConnector) -> None:
    lead = _lead(org, Cloze_Syncd_Id__c="cloze-lee")
    cursor = conn.current_cursor("person")
    org.advance_clock(2)
    made = org.convert_lead(lead)
    records = [r for p in conn.changes("person", cursor) for r in p.records]
    [stuck] = [r for r in records if r.unreadable]
    assert stuck.id == lead and "SF_CONVERTED" in (stuck.unreadable or "")
    assert made["contact"] in (stuck.unreadable or "") and "Map Lead Fields" in (stuck.unreadable or "")
    listed = {r.id: r for page in conn.list_all("person") for r in page}
    assert listed[lead].unreadable and made["contact"] in listed


def test_the_emulator_converts_a_lead_into_a_contact_and_an_account(org: SalesforceEmulator) -> None:
    lead = _lead(org)
    made = org.convert_lead(lead)
    contact, account, row = (org.get_record("Contact", made["contact"]), org.get_record("Account", made["account"]),
                             org.get_record("Lead", lead))
    assert contact is not None and account is not None and row is not None
    assert (contact["LastName"], contact["Email"], contact["MailingStreet"], contact["AccountId"]) == (
        "Park", "lee@parkbakery.example", "1 Main St", made["account"])
    assert account["Name"] == "Park Bakery"
    assert row["IsConverted"] and row["ConvertedContactId"] == made["contact"] and row["Status"] == "Closed - Converted"
    with pytest.raises(ValueError, match="CANNOT_UPDATE_CONVERTED_LEAD"):
        org.convert_lead(lead)
