"""Details of the three-way merge the property tests in tests/engine/test_core.py do not pin down."""

from __future__ import annotations

from typing import Any

from connectors.model import FieldKind, SetPatch
from syncd.core.mapping import FieldRule
from syncd.core.merge import merge_fields

FIRST = FieldRule("first", FieldKind.TEXT, "both", "newest_wins", "first", "first")
TITLE = FieldRule("title", FieldKind.TEXT, "both", "newest_wins", "title", "title")
TAGS = FieldRule("tags", FieldKind.TAGS, "both", "newest_wins", "tags", "tags")


def test_a_field_missing_on_either_side_or_skipped_is_left_alone_and_the_rest_merges() -> None:
    for cloze, external in (({"first": "b"}, {}), ({}, {"first": "b"})):
        r = merge_fields((FIRST, TITLE), {"first": "a", "title": "t"}, {"first": "a", "title": "t"},
                         {**cloze, "title": "new"}, {**external, "title": "t"})
        assert r.cloze_patch == {} and r.external_patch == {"title": "new"}
    r = merge_fields((FIRST, TITLE), {"first": "a", "title": "t"}, {"first": "a", "title": "t"},
                     {"first": "b", "title": "new"}, {"first": "a", "title": "t"}, skip=frozenset({"first"}))
    assert r.external_patch == {"title": "new"}


def test_a_base_missing_the_field_on_one_side_is_no_base() -> None:
    r = merge_fields((FIRST,), {}, {"first": "a"}, {"first": "x"}, {"first": "a"})
    assert [(c.field, c.has_base, c.base) for c in r.conflicts] == [("first", False, None)]
    assert r.external_patch == {"first": "x"}


def test_newest_wins_against_an_unknown_time() -> None:
    r = merge_fields((FIRST,), {"first": "a"}, {"first": "a"}, {"first": "b"}, {"first": "c"},
                     cloze_modified=None, external_modified=1)
    assert [c.outcome for c in r.conflicts] == ["external"] and r.cloze_patch == {"first": "c"}


def test_a_set_against_nothing_is_added_whole() -> None:
    r = merge_fields((TAGS,), None, None, {"tags": None}, {"tags": frozenset({"a"})})
    assert r.cloze_patch == {"tags": SetPatch(add=frozenset({"a"}), remove=frozenset(), result=frozenset({"a"}))}
    assert r.external_patch == {}


def rule(direction: str = "both", policy: str = "newest_wins", kind: FieldKind = FieldKind.TEXT) -> FieldRule:
    return FieldRule("f", kind, direction, policy, "f", "f")  # type: ignore[arg-type]


def merged(r: FieldRule, bc: object, be: object, c: object, e: object, **kw: object) -> tuple[object, ...]:
    """(cloze patch, external patch, new base cloze, new base external, conflicts) for the one field ``f``."""
    base_c = None if bc is NOBASE else ({} if bc is ABSENT else {"f": bc})
    base_e = None if be is NOBASE else ({} if be is ABSENT else {"f": be})
    out = merge_fields((r,), base_c, base_e, {"f": c}, {"f": e}, **kw)  # type: ignore[arg-type]
    conflicts = [(k.field, k.base, k.cloze, k.external, k.policy, k.outcome, k.has_base) for k in out.conflicts]
    return (out.cloze_patch.get("f", "-"), out.external_patch.get("f", "-"), out.base_cloze.get("f", "-"),
            out.base_external.get("f", "-"), conflicts)


NOBASE, ABSENT = object(), object()


def test_a_resolution_is_written_where_the_field_flows() -> None:
    res = {"resolutions": {"f": "r"}}
    assert merged(rule(), "a", "a", "b", "c", **res) == ("r", "r", "r", "r", [])
    assert merged(rule("to_cloze"), "a", "a", "b", "c", **res) == ("r", "-", "r", "c", [])
    assert merged(rule("to_external"), "a", "a", "b", "c", **res) == ("-", "r", "b", "r", [])
    assert merged(rule(), "a", "a", "r", "c", **res) == ("-", "r", "r", "r", [])


def test_one_way_fields_copy_their_source() -> None:
    assert merged(rule("to_cloze"), "a", "a", "b", "c") == ("c", "-", "c", "c", [])
    assert merged(rule("to_external"), "a", "a", "b", "c") == ("-", "b", "b", "b", [])
    assert merged(rule("to_cloze"), "a", "a", "c", "c") == ("-", "-", "c", "c", [])


def test_sets_without_a_base_are_united_and_with_one_merged() -> None:
    s = lambda *x: frozenset(x)
    tags = rule(kind=FieldKind.TAGS)
    out = merged(tags, NOBASE, NOBASE, s("a"), s("b"))
    assert out[0] == SetPatch(add=s("b"), remove=s(), result=s("a", "b"))
    assert out[1] == SetPatch(add=s("a"), remove=s(), result=s("a", "b"))
    assert out[2:] == (s("a", "b"), s("a", "b"), [])
    out = merged(tags, s("a", "b"), s("a", "b"), s("a", "c"), s("a", "b", "d"))
    assert out[2] == out[3] == s("a", "c", "d") and out[4] == []
    assert out[0] == SetPatch(add=s("d"), remove=s(), result=s("a", "c", "d"))
    assert out[1] == SetPatch(add=s("c"), remove=s("b"), result=s("a", "c", "d"))
    assert merged(tags, s("a"), s("a"), s("a"), s("a")) == ("-", "-", s("a"), s("a"), [])


