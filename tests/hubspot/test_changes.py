"""The change feed reads everything after a cursor: past the search result cap, through shared timestamps."""

from __future__ import annotations

import itertools
import time

import pytest

from connectors.hubspot import HubSpotConnector
from connectors.hubspot.changes import decode, polled_at
from connectors.hubspot.emulator import HubSpotEmulator
from connectors.model import ChangePage
from tests.hubspot.conftest import ConnectorFactory

pytestmark = pytest.mark.timeout(60)


def _fill(emulator: HubSpotEmulator, count: int, *, start_ms: int, same_ms: bool = False) -> list[str]:
    return [emulator.add_object("contacts", {"email": f"p{start_ms}-{i}@example.com"},
                                modified_ms=start_ms if same_ms else start_ms + i * 10) for i in range(count)]


def _read(connector: HubSpotConnector, cursor: str | None) -> tuple[list[str], list[ChangePage]]:
    pages = list(connector.changes("person", cursor))
    return [r.id for p in pages for r in p.records], pages


def test_window_larger_than_the_cap_with_one_shared_timestamp(make_connector: ConnectorFactory,
                                                               emulator: HubSpotEmulator) -> None:
    emulator.configure(search_result_cap=30)
    spread = _fill(emulator, 60, start_ms=1_000)
    crowd = _fill(emulator, 95, start_ms=5_000, same_ms=True)  # more than three caps' worth at ONE timestamp
    after = _fill(emulator, 20, start_ms=9_000)
    connector = make_connector(search_page_size=10, read_associations=False)
    ids, pages = _read(connector, None)
    assert sorted(ids, key=int) == sorted(spread + crowd + after, key=int)
    assert len(ids) == len(set(ids))  # nothing twice here either
    assert emulator.stats.by_status.get(400, 0) == 0  # never paged into the cap
    assert connector.feed.queries < 2 * len(ids) / 10 + 10  # it moved forward on every query
    cursors = [decode(p.cursor) for p in pages]
    assert all(a is not None and b is not None and a[0] <= b[0] for a, b in itertools.pairwise(cursors))
    assert decode(pages[-1].cursor)[0].ts == 9_190  # type: ignore[index]


def test_page_size_above_the_cap(make_connector: ConnectorFactory, emulator: HubSpotEmulator) -> None:
    emulator.configure(search_result_cap=7)
    ids = _fill(emulator, 25, start_ms=1_000) + _fill(emulator, 12, start_ms=2_000, same_ms=True)
    got, _ = _read(make_connector(search_page_size=50, read_associations=False), None)
    assert sorted(got, key=int) == ids


def test_resuming_from_every_page_cursor_loses_nothing(make_connector: ConnectorFactory,
                                                        emulator: HubSpotEmulator) -> None:
    ids = _fill(emulator, 23, start_ms=1_000) + _fill(emulator, 14, start_ms=3_000, same_ms=True)
    connector = make_connector(search_page_size=5, read_associations=False)
    seen: set[str] = set()
    cursor = None
    for _ in range(100):  # the engine persists each page's cursor and may restart after any page
        pages = connector.changes("person", cursor)
        page = next(iter(pages))
        seen |= {r.id for r in page.records}
        if page.cursor == cursor and not page.records:
            break
        cursor = page.cursor
    assert seen == set(ids)


def test_records_changed_during_a_scan_are_not_skipped(make_connector: ConnectorFactory,
                                                       emulator: HubSpotEmulator) -> None:
    ids = _fill(emulator, 30, start_ms=1_000)
    connector = make_connector(search_page_size=5, read_associations=False)
    pages = connector.changes("person", None)
    seen = {r.id for r in next(pages).records}
    # Records already read move to the end; with offset paging this would shift the rest past us.
    for object_id in sorted(seen)[:3]:
        emulator.update_object("contacts", object_id, {"firstname": "Moved"}, modified_ms=50_000)
    for page in pages:
        seen |= {r.id for r in page.records}
    assert seen == set(ids)


def test_overlap_rereads_recent_changes(make_connector: ConnectorFactory, emulator: HubSpotEmulator) -> None:
    now = int(time.time() * 1000)
    first = emulator.add_object("contacts", {"email": "a@example.com"}, modified_ms=now - 5_000)
    connector = make_connector(change_overlap_seconds=30, read_associations=False)
    ids, pages = _read(connector, None)
    assert ids == [first]
    # modified before the first poll, but not yet in the search index when it ran
    late = emulator.add_object("contacts", {"email": "late@example.com"}, modified_ms=now - 10_000)
    again, later = _read(connector, pages[-1].cursor)
    assert again == [late, first]
    assert decode(later[-1].cursor) == decode(pages[-1].cursor)  # the cursor never moves back


def test_a_quiet_account_is_not_reread_poll_after_poll(
    make_connector: ConnectorFactory, emulator: HubSpotEmulator
) -> None:
    """Changes older than the overlap before the last poll are behind it for good: no call re-reads them."""
    old = int(time.time() * 1000) - 120_000
    for n in range(5):
        emulator.add_object("contacts", {"email": f"p{n}@example.com"}, modified_ms=old + n)
    connector = make_connector(change_overlap_seconds=30, read_associations=False)
    ids, pages = _read(connector, None)
    assert len(ids) == 5
    assert _read(connector, pages[-1].cursor)[0] == []
    # A cursor written before polls were dated keeps the old, always-overlapping behaviour.
    undated = ":".join(pages[-1].cursor.split(":")[:4])
    assert polled_at(undated) is None and len(_read(connector, undated)[0]) == 5
    fresh = emulator.add_object("contacts", {"email": "fresh@example.com"})
    assert _read(connector, pages[-1].cursor)[0] == [fresh]


def test_first_poll_of_an_empty_account(connector: HubSpotConnector) -> None:
    ids, pages = _read(connector, None)
    assert ids == [] and len(pages) == 1 and pages[0].cursor and pages[0].deleted_ids == []
    assert _read(connector, pages[0].cursor)[0] == []


def test_current_cursor_skips_the_past(connector: HubSpotConnector, emulator: HubSpotEmulator) -> None:
    emulator.add_object("contacts", {"email": "old@example.com"}, modified_ms=1_000)
    cursor = connector.current_cursor("person")
    fresh = emulator.add_object("contacts", {"email": "new@example.com"})
    assert _read(connector, cursor)[0] == [fresh]


def test_cursor_format_is_checked(connector: HubSpotConnector) -> None:
    with pytest.raises(ValueError):
        list(connector.changes("person", "something-else"))
