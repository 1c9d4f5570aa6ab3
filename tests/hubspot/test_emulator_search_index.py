"""The emulator's search reads a modification-time window from an index, not the whole store.

Its cost is counted in records examined (``Store.search_examined``), so the claim does not
depend on timing; the results must be exactly those of a scan of every record.
"""

from __future__ import annotations

import random
from typing import Any

import httpx
from hypothesis import given
from hypothesis import strategies as st

from connectors.hubspot.emulator import HubSpotEmulator, query
from tests.hubspot.conftest import TOKEN

SEARCH = "/crm/v3/objects/contacts/search"
RECENT = 10


def _window_search(http: httpx.Client, since_ms: int) -> list[str]:
    body = {"filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GT",
                                           "value": str(since_ms)}]}],
            "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}], "limit": 100}
    reply = http.post(SEARCH, json=body)
    assert reply.status_code == 200, reply.text
    return [row["id"] for row in reply.json()["results"]]


def _examined_by_window_search(old_records: int) -> tuple[int, int]:
    """Records examined by one search for the ``RECENT`` newest contacts, in a store with ``old_records`` more."""
    with HubSpotEmulator(token=TOKEN, rate_limit_per_10s=None, search_rate_per_second=None) as emulator:
        for n in range(old_records):
            emulator.add_object("contacts", {"email": f"old{n}@example.com"}, modified_ms=1_000 + n)
        recent = [emulator.add_object("contacts", {"email": f"new{n}@example.com"}, modified_ms=10_000_000 + n)
                  for n in range(RECENT)]
        with httpx.Client(base_url=emulator.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10) as http:
            before = emulator.store.search_examined
            found = _window_search(http, 9_999_999)
            examined = emulator.store.search_examined - before
        assert found == recent
        return examined, len(found)


def test_a_time_window_search_examines_the_window_not_the_store() -> None:
    small, _ = _examined_by_window_search(20)
    large, _ = _examined_by_window_search(3_000)
    assert small == large == RECENT


def test_a_search_without_a_time_bound_still_sees_every_record(emulator: HubSpotEmulator, http: httpx.Client) -> None:
    for n in range(30):
        emulator.add_object("contacts", {"email": f"p{n}@example.com", "jobtitle": "CEO" if n % 3 else "Dev"},
                            modified_ms=1_000 + n)
    before = emulator.store.search_examined
    reply = http.post(SEARCH, json={"filterGroups": [{"filters": [
        {"propertyName": "jobtitle", "operator": "EQ", "value": "Dev"}]}], "limit": 100})
    assert reply.json()["total"] == 10
    assert emulator.store.search_examined - before == 30


OPERATORS = st.sampled_from(["EQ", "GT", "GTE", "LT", "LTE", "BETWEEN"])


@given(seed=st.integers(0, 10_000), operator=OPERATORS, other=st.one_of(st.none(), OPERATORS),
       second_group=st.booleans())
def test_indexed_search_finds_what_a_scan_finds(seed: int, operator: str, other: str | None,
                                                second_group: bool) -> None:
    """Creates, updates, direct re-stamps, archives and merges move records between windows; every
    windowed search returns exactly the records a scan of the whole store would."""
    rng = random.Random(seed)
    with HubSpotEmulator(token=TOKEN, rate_limit_per_10s=None, search_rate_per_second=None) as emulator:
        ids = [emulator.add_object("contacts", {"email": f"p{n}@example.com"}, modified_ms=rng.randint(0, 50))
               for n in range(25)]
        for object_id in rng.sample(ids, 8):
            emulator.update_object("contacts", object_id, {"jobtitle": "Moved"}, modified_ms=rng.randint(0, 50))
        emulator.set_modified("contacts", rng.sample(ids, 4), rng.randint(0, 50))
        gone = rng.sample(ids, 3)
        for object_id in gone[:2]:
            emulator.archive("contacts", object_id, archived_ms=rng.randint(0, 50))
        with emulator.store.lock:
            primary = emulator.store.get("contacts", ids[0])
            merged = emulator.store.get("contacts", gone[2])
            if primary is not None and merged is not None and primary is not merged:
                emulator.store.merge(primary, merged, now=rng.randint(0, 50))
        stamps = {row["id"]: int(row["updatedAt_ms"]) for row in _stamps(emulator)}

        def group(op: str) -> dict[str, Any]:
            low = rng.randint(0, 50)
            spec: dict[str, Any] = {"propertyName": "lastmodifieddate", "operator": op, "value": str(low)}
            if op == "BETWEEN":
                spec["highValue"] = str(low + rng.randint(0, 20))
            return spec

        first = [group(operator)] + ([group(other)] if other else [])
        groups = [{"filters": first}] + ([{"filters": [group(operator)]}] if second_group else [])
        body = {"filterGroups": groups, "limit": 100}
        with httpx.Client(base_url=emulator.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10) as http:
            reply = http.post(SEARCH, json=body)
        assert reply.status_code == 200, reply.text
        found = sorted(row["id"] for row in reply.json()["results"])
        expected = sorted(i for i, ms in stamps.items() if any(all(_holds(f, ms) for f in g["filters"]) for g in groups))
        assert found == expected


