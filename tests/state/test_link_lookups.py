"""Links looked up by record id, counted and streamed in batches, on a real SQLite file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from state.migrations import SCHEMA_V1
from state.store import LOOKUP_CHUNK, NewLink, StateStore


def _store(tmp_path: Path, people: int) -> StateStore:
    store = StateStore.open(tmp_path / "state.db")
    with store.transaction() as s:
        StateStore.save_new_links(s, pair="p", entity="person", app_id="crm", links=[
            NewLink(f"c{n}", f"x{n}", {"first": f"P{n}"}) for n in range(people)])
        StateStore.save_new_links(s, pair="p", entity="company", app_id="crm", links=[NewLink("c0", "x0", None)])
        StateStore.save_new_links(s, pair="q", entity="person", app_id="crm", links=[NewLink("c1", "x1", None)])
    return store


def test_links_are_found_by_the_ids_of_either_side_in_chunks(tmp_path: Path) -> None:
    store = _store(tmp_path, LOOKUP_CHUNK + 50)
    try:
        wanted = [f"c{n}" for n in range(0, LOOKUP_CHUNK + 50, 2)] + ["c-none", "", "c0"]
        found = store.links_by_ids("p", "person", "cloze", wanted)
        assert sorted(l.cloze_id for l in found if l.cloze_id) == sorted({w for w in wanted if w[1:].isdigit()})
        assert {l.pair for l in found} == {"p"} and {l.entity for l in found} == {"person"}
        [x7] = store.links_by_ids("p", "person", "external", ["x7"])
        assert x7.cloze_id == "c7"
        assert [l.cloze_id for l in store.links_with_ids("p", "person", [x7.id or 0])] == ["c7"]
        assert store.links_with_ids("p", "company", [x7.id or 0]) == []
    finally:
        store.close()


def test_links_are_streamed_in_row_order_and_counted_per_entity(tmp_path: Path) -> None:
    store = _store(tmp_path, 25)
    try:
        batches = list(store.iter_links("p", "person", batch=10))
        assert [len(b) for b in batches] == [10, 10, 5]
        ids = [l.id or 0 for b in batches for l in b]
        assert ids == sorted(ids) and len(set(ids)) == 25
        assert store.link_count("p", entity="person") == 25
        assert store.link_count("p", entity="company") == 1
        assert store.link_count("p") == 26
    finally:
        store.close()


def test_counting_an_entitys_links_reads_the_index_not_the_rows(tmp_path: Path) -> None:
    store = _store(tmp_path, 5)
    store.close()
    conn = sqlite3.connect(tmp_path / "state.db")
    plan = " ".join(str(r) for r in conn.execute(
        "EXPLAIN QUERY PLAN SELECT count(*) FROM links WHERE pair = 'p' AND entity = 'person' AND status = 'active'"))
    conn.close()
    assert "COVERING INDEX ix_links_status" in plan, plan


def test_an_older_database_gets_the_index_on_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA_V1)
    conn.close()
    StateStore.open(path).close()
    conn = sqlite3.connect(path)
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    conn.close()
    assert "ix_links_status" in names
