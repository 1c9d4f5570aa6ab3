"""Field mapping on plain data: building the rules from config, reading records, writing changes, filters."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import replace
from typing import Any

import pytest

from config.models import EntityConfig
from connectors.entities import ENTITY_KINDS
from connectors.model import AppLink, Entity, FieldKind, FieldSpec, Record, SetPatch, Side
from syncd.core.mapping import (
    Canon,
    EntityMapping,
    FieldRule,
    build_entity_mapping,
    match_field,
    passes_filters,
    to_canonical,
    to_side,
)
from syncd.core.refs import pending

PERSON = ENTITY_KINDS.fields("person")


def build(cfg: dict[str, Any], entity: str = "person", cloze: Any = None, external: Any = None,
          path: str = "") -> tuple[EntityMapping, list[str]]:
    fields = ENTITY_KINDS.fields(entity)
    return build_entity_mapping(entity, EntityConfig.model_validate(cfg), cloze or fields, external or fields,  # type: ignore[arg-type]
                                path=path)


def test_the_default_maps_every_shared_field_but_enumerations() -> None:
    m, problems = build({})
    assert problems == []
    names = {r.name for r in m.rules}
    assert names == {n for n, s in PERSON.items() if s.kind is not FieldKind.ENUM}
    assert all(r.direction == "both" and r.policy == "newest_wins" and r.cloze_key == r.external_key == r.name
               for r in m.rules)
    assert m.match_on == ENTITY_KINDS["person"].match_on == ("email",)
    assert m.create_in_cloze and m.create_in_external
    assert (m.filter_segments, m.filter_stages, m.filter_tags) == (frozenset(), frozenset(), frozenset())


def test_the_default_skips_fields_one_side_cannot_hold() -> None:
    external = {k: v for k, v in PERSON.items() if k != "notes"}
    m, problems = build({}, external=external)
    assert problems == [] and "notes" not in {r.name for r in m.rules} and m.rule("first") is not None


def test_configured_fields_directions_policies_and_flags() -> None:
    m, problems = build({"policy": "cloze_wins", "create_in_cloze": False, "match_on": ["email", "phone"],
                         "filters": {"segment": ["Customer"], "stage": ["Lead"], "tags": ["VIP"]},
                         "fields": {"first": {"direction": "to_external", "policy": "manual"}, "title": {},
                                    "notes": {"direction": "none"}}})
    assert problems == []
    assert [r.name for r in m.rules] == ["first", "title"]
    first, title = m.rule("first"), m.rule("title")
    assert first is not None and (first.direction, first.policy) == ("to_external", "manual")
    assert title is not None and (title.direction, title.policy) == ("both", "cloze_wins")
    assert m.rule("notes") is None
    assert m.match_on == ("email", "phone") and not m.create_in_cloze and m.create_in_external
    assert (m.filter_segments, m.filter_stages, m.filter_tags) == (frozenset({"customer"}), frozenset({"lead"}), frozenset({"VIP"}))


def test_an_explicit_empty_match_list_matches_nothing() -> None:
    assert build({"match_on": []})[0].match_on == ()
    assert build({}, entity="project")[0].match_on == ()
    assert build({}, entity="company")[0].match_on == ("domain",)


def test_custom_fields_name_each_sides_native_field() -> None:
    m, problems = build({"fields": {"custom.size": {"cloze": "cf1", "external": "size", "kind": "number",
                                                    "values": {}, "direction": "to_cloze"},
                                    "custom.note": {"cloze": "cf2", "external": "note"}}})
    assert problems == []
    size, note = m.rule("custom.size"), m.rule("custom.note")
    assert size is not None and (size.kind, size.cloze_key, size.external_key, size.direction) == \
        (FieldKind.NUMBER, "custom:cf1", "custom:size", "to_cloze")
    assert note is not None and note.kind is FieldKind.TEXT
    assert m.custom_ids("cloze") == ["cf1", "cf2"] and m.custom_ids("external") == ["size", "note"]


@pytest.mark.parametrize("fields,problem", [
    ({"custom.x": {"cloze": "cf1"}}, ("pairs.p.person.fields.custom.x: a custom field needs both 'cloze' (field id) "
                                      "and 'external' (property name)")),
    ({"custom.x": {"external": "x"}}, "pairs.p.person.fields.custom.x: a custom field needs both"),
    ({"firts": {}}, "pairs.p.person.fields.firts: unknown field for person; known: first, last,"),
    ({"first": {"cloze": "cf1"}}, "pairs.p.person.fields.first: 'cloze', 'external' and 'kind' are only for custom fields"),
    ({"first": {"external": "x"}}, "pairs.p.person.fields.first: 'cloze', 'external' and 'kind' are only"),
    ({"first": {"kind": "text"}}, "pairs.p.person.fields.first: 'cloze', 'external' and 'kind' are only"),
])
def test_each_mapping_problem_names_its_key(fields: dict[str, Any], problem: str) -> None:
    m, problems = build({"fields": fields}, path="pairs.p.person")
    assert len(problems) == 1 and problems[0].startswith(problem), problems
    assert m.rules == ()


def test_problems_without_a_path_start_at_fields() -> None:
    assert build({"fields": {"firts": {}}})[1][0].startswith("fields.firts: unknown field")
    assert build({"fields": {"custom.x": {}}})[1][0].startswith("fields.custom.x: a custom field")


def test_a_field_a_connector_cannot_hold_is_a_problem_naming_the_side() -> None:
    no_notes = {k: v for k, v in PERSON.items() if k != "notes"}
    _, problems = build({"fields": {"notes": {}}}, external=no_notes)
    assert problems == ["fields.notes: the external connector cannot sync this person field"]
    _, problems = build({"fields": {"notes": {}}}, cloze=no_notes, external=no_notes)
    assert problems == ["fields.notes: the cloze and external connector cannot sync this person field"]


def test_value_maps_read_and_write_enumerations() -> None:
    m, problems = build({"fields": {"segment": {"values": {"customer": "client", "partner": "ally"},
                                                "more_external_values": {"Buyer": "Customer"}}}})
    assert problems == []
    rule = m.rule("segment")
    assert rule is not None
    # Compared without case, written exactly as configured.
    assert rule.from_external("Client") == "customer" and rule.from_external("buyer") == "Customer"
    assert rule.from_external("nobody") is None
    out, bad = to_side({"segment": "partner"}, m, "external")
    assert out == {"segment": "ally"} and bad == {}
    out, bad = to_side({"segment": "vendor"}, m, "external")
    assert out == {} and bad == {"segment": "Cloze value 'vendor' has no entry in the value map"}
    assert to_side({"segment": "vendor"}, m, "cloze") == ({"segment": "vendor"}, {})


def test_match_field_names_the_compared_field() -> None:
    assert [match_field(r) for r in ("email", "phone", "domain", "name")] == ["emails", "phones", "domains", "name"]


def test_field_rule_direction_and_keys() -> None:
    rule = FieldRule("x", FieldKind.TEXT, "to_cloze", "manual", "ck", "ek")
    assert rule.key("cloze") == "ck" and rule.key("external") == "ek"
    assert rule.flows_to("cloze") and not rule.flows_to("external")
    other = FieldRule("x", FieldKind.TEXT, "to_external", "manual", "ck", "ek")
    assert other.flows_to("external") and not other.flows_to("cloze")
    both = FieldRule("x", FieldKind.TEXT, "both", "manual", "ck", "ek")
    assert both.flows_to("cloze") and both.flows_to("external")


# -- reading ------------------------------------------------------------------------------


def record(fields: dict[str, Any], **kw: Any) -> Record:
    return Record(id="r1", fields=fields, **kw)


def test_to_canonical_normalises_mapped_fields_and_keeps_markers() -> None:
    m, _ = build({"match_on": ["email", "phone", "name"]}, entity="person")
    r = record({"first": "  Ann ", "emails": ["Ann@X.com"], "phones": ["+1 (555) 0100"], "unmapped": "x"},
               modified_at=7, app_links=(AppLink("CRM.example.com", "x1"),), cloze_ref="c9")
    c = to_canonical(r, m, "cloze")
    assert c.id == "r1" and c.modified_at == 7 and c.cloze_ref == "c9" and c.problems == {}
    assert c.values["first"] == "Ann" and c.values["emails"] == frozenset({"ann@x.com"})
    assert c.values["last"] is None and "unmapped" not in c.values
    assert c.app_links == frozenset({("crm.example.com", "x1")})
    assert c.match_keys == {"email": frozenset({"ann@x.com"}), "phone": frozenset({"+15550100"})}


def test_match_keys_skip_unreadable_and_empty_values_and_lower_case_names() -> None:
    m, _ = build({"match_on": ["email", "name", "domain"]}, entity="company")
    c = to_canonical(record({"name": " Acme  Inc ", "emails": 42, "domains": []}), m, "cloze")
    assert c.match_keys == {"name": frozenset({"acme inc"}), "domain": frozenset()}
    assert "name" not in to_canonical(record({"name": "  "}), m, "cloze").match_keys


def test_an_unreadable_field_is_a_problem_not_a_failure() -> None:
    m, _ = build({"fields": {"first": {}, "emails": {}}})
    c = to_canonical(record({"first": ["not", "text"], "emails": ["a@x.com"]}), m, "external")
    assert set(c.problems) == {"first"} and c.problems["first"].startswith("cannot read 'first': ")
    assert "first" not in c.values and c.values["emails"] == frozenset({"a@x.com"})


def test_external_enumerations_are_read_through_the_value_map() -> None:
    m, _ = build({"fields": {"segment": {"values": {"customer": "client"}}}})
    assert to_canonical(record({"segment": "Client"}), m, "external").values == {"segment": "customer"}
    c = to_canonical(record({"segment": "stranger"}), m, "external")
    assert c.problems == {"segment": "value 'stranger' of 'segment' has no entry in the value map"}
    assert to_canonical(record({"segment": "Customer"}), m, "cloze").values == {"segment": "customer"}
    assert to_canonical(record({"segment": None}), m, "external").values == {"segment": None}


def test_scope_holds_cloze_filter_fields_even_unmapped() -> None:
    m, _ = build({"fields": {"first": {}}})
    c = to_canonical(record({"segment": "Customer", "stage": "lead", "tags": ["VIP"], "first": "A"}), m, "cloze")
    assert c.scope == {"segment": "customer", "stage": "lead", "tags": frozenset({"VIP"})}
    assert to_canonical(record({"segment": "Customer"}), m, "external").scope == {}
    assert to_canonical(record({"tags": 42}), m, "cloze").scope == {}
    mapped, _ = build({"fields": {"tags": {}}})
    assert to_canonical(record({"tags": ["a"]}), mapped, "external").scope == {"tags": frozenset({"a"})}


# -- writing ------------------------------------------------------------------------------


def test_to_side_writes_under_each_sides_key_and_sets_as_patches() -> None:
    m, _ = build({"fields": {"first": {}, "emails": {}, "custom.size": {"cloze": "cf1", "external": "size"}}})
    out, bad = to_side({"first": "Ann", "emails": frozenset({"a@x.com"}), "custom.size": "3", "nope": "x",
                        "last": SetPatch(add=frozenset({"q"}))}, m, "external")
    assert bad == {}
    assert out == {"first": "Ann", "emails": SetPatch(add=frozenset({"a@x.com"}), result=frozenset({"a@x.com"})),
                   "custom:size": "3"}
    out, _ = to_side({"custom.size": "3"}, m, "cloze")
    assert out == {"custom:cf1": "3"}
    patch = SetPatch(add=frozenset({"b"}), remove=frozenset({"a"}), result=frozenset({"b"}))
    assert to_side({"emails": patch}, m, "cloze")[0] == {"emails": patch}


# -- filters ------------------------------------------------------------------------------


def mapping_with(**filters: frozenset[str]) -> EntityMapping:
    return EntityMapping("person", (), (), True, True, filters.get("segments", frozenset()),
                         filters.get("stages", frozenset()), filters.get("tags", frozenset()))


def canon(scope: dict[str, Any]) -> Canon:
    return Canon("r", {}, {}, None, scope=scope)


def test_filters_judge_only_what_the_record_shows() -> None:
    m = mapping_with(segments=frozenset({"customer"}), stages=frozenset({"lead"}), tags=frozenset({"vip"}))
    assert passes_filters(canon({"segment": "customer", "stage": "lead", "tags": frozenset({"vip", "x"})}), m)
    assert not passes_filters(canon({"segment": "partner"}), m)
    assert not passes_filters(canon({"stage": "past"}), m)
    assert not passes_filters(canon({"tags": frozenset({"x"})}), m)
    assert not passes_filters(canon({"tags": None}), m)
    assert passes_filters(canon({}), m), "an external record without the fields is in scope"
    assert passes_filters(canon({"segment": "partner", "stage": "x", "tags": frozenset()}), mapping_with())


def test_spec_fields_are_used_as_given() -> None:
    odd = {"first": FieldSpec("first", FieldKind.TEXT)}
    m, problems = build({}, cloze=odd, external=odd)
    assert problems == [] and [r.name for r in m.rules] == ["first"]


def test_every_field_is_judged_after_a_skipped_or_faulty_one() -> None:
    no_company = {k: v for k, v in PERSON.items() if k != "company"}
    m, problems = build({"fields": {"notes": {"direction": "none"}, "custom.x": {"cloze": "cf"}, "firts": {},
                                    "title": {"kind": "text"}, "emails": {"values": {"a": "b"}}, "company": {},
                                    "first": {}}}, external=no_company)
    assert [r.name for r in m.rules] == ["first"]
    assert [p.split(":")[0] for p in problems] == ["fields.custom.x", "fields.firts", "fields.title",
                                                   "fields.emails", "fields.company"]


def test_the_path_defaults_to_none() -> None:
    _, problems = build_entity_mapping("person", EntityConfig.model_validate({"fields": {"firts": {}}}), PERSON, PERSON)
    assert problems[0].startswith("fields.firts: ")


def test_the_mapping_names_its_entity() -> None:
    assert build({}, entity="company")[0].entity == "company"


def test_a_custom_enumeration_reads_and_writes_through_its_value_map() -> None:
    m, problems = build({"policy": "external_wins", "fields": {"custom.tier": {
        "cloze": "cf1", "external": "tier", "kind": "enum", "values": {"gold": "g"}}}})
    assert problems == []
    rule = m.rule("custom.tier")
    assert rule is not None and rule.policy == "external_wins" and rule.values == {"gold": "g"}
    assert to_canonical(record({"custom:tier": "G"}), m, "external").values == {"custom.tier": "gold"}
    assert to_canonical(record({"custom:cf1": "Gold", "custom:tier": "x"}), m, "cloze").values == {"custom.tier": "gold"}
    assert to_side({"custom.tier": "gold"}, m, "external") == ({"custom:tier": "g"}, {})


def test_reading_and_writing_go_on_after_a_faulty_field() -> None:
    m, _ = build({"fields": {"segment": {"values": {"customer": "client"}}, "first": {}}})
    c = to_canonical(record({"segment": "stranger", "first": "Ann"}), m, "external")
    assert c.values == {"first": "Ann"} and set(c.problems) == {"segment"}
    out, bad = to_side({"nope": "x", "segment": "vendor", "first": "Ann"}, m, "external")
    assert out == {"first": "Ann"} and set(bad) == {"segment"}


def test_the_default_leaves_out_a_field_either_side_limits_to_a_fixed_list() -> None:
    limited = {**PERSON, "title": replace(PERSON["title"], fixed_values=True)}
    for cloze, external in ((limited, PERSON), (PERSON, limited)):
        m, _ = build({}, cloze=cloze, external=external)
        assert m.rule("title") is None and m.rule("first") is not None


# -- references and App Links -------------------------------------------------------------------


class Links:
    """Companies linked as the link table would answer: ``cloze id <-> external id``."""

    def __init__(self, **cloze_to_external: str) -> None:
        self.pairs = cloze_to_external

    def counterparts(self, entity: Entity, side: Side, ids: Collection[str]) -> Mapping[str, str]:
        assert entity == "company" and side in ("cloze", "external")
        pairs = self.pairs.items() if side == "cloze" else ((x, c) for c, x in self.pairs.items())
        return {mine: theirs for mine, theirs in pairs if mine in ids}


def with_references() -> EntityMapping:
    m, problems = build({"fields": {"first": {}, "companies": {}}})
    assert problems == []
    return replace(m, references=Links(C1="X1"))


def test_a_reference_field_is_read_in_hub_ids_through_the_link_table() -> None:
    m = with_references()
    read = to_canonical(record({"first": "Ann", "companies": ["X1", "X2"]}), m, "external")
    assert read.values == {"first": "Ann", "companies": frozenset({"C1", pending("external", "X2")})}
    assert to_canonical(record({"companies": ["C7"]}), m, "cloze").values["companies"] == frozenset({"C7"})


def test_a_reference_field_is_written_in_the_sides_ids_or_waits_for_its_link() -> None:
    m = with_references()
    out, problems = to_side({"first": "Ann", "companies": frozenset({"C1"})}, m, "external")
    assert out == {"first": "Ann", "companies": SetPatch(add=frozenset({"X1"}), result=frozenset({"X1"}))}
    assert problems == {}
    out, problems = to_side({"first": "Ann", "companies": frozenset({"C1", "C3"})}, m, "external")
    assert out == {"first": "Ann"} and list(problems) == ["companies"] and "(C3)" in problems["companies"]
    out, problems = to_side({"companies": frozenset({"C1", "C3"})}, m, "cloze")
    assert out == {"companies": SetPatch(add=frozenset({"C1", "C3"}), result=frozenset({"C1", "C3"}))}
    assert problems == {}, "toward Cloze a hub id is the side's own id, linked or not"


def test_app_links_read_from_cloze_take_the_external_sides_own_form_of_the_id() -> None:
    m, _ = build({"fields": {"first": {}}})
    salesforce = replace(m, canonical_link=lambda key: (key[0], key[1][:15]))
    r = record({"first": "Ann"}, app_links=(AppLink("salesforce.com", "0015g00000XyZabAAB"),))
    assert to_canonical(r, salesforce, "cloze").app_links == frozenset({("salesforce.com", "0015g00000XyZab")})
    assert to_canonical(r, m, "cloze").app_links == frozenset({("salesforce.com", "0015g00000XyZabAAB")})
