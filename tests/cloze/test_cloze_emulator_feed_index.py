"""The emulator's change feed reads a page from a sorted index, not the whole store.

Its cost is counted in records rendered (the store's own ``_render``, wrapped to count), so
the claim does not depend on timing; the pages must be exactly what a scan of every record
in ``(lastChanged, syncKey)`` order gives, through creates, updates, merges and deletes.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.cloze.client import ClozeClient
from connectors.cloze.emulator import ClozeEmulator
from connectors.cloze.emulator.store import RecordStore


@pytest.fixture
def renders(emulator: ClozeEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The direct ids the store renders (each render of an uncached record)."""
    seen: list[str] = []
    real = RecordStore._render

    def counted(store: RecordStore, entity: Any, direct: str, human: bool) -> dict[str, Any]:
        seen.append(direct)
        return real(store, entity, direct, human)

    monkeypatch.setattr(RecordStore, "_render", counted)
    yield seen


def test_a_feed_page_renders_the_page_not_the_store(emulator: ClozeEmulator, client: ClozeClient,
                                                    renders: list[str]) -> None:
    emulator.seed(400)
    first = client.feed_start("person", pagesize=5)
    assert len(first.records) == 5 and first.available == 400
    assert len(renders) == 5
    tail = list(client.iter_feed("person", pagesize=1000))[-1].cursor
    direct = first.records[0]["direct"]
    client.update("person", {"direct": direct, "stage": "past"})  # a write empties the render cache
    renders.clear()
    changed = client.feed_next("person", tail)
    assert [r["direct"] for r in changed.records] == [direct]
    assert len(renders) <= 1  # the changed record (it may be rendered already, for the write's webhook)


def _scan(emulator: ClozeEmulator) -> list[tuple[int, str, str]]:
    store = emulator.store
    with store.lock:
        return sorted((int(s.data["lastChanged"]), str(s.data["syncKey"]), d)
                      for d, s in store._records["person"].items())


@pytest.mark.parametrize("seed", range(4))
def test_feed_pages_are_what_a_scan_gives(emulator: ClozeEmulator, client: ClozeClient, seed: int) -> None:
    rng = random.Random(seed)
    emulator.seed(40)
    directs = [r["direct"] for p in client.iter_feed("person", pagesize=100) for r in p.records]
    page = client.feed_start("person", pagesize=3)
    position = (page.records[-1]["lastChanged"], page.records[-1]["syncKey"])
    for _round in range(6):
        for direct in rng.sample(directs, 4):
            client.update("person", {"direct": direct, "last": f"R{rng.randint(0, 10**6)}"})
        gone = rng.choice(directs)
        directs.remove(gone)
        client.delete("person", gone)
        client.create("person", {"name": f"New {rng.randint(0, 10**6)}",
                                 "emails": [{"value": f"n{rng.randint(0, 10**9)}@example.com"}]})
        page = client.feed_next("person", page.cursor)
        expected = [e for e in _scan(emulator) if e[:2] > position]
        assert [(r["lastChanged"], r["syncKey"], r["direct"]) for r in page.records] == expected[:3]
        assert page.available == len(expected)
        if page.records:
            position = (page.records[-1]["lastChanged"], page.records[-1]["syncKey"])
    rest = [(r["lastChanged"], r["syncKey"], r["direct"]) for p in client.iter_feed("person", page.cursor)
            for r in p.records]
    assert rest == [e for e in _scan(emulator) if e[:2] > position]

