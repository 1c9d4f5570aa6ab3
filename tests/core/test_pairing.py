"""Each step of pairing unlinked records, on plain data: every outcome and every error code."""

from __future__ import annotations

import pytest

from connectors.model import Side
from syncd.core import pairing
from syncd.core.actions import LinkState, PlanError
from syncd.core.mapping import Canon
from tests.core.build import APP, link, mapping, observe, rec


def codes(errors: list[PlanError]) -> list[tuple[str, str, str]]:
    return [(e.side, e.record_id, e.code) for e in errors]


# -- markers ----------------------------------------------------------------------------


def test_marker_targets_are_this_apps_links_sorted_or_the_cloze_identity() -> None:
    c = rec("c1", links=["x2", "x1"], other_links=[("other.example", "x9")])
    assert pairing.marker_targets(c, "cloze", APP) == ("x1", "x2")
    assert pairing.marker_targets(rec("c2"), "cloze", APP) == ()
    assert pairing.marker_targets(rec("x1", ref="c1"), "external", APP) == ("c1",)
    assert pairing.marker_targets(rec("x1", links=["x7"]), "external", APP) == ()


def test_record_state_seen_gone_or_unknown() -> None:
    obs = observe([rec("c1")], [rec("x1")], complete=False, cloze_gone=["c9"], external_gone=["x9"])
    assert pairing.record_state("c1", obs, "cloze") == "seen"
    assert pairing.record_state("x1", obs, "external") == "seen"
    assert pairing.record_state("c9", obs, "cloze") == "gone"
    assert pairing.record_state("x9", obs, "external") == "gone"
    assert pairing.record_state("x9", obs, "cloze") == "unknown"
    assert pairing.record_state("c2", obs, "cloze") == "unknown"
    assert pairing.record_state(None, obs, "cloze") == "gone"
    assert pairing.record_state("c2", observe(complete=True), "cloze") == "gone"
    unreadable = observe(complete=True)
    unreadable.cloze_unreadable = {"c3": "no id"}
    assert pairing.record_state("c3", unreadable, "cloze") == "unknown", "it exists: a full listing showed it"


@pytest.mark.parametrize("targets,complete,expected", [
    ((), True, None),
    (("a", "b"), True, "several"),
    (("free",), False, "pair"),
    (("linked",), False, "collision"),
    (("dead",), False, "stale"),
    (("nowhere",), True, "stale"),
    (("nowhere",), False, "unseen"),
])
def test_marker_verdict(targets: tuple[str, ...], complete: bool, expected: str | None) -> None:
    verdict = pairing.marker_verdict(targets, free={"free"}, linked={"linked"}, known_gone={"dead"}, complete=complete)
    assert verdict == expected


def test_a_free_target_outranks_a_linked_one_for_the_same_id() -> None:
    assert pairing.marker_verdict(("x",), free={"x"}, linked={"x"}, known_gone=(), complete=False) == "pair"
    assert pairing.marker_verdict(("x",), free=(), linked={"x"}, known_gone={"x"}, complete=True) == "collision"


def joined(cloze: list[Canon], external: list[Canon], *, linked_c: dict[str, LinkState] | None = None,
           linked_e: dict[str, LinkState] | None = None, complete: bool = True, **gone: list[str]) -> pairing.Joined:
    obs = observe(cloze, external, complete=complete, **gone)
    free: dict[Side, dict[str, Canon]] = {"cloze": {c.id: c for c in cloze}, "external": {e.id: e for e in external}}
    return pairing.join_by_markers(free, {"cloze": linked_c or {}, "external": linked_e or {}}, obs, APP)


def test_an_app_link_pairs_its_external_record_and_that_record_is_not_joined_again() -> None:
    c, x = rec("c1", links=["x1"]), rec("x1", ref="c1")
    out = joined([c], [x])
    assert out.pairs == [(c, x)] and out.errors == [] and out.blocked == {"cloze": set(), "external": set()}


def test_a_cloze_identity_pairs_its_cloze_record() -> None:
    c, x = rec("c1"), rec("x1", ref="c1")
    out = joined([c], [x])
    assert out.pairs == [(c, x)] and out.errors == []


