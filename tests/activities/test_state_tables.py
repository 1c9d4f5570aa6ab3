"""The activity tables: created in a new state database, and by the upgrade of an older one, alike."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from state import activities as journal_db
from state.migrations import SCHEMA_V1
from state.store import StateStore


def columns(path: Path) -> dict[str, list[tuple[str, str, int, int]]]:
    with sqlite3.connect(path) as conn:
        return {table: [(r[1], r[2], r[3], r[5]) for r in conn.execute(f"PRAGMA table_info({table})")]
                for table in journal_db.TABLE_NAMES}


def test_upgraded_and_new_databases_have_the_same_activity_tables(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    with sqlite3.connect(old) as conn:
        conn.executescript(SCHEMA_V1)
    StateStore.open(old).close()
    new = tmp_path / "new.db"
    StateStore.open(new).close()
    upgraded = columns(old)
    assert upgraded == columns(new)
    assert [c[0] for c in upgraded["activity_journal"]][:3] == ["pair", "kind", "source_id"]


def test_the_journal_records_states_and_hashes(tmp_path: Path) -> None:
    store = StateStore.open(tmp_path / "s.db")
    try:
        with store.transaction() as s:
            journal_db.record(s, "p", "note", "41", 1000, state="waiting", reason="unlinked")
        with store.transaction() as s:
            journal_db.record(s, "p", "note", "41", 2000, state="sent", target="content_note",
                              payload_sha256="ab" * 32, attempts=1)
        (row,) = journal_db.journal(store, "p", [("note", "41")]).values()
        assert (row.state, row.target, row.first_seen_at, row.attempts) == ("sent", "content_note", 1000, 1)
        assert journal_db.counts(store, "p") == {"note": {"sent": 1}}
        exported = store.export()["activity_journal"]
        assert exported[0]["first_sent_at"] == exported[0]["last_sent_at"] == 2000
        assert journal_db.pending(store, "p", "note", 10, 5) == []
    finally:
        store.close()
