"""Under HubSpot's rolling 10-second limit the connector paces itself instead of bouncing off 429s."""

from __future__ import annotations

import time

import pytest

from connectors.hubspot.emulator import HubSpotEmulator
from connectors.model import CreateRequest, SetPatch
from tests.hubspot.conftest import ConnectorFactory

pytestmark = pytest.mark.timeout(90)


def test_2000_contacts_created_and_read_back_under_the_limit(make_connector: ConnectorFactory,
                                                              emulator: HubSpotEmulator) -> None:
    emulator.configure(rate_limit_per_10s=100, search_rate_per_second=5)
    # Configured as an Enterprise account (190/10 s): the connector must learn the real limit from headers.
    connector = make_connector(requests_per_10s=190, search_per_second=5)
    requests = [CreateRequest(f"k{i}", {"first": f"P{i}", "last": "Load",
                                        "emails": SetPatch(result=frozenset({f"p{i}@load.example"}))},
                              cloze_ref=f"cz-{i}") for i in range(2000)]
    started = time.monotonic()
    results = connector.create("person", requests)
    created = time.monotonic()
    pages = list(connector.list_all("person"))
    finished = time.monotonic()
    assert [r for r in results if not r.ok] == []
    assert len({r.id for r in results}) == 2000
    records = [r for page in pages for r in page]
    assert len(records) == 2000 and {r.cloze_ref for r in records} == {f"cz-{i}" for i in range(2000)}
    stats = emulator.stats.snapshot()
    assert stats["rate_limited"] <= 2, stats  # paced, not a 429 storm
    print(f"\n2000 contacts: create {created - started:.1f}s, read {finished - created:.1f}s, "
          f"{stats['requests']} requests, {stats['rate_limited']} x 429")


def test_search_pacing_stays_under_the_per_second_limit(make_connector: ConnectorFactory,
                                                        emulator: HubSpotEmulator) -> None:
    emulator.configure(search_rate_per_second=4, rate_limit_per_10s=None)
    for i in range(30):
        emulator.add_object("contacts", {"email": f"s{i}@example.com"}, modified_ms=1_000 + i)
    connector = make_connector(search_per_second=4, search_page_size=5, read_associations=False)
    ids = [r.id for page in connector.changes("person", None) for r in page.records]
    assert len(ids) == 30
    assert emulator.stats.search_rate_limited == 0
