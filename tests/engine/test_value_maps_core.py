"""Value maps (pure): looked up without case, written exactly as configured."""

from __future__ import annotations

from config.models import EntityConfig
from connectors.entities import ENTITY_KINDS
from connectors.model import Record
from syncd.core.mapping import EntityMapping, build_entity_mapping, to_canonical, to_side


def _mapping(fields: dict[str, object]) -> EntityMapping:
    cfg = EntityConfig.model_validate({"fields": fields})
    mapping, problems = build_entity_mapping("company", cfg, ENTITY_KINDS.fields("company"), ENTITY_KINDS.fields("company"))
    assert problems == []
    return mapping


def test_enum_values_are_written_in_the_configured_case() -> None:
    mapping = _mapping({"segment": {"values": {"Partner": "PARTNER", "customer": "Prospect"}}})
    out, problems = to_side({"segment": "partner"}, mapping, "external")
    assert (out, problems) == ({"segment": "PARTNER"}, {})
    out, _ = to_side({"segment": "customer"}, mapping, "external")
    assert out == {"segment": "Prospect"}
    # HubSpot's value reads back, in any case, as the Cloze key (canonical enums are lower case).
    for raw in ("PARTNER", "partner"):
        canon = to_canonical(Record("1", {"segment": raw}), mapping, "external")
        assert canon.values["segment"] == "partner" and not canon.problems


def test_a_text_field_may_map_to_a_dropdown_and_keeps_cloze_spelling() -> None:
    mapping = _mapping({"industry": {"values": {"Real estate": "REAL_ESTATE"},
                                     "more_external_values": {"COMMERCIAL_REAL_ESTATE": "Real estate"}}})
    out, _ = to_side({"industry": "real estate"}, mapping, "external")
    assert out == {"industry": "REAL_ESTATE"}
    for raw in ("REAL_ESTATE", "COMMERCIAL_REAL_ESTATE"):
        canon = to_canonical(Record("1", {"industry": raw}), mapping, "external")
        assert canon.values["industry"] == "Real estate"
    _, problems = to_side({"industry": "Farming"}, mapping, "external")
    assert "no entry in the value map" in problems["industry"]
