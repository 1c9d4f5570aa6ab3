"""Opportunities as projects: exact Decimal amounts, dates, stages through workflow buttons, the party relation."""

from __future__ import annotations

from decimal import Decimal

import pytest

from connectors.model import CreateRequest, UpdateRequest
from connectors.tryton import TrytonConnector
from connectors.tryton.rpc import RpcClient
from tests.tryton.conftest import ConnectorFactory
from tests.tryton.helpers import add, patch, person

pytestmark = pytest.mark.tryton


def test_project_round_trip_with_exact_amount_and_relation(connector: TrytonConnector, admin: RpcClient,
                                                          uid: str) -> None:
    email = f"buyer.{uid}@x.example"
    [buyer] = connector.create("person", [person("p", "Bea", "Buyer", email)])
    [res] = connector.create("project", [CreateRequest(key="d", fields={
        "name": f"123 Main St listing {uid}", "summary": "three beds\nsea view", "value": "450000.55",
        "close_date": "2026-12-24", "stage": "current", "people": add(buyer.id or "")}, cloze_ref=f"deal-{uid}")])
    assert res.ok and res.record is not None, res.error
    fields = res.record.fields
    assert fields["value"] == Decimal("450000.55") and isinstance(fields["value"], Decimal)
    assert fields["close_date"] == "2026-12-24" and fields["stage"] == "current"
    assert fields["people"] == [buyer.id] and fields["companies"] == []
    assert fields["summary"] == "three beds\nsea view"
    [row] = admin.search_read("sale.opportunity", [("id", "=", int(res.id or 0))],
                              ["amount", "state", "party", "reference", "employee"])
    assert row["amount"] == Decimal("450000.55") and row["state"] == "opportunity"
    assert row["party"] == int(buyer.id or 0) and row["reference"] == f"cloze:deal-{uid}"
    linked = connector.find_linked("project", f"deal-{uid}")
    assert linked is not None and linked.id == res.id
    assert [r.id for r in connector.lookup("project", "name", f"123 main st listing {uid}")] == [res.id]
    [again] = connector.create("project", [CreateRequest(key="d", fields={"name": "x"}, cloze_ref=f"deal-{uid}")])
    assert again.ok and again.id == res.id and again.details == {"existing": True}


def test_stages_move_through_the_workflow(connector: TrytonConnector, uid: str) -> None:
    [acme] = connector.create("company", [CreateRequest(key="c", fields={"name": f"Acme {uid}"})])
    assert acme.ok and acme.id, acme.error  # no domain: the relation is by party id
    [deal] = connector.create("project", [CreateRequest(key="d", fields={"name": f"Deal {uid}", "value": "10"})])
    did = deal.id or ""
    assert deal.record is not None and deal.record.fields["stage"] == "future"
    [lost] = connector.update("project", [UpdateRequest(id=did, fields={
        "stage": "lost", "value": "12.50", "companies": patch(add=(acme.id,))})])
    assert lost.ok and lost.record is not None, lost.error
    assert lost.record.fields["stage"] == "lost" and lost.record.fields["value"] == Decimal("12.50")
    assert lost.record.fields["companies"] == [acme.id]
    [closed] = connector.update("project", [UpdateRequest(id=did, fields={"name": "renamed while lost"})])
    assert not closed.ok and closed.error and "not allowed to modify" in closed.error  # Tryton's rule, per record
    # Re-opening goes lost -> lead first; the fields are written once the deal is open again.
    [reopened] = connector.update("project", [UpdateRequest(id=did, fields={"stage": "future", "name": f"Deal 2 {uid}"})])
    assert reopened.ok and reopened.record is not None, reopened.error
    assert (reopened.record.fields["stage"], reopened.record.fields["name"]) == ("future", f"Deal 2 {uid}")
    [won] = connector.update("project", [UpdateRequest(id=did, fields={"stage": "won"})])
    assert not won.ok and won.error and "won" in won.error
    [gone] = connector.delete("project", [did])
    assert gone.ok and connector.get("project", [did]) == {}


def test_bad_values_are_refused_per_record(connector: TrytonConnector, uid: str) -> None:
    results = connector.create("project", [
        CreateRequest(key="bad-amount", fields={"name": f"A {uid}", "value": "1.005"}),  # USD has 2 digits
        CreateRequest(key="good", fields={"name": f"C {uid}", "value": "1.5"}),
    ])
    assert [r.ok for r in results] == [False, True]
    assert results[0].error and "digits" in results[0].error.lower()


def test_stage_map_can_report_tryton_states(make_connector: ConnectorFactory, uid: str) -> None:
    connector = make_connector(stage_map={})
    [deal] = connector.create("project", [CreateRequest(key="d", fields={"name": f"Raw {uid}", "stage": "lead"})])
    assert deal.record is not None and deal.record.fields["stage"] == "lead"
    [res] = connector.update("project", [UpdateRequest(id=deal.id or "", fields={"stage": "cancelled"})])
    assert res.ok and res.record is not None and res.record.fields["stage"] == "cancelled"
