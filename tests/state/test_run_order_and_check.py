"""The last run is the one recorded last on both backends, whatever the clocks said (ties within a
millisecond, a clock stepped back); ``state check`` finds a damaged schema on both, and on
PostgreSQL a sequence left behind the ids already used."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

import state.store
from state.store import StateStore

T = 1_796_108_602_194


def test_the_last_run_is_the_one_recorded_last_with_tied_and_stepped_back_clocks(
        state_location: Path | str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = StateStore.open(state_location)
    clock = iter([T, T + 5, T, T + 5, T - 60_000, T - 59_000])  # r2 ties r1; r3 after the clock went back
    monkeypatch.setattr(state.store, "wall_ms", lambda: next(clock))
    try:
        for run_id in ("r1", "r2", "r3"):
            store.start_run(run_id, "p", "incremental")
            store.finish_run(run_id, "ok", {}, None)
        assert [r.id for r in store.runs("p")] == ["r3", "r2", "r1"]
        assert store.runs("p", limit=1)[0].id == "r3"
        last = store.last_success("p")
        assert last is not None and int(last.timestamp() * 1000) == T - 59_000
        assert [r.seq for r in store.runs("p")] == [3, 2, 1]
    finally:
        store.close()


def test_state_check_finds_a_missing_index_and_column_on_both_backends(state_location: Path | str) -> None:
    store = StateStore.open(state_location)
    store.start_run("r1", "p", "full")
    store.close()
    assert StateStore.check_file(state_location) == []
    store = StateStore.open(state_location)
    with store.engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_links_status"))
        conn.execute(text("ALTER TABLE cursors DROP COLUMN updated_at"))
    store.close()
    findings = StateStore.check_file(state_location)
    assert "schema: index ix_links_status on links is missing" in findings, findings
    assert "schema: column cursors.updated_at is missing" in findings, findings


def test_state_check_on_postgresql_finds_a_sequence_behind_the_ids_in_use(pg_url: str) -> None:
    store = StateStore.open(pg_url)
    with store.transaction() as s:
        for n in range(3):
            StateStore.save_link(s, pair="p", entity="person", app_id="a", cloze_id=f"c{n}", external_id=f"e{n}",
                                 base=None)
    with store.engine.begin() as conn:
        conn.execute(text("SELECT setval(pg_get_serial_sequence('links', 'id'), 1)"))  # a restore gone wrong
    store.close()
    findings = StateStore.check_file(pg_url)
    assert len(findings) == 1 and findings[0].startswith("sequence: links.id would next be numbered 2, but 3 is "
                                                         "already used"), findings
    assert "setval" in findings[0]
