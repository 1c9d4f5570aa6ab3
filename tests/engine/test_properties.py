"""The sync promises as properties: random edits on both sides, then runs, then invariants.

Each example builds two in-memory systems, applies a random sequence of creates,
edits and deletes on both sides with runs in between, and checks after every run:
linked pairs converge (INV-1), a second run writes nothing (INV-2), nothing is
duplicated; and that a crash after any write, followed by a clean run, ends the
same way (INV-16).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.engine.harness import World, assert_converged, assert_no_duplicates
from tests.memory_rig import SimulatedCrash

EMAILS = [f"{n}@example.com" for n in ("ann", "bob", "cy", "dee", "eve", "fay")]
NAMES = ["Ann", "Bob", "Cy", "Dee", "Ève", "Fay", ""]
TAGS = ["vip", "lead", "golf", "board"]

person = st.fixed_dictionaries(
    {
        "first": st.sampled_from(NAMES),
        "last": st.sampled_from(["Lee", "Ng", "O'Hara", None]),
        "emails": st.lists(st.sampled_from(EMAILS), max_size=2, unique=True),
        "tags": st.lists(st.sampled_from(TAGS), max_size=3, unique=True),
        "title": st.sampled_from(["CEO", "Broker", None]),
    }
)

op = st.one_of(
    st.tuples(st.just("create"), st.sampled_from(["cloze", "external"]), person),
    st.tuples(st.just("edit"), st.sampled_from(["cloze", "external"]), st.integers(0, 50), st.sampled_from(["first", "title"]), st.sampled_from(NAMES)),
    st.tuples(st.just("tag"), st.sampled_from(["cloze", "external"]), st.integers(0, 50), st.sampled_from(TAGS), st.booleans()),
    st.tuples(st.just("email"), st.sampled_from(["cloze", "external"]), st.integers(0, 50), st.sampled_from(EMAILS), st.booleans()),
    st.tuples(st.just("delete"), st.sampled_from(["cloze", "external"]), st.integers(0, 50)),
    st.tuples(st.just("run"), st.sampled_from(["full", "incremental"])),
)


def apply(world: World, step: tuple[Any, ...]) -> None:
    kind, side = step[0], step[1] if len(step) > 1 else None
    backend = world.cloze if side == "cloze" else world.ext
    if kind == "create":
        backend.put("person", step[2])
        return
    if kind == "run":
        return
    ids = sorted(backend.items["person"])
    if not ids:
        return
    rid = ids[step[2] % len(ids)]
    item = backend.items["person"][rid]
    if kind == "edit":
        backend.edit("person", rid, **{step[3]: step[4]})
    elif kind in ("tag", "email"):
        key = "tags" if kind == "tag" else "emails"
        values = set(item.fields.get(key) or ())
        values = values | {step[3]} if step[4] else values - {step[3]}
        backend.edit("person", rid, **{key: sorted(values)})
    elif kind == "delete":
        backend.remove("person", rid)


def check(world: World, mode: str) -> None:
    report = world.run(mode, allow_mass_delete=True)  # random deletes may empty a side; the guard has its own test
    assert report.ok, report.error
    assert_converged(world)
    assert_no_duplicates(world)
    before = world.writes()
    again = world.run(mode, allow_mass_delete=True)
    assert again.ok and world.writes() == before, f"second run wrote {dict(again.writes)}"
    assert again.total_writes == 0


@given(initial=st.lists(st.tuples(st.sampled_from(["cloze", "external"]), person), max_size=6),
       steps=st.lists(op, max_size=12))
def test_random_edits_converge_and_second_run_writes_nothing(initial: list[Any], steps: list[Any]) -> None:
    world = World(delete_policy="delete", safety={"max_deletes": 1000, "max_delete_share": 1.0})
    try:
        for side, fields in initial:
            (world.cloze if side == "cloze" else world.ext).put("person", fields)
        check(world, "full")
        for step in steps:
            apply(world, step)
            if step[0] == "run":
                check(world, step[1])
        check(world, "full")
    finally:
        world.close()


@given(initial=st.lists(st.tuples(st.sampled_from(["cloze", "external"]), person), min_size=1, max_size=6),
       edits=st.lists(op, max_size=6), crash_side=st.sampled_from(["cloze", "external"]), crash_at=st.integers(0, 12))
def test_crash_after_any_write_then_rerun_converges(initial: list[Any], edits: list[Any], crash_side: str, crash_at: int) -> None:
    """INV-16: kill after the k-th write, run again: same end state, no duplicate, nothing lost."""
    world = World(delete_policy="delete", safety={"max_deletes": 1000, "max_delete_share": 1.0})
    try:
        for side, fields in initial:
            (world.cloze if side == "cloze" else world.ext).put("person", fields)
        world.run("full")
        for step in edits:
            apply(world, step)
        backend = world.cloze if crash_side == "cloze" else world.ext
        backend.crash_after_writes = crash_at
        try:
            world.run("incremental")
        except SimulatedCrash:
            pass
        backend.crash_after_writes = None
        check(world, "incremental")
        check(world, "full")
    finally:
        world.close()


def test_existing_records_are_matched_not_copied() -> None:
    world = World()
    try:
        world.cloze.put("person", {"first": "Ann", "emails": ["Ann@Example.com"]})
        world.ext.put("person", {"first": "Ann", "emails": ["ann@example.com"], "phones": ["+1 555 0100"]})
        world.cloze.put("company", {"name": "Acme", "domains": ["https://www.acme.com/"]})
        world.ext.put("company", {"name": "Acme Inc", "domains": ["acme.com"]})
        report = world.run("full")
        assert report.ok
        assert len(world.cloze.items["person"]) == 1 and len(world.ext.items["person"]) == 1
        assert len(world.cloze.items["company"]) == 1 and len(world.ext.items["company"]) == 1
        assert report.writes.get("cloze.person.create", 0) == 0 and report.writes.get("external.person.create", 0) == 0
        assert_converged(world)
    finally:
        world.close()


@pytest.mark.parametrize("policy,expected", [("cloze_wins", "Cloze"), ("external_wins", "External")])
def test_both_sides_changed_is_a_recorded_conflict_resolved_by_policy(policy: str, expected: str) -> None:
    world = World(entities={"person": {"policy": policy}})
    try:
        cid = world.cloze.put("person", {"first": "Ann", "emails": ["a@x.com"]})
        world.run("full")
        xid = world.links()[0].external_id
        world.cloze.edit("person", cid, first="Cloze")
        world.ext.edit("person", xid, first="External")
        report = world.run("incremental")
        assert report.conflicts == 1
        rows = world.store.conflicts("p")
        assert [(r.field, r.policy, r.outcome) for r in rows] == [("first", policy, policy.split("_")[0])]
        assert world.cloze.items["person"][cid].fields["first"] == expected
        assert world.ext.items["person"][xid].fields["first"] == expected
    finally:
        world.close()


def test_manual_conflict_waits_for_the_operator_then_applies() -> None:
    world = World(entities={"person": {"policy": "manual"}})
    try:
        cid = world.cloze.put("person", {"first": "Ann", "title": "CEO", "emails": ["a@x.com"]})
        world.run("full")
        xid = world.links()[0].external_id
        world.cloze.edit("person", cid, first="Annie", title="Chair")
        world.ext.edit("person", xid, first="Anna")
        writes = world.writes()
        report = world.run("incremental")
        assert report.pending_conflicts == 1 and report.exit_code() == 3
        # The other field still synced; the conflicting one was written nowhere.
        assert world.ext.items["person"][xid].fields["title"] == "Chair"
        assert world.cloze.items["person"][cid].fields["first"] == "Annie"
        assert world.ext.items["person"][xid].fields["first"] == "Anna"
        assert world.writes() == writes + 1
        # Running again changes nothing and does not repeat the conflict.
        world.run("full")
        open_rows = world.store.conflicts("p", "open")
        assert len(open_rows) == 1
        world.store.resolve_conflict(open_rows[0].id, "external", "Anna")
        report = world.run("incremental")
        assert report.ok and report.pending_conflicts == 0
        assert world.cloze.items["person"][cid].fields["first"] == "Anna"
        assert world.store.conflicts("p", "open") == []
        assert [r.status for r in world.store.conflicts("p")] == ["applied"]
        assert_converged(world)
    finally:
        world.close()


def test_email_removed_on_one_side_and_added_on_the_other_keeps_both_edits() -> None:
    world = World()
    try:
        cid = world.cloze.put("person", {"first": "Ann", "emails": ["a@x.com", "b@x.com"]})
        world.run("full")
        xid = world.links()[0].external_id
        world.cloze.edit("person", cid, emails=["a@x.com"])
        world.ext.edit("person", xid, emails=["a@x.com", "b@x.com", "c@x.com"])
        world.run("incremental")
        assert sorted(world.cloze.items["person"][cid].fields["emails"]) == ["a@x.com", "c@x.com"]
        assert sorted(world.ext.items["person"][xid].fields["emails"]) == ["a@x.com", "c@x.com"]
    finally:
        world.close()


def test_rejected_record_is_recorded_the_run_goes_on_and_it_is_retried() -> None:
    world = World()
    try:
        world.cloze.put("person", {"first": "Good", "emails": ["good@x.com"]})
        bad = world.cloze.put("person", {"first": "Bad", "emails": ["not-an-email"]})
        world.ext.reject = lambda op, entity, fields: "invalid email" if "not-an-email" in str(fields) else None
        report = world.run("full")
        assert report.ok and report.record_errors == 1 and report.exit_code() == 3
        assert len(world.ext.items["person"]) == 1
        [error] = world.store.open_errors("p")
        assert (error.record_id, error.op, error.message) == (bad, "create", "invalid email")
        world.ext.reject = None
        report = world.run("incremental")  # nothing changed, yet the failed record is retried
        assert report.record_errors == 0 and len(world.ext.items["person"]) == 2
        assert world.store.open_errors("p") == []
    finally:
        world.close()


def test_a_rejected_update_keeps_the_edit_for_the_next_run() -> None:
    """The base of a link whose write failed stays put: the next run repeats the change, never reverts it."""
    world = World()
    try:
        cid = world.cloze.put("person", {"first": "Ann", "title": "CEO", "emails": ["a@x.com"]})
        world.run("full")
        xid = world.links()[0].external_id
        world.cloze.edit("person", cid, title="Chair")
        world.ext.reject = lambda op, entity, fields: "title locked" if op == "update" else None
        report = world.run("incremental")
        assert report.record_errors == 1 and report.exit_code() == 3
        assert world.ext.items["person"][xid].fields["title"] == "CEO"
        world.ext.reject = None
        report = world.run("incremental")  # nothing changed since, yet the failed write is repeated
        assert report.ok and report.record_errors == 0
        assert world.cloze.items["person"][cid].fields["title"] == "Chair", "the edit was reverted"
        assert world.ext.items["person"][xid].fields["title"] == "Chair"
        assert world.store.open_errors("p") == []
        assert_converged(world)
    finally:
        world.close()


def test_the_echo_of_a_write_costs_no_read_of_its_counterpart() -> None:
    """The next incremental run sees the sync's own write come back and leaves the other side alone."""
    world = World()
    try:
        cid = world.cloze.put("person", {"first": "Ann", "title": "CEO", "emails": ["a@x.com"]})
        world.run("full")
        world.run("incremental")  # past the full run's own echoes
        world.cloze.edit("person", cid, title="Chair")
        report = world.run("incremental")
        assert dict(report.writes) == {"external.person.update": 1}
        echo = world.run("incremental")
        assert echo.reads["external.person"] == 1, "the echo is read from the change feed"
        assert echo.reads["cloze.person"] == 0, "its counterpart is not read"
        assert echo.total_writes == 0
        assert_converged(world)
    finally:
        world.close()