def test_join_by_markers_leaves_its_inputs_alone() -> None:
    c, x = rec("c1", links=["x1"]), rec("x1")
    free: dict[Side, dict[str, Canon]] = {"cloze": {"c1": c}, "external": {"x1": x}}
    pairing.join_by_markers(free, {"cloze": {}, "external": {}}, observe([c], [x]), APP)
    assert free == {"cloze": {"c1": c}, "external": {"x1": x}}


def test_several_app_links_hold_the_record_back() -> None:
    out = joined([rec("c1", links=["x1", "x2"])], [rec("x1"), rec("x2")])
    assert codes(out.errors) == [("cloze", "c1", "several_app_links")]
    assert out.errors[0].message == f"carries 2 App Links for {APP}: x1, x2"
    assert out.blocked["cloze"] == {"c1"} and out.pairs == []


def test_an_app_link_to_a_record_linked_elsewhere_is_a_collision_naming_the_other_record() -> None:
    out = joined([rec("c2", links=["x1"])], [], linked_e={"x1": link(1, "c1", "x1")})
    assert codes(out.errors) == [("cloze", "c2", "marker_collision")]
    assert out.errors[0].message == ("its App Link points at external record x1, which is linked to another "
                                     "Cloze record (c1)")
    assert out.blocked["cloze"] == {"c2"}


def test_a_cloze_identity_of_a_record_linked_elsewhere_is_a_collision() -> None:
    out = joined([], [rec("x2", ref="c1")], linked_c={"c1": link(1, "c1", "x1")})
    assert codes(out.errors) == [("external", "x2", "marker_collision")]
    assert out.errors[0].message == ("its Cloze identity c1 belongs to a record linked to another external "
                                     "record (x1)")
    assert out.blocked["external"] == {"x2"}


def test_a_collision_with_a_tombstone_says_deleted() -> None:
    out = joined([rec("c2", links=["x1"])], [], linked_e={"x1": link(1, None, "x1", status="unlinked")})
    assert out.errors[0].message.endswith("(deleted)")


@pytest.mark.parametrize("complete,gone", [(True, []), (False, ["x1"])])
def test_an_app_link_to_a_missing_record_is_stale(complete: bool, gone: list[str]) -> None:
    out = joined([rec("c1", links=["x1"])], [], complete=complete, external_gone=gone)
    assert codes(out.errors) == [("cloze", "c1", "stale_app_link")]
    assert out.errors[0].message == ("its App Link points at external record x1, which does not exist; "
                                     "remove the App Link or delete the record")


@pytest.mark.parametrize("complete,gone", [(True, []), (False, ["c1"])])
def test_a_cloze_identity_of_a_missing_record_is_stale(complete: bool, gone: list[str]) -> None:
    out = joined([], [rec("x1", ref="c1")], complete=complete, cloze_gone=gone)
    assert codes(out.errors) == [("external", "x1", "stale_cloze_ref")]
    assert out.errors[0].message == ("its Cloze identity c1 names a Cloze record that does not exist; "
                                     "clear it or delete the record")


def test_a_marker_to_a_record_not_read_this_run_waits_silently() -> None:
    out = joined([rec("c1", links=["x1"])], [rec("x2", ref="c2")], complete=False)
    assert out.errors == [] and out.pairs == []
    assert out.blocked == {"cloze": {"c1"}, "external": {"x2"}}


def test_a_record_held_back_by_its_app_links_can_still_be_named_by_an_external_record() -> None:
    c = rec("c1", links=["x1", "x2"])
    x3 = rec("x3", ref="c1")
    out = joined([c], [x3])
    assert out.pairs == [(c, x3)] and out.blocked["cloze"] == {"c1"}


# -- match rules ------------------------------------------------------------------------


