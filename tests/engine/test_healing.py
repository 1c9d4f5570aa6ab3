"""Links heal themselves: restored, merged and re-keyed records, and twins toward the right side only.

Each case ran into a ``marker_collision`` (or a deleted counterpart) on every later run
before; the sync now resolves it where the evidence is unambiguous, and reports it
where it is not, deleting nothing while the evidence is disputed.
"""

from __future__ import annotations

from typing import Any

import pytest

from connectors.model import AppLink
from tests.engine.harness import (
    APP_ID,
    World,
    assert_converged,
    assert_no_duplicates,
    merge_into,
    rekey,
    restore,
)
from tests.memory_rig import SimulatedCrash


def quiet_second_run(world: World, mode: str = "full") -> None:
    """INV-2 plus: nothing left open."""
    before = world.writes()
    again = world.run(mode)
    assert again.exit_code() == 0, [(e.code, e.message) for e in world.store.open_errors("p")]
    assert world.writes() == before, f"second run wrote {dict(again.writes)}"


def open_codes(world: World) -> list[str]:
    return sorted(e.code or "" for e in world.store.open_errors("p"))


def linked_pairs(world: World) -> list[tuple[str, str]]:
    return sorted((l.cloze_id or "", l.external_id or "") for l in world.links())


@pytest.mark.parametrize("policy", ["unlink", "ignore"])
@pytest.mark.parametrize("mode", ["full", "incremental"])
def test_an_external_record_restored_from_the_recycle_bin_is_linked_again(policy: str, mode: str) -> None:
    world = World(delete_policy=policy)
    try:
        cid = world.cloze.put("person", {"first": "Ann", "last": "Lee", "emails": ["ann@acme.com"]})
        world.run("full")
        [(_, xid)] = linked_pairs(world)
        item = world.ext.items["person"][xid]
        fields, ref = dict(item.fields), item.cloze_ref
        world.ext.remove("person", xid)
        assert world.run("incremental").exit_code() == 0
        assert world.links() == []
        world.cloze.edit("person", cid, title="CEO")  # edited while the contact was in the bin
        restore(world.ext, "person", xid, fields, cloze_ref=ref)
        report = world.run(mode)
        assert report.exit_code() == 0, open_codes(world)
        assert linked_pairs(world) == [(cid, xid)]
        assert open_codes(world) == []
        assert world.ext.items["person"][xid].fields["title"] == "CEO", "the edit made meanwhile reaches it"
        assert (APP_ID, xid) in {a.key for a in world.cloze.items["person"][cid].app_links}
        assert len(world.cloze.items["person"]) == 1 and len(world.ext.items["person"]) == 1
        assert_converged(world)
        quiet_second_run(world, mode)
    finally:
        world.close()


@pytest.mark.parametrize("policy", ["delete", "unlink"])
@pytest.mark.parametrize("mode", ["full", "incremental"])
def test_a_cloze_person_merged_into_a_duplicate_that_keeps_the_app_link_moves_the_link(policy: str, mode: str) -> None:
    world = World(delete_policy=policy)
    try:
        loser = world.cloze.put("person", {"first": "Ann", "last": "Lee", "emails": ["ann@acme.com"]})
        world.run("full")
        [(_, xid)] = linked_pairs(world)
        world.run("incremental")
        survivor = world.cloze.put("person", {"first": "Ann", "last": "Lee", "emails": ["ann.lee@home.example"],
                                              "title": "Chair"})
        merge_into(world.cloze, "person", loser, survivor)
        report = world.run(mode)
        assert report.exit_code() == 0, open_codes(world)
        assert xid in world.ext.items["person"], "the merge was propagated as a delete"
        assert linked_pairs(world) == [(survivor, xid)]
        assert world.ext.items["person"][xid].cloze_ref == survivor
        assert sorted(world.ext.items["person"][xid].fields["emails"]) == ["ann.lee@home.example", "ann@acme.com"]
        assert world.ext.items["person"][xid].fields["title"] == "Chair"
        assert len(world.ext.items["person"]) == 1, "the survivor was created a second time"
        assert open_codes(world) == []
        assert_converged(world)
        assert_no_duplicates(world)
        quiet_second_run(world, mode)
    finally:
        world.close()


