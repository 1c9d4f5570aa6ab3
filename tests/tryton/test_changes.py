"""The change feed against a real Tryton: ascending order, equal timestamps, NULL write_date, resume, deletes."""

from __future__ import annotations

import pytest

from connectors.errors import StateError
from connectors.model import ChangePage, CreateRequest, Entity, UpdateRequest
from connectors.tryton import TrytonConnector
from connectors.tryton.rpc import RpcClient
from tests.tryton.conftest import ConnectorFactory
from tests.tryton.helpers import category_id, party_row, person

pytestmark = pytest.mark.tryton


def drain(connector: TrytonConnector, entity: Entity, cursor: str | None) -> tuple[list[ChangePage], str | None]:
    pages = list(connector.changes(entity, cursor))
    last = cursor
    for page in pages:
        last = page.cursor or last
    return pages, last


def ids(pages: list[ChangePage]) -> list[str]:
    return [r.id for p in pages for r in p.records]


def test_feed_is_ascending_and_resumes_exactly(connector: TrytonConnector, admin: RpcClient, uid: str) -> None:
    start = connector.current_cursor("person")
    made = [connector.create("person", [person(f"k{i}", f"P{i}", "Feed", f"p{i}.{uid}@x.example")])[0].id
            for i in range(4)]
    pages, cursor = drain(connector, "person", start)
    records = [r for p in pages for r in p.records]
    assert [r.id for r in records] == made
    stamps = [r.modified_at or 0 for r in records]
    assert stamps == sorted(stamps)
    assert ids(drain(connector, "person", cursor)[0]) == []  # nothing new: nothing again
    connector.update("person", [UpdateRequest(id=made[1] or "", fields={"last": "Changed"})])
    pages, cursor2 = drain(connector, "person", cursor)
    assert ids(pages) == [made[1]] and pages[0].records[0].fields["last"] == "Changed"
    assert cursor2 is not None and cursor2 > (cursor or "")


def test_equal_timestamps_are_paged_by_id_without_loss(make_connector: ConnectorFactory, admin: RpcClient,
                                                       uid: str) -> None:
    connector = make_connector(page_size=2)
    start = connector.current_cursor("person")
    marker = category_id(admin, f"Person {uid}")
    # One create call is one transaction: Tryton stamps all five with the same instant.
    made = admin.create("party.party", [{"name": f"Same{i} {uid}", "categories": [("add", [marker])]}
                                        for i in range(5)])
    stamps = {party_row(admin, pid)["write_date"] or party_row(admin, pid)["create_date"] for pid in made}
    assert len(stamps) == 1
    pages = list(connector.changes("person", start))
    assert ids(pages) == [str(i) for i in made]
    assert [len(p.records) for p in pages][:3] == [2, 2, 1]
    # Resuming from the first page's cursor returns exactly the rest.
    rest, _ = drain(connector, "person", pages[0].cursor)
    assert ids(rest) == [str(i) for i in made[2:]]


def test_records_never_written_since_create_are_in_the_feed(make_connector: ConnectorFactory,
                                                            admin: RpcClient, uid: str) -> None:
    connector = make_connector(page_size=1)
    start = connector.current_cursor("project")
    made = [connector.create("project", [CreateRequest(key=str(i), fields={"name": f"Deal {i} {uid}"})])[0].id
            for i in range(3)]
    rows = admin.search_read("sale.opportunity", [("id", "in", [int(i or 0) for i in made])], ["write_date"])
    assert [r["write_date"] for r in rows] == [None, None, None]  # write_date stays NULL until the first edit
    pages, cursor = drain(connector, "project", start)
    assert ids(pages) == made
    connector.update("project", [UpdateRequest(id=made[0] or "", fields={"summary": "edited"})])
    assert ids(drain(connector, "project", cursor)[0]) == [made[0]]


def test_child_edits_archives_and_kind_changes(connector: TrytonConnector, admin: RpcClient, uid: str) -> None:
    [a] = connector.create("person", [person("a", "Al", "Child", f"al.{uid}@x.example")])
    [b] = connector.create("person", [person("b", "Bo", "Archive", f"bo.{uid}@x.example")])
    [c] = connector.create("person", [person("c", "Cy", "Switch", f"cy.{uid}@x.example")])
    _, cursor = drain(connector, "person", connector.current_cursor("person"))
    # A contact mechanism edited on its own leaves the party's write_date alone...
    before = party_row(admin, a.id or 0)["write_date"]
    admin.create("party.contact_mechanism", [{"party": int(a.id or 0), "type": "phone", "value": "+1 555 0111"}])
    assert party_row(admin, a.id or 0)["write_date"] == before
    # ...an archive is a delete, and a person who becomes a company leaves the person feed.
    admin.write("party.party", int(b.id or 0), {"active": False})
    company = category_id(admin, f"Company {uid}")
    admin.write("party.party", int(c.id or 0), {"categories": [("add", [company])]})
    pages, cursor2 = drain(connector, "person", cursor)
    changed = {r.id: r for p in pages for r in p.records}
    assert set(changed) == {a.id}
    assert changed[a.id or ""].fields["phones"] == ["+1 555 0111"]
    deleted = {d for p in pages for d in p.deleted_ids}
    assert {b.id, c.id} <= deleted
    company_pages, _ = drain(connector, "company", cursor)
    assert ids(company_pages) == [c.id]
    assert ids(drain(connector, "person", cursor2)[0]) == []
    assert {r.id for page in connector.list_all("person") for r in page} == {a.id}


def test_overlap_rereads_recent_changes_but_never_moves_back(make_connector: ConnectorFactory, uid: str) -> None:
    connector = make_connector(cursor_overlap=60)
    [a] = connector.create("person", [person("a", "Ov", "Lap", f"ov.{uid}@x.example")])
    _, cursor = drain(connector, "person", None)
    pages, again = drain(connector, "person", cursor)
    assert ids(pages) == [a.id]  # read again: within the overlap window
    assert again == cursor


def test_from_the_beginning_and_a_bad_cursor(make_connector: ConnectorFactory, uid: str) -> None:
    connector = make_connector()
    pages, cursor = drain(connector, "person", None)
    assert ids(pages) == [] and cursor is not None
    [a] = connector.create("person", [person("a", "First", "Ever", f"first.{uid}@x.example")])
    assert ids(drain(connector, "person", None)[0]) == [a.id]
    assert ids(drain(connector, "person", cursor)[0]) == [a.id]
    with pytest.raises(StateError):
        list(connector.changes("person", "not-a-cursor"))