def match(cloze: list[Canon], external: list[Canon], *, blocked_c: frozenset[str] = frozenset(),
          blocked_e: frozenset[str] = frozenset(),
          linked_keys: dict[str, str] | None = None, rule: str = "email") -> pairing.Matched:
    return pairing.match_by_rule(rule, {c.id: c for c in cloze}, {e.id: e for e in external},
                                 set(blocked_c), set(blocked_e), linked_keys or {})


def test_one_candidate_each_side_is_a_pair() -> None:
    c, x = rec("c1", emails=["a@x.com"]), rec("x1", emails=["a@x.com"])
    out = match([c, rec("c2", emails=["b@x.com"])], [x, rec("x2", emails=["z@x.com"])])
    assert out.pairs == [(c, x)] and out.errors == [] and not out.blocked_cloze and not out.blocked_external


def test_two_candidates_hold_everyone_back() -> None:
    out = match([rec("c1", emails=["a@x.com"])], [rec("x1", emails=["a@x.com"]), rec("x2", emails=["a@x.com"])])
    assert codes(out.errors) == [("cloze", "c1", "ambiguous_match"), ("external", "x1", "ambiguous_match"),
                                 ("external", "x2", "ambiguous_match")]
    assert out.errors[0].message == ("matches by email more than one record (x1, x2; other Cloze records: 0); "
                                     "merge the duplicates")
    assert out.errors[1].message == ("matches by email Cloze record c1, which matches more than one record "
                                     "(x1, x2); merge the duplicates")
    assert out.blocked_cloze == {"c1"} and out.blocked_external == {"x1", "x2"} and out.pairs == []


def test_a_rival_cloze_record_with_the_same_key_holds_both_back() -> None:
    out = match([rec("c1", emails=["a@x.com"]), rec("c2", emails=["a@x.com"])], [rec("x1", emails=["a@x.com"])])
    assert codes(out.errors) == [("cloze", "c2", "ambiguous_match"), ("cloze", "c1", "ambiguous_match"),
                                 ("external", "x1", "ambiguous_match")]
    assert out.errors[2].message == ("matches by email Cloze record c1, which shares it with Cloze record c2; "
                                     "merge the duplicates")
    assert out.errors[0].message == "shares its email with Cloze record c1; merge the duplicates"
    assert "other Cloze records: 1" in out.errors[1].message
    assert out.blocked_cloze == {"c1", "c2"} and out.blocked_external == {"x1"}


def test_a_rival_through_another_key_of_the_candidate_holds_both_back() -> None:
    out = match([rec("c1", emails=["a@x.com"]), rec("c2", emails=["b@x.com"])],
                [rec("x1", emails=["a@x.com", "b@x.com"])])
    assert out.pairs == [] and out.blocked_cloze == {"c1", "c2"}
    assert ("cloze", "c2", "ambiguous_match") in codes(out.errors)


def test_a_candidate_already_held_back_holds_the_record_back_too() -> None:
    out = match([rec("c1", emails=["a@x.com"])], [rec("x1", emails=["a@x.com"])], blocked_e=frozenset({"x1"}))
    assert codes(out.errors) == [("cloze", "c1", "ambiguous_match")]
    assert out.errors[0].message == "matches by email a record held back as ambiguous; merge the duplicates"
    assert out.blocked_cloze == {"c1"} and out.blocked_external == set()


def test_a_key_owned_only_by_a_linked_record_is_a_likely_duplicate() -> None:
    out = match([rec("c1", emails=["a@x.com"])], [], linked_keys={"a@x.com": "x7"})
    assert codes(out.errors) == [("cloze", "c1", "duplicate")]
    assert out.errors[0].message == ("matches by email external record x7, which is already linked to another "
                                     "Cloze record (a duplicate?)")
    assert out.blocked_cloze == {"c1"}


def test_a_linked_owner_does_not_stop_a_free_candidate() -> None:
    c, x = rec("c1", emails=["a@x.com"]), rec("x1", emails=["a@x.com"])
    out = match([c], [x], linked_keys={"a@x.com": "x7"})
    assert out.pairs == [(c, x)] and out.errors == []


