"""``plan_entity`` on plain data: each outcome for a link, for unlinked records, and each guard."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from connectors.model import FieldKind
from syncd.core.actions import Action, EntityPlan, LinkState
from syncd.core.mapping import Canon, FieldRule
from syncd.core.plan import _changed_since, at_rest, plan_entity
from tests.core.build import APP, base, link, mapping, observe, rec


def plan(links: list[LinkState], cloze: list[Canon], external: list[Canon], *, policy: str = "unlink", complete: bool = True,
         **kw: Any) -> EntityPlan:
    gone = {k: kw.pop(k) for k in ("cloze_gone", "external_gone") if k in kw}
    m = kw.pop("m", mapping())
    return plan_entity("person", links, observe(cloze, external, complete=complete, **gone), m, app_id=APP,
                       delete_policy=policy, **kw)  # type: ignore[arg-type]


def kinds(p: EntityPlan) -> list[tuple[str, str | None, str | None]]:
    return [(a.kind, a.cloze_id, a.external_id) for a in p.actions]


def codes(p: EntityPlan) -> list[tuple[str, str, str]]:
    return [(e.side, e.record_id, e.code) for e in p.errors]


def only(p: EntityPlan) -> Action:
    [action] = p.actions
    return action


# -- linked records ---------------------------------------------------------------------


def test_a_link_in_sync_plans_nothing() -> None:
    c, x = rec("c1", links=["x1"]), rec("x1", ref="c1")
    p = plan([link(1, "c1", "x1", values=base(c))], [c], [x])
    assert p.actions == [] and p.errors == []


def test_a_linked_pair_edited_on_one_side_is_synced_with_its_bases() -> None:
    old = rec("c1", links=["x1"])
    c, x = rec("c1", first="Annie", links=["x1"]), rec("x1", ref="c1")
    lk = link(1, "c1", "x1", values=base(old))
    a = only(plan([lk], [c], [x]))
    assert (a.kind, a.link_id, a.cloze_id, a.external_id) == ("sync", 1, "c1", "x1")
    assert a.merge is not None and a.merge.external_patch == {"first": "Annie"}
    assert not a.add_app_link and not a.set_cloze_ref
    assert a.prior_cloze == lk.base_cloze and a.prior_external == lk.base_external
    assert a.seen_cloze == c.values and a.seen_external == x.values


def test_missing_markers_on_a_linked_pair_are_added() -> None:
    c, x = rec("c1"), rec("x1")
    a = only(plan([link(1, "c1", "x1", values=base(c))], [c], [x]))
    assert a.kind == "sync" and a.add_app_link and a.set_cloze_ref and not a.merge.writes  # type: ignore[union-attr]


def test_a_link_without_base_is_synced() -> None:
    c, x = rec("c1", links=["x1"]), rec("x1", ref="c1")
    assert kinds(plan([link(1, "c1", "x1")], [c], [x])) == [("sync", "c1", "x1")]


def test_an_operators_resolution_is_applied_even_when_nothing_changed() -> None:
    c, x = rec("c1", links=["x1"]), rec("x1", ref="c1")
    a = only(plan([link(1, "c1", "x1", values=base(c))], [c], [x], resolutions={1: {"first": "Anna"}}))
    assert a.kind == "sync"


def test_a_base_that_moves_without_a_write_is_recorded() -> None:
    c, x = rec("c1", first="Bo", links=["x1"]), rec("x1", first="Bo", ref="c1")
    lk = link(1, "c1", "x1", values=base(rec("c1")))  # both sides changed to the same value
    a = only(plan([lk], [c], [x]))
    assert a.kind == "sync" and not a.merge.writes and a.merge.base_cloze["first"] == "Bo"  # type: ignore[union-attr]


def test_both_records_gone_forgets_the_link() -> None:
    p = plan([link(1, "c1", "x1")], [], [])
    assert [(a.kind, a.link_id, a.cloze_id, a.external_id) for a in p.actions] == [("forget", 1, "c1", "x1")]


def test_a_side_not_read_this_run_decides_nothing() -> None:
    assert plan([link(1, "c1", "x1")], [rec("c1")], [], complete=False).actions == []
    assert plan([link(1, "c1", "x1")], [], [], complete=False).actions == []


@pytest.mark.parametrize("policy,kind,markers", [("unlink", "unlink", True), ("ignore", "unlink", False),
                                                 ("delete", "delete_cloze", False)])
def test_an_external_delete_follows_the_policy(policy: str, kind: str, markers: bool) -> None:
    c = rec("c1", links=["x1"])
    a = only(plan([link(1, "c1", "x1", values=base(c))], [c], [], policy=policy))
    assert (a.kind, a.link_id, a.cloze_id, a.external_id, a.survivor) == (kind, 1, "c1", "x1", "cloze")
    assert a.remove_markers is markers
    assert a.is_delete


@pytest.mark.parametrize("policy,kind", [("unlink", "unlink"), ("delete", "delete_external")])
def test_a_cloze_delete_follows_the_policy(policy: str, kind: str) -> None:
    x = rec("x1", ref="c1")
    a = only(plan([link(1, "c1", "x1", values=base(x))], [], [x], policy=policy, cloze_gone=["c1"], complete=False))
    assert (a.kind, a.survivor) == (kind, "external")


def test_update_beats_delete_on_either_side() -> None:
    old = rec("c1")
    c = rec("c1", first="Edited", problems={"phones": "unreadable"})
    a = only(plan([link(1, "c1", "x1", values=base(old))], [c], [], policy="delete"))
    assert (a.kind, a.cloze_id, a.external_id, a.replaces_link) == ("create_external", "c1", None, 1)
    assert a.values == dict(c.values) and a.source_problems == {"phones": "unreadable"}
    x = rec("x1", first="Edited")
    a = only(plan([link(1, "c1", "x1", values=base(old))], [], [x], policy="delete"))
    assert (a.kind, a.cloze_id, a.external_id, a.replaces_link) == ("create_cloze", None, "x1", 1)


def test_a_survivor_without_base_counts_as_edited() -> None:
    assert only(plan([link(1, "c1", "x1")], [rec("c1")], [])).kind == "create_external"


def test_changed_since_compares_only_fields_of_the_base() -> None:
    c = rec("c1", first="New")
    assert _changed_since(c, None)
    assert _changed_since(c, {"first": "Old"})
    assert not _changed_since(c, {"title": "x"})
    assert not _changed_since(c, base(c))


def test_a_tombstone_waits_while_its_survivor_lives_and_is_forgotten_after() -> None:
    tomb = link(1, "c1", None, status="unlinked")
    assert plan([tomb], [rec("c1")], []).actions == []
    assert kinds(plan([tomb], [], [])) == [("forget", None, None)]
    assert plan([tomb], [], [], complete=False).actions == []
    assert kinds(plan([link(2, None, "x1", status="unlinked")], [], [])) == [("forget", None, None)]


def test_a_tombstones_survivor_is_never_created_again() -> None:
    assert plan([link(1, "c1", None, status="unlinked")], [rec("c1")], []).actions == []


# -- take-overs -------------------------------------------------------------------------


def test_a_take_over_keeps_the_link_and_re_points_it() -> None:
    old = rec("c1", links=["x1"])
    survivor, x = rec("c2", first="Chair", links=["x1"]), rec("x1", ref="c1")
    p = plan([link(7, "c1", "x1", values=base(old))], [survivor], [x], policy="delete")
    a = only(p)
    assert (a.kind, a.link_id, a.cloze_id, a.external_id) == ("sync", 7, "c2", "x1")
    assert a.set_cloze_ref and not a.add_app_link
    assert a.merge is not None and a.merge.external_patch == {"first": "Chair"}
    assert p.errors == []


def test_a_take_over_is_saved_even_when_nothing_is_written() -> None:
    c, x = rec("c1", links=["x1"]), rec("x1", ref="c1")
    a = only(plan([link(3, "c1", None, status="unlinked", values=base(c))], [c], [x]))
    assert (a.kind, a.link_id, a.cloze_id, a.external_id) == ("sync", 3, "c1", "x1")
    assert not a.merge.writes and not a.add_app_link and not a.set_cloze_ref  # type: ignore[union-attr]


def test_a_take_over_applies_the_links_resolution() -> None:
    old = rec("c1", links=["x1"])
    survivor, x = rec("c2", links=["x1"]), rec("x1", ref="c1")
    a = only(plan([link(7, "c1", "x1", values=base(old))], [survivor], [x], resolutions={7: {"first": "Res"}}))
    assert a.merge is not None and a.merge.cloze_patch == {"first": "Res"}


def test_a_disputed_link_is_neither_deleted_nor_created_and_its_claimers_are_reported_once() -> None:
    old = rec("c1", links=["x1"])
    p = plan([link(7, "c1", "x1", values=base(old))], [rec("c2", links=["x1"]), rec("c3", links=["x1"])],
             [rec("x1", ref="c1")], policy="delete")
    assert p.actions == []
    assert codes(p) == [("cloze", "c2", "marker_collision"), ("cloze", "c3", "marker_collision")]


def test_a_record_sharing_an_e_mail_with_a_taken_over_survivor_is_a_likely_duplicate() -> None:
    old = rec("c1", links=["x1"], emails=["a@x.com"])
    survivor, x = rec("c2", links=["x1"], emails=["a@x.com"]), rec("x1", ref="c1", emails=["a@x.com"])
    p = plan([link(7, "c1", "x1", values=base(old))], [survivor], [x, rec("x2", emails=["a@x.com"])])
    assert codes(p) == [("external", "x2", "duplicate")]


# -- unlinked records -------------------------------------------------------------------


def test_unlinked_records_are_created_on_the_other_side() -> None:
    c, x = rec("c1", emails=["a@x.com"], problems={"phones": "bad"}), rec("x1", emails=["b@x.com"])
    p = plan([], [c], [x])
    assert kinds(p) == [("create_external", "c1", None), ("create_cloze", None, "x1")]
    assert p.actions[0].values == dict(c.values) and p.actions[0].source_problems == {"phones": "bad"}
    assert p.actions[1].values == dict(x.values) and p.actions[1].source_problems == {}
    assert p.field_problems == [("cloze", "c1", "phones", "bad")]


def test_field_problems_of_both_sides_are_listed() -> None:
    p = plan([], [rec("c1", problems={"first": "too long"})], [rec("x1", problems={"phones": "bad"})],
             m=mapping(to_cloze=False, to_external=False))
    assert p.field_problems == [("cloze", "c1", "first", "too long"), ("external", "x1", "phones", "bad")]


def test_records_joined_by_marker_or_rule_are_synced_not_created() -> None:
    p = plan([], [rec("c1", links=["x1"]), rec("c2", emails=["b@x.com"])],
             [rec("x1"), rec("x2", emails=["b@x.com"])])
    assert kinds(p) == [("sync", "c1", "x1"), ("sync", "c2", "x2")]
    assert all(a.link_id is None for a in p.actions)


def test_a_second_match_rule_pairs_what_the_first_left() -> None:
    c, x = rec("c1", emails=["a@x.com"], phones=["+1555"]), rec("x1", emails=["z@x.com"], phones=["+1555"])
    assert kinds(plan([], [c], [x], m=mapping(match_on=("email", "phone")))) == [("sync", "c1", "x1")]


def test_a_record_held_back_by_one_rule_is_not_matched_by_the_next() -> None:
    c = rec("c1", emails=["a@x.com"], phones=["+1555"])
    xs = [rec("x1", emails=["a@x.com"]), rec("x2", emails=["a@x.com"]), rec("x3", phones=["+1555"])]
    p = plan([], [c], xs, m=mapping(match_on=("email", "phone"), to_cloze=False))
    assert p.actions == [] and {e.code for e in p.errors} == {"ambiguous_match"}


def test_a_record_matching_a_linked_one_is_held_back_on_either_side() -> None:
    lc, lx = rec("c1", links=["x1"], emails=["a@x.com"]), rec("x1", ref="c1", emails=["a@x.com"])
    lk = link(1, "c1", "x1", values=base(lc))
    p = plan([lk], [lc, rec("c2", emails=["a@x.com"])], [lx])
    assert codes(p) == [("cloze", "c2", "duplicate")] and p.actions == []
    p = plan([lk], [lc], [lx, rec("x2", emails=["a@x.com"])])
    assert codes(p) == [("external", "x2", "duplicate")] and p.actions == []


def test_a_record_sharing_the_survivors_e_mail_takes_the_deleted_records_place() -> None:
    """Rather than delete the survivor and create the newcomer (losing what only the survivor held)."""
    lc = rec("c1", links=["x1"], emails=["a@x.com"])
    lk = link(1, "c1", "x1", values=base(lc))
    p = plan([lk], [lc], [rec("x2", emails=["a@x.com"])], policy="delete")
    assert [(a.kind, a.link_id, a.cloze_id, a.external_id) for a in p.actions] == [("sync", 1, "c1", "x2")]
    assert p.errors == []
    p = plan([lk], [lc], [rec("x2", emails=["a@x.com"])], policy="delete", m=mapping(match_on=()))
    assert kinds(p) == [("delete_cloze", "c1", "x1"), ("create_cloze", None, "x2")]


def test_records_this_plan_deletes_do_not_hold_new_records_back() -> None:
    lc = rec("c1", links=["x1"], emails=["a@x.com"])
    lk = link(1, "c1", "x1", values=base(lc))
    p = plan([lk], [lc], [rec("x2", emails=["a@x.com"]), rec("x3", emails=["a@x.com"])], policy="delete")
    assert kinds(p) == [("delete_cloze", "c1", "x1"), ("create_cloze", None, "x2"), ("create_cloze", None, "x3")]
    assert p.errors == []
    lx = rec("x1", ref="c1", emails=["a@x.com"])
    p = plan([lk], [rec("c2", emails=["a@x.com"]), rec("c3", emails=["a@x.com"])], [lx], policy="delete")
    assert kinds(p) == [("delete_external", "c1", "x1"), ("create_external", "c2", None),
                        ("create_external", "c3", None)]
    assert p.errors == []


def test_a_tombstoned_record_still_holds_its_e_mail() -> None:
    lx = rec("x1", emails=["a@x.com"])
    p = plan([link(1, None, "x1", status="unlinked")], [rec("c2", emails=["a@x.com"])], [lx])
    assert codes(p) == [("cloze", "c2", "duplicate")]


def test_creates_follow_direction_filters_and_holds() -> None:
    c, x = rec("c1", modified=3), rec("x1", modified=9)
    assert kinds(plan([], [c], [x], hold={("cloze", "c1"): 3, ("external", "x1"): 3})) == [("create_cloze", None, "x1")]
    assert kinds(plan([], [c], [x], m=mapping(to_cloze=False))) == [("create_external", "c1", None)]
    assert kinds(plan([], [rec("c1", scope={"segment": "partner"})], [], m=mapping(segments=["customer"]))) == []


def test_blocked_records_are_not_created() -> None:
    p = plan([], [rec("c1", links=["x1", "x2"])], [rec("x9", ref="c7")], complete=True)
    assert p.actions == [] and [e.code for e in p.errors] == ["several_app_links", "stale_cloze_ref"]


@pytest.mark.parametrize("merges,created", [({}, 2), ({"cloze": {"phones"}}, 0), ({"external": {"phones"}}, 2)])
def test_twins_are_held_back_only_toward_a_side_that_merges_on_create(merges: dict[str, set[str]], created: int) -> None:
    xs = [rec("x1", emails=["a@x.com"], phones=["+1555"]), rec("x2", emails=["b@x.com"], phones=["+1555"])]
    p = plan([], [], xs, merges_on_create=merges)
    assert p.count("create_cloze") == created
    assert [e.code for e in p.errors] == ([] if created else ["duplicate_on_side"] * 2)


@pytest.mark.parametrize("merges,created", [({}, 2), ({"external": {"phones"}}, 0), ({"cloze": {"phones"}}, 2)])
def test_cloze_twins_are_held_back_only_toward_an_external_side_that_merges(merges: dict[str, set[str]], created: int) -> None:
    cs = [rec("c1", emails=["a@x.com"], phones=["+1555"]), rec("c2", emails=["b@x.com"], phones=["+1555"])]
    p = plan([], cs, [], merges_on_create=merges)
    assert p.count("create_external") == created


def test_plan_counts_deletes() -> None:
    cs = [rec("c1", links=["x1"]), rec("c2", links=["x2"])]
    p = plan([link(1, "c1", "x1", values=base(cs[0])), link(2, "c2", "x2", values=base(cs[1]))], cs, [],
             policy="delete")
    assert p.deletes == 2 and p.count("delete_cloze") == 2 and p.count("sync") == 0


# -- at rest ----------------------------------------------------------------------------


def test_a_record_at_rest_holds_its_base_and_its_marker() -> None:
    c, x = rec("c1", links=["x1"]), rec("x1", ref="c1")
    lk = link(1, "c1", "x1", values=base(c))
    assert at_rest(lk, c, "cloze", APP) and at_rest(lk, x, "external", APP)
    assert not at_rest(lk, rec("c1"), "cloze", APP), "marker missing"
    assert not at_rest(lk, rec("x1", ref="c9"), "external", APP)
    assert not at_rest(lk, rec("c1", first="New", links=["x1"]), "cloze", APP)
    assert not at_rest(lk, rec("c1", links=["x1"], problems={"first": "bad"}), "cloze", APP)
    assert not at_rest(link(1, "c1", "x1"), c, "cloze", APP)
    assert not at_rest(link(1, "c1", "x1", values={"first": "Ann"}), c, "cloze", APP), "a field not in the base"


# -- details the outcomes above depend on -------------------------------------------------


def test_the_plan_names_its_entity_and_each_links_id() -> None:
    p = plan([link(4, "c1", None, status="unlinked")], [], [])
    assert p.entity == "person" and [a.link_id for a in p.actions] == [4]


def test_every_link_is_planned_after_one_seen_from_both_sides() -> None:
    c = rec("c1", links=["x1"])
    lk = link(1, "c1", "x1", values=base(c))
    p = plan([lk, link(2, None, "x9", status="unlinked")], [c], [rec("x1", ref="c1")])
    assert [(a.kind, a.link_id) for a in p.actions] == [("forget", 2)]


def test_every_link_is_planned_after_a_take_over() -> None:
    old = rec("c1", links=["x1"])
    p = plan([link(1, "c1", "x1", values=base(old)), link(2, "c5", "x5")], [rec("c2", links=["x1"])],
             [rec("x1", ref="c1")])
    assert sorted((a.kind, a.link_id) for a in p.actions) == [("forget", 2), ("sync", 1)]


def test_a_merge_uses_the_links_bases_and_each_sides_time() -> None:
    old = rec("c1", links=["x1"])
    c = rec("c1", first="Cloze", links=["x1"], modified=1)
    x = rec("x1", first="External", ref="c1", modified=2)
    a = only(plan([link(1, "c1", "x1", values=base(old))], [c], [x]))
    assert a.merge is not None and a.merge.cloze_patch == {"first": "External"} and a.merge.external_patch == {}
    assert [(k.field, k.outcome) for k in a.merge.conflicts] == [("first", "external")]
    a = only(plan([link(1, "c1", "x1", values=base(old))], [rec("c1", first="Cloze", links=["x1"], modified=3)], [x]))
    assert a.merge is not None and a.merge.external_patch == {"first": "Cloze"}


def test_a_one_side_edit_is_no_conflict_because_the_base_is_used() -> None:
    old = rec("c1", links=["x1"])
    a = only(plan([link(1, "c1", "x1", values=base(old))], [rec("c1", first="Annie", links=["x1"])],
                  [rec("x1", ref="c1")]))
    assert a.merge is not None and a.merge.conflicts == [] and a.merge.external_patch == {"first": "Annie"}
    assert a.merge.cloze_patch == {}


def test_a_field_unreadable_on_either_side_is_not_merged() -> None:
    old = rec("c1", links=["x1"])
    lk = link(1, "c1", "x1", values=base(old))
    for c_problems, x_problems in (({"first": "bad"}, {}), ({}, {"first": "bad"})):
        a = only(plan([lk], [rec("c1", first="Annie", emails=["n@x.com"], links=["x1"], problems=c_problems)],
                      [rec("x1", first="Anna", ref="c1", problems=x_problems)]))
        assert a.merge is not None and "first" not in a.merge.cloze_patch and "first" not in a.merge.external_patch
        assert "emails" in a.merge.external_patch


def test_a_missing_app_link_alone_is_written() -> None:
    c, x = rec("c1"), rec("x1", ref="c1")
    a = only(plan([link(1, "c1", "x1", values=base(c))], [c], [x]))
    assert a.add_app_link and not a.set_cloze_ref
    c, x = rec("c1", links=["x1"]), rec("x1")
    a = only(plan([link(1, "c1", "x1", values=base(c))], [c], [x]))
    assert a.set_cloze_ref and not a.add_app_link


def test_a_pair_joined_by_its_markers_needs_no_new_marker() -> None:
    a = only(plan([], [rec("c1", links=["x1"])], [rec("x1", ref="c1")]))
    assert (a.kind, a.add_app_link, a.set_cloze_ref) == ("sync", False, False)


def test_creates_carry_their_sources_problems_on_either_side() -> None:
    p = plan([], [], [rec("x1", problems={"phones": "bad"})])
    assert only(p).source_problems == {"phones": "bad"}


def test_twin_errors_name_the_side_and_record() -> None:
    xs = [rec("x1", phones=["+1555"]), rec("x2", phones=["+1555"])]
    p = plan([], [], xs, merges_on_create={"cloze": {"phones"}})
    assert codes(p) == [("external", "x1", "duplicate_on_side"), ("external", "x2", "duplicate_on_side")]
    cs = [rec("c1", phones=["+1555"]), rec("c2", phones=["+1555"])]
    p = plan([], cs, [], merges_on_create={"external": {"phones"}})
    assert codes(p) == [("cloze", "c1", "duplicate_on_side"), ("cloze", "c2", "duplicate_on_side")]


def test_at_rest_reads_the_base_of_the_records_own_side() -> None:
    c, x = rec("c1", links=["x1"]), rec("x1", first="Other", ref="c1")
    lk = LinkState(1, "c1", "x1", "active", base(c), base(x))
    assert at_rest(lk, c, "cloze", APP) and at_rest(lk, x, "external", APP)
    assert not at_rest(lk, x, "cloze", APP) and not at_rest(lk, c, "external", APP)


def test_update_beats_delete_reads_the_survivors_own_base() -> None:
    c = rec("c1", first="Same")
    lk = LinkState(1, "c1", "x1", "active", base(c), {**base(c), "first": "Different"})
    assert only(plan([lk], [c], [], policy="delete")).kind == "delete_cloze"
    x = rec("x1", first="Same")
    lk = LinkState(1, "c1", "x1", "active", {**base(x), "first": "Different"}, base(x))
    assert only(plan([lk], [], [x], policy="delete")).kind == "delete_external"


def test_a_linked_record_is_judged_by_the_keys_it_holds_after_the_merge() -> None:
    """The guard against duplicates looks at the e-mails a linked pair will hold once this run writes."""
    before = rec("c1", links=["x1"], emails=["a@x.com", "d@x.com"])
    lk = link(1, "c1", "x1", values=base(before))
    dropped = rec("c1", links=["x1"], emails=["a@x.com"])  # Cloze removed d@: the merge removes it from x1
    p = plan([lk], [dropped, rec("c5", emails=["d@x.com"])], [rec("x1", ref="c1", emails=["a@x.com", "d@x.com"])],
             m=mapping(to_cloze=False))
    assert ("create_external", "c5", None) in kinds(p) and p.errors == []
    added = rec("c1", links=["x1"], emails=["a@x.com", "d@x.com", "n@x.com"])  # Cloze added n@: x1 gets it too
    p = plan([lk], [added], [rec("x1", ref="c1", emails=["a@x.com", "d@x.com"]), rec("x7", emails=["n@x.com"])])
    assert codes(p) == [("external", "x7", "duplicate")] and p.count("create_cloze") == 0


def test_a_sync_keeps_each_sides_modification_time_as_read() -> None:
    old = rec("c1", links=["x1"])
    c, x = rec("c1", first="Annie", links=["x1"], modified=5), rec("x1", ref="c1", modified=9)
    a = only(plan([link(1, "c1", "x1", values=base(old))], [c], [x]))
    assert (a.seen_at("cloze"), a.seen_at("external")) == (5, 9)


def test_a_record_sent_in_a_shape_that_cannot_be_read_is_a_record_error_naming_it() -> None:
    obs = observe([rec("c1")], [])
    obs.cloze_unreadable = {"c9": "no id", "c8": "not an object"}
    obs.external_unreadable = {"x7": "bad date"}
    p = plan_entity("person", [], obs, mapping(), app_id=APP, delete_policy="unlink")
    assert [(e.side, e.record_id, e.message, e.code) for e in p.errors] == [
        ("cloze", "c8", "not an object", "unreadable_record"), ("cloze", "c9", "no id", "unreadable_record"),
        ("external", "x7", "bad date", "unreadable_record")]


def test_a_take_over_drops_every_marker_naming_a_vanished_record() -> None:
    """The external record still names the deleted Cloze record, and the claimer its own deleted counterpart."""
    old, claimer_old = rec("c1", links=["x1"]), rec("c2", links=["x2"])
    claimer, x = rec("c2", first="Chair", links=["x1", "x2"]), rec("x1", ref="c1")
    p = plan([link(7, "c1", "x1", values=base(old)), link(8, "c2", "x2", values=base(claimer_old))], [claimer], [x],
             policy="delete", cloze_gone=["c1"], external_gone=["x2"])
    a = only(p)
    assert (a.kind, a.link_id, a.cloze_id, a.external_id) == ("sync", 7, "c2", "x1")
    assert (a.stale_marker("external"), a.stale_marker("cloze")) == ("c1", "x2")


def test_a_linked_record_renamed_by_the_merge_is_judged_by_its_new_name_in_any_case() -> None:
    name = FieldRule("name", FieldKind.TEXT, "both", "newest_wins", "name", "name")
    by_name = replace(mapping(match_on=("name",)), rules=(name,))

    def company(rid: str, title: str, *, links: tuple[str, ...] = (), ref: str | None = None) -> Canon:
        return Canon(id=rid, values={"name": title}, problems={}, modified_at=None,
                     app_links=frozenset({(APP, x) for x in links}), cloze_ref=ref,
                     match_keys={"name": frozenset({title.lower()})}, scope={})

    renamed = company("c1", "Beta Ltd", links=("x1",))  # renamed in Cloze: x1 is renamed too
    obs = observe([renamed], [company("x1", "Acme", ref="c1"), company("x7", "beta ltd")])
    p = plan_entity("person", [link(1, "c1", "x1", values={"name": "Acme"})], obs, by_name, app_id=APP,
                    delete_policy="unlink")
    assert kinds(p) == [("sync", "c1", "x1")] and codes(p) == [("external", "x7", "duplicate")]


def test_a_disputed_survivor_does_not_hold_back_the_take_over_of_another() -> None:
    old1, old5 = rec("c1", links=["x1"]), rec("c5", links=["x5"])
    links = [link(7, "c1", "x1", values=base(old1)), link(8, "c5", "x5", values=base(old5))]
    p = plan(links, [rec("c2", links=["x1"]), rec("c3", links=["x1"]), rec("c6", links=["x5"])],
             [rec("x1", ref="c1"), rec("x5", ref="c5")], policy="delete", cloze_gone=["c1", "c5"])
    assert kinds(p) == [("sync", "c6", "x5")]
    assert codes(p) == [("cloze", "c2", "marker_collision"), ("cloze", "c3", "marker_collision")]


def test_an_ambiguous_claim_by_e_mail_does_not_hold_back_the_take_over_of_another() -> None:
    old1, old5 = rec("c1", emails=["a@x.com"]), rec("c5", links=["x5"])
    links = [link(7, "c1", "x1", values=base(old1)), link(8, "c5", "x5", values=base(old5))]
    p = plan(links, [rec("c2", emails=["a@x.com"]), rec("c3", emails=["a@x.com"]), rec("c6", links=["x5"])],
             [rec("x1", emails=["a@x.com"]), rec("x5", ref="c5")], policy="delete", cloze_gone=["c1", "c5"])
    assert ("sync", "c6", "x5") in kinds(p) and ("delete_external", "c1", "x1") in kinds(p)


def test_a_record_paired_this_run_is_judged_by_the_keys_its_merge_leaves_it() -> None:
    """c1 and x1 pair on a@; the merge gives c1 n@ too, so x7 (n@) is a likely duplicate, not a new record."""
    p = plan([], [rec("c1", emails=["a@x.com"])], [rec("x1", emails=["a@x.com", "n@x.com"]), rec("x7", emails=["n@x.com"])])
    assert kinds(p) == [("sync", "c1", "x1")] and codes(p) == [("external", "x7", "duplicate")]
