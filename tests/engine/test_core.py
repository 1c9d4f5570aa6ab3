"""The pure core: normalisation and the three-way merge, checked exhaustively with hypothesis."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.model import FieldKind, SetPatch
from connectors.values import BadValue, normalize
from syncd.core.mapping import FieldRule
from syncd.core.merge import merge_fields

SCALAR = FieldRule("first", FieldKind.TEXT, "both", "newest_wins", "first", "first")
TAGS = FieldRule("tags", FieldKind.TAGS, "both", "newest_wins", "tags", "tags")
values = st.one_of(st.none(), st.sampled_from(["a", "b", "c"]))
tagsets = st.frozensets(st.sampled_from(["x", "y", "z", "w"]))


@pytest.mark.parametrize(
    "kind,raw,expected",
    [
        (FieldKind.TEXT, "  Ann \t Lee\x00 ", "Ann Lee"),
        (FieldKind.TEXT, "e\u0301", "\u00e9"),  # combining accent composes (NFC)
        (FieldKind.TEXT, "   ", None),
        (FieldKind.LONGTEXT, "line 1  \r\nline 2\r\n\r\n", "line 1\nline 2"),
        (FieldKind.ENUM, "None", "none"),  # a value like any other: Cloze's empty "none" is its connector's to read
        (FieldKind.ENUM, " Current ", "current"),
        (FieldKind.NUMBER, "450000.00", "450000"),
        (FieldKind.NUMBER, Decimal("1.50"), "1.5"),  # Tryton's tagged decimal, as its client decodes it
        (FieldKind.DATE, "2026-11-22T10:00:00Z", "2026-11-22"),
        (FieldKind.DATE, 1_763_800_000_000, "2025-11-22"),
        (FieldKind.EMAILS, [" Ann@X.com ", "b@x.com"], frozenset({"ann@x.com", "b@x.com"})),
        (FieldKind.PHONES, ["+1 (555) 010-0", "555.0101"], frozenset({"+15550100", "5550101"})),
        (FieldKind.DOMAINS, ["https://www.Acme.com/about", "acme.com."], frozenset({"acme.com"})),
    ],
)
def test_normalize(kind: FieldKind, raw: Any, expected: Any) -> None:
    assert normalize(kind, raw) == expected


@pytest.mark.parametrize("kind,raw", [(FieldKind.NUMBER, "a lot"), (FieldKind.DATE, "yesterday"),
                                      (FieldKind.TEXT, ["a", "list"]), (FieldKind.TEXT, "x" * 70_000),
                                      (FieldKind.EMAILS, 42)])
def test_unreadable_values_raise_bad_value(kind: FieldKind, raw: Any) -> None:
    with pytest.raises(BadValue):
        normalize(kind, raw)


@given(base=values, c=values, e=values)
def test_scalar_merge_outcomes(base: Any, c: Any, e: Any) -> None:
    r = merge_fields((SCALAR,), {"first": base}, {"first": base}, {"first": c}, {"first": e})
    final_c = r.cloze_patch.get("first", c)
    final_e = r.external_patch.get("first", e)
    assert final_c == final_e, "both sides end equal"
    if c == base and e != base:
        assert final_c == e and not r.conflicts  # changed on one side only: it wins, no conflict
    if e == base and c != base:
        assert final_e == c and not r.conflicts
    if c != base and e != base and c != e:
        assert [x.outcome for x in r.conflicts] == ["cloze"]  # newest_wins, equal times: Cloze
    # Applying the result leaves nothing to do.
    again = merge_fields((SCALAR,), r.base_cloze, r.base_external, {"first": final_c}, {"first": final_e})
    assert not again.writes and not again.conflicts


@given(base=values, c=values, e=values, tc=st.integers(0, 3), te=st.integers(0, 3))
def test_merge_is_symmetric(base: Any, c: Any, e: Any, tc: int, te: int) -> None:
    """INV-20: swapping the sides (and the policy) mirrors the outcome (ties aside)."""
    rule_a = FieldRule("first", FieldKind.TEXT, "both", "cloze_wins", "first", "first")
    rule_b = FieldRule("first", FieldKind.TEXT, "both", "external_wins", "first", "first")
    a = merge_fields((rule_a,), {"first": base}, {"first": base}, {"first": c}, {"first": e})
    b = merge_fields((rule_b,), {"first": base}, {"first": base}, {"first": e}, {"first": c})
    assert a.cloze_patch == b.external_patch and a.external_patch == b.cloze_patch


@given(base=tagsets, c=tagsets, e=tagsets)
def test_set_merge_keeps_every_addition_and_applies_every_removal(base: frozenset[str], c: frozenset[str], e: frozenset[str]) -> None:
    """INV-11: result = base + added on either side - removed on either side."""
    r = merge_fields((TAGS,), {"tags": base}, {"tags": base}, {"tags": c}, {"tags": e})
    expected = (base | (c - base) | (e - base)) - ((base - c) | (base - e))
    for side_value, patch in ((c, r.cloze_patch), (e, r.external_patch)):
        final = patch["tags"].result if "tags" in patch else side_value
        assert final == expected
        if "tags" in patch:
            p = patch["tags"]
            assert isinstance(p, SetPatch) and (side_value | p.add) - p.remove == expected
    assert not r.conflicts


def test_a_side_that_cannot_hold_a_value_is_not_mistaken_for_a_deletion() -> None:
    """Per-side bases: Cloze has three phones, the external side kept two; nothing is removed."""
    rule = FieldRule("phones", FieldKind.PHONES, "both", "newest_wins", "phones", "phones")
    three, two = frozenset({"1", "2", "3"}), frozenset({"1", "2"})
    r = merge_fields((rule,), {"phones": three}, {"phones": two}, {"phones": three}, {"phones": two})
    assert not r.writes


def test_manual_policy_writes_neither_side_and_keeps_the_base() -> None:
    rule = FieldRule("first", FieldKind.TEXT, "both", "manual", "first", "first")
    r = merge_fields((rule,), {"first": "a"}, {"first": "a"}, {"first": "b"}, {"first": "c"})
    assert not r.writes and r.base_cloze == {"first": "a"} and [c.outcome for c in r.conflicts] == ["pending"]
    resolved = merge_fields((rule,), {"first": "a"}, {"first": "a"}, {"first": "b"}, {"first": "c"}, resolutions={"first": "c"})
    assert resolved.cloze_patch == {"first": "c"} and not resolved.external_patch


def test_newest_wins_uses_each_sides_modification_time() -> None:
    r = merge_fields((SCALAR,), {"first": "a"}, {"first": "a"}, {"first": "b"}, {"first": "c"},
                     cloze_modified=1, external_modified=2)
    assert r.cloze_patch == {"first": "c"} and [c.outcome for c in r.conflicts] == ["external"]