def test_records_without_keys_or_held_back_are_not_matched() -> None:
    x = rec("x1", emails=["a@x.com"])
    assert match([rec("c1")], [x]).pairs == []
    out = match([rec("c1", emails=["a@x.com"])], [x], blocked_c=frozenset({"c1"}))
    assert out.pairs == [] and out.errors == [] and out.blocked_cloze == set()
    assert match([rec("c1", phones=["1"])], [rec("x1", phones=["1"])], rule="email").pairs == []


def test_a_matched_external_record_is_not_matched_twice() -> None:
    c1, c2 = rec("c1", emails=["a@x.com"]), rec("c2", emails=["b@x.com"])
    x = rec("x1", emails=["a@x.com"])
    out = match([c1, c2], [x, rec("x2", emails=["b@x.com"])])
    assert [(c.id, e.id) for c, e in out.pairs] == [("c1", "x1"), ("c2", "x2")]


def test_match_by_rule_uses_the_named_rule() -> None:
    c, x = rec("c1", phones=["+1555"]), rec("x1", phones=["+1555"])
    assert match([c], [x], rule="phone").pairs == [(c, x)]


def test_key_owners_maps_each_key_to_its_record() -> None:
    owners = pairing.key_owners([rec("x1", emails=["a@x.com", "b@x.com"]), rec("x2", emails=["c@x.com"])], "email")
    assert owners == {"a@x.com": "x1", "b@x.com": "x1", "c@x.com": "x2"}
    assert pairing.key_owners([rec("x1", emails=["a@x.com"])], "phone") == {}


def test_an_external_record_sharing_a_key_with_a_linked_cloze_record_is_a_likely_duplicate() -> None:
    free = {"x1": rec("x1", emails=["a@x.com"]), "x2": rec("x2", emails=["b@x.com"]), "x3": rec("x3", emails=["a@x.com"])}
    errors = pairing.linked_clashes("email", free, {"x3"}, {"a@x.com": "c7"})
    assert codes(errors) == [("external", "x1", "duplicate")]
    assert errors[0].message == ("matches by email Cloze record c7, which is already linked to another external "
                                 "record (a duplicate?)")


# -- creates ----------------------------------------------------------------------------


@pytest.mark.parametrize("modified,since,held", [(5, 5, True), (4, 5, True), (6, 5, False), (None, 0, True)])
def test_held_since(modified: int | None, since: int, held: bool) -> None:
    assert pairing.held_since({("cloze", "c1"): since}, "cloze", rec("c1", modified=modified)) is held
    assert pairing.held_since({("external", "c1"): since}, "cloze", rec("c1", modified=modified)) is False


def test_creatable_follows_direction_blocks_filters_and_holds() -> None:
    records = {r.id: r for r in (rec("c3"), rec("c1"), rec("c2"), rec("c4", scope={"segment": "partner"}),
                                 rec("c5", modified=1))}
    m = mapping(segments=["customer"])
    hold = {("cloze", "c5"): 1}
    assert [c.id for c in pairing.creatable(records, "cloze", m, {"c2"}, hold)] == ["c1", "c3"]
    assert pairing.creatable(records, "cloze", mapping(to_external=False), set(), {}) == []
    assert [c.id for c in pairing.creatable(records, "external", mapping(to_external=False), set(), {})] == \
        ["c1", "c2", "c3", "c4", "c5"]
    assert pairing.creatable(records, "external", mapping(to_cloze=False), set(), {}) == []


def test_twins_share_a_value_of_a_field_the_target_side_merges_by() -> None:
    records = [rec("x1", phones=["+1555"], emails=["a@x.com"]), rec("x2", phones=["+1555"], emails=["b@x.com"]),
               rec("x3", phones=["+1666"], emails=["c@x.com"])]
    ids, errors = pairing.twins(records, "external", {"emails", "phones"})
    assert ids == {"x1", "x2"}
    assert codes(errors) == [("external", "x1", "duplicate_on_side"), ("external", "x2", "duplicate_on_side")]
    assert errors[0].message == ("shares phone '+1555' with x2 on the same side; merge the duplicates before "
                                 "they are synced")
    assert errors[1].message.startswith("shares phone '+1555' with x1 ")