def test_a_merge_whose_survivor_dropped_the_app_link_moves_the_link_by_e_mail() -> None:
    world = World(delete_policy="delete")
    try:
        loser = world.cloze.put("person", {"first": "Ann", "emails": ["ann@acme.com"]})
        world.run("full")
        [(_, xid)] = linked_pairs(world)
        survivor = world.cloze.put("person", {"first": "Ann", "title": "Chair", "emails": ["ann@acme.com"]})
        merge_into(world.cloze, "person", loser, survivor, keep_markers=False)
        report = world.run("full")
        assert report.exit_code() == 0, open_codes(world)
        assert linked_pairs(world) == [(survivor, xid)]
        assert world.ext.items["person"][xid].fields["title"] == "Chair"
        assert (APP_ID, xid) in {a.key for a in world.cloze.items["person"][survivor].app_links}
        quiet_second_run(world)
    finally:
        world.close()


@pytest.mark.parametrize("mode", ["full", "incremental"])
def test_a_cloze_record_whose_direct_id_changes_keeps_its_link_and_the_run_is_clean(mode: str) -> None:
    world = World(delete_policy="delete")
    try:
        old = world.cloze.put("person", {"first": "Ann", "emails": ["ann@acme.com"]})
        world.run("full")
        [(_, xid)] = linked_pairs(world)
        world.run("incremental")
        rekey(world.cloze, "person", old, "c-new")
        report = world.run(mode)
        assert report.exit_code() == 0, open_codes(world)
        assert report.total_writes == 1 and dict(report.writes) == {"external.person.update": 1}  # the Cloze identity
        assert linked_pairs(world) == [("c-new", xid)]
        assert world.ext.items["person"][xid].cloze_ref == "c-new"
        quiet_second_run(world, mode)
    finally:
        world.close()


def test_a_direct_id_that_changes_during_a_sync_leaves_the_next_reconcile_clean() -> None:
    """Cloze answers the join-marker write for a person created elsewhere under another id."""
    world = World()
    try:
        old = world.cloze.put("person", {"first": "Ann", "emails": ["ann@acme.com"]})

        def move_once(op: str, entity: str, fields: Any) -> None:
            if op == "create" and old in world.cloze.items["person"]:
                rekey(world.cloze, "person", old, "c-new")

        world.ext.reject = move_once
        world.run("full")  # the App Link could not be stamped on the old id
        world.ext.reject = None
        report = world.run("full")
        assert report.exit_code() == 0, open_codes(world)
        [(cid, xid)] = linked_pairs(world)
        assert cid == "c-new" and world.ext.items["person"][xid].cloze_ref == "c-new"
        assert (APP_ID, xid) in {a.key for a in world.cloze.items["person"]["c-new"].app_links}
        assert len(world.ext.items["person"]) == 1
        quiet_second_run(world)
    finally:
        world.close()


def test_two_records_claiming_one_vanished_link_are_reported_and_nothing_is_deleted() -> None:
    world = World(delete_policy="delete")
    try:
        old = world.cloze.put("person", {"first": "Ann", "emails": ["ann@acme.com"]})
        world.run("full")
        [(_, xid)] = linked_pairs(world)
        links = world.cloze.items["person"][old].app_links
        world.cloze.remove("person", old)
        world.cloze.put("person", {"first": "Ann A", "emails": ["a1@acme.com"]}, app_links=links)
        world.cloze.put("person", {"first": "Ann B", "emails": ["a2@acme.com"]}, app_links=links)
        writes = world.writes()
        report = world.run("full")
        assert report.exit_code() == 3
        assert open_codes(world) == ["marker_collision", "marker_collision"]
        assert xid in world.ext.items["person"] and world.writes() == writes, "nothing written while disputed"
        assert any(xid in e.message and "merge the duplicates" in e.message for e in world.store.open_errors("p"))
    finally:
        world.close()


def test_an_external_copy_carrying_a_linked_cloze_identity_is_reported_not_created() -> None:
    """The design review's A.3 mutant: a copied Cloze identity must not become a second Cloze person."""
    world = World()
    try:
        cid = world.cloze.put("person", {"first": "Ann", "last": "Lee", "emails": ["ann@acme.com"]})
        world.run("full")
        world.ext.put("person", {"first": "Ann", "last": "Copy", "emails": ["ann.copy@acme.com"]}, cloze_ref=cid)
        report = world.run("full")
        assert len(world.cloze.items["person"]) == 1
        assert open_codes(world) == ["marker_collision"] and report.exit_code() == 3
    finally:
        world.close()