def test_delete_cap_holds_back_every_delete_and_says_why() -> None:
    world = World(delete_policy="delete", safety={"max_deletes": 2})
    try:
        ids = [world.cloze.put("person", {"first": f"P{i}", "emails": [f"p{i}@x.com"]}) for i in range(6)]
        world.run("full")
        for rid in ids[:4]:
            world.cloze.remove("person", rid)
        report = world.run("full")
        assert report.deletes_held == 4 and report.exit_code() == 3
        assert "no deletes were applied" in report.notes[0]
        assert len(world.ext.items["person"]) == 6
        report = world.run("full", allow_mass_delete=True)
        assert len(world.ext.items["person"]) == 2
    finally:
        world.close()


def test_empty_side_stops_the_run_before_anything_is_deleted() -> None:
    world = World(delete_policy="delete", safety={"max_deletes": 1000, "max_delete_share": 1.0})
    try:
        for i in range(3):
            world.cloze.put("person", {"first": f"P{i}", "emails": [f"p{i}@x.com"]})
        world.run("full")
        for rid in list(world.ext.items["person"]):
            world.ext.remove("person", rid)
        report = world.run("full")
        assert not report.ok and "returned no person records" in (report.error or "")
        assert len(world.cloze.items["person"]) == 3
    finally:
        world.close()


