"""Emulator behaviour where the spec is specific (envelope, merges, feed, filters) and its documented choices."""

from __future__ import annotations

import base64
import itertools
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.cloze.client import ClozeClient
from connectors.cloze.emulator import ClozeEmulator
from connectors.cloze.seed import generate
from connectors.errors import RecordRejected
from tests.cloze.conftest import API_KEY


def raw(emulator: ClozeEmulator, method: str, path: str, **kwargs: object) -> httpx.Response:
    with httpx.Client(base_url=emulator.url) as http:
        return http.request(method, path, **kwargs)  # type: ignore[arg-type]


def test_auth_and_unknown_path_bodies(emulator: ClozeEmulator) -> None:
    bad_key = raw(emulator, "GET", "/v1/user/profile", params={"api_key": "nope"})
    assert bad_key.status_code == 401 and bad_key.json() == {
        "errorcode": 1,
        "message": "The API key was not found",
    }
    bad_token = raw(emulator, "GET", "/v1/user/profile", headers={"Authorization": "Bearer nope"})
    assert bad_token.status_code == 401 and bad_token.json() == {
        "message": "Invalid token: access token is invalid"
    }
    assert raw(emulator, "GET", "/v1/user/profile").status_code == 401
    missing = raw(emulator, "GET", "/v1/communications", params={"api_key": API_KEY})
    assert missing.status_code == 404 and missing.json() == {
        "errorcode": 404,
        "message": "Resource Not Found",
    }
    wrong_method = raw(emulator, "GET", "/v1/people/delete", params={"api_key": API_KEY, "uniqueid": "x"})
    assert wrong_method.status_code == 404
    ok = raw(emulator, "GET", "/v1/profile", params={"api_key": API_KEY, "user": "owner@example.com"})
    assert ok.json()["profile"]["email"] == "owner@example.com"


def test_create_returns_only_errorcode_and_merges_by_identifiers(emulator: ClozeEmulator) -> None:
    reply = raw(
        emulator,
        "POST",
        "/v1/companies/create",
        params={"api_key": API_KEY},
        json={"name": "Acme", "domains": ["https://www.Acme.example/"]},
    )
    assert reply.json() == {"errorcode": 0}
    raw(
        emulator,
        "POST",
        "/v1/companies/create",
        params={"api_key": API_KEY},
        json={"name": "Acme Inc", "domains": ["acme.example"], "phones": [{"value": "+1 555 0100"}]},
    )
    companies = emulator.records("company")
    assert len(companies) == 1
    assert companies[0]["name"] == "Acme Inc" and companies[0]["domains"] == ["acme.example"]


def test_payload_matching_two_records_merges_them(emulator: ClozeEmulator, client: ClozeClient) -> None:
    by_mail = emulator.add_record("person", {"first": "Ann", "emails": [{"value": "ann@x.example"}]})
    by_link = emulator.add_record(
        "person", {"first": "Annie", "appLinks": [{"source": "crm.example.com", "uniqueid": "7"}]}
    )
    old_key = emulator.get_record("person", by_link)["syncKey"]
    client.create(
        "person",
        {
            "emails": [{"value": "ann@x.example"}],
            "appLinks": [{"source": "crm.example.com", "uniqueid": "7"}],
        },
    )
    people = emulator.records("person")
    assert [p["direct"] for p in people] == [by_link], "the App Link match survives; direct ids stay stable"
    assert people[0]["syncKey"] != old_key, "a merge gives the survivor a new syncKey"
    assert people[0]["emails"] == [{"value": "ann@x.example"}]
    assert client.get_by_direct("person", by_mail) is None


def test_arrays_merge_and_archived_elements_are_removed(emulator: ClozeEmulator, client: ClozeClient) -> None:
    direct = emulator.add_record(
        "person",
        {
            "first": "Bo",
            "emails": [{"value": "bo@x.example"}],
            "appLinks": [{"source": "a.example", "uniqueid": "1"}],
        },
    )
    client.update(
        "person",
        {
            "direct": direct,
            "emails": [{"value": "bo2@x.example", "work": True}],
            "appLinks": [{"source": "A.example", "uniqueid": "1", "archived": True}],
        },
    )
    person = emulator.get_record("person", direct)
    assert [e["value"] for e in person["emails"]] == ["bo@x.example", "bo2@x.example"]
    assert "appLinks" not in person
    client.update("person", {"direct": direct, "emails": [{"value": "BO@x.example", "archived": True}]})
    assert [e["value"] for e in emulator.get_record("person", direct)["emails"]] == ["bo2@x.example"]


@pytest.mark.parametrize(("mode", "expected"), [("replace", ["c"]), ("merge", ["a", "b", "c"])])
def test_keywords_mode(emulator: ClozeEmulator, client: ClozeClient, mode: str, expected: list[str]) -> None:
    emulator.set_behaviour(keywords_mode=mode)
    direct = emulator.add_record(
        "person", {"first": "K", "emails": [{"value": "k@x.example"}], "keywords": ["a", "b"]}
    )
    client.update("person", {"direct": direct, "keywords": ["c"]})
    assert emulator.get_record("person", direct)["keywords"] == expected


