"""Many processes opening one new state database at once: exactly one creates the schema.

Two `syncd reconcile` started together on a fresh deployment both found no schema and both
tried to create it ("table meta already exists"); the open now takes SQLite's write lock
before it looks.
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from state.store import StateStore


def _open(path: str) -> str:
    try:
        StateStore.open(Path(path)).close()
    except Exception as exc:  # noqa: BLE001 - reported to the parent as text
        return repr(exc)
    return "ok"


def test_a_new_state_database_opened_by_many_processes_at_once(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    with context.Pool(6) as pool:
        for round_no in range(8):
            path = str(tmp_path / f"state-{round_no}.db")
            results = pool.map(_open, [path] * 6)
            assert results == ["ok"] * 6, results
            store = StateStore.open(Path(path), readonly=True)
            try:
                assert store.integrity_check() == []
            finally:
                store.close()