def test_no_twins_toward_a_side_that_does_not_merge_or_not_by_that_field() -> None:
    records = [rec("x1", phones=["+1555"]), rec("x2", phones=["+1555"])]
    assert pairing.twins(records, "external", ()) == (set(), [])
    assert pairing.twins(records, "external", {"emails"}) == (set(), [])
    assert pairing.twins(records, "external", {"first"}) == (set(), []), "a scalar field is no identifier"


# -- take-overs -------------------------------------------------------------------------


def takeovers(links: list[LinkState], cloze: list[Canon], external: list[Canon], *, match_on: tuple[str, ...] = ("email",),
              complete: bool = True, **gone: list[str]) -> pairing.Takeovers:
    return pairing.find_takeovers(links, observe(cloze, external, complete=complete, **gone), APP, match_on)


def test_a_record_carrying_the_app_link_of_a_vanished_cloze_record_takes_over_its_link() -> None:
    survivor, x = rec("c2", links=["x1"]), rec("x1", ref="c1")
    lk = link(7, "c1", "x1")
    out = takeovers([lk], [survivor], [x])
    assert out.found == [pairing.Takeover(lk, "cloze", survivor, x)] and out.errors == []
    assert out.found[0].pair() == (survivor, x)
    assert out.links() == {7} and out.claimers("cloze") == {"c2"} and out.claimers("external") == set()
    assert out.held("cloze") == set()


def test_a_restored_external_record_takes_over_the_tombstone_of_its_cloze_record() -> None:
    c, x = rec("c1"), rec("x1", ref="c1")
    tomb = link(3, "c1", None, status="unlinked")
    out = takeovers([tomb], [c], [x])
    assert [(t.link.id, t.side, t.claimer.id) for t in out.found] == [(3, "external", "x1")]
    assert out.found[0].pair() == (c, x)
    assert out.claimers("external") == {"x1"}


def test_no_take_over_while_the_linked_record_is_still_there_or_unknown() -> None:
    lk = link(7, "c1", "x1")
    assert takeovers([lk], [rec("c1"), rec("c2", links=["x1"])], [rec("x1")]).found == []
    out = takeovers([lk], [rec("c2", links=["x1"])], [rec("x1")], complete=False)
    assert out.found == [] and out.errors == [] and out.links() == set()
    assert takeovers([lk], [rec("c2", links=["x1"])], [rec("x1")], complete=False, cloze_gone=["c1"]).found


def test_no_take_over_of_a_survivor_not_seen() -> None:
    assert takeovers([link(7, "c1", "x1")], [rec("c2", links=["x1"])], []).found == []


def test_two_claimers_are_reported_and_the_link_is_held() -> None:
    out = takeovers([link(7, "c1", "x1")], [rec("c2", links=["x1"]), rec("c3", links=["x1"])], [rec("x1", ref="c1")])
    assert out.found == [] and out.contested == {7} and out.links() == {7}
    assert codes(out.errors) == [("cloze", "c2", "marker_collision"), ("cloze", "c3", "marker_collision")]
    assert out.errors[0].message == ("names by marker external record x1, whose linked cloze record c1 is gone, "
                                     "claimed by c2, c3; merge the duplicates")
    assert out.held("cloze") == {"c2", "c3"} and out.held("external") == set()


def test_a_survivor_naming_another_live_record_is_reported() -> None:
    out = takeovers([link(7, "c1", "x1")], [rec("c2", links=["x1"]), rec("c9")], [rec("x1", ref="c9")])
    assert out.found == [] and out.contested == {7}
    assert codes(out.errors) == [("cloze", "c2", "marker_collision")]
    assert out.errors[0].message == ("names by marker external record x1, whose linked cloze record c1 is gone, "
                                     "whose own join marker names cloze record c9; clear the wrong marker")


def test_a_survivor_naming_the_claimer_or_a_vanished_record_is_no_rival() -> None:
    lk = link(7, "c1", "x1")
    assert takeovers([lk], [rec("c2", links=["x1"])], [rec("x1", ref="c2")]).found
    assert takeovers([lk], [rec("c2", links=["x1"])], [rec("x1", ref="c5")]).found
    assert takeovers([lk], [rec("c2", links=["x1"])], [rec("x1")]).found


