"""Reference translation between each side's ids and the canonical (hub) ids, over a table of links."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from connectors.model import Entity, FieldKind, SetPatch, Side
from connectors.values import Value, normalize
from syncd.core.refs import (
    lookups_to_read,
    lookups_to_write,
    parse_pending,
    pending,
    read_references,
    settle_pending,
    write_references,
)


class Links:
    """``(entity, cloze id, external id)`` rows, answered as the link table would."""

    def __init__(self, *rows: tuple[Entity, str, str]) -> None:
        self.rows = list(rows)

    def counterparts(self, entity: Entity, side: Side, ids: Collection[str]) -> Mapping[str, str]:
        if side not in ("cloze", "external"):
            raise ValueError(f"no side {side!r}")
        pairs = [(c, x) if side == "cloze" else (x, c) for e, c, x in self.rows if e == entity]
        return {mine: theirs for mine, theirs in pairs if mine in ids}


TARGETS: Mapping[str, Entity] = {"companies": "company", "people": "person"}


def test_ids_are_compared_exactly_and_numbers_read_as_text() -> None:
    assert normalize(FieldKind.REFS, ["AbC ", 17]) == frozenset({"AbC", "17"})
    assert normalize(FieldKind.REF, 42) == "42" and normalize(FieldKind.REF, "  ") is None
    assert normalize(FieldKind.REF, None) is None, "a reference to nothing reads as nothing"


def test_reading_turns_external_ids_into_hub_ids_and_keeps_unlinked_ones_pending() -> None:
    links = Links(("company", "C1", "X1"))
    read = read_references({"companies": frozenset({"X1", "X2"}), "name": "n"}, TARGETS, "external", links)
    assert read == {"companies": frozenset({"C1", pending("external", "X2")}), "name": "n"}
    assert parse_pending(pending("external", "X2")) == ("external", "X2") and parse_pending("C1") is None
    # The hub side's ids are canonical already, linked or not.
    assert read_references({"companies": frozenset({"C9"})}, TARGETS, "cloze", links) == {
        "companies": frozenset({"C9"})}


def test_writing_translates_every_member_or_makes_the_field_wait() -> None:
    links = Links(("company", "C1", "X1"), ("company", "C2", "X2"))
    out, problems = write_references({"companies": SetPatch(add=frozenset({"C2"}), remove=frozenset({"C3"}),
                                                            result=frozenset({"C1", "C2"}))},
                                     TARGETS, "external", links)
    # C3 has no counterpart: it cannot be linked on the external side, so there is nothing to remove.
    assert out == {"companies": SetPatch(add=frozenset({"X2"}), result=frozenset({"X1", "X2"}))} and not problems
    out, problems = write_references({"companies": frozenset({"C1", "C3"}), "name": "n"}, TARGETS, "external", links)
    assert out == {"name": "n"} and "C3" in problems["companies"]


def test_a_pending_reference_is_written_once_its_target_is_linked() -> None:
    waiting = pending("external", "X5")
    out, problems = write_references({"companies": frozenset({waiting})}, TARGETS, "cloze", Links())
    assert out == {} and "X5" in problems["companies"]
    later = Links(("company", "C5", "X5"))
    out, problems = write_references({"companies": frozenset({waiting})}, TARGETS, "cloze", later)
    assert out == {"companies": frozenset({"C5"})} and not problems
    # Toward its own side a pending id is that side's own id.
    out, _ = write_references({"companies": frozenset({waiting})}, TARGETS, "external", Links())
    assert out == {"companies": frozenset({"X5"})}
    assert settle_pending({"companies": frozenset({waiting, "C1"})}, TARGETS, later) == {
        "companies": frozenset({"C5", "C1"})}


def test_a_single_reference_translates_as_a_scalar() -> None:
    links = Links(("person", "C1", "X1"))
    assert read_references({"people": "X1"}, TARGETS, "external", links) == {"people": "C1"}
    assert write_references({"people": "C1"}, TARGETS, "external", links) == ({"people": "X1"}, {})
    assert write_references({"people": None}, TARGETS, "external", links) == ({"people": None}, {})


def test_an_id_holding_a_colon_survives_the_pending_form() -> None:
    assert parse_pending(pending("external", "party.party:5")) == ("external", "party.party:5")
    assert parse_pending("@nowhere:5") is None and parse_pending("@external") is None


def test_a_waiting_field_is_reported_with_the_ids_its_side_knows_them_by() -> None:
    waiting = frozenset({pending("external", "X5"), pending("external", "X6")})
    _, problems = write_references({"companies": waiting}, TARGETS, "cloze", Links())
    assert problems == {"companies": "refers to company records not linked to the cloze side yet (X5, X6); "
                                     "written once they are linked"}


def test_a_linked_member_to_remove_is_removed_by_its_id_on_the_side() -> None:
    links = Links(("company", "C1", "X1"), ("company", "C2", "X2"))
    patch = SetPatch(add=frozenset({"C2"}), remove=frozenset({"C1"}), result=frozenset({"C2"}))
    out, problems = write_references({"companies": patch}, TARGETS, "external", links)
    assert out == {"companies": SetPatch(add=frozenset({"X2"}), remove=frozenset({"X1"}), result=frozenset({"X2"}))}
    assert not problems


def test_a_held_member_without_a_counterpart_makes_the_field_wait_even_if_nothing_is_added() -> None:
    links = Links(("company", "C1", "X1"))
    patch = SetPatch(add=frozenset({"C1"}), result=frozenset({"C1", "C3"}))
    out, problems = write_references({"companies": patch}, TARGETS, "external", links)
    assert out == {} and "(C3)" in problems["companies"]


def test_one_waiting_field_does_not_hold_back_the_others() -> None:
    links = Links(("person", "C1", "X1"))
    out, problems = write_references({"companies": frozenset({"C7"}), "people": frozenset({"C1"})},
                                     TARGETS, "external", links)
    assert out == {"people": frozenset({"X1"})} and list(problems) == ["companies"]


def test_toward_the_hub_side_hub_ids_stay_and_linked_pending_ids_join_them() -> None:
    links = Links(("company", "C5", "X5"))
    value = frozenset({"C1", pending("external", "X5")})
    out, problems = write_references({"companies": value}, TARGETS, "cloze", links)
    assert out == {"companies": frozenset({"C1", "C5"})} and not problems


def test_a_single_pending_reference_settles_once_linked_and_stays_pending_until_then() -> None:
    waiting = pending("external", "X5")
    assert settle_pending({"people": waiting}, TARGETS, Links()) == {"people": waiting}
    assert settle_pending({"people": waiting}, TARGETS, Links(("person", "C5", "X5"))) == {"people": "C5"}


class Asked(Links):
    """Links that note every ``(entity, side, id)`` asked for."""

    def __init__(self, *rows: tuple[Entity, str, str]) -> None:
        super().__init__(*rows)
        self.asked: set[tuple[Entity, Side, str]] = set()

    def counterparts(self, entity: Entity, side: Side, ids: Collection[str]) -> Mapping[str, str]:
        self.asked.update((entity, side, i) for i in ids)
        return super().counterparts(entity, side, ids)


def _flat(wanted: Mapping[tuple[Entity, Side], set[str]]) -> set[tuple[Entity, Side, str]]:
    return {(entity, side, i) for (entity, side), ids in wanted.items() for i in ids}


def test_a_batch_asks_up_front_for_every_id_its_records_will_ask_for() -> None:
    """What the engine looks up once per batch covers what translating each record asks for, so a
    batch costs a few queries instead of one per record."""
    changes: list[Mapping[str, Value | SetPatch]] = [{"companies": frozenset({"C1", pending("external", "X7"), pending("cloze", "C9")}), "name": "n"},
               {"companies": SetPatch(add=frozenset({"C2"}), remove=frozenset({"C3"}), result=frozenset({"C2"}))},
               {"people": "P1"}, {"name": "no reference"}]
    sides: tuple[Side, ...] = ("cloze", "external")
    for side in sides:
        links = Asked(("company", "C1", "X1"), ("company", "C2", "X2"))
        for change in changes:
            write_references(change, TARGETS, side, links)
        assert _flat(lookups_to_write(changes, TARGETS, side)) == links.asked
    reads: list[Mapping[str, Value]] = [{"companies": frozenset({"X1", "X2"})}, {"people": "Y1"}, {"name": "n"}]
    for side in sides:
        links = Asked(("company", "C1", "X1"))
        for read in reads:
            read_references(read, TARGETS, side, links)
        assert _flat(lookups_to_read(reads, TARGETS, side)) == links.asked
