"""The state database: permissions, schema upgrade, damage handling, leases, round trips."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from connectors.errors import StateError
from state.migrations import SCHEMA_V1
from state.models import SCHEMA_VERSION
from state.store import StateStore
from tests.engine.harness import World, assert_converged


def test_file_is_created_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        store = StateStore.open(tmp_path / "sub" / "state.db")
        store.close()
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "sub" / "state.db").stat().st_mode)
    assert mode == 0o600


def test_upgrade_from_version_1_keeps_the_links(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA_V1)
    conn.execute(
        "INSERT INTO links (pair, entity, app_id, cloze_id, external_id, status, base, created_at, updated_at) "
        "VALUES ('p', 'person', 'crm.example.com', 'c1', 'x1', 'active', '{\"first\": \"Ann\"}', 1, 1)"
    )
    conn.execute(
        "INSERT INTO links (pair, entity, app_id, cloze_id, external_id, status, base, created_at, updated_at) "
        "VALUES ('p', 'person', 'crm.example.com', 'c2', NULL, 'unlinked', NULL, 1, 1)"
    )
    conn.commit()
    conn.close()
    store = StateStore.open(path)
    try:
        links = {l.cloze_id: l for l in store.links("p", "person")}
        assert links["c1"].external_id == "x1" and links["c1"].base == '{"first": "Ann"}'
        assert links["c2"].unlinked_side == "external"
        assert store.journal_pending("p", "person") == []
        assert store.export()["meta"] == [{"key": "schema_version", "value": str(SCHEMA_VERSION)}]
        assert store.integrity_check() == []
    finally:
        store.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    store = StateStore.open(tmp_path / "s.db")
    store.close()
    conn = sqlite3.connect(tmp_path / "s.db")
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(StateError, match="newer than this cloze-syncd"):
        StateStore.open(tmp_path / "s.db")


def test_a_truncated_database_gives_a_clear_error(tmp_path: Path) -> None:
    world = World(tmp_path)
    try:
        for i in range(50):
            world.cloze.put("person", {"first": f"P{i}", "emails": [f"p{i}@x.com"]})
        world.run("full")
        world.store.close()
        data = (tmp_path / "state.db").read_bytes()
        (tmp_path / "state.db").write_bytes(data[: len(data) // 3])
        with pytest.raises(StateError) as info:
            StateStore.open(tmp_path / "state.db")
        assert "cannot be read" in str(info.value) and "syncd state rebuild" in str(info.value)
    finally:
        world.close()


def test_a_foreign_sqlite_file_is_not_taken_over(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "other.db")
    conn.execute("CREATE TABLE something (x)")
    conn.commit()
    conn.close()
    with pytest.raises(StateError, match="not a cloze-syncd state database"):
        StateStore.open(tmp_path / "other.db")


def test_lease_excludes_a_second_owner_until_released_or_expired(tmp_path: Path) -> None:
    store = StateStore.open(tmp_path / "s.db")
    try:
        assert store.acquire_lease("p", "daemon", 60)
        assert not store.acquire_lease("p", "cli", 60)
        assert store.acquire_lease("p", "daemon", 60)  # re-entrant for its owner
        store.release_lease("p", "daemon")
        assert store.acquire_lease("p", "cli", 0)
        assert store.acquire_lease("p", "daemon", 60)  # the zero-length lease has expired
    finally:
        store.close()


def test_dry_run_writes_nothing_anywhere_not_even_the_state_file(tmp_path: Path) -> None:
    world = World(tmp_path)
    try:
        world.cloze.put("person", {"first": "Ann", "emails": ["a@x.com"]})
        world.run("full")
        world.cloze.put("person", {"first": "Bob", "emails": ["b@x.com"]})
        world.store.close()
        before = (tmp_path / "state.db").read_bytes()
        writes = world.writes()
        world.store = StateStore.open(tmp_path / "state.db", readonly=True)
        report = world.run("full", dry_run=True)
        world.store.close()
        assert report.ok and report.dry_run
        assert [row["action"] for row in report.plan] == ["create_external"]
        assert world.writes() == writes
        assert (tmp_path / "state.db").read_bytes() == before
        assert not (tmp_path / "state.db-wal").exists() or (tmp_path / "state.db-wal").stat().st_size == 0
    finally:
        world.close()


def test_state_survives_reopening_and_export_round_trips(tmp_path: Path) -> None:
    world = World(tmp_path)
    try:
        world.cloze.put("person", {"first": "Ann", "emails": ["a@x.com"], "tags": ["vip"]})
        world.ext.put("person", {"first": "Bob", "emails": ["b@x.com"]})
        world.run("full")
        world.store.close()
        world.store = StateStore.open(tmp_path / "state.db")
        assert world.run("incremental").total_writes == 0
        exported = world.store.export()
        assert {l["cloze_id"] for l in exported["links"]} == {l.cloze_id for l in world.links()}
        assert all(isinstance(l["base"], dict) for l in exported["links"])
        assert_converged(world)
    finally:
        world.store.close()
        world.close()
