"""Fixtures: one real PostgreSQL server per test session (per xdist worker), a new database per
test, and ``state_location``: each state-store test once on a SQLite file and once on PostgreSQL.

Without PostgreSQL installed the PostgreSQL cases are skipped with the reason shown, except in
CI (``CI=true``), where that is a failure.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.pgserver import PostgresServer, PostgresUnavailable, running_postgres


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    try:
        with running_postgres() as server:
            yield server
    except PostgresUnavailable as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL could not be started, and CI must run the PostgreSQL tests: {exc}")
        pytest.skip(f"PostgreSQL could not be started here: {exc}")


@pytest.fixture
def pg_url(postgres: PostgresServer) -> str:
    """A new, empty database on the session's server."""
    return postgres.new_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def state_location(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """Where a test's state database lives: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "state.db"
    return str(request.getfixturevalue("pg_url"))


NewLocation = Callable[[], "Path | str"]


@pytest.fixture(params=["sqlite", "postgresql"])
def new_state_location(request: pytest.FixtureRequest, tmp_path: Path) -> NewLocation:
    """Makes a fresh location for a state database at each call, on a SQLite file, then on PostgreSQL."""
    numbers = itertools.count()
    if request.param == "sqlite":
        return lambda: tmp_path / f"state-{next(numbers)}.db"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.new_database
