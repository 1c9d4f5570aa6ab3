"""The conformance suite tells a connector's author what is missing: broken variants of the SQLite CRM
fail the rule they break, with a message naming it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from connectors.base import ConnectorContext
from connectors.model import ChangePage, CreateRequest, Entity, UpdateRequest, WriteResult
from tests.kit.conformance import ConnectorConformance
from tests.kit.sqlite_crm import SqliteCrmConnector, SqliteCrmSettings, create_crm


class ForgetsTheMarker(SqliteCrmConnector):
    def create(self, entity: Entity, requests: Sequence[CreateRequest]) -> list[WriteResult]:
        return super().create(entity, [CreateRequest(r.key, r.fields) for r in requests])


class ReplacesTheRecord(SqliteCrmConnector):
    """Writes the update's fields and blanks the others, as a PUT of a partial record would."""

    def update(self, entity: Entity, requests: Sequence[UpdateRequest]) -> list[WriteResult]:
        blank = dict.fromkeys(("first", "last", "title", "emails", "phones"))
        return super().update(entity, [UpdateRequest(r.id, {**blank, **r.fields}) for r in requests])


class DropsTheLastPage(SqliteCrmConnector):
    def changes(self, entity: Entity, cursor: str | None) -> Any:
        pages: list[ChangePage] = list(super().changes(entity, cursor))
        return iter([*pages[:-1], ChangePage([], pages[-1].cursor, pages[-1].deleted_ids)])


class RaisesForOneRecord(SqliteCrmConnector):
    def update(self, entity: Entity, requests: Sequence[UpdateRequest]) -> list[WriteResult]:
        results = super().update(entity, requests)
        if any(not r.ok for r in results):
            raise RuntimeError("not found")
        return results


CASES: list[tuple[type[SqliteCrmConnector], Callable[[ConnectorConformance], Callable[..., None]], str]] = [
    (ForgetsTheMarker, lambda s: s.test_create_stamps_the_join_marker_for_find_linked, "find_linked() did not find"),
    (ReplacesTheRecord, lambda s: s.test_update_changes_only_the_given_fields, "touch only given fields"),
    (DropsTheLastPage, lambda s: s.test_feed_returns_every_change_after_the_cursor, "skipped records changed"),
]


@pytest.mark.parametrize(("broken", "rule", "message"), CASES, ids=[c[0].__name__ for c in CASES])
def test_a_broken_connector_fails_with_the_rule_it_breaks(tmp_path: Path, broken: type[SqliteCrmConnector],
                                                          rule: Callable[[ConnectorConformance], Callable[..., None]],
                                                          message: str) -> None:
    create_crm(tmp_path / "crm.sqlite", "k")
    settings = SqliteCrmSettings(path=tmp_path / "crm.sqlite", api_key="k", page_size=2)
    with broken(settings, ConnectorContext("p", "external", "crm.example.com")) as connector, \
            pytest.raises(AssertionError) as failed:
        rule(ConnectorConformance())(connector)
    assert message in str(failed.value) and "docs/connectors.md" in str(failed.value)


def test_a_connector_raising_for_one_record_fails_the_suite(tmp_path: Path) -> None:
    create_crm(tmp_path / "crm.sqlite", "k")
    settings = SqliteCrmSettings(path=tmp_path / "crm.sqlite", api_key="k")
    with RaisesForOneRecord(settings, ConnectorContext("p", "external", "crm.example.com")) as connector, \
            pytest.raises(AssertionError, match="return a failed WriteResult"):
        ConnectorConformance().test_one_bad_record_fails_alone_without_raising(connector)
