"""The tests' PostgreSQL server: :mod:`state.pgserver`'s throw-away server, under the names the
fixtures (``tests/state/conftest.py``) import."""

from state.pgserver import PostgresServer, PostgresUnavailable, running_postgres

__all__ = ["PostgresServer", "PostgresUnavailable", "running_postgres"]
