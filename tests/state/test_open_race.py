"""Many processes opening one new state database at once: exactly one creates the schema.

Two `syncd reconcile` started together on a fresh deployment both found no schema and both
tried to create it ("table meta already exists"); the open now takes SQLite's write lock
before it looks (PostgreSQL: an advisory lock held to the end of the opening transaction).
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from state.models import SCHEMA_VERSION
from state.store import StateStore
from tests.state.conftest import NewLocation


def _open(location: Path | str) -> str:
    try:
        StateStore.open(location).close()
    except Exception as exc:  # noqa: BLE001 - reported to the parent as text
        return repr(exc)
    return "ok"


def test_a_new_state_database_opened_by_many_processes_at_once(new_state_location: NewLocation) -> None:
    context = multiprocessing.get_context("spawn")
    with context.Pool(6) as pool:
        for _ in range(8):
            location = new_state_location()
            results = pool.map(_open, [location] * 6)
            assert results == ["ok"] * 6, results
            store = StateStore.open(location, readonly=True)
            try:
                assert store.integrity_check() == []
                assert store.export()["meta"] == [{"key": "schema_version", "value": str(SCHEMA_VERSION)}]
            finally:
                store.close()