@pytest.mark.parametrize("policy", ["delete", "unlink", "ignore"])
def test_delete_policies(policy: str) -> None:
    world = World(delete_policy=policy)
    try:
        keep = world.cloze.put("person", {"first": "Keep", "emails": ["k@x.com"]})
        gone = world.cloze.put("person", {"first": "Gone", "emails": ["g@x.com"]})
        world.run("full")
        xid = next(l.external_id for l in world.links() if l.cloze_id == gone)
        world.ext.remove("person", xid)
        world.run("incremental")
        if policy == "delete":
            assert gone not in world.cloze.items["person"]
        else:
            assert gone in world.cloze.items["person"]
            has_link = any(a.uniqueid == xid for a in world.cloze.items["person"][gone].app_links)
            assert has_link == (policy == "ignore")
        # Never re-created on the external side, and nothing else touched.
        world.run("full")
        assert len(world.ext.items["person"]) == 1 and keep in world.cloze.items["person"]
    finally:
        world.close()


def test_update_beats_delete() -> None:
    world = World(delete_policy="delete")
    try:
        cid = world.cloze.put("person", {"first": "Ann", "emails": ["a@x.com"]})
        world.run("full")
        xid = world.links()[0].external_id
        world.ext.remove("person", xid)
        world.cloze.edit("person", cid, title="New title")
        world.run("incremental")
        assert cid in world.cloze.items["person"]
        [restored] = world.ext.items["person"].values()
        assert restored.fields["title"] == "New title" and restored.cloze_ref == cid
        assert_converged(world)
    finally:
        world.close()