def test_last_changed_is_strictly_increasing_and_noop_does_not_bump(
    emulator: ClozeEmulator, client: ClozeClient
) -> None:
    directs = []
    for i in range(20):
        client.create("person", {"first": f"P{i}", "emails": [{"value": f"p{i}@x.example"}]})
    stamps = sorted(p["lastChanged"] for p in emulator.records("person"))
    assert len(set(stamps)) == 20
    directs = [p["direct"] for p in emulator.records("person")]
    before = emulator.get_record("person", directs[0])["lastChanged"]
    client.update("person", {"direct": directs[0], "first": "P0"})
    assert emulator.get_record("person", directs[0])["lastChanged"] == before
    emulator.set_behaviour(noop_bumps_last_changed=True)
    client.update("person", {"direct": directs[0], "first": "P0"})
    assert emulator.get_record("person", directs[0])["lastChanged"] > before


def test_error_codes(emulator: ClozeEmulator, client: ClozeClient) -> None:
    cases = [
        (lambda: client.create("person", {"first": "Nobody"}), 11),
        (lambda: client.create("project", {"name": "Orphan"}), 11),
        (lambda: client.create("person", {"emails": [{"value": "s@x.example"}], "segment": "martians"}), 26),
        (lambda: client.update("project", {"direct": "gone", "stage": "won"}), 62),
        (lambda: client.feed_next("person", "bm90LWEtY3Vyc29y"), 26),
    ]
    for call, code in cases:
        with pytest.raises(RecordRejected) as err:
            call()
        assert err.value.code == code, err.value.message
    assert client.delete("person", "nobody@x.example") is False
    client.create("person", {"first": "Skip", "skipWithoutIds": True})
    assert emulator.records("person") == []


def test_segment_labels_and_find_filters(emulator: ClozeEmulator, client: ClozeClient) -> None:
    client.create(
        "person",
        {
            "first": "A",
            "emails": [{"value": "a@x.example"}],
            "segment": "Customers",
            "stage": "Active",
            "assignTo": "rep@example.com",
        },
    )
    client.create(
        "person",
        {
            "first": "B",
            "emails": [{"value": "b@x.example"}],
            "segment": "partner",
            "phones": [{"value": "+1 (415) 555-0199"}],
        },
    )
    client.create("person", {"first": "C", "emails": [{"value": "c@x.example"}]})

    def names(**f: Any) -> list[str]:
        return sorted(r["first"] for r in client.find("person", page_size=50, **f).records)

    assert names(segment="customer") == ["A"] and names(segment="Customers") == ["A"]
    assert names(segment="none") == ["C"] and names(segment="any") == ["A", "B"]
    assert names(stage="current") == ["A"] and names(assigned=True) == ["A"]
    assert names(assignee="REP@example.com") == ["A"]
    assert names(freeformquery="4155550199") == ["B"] and names(freeformquery="c@x") == ["C"]
    assert client.count("person", stage="none") == 2
    newest = client.find("person", sort="lastchanged").records
    assert [r["first"] for r in newest] == ["C", "B", "A"]


def test_projects_find_extras(emulator: ClozeEmulator, client: ClozeClient) -> None:
    for name, stage in (("Won deal", "won"), ("Lost deal", "lost"), ("Open deal", "current")):
        client.create(
            "project",
            {
                "name": name,
                "stage": stage,
                "projectTeam": ["me@example.com"],
                "appLinks": [{"source": "crm.example.com", "uniqueid": name}],
            },
        )
    assert [p["name"] for p in client.find("project", hidelostdone=True).records] == ["Open deal"]
    assert client.count("project", collaborator="me@example.com") == 3


def test_feed_cursor_keysonly_and_audited_changes(emulator: ClozeEmulator, client: ClozeClient) -> None:
    emulator.seed(25)
    pages = list(client.iter_feed("person", pagesize=7))
    assert [len(p.records) for p in pages] == [7, 7, 7, 4, 0]
    keys = [(r["lastChanged"], r["syncKey"]) for p in pages for r in p.records]
    assert keys == sorted(keys)
    assert base64.urlsafe_b64decode(pages[0].cursor + "==").startswith(b"kind=people")
    assert pages[0].available == 25
    tail = pages[-1].cursor
    direct = pages[0].records[0]["direct"]
    audited = client.feed_start("person", modifiedafter="now", includeauditedchanges=True)
    client.update("person", {"direct": direct, "stage": "past"})
    batch = client.feed_next("person", tail)
    assert [r["direct"] for r in batch.records] == [direct]
    changes = client.feed_next("person", audited.cursor)
    assert changes.changes[0]["stage"]["after"] == "past" and "_since" in changes.changes[0]
    keys_only = client.feed_start("person", keysonly=True, pagesize=1000)
    assert all(set(r) == {"syncKey"} for r in keys_only.records) and len(keys_only.records) == 25


