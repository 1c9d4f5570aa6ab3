"""Fixtures for the fleet tests: one real PostgreSQL server per session, a database per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fleet.rig import Fleet
from tests.pgserver import PostgresServer, PostgresUnavailable, running_postgres


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    try:
        with running_postgres() as server:
            yield server
    except PostgresUnavailable as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL could not be started, and CI must run the fleet tests: {exc}")
        pytest.skip(f"PostgreSQL could not be started here: {exc}")


@pytest.fixture
def fleet(postgres: PostgresServer, tmp_path: Path) -> Iterator[Fleet]:
    rig = Fleet(tmp_path, postgres.new_database())
    yield rig
    rig.close()