def test_two_cloze_people_sharing_an_office_phone_are_both_created_in_the_external_crm() -> None:
    """The external side does not merge on create: twins there are two records, as in Cloze."""
    world = World()
    try:
        world.cloze.put("person", {"first": "Ann", "last": "Lee", "emails": ["ann@acme.com"], "phones": ["+1 555 0100"]})
        world.cloze.put("person", {"first": "Bob", "last": "Ng", "emails": ["bob@acme.com"], "phones": ["+1 555 0100"]})
        report = world.run("full")
        assert report.exit_code() == 0, open_codes(world)
        assert len(world.ext.items["person"]) == 2 and len(world.links()) == 2
        assert_converged(world)
        quiet_second_run(world)
    finally:
        world.close()


@pytest.mark.parametrize("merges,held", [(frozenset({"emails", "phones"}), True), (frozenset(), False)])
def test_external_twins_are_held_back_only_toward_a_cloze_that_merges_on_create(merges: frozenset[str], held: bool) -> None:
    world = World(cloze_merges=merges)
    try:
        world.ext.put("person", {"first": "Ann", "emails": ["a@one.example"], "phones": ["+1 555 0100"]})
        world.ext.put("person", {"first": "Bob", "emails": ["b@two.example"], "phones": ["+1 555 0100"]})
        report = world.run("full")
        if held:
            assert report.exit_code() == 3 and world.cloze.items["person"] == {}
            assert open_codes(world) == ["duplicate_on_side", "duplicate_on_side"]
        else:
            assert report.exit_code() == 0 and len(world.cloze.items["person"]) == 2
    finally:
        world.close()


@pytest.mark.parametrize("policy", ["delete", "unlink", "ignore"])
def test_a_crashed_create_merged_into_a_linked_record_does_not_steal_its_link(policy: str) -> None:
    """A run crashed after creating c2 (for x2) and before linking it; Cloze then merged c2 into the
    linked c1, keeping its App Link. Recovering the create must not move c1's link to x2: c1 would
    then be named by two external records (a duplicate) and x1 would be orphaned."""
    world = World(delete_policy=policy, safety={"max_deletes": 1000, "max_delete_share": 1.0})
    try:
        c1 = world.cloze.put("person", {"first": "Ann", "last": "Lee"})
        world.run("full")
        [(_, x1)] = linked_pairs(world)
        world.ext.put("person", {"first": "Bob", "last": "Ray"})  # x2
        world.ext.crash_after_writes = 0  # the Cloze create lands, the run dies at its first external write
        with pytest.raises(SimulatedCrash):
            world.run("incremental")
        world.ext.crash_after_writes = None
        [c2] = set(world.cloze.items["person"]) - {c1}
        merge_into(world.cloze, "person", c2, c1, keep_markers=True)
        world.run("incremental", allow_mass_delete=True)
        assert_no_duplicates(world)
        assert (c1, x1) in linked_pairs(world), linked_pairs(world)
    finally:
        world.close()


def test_a_create_that_lands_on_an_existing_record_carries_its_values_back() -> None:
    """Cloze merged the created person into an unlinked one sharing its phone: the e-mail the
    survivor already had is Cloze's, not agreed, so it reaches the external record too."""
    world = World(cloze_merges=frozenset({"phones"}), entities={"person": {"create_in_external": False}})
    try:
        world.cloze.put("person", {"first": "Ann", "phones": ["+15550100"], "emails": ["bob@acme.com"]})
        world.run("full")
        world.ext.put("person", {"first": "Ann", "phones": ["+15550100"], "emails": ["ann@acme.com"]})
        report = world.run("full")
        assert report.exit_code() == 0 and dict(report.writes)["cloze.person.create"] == 1
        [(_, xid)] = linked_pairs(world)
        assert world.ext.items["person"][xid].fields["emails"] == ["ann@acme.com", "bob@acme.com"]
        assert_converged(world)
        quiet_second_run(world)
    finally:
        world.close()


