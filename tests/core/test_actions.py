"""An action answers per side: each accessor reads that side's own fields, never the other's."""

from __future__ import annotations

from syncd.core.actions import Action, LinkState, Observation


def take_over() -> Action:
    return Action(
        "sync", link_id=1, cloze_id="c1", external_id="x1",
        add_app_link=True, set_cloze_ref=False,
        stale_markers=(("external", "c-old"),),
        prior_cloze={"name": "Ann"}, prior_external={"name": "Ann B."},
        seen_cloze={"title": "CEO"}, seen_external={"title": "Chief"},
        seen_cloze_at=100, seen_external_at=200,
    )


def test_a_sync_action_tells_which_side_lacks_its_join_marker() -> None:
    action = take_over()
    assert action.needs_marker("cloze") is True and action.needs_marker("external") is False
    flipped = Action("sync", add_app_link=False, set_cloze_ref=True)
    assert flipped.needs_marker("cloze") is False and flipped.needs_marker("external") is True


def test_a_stale_marker_is_dropped_only_on_the_side_that_carries_it() -> None:
    action = take_over()
    assert action.stale_marker("external") == "c-old"
    assert action.stale_marker("cloze") is None
    both = Action("sync", stale_markers=(("cloze", "x-old"), ("external", "c-old")))
    assert (both.stale_marker("cloze"), both.stale_marker("external")) == ("x-old", "c-old")


def test_an_action_keeps_each_sides_prior_base_values_and_modification_time() -> None:
    action = take_over()
    assert (action.prior("cloze"), action.prior("external")) == ({"name": "Ann"}, {"name": "Ann B."})
    assert (action.seen("cloze"), action.seen("external")) == ({"title": "CEO"}, {"title": "Chief"})
    assert (action.seen_at("cloze"), action.seen_at("external")) == (100, 200)
    assert (action.id_on("cloze"), action.id_on("external")) == ("c1", "x1")


def test_a_link_and_an_observation_answer_per_side() -> None:
    link = LinkState(1, "c1", "x1", base_cloze={"name": "Ann"}, base_external={"name": "Ann B."})
    assert (link.id_on("cloze"), link.id_on("external")) == ("c1", "x1")
    assert (link.base("cloze"), link.base("external")) == ({"name": "Ann"}, {"name": "Ann B."})
    seen = Observation(cloze_gone={"c9"}, external_gone={"x9"}, cloze_unreadable={"c8": "bad"})
    assert (seen.gone("cloze"), seen.gone("external")) == ({"c9"}, {"x9"})
    assert (seen.unreadable("cloze"), seen.unreadable("external")) == ({"c8": "bad"}, {})
