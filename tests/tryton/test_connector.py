"""The Tryton connector against a real Tryton 8.2 server: people, companies, reads, writes, identity."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from connectors.base import ConnectorContext
from connectors.errors import AuthError, ConfigError
from connectors.model import CreateRequest, UpdateRequest
from connectors.tryton import TrytonConnector, TrytonSettings
from connectors.tryton.rpc import RpcClient
from connectors.tryton.testserver import TrytonServer
from tests.tryton.conftest import ConnectorFactory
from tests.tryton.helpers import add, category_id, party_row, patch, person

pytestmark = pytest.mark.tryton


def test_person_round_trip_lookup_and_identity(connector: TrytonConnector, auth: str, uid: str) -> None:
    connector.check()
    assert connector.describe()["server_checks_versions"] == (auth == "session")
    email = f"ann.{uid}@acme.example"
    [res] = connector.create("person", [person(
        "k1", "Ann", "Lee Smith", email, phones=add("+1 555 0100"), tags=add("vip", f"golf {uid}"),
        addresses=add("1 Main St, Springfield, IL 62701"), cloze_ref=f"cz-{uid}")])
    assert res.ok and res.id and res.key == "k1" and res.record is not None
    fields = res.record.fields
    assert (fields["first"], fields["last"]) == ("Ann", "Lee Smith")
    assert fields["emails"] == [email] and fields["phones"] == ["+1 555 0100"]
    assert fields["addresses"] == ["1 Main St, Springfield, IL 62701"]
    assert sorted(fields["tags"]) == sorted(["vip", f"golf {uid}"])  # the marker category is not a tag
    assert res.record.cloze_ref == f"cz-{uid}" and res.record.modified_at and not res.record.archived

    assert connector.get("person", [res.id])[res.id].fields == fields
    assert [r.id for page in connector.list_all("person") for r in page] == [res.id]
    linked = connector.find_linked("person", f"cz-{uid}")
    assert linked is not None and linked.id == res.id
    assert connector.find_linked("person", f"cz-other-{uid}") is None
    assert [r.id for r in connector.lookup("person", "emails", email.upper())] == [res.id]
    assert [r.id for r in connector.lookup("person", "phones", "+15550100")] == [res.id]
    assert [r.id for r in connector.lookup("person", "name", "ann  lee smith")] == [res.id]
    assert connector.lookup("person", "emails", f"nobody.{uid}@acme.example") == []


def test_company_domains_come_from_website_contact_mechanisms(
        make_connector: ConnectorFactory, admin: RpcClient, uid: str) -> None:
    connector = make_connector()
    [res] = connector.create("company", [CreateRequest(
        key="c", fields={"name": f"Acme {uid}", "domains": add(f"acme-{uid}.example"), "emails": add(f"info@acme-{uid}.example"),
                         "phones": add("+1 555 0199")}, cloze_ref=f"co-{uid}")])
    assert res.ok and res.record is not None
    assert res.record.fields["domains"] == [f"acme-{uid}.example"]
    # A website typed in Tryton as a URL is found by its bare domain.
    marker = category_id(admin, f"Company {uid}")
    [other] = admin.create("party.party", [{"name": f"Beta {uid}", "categories": [("add", [marker])],
                                            "contact_mechanisms": [("create", [{"type": "website",
                                                                                "value": f"https://www.beta-{uid}.example/about"}])]}])
    found = connector.lookup("company", "domains", f"beta-{uid}.example")
    assert [r.id for r in found] == [str(other)]
    assert connector.lookup("company", "domains", f"eta-{uid}.example") == []  # a substring is not a match
    assert sorted(r.id for page in connector.list_all("company") for r in page) == sorted([res.id, str(other)])
    # A company is not a person, and get() says so by leaving it out.
    assert connector.get("person", [res.id]) == {}
    assert [r.id for page in connector.list_all("person") for r in page] == []


def test_default_classification_and_internal_parties(make_connector: ConnectorFactory, tryton_server: TrytonServer,
                                                      admin: RpcClient, uid: str) -> None:
    connector = make_connector(person_category=None)
    [company] = admin.search_read("company.company", [("id", "=", tryton_server.company_id)], ["party"])
    [employee] = admin.search_read("company.employee", [("id", "=", tryton_server.employee_id)], ["party"])
    people = {r.id for page in connector.list_all("person") for r in page}
    assert str(company["party"]) not in people and str(employee["party"]) not in people
    [plain] = admin.create("party.party", [{"name": f"Plain Person {uid}"}])
    assert str(plain) in connector.get("person", [str(plain)])
    keep = make_connector(person_category=None, skip_internal_parties=False)
    assert str(company["party"]) in keep.get("person", [str(company["party"])])


def test_update_changes_only_the_given_fields(connector: TrytonConnector, admin: RpcClient, uid: str) -> None:
    old, new = f"old.{uid}@x.example", f"new.{uid}@x.example"
    [res] = connector.create("person", [person("k", "Ann", "Lee", old, phones=add("+1 555 0100"), tags=add("a", "b"),
                                               addresses=add("1 Main St"), cloze_ref=f"r1-{uid}")])
    assert res.ok and res.id
    [upd] = connector.update("person", [UpdateRequest(
        id=res.id, fields={"last": "Lee-Smith", "emails": patch(add=(new,), remove=(old.upper(),)),
                           "tags": patch(add=("c", f"Company {uid}"), remove=("a",)),
                           "addresses": patch(remove=("1 Main St",))})])
    assert upd.ok and upd.record is not None and not upd.details.get("concurrent_edit")
    fields = upd.record.fields
    assert (fields["first"], fields["last"]) == ("Ann", "Lee-Smith")
    assert fields["emails"] == [new] and fields["phones"] == ["+1 555 0100"]
    assert sorted(fields["tags"]) == ["b", "c"] and fields["addresses"] == []  # no marker category as a tag
    assert connector.get("person", [res.id])  # still a person
    # An update with nothing to change writes nothing.
    before = party_row(admin, res.id)["_timestamp"]
    [same] = connector.update("person", [UpdateRequest(id=res.id, fields={"first": "Ann", "emails": add(new)})])
    assert same.ok and party_row(admin, res.id)["_timestamp"] == before
    # The Cloze identity is replaced, then cleared.
    [ref] = connector.update("person", [UpdateRequest(id=res.id, fields={}, cloze_ref=f"r2-{uid}")])
    assert ref.ok and ref.record is not None and ref.record.cloze_ref == f"r2-{uid}"
    assert [i["code"] for i in party_row(admin, res.id)["identifiers"]] == [f"cloze:r2-{uid}"]
    [clear] = connector.update("person", [UpdateRequest(id=res.id, fields={}, clear_cloze_ref=True)])
    assert clear.ok and clear.record is not None and clear.record.cloze_ref is None
    [missing] = connector.update("person", [UpdateRequest(id="999999999", fields={"first": "X"})])
    assert not missing.ok and missing.code == "NotFound"


def test_create_is_idempotent_by_cloze_identity(make_connector: ConnectorFactory, admin: RpcClient, uid: str) -> None:
    connector = make_connector()
    request = person("k", "Bob", "Ng", f"bob.{uid}@x.example", cloze_ref=f"same-{uid}")
    [first] = connector.create("person", [request])
    [again] = connector.create("person", [request])
    assert first.ok and again.ok and again.id == first.id and again.details == {"existing": True}
    rows = admin.search_read("party.party", [("identifiers.code", "=", f"cloze:same-{uid}")], ["id"],
                             active_test=False)
    assert [r["id"] for r in rows] == [int(first.id or 0)]


def test_one_refused_record_does_not_stop_the_others(make_connector: ConnectorFactory, uid: str) -> None:
    connector = make_connector(custom_fields={"person": ["code"]})
    [taken] = connector.create("person", [person("a", "Al", "One", f"a.{uid}@x.example",
                                                 **{"custom:code": f"P-{uid}"})])
    assert taken.ok and taken.record is not None and taken.record.fields["custom:code"] == f"P-{uid}"
    results = connector.create("person", [
        person("b", "Bo", "Two", f"b.{uid}@x.example", **{"custom:code": f"P-{uid}"}),  # party codes are unique
        person("c", "Cy", "Three", f"c.{uid}@x.example"),
    ])
    assert [r.key for r in results] == ["b", "c"]
    assert not results[0].ok and results[0].error and "code" in results[0].error.lower()
    assert results[1].ok and results[1].record is not None


def test_custom_field_must_be_plain(make_connector: ConnectorFactory) -> None:
    connector = make_connector(custom_fields={"person": ["lang"]})
    assert "custom:lang" in connector.fields("person")
    [problem] = connector.check()
    assert "many2one" in problem.what and problem.where == "entities.person.fields.custom:lang" and problem.fix
    with pytest.raises(ConfigError, match="many2one"):  # a run still stops at the field's first use
        connector.parties.plain["person"].types()


def test_delete_archives_by_default_or_removes(make_connector: ConnectorFactory, admin: RpcClient, uid: str) -> None:
    connector = make_connector()
    [a] = connector.create("person", [person("a", "Ar", "Chive", f"ar.{uid}@x.example")])
    [res] = connector.delete("person", [a.id or ""])
    assert res.ok and res.details["mode"] == "archive"
    assert party_row(admin, a.id or 0)["active"] in (False, 0)
    got = connector.get("person", [a.id or ""])
    assert got[a.id or ""].archived and list(connector.list_all("person")) == []

    remover = make_connector(delete_mode="delete")
    [b] = remover.create("person", [person("b", "Gone", "Away", f"gone.{uid}@x.example")])
    [res] = remover.delete("person", [b.id or ""])
    assert res.ok and res.details["mode"] == "delete"
    assert remover.get("person", [b.id or ""]) == {}
    [again] = remover.delete("person", [b.id or ""])
    assert again.ok and again.details == {"already_gone": True}


def test_session_expiry_logs_in_again_and_bad_password_is_an_auth_error(
        tryton_server: TrytonServer, make_connector: ConnectorFactory) -> None:
    connector = make_connector()
    connector.check()
    client = connector.client
    assert isinstance(client, RpcClient) and client.logins == 1
    client._auth = "Session YWRtaW46MTpleHBpcmVk"  # what an expired session looks like to the server
    assert list(connector.list_all("person")) == []
    assert client.logins == 2

    bad = TrytonConnector(TrytonSettings(url=tryton_server.url, database=tryton_server.database,
                                         username=tryton_server.username, password=SecretStr("wrong-password-123")),
                          ConnectorContext(pair="test", side="external", app_id="tryton.example.com"))
    with pytest.raises(AuthError) as err:
        bad.check()
    assert "wrong-password-123" not in str(err.value)
    bad.close()
    rest = make_connector(auth="rest_key", rest_key="not-a-valid-key-0000")
    with pytest.raises(AuthError):
        rest.check()


def test_settings_validate_credentials_and_never_show_secrets() -> None:
    with pytest.raises(ValueError, match="username and password"):
        TrytonSettings(url="http://127.0.0.1:1", database="crm")
    with pytest.raises(ValueError, match="rest_key"):
        TrytonSettings(url="http://127.0.0.1:1", database="crm", auth="rest_key")
    with pytest.raises(ValueError, match="http"):
        TrytonSettings(url="127.0.0.1:1", database="crm", username="a", password=SecretStr("b"))
    settings = TrytonSettings(url="http://127.0.0.1:1/", database="crm", username="a", password=SecretStr("s3cret-pw"))
    assert settings.url == "http://127.0.0.1:1" and "s3cret-pw" not in repr(settings)
    assert settings.state_for_stage("lost") == "lost" and settings.state_for_stage("future") == "lead"
    with pytest.raises(ValueError, match="stage_map"):
        settings.state_for_stage("no-such-stage")
