"""Details of the three-way merge the property tests in tests/engine/test_core.py do not pin down."""

from __future__ import annotations

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
