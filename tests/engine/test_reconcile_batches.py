"""A full reconcile plans a batch of records at a time, and its decisions do not depend on the batches.

The records are tied into components (link, join marker, match key, merge-on-create
value; :mod:`syncd.engine.spill`) and planned a few components at a time. Each test
here runs the same world with batches of one component and with one batch for all,
and the outcomes must be the same: twins, ambiguous matches, clashes with linked
records, take-overs and the safety cap all straddle batch boundaries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from syncd.engine import runner
from tests.engine.harness import World, assert_converged, assert_no_duplicates, merge_into

Build = Callable[[World], None]


def _unrelated(world: World) -> None:
    for i in range(6):
        world.cloze.put("person", {"first": f"C{i}", "emails": [f"c{i}@example.com"]})
        world.ext.put("person", {"first": f"E{i}", "emails": [f"e{i}@example.com"]})


def _outcome(world: World) -> dict[str, Any]:
    """What a run decided, in terms that do not depend on the order it was applied in."""
    cl, ex = world.canon()

    def who(records: dict[str, Any], rid: str | None) -> tuple[Any, ...]:
        values = records[rid].values if rid in records else {}  # a record gone (its delete held back)
        return (values.get("first") or "", tuple(sorted(values.get("emails") or ())))
    links = sorted((who(cl, l.cloze_id), who(ex, l.external_id)) for l in world.links())
    errors = sorted((e.source_side, who(cl if e.source_side == "cloze" else ex, e.record_id), e.code)
                    for e in world.store.open_errors("p"))
    return {"links": links, "errors": errors, "cloze": sorted(who(cl, rid) for rid in cl),
            "external": sorted(who(ex, rid) for rid in ex)}


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The number of records each call of the planner was given."""
    sizes: list[int] = []
    real = runner.plan_entity  # type: ignore[attr-defined]

    def counting(entity: str, links: Any, obs: Any, *args: Any, **kw: Any) -> Any:
        sizes.append(len(obs.cloze) + len(obs.external))
        return real(entity, links, obs, *args, **kw)
    monkeypatch.setattr(runner, "plan_entity", counting)
    yield sizes


def test_a_full_reconcile_plans_a_batch_of_records_at_a_time(monkeypatch: pytest.MonkeyPatch, spy: list[int]) -> None:
    monkeypatch.setenv("SYNCD_RECONCILE_BATCH", "3")
    world = World(entities={"person": {}})
    try:
        _unrelated(world)
        assert world.run("full").ok
        assert sum(spy) == 12 and max(spy) <= 3, spy  # every record planned, never more than a batch at once
        assert len(world.links()) == 12
        assert_converged(world)
        assert world.run("full").total_writes == 0
    finally:
        world.close()


def _twins(world: World) -> None:
    """Two external records sharing an e-mail that Cloze would merge into one, among unrelated ones."""
    _unrelated(world)
    world.ext.put("person", {"first": "Twin1", "emails": ["twin@example.com"]})
    world.ext.put("person", {"first": "Twin2", "emails": ["twin@example.com", "zz@example.com"]})


def _ambiguous(world: World) -> None:
    """Two Cloze records and one external record with one e-mail: all three held back."""
    world.cloze.put("person", {"first": "A1", "emails": ["dup@example.com"]})
    _unrelated(world)
    world.cloze.put("person", {"first": "A2", "emails": ["dup@example.com"]})
    world.ext.put("person", {"first": "A3", "emails": ["dup@example.com"]})


def _chain(world: World) -> None:
    """Records tied through a chain of e-mails that starts and ends far apart in the listings."""
    world.cloze.put("person", {"first": "K1", "emails": ["k1@example.com"]})
    _unrelated(world)
    world.ext.put("person", {"first": "K2", "emails": ["k1@example.com", "k2@example.com"]})
    world.cloze.put("person", {"first": "K3", "emails": ["k2@example.com"]})


@pytest.mark.parametrize("build", [_twins, _ambiguous, _chain], ids=["twins", "ambiguous", "chain"])
def test_decisions_of_the_first_reconcile_do_not_depend_on_the_batches(
        monkeypatch: pytest.MonkeyPatch, build: Build) -> None:
    outcomes = []
    for batch in ("1", "100000"):
        monkeypatch.setenv("SYNCD_RECONCILE_BATCH", batch)
        world = World(cloze_merges=frozenset({"emails"}))
        try:
            build(world)
            assert world.run("full").ok
            assert_no_duplicates(world)
            outcomes.append(_outcome(world))
        finally:
            world.close()
    assert outcomes[0] == outcomes[1]
    assert outcomes[0]["errors"], "the scenario holds records back"


def _linked_then(change: Callable[[World], None]) -> Build:
    def build(world: World) -> None:
        _unrelated(world)
        world.cloze.put("person", {"first": "L", "emails": ["l@example.com"]})
        assert world.run("full").ok
        change(world)
    return build


def _clash(world: World) -> None:
    """A new external record with the e-mail of a linked Cloze record: reported, not created."""
    world.ext.put("person", {"first": "Copy", "emails": ["l@example.com"]})


def _takeover(world: World) -> None:
    """The linked Cloze record is merged into a new duplicate that keeps its App Link: the link moves."""
    loser = next(rid for rid, item in world.cloze.items["person"].items() if item.fields.get("first") == "L")
    survivor = world.cloze.put("person", {"first": "L2", "emails": ["l2@example.com"]})
    merge_into(world.cloze, "person", loser, survivor)


def _deleted(world: World) -> None:
    """Three linked records deleted in Cloze, each in a component of its own: one safety cap for all."""
    for rid in sorted(world.cloze.items["person"])[:3]:
        world.cloze.remove("person", rid)


@pytest.mark.parametrize("build", [_linked_then(_clash), _linked_then(_takeover), _linked_then(_deleted)],
                         ids=["clash", "takeover", "deletes over the cap"])
def test_decisions_of_a_later_reconcile_do_not_depend_on_the_batches(
        monkeypatch: pytest.MonkeyPatch, build: Build) -> None:
    outcomes, reports = [], []
    for batch in ("1", "100000"):
        monkeypatch.setenv("SYNCD_RECONCILE_BATCH", batch)
        world = World(delete_policy="delete", safety={"max_deletes": 2})
        try:
            build(world)
            report = world.run("full")
            assert report.ok, report.error
            assert_no_duplicates(world)
            outcomes.append(_outcome(world))
            reports.append((report.deletes_held, dict(report.writes)))
        finally:
            world.close()
    assert outcomes[0] == outcomes[1]
    assert reports[0] == reports[1]


def test_the_safety_cap_counts_the_deletes_of_every_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCD_RECONCILE_BATCH", "1")
    world = World(delete_policy="delete", safety={"max_deletes": 2})
    try:
        _linked_then(_deleted)(world)
        report = world.run("full")
        assert report.deletes_held == 3, report.notes
        assert not any(op.endswith(".delete") for op in report.writes), dict(report.writes)
        assert len(world.links()) == 13  # nothing unlinked either
        assert any("would delete or unlink 3 of 13" in note for note in report.notes), report.notes
    finally:
        world.close()