def test_a_linked_record_does_not_claim() -> None:
    lk, other = link(7, "c1", "x1"), link(8, "c2", "x2")
    assert takeovers([lk, other], [rec("c2", links=["x1"])], [rec("x1"), rec("x2")]).found == []


def test_a_record_with_several_markers_does_not_claim() -> None:
    assert takeovers([link(7, "c1", "x1")], [rec("c2", links=["x1", "x5"])], [rec("x1")]).found == []


def test_a_record_without_marker_sharing_a_key_with_the_survivor_takes_over() -> None:
    c2, x = rec("c2", emails=["a@x.com"]), rec("x1", emails=["a@x.com", "b@x.com"], ref="c1")
    out = takeovers([link(7, "c1", "x1")], [c2, rec("c3", emails=["z@x.com"])], [x])
    assert [(t.claimer.id, t.target.id) for t in out.found] == [("c2", "x1")]
    assert takeovers([link(7, "c1", "x1")], [c2], [x], match_on=()).found == []


def test_an_ambiguous_claim_by_rule_alone_is_no_take_over_and_holds_nothing() -> None:
    x = rec("x1", emails=["a@x.com"])
    out = takeovers([link(7, "c1", "x1")], [rec("c2", emails=["a@x.com"]), rec("c3", emails=["a@x.com"])], [x])
    assert out.found == [] and out.contested == set() and out.errors == [] and out.held("cloze") == set()
    c = rec("c2", emails=["a@x.com", "b@x.com"])
    out = takeovers([link(7, "c1", "x1"), link(8, "c9", "x2")], [c],
                    [rec("x1", emails=["a@x.com"]), rec("x2", emails=["b@x.com"])])
    assert out.found == [] and out.contested == set()


def test_a_linked_record_naming_the_survivor_by_marker_is_a_rival_of_a_claim_by_rule() -> None:
    """Cloze merged c1's duplicate into it, keeping the App Link: c1 (linked to x2) now names x1 too.

    A new c3 sharing x1's e-mail is then no evidence: taking x1 over would leave two Cloze
    records naming x1.
    """
    merged, newcomer = rec("c1", links=["x2", "x1"], emails=["a@x.com"]), rec("c3", emails=["a@x.com"])
    out = takeovers([link(7, "c9", "x1"), link(8, "c1", "x2")], [merged, newcomer],
                    [rec("x1", emails=["a@x.com"], ref="c9"), rec("x2", ref="c1")])
    assert out.found == [] and out.contested == set() and out.errors == []


def test_a_linked_record_naming_the_survivor_by_marker_disputes_a_claim_by_marker() -> None:
    out = takeovers([link(7, "c9", "x1"), link(8, "c1", "x2")],
                    [rec("c1", links=["x2", "x1"]), rec("c3", links=["x1"])], [rec("x1", ref="c9"), rec("x2", ref="c1")])
    assert out.found == [] and out.contested == {7}
    assert codes(out.errors) == [("cloze", "c3", "marker_collision")]
    assert out.errors[0].message == ("names by marker external record x1, whose linked cloze record c9 is gone, "
                                     "which cloze record c1 names too; clear the wrong marker")


def test_a_marker_claim_outranks_a_rule_claim() -> None:
    marked, matching = rec("c2", links=["x1"]), rec("c3", emails=["a@x.com"])
    out = takeovers([link(7, "c1", "x1")], [marked, matching], [rec("x1", emails=["a@x.com"])])
    assert [t.claimer.id for t in out.found] == ["c2"] and out.errors == []


def test_a_tombstone_is_taken_over_by_marker_only() -> None:
    tomb = link(3, "c1", None, status="unlinked")
    assert takeovers([tomb], [rec("c1", emails=["a@x.com"])], [rec("x1", emails=["a@x.com"])]).found == []


