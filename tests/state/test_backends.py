"""The state store behaves the same on a SQLite file and on PostgreSQL: 64-bit times and ids, the
schema made once, read-only opens, the last run, and a URL's password never shown."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text

from config.loader import load_config_text
from connectors.errors import ConfigError, StateError
from connectors.scrub import scrub
from state.migrations import SCHEMA_V1
from state.models import SCHEMA_VERSION
from state.store import StateStore
from syncd.outcome import as_syncd_error
from syncd.sandbox import set_keys, write_config
from tests.pgserver import PostgresServer
from tests.state.conftest import NewLocation

# 2026-12-01 in epoch milliseconds: past 2**31, the first insert of it overflowed a 32-bit INTEGER.
STAMP = 1_796_108_602_194


def test_epoch_millisecond_times_and_64_bit_ids_are_stored_exactly(state_location: Path | str) -> None:
    store = StateStore.open(state_location)
    try:
        with store.transaction() as s:
            link_id = StateStore.save_link(s, pair="p", entity="person", app_id="a", cloze_id="c1",
                                           external_id="e1", base={"n": 1}, cloze_modified=STAMP,
                                           external_modified=STAMP + 1)
            s.execute(text("INSERT INTO links (id, pair, entity, app_id, cloze_id, external_id, status, "
                           "created_at, updated_at) VALUES (:id, 'p', 'person', 'a', 'c2', 'e2', 'active', :t, :t)"),
                      {"id": 2**40, "t": STAMP})
        epoch = store.claim_lease("p", "me", 60)
        assert epoch == 1
        [first, big] = sorted(store.links("p", "person"), key=lambda link: link.id or 0)
        assert first.id == link_id and (first.cloze_modified, first.external_modified) == (STAMP, STAMP + 1)
        assert big.id == 2**40 and big.created_at == STAMP
        holder = store.lease_holder("p")
        assert holder is not None and holder.expires_at > STAMP
    finally:
        store.close()


def test_a_second_open_finds_the_schema_and_a_read_only_open_cannot_write(state_location: Path | str) -> None:
    first = StateStore.open(state_location)
    assert first.created
    with first.transaction() as s:
        StateStore.save_link(s, pair="p", entity="person", app_id="a", cloze_id="c", external_id="e", base=None)
    first.close()
    again = StateStore.open(state_location)
    assert not again.created and again.link_count("p") == 1
    again.close()
    readonly = StateStore.open(state_location, readonly=True)
    try:
        with pytest.raises(StateError, match="read-only"), readonly.transaction():
            pass
        assert readonly.link_count("p") == 1
        assert StateStore.check_file(state_location) == []
    finally:
        readonly.close()


def test_the_last_success_is_the_run_recorded_last(state_location: Path | str) -> None:
    store = StateStore.open(state_location)
    try:
        store.start_run("r1", "p", "full")
        store.finish_run("r1", "ok", {}, None)
        store.start_run("r2", "p", "incremental")
        store.finish_run("r2", "failed", {}, "boom")
        with store.engine.begin() as conn:
            conn.execute(text("UPDATE runs SET finished_at = :t WHERE id = 'r1'"), {"t": STAMP})
        last = store.last_success("p")
        assert last is not None and int(last.timestamp() * 1000) == STAMP
    finally:
        store.close()


def test_a_state_url_password_is_never_shown(postgres: PostgresServer) -> None:
    url = f"postgresql://syncd:Hunter2-s3cret@127.0.0.1:{postgres.port}/missing_db"
    with pytest.raises(StateError) as caught:
        StateStore.open(url, lock_timeout=5)
    message = str(caught.value) + (caught.value.hint or "")
    assert "Hunter2-s3cret" not in message and "missing_db" in message
    assert scrub(f"connecting to {url}") == f"connecting to {url.replace('Hunter2-s3cret', '***')}"
    problems = StateStore.check_file(url, lock_timeout=5)
    assert problems and all("Hunter2-s3cret" not in p for p in problems)


def test_the_config_selects_postgresql_by_url_and_resolves_a_reference(
        postgres: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = postgres.new_database().replace("postgres@", "postgres:pw-Zq81x@")
    monkeypatch.setenv("SYNCD_TEST_STATE_URL", url)
    config = write_config(tmp_path, "http://127.0.0.1:9", "http://127.0.0.1:9").read_text()
    loaded = load_config_text(set_keys(config, "state", {"url": "env:SYNCD_TEST_STATE_URL"}), tmp_path / "c.toml")
    assert loaded.state_location == url
    assert "pw-Zq81x" in loaded.secrets
    store = StateStore.open(loaded.state_location)
    try:
        assert store.path is None and "pw-Zq81x" not in store.where and store.created
    finally:
        store.close()
    with pytest.raises(ConfigError) as caught:
        load_config_text(set_keys(config, "state", {"url": "mysql://u@h/db"}), tmp_path / "c.toml")
    assert any("state.url" in p and "PostgreSQL URL" in p for p in caught.value.problems)


def test_a_postgresql_failure_mid_transaction_is_a_typed_state_error(postgres: PostgresServer) -> None:
    url = postgres.new_database()
    store = StateStore.open(url)
    try:
        with pytest.raises(Exception) as caught, store.transaction() as s:
            s.execute(text("SET LOCAL statement_timeout = 50"))
            s.execute(text("SELECT pg_sleep(2)"))
        typed = as_syncd_error(caught.value)
        assert isinstance(typed, StateError) and "statement timeout" in str(typed), typed
        with pytest.raises(StateError, match="cannot be reached"), store.transaction() as s:
            pid = s.execute(text("SELECT pg_backend_pid()")).scalar_one()
            postgres.admin(f"SELECT pg_terminate_backend({int(pid)})")
            s.execute(text("SELECT 1"))
        assert store.link_count("p") == 0  # the pool replaced the dropped connection
    finally:
        store.close()


def test_a_read_only_open_before_the_first_sync_sees_an_empty_state_and_makes_nothing(
        new_state_location: NewLocation) -> None:
    location = new_state_location()
    store = StateStore.open(location, readonly=True)
    try:
        assert store.link_count("p") == 0 and store.runs() == [] and store.lease_holder("p") is None
    finally:
        store.close()
    if isinstance(location, Path):
        assert not location.exists()
    else:
        writer = StateStore.open(location)
        try:
            assert writer.created  # the read-only open made no schema
        finally:
            writer.close()


def test_config_show_and_state_check_never_print_the_state_url_password(
        postgres: PostgresServer, tmp_path: Path) -> None:
    url = postgres.new_database().replace("postgres@", "postgres:Inline-Pw-77@")
    config = write_config(tmp_path, "http://127.0.0.1:9", "http://127.0.0.1:9")
    config.write_text(set_keys(config.read_text(), "state", {"url": url}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    for args in (["config", "show"], ["state", "check"], ["status"]):
        done = subprocess.run([sys.executable, "-m", "syncd.cli", *args, "--config", str(config)], check=False,
                              capture_output=True, text=True, timeout=120, env=env)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        assert "Inline-Pw-77" not in done.stdout + done.stderr, args
    assert "postgres:***@127.0.0.1" in done.stdout or "postgres:***@" in done.stdout, done.stdout


def test_the_schema_upgrade_steps_run_on_postgresql(postgres: PostgresServer) -> None:
    """A version-1 schema, as the models made it on PostgreSQL (64-bit, numbered ids), is upgraded in
    the opening transaction by the same steps as a SQLite file."""
    url = postgres.new_database()
    v1 = SCHEMA_V1.replace("INTEGER NOT NULL PRIMARY KEY", "BIGSERIAL NOT NULL PRIMARY KEY").replace("INTEGER", "BIGINT")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(v1)  # type: ignore[arg-type]
        conn.execute("INSERT INTO leases (pair, owner, acquired_at, expires_at) VALUES ('p', 'old', 1, 2)")
    store = StateStore.open(url)
    try:
        assert not store.created
        assert store.export()["meta"] == [{"key": "schema_version", "value": str(SCHEMA_VERSION)}]
        with store.transaction() as s:
            StateStore.journal_add(s, run_id="r", pair="p", entity="person", target_side="external",
                                   source_id="c1", replaces_link=2**40)
        assert [e.replaces_link for e in store.journal_pending("p", "person")] == [2**40]
        assert store.claim_lease("p", "new", 60) == 2  # the old lease was set to epoch 1 by the upgrade
    finally:
        store.close()
