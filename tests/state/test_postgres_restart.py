"""The PostgreSQL server holding the state goes down in the middle of a ``syncd reconcile`` (after the
run's creates reached HubSpot, before their links were recorded): the run fails as a temporary
failure (exit 75, the error names the unreachable database), nothing half-written stays, and once
the server is back the next run converges with no duplicate on either side."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.cloze.emulator import ClozeEmulator
from connectors.hubspot.emulator import HubSpotEmulator
from state.pgserver import PostgresServer, PostgresUnavailable, running_postgres
from state.store import StateStore
from syncd.sandbox import CLOZE_KEY, HUBSPOT_TOKEN, set_keys, write_config

pytestmark = pytest.mark.timeout(300)
SYNCD = [sys.executable, "-m", "syncd.cli"]
PEOPLE = 30


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A server of this test's own, since the test stops it (the session's server serves other tests)."""
    try:
        with running_postgres() as server:
            yield server
    except PostgresUnavailable as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL could not be started, and CI must run the PostgreSQL tests: {exc}")
        pytest.skip(f"PostgreSQL could not be started here: {exc}")


def syncd(*args: str, config: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    return subprocess.run([*SYNCD, *args, "--config", str(config)], check=False, capture_output=True, text=True,
                          timeout=180, env=env)


def test_a_postgresql_restart_mid_run_is_a_temporary_failure_and_the_next_run_converges(
        tmp_path: Path, own_postgres: PostgresServer) -> None:
    url = own_postgres.new_database()
    with ClozeEmulator(api_key=CLOZE_KEY, user="sandbox@example.com") as cloze, \
            HubSpotEmulator(token=HUBSPOT_TOKEN) as hubspot:
        config = write_config(tmp_path, cloze.url, hubspot.url)
        config.write_text(set_keys(config.read_text(), "state", {"url": url, "lock_timeout": "5s"}))
        for i in range(PEOPLE):
            cloze.add_record("person", {"first": f"Ann{i}", "last": "Lee", "name": f"Ann{i} Lee",
                                        "emails": [{"value": f"ann{i}@acme.example"}]})
        down = threading.Event()

        def database_goes_down() -> None:
            own_postgres.stop()
            down.set()

        # Just before HubSpot answers the run's first create batch: the creates land, their links cannot.
        hubspot.before_request("POST", "/contacts/batch/upsert", database_goes_down)
        failed = syncd("reconcile", config=config)
        assert down.is_set(), failed.stdout + failed.stderr
        text = failed.stdout + failed.stderr
        assert failed.returncode == 75, text[-3000:]
        assert "cannot be reached" in text and "Traceback" not in text, text[-3000:]
        assert len(list(hubspot.store.all("contacts", archived=False))) == PEOPLE  # the creates landed

        own_postgres.start()
        assert StateStore.check_file(url) == []
        again = syncd("reconcile", config=config)
        assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]
        quiet = syncd("reconcile", "--json", config=config)
        assert quiet.returncode == 0, quiet.stderr[-3000:]
        assert json.loads(quiet.stdout)[0]["writes"] == {}, quiet.stdout  # converged
        contacts = list(hubspot.store.all("contacts", archived=False))
        assert len(contacts) == PEOPLE  # no duplicate in HubSpot
        assert cloze.store.count("person") == PEOPLE  # nor in Cloze
        store = StateStore.open(url, readonly=True)
        try:
            assert store.link_count("p") == 0 and store.link_count("sandbox") == PEOPLE
            assert store.journal_pending("sandbox", "person") == []
            statuses = [r.status for r in store.runs("sandbox")]
            assert statuses[:2] == ["ok", "ok"], statuses
        finally:
            store.close()
        assert StateStore.check_file(url) == []