def test_scalars_without_a_base() -> None:
    assert merged(rule(), NOBASE, NOBASE, "a", "a") == ("-", "-", "a", "a", [])
    assert merged(rule(), NOBASE, NOBASE, None, "a") == ("a", "-", "a", "a", [])
    assert merged(rule(), NOBASE, NOBASE, "a", None) == ("-", "a", "a", "a", [])
    assert merged(rule(), ABSENT, ABSENT, "a", "b") == \
        ("-", "a", "a", "a", [("f", None, "a", "b", "newest_wins", "cloze", False)])


def test_scalars_against_their_bases() -> None:
    assert merged(rule(), "a", "x", "a", "x") == ("-", "-", "a", "x", []), "unchanged though different"
    assert merged(rule(), "a", "a", "b", "b") == ("-", "-", "b", "b", [])
    assert merged(rule(), "a", "a", "b", "a") == ("-", "b", "b", "b", [])
    assert merged(rule(), "a", "a", "a", "b") == ("b", "-", "b", "b", [])
    assert merged(rule(), "a", "x", "b", "x") == ("-", "b", "b", "b", []), "each side against its own base"
    assert merged(rule(), "x", "a", "x", "b") == ("b", "-", "b", "b", [])


def test_each_policy_settles_a_both_sides_change() -> None:
    assert merged(rule(policy="manual"), "a", "a", "b", "c") == \
        ("-", "-", "a", "a", [("f", "a", "b", "c", "manual", "pending", True)])
    assert merged(rule(policy="cloze_wins"), "a", "a", "b", "c") == \
        ("-", "b", "b", "b", [("f", "a", "b", "c", "cloze_wins", "cloze", True)])
    assert merged(rule(policy="external_wins"), "a", "a", "b", "c") == \
        ("c", "-", "c", "c", [("f", "a", "b", "c", "external_wins", "external", True)])
    assert merged(rule(), "a", "a", "b", "c", cloze_modified=2, external_modified=1)[4][0][5] == "cloze"
    assert merged(rule(), "a", "a", "b", "c", cloze_modified=1, external_modified=1)[4][0][5] == "cloze"
    assert merged(rule(), "a", "a", "b", "c", cloze_modified=None, external_modified=None)[4][0][5] == "cloze"


def test_merge_keeps_the_bases_of_fields_it_does_not_touch() -> None:
    r = merge_fields((FIRST,), {"first": "a", "other": "o"}, {"first": "a", "other": "p"}, {"first": "a"}, {"first": "a"})
    assert r.base_cloze == {"first": "a", "other": "o"} and r.base_external == {"first": "a", "other": "p"}
    assert not r.writes


def test_a_base_missing_the_field_on_the_external_side_is_no_base_too() -> None:
    r = merge_fields((FIRST,), {"first": "a"}, {}, {"first": "a"}, {"first": "x"})
    assert [(c.field, c.has_base) for c in r.conflicts] == [("first", False)]


S = frozenset
SCENARIOS: list[tuple[str, FieldRule, Any, Any, Any, Any, dict[str, Any]]] = [
    ("a resolution", rule(), "a", "a", "b", "c", {"resolutions": {"f": "r"}}),
    ("one way to Cloze", rule("to_cloze"), "a", "a", "b", "c", {}),
    ("one way to the external side", rule("to_external"), "a", "a", "b", "c", {}),
    ("a set", rule(kind=FieldKind.TAGS), S({"a"}), S({"a"}), S({"a", "b"}), S({"a"}), {}),
    ("equal without a base", rule(), NOBASE, NOBASE, "a", "a", {}),
    ("empty on Cloze without a base", rule(), NOBASE, NOBASE, None, "a", {}),
    ("empty on the external side without a base", rule(), NOBASE, NOBASE, "a", None, {}),
    ("unchanged", rule(), "a", "a", "a", "a", {}),
    ("changed alike", rule(), "a", "a", "b", "b", {}),
    ("changed on Cloze", rule(), "a", "a", "b", "a", {}),
    ("changed on the external side", rule(), "a", "a", "a", "b", {}),
    ("a conflict", rule(policy="manual"), "a", "a", "b", "c", {}),
]


def test_whatever_becomes_of_one_field_the_next_field_is_still_merged() -> None:
    for why, first, bc, be, c, e, kw in SCENARIOS:
        base_c = None if bc is NOBASE else {"f": bc, "title": "t"}
        base_e = None if be is NOBASE else {"f": be, "title": "t"}
        out = merge_fields((first, TITLE), base_c, base_e, {"f": c, "title": "new"}, {"f": e, "title": "t"}, **kw)
        assert out.external_patch.get("title") == "new", why


def test_a_one_way_field_already_equal_is_not_written() -> None:
    assert merged(rule("to_external"), "a", "a", "c", "c") == ("-", "-", "c", "c", [])
    tags = rule("to_external", kind=FieldKind.TAGS)
    out = merged(tags, S({"a"}), S({"a"}), S({"a", "b"}), S({"a"}))
    assert out[1] == SetPatch(add=S({"b"}), remove=S(), result=S({"a", "b"})), "only what is new is added"


def test_a_side_that_clears_a_set_removes_its_members_from_the_other() -> None:
    tags = rule(kind=FieldKind.TAGS)
    out = merged(tags, S({"a"}), S({"a"}), S({"a"}), None)
    assert out[0] == SetPatch(add=S(), remove=S({"a"}), result=S())
