"""Each side's join marker and vocabulary, as the planner and the engine read them."""

from __future__ import annotations

import pytest

from connectors.model import Side
from syncd.core.mapping import Canon
from syncd.core.sides import OTHER, MarkerVerdict, as_side, ordered, view

APP = "crm.example.com"


def canon(rid: str, *, links: frozenset[tuple[str, str]] = frozenset(), ref: str | None = None) -> Canon:
    return Canon(rid, {}, {}, None, app_links=links, cloze_ref=ref)


def test_a_cloze_record_names_its_counterparts_by_this_apps_links_only() -> None:
    c = canon("c1", links=frozenset({(APP, "x2"), (APP, "x1"), ("other.app", "x9")}))
    marker = view("cloze").marker
    assert marker.targets(c, APP) == ("x1", "x2")
    assert marker.names(c, "x1", APP) and not marker.names(c, "x9", APP) and not marker.names(c, None, APP)


def test_an_external_record_names_its_counterpart_by_its_cloze_identity() -> None:
    marker = view("external").marker
    assert marker.targets(canon("x1", ref="c1"), APP) == ("c1",)
    assert marker.targets(canon("x1"), APP) == ()
    assert marker.names(canon("x1", ref="c1"), "c1", APP) and not marker.names(canon("x1"), "c1", APP)


@pytest.mark.parametrize("side,verdict,code", [
    ("cloze", "several", "several_app_links"),
    ("cloze", "collision", "marker_collision"),
    ("cloze", "stale", "stale_app_link"),
    ("cloze", "unseen", None),
    ("external", "several", None),  # one Cloze identity at most
    ("external", "collision", "marker_collision"),
    ("external", "stale", "stale_cloze_ref"),
    ("external", "unseen", None),
])
def test_each_marker_says_in_its_own_words_why_a_record_waits(side: Side, verdict: MarkerVerdict,
                                                              code: str | None) -> None:
    problem = view(side).marker.problem(verdict, ["t1", "t2"], APP, None)
    assert (problem.code if problem else None) == code
    if problem is not None:
        assert "t1" in problem.message


def test_the_pair_vocabulary_is_the_hubs() -> None:
    assert view("cloze").speaks_pair_vocabulary and not view("external").speaks_pair_vocabulary
    assert view("cloze").other == "external" and OTHER["external"] == "cloze"


def test_a_pair_is_put_in_order_whichever_side_it_starts_from() -> None:
    assert ordered("cloze", "c", "x") == ("c", "x")
    assert ordered("external", "x", "c") == ("c", "x")


def test_a_side_read_from_a_state_row_must_be_a_side() -> None:
    assert as_side("external") == "external"
    with pytest.raises(ValueError, match=r"not a side: 'hubspot' \(expected one of cloze, external\)"):
        as_side("hubspot")