def test_one_way_fields_copy_the_source_side() -> None:
    world = World(entities={"person": {"fields": {"first": {"direction": "to_cloze"}, "title": {"direction": "to_external"},
                                                  "emails": {}}}})
    try:
        cid = world.cloze.put("person", {"first": "Ann", "title": "CEO", "emails": ["a@x.com"]})
        world.run("full")
        xid = world.links()[0].external_id
        world.cloze.edit("person", cid, first="Cloze edit", title="Chair")
        world.ext.edit("person", xid, title="External edit")
        world.run("incremental")
        assert world.cloze.items["person"][cid].fields["first"] == "Ann"  # external is the source of "first"
        assert world.ext.items["person"][xid].fields["title"] == "Chair"  # Cloze is the source of "title"
    finally:
        world.close()


def test_unmapped_fields_are_never_touched() -> None:
    world = World(entities={"person": {"fields": {"emails": {}, "first": {}}}})
    try:
        cid = world.cloze.put("person", {"first": "Ann", "emails": ["a@x.com"], "title": "Cloze only"})
        world.run("full")
        xid = world.links()[0].external_id
        world.ext.edit("person", xid, title="External only")
        world.run("full")
        assert world.cloze.items["person"][cid].fields["title"] == "Cloze only"
        assert world.ext.items["person"][xid].fields["title"] == "External only"
    finally:
        world.close()
