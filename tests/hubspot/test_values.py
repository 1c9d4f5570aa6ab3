"""Value conversions: addresses round-trip, slots keep what is in place, patches without results."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from connectors.hubspot import values as v
from connectors.hubspot.mapping import Mapper
from connectors.hubspot.settings import HubSpotSettings
from connectors.model import SetPatch

_part = st.text(alphabet=st.characters(whitelist_categories=("L", "N"), whitelist_characters=" .-#'"),
                max_size=20).map(lambda s: " ".join(s.split()))


@given(street=_part, city=_part, state=_part, zip_code=_part, country=_part)
def test_an_address_written_reads_back_as_the_same_line(street: str, city: str, state: str, zip_code: str,
                                                        country: str) -> None:
    line = v.format_address({"address": street, "city": city, "state": state, "zip": zip_code, "country": country})
    if line is None:
        return
    assert v.format_address(dict(v.parse_address(line))) == line


@given(st.text(min_size=1, max_size=60))
def test_any_line_survives_parse_and_format(line: str) -> None:
    normalised = " ".join(line.split())
    if normalised:
        assert v.format_address(dict(v.parse_address(line))) == normalised


def test_parse_splits_the_usual_shape() -> None:
    assert v.parse_address("12 Alder St, Portland, OR 97205, USA") == {
        "address": "12 Alder St", "city": "Portland", "state": "OR", "zip": "97205", "country": "USA"}
    assert v.parse_address("PO Box 7, Zurich")["address"] == "PO Box 7, Zurich"


def test_fill_slots_keeps_values_in_place() -> None:
    slots, extra = v.fill_slots(["+15550002", "+15550003", "+15550001"], ["+1 555 0001", None], v.norm_phone)
    assert slots == ["+1 555 0001", "+15550002"] and extra == ["+15550003"]


def test_primary_is_kept_when_still_wanted() -> None:
    assert v.primary_and_rest(["b@x.io", "a@x.io"], "B@x.io", v.norm_email) == ("B@x.io", ["a@x.io"])
    assert v.primary_and_rest(["b@x.io", "a@x.io"], "gone@x.io", v.norm_email) == ("a@x.io", ["b@x.io"])
    assert v.primary_and_rest([], "gone@x.io", v.norm_email) == ("", [])


def test_patch_without_result_is_applied_to_current_values() -> None:
    patch = SetPatch(add=frozenset({"c"}), remove=frozenset({"a"}))
    assert v.patch_result(patch, ["a", "b"], v.norm_text) == ["b", "c"]
    assert v.patch_result(SetPatch(), ["a"], v.norm_text) == []


def test_dates() -> None:
    assert v.date_part("2026-03-15T00:00:00.000Z") == "2026-03-15"
    assert v.date_part("1773532800000") == "2026-03-15"
    assert v.midnight_ms("2026-03-15") == "1773532800000"
    assert v.date_part(None) is None and v.ms_from("garbage") is None


def test_write_plan_reports_what_does_not_fit() -> None:
    mapper = Mapper(HubSpotSettings(token="t"), {})
    plan = mapper.to_properties("company", {
        "phones": SetPatch(result=frozenset({"+1", "+2"})), "tags": None, "bogus": "x"})
    assert plan.properties["phone"] == "+1" and plan.dropped["phones"] == ["+2"]
    assert plan.properties["cloze_syncd_tags"] == "" and plan.dropped["unmapped"] == ["bogus"]
    assert "notes" not in mapper.fields("person") and "tags" in mapper.fields("project")


def test_additional_emails_can_be_left_alone() -> None:
    mapper = Mapper(HubSpotSettings(token="t", write_additional_emails=False), {})
    plan = mapper.to_properties("person", {"emails": SetPatch(result=frozenset({"a@x.io", "b@x.io"}))})
    assert plan.properties == {"email": "a@x.io"} and plan.dropped == {"emails": ["b@x.io"]}
