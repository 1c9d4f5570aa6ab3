"""``syncd state migrate --to postgresql://...``: a SQLite state database moves to PostgreSQL in one
transaction, every table's digest equal, ids and sequences kept, and the next sync on PostgreSQL,
against the Cloze and HubSpot emulators, writes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from connectors.cloze.emulator import ClozeEmulator
from connectors.errors import LeaseHeldError, StateError
from connectors.hubspot.emulator import HubSpotEmulator
from state import activities as activity_tables
from state import schedule as schedule_tables
from state.store import NewLink, StateStore
from state.transfer import digests, migrate
from syncd.sandbox import CLOZE_KEY, HUBSPOT_TOKEN, set_keys, write_config
from tests.pgserver import PostgresServer

SYNCD = [sys.executable, "-m", "syncd.cli"]


def syncd(*args: str, config: Path, check: int | None = 0) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    proc = subprocess.run([*SYNCD, *args, "--config", str(config)], check=False, capture_output=True, text=True, timeout=180,
                          env=env)
    if check is not None:
        assert proc.returncode == check, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def _every_table_filled(path: Path) -> None:
    """A state database with rows in every table, text beyond ASCII, NULLs, booleans and floats."""
    store = StateStore.open(path)
    with store.transaction() as s:
        StateStore.save_new_links(s, pair="p", entity="person", app_id="a", links=[
            NewLink(f"c{i}", f"e{i}", {"name": f"Zoë {i}", "n": i}, {"name": f"ZOË {i}"}, 1_796_108_602_194 + i)
            for i in range(300)])
        link_id = StateStore.save_link(s, pair="q", entity="company", app_id="a", cloze_id="Ç", external_id="9",
                                       base=None)
        StateStore.tombstone_link(s, link_id, "external")
        StateStore.set_cursor(s, "p", "person", "cloze", "2026-12-01T00:00:00Z")
        StateStore.set_cursor(s, "p", "person", "external", None)
        StateStore.record_conflict(s, run_id="r1", pair="p", entity="person", link_id=7, cloze_id="c6",
                                   external_id="e6", field="title", base='"a"', cloze_value='"b"',
                                   external_value='"c"', policy="manual", outcome="pending", status="open")
        StateStore.record_error(s, run_id="r1", pair="p", entity="person", side="external", op="update",
                                record_id="c9", source_side="cloze", message="rejected: ünïcode", label="Ann")
        StateStore.journal_add(s, run_id="r1", pair="p", entity="person", target_side="external",
                               source_id="c300", replaces_link=12, base='{"x":1}')
        StateStore.record_accounts(s, "p", {"cloze": {"user": "ann@x.example"}, "external": {"portal_id": "42"}})
        activity_tables.record(s, "p", "note", "n1", 1_796_108_602_194, state="sent", target="content_note",
                               payload_sha256="0" * 64)
        schedule_tables.sync_rows(s.connection(), {("p", "incremental"): 1_796_108_602_194})
        activity_tables.set_feed(s, "p", "note", "backfill", 1_796_108_602_194, cursor="c", since=1, until=2,
                                 total=10, done=3)
    store.start_run("r1", "p", "full")
    store.finish_run("r1", "errors", {"created": 3}, None)
    epoch = store.claim_lease("p", "host:1:run", 60, accounts=["hubspot@api.hubapi.com#0123456789abcdef"])
    assert epoch is not None
    store.release_lease("p", "host:1:run", epoch)
    with store.transaction() as s:
        StateStore.record_usage(s, "hubspot@api.hubapi.com#0123456789abcdef", "2026-12-01", 120, remaining=880)
    store.close()


def _sorted_export(store: StateStore) -> dict[str, Any]:
    return {table: sorted(rows, key=lambda r: json.dumps(r, sort_keys=True, default=str))
            for table, rows in store.export().items()}


def test_a_migrated_state_database_has_every_table_equal_and_continues_its_ids(
        tmp_path: Path, postgres: PostgresServer) -> None:
    source = tmp_path / "state.db"
    _every_table_filled(source)
    url = postgres.new_database()
    report = migrate(source, url)
    assert all(t.rows > 0 for t in report.tables), report.tables
    assert report.rows == sum(t.rows for t in report.tables) >= 300
    src, dst = StateStore.open(source), StateStore.open(url)
    try:
        with src.engine.connect() as a, dst.engine.connect() as b:
            assert digests(a) == digests(b) == report.tables
        assert _sorted_export(src) == _sorted_export(dst)
        with dst.transaction() as s:
            new_id = StateStore.save_link(s, pair="p", entity="person", app_id="a", cloze_id="new",
                                          external_id="new", base=None)
        assert new_id == max(link.id or 0 for link in src.links("p", "person")) + 2  # after the tombstone too
        dst.start_run("r2", "p", "incremental")
        assert [r.id for r in dst.runs("p")] == ["r2", "r1"] and dst.runs("p")[0].seq == 2
        assert StateStore.check_file(url) == []
    finally:
        src.close()
        dst.close()


def test_a_second_migration_is_refused_and_leaves_the_target_as_it_was(
        tmp_path: Path, postgres: PostgresServer) -> None:
    source = tmp_path / "state.db"
    _every_table_filled(source)
    url = postgres.new_database()
    first = migrate(source, url)
    with pytest.raises(StateError, match="already holds cloze-syncd state"):
        migrate(source, url)
    dst = StateStore.open(url)
    try:
        with dst.engine.connect() as conn:
            assert digests(conn) == first.tables
    finally:
        dst.close()


def test_a_pair_being_synced_stops_the_migration_before_anything_is_copied(
        tmp_path: Path, postgres: PostgresServer) -> None:
    source = tmp_path / "state.db"
    _every_table_filled(source)
    holder = StateStore.open(source)
    assert holder.claim_lease("p", "daemon", 60) is not None
    url = postgres.new_database()
    try:
        with pytest.raises(LeaseHeldError, match="being synced"):
            migrate(source, url)
    finally:
        holder.close()
    dst = StateStore.open(url)
    try:
        with dst.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM links")).scalar_one() == 0
    finally:
        dst.close()


def person(first: str, last: str, email: str) -> dict[str, Any]:
    return {"first": first, "last": last, "name": f"{first} {last}", "emails": [{"value": email}]}


@pytest.mark.slow
def test_after_migrating_the_next_sync_against_the_emulators_writes_nothing(
        tmp_path: Path, postgres: PostgresServer) -> None:
    with ClozeEmulator(api_key=CLOZE_KEY, user="sandbox@example.com") as cloze, \
            HubSpotEmulator(token=HUBSPOT_TOKEN) as hubspot:
        config = write_config(tmp_path, cloze.url, hubspot.url)
        for i in range(12):
            cloze.add_record("person", person(f"Ann{i}", "Lee", f"ann{i}@acme.example"))
            hubspot.add_object("contacts", {"email": f"cy{i}@beta.example", "firstname": f"Cy{i}", "lastname": "Oh"})
        hubspot.add_object("contacts", {"email": "ANN0@acme.example", "firstname": "Ann0", "lastname": "Lee"})
        syncd("reconcile", config=config)
        syncd("sync", config=config)
        before = json.loads(syncd("state", "export", config=config).stdout)
        assert len(before["links"]) == 24

        url = postgres.new_database().replace("postgres@", "postgres:Pw-9aQ7@")
        done = syncd("state", "migrate", "--to", url, config=config)
        assert "every table's digest equal" in done.stdout and "Pw-9aQ7" not in done.stdout + done.stderr
        assert "links" in done.stdout and " 24 rows" in done.stdout
        state_file = tmp_path / "state.db"
        file_bytes = state_file.read_bytes()

        config.write_text(set_keys(config.read_text(), "state", {"url": url}))
        after = json.loads(syncd("state", "export", config=config).stdout)
        assert {k: sorted(map(json.dumps, v)) for k, v in after.items()} == \
            {k: sorted(map(json.dumps, v)) for k, v in before.items()}

        writes = (cloze.writes, hubspot.stats.writes)
        syncd("sync", config=config)
        syncd("reconcile", config=config)
        assert (cloze.writes, hubspot.stats.writes) == writes
        final = json.loads(syncd("state", "export", config=config).stdout)
        assert sorted(map(json.dumps, final["links"])) == sorted(map(json.dumps, after["links"]))
        assert [r["status"] for r in final["runs"] if r["id"] not in {x["id"] for x in before["runs"]}] == ["ok", "ok"]
        assert state_file.read_bytes() == file_bytes  # the old file is no longer written


def test_a_migration_killed_mid_copy_leaves_the_target_empty_and_can_be_run_again(
        tmp_path: Path, postgres: PostgresServer) -> None:
    source = tmp_path / "state.db"
    store = StateStore.open(source)
    with store.transaction() as s:
        StateStore.save_new_links(s, pair="p", entity="person", app_id="a", links=[
            NewLink(f"c{i}", f"e{i}", {"name": f"Person {i}", "n": i}) for i in range(30_000)])
    store.close()
    config = write_config(tmp_path, "http://127.0.0.1:9", "http://127.0.0.1:9")
    url = postgres.new_database()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    proc = subprocess.Popen([*SYNCD, "state", "migrate", "--to", url, "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        with psycopg.connect(postgres.url(), autocommit=True) as watch:
            copying = False
            for _ in range(3000):  # the copy is seen in flight (up to 60 s), then killed there
                row = watch.execute("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY \"links\"%' "
                                    "AND state = 'active'").fetchone()
                if row and row[0]:
                    copying = True
                    break
                if proc.poll() is not None:
                    break
                watch.execute("SELECT pg_sleep(0.02)")
            assert copying, proc.communicate()
            proc.kill()
            proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    target = StateStore.open(url)
    try:
        assert target.link_count("p") == 0 and target.runs() == []
    finally:
        target.close()
    done = syncd("state", "migrate", "--to", url, config=config)
    assert "every table's digest equal" in done.stdout
    target = StateStore.open(url)
    try:
        assert target.link_count("p") == 30_000
    finally:
        target.close()
