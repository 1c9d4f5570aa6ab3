"""``ClozeConnector`` against the emulator: reads, writes with SetPatch, and failures as results."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from connectors.base import ConnectorContext
from connectors.cloze import ClozeConnector, ClozeSettings
from connectors.cloze.emulator import ClozeEmulator
from connectors.errors import TransientApiError
from connectors.model import AppLink, CreateRequest, SetPatch, UpdateRequest
from connectors.registry import load
from tests.cloze.conftest import API_KEY

APP = "crm.example.com"


def patch(add: tuple[str, ...] = (), remove: tuple[str, ...] = ()) -> SetPatch:
    return SetPatch(add=frozenset(add), remove=frozenset(remove))


def link(uid: str) -> AppLink:
    return AppLink(APP, uid, "Example CRM", f"https://crm.example.com/person/{uid}")


def test_registered_and_settings_validated() -> None:
    assert load("cloze") is ClozeConnector
    settings = ClozeSettings(api_key="k" * 12)
    assert settings.base_url == "https://api.cloze.com" and settings.auth == "api_key" and settings.verify_tls
    assert "k" * 12 not in repr(settings)
    with pytest.raises(ValidationError) as err:
        ClozeSettings(api_key="secret-value-1", apikey="typo")
    assert "secret-value-1" not in str(err.value)
    with pytest.raises(ValidationError):
        ClozeSettings(api_key="x" * 8, base_url="ftp://api.cloze.com")
    with pytest.raises(ValidationError):
        ClozeSettings(api_key="x" * 8, page_size=5000)
    tuned = ClozeSettings(
        api_key="x" * 8, api_assumptions={"keywords_write": "merge", "direct_id_form": "prefixed"}
    )
    assert tuned.api_assumptions.direct_uniqueid("person", "abc") == "direct:abc"


def test_check_and_describe(connector: ClozeConnector) -> None:
    connector.check()
    facts = connector.describe()
    assert facts["account"] == "owner@example.com"
    assert "current" in [s["key"] for s in facts["stages"]["people"]]
    assert any(f["id"] == "value" for f in facts["custom_fields"])


def test_changes_full_then_incremental(emulator: ClozeEmulator, connector: ClozeConnector) -> None:
    emulator.seed(120)
    pages = list(connector.changes("person", None))
    records = [r for p in pages for r in p.records]
    assert len(records) == 120 and len({r.id for r in records}) == 120
    stamps = [r.modified_at or 0 for r in records]
    assert stamps == sorted(stamps)
    cursor = pages[-1].cursor
    assert cursor is not None and list(connector.changes("person", cursor)) == []
    victim = records[5]
    connector.update("person", [UpdateRequest(victim.id, {"notes": "called on Monday"})])
    again = [r for p in connector.changes("person", cursor) for r in p.records]
    assert [r.id for r in again] == [victim.id] and again[0].fields["notes"] == "called on Monday"


def test_current_cursor_sees_only_later_changes(emulator: ClozeEmulator, connector: ClozeConnector) -> None:
    emulator.seed(10)
    cursor = connector.current_cursor("company")
    assert cursor is not None and list(connector.changes("company", cursor)) == []
    target = emulator.records("company")[0]["direct"]
    connector.update("company", [UpdateRequest(target, {"industry": "Bakeries"})])
    assert [r.id for p in connector.changes("company", cursor) for r in p.records] == [target]


def test_list_all_get_and_mapping(emulator: ClozeEmulator, connector: ClozeConnector) -> None:
    emulator.seed(60)
    people = [r for page in connector.list_all("person") for r in page]
    assert len(people) == 60
    employed = next(r for r in people if r.fields["companies"])
    assert employed.fields["company"] and employed.fields["title"]
    assert all(set(r.fields) >= {"first", "emails", "tags", "stage", "custom:lead-source"} for r in people)
    projects = [r for page in connector.list_all("project") for r in page]
    assert projects and all(r.fields["value"] and r.fields["close_date"] for r in projects)
    assert all(r.fields["companies"] for r in projects)
    got = connector.get("person", [people[0].id, "AAAAAAAAAAAAAAAAAAAAAA"])
    assert list(got) == [people[0].id] and got[people[0].id].fields == people[0].fields


def test_create_is_idempotent_by_app_link(emulator: ClozeEmulator, connector: ClozeConnector) -> None:
    navy = emulator.add_record("company", {"name": "Navy", "domains": ["navy.example"]})
    request = CreateRequest(
        "k1",
        {
            "first": "Grace",
            "last": "Hopper",
            "title": "Admiral",
            "company": "Navy",
            "emails": patch(("grace@navy.example",)),
            "phones": patch(("+1 555 0100",)),
            "tags": patch(("vip", "newsletter")),
            "stage": "lead",
            "segment": "customer",
            "addresses": patch(("1 Main St, Arlington, VA 22201, US",)),
            "custom:lead-source": "event",
            "companies": patch((navy,)),
        },
        app_link=link("501"),
    )
    first = connector.create("person", [request])[0]
    assert first.ok and first.id and first.record is not None
    fields = first.record.fields
    assert fields["title"] == "Admiral" and fields["company"] == "Navy"
    assert fields["addresses"] == ["1 Main St, Arlington, VA 22201, US"]
    assert sorted(fields["tags"]) == ["newsletter", "vip"] and fields["custom:lead-source"] == "event"
    assert fields["companies"] == [navy] and first.record.app_links[0].key == (APP, "501")
    again = connector.create("person", [request])[0]
    assert again.ok and again.id == first.id and len(emulator.records("person")) == 1
    assert connector.find_linked("person", "501").id == first.id
    assert connector.find_linked("person", "999") is None


def test_update_changes_only_named_fields(emulator: ClozeEmulator, connector: ClozeConnector) -> None:
    npl = emulator.add_record("company", {"name": "NPL", "phones": [{"value": "+44 20 7946 0000"}]})
    created = connector.create(
        "person",
        [
            CreateRequest(
                "k",
                {
                    "first": "Alan",
                    "last": "Turing",
                    "notes": "keep me",
                    "emails": patch(("alan@x.example",)),
                    "tags": patch(("a", "b")),
                    "addresses": patch(("Old Rd 1, Wilmslow",)),
                    "companies": patch((npl,)),
                },
                app_link=link("7"),
            )
        ],
    )[0]
    assert created.id is not None
    result = connector.update(
        "person",
        [
            UpdateRequest(
                created.id,
                {
                    "emails": patch(("turing@x.example",), ("alan@x.example",)),
                    "tags": patch(("c",), ("a",)),
                    "addresses": patch(("New Rd 2, Manchester",), ("Old Rd 1, Wilmslow",)),
                    "companies": patch(remove=(npl,)),
                    "title": "Reader",
                    "stage": None,
                },
                add_app_link=AppLink("other.example", "x1"),
                remove_app_link=link("7"),
            )
        ],
    )[0]
    assert result.ok and result.record is not None
    f = result.record.fields
    assert f["emails"] == ["turing@x.example"] and f["tags"] == ["b", "c"]
    assert f["addresses"] == ["New Rd 2, Manchester"] and f["companies"] == []
    assert f["title"] == "Reader" and f["stage"] is None
    assert f["notes"] == "keep me" and f["first"] == "Alan", "fields not named are never touched"
    assert [l.key for l in result.record.app_links] == [("other.example", "x1")]
    assert len(emulator.records("company")) == 1, "unlinking keeps the company"


def test_title_change_stays_one_job_when_the_company_comes_from_a_relation(
    emulator: ClozeEmulator, connector: ClozeConnector
) -> None:
    """Cloze merges jobs by organization: a job with no organization keeps its place when retitled."""
    acme = emulator.add_record("company", {"name": "Acme", "domains": ["acme.example"]})
    direct = emulator.add_record("person", {
        "first": "Ann", "emails": [{"value": "ann@acme.example"}],
        "workHistory": [{"organization": "", "title": "Owner"}], "companies": [{"direct": acme}],
    })
    before = connector.get("person", [direct])[direct].fields
    assert (before["title"], before["company"]) == ("Owner", "Acme")
    result = connector.update("person", [UpdateRequest(direct, {"title": "Chair"})])[0]
    assert result.ok and result.record is not None
    assert (result.record.fields["title"], result.record.fields["company"]) == ("Chair", "Acme")
    stored = emulator.get_record("person", direct)
    assert stored is not None and [j["title"] for j in stored["workHistory"]] == ["Chair"]
    moved = connector.update("person", [UpdateRequest(direct, {"company": "Initech"})])[0]
    assert moved.ok and moved.record is not None
    assert (moved.record.fields["title"], moved.record.fields["company"]) == ("Chair", "Initech")


def test_update_without_changes_writes_nothing(emulator: ClozeEmulator, connector: ClozeConnector) -> None:
    direct = emulator.add_record("person", {"first": "Q", "emails": [{"value": "q@x.example"}]})
    writes = emulator.writes
    result = connector.update("person", [UpdateRequest(direct, {}, add_app_link=None)])[0]
    assert result.ok and result.record is not None and emulator.writes == writes


def test_company_and_project_writes(emulator: ClozeEmulator, connector: ClozeConnector) -> None:
    company = connector.create(
        "company",
        [
            CreateRequest(
                "c",
                {
                    "name": "Initech",
                    "domains": patch(("initech.example", "initech-old.example")),
                    "industry": "Software",
                    "custom:account-number": "AC-1",
                },
                app_link=link("c1"),
            )
        ],
    )[0]
    assert company.ok and company.record is not None
    updated = connector.update(
        "company",
        [
            UpdateRequest(
                company.id or "",
                {"domains": patch(remove=("initech-old.example",)), "description": "TPS reports"},
            )
        ],
    )[0]
    assert updated.record is not None and updated.record.fields["domains"] == ["initech.example"]
    assert updated.record.fields["custom:account-number"] == "AC-1"
    peter = emulator.add_record("person", {"first": "Peter", "phones": [{"value": "+1 555 0199"}]})
    project = connector.create(
        "project",
        [
            CreateRequest(
                "p",
                {
                    "name": "Upgrade",
                    "value": "2500.50",
                    "close_date": "2026-06-30",
                    "stage": "won",
                    "people": patch((peter,)),
                    "companies": patch((company.id or "",)),
                    "tags": patch(("q3",)),
                },
                app_link=link("p1"),
            )
        ],
    )[0]
    assert project.ok and project.record is not None
    pf = project.record.fields
    assert (pf["value"], pf["close_date"], pf["stage"]) == ("2500.5", "2026-06-30", "won")
    assert pf["people"] == [peter] and pf["companies"] == [company.id]
    cleared = connector.update(
        "project", [UpdateRequest(project.id or "", {"value": None, "close_date": None})]
    )[0]
    assert cleared.record is not None and cleared.record.fields["value"] is None
    assert cleared.record.fields["close_date"] is None


def test_one_bad_record_is_a_result_not_an_exception(
    emulator: ClozeEmulator, connector: ClozeConnector
) -> None:
    results = connector.create(
        "project",
        [
            CreateRequest("bad-stage", {"name": "X", "stage": "someday"}, app_link=link("x")),
            CreateRequest("no-link", {"name": "Y"}),
            CreateRequest("good", {"name": "Z"}, app_link=link("z")),
        ],
    )
    assert [r.ok for r in results] == [False, False, True]
    assert results[0].code == "26" and "stage" in (results[0].error or "")
    assert results[1].code == "11" and results[1].error == "At least one appLink must be specified"
    missing = connector.update("person", [UpdateRequest("AAAAAAAAAAAAAAAAAAAAAA", {"first": "x"})])[0]
    assert not missing.ok and missing.code == "62"


def test_merge_mode_refuses_tag_removal(emulator: ClozeEmulator, connector: ClozeConnector) -> None:
    settings = connector.cfg.model_copy(
        update={
            "api_assumptions": connector.cfg.api_assumptions.model_copy(update={"keywords_write": "merge"})
        }
    )
    emulator.set_behaviour(keywords_mode="merge")
    with ClozeConnector(settings, connector.context) as merging:
        direct = emulator.add_record(
            "person", {"first": "M", "emails": [{"value": "m@x.example"}], "keywords": ["a"]}
        )
        added = merging.update("person", [UpdateRequest(direct, {"tags": patch(("b",))})])[0]
        assert added.ok and added.record is not None and added.record.fields["tags"] == ["a", "b"]
        refused = merging.update("person", [UpdateRequest(direct, {"tags": patch(remove=("a",))})])[0]
        assert not refused.ok and refused.code == "unsupported"


def test_lookup(emulator: ClozeEmulator, connector: ClozeConnector) -> None:
    emulator.add_record(
        "person",
        {
            "first": "Ada",
            "last": "Lovelace",
            "emails": [{"value": "ada@x.example"}],
            "phones": [{"value": "+44 20 7946 0000"}],
        },
    )
    emulator.add_record("company", {"name": "Analytical Engines", "domains": ["engines.example"]})
    assert [r.fields["first"] for r in connector.lookup("person", "emails", "ADA@x.example")] == ["Ada"]
    assert len(connector.lookup("person", "phones", "+44 20 7946 0000")) == 1
    assert [r.fields["name"] for r in connector.lookup("company", "domains", "www.engines.example")] == [
        "Analytical Engines"
    ]
    assert [r.fields["last"] for r in connector.lookup("person", "name", "ada  lovelace")] == ["Lovelace"]
    assert connector.lookup("person", "emails", "nobody@x.example") == []


def test_delete(emulator: ClozeEmulator, connector: ClozeConnector) -> None:
    direct = emulator.add_record(
        "project", {"name": "Gone soon", "appLinks": [{"source": APP, "uniqueid": "g"}]}
    )
    first, second = connector.delete("project", [direct, direct])
    assert first.ok and not first.details and second.ok and second.details == {"already_absent": True}
    assert emulator.records("project") == []


def test_connector_never_leaks_the_key(emulator: ClozeEmulator) -> None:
    emulator.set_faults(error_next=100)
    settings = ClozeSettings(
        base_url=emulator.url,
        api_key=API_KEY,
        retry_attempts=2,
        retry_initial_wait=0.01,
        rate_per_second=1000,
    )
    conn = ClozeConnector(settings, ConnectorContext(pair="p", side="cloze", app_id=APP))
    with conn, pytest.raises(TransientApiError) as err:
        conn.check()
    assert API_KEY not in str(err.value) and API_KEY not in repr(err.value)
