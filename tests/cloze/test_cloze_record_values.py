"""Cloze's wire forms are read by the Cloze connector, so the core sees plain values only."""

from __future__ import annotations

from connectors.cloze.choices import ClozeApiAssumptions
from connectors.cloze.mapping import to_record
from connectors.model import FieldKind
from connectors.values import normalize

ASSUMPTIONS = ClozeApiAssumptions()


def test_an_empty_stage_or_segment_spelt_none_reads_as_empty() -> None:
    record = to_record("person", {"direct": "p1", "first": "Ann", "stage": "none", "segment": "None"}, (), ASSUMPTIONS)
    assert record.fields["stage"] is None and record.fields["segment"] is None
    project = to_record("project", {"direct": "j1", "name": "Deal", "stage": " none "}, (), ASSUMPTIONS)
    assert project.fields["stage"] is None


def test_array_elements_are_read_as_plain_values_and_archived_ones_dropped() -> None:
    data = {"direct": "p1", "first": "Ann",
            "emails": [{"value": "Ann@X.com"}, {"value": "old@x.com", "archived": True}, "b@x.com"],
            "phones": [{"value": "+1 555 0100"}]}
    record = to_record("person", data, (), ASSUMPTIONS)
    assert record.fields["emails"] == ["Ann@X.com", "b@x.com"]
    assert normalize(FieldKind.EMAILS, record.fields["emails"]) == frozenset({"ann@x.com", "b@x.com"})
    assert normalize(FieldKind.PHONES, record.fields["phones"]) == frozenset({"+15550100"})


def test_a_lone_element_where_cloze_sends_a_list_counts_as_a_list_of_one() -> None:
    record = to_record("person", {"direct": "p1", "first": "Ann", "emails": {"value": "ann@x.com"}}, (), ASSUMPTIONS)
    assert normalize(FieldKind.EMAILS, record.fields["emails"]) == frozenset({"ann@x.com"})
