"""Edits made in Tryton between the connector's read and its write: a real conflict, and no edit lost."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.model import UpdateRequest
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


def test_edit_after_the_engine_read_it_keeps_both(connector: TrytonConnector, admin: RpcClient, uid: str) -> None:
    [made] = connector.create("person", [person("k", "Ann", "Lee", f"ann.{uid}@x.example")])
    pid = made.id or ""
    connector.get("person", [pid])  # the version the engine bases its update on
    # Someone edits the last name and adds a phone in Tryton meanwhile.
    admin.write("party.party", int(pid), {"name": "Ann Lee-Smith",
                                          "contact_mechanisms": [("create", [{"type": "phone", "value": "+1 555 0142"}])]})
    [res] = connector.update("person", [UpdateRequest(
        id=pid, fields={"first": "Annie", "emails": patch(add=(f"annie.{uid}@x.example",)),
                        "phones": patch(add=("+15550199",))})])
    assert res.ok and res.details == {"concurrent_edit": True} and res.record is None
    after = connector.get("person", [pid])[pid].fields
    assert (after["first"], after["last"]) == ("Annie", "Lee-Smith")
    assert sorted(after["emails"]) == sorted([f"ann.{uid}@x.example", f"annie.{uid}@x.example"])
    assert sorted(after["phones"]) == ["+1 555 0142", "+15550199"]


def test_edit_between_the_updates_own_read_and_write(connector: TrytonConnector, admin: RpcClient, uid: str) -> None:
    """The edit lands after update() read the record: Tryton itself (or, over REST, the
    pre-write check) refuses the stale write, and update() re-applies its changes."""
    [made] = connector.create("person", [person("k", "Bob", "Ng", f"bob.{uid}@x.example", tags=add("one"))])
    pid = made.id or ""
    real_write = connector.client.write
    calls: list[dict[str, Any]] = []

    def write_with_interference(model: str, record_id: int, values: Any, *, timestamp: str | None = None) -> None:
        calls.append({"values": values, "timestamp": timestamp})
        if len(calls) == 1:
            admin.write("party.party", int(pid), {"name": "Bob Ng-Wu", "categories": [("remove", [
                c["id"] for c in party_row(admin, pid)["categories"] if c["name"] == "one"])]})
        real_write(model, record_id, values, timestamp=timestamp)

    connector.client.write = write_with_interference  # type: ignore[method-assign]
    [res] = connector.update("person", [UpdateRequest(id=pid, fields={"first": "Robert", "tags": patch(add=("two",))})])
    assert res.ok and res.details == {"concurrent_edit": True}
    assert len(calls) == 2 and calls[0]["timestamp"] and calls[0]["timestamp"] != calls[1]["timestamp"]
    after = connector.get("person", [pid])[pid].fields
    assert (after["first"], after["last"]) == ("Robert", "Ng-Wu")
    assert after["tags"] == ["two"]  # the concurrent removal of "one" survives, and "two" was added


def test_a_record_that_keeps_changing_is_reported_not_forced(make_connector: ConnectorFactory, admin: RpcClient,
                                                             uid: str) -> None:
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
    [res] = connector.update("person", [UpdateRequest(id=pid, fields={"emails": add(f"cy2.{uid}@x.example")})])
    assert not res.ok and res.retryable and res.code == "ConcurrencyException"
    assert res.details == {"concurrent_edit": True}
    assert f"cy2.{uid}@x.example" not in connector.get("person", [pid])[pid].fields["emails"]