def test_an_external_record_takes_over_from_a_vanished_external_record() -> None:
    c, x2 = rec("c1", links=["x1"]), rec("x2", ref="c1")
    out = takeovers([link(7, "c1", "x1")], [c], [x2])
    assert [(t.side, t.claimer.id, t.target.id) for t in out.found] == [("external", "x2", "c1")]
    assert out.found[0].pair() == (c, x2)


def test_vacancies_name_the_side_whose_record_is_gone() -> None:
    links = [link(1, "c1", "x1"), link(2, "c2", "x2"), link(3, None, "x3", status="unlinked"), link(4, "c4", "x4")]
    obs = observe([rec("c1"), rec("c4")], [rec("x2"), rec("x3")], complete=True)
    assert pairing.vacancies(links, obs) == {("external", "c1"): links[0], ("cloze", "x2"): links[1],
                                             ("cloze", "x3"): links[2], ("external", "c4"): links[3]}


def test_the_marker_join_goes_on_after_a_record_without_marker_and_after_a_pair() -> None:
    c1, c2, c3 = rec("c1"), rec("c2", links=["x2"]), rec("c3", links=["x3"])
    x2, x3 = rec("x2"), rec("x3")
    out = joined([c1, c2, c3], [x2, x3, rec("x4", ref="c9")])
    assert out.pairs == [(c2, x2), (c3, x3)]
    assert codes(out.errors) == [("external", "x4", "stale_cloze_ref")]


def test_the_marker_join_goes_on_after_an_external_record_already_paired() -> None:
    c1 = rec("c1", links=["x1"])
    x1, x2 = rec("x1", ref="c1"), rec("x2", ref="c1")
    out = joined([c1], [x1, x2])
    assert out.pairs == [(c1, x1)]
    assert codes(out.errors) == [("external", "x2", "stale_cloze_ref")], "c1 is taken: x2 names no free record"


def test_an_external_collision_with_a_tombstone_says_deleted() -> None:
    out = joined([], [rec("x2", ref="c1")], linked_c={"c1": link(1, "c1", None, status="unlinked")})
    assert out.errors[0].message.endswith("(deleted)")


def test_linked_clashes_go_on_after_a_held_record() -> None:
    free = {"x0": rec("x0", emails=["a@x.com"]), "x1": rec("x1", emails=["a@x.com"])}
    assert codes(pairing.linked_clashes("email", free, {"x0"}, {"a@x.com": "c7"})) == [("external", "x1", "duplicate")]


def test_three_twins_name_each_other() -> None:
    records = [rec(f"x{i}", phones=["+1555"]) for i in (1, 2, 3)]
    _, errors = pairing.twins(records, "external", {"phones"})
    assert errors[0].message.startswith("shares phone '+1555' with x2, x3 on the same side")


def test_link_and_observation_read_each_side() -> None:
    lk = link(1, "c1", "x1", values={"first": "a"})
    assert (lk.id_on("cloze"), lk.id_on("external")) == ("c1", "x1")
    obs = observe([rec("c1")], [rec("x1")], cloze_gone=["c9"], external_gone=["x9"])
    assert set(obs.records("cloze")) == {"c1"} and set(obs.records("external")) == {"x1"}
    assert obs.gone("cloze") == {"c9"} and obs.gone("external") == {"x9"}
    with pytest.raises(KeyError):
        obs.records("other")  # type: ignore[arg-type]


def test_a_rival_through_the_records_own_other_key_holds_both_back() -> None:
    out = match([rec("c1", emails=["a@x.com", "b@x.com"]), rec("c2", emails=["b@x.com"])], [rec("x1", emails=["a@x.com"])])
    assert out.pairs == [] and out.blocked_cloze == {"c1", "c2"}


def test_a_candidate_key_no_cloze_record_holds_is_no_rival() -> None:
    c, x = rec("c1", emails=["a@x.com"]), rec("x1", emails=["a@x.com", "z@x.com"])
    assert match([c], [x]).pairs == [(c, x)]


