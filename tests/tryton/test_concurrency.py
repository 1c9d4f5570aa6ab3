"""Edits made in Tryton between the connector's read and its write: a real conflict, and no edit lost."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.model import CHANGED_SINCE_READ, UpdateRequest
from connectors.tryton import TrytonConnector
from connectors.tryton.client import ConcurrentEdit
from connectors.tryton.rpc import RpcClient
from tests.tryton.conftest import ConnectorFactory
from tests.tryton.helpers import add, party_row, patch, person

pytestmark = pytest.mark.tryton


def test_the_server_refuses_a_write_based_on_a_stale_version(admin: RpcClient, uid: str) -> None:
    [pid] = admin.create("party.party", [{"name": f"Stale {uid}"}])
    stamp = str(party_row(admin, pid)["_timestamp"])
    admin.write("party.party", pid, {"name": f"Newer {uid}"})
    with pytest.raises(ConcurrentEdit):
        admin.write("party.party", pid, {"name": f"Lost {uid}"}, timestamp=stamp)
    assert party_row(admin, pid)["name"] == f"Newer {uid}"


def test_edit_after_the_engine_read_it_is_reported_not_overwritten(connector: TrytonConnector, admin: RpcClient,
                                                                   uid: str) -> None:
    [made] = connector.create("person", [person("k", "Ann", "Lee", f"ann.{uid}@x.example")])
    pid = made.id or ""
    connector.get("person", [pid])  # the version the engine bases its update on
    # Someone edits the last name and adds a phone in Tryton meanwhile.
    admin.write("party.party", int(pid), {"name": "Ann Lee-Smith",
                                          "contact_mechanisms": [("create", [{"type": "phone", "value": "+1 555 0142"}])]})
    [res] = connector.update("person", [UpdateRequest(
        id=pid, fields={"last": "Lee-Jones", "emails": patch(add=(f"annie.{uid}@x.example",))})])
    assert not res.ok and res.code == CHANGED_SINCE_READ and res.retryable
    assert res.record is not None and res.record.fields["last"] == "Lee-Smith"  # what the caller merges again
    after = connector.get("person", [pid])[pid].fields
    assert (after["first"], after["last"]) == ("Ann", "Lee-Smith")  # nothing of theirs overwritten
    assert after["emails"] == [f"ann.{uid}@x.example"] and after["phones"] == ["+1 555 0142"]


def test_an_edit_of_a_contact_mechanism_alone_counts_as_a_change(make_connector: ConnectorFactory, admin: RpcClient,
                                                                 uid: str) -> None:
    """Editing only a phone leaves the party's version alone; its change time still shows the edit."""
    connector = make_connector()
    [made] = connector.create("person", [person("k", "Dee", "Doe", f"dee.{uid}@x.example")])
    pid = made.id or ""
    seen = connector.get("person", [pid])[pid].modified_at
    admin.create("party.contact_mechanism", [{"party": int(pid), "type": "phone", "value": "+1 555 0177"}])
    [res] = connector.update("person", [UpdateRequest(id=pid, fields={"phones": patch(result=("+15550100",))},
                                                      seen_modified_at=seen)])
    assert not res.ok and res.code == CHANGED_SINCE_READ
    assert connector.get("person", [pid])[pid].fields["phones"] == ["+1 555 0177"]


def test_edit_between_the_updates_own_read_and_write(connector: TrytonConnector, admin: RpcClient, uid: str) -> None:
    """The edit lands after update() read the record: Tryton itself (or, over REST, the
    pre-write check) refuses the stale write, and update() reports it instead of forcing it."""
    [made] = connector.create("person", [person("k", "Bob", "Ng", f"bob.{uid}@x.example", tags=add("one"))])
    pid = made.id or ""
    real_write = connector.client.write
    calls: list[dict[str, Any]] = []

    def write_with_interference(model: str, record_id: int, values: Any, *, timestamp: str | None = None) -> None:
        calls.append({"values": values, "timestamp": timestamp})
        if len(calls) == 1:
            admin.write("party.party", int(pid), {"name": "Bob Ng-Wu"})
        real_write(model, record_id, values, timestamp=timestamp)

    connector.client.write = write_with_interference  # type: ignore[method-assign]
    [res] = connector.update("person", [UpdateRequest(id=pid, fields={"first": "Robert", "tags": patch(add=("two",))})])
    assert not res.ok and res.code == CHANGED_SINCE_READ
    assert len(calls) == 1 and calls[0]["timestamp"]
    assert res.record is not None and res.record.fields["last"] == "Ng-Wu"
    after = connector.get("person", [pid])[pid].fields
    assert (after["first"], after["last"]) == ("Bob", "Ng-Wu")
    assert after["tags"] == ["one"]


def test_a_marker_update_on_a_record_that_keeps_changing_is_reported_not_forced(
        make_connector: ConnectorFactory, admin: RpcClient, uid: str) -> None:
    connector = make_connector()
    [made] = connector.create("person", [person("k", "Cy", "Busy", f"cy.{uid}@x.example")])
    pid = made.id or ""
    real_write = connector.client.write
    count = {"n": 0}

    def always_interfere(model: str, record_id: int, values: Any, *, timestamp: str | None = None) -> None:
        count["n"] += 1
        admin.write("party.party", int(pid), {"name": f"Cy Busy{count['n']}"})
        real_write(model, record_id, values, timestamp=timestamp)

    connector.client.write = always_interfere  # type: ignore[method-assign]
    [res] = connector.update("person", [UpdateRequest(id=pid, fields={}, cloze_ref=f"ref-{uid}")])
    assert not res.ok and res.retryable and res.code == "ConcurrencyException"
    assert res.details == {"concurrent_edit": True} and count["n"] == 5
    assert connector.get("person", [pid])[pid].cloze_ref is None
