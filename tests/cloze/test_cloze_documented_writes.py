"""The Cloze connector on documented ground only, at about one API call per record written.

The emulator is set to the documented behaviour explicitly (App Link ``get`` for
projects only, ``direct`` ids in their documented forms), so these tests say what
the connector needs from Cloze whatever the emulator's defaults are.
"""

from __future__ import annotations

import pytest

from connectors.cloze import ClozeConnector
from connectors.cloze.emulator import ClozeEmulator
from connectors.model import AppLink, CreateRequest, SetPatch, UpdateRequest

APP = "crm.example.com"
N = 40


@pytest.fixture(autouse=True)
def documented(emulator: ClozeEmulator) -> None:
    emulator.set_behaviour(app_link_get="projects", direct_id_forms="documented")


def link(uid: str) -> AppLink:
    return AppLink(APP, uid, "Example CRM", f"https://crm.example.com/person/{uid}")


def people(n: int, prefix: str = "p") -> list[CreateRequest]:
    return [
        CreateRequest(
            f"{prefix}{i}",
            {"first": f"P{i}", "last": "Doc", "emails": SetPatch(add=frozenset([f"{prefix}{i}@doc.example"]))},
            app_link=link(f"{prefix}{i}"),
        )
        for i in range(n)
    ]


def calls(emulator: ClozeEmulator, before: int) -> int:
    return emulator.request_count() - before


def test_a_batch_of_creates_costs_one_call_each_plus_one_feed_read(
    emulator: ClozeEmulator, connector: ClozeConnector
) -> None:
    before = emulator.request_count()
    results = connector.create("person", people(N))
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    assert len({r.id for r in results}) == N
    for result, req in zip(results, people(N), strict=True):
        assert result.record is not None and (APP, req.key) in [(a.source, a.uniqueid) for a in result.record.app_links]
        assert result.record.fields["emails"] == [f"{req.key}@doc.example"]
    # N creates, one position before them and one feed read after (pages of 50 here)
    assert calls(emulator, before) <= N + 3, emulator.stats_snapshot()["requests"]
    assert emulator.request_count("GET /v1/people/get") == 0


def test_records_read_in_the_run_are_updated_without_a_fresh_read(
    emulator: ClozeEmulator, connector: ClozeConnector
) -> None:
    created = connector.create("person", people(N))
    listed = [r for page in connector.list_all("person") for r in page]
    assert len(listed) == N
    before = emulator.request_count()
    gets = emulator.request_count("GET /v1/people/get")
    results = connector.update(
        "person", [UpdateRequest(r.id or "", {"last": f"Changed{i}"}) for i, r in enumerate(created)]
    )
    assert all(r.ok for r in results)
    assert [r.record.fields["last"] if r.record else None for r in results] == [f"Changed{i}" for i in range(N)]
    assert emulator.request_count("GET /v1/people/get") == gets
    assert calls(emulator, before) <= N + 2, emulator.stats_snapshot()["requests"]
    stored = emulator.get_record("person", created[0].id or "")
    assert stored is not None and stored["last"] == "Changed0"


def test_an_app_link_added_with_the_fields_in_one_call(emulator: ClozeEmulator, connector: ClozeConnector) -> None:
    direct = emulator.add_record("person", {"first": "Ann", "last": "Lee", "emails": [{"value": "ann@doc.example"}]})
    [record] = connector.get("person", [direct]).values()
    updates = emulator.request_count("POST /v1/people/update")
    [result] = connector.update("person", [UpdateRequest(direct, {"last": "Lee-Smith"}, add_app_link=link("x1"))])
    assert result.ok and result.record is not None
    assert result.record.fields["last"] == "Lee-Smith" and (APP, "x1") in [(a.source, a.uniqueid) for a in result.record.app_links]
    assert emulator.request_count("POST /v1/people/update") == updates + 1
    assert record.id == direct


def test_find_linked_reads_the_feed_once_per_run_for_people(emulator: ClozeEmulator, connector: ClozeConnector) -> None:
    created = connector.create("person", people(N))
    connector.begin_run()  # a new run: nothing known
    feeds = emulator.request_count("GET /v1/people/feed")
    for i in (3, 17, 31):
        found = connector.find_linked("person", f"p{i}")
        assert found is not None and found.id == created[i].id
    assert connector.find_linked("person", "never") is None
    assert emulator.request_count("GET /v1/people/get") == 0
    assert emulator.request_count("GET /v1/people/feed") - feeds <= 2  # N / 50 pages + the empty one


def test_projects_are_found_by_their_documented_app_link_get(
    emulator: ClozeEmulator, connector: ClozeConnector
) -> None:
    [created] = connector.create("project", [CreateRequest("d1", {"name": "Deal"}, app_link=link("d1"))])
    assert created.ok
    connector.begin_run()
    feeds = emulator.request_count("GET /v1/projects/feed")
    found = connector.find_linked("project", "d1")
    assert found is not None and found.id == created.id
    assert emulator.request_count("GET /v1/projects/feed") == feeds


def test_creates_that_cloze_merges_into_one_record_come_back_with_one_id(
    emulator: ClozeEmulator, connector: ClozeConnector
) -> None:
    existing = emulator.add_record("person", {"first": "Ann", "last": "Lee", "phones": [{"value": "+1 555 0100"}]})
    twins = [
        CreateRequest(key, {"first": "Ann", "phones": SetPatch(add=frozenset(["+1 555 0100"]))}, app_link=link(key))
        for key in ("t1", "t2")
    ]
    results = connector.create("person", twins)
    assert [r.ok for r in results] == [True, True]
    assert {r.id for r in results} == {existing}


def test_a_create_that_changes_nothing_is_found_by_its_email(
    emulator: ClozeEmulator, connector: ClozeConnector
) -> None:
    [first] = connector.create("person", people(1))
    connector.begin_run()
    [again] = connector.create("person", people(1))  # repeated after a crash: Cloze merges it, nothing changes
    assert again.ok and again.id == first.id


def test_a_batch_of_updates_to_a_deleted_record_is_reported(emulator: ClozeEmulator, connector: ClozeConnector) -> None:
    created = connector.create("person", people(3))
    list(connector.list_all("person"))
    emulator.remove_record("person", created[1].id or "")
    results = connector.update("person", [UpdateRequest(r.id or "", {"last": "X"}) for r in created])
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].code == "62"


def test_many_records_by_id_come_from_one_feed_read_when_that_is_cheaper(
    emulator: ClozeEmulator, connector: ClozeConnector
) -> None:
    created = connector.create("person", people(N))
    connector.begin_run()
    gets = emulator.request_count("GET /v1/people/get")
    before = emulator.request_count()
    found = connector.get("person", [r.id or "" for r in created[:30]])
    assert sorted(found) == sorted(r.id or "" for r in created[:30])
    assert emulator.request_count("GET /v1/people/get") == gets
    assert calls(emulator, before) <= 3  # one count, one page of 50 and the empty one
    few = connector.get("person", [created[0].id or "", "no-such-id"])
    assert list(few) == [created[0].id]