def test_feed_ignores_unknown_stage_filter(emulator: ClozeEmulator, client: ClozeClient) -> None:
    emulator.seed(5)
    assert len(client.feed_start("person", stage="no-such-stage", pagesize=100).records) == 5


_STEPS = itertools.count()


@pytest.fixture(scope="module")
def shared_client() -> Iterator[tuple[ClozeEmulator, ClozeClient]]:
    with (
        ClozeEmulator(api_key=API_KEY) as emu,
        ClozeClient(API_KEY, base_url=emu.url, rate_per_second=None) as c,
    ):
        yield emu, c


@settings(max_examples=15)
@given(ops=st.lists(st.tuples(st.sampled_from(["create", "update", "poll"]), st.integers(0, 5)), max_size=25))
def test_feed_never_skips_a_change(
    shared_client: tuple[ClozeEmulator, ClozeClient], ops: list[tuple[str, int]]
) -> None:
    emu, c = shared_client
    cursor = c.feed_start("person", modifiedafter="now", pagesize=3).cursor
    changed: set[str] = set()
    for op, n in [*ops, ("poll", 0)]:
        step = next(_STEPS)  # unique across examples: every write below is an effective change
        if op == "create":
            email = f"n{n}@x.example"
            c.create("person", {"first": f"N{n}", "notes": f"step {step}", "emails": [{"value": email}]})
            changed.add(c.get("person", email)["direct"])
        elif op == "update" and emu.records("person"):
            people = emu.records("person")
            target = people[n % len(people)]["direct"]
            c.update("person", {"direct": target, "notes": f"step {step}"})
            changed.add(target)
        elif op == "poll":
            seen: list[dict[str, Any]] = []
            for page in c.iter_feed("person", cursor):
                seen += page.records
                cursor = page.cursor
            stamps = [r["lastChanged"] for r in seen]
            assert stamps == sorted(stamps)
            assert changed <= {r["direct"] for r in seen}
            changed.clear()


def test_timeline_rules(emulator: ClozeEmulator, client: ClozeClient) -> None:
    emulator.add_record("person", {"first": "T", "emails": [{"value": "t@x.example"}]})
    with pytest.raises(RecordRejected) as future:
        client.create_communication({"style": "meeting", "date": 32503680000000, "references": []})
    assert future.value.code == 38
    with pytest.raises(RecordRejected) as no_ids:
        client.create_content({"style": "note", "subject": "x"})
    assert no_ids.value.code == 11
    client.create_content(
        {
            "style": "note",
            "source": "crm.example.com",
            "uniqueid": "n1",
            "subject": "one",
            "references": [{"value": "t@x.example"}],
        }
    )
    client.create_content({"style": "note", "source": "crm.example.com", "uniqueid": "n1", "subject": "two"})
    assert [t["subject"] for t in emulator.store.timeline] == ["two"], (
        "source + uniqueid update the same note"
    )


def test_links_resolve_and_create_referenced_records(emulator: ClozeEmulator, client: ClozeClient) -> None:
    client.create(
        "project",
        {
            "name": "Fit-out",
            "appLinks": [{"source": "crm.example.com", "uniqueid": "p"}],
            "clientpeople": [{"emails": [{"value": "new@client.example"}], "name": "New Client"}],
            "clientcompanies": [{"name": "Client Co", "domains": ["client.example"]}],
        },
    )
    project = client.get_by_app_link("project", "crm.example.com", "p")
    assert project["clientpeople"][0]["emails"] == [{"value": "new@client.example"}]
    assert project["clientcompanies"][0]["domains"] == ["client.example"]
    assert len(emulator.records("person")) == 1 and len(emulator.records("company")) == 1
    client.update(
        "project",
        {"direct": project["direct"], "clientcompanies": [{"domains": ["client.example"], "archived": True}]},
    )
    assert "clientcompanies" not in client.get_by_direct("project", project["direct"])
    assert len(emulator.records("company")) == 1, "unlinking leaves the company in place"


def test_settings_are_validated(emulator: ClozeEmulator) -> None:
    with pytest.raises(TypeError):
        ClozeEmulator(no_such_switch=True)
    with pytest.raises(ValueError):
        emulator.set_behaviour(keywords_mode="sometimes")
    with pytest.raises(ValueError):
        emulator.set_faults(drop_rate=1.5)


def test_ids_and_seed_data_are_repeatable() -> None:
    assert generate(40, seed=3) == generate(40, seed=3)
    assert generate(40, seed=3) != generate(40, seed=4)
    data = generate(40, seed=3)
    assert (len(data.people), len(data.companies), len(data.projects)) == (40, 10, 8)
    assert len({p["emails"][0]["value"] for p in data.people}) == 40
    first, second = ClozeEmulator(seed=9), ClozeEmulator(seed=9)
    first.seed(10, seed=1)
    second.seed(10, seed=1)
    assert [r["direct"] for r in first.records("person")] == [r["direct"] for r in second.records("person")]
    assert all(r.get("clientcompanies") for r in first.records("project"))