@pytest.mark.parametrize("policy", ["delete", "unlink", "ignore"])
def test_a_merge_survivor_whose_counterpart_was_deleted_moves_to_the_counterpart_its_marker_names(policy: str) -> None:
    """Cloze merged Bo into Ann keeping Bo's App Link, and Ann's HubSpot contact was deleted: Bo's
    contact is Ann's counterpart now. One update heals it; nothing is created or deleted."""
    world = World(delete_policy=policy, safety={"max_deletes": 1000, "max_delete_share": 1.0})
    try:
        ann = world.cloze.put("person", {"first": "Ann", "last": "Lee", "emails": ["ann@acme.com"]})
        bo = world.cloze.put("person", {"first": "Bo", "last": "Lee"})
        world.run("full")
        pairs = dict(linked_pairs(world))
        merge_into(world.cloze, "person", bo, ann, keep_markers=True)
        world.cloze.edit("person", ann, title="CEO")
        world.ext.remove("person", pairs[ann])
        report = world.run("full", allow_mass_delete=True)
        assert report.exit_code() == 0, open_codes(world)
        assert linked_pairs(world) == [(ann, pairs[bo])]
        assert {k for k, n in report.writes.items() if n} == {"external.person.update", "cloze.person.update"}
        assert [a.uniqueid for a in world.cloze.items["person"][ann].app_links] == [pairs[bo]]
        assert world.ext.items["person"][pairs[bo]].fields["title"] == "CEO"
        assert_converged(world)
        quiet_second_run(world)
    finally:
        world.close()


def test_an_external_merge_survivor_taking_over_leaves_one_app_link_on_the_cloze_record() -> None:
    """The external CRM merged x1 into a new x2, which kept x1's Cloze identity: the Cloze record's
    App Link moves to x2, and the one naming the vanished x1 goes (else a rebuild finds two)."""
    world = World(delete_policy="delete")
    try:
        cid = world.cloze.put("person", {"first": "Ann", "last": "Lee", "emails": ["ann@acme.com"]})
        world.run("full")
        [(_, x1)] = linked_pairs(world)
        x2 = world.ext.put("person", {"first": "Ann", "last": "Lee-Ray"})
        merge_into(world.ext, "person", x1, x2, keep_markers=True)
        report = world.run("full", allow_mass_delete=True)
        assert report.exit_code() == 0, open_codes(world)
        assert linked_pairs(world) == [(cid, x2)]
        assert [a.uniqueid for a in world.cloze.items["person"][cid].app_links] == [x2]
        assert_converged(world)
        quiet_second_run(world)
    finally:
        world.close()


def test_records_held_back_by_an_ambiguous_match_each_say_why_and_are_read_again() -> None:
    """One Cloze person matching two external ones holds all three back; each has its own open
    error, so an incremental run reads them again once the Cloze side is settled."""
    world = World()
    try:
        cid = world.cloze.put("person", {"first": "Ann", "emails": ["ann@acme.com"]})
        x1 = world.ext.put("person", {"first": "Ann", "emails": ["ann@acme.com"]})
        x2 = world.ext.put("person", {"first": "Annie", "emails": ["ann@acme.com"]})
        world.run("full")
        held = {(e.source_side, e.record_id): e.code for e in world.store.open_errors("p")}
        assert held == {("cloze", cid): "ambiguous_match", ("external", x1): "ambiguous_match",
                        ("external", x2): "ambiguous_match"}
        world.ext.remove("person", x2)  # the operator merges the duplicates
        report = world.run("incremental")
        assert report.exit_code() == 0, open_codes(world)
        assert linked_pairs(world) == [(cid, x1)]
        quiet_second_run(world, "incremental")
    finally:
        world.close()


def test_a_held_record_found_through_another_records_marker_stays_held_in_an_incremental_run() -> None:
    """x1 shares Ann's e-mail (Ann is linked elsewhere) and a Cloze record carrying two App Links
    names it. Retried in an incremental run, x1 must meet the same guards as in the full run that
    held it back: looked up by its e-mail too, not only found through that marker."""
    world = World()
    try:
        world.cloze.put("person", {"first": "Ann", "emails": ["ann@acme.com"]})
        world.run("full")
        x1 = world.ext.put("person", {"first": "Ann", "emails": ["ann@acme.com"]})
        world.cloze.put("person", {"first": "Cy"}, app_links=[AppLink(APP_ID, x1), AppLink(APP_ID, "x99")])
        world.run("full")
        assert ("external", x1, "duplicate") in {(e.source_side, e.record_id, e.code)
                                                 for e in world.store.open_errors("p")}
        before = world.writes()
        world.run("incremental")
        assert world.writes() == before, "the held record was created in an incremental run"
    finally:
        world.close()
