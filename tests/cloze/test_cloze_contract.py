"""Contract of ``ClozeClient``: the same tests against the emulator and (when configured) the real API.

``connectors/cloze/CONTRACT.md`` lists what the real API must do for these to pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from connectors.cloze.client import ClozeClient
from connectors.errors import AuthError, RecordRejected
from connectors.model import AppLink, Entity
from tests.cloze.conftest import TEST_SOURCE, Target


def eventually(target: Target, read: Callable[[], Any], ok: Callable[[Any], bool] = bool) -> Any:
    """The emulator is consistent at once; the real service may index writes with a short delay."""
    tries = 1 if target.emulator is not None else 8
    value = read()
    for _ in range(tries - 1):
        if ok(value):
            break
        time.sleep(1.0)
        value = read()
    return value


def make_person(t: Target, label: str, **extra: Any) -> dict[str, Any]:
    body = {
        "first": "Syncd",
        "last": f"Test {label}",
        "emails": [{"value": t.email(label)}],
        "appLinks": [{"source": TEST_SOURCE, "uniqueid": t.uid(label), "label": "cloze-syncd test"}],
        **extra,
    }
    t.client.create("person", body)
    record = eventually(t, lambda: t.client.get_by_app_link("person", TEST_SOURCE, t.uid(label)))
    assert record is not None, "a created person must be readable by its App Link"
    t.track("person", t.client.assumptions.direct_uniqueid("person", record["direct"]))
    return dict(record)


def test_people_create_get_update_find_delete(target: Target) -> None:
    c = target.client
    person = make_person(target, "crud", stage="lead", keywords=["alpha"])
    direct = person["direct"]
    assert person["first"] == "Syncd"
    assert [e["value"] for e in person["emails"]] == [target.email("crud")]
    assert isinstance(person["lastChanged"], int) and isinstance(person.get("syncKey"), str)

    by_email = c.get("person", target.email("crud"))
    by_direct = c.get_by_direct("person", direct)
    assert by_email is not None and by_email["direct"] == direct
    assert by_direct is not None and by_direct["direct"] == direct

    c.update("person", {"direct": direct, "last": "Test renamed", "phones": [{"value": "+1 415 555 0100"}]})
    updated = eventually(
        target, lambda: c.get_by_direct("person", direct), lambda r: r and r.get("last") == "Test renamed"
    )
    assert updated["last"] == "Test renamed"
    assert "+1 415 555 0100" in [p["value"] for p in updated["phones"]]
    assert [e["value"] for e in updated["emails"]] == [target.email("crud")], (
        "update must not drop unnamed fields"
    )

    found = eventually(
        target,
        lambda: [
            r
            for page in c.iter_find("person", page_size=50, freeformquery=target.email("crud"))
            for r in page
        ],
        lambda rs: any(r.get("direct") == direct for r in rs),
    )
    assert any(r.get("direct") == direct for r in found)

    assert c.delete_by_direct("person", direct) is True
    assert eventually(target, lambda: c.get_by_direct("person", direct), lambda r: r is None) is None
    assert c.delete_by_direct("person", direct) is False, "deleting an unknown record is 'not found' (62)"


def test_companies_create_get_update_delete(target: Target) -> None:
    c = target.client
    domain = target.domain("co")
    c.create(
        "company",
        {
            "name": f"Syncd Test {target.run_id}",
            "domains": [domain],
            "appLinks": [{"source": TEST_SOURCE, "uniqueid": target.uid("co")}],
        },
    )
    company = eventually(target, lambda: c.get("company", domain))
    assert company is not None and domain in company["domains"]
    target.track("company", domain)
    c.update("company", {"direct": company["direct"], "industry": "Testing"})
    changed = eventually(
        target, lambda: c.get("company", domain), lambda r: r and r.get("industry") == "Testing"
    )
    assert changed["industry"] == "Testing" and changed["direct"] == company["direct"]
    assert c.get_by_app_link("company", TEST_SOURCE, target.uid("co"))["direct"] == company["direct"]
    assert c.delete("company", domain) is True
    assert eventually(target, lambda: c.get("company", domain), lambda r: r is None) is None


def test_projects_create_get_update_delete(target: Target) -> None:
    c = target.client
    client = make_person(target, "client")
    c.create(
        "project",
        {
            "name": f"Syncd test deal {target.run_id}",
            "appLinks": [{"source": TEST_SOURCE, "uniqueid": target.uid("deal")}],
            "stage": "future",
            "customFields": [{"id": "value", "type": "currency", "value": 1200}],
            "clientpeople": [{"emails": [{"value": target.email("client")}]}],
        },
    )
    project = eventually(target, lambda: c.get_by_app_link("project", TEST_SOURCE, target.uid("deal")))
    assert project is not None
    direct = project["direct"]
    target.track("project", f"direct:{direct}")
    # A reference reads back naming its record by ``direct`` id: relations sync by id.
    assert [ref.get("direct") for ref in project.get("clientpeople", [])] == [client["direct"]]
    assert c.get_by_direct("project", direct)["direct"] == direct
    values = {f["id"]: f.get("value") for f in project.get("customFields", [])}
    assert float(values["value"]) == 1200
    c.update("project", {"direct": direct, "stage": "current"})
    assert (
        eventually(
            target, lambda: c.get_by_direct("project", direct), lambda r: r and r.get("stage") == "current"
        )["stage"]
        == "current"
    )
    assert c.delete_by_direct("project", direct) is True


def test_same_app_link_twice_leaves_one_person(target: Target) -> None:
    first = make_person(target, "twice")
    target.client.create(
        "person",
        {
            "first": "Syncd",
            "last": "Test twice",
            "appLinks": [{"source": TEST_SOURCE.upper(), "uniqueid": target.uid("twice")}],
        },
    )
    again = target.client.get_by_app_link("person", TEST_SOURCE, target.uid("twice"))
    assert again is not None and again["direct"] == first["direct"]
    matches = [r for p in target.client.iter_find("person", freeformquery=target.email("twice")) for r in p]
    assert len({r["direct"] for r in matches}) <= 1


def test_same_email_twice_leaves_one_person(target: Target) -> None:
    c = target.client
    email = target.email("mail")
    c.create("person", {"first": "Syncd", "last": "Mail", "emails": [{"value": email}]})
    c.create(
        "person",
        {
            "first": "Syncd",
            "last": "Mail",
            "emails": [{"value": email.upper()}],
            "phones": [{"value": "+1 415 555 0111"}],
        },
    )
    person = eventually(target, lambda: c.get("person", email))
    assert person is not None
    target.track("person", email)
    matches = eventually(target, lambda: [r for p in c.iter_find("person", freeformquery=email) for r in p])
    assert {r["direct"] for r in matches} == {person["direct"]}
    assert "+1 415 555 0111" in [p["value"] for p in person.get("phones", [])]


def test_app_links_and_keywords(target: Target) -> None:
    c = target.client
    person = make_person(target, "links", keywords=["one", "two"])
    target_ref = c.target_of(person)
    extra = AppLink(TEST_SOURCE, target.uid("links-2"), "second")
    c.add_app_link("person", target_ref, extra)
    assert (
        eventually(target, lambda: c.get_by_app_link("person", TEST_SOURCE, extra.uniqueid))["direct"]
        == person["direct"]
    )
    c.remove_app_link("person", target_ref, extra)
    assert (
        eventually(
            target, lambda: c.get_by_app_link("person", TEST_SOURCE, extra.uniqueid), lambda r: r is None
        )
        is None
    )
    c.set_keywords("person", target_ref, ["two", "three"])
    after = eventually(
        target,
        lambda: c.get_by_direct("person", person["direct"]),
        lambda r: r and "three" in r.get("keywords", []),
    )
    assert after["keywords"] == ["two", "three"], "keywords_write='replace': the list is replaced"


def test_find_paging_and_count(target: Target) -> None:
    c = target.client
    for label in ("page-a", "page-b", "page-c"):
        make_person(target, label)
    total = c.count("person")
    first, second = c.find("person", page=1, page_size=2), c.find("person", page=2, page_size=2)
    assert total >= 3 and first.available == total
    assert len(first.records) == 2 and 1 <= len(second.records) <= 2
    assert not {r["direct"] for r in first.records} & {r["direct"] for r in second.records}
    everything = [r for page in c.iter_find("person", page_size=2) for r in page] if total <= 60 else None
    if everything is not None:
        assert len({r["direct"] for r in everything}) == total


def test_feed_order_cursor_resume_and_keysonly(target: Target) -> None:
    c = target.client
    start = c.feed_start("person", modifiedafter="now", pagesize=100)
    a = make_person(target, "feed-a")
    b = make_person(target, "feed-b")

    def drain(cursor: str) -> tuple[list[dict[str, Any]], str]:
        seen: list[dict[str, Any]] = []
        for page in c.iter_feed("person", cursor):
            seen += page.records
            cursor = page.cursor
        return seen, cursor

    seen, cursor = eventually(
        target,
        lambda: drain(start.cursor),
        lambda r: {a["direct"], b["direct"]} <= {x["direct"] for x in r[0]},
    )
    ours = [x for x in seen if x["direct"] in (a["direct"], b["direct"])]
    assert [x["direct"] for x in ours][-2:] == [a["direct"], b["direct"]]
    stamps = [x["lastChanged"] for x in seen]
    assert stamps == sorted(stamps), "feed records come in ascending lastChanged"

    c.update("person", {"direct": a["direct"], "notes": "changed after the cursor"})
    again, _ = eventually(
        target, lambda: drain(cursor), lambda r: any(x["direct"] == a["direct"] for x in r[0])
    )
    assert a["direct"] in [x["direct"] for x in again]
    assert b["direct"] not in [x["direct"] for x in again], (
        "resuming from a cursor skips what it already gave"
    )

    keys = c.live_sync_keys("person")
    b_now = c.get_by_direct("person", b["direct"])
    assert b_now is not None and b_now["syncKey"] in keys
    c.delete_by_direct("person", b["direct"])
    assert eventually(
        target, lambda: c.live_sync_keys("person"), lambda k: b_now["syncKey"] not in k
    ).isdisjoint({b_now["syncKey"]})


def test_business_error_is_typed_and_not_retried(target: Target) -> None:
    c = target.client
    before = c.session.requests_sent
    with pytest.raises(RecordRejected) as err:
        c.create("project", {"name": f"Syncd no link {target.run_id}"})
    assert c.session.requests_sent - before == 1
    assert err.value.code == 11 and err.value.message, "errorcode 11: a project needs an App Link"
    before = c.session.requests_sent
    with pytest.raises(RecordRejected) as bad_stage:
        c.create(
            "project",
            {
                "name": "x",
                "stage": "no-such-stage",
                "appLinks": [{"source": TEST_SOURCE, "uniqueid": target.uid("bad")}],
            },
        )
    assert bad_stage.value.code == 26 and "stage" in bad_stage.value.message
    assert c.session.requests_sent - before == 1


def test_refused_credentials_raise_auth_error_once(target: Target) -> None:
    wrong = "wrong-key-" + target.run_id
    bad = ClozeClient(
        wrong,
        base_url=str(target.client.session.client.base_url),
        user="nobody@example.com",
        rate_per_second=None,
    )
    try:
        with pytest.raises(AuthError) as err:
            bad.profile()
        assert bad.session.requests_sent == 1, "a 401 is never retried"
        assert wrong not in str(err.value) and wrong not in repr(err.value)
    finally:
        bad.close()


def test_account_settings(target: Target) -> None:
    c = target.client
    assert "@" in c.profile().get("email", "")
    assert {"lead", "current"} <= {s["key"] for s in c.stages("people")}
    assert {s["key"] for s in c.stages("projects")} >= {"future", "current", "won", "lost"}
    assert c.segments("people") and all("key" in s and "name" in s for s in c.segments("people"))
    assert isinstance(c.fields(), list) and isinstance(c.fields("project"), list)
    assert isinstance(c.steps(), dict)
    assert "people" in c.views()


def test_webhook_subscribe_list_unsubscribe(target: Target) -> None:
    c = target.client
    reference = f"syncd-test-{target.run_id}"
    uid = c.subscribe(
        "person.change",
        f"https://example.com/hooks/{target.run_id}",
        scope="local",
        client_reference=reference,
    )
    try:
        listed = [s for s in c.webhooks() if s.get("uniqueid") == uid]
        assert listed and listed[0]["event"] == "person.change"
        replaced = c.subscribe(
            "person.change",
            f"https://example.com/hooks/{target.run_id}/v2",
            scope="local",
            client_reference=reference,
        )
        ids = {s.get("uniqueid") for s in c.webhooks()}
        assert replaced in ids and uid not in ids, "same event + client_reference replaces the subscription"
        uid = replaced
    finally:
        assert c.unsubscribe("person.change", uniqueid=uid) is True
    assert uid not in {s.get("uniqueid") for s in c.webhooks()}


def test_timeline_writes(target: Target) -> None:
    c = target.client
    person = make_person(target, "timeline")
    c.create_content(
        {
            "style": "note",
            "source": TEST_SOURCE,
            "uniqueid": target.uid("note"),
            "date": int(time.time() * 1000) - 60_000,
            "from": target.email("timeline"),
            "subject": "cloze-syncd test note",
            "body": "hello",
            "references": [{"value": target.email("timeline")}],
        }
    )
    c.create_todo({"subject": "cloze-syncd test to-do", "participants": [target.email("timeline")]})
    with pytest.raises(RecordRejected) as err:
        c.create_communication(
            {
                "style": "call",
                "date": int(time.time() * 1000) - 60_000,
                "from": target.email("timeline"),
                "subject": "x",
                "references": [{"value": person["syncKey"]}],
            }
        )
    assert err.value.code == 32, "a reference must be an address (email, phone, domain, App Link), not an id"


ENTITIES: tuple[Entity, ...] = ("person", "company", "project")


@pytest.mark.parametrize("entity", ENTITIES)
def test_get_unknown_is_none(target: Target, entity: Entity) -> None:
    assert target.client.get_by_direct(entity, "AAAAAAAAAAAAAAAAAAAAAA") is None
    assert target.client.get_by_app_link(entity, TEST_SOURCE, target.uid("never-created")) is None