def test_matching_goes_on_after_each_kind_of_held_record() -> None:
    c9 = rec("c9", emails=["n@x.com"])
    x9 = rec("x9", emails=["n@x.com"])
    cases = [
        ([rec("c0", emails=["a@x.com"])], [], {"c0"}, set(), {}),                                   # held before
        ([rec("c0", emails=["a@x.com"])], [rec("x0", emails=["a@x.com"])], set(), {"x0"}, {}),       # candidate held
        ([rec("c0", emails=["a@x.com"])], [], set(), set(), {"a@x.com": "x7"}),                      # linked owner
        ([rec("c0", emails=["a@x.com"]), rec("c1", emails=["a@x.com"])], [rec("x0", emails=["a@x.com"])],
         set(), set(), {}),                                                                         # ambiguous
        ([rec("c0")], [], set(), set(), {}),                                                         # no candidate
    ]
    for cloze, external, held_c, held_e, linked in cases:
        out = match([*cloze, c9], [*external, x9], blocked_c=frozenset(held_c), blocked_e=frozenset(held_e),
                    linked_keys=linked)
        assert (c9, x9) in out.pairs, (cloze, external)


def test_a_record_with_a_marker_elsewhere_does_not_claim_by_rule() -> None:
    out = takeovers([link(7, "c1", "x1")], [rec("c2", links=["x9"], emails=["a@x.com"])],
                    [rec("x1", emails=["a@x.com"])])
    assert out.found == [] and out.errors == []


def test_rule_claims_read_every_rule_even_one_a_record_lacks() -> None:
    out = takeovers([link(7, "c1", "x1")], [rec("c2", emails=["a@x.com"])],
                    [rec("x1", emails=["a@x.com"], phones=["+1555"])], match_on=("phone", "email"))
    assert [t.claimer.id for t in out.found] == ["c2"]


def test_rule_claims_are_looked_for_after_a_tombstone() -> None:
    links = [link(1, None, "x0", status="unlinked"), link(7, "c1", "x1")]
    out = takeovers(links, [rec("c2", emails=["a@x.com"]), rec("c3", emails=["z@x.com"])],
                    [rec("x0", emails=["z@x.com"]), rec("x1", emails=["a@x.com"])])
    assert [(t.link.id, t.claimer.id) for t in out.found] == [(7, "c2")]


def test_a_disputed_tombstone_says_its_record_was_deleted() -> None:
    out = takeovers([link(3, "c1", None, status="unlinked")], [rec("c1")], [rec("x1", ref="c1"), rec("x2", ref="c1")])
    assert out.errors[0].message == ("names by marker cloze record c1, whose linked external record (deleted) is gone, "
                                     "claimed by x1, x2; merge the duplicates")


def test_a_cloze_survivor_naming_another_live_external_record_is_no_take_over() -> None:
    out = takeovers([link(7, "c1", "x1")], [rec("c1", links=["x3"])], [rec("x2", ref="c1"), rec("x3")])
    assert out.found == [] and out.contested == {7}
    assert out.errors[0].message.endswith("whose own join marker names external record x3; clear the wrong marker")


def test_a_merge_survivor_whose_own_counterpart_is_gone_takes_over_the_link_its_marker_names() -> None:
    """Cloze merged c3 into c1 (keeping c3's App Link); x1, c1's counterpart, was deleted. x3 is
    c1's counterpart now: its link moves to c1, and c1's old link goes with the take-over."""
    merged = rec("c1", links=["x1", "x3"])
    old, other = link(1, "c1", "x1"), link(3, "c3", "x3")
    out = takeovers([old, other], [merged], [rec("x3", ref="c3")])
    assert [(t.link.id, t.claimer.id, t.target.id, t.released) for t in out.found] == [(3, "c1", "x3", old)]
    assert out.links() == {1, 3} and out.errors == []


def test_a_linked_record_whose_counterpart_is_there_still_does_not_claim() -> None:
    out = takeovers([link(1, "c1", "x1"), link(3, "c3", "x3")], [rec("c1", links=["x1", "x3"])],
                    [rec("x1", ref="c1"), rec("x3", ref="c3")])
    assert out.found == [] and out.links() == set()