def _stamps(emulator: HubSpotEmulator) -> list[dict[str, Any]]:
    with emulator.store.lock:
        return [{"id": o.id, "updatedAt_ms": o.modified_ms} for o in emulator.store.live("contacts")]


def _holds(spec: dict[str, Any], ms: int) -> bool:
    value = int(spec["value"])
    return {"EQ": ms == value, "GT": ms > value, "GTE": ms >= value, "LT": ms < value, "LTE": ms <= value,
            "BETWEEN": value <= ms <= int(spec.get("highValue", value))}[spec["operator"]]


# -- one page of a search sorted by modification time: its rows, not its window ----------------

PAGE = 50


def _forward_page(http: httpx.Client, since_ms: int, after: int | None = None,
                  extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    filters = [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": str(since_ms)}] + (extra or [])
    body: dict[str, Any] = {"filterGroups": [{"filters": filters}],
                            "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}], "limit": PAGE}
    if after is not None:
        body["after"] = str(after)
    reply = http.post(SEARCH, json=body)
    assert reply.status_code == 200, reply.text
    result: dict[str, Any] = reply.json()
    return result


def _examined_by_pages(window: int) -> list[int]:
    """Records examined by the first, a middle and the last page of a ``window``-record time window."""
    with HubSpotEmulator(token=TOKEN, rate_limit_per_10s=None, search_rate_per_second=None) as emulator:
        for n in range(window):
            emulator.add_object("contacts", {"email": f"w{n}@example.com"}, modified_ms=1_000 + n // 3)
        examined = []
        with httpx.Client(base_url=emulator.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10) as http:
            for after in (None, window // 2, window - PAGE):
                before = emulator.store.search_examined
                page = _forward_page(http, 1_000, after)
                examined.append(emulator.store.search_examined - before)
                assert page["total"] == window
                assert len(page["results"]) == PAGE
        return examined


def test_a_page_of_a_window_examines_the_page_not_the_window() -> None:
    """The change feed's query (``modified >= ts``, sorted by modification time) reads its page's
    rows from the index: a page of a 3,000-record window costs what a page of a 200-record one does."""
    assert _examined_by_pages(200) == _examined_by_pages(3_000) == [PAGE, PAGE, PAGE]


def _reference(emulator: HubSpotEmulator, body: dict[str, Any]) -> tuple[list[str], int]:
    """What a scan of every live record, filtered and sorted by the documented rules, returns."""
    store = emulator.store
    with store.lock:
        matches = query.compile_filters(store, "contacts", body)
        found = [o for o in store.live("contacts") if matches(o)]
        rows = query.sort_records(store, "contacts", found, body.get("sorts"))
    offset = int(body.get("after") or 0)
    return [o.id for o in rows[offset:offset + int(body["limit"])]], len(found)


@given(seed=st.integers(0, 10_000), operator=OPERATORS, other=st.one_of(st.none(), OPERATORS),
       second_group=st.booleans(), title_filter=st.booleans(), after=st.integers(0, 30))
def test_indexed_pages_are_the_pages_of_a_scan(seed: int, operator: str, other: str | None, second_group: bool,
                                              title_filter: bool, after: int) -> None:
    """Pages read from the index hold exactly the rows, in exactly the order (ties included), and
    report the total of a full scan, after creates, re-stamps, archives and merges."""
    rng = random.Random(seed)
    with HubSpotEmulator(token=TOKEN, rate_limit_per_10s=None, search_rate_per_second=None) as emulator:
        ids = [emulator.add_object("contacts", {"email": f"p{n}@example.com", "jobtitle": rng.choice(["CEO", "Dev"])},
                                   modified_ms=rng.randint(0, 20)) for n in range(30)]
        emulator.set_modified("contacts", rng.sample(ids, 5), rng.randint(0, 20))
        for object_id in rng.sample(ids, 3):
            emulator.archive("contacts", object_id, archived_ms=rng.randint(0, 20))
        live = [i for i in ids if emulator.store.get("contacts", i) is not None]
        with emulator.store.lock:
            primary, merged = emulator.store.get("contacts", live[0]), emulator.store.get("contacts", live[1])
            assert primary is not None and merged is not None
            emulator.store.merge(primary, merged, now=rng.randint(0, 20))

        def bound(op: str) -> dict[str, Any]:
            low = rng.randint(0, 20)
            spec: dict[str, Any] = {"propertyName": "lastmodifieddate", "operator": op, "value": str(low)}
            if op == "BETWEEN":
                spec["highValue"] = str(low + rng.randint(0, 10))
            return spec

        first = [bound(operator)] + ([bound(other)] if other else [])
        if title_filter:
            first.append({"propertyName": "jobtitle", "operator": "EQ", "value": "dev"})
        groups = [{"filters": first}] + ([{"filters": [bound(operator)]}] if second_group else [])
        body = {"filterGroups": groups, "limit": 7, "after": str(after),
                "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}]}
        with httpx.Client(base_url=emulator.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10) as http:
            reply = http.post(SEARCH, json=body)
        assert reply.status_code == 200, reply.text
        rows, total = _reference(emulator, body)
        assert [row["id"] for row in reply.json()["results"]] == rows
        assert reply.json()["total"] == total
        assert ("paging" in reply.json()) == (after + len(rows) < total)
