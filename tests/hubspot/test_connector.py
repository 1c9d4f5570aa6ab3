"""The HubSpot connector against the emulator over real HTTP: reads, writes, conflicts, errors."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from connectors.errors import AuthError, TransientApiError
from connectors.http import RetryPolicy
from connectors.hubspot import HubSpotConnector, HubSpotSettings
from connectors.hubspot.emulator import HubSpotEmulator
from connectors.model import CreateRequest, SetPatch, UpdateRequest, custom_key
from tests.hubspot.conftest import TOKEN, ConnectorFactory


def S(*items: str) -> SetPatch:
    return SetPatch(result=frozenset(items))


def _person(key: str, email: str, **fields: Any) -> CreateRequest:
    return CreateRequest(key, {"first": key.title(), "emails": S(email), **fields}, cloze_ref=f"cz-{key}")


def test_create_get_update_delete_person(connector: HubSpotConnector, emulator: HubSpotEmulator) -> None:
    [made] = connector.create("person", [CreateRequest("k1", {
        "first": "Ann", "last": "Lee", "title": "Owner", "company": "Acme",
        "emails": S("ann@acme.com", "ann.lee@gmail.com"), "phones": S("+15035550100", "+19715550101"),
        "addresses": S("12 Alder St, Portland, OR 97205, United States"), "tags": S("vip", "golf"),
        "stage": "customer", "segment": "OPEN"}, cloze_ref="cz-1")])
    assert made.ok and made.id and made.record is not None and made.record.cloze_ref == "cz-1"
    stored = emulator.get_object("contacts", made.id)
    assert stored is not None
    props = stored["properties"]
    assert props["email"] == "ann.lee@gmail.com" and props["hs_additional_emails"] == "ann@acme.com"
    assert (props["address"], props["city"], props["state"], props["zip"]) == ("12 Alder St", "Portland", "OR", "97205")
    assert props["cloze_syncd_tags"] == "golf;vip" and props["lifecyclestage"] == "customer"
    record = connector.get("person", [made.id])[made.id]
    assert record.fields["emails"] == ["ann.lee@gmail.com", "ann@acme.com"]
    assert record.fields["phones"] == ["+15035550100", "+19715550101"]
    assert record.fields["addresses"] == ["12 Alder St, Portland, OR 97205, United States"]
    assert record.fields["tags"] == ["golf", "vip"] and record.fields["segment"] == "OPEN"
    assert record.modified_at and record.cloze_ref == "cz-1"

    [changed] = connector.update("person", [UpdateRequest(made.id, {
        "title": None, "emails": S("ann@acme.com", "ann.lee@gmail.com", "al@new.io"), "phones": S("+15035550100")})])
    assert changed.ok
    props = emulator.get_object("contacts", made.id)["properties"]  # type: ignore[index]
    assert "jobtitle" not in props  # None clears
    assert props["email"] == "ann.lee@gmail.com"  # the primary address is kept
    assert props["hs_additional_emails"] == "al@new.io;ann@acme.com"
    assert props["phone"] == "+15035550100" and "mobilephone" not in props
    assert props["firstname"] == "Ann" and props["company"] == "Acme"  # fields not named are untouched

    [gone] = connector.delete("person", [made.id])
    assert gone.ok
    assert connector.get("person", [made.id]) == {}
    assert emulator.get_object("contacts", made.id)["archived"] is True  # type: ignore[index]


def test_company_and_project_mapping_with_relations(connector: HubSpotConnector, emulator: HubSpotEmulator) -> None:
    [firm] = connector.create("company", [CreateRequest("c", {
        "name": "Acme", "domains": S("acme.com", "acme.io"), "industry": "RETAIL", "description": "Shop",
        "segment": "PARTNER", "phones": S("+15035550000")}, cloze_ref="cz-c")])
    assert firm.ok and firm.id
    # Relation fields hold HubSpot ids: a company without a domain relates like any other.
    [plain] = connector.create("company", [CreateRequest("p", {"name": "No Domain Ltd"}, cloze_ref="cz-p")])
    assert plain.ok and plain.id
    [ann, bob] = connector.create("person", [_person("ann", "ann@acme.com", companies=S(firm.id)),
                                             _person("bob", "bob@acme.com")])
    assert ann.ok and bob.ok and ann.id and bob.id
    [deal] = connector.create("project", [CreateRequest("d", {
        "name": "Website", "summary": "Redesign", "stage": "qualifiedtobuy", "value": "4800.50",
        "close_date": "2026-03-15", "people": S(ann.id, bob.id), "companies": S(firm.id)},
        cloze_ref="cz-d")])
    assert deal.ok and deal.id, deal
    assert emulator.associations("contacts", ann.id, "companies") == [firm.id]
    assert sorted(emulator.associations("deals", deal.id, "contacts")) == sorted([ann.id, bob.id])
    got = connector.get("project", [deal.id])[deal.id]
    assert got.fields["close_date"] == "2026-03-15" and got.fields["value"] == "4800.50"
    assert got.fields["people"] == sorted([ann.id, bob.id]) and got.fields["companies"] == [firm.id]
    company = connector.get("company", [firm.id])[firm.id]
    assert company.fields["domains"] == ["acme.com", "acme.io"] and company.fields["segment"] == "PARTNER"
    [moved] = connector.update("project", [UpdateRequest(deal.id, {"people": S(bob.id)})])
    assert moved.ok and moved.record is not None and moved.record.fields["people"] == [bob.id]
    assert emulator.associations("deals", deal.id, "contacts") == [bob.id]
    [joined] = connector.update("person", [UpdateRequest(bob.id, {"companies": S(plain.id)})])
    assert joined.ok and joined.record is not None and joined.record.fields["companies"] == [plain.id]
    assert emulator.associations("contacts", bob.id, "companies") == [plain.id]
    assert connector.get("person", [bob.id])[bob.id].fields["companies"] == [plain.id]


def test_create_is_idempotent(connector: HubSpotConnector, emulator: HubSpotEmulator) -> None:
    request = _person("ann", "ann@acme.com", last="Lee")
    first = connector.create("person", [request])[0]
    again = connector.create("person", [request])[0]  # e.g. after a crash before the state write
    assert first.ok and again.ok and first.id == again.id
    assert len(emulator.objects("contacts")) == 1 and emulator.stats.records_created == 1
    assert connector.find_linked("person", "cz-ann").id == first.id  # type: ignore[union-attr]


def test_duplicate_email_is_matched_to_the_existing_contact(connector: HubSpotConnector,
                                                            emulator: HubSpotEmulator) -> None:
    existing = emulator.add_object("contacts", {"email": "ann@acme.com", "firstname": "Annie"})
    results = connector.create("person", [_person("new1", "new1@acme.com"), _person("ann", "ANN@acme.com"),
                                          _person("new2", "new2@acme.com")])
    assert [r.ok for r in results] == [True, True, True]
    matched = results[1]
    assert matched.id == existing and matched.details == {"matched_existing": True}
    assert matched.record is not None and matched.record.fields["first"] == "Annie"  # its own data is kept
    assert emulator.get_object("contacts", existing)["properties"]["cloze_syncd_id"] == "cz-ann"  # type: ignore
    assert len(emulator.objects("contacts")) == 3


def test_duplicate_email_of_a_contact_linked_elsewhere_fails(connector: HubSpotConnector,
                                                             emulator: HubSpotEmulator) -> None:
    connector.create("person", [_person("ann", "ann@acme.com")])
    [clash] = connector.create("person", [_person("other", "ann@acme.com")])
    assert not clash.ok and clash.code == "CONFLICT" and "already linked" in (clash.error or "")


@pytest.mark.parametrize("mode", ["partial", "all_or_nothing"])
def test_partial_failures_become_per_record_results(connector: HubSpotConnector, emulator: HubSpotEmulator,
                                                    mode: str) -> None:
    emulator.configure(batch_validation=mode)
    results = connector.create("person", [
        _person("good", "good@acme.com"), _person("bad", "not-an-email"),
        _person("stage", "stage@acme.com", stage="wizard"), _person("fine", "fine@acme.com")])
    assert [r.ok for r in results] == [True, False, False, True]
    assert results[1].code == "VALIDATION_ERROR" and "INVALID_EMAIL" in (results[1].error or "")
    assert "INVALID_OPTION" in (results[2].error or "")
    assert {o["properties"]["email"] for o in emulator.objects("contacts")} == {"good@acme.com", "fine@acme.com"}
    updates = connector.update("person", [UpdateRequest(results[0].id, {"stage": "nope"}),  # type: ignore[arg-type]
                                          UpdateRequest("999999", {"first": "X"}),
                                          UpdateRequest(results[3].id, {"last": "Ok"})])  # type: ignore[arg-type]
    assert [u.ok for u in updates] == [False, False, True]
    assert updates[1].code == "OBJECT_NOT_FOUND"


def test_find_linked_and_lookup(connector: HubSpotConnector, emulator: HubSpotEmulator) -> None:
    assert connector.find_linked("person", "cz-none") is None
    assert "cloze_syncd_id" not in emulator.store.definitions["contacts"]  # reads never create properties
    ann = emulator.add_object("contacts", {"email": "ann@acme.com", "hs_additional_emails": "ann@home.net",
                                           "firstname": "Ann", "lastname": "Lee"})
    firm = emulator.add_object("companies", {"name": "Acme Inc", "domain": "acme.com",
                                             "hs_additional_domains": "acme.io"})
    assert [r.id for r in connector.lookup("person", "emails", "ANN@acme.com")] == [ann]
    assert [r.id for r in connector.lookup("person", "emails", "ann@home.net")] == [ann]
    assert [r.id for r in connector.lookup("person", "name", "Ann Lee")] == [ann]
    assert [r.id for r in connector.lookup("company", "domains", "acme.io")] == [firm]
    assert [r.id for r in connector.lookup("company", "name", "Acme Inc")] == [firm]
    assert connector.lookup("person", "emails", "nobody@acme.com") == []
    assert connector.lookup("project", "emails", "x") == []
    [linked] = connector.update("person", [UpdateRequest(ann, {}, cloze_ref="cz-ann")])
    assert linked.ok and connector.find_linked("person", "cz-ann").id == ann  # type: ignore[union-attr]


def test_changes_report_updates_and_archives(connector: HubSpotConnector, emulator: HubSpotEmulator) -> None:
    a = emulator.add_object("companies", {"name": "A"}, modified_ms=1_000)
    b = emulator.add_object("companies", {"name": "B"}, modified_ms=2_000)
    pages = list(connector.changes("company", None))
    assert [r.id for p in pages for r in p.records] == [a, b]
    cursor = pages[-1].cursor
    assert list(connector.changes("company", cursor))[-1].records == []
    emulator.update_object("companies", a, {"name": "A2"})
    emulator.archive("companies", b)
    later = list(connector.changes("company", cursor))
    assert [r.fields["name"] for p in later for r in p.records] == ["A2"]
    assert later[-1].deleted_ids == [b]
    assert list(connector.changes("company", later[-1].cursor))[-1].deleted_ids == []


def test_custom_fields(make_connector: ConnectorFactory, emulator: HubSpotEmulator) -> None:
    emulator.add_property("deals", "referral_source")
    connector = make_connector(custom_fields={"project": ["referral_source"]})
    [made] = connector.create("project", [CreateRequest("d", {"name": "X", custom_key("referral_source"): "Fair"},
                                                        cloze_ref="cz-d")])
    assert made.ok and made.record is not None and made.record.fields["custom:referral_source"] == "Fair"
    assert emulator.get_object("deals", made.id)["properties"]["referral_source"] == "Fair"  # type: ignore


def test_list_all_pages(make_connector: ConnectorFactory, emulator: HubSpotEmulator) -> None:
    ids = [emulator.add_object("deals", {"dealname": f"D{i}"}) for i in range(7)]
    emulator.archive("deals", ids[0])
    pages = list(make_connector(list_page_size=3).list_all("project"))
    assert [len(p) for p in pages] == [3, 3]
    assert [r.id for p in pages for r in p] == ids[1:]


def test_v3_paths_and_describe(make_connector: ConnectorFactory, emulator: HubSpotEmulator) -> None:
    seen: list[str] = []

    class Recording(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            seen.append(request.url.path)
            return super().handle_request(request)

    settings = HubSpotSettings(base_url=emulator.url, token=TOKEN, api_version="v3", change_overlap_seconds=0,
                               token_kind="private_app")
    from connectors.base import ConnectorContext
    with HubSpotConnector(settings, ConnectorContext(pair="t", side="external", app_id="hubspot.com"),
                          transport=Recording()) as connector:
        assert connector.create("person", [_person("ann", "ann@acme.com")])[0].ok
        list(connector.changes("person", None))
        facts = connector.describe()
        connector.check()
    assert all(p.startswith(("/crm/v3/", "/crm/v4/", "/oauth/v2/")) for p in seen), seen  # oauth: the token's scopes
    assert facts["webhooks_available"] is True and "customer" in facts["person"]["stage_options"]
    assert facts["person"]["identity_property_exists"] is True


def test_auth_errors(make_connector: ConnectorFactory, emulator: HubSpotEmulator) -> None:
    with pytest.raises(AuthError) as bad_token:
        make_connector(token="pat-wrong-token").check()
    assert "INVALID_AUTHENTICATION" in str(bad_token.value) and "pat-wrong-token" not in str(bad_token.value)
    emulator.configure(missing_scopes={"crm.schemas.contacts.write"})
    with pytest.raises(AuthError) as no_scope:
        make_connector().create("person", [_person("ann", "ann@acme.com")])
    assert "crm.schemas.contacts.write" in str(no_scope.value) and "cloze_syncd_id" in str(no_scope.value)


def test_transient_faults_are_retried(connector: HubSpotConnector, emulator: HubSpotEmulator) -> None:
    connector.client.session.retry = RetryPolicy(initial=0.05)
    emulator.set_faults(script=[{"kind": "error", "status": 503}, {"kind": "drop"}, {"kind": "malformed"},
                                {"kind": "rate_limit"}])
    results = connector.create("person", [_person("ann", "ann@acme.com")])
    assert results[0].ok and emulator.stats.faults_injected == 4
    assert len(emulator.objects("contacts")) == 1
    assert connector.client.session.retries >= 4


def test_slow_write_retried_after_timeout_does_not_duplicate(make_connector: ConnectorFactory,
                                                             emulator: HubSpotEmulator) -> None:
    connector = make_connector(timeout=0.3)
    connector.create("person", [_person("warm", "warm@acme.com")])  # properties exist now
    emulator.set_faults(script=[{"kind": "slow", "seconds": 0.6, "match": "/batch/upsert"}])
    [made] = connector.create("person", [_person("ann", "ann@acme.com")])
    assert made.ok and len(emulator.objects("contacts")) == 2  # the write landed once, the retry updated it


def test_persistent_outage_raises_transient_after_the_configured_tries(make_connector: ConnectorFactory,
                                                                       emulator: HubSpotEmulator) -> None:
    connector = make_connector(retry_attempts=3, retry_initial_wait=0.01)
    emulator.set_faults(error_rate=1.0, error_status=502)
    started = time.monotonic()
    with pytest.raises(TransientApiError):
        connector.get("person", ["1"])
    assert connector.client.session.requests_sent == 3 and connector.client.session.retries == 2
    assert time.monotonic() - started < 5, "waits start at retry_initial_wait"


def test_notes_property_is_created_and_synced(make_connector: ConnectorFactory, emulator: HubSpotEmulator) -> None:
    connector = make_connector(person_notes_property="cloze_notes", tags_property=None)
    assert "notes" in connector.fields("person") and "tags" not in connector.fields("person")
    [made] = connector.create("person", [_person("ann", "ann@acme.com", notes="Met at the fair.\nLikes golf.")])
    assert made.ok and made.record is not None and made.record.fields["notes"] == "Met at the fair.\nLikes golf."
    definitions = emulator.store.definitions["contacts"]
    assert definitions["cloze_notes"].field_type == "textarea" and "cloze_syncd_tags" not in definitions
    assert definitions["cloze_syncd_id"].has_unique_value
