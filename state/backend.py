"""Where the state database lives: a SQLite file (the default) or a PostgreSQL server.

A location is a file path or a ``postgresql://`` URL (``postgresql+psycopg://`` is the
same; psycopg 3 is the driver, from the ``postgresql`` extra). A URL can carry a
password, so it is shown only through :func:`describe`, which hides it, and the
password is registered with :mod:`syncd.scrub` so no log line or error text carries it.
"""

from __future__ import annotations

import select
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import URL, ExceptionContext, make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError

from connectors.errors import StateError, StateLockedError, StateUnreachableError
from connectors.scrub import register

POSTGRES_SCHEMES = ("postgresql://", "postgresql+psycopg://", "postgres://")
# pg_advisory_xact_lock key that serialises creating or upgrading the schema (ASCII "syncd").
SCHEMA_LOCK_KEY = 0x73796E6364


def is_database_url(location: str | Path) -> bool:
    """A PostgreSQL URL rather than a file path."""
    return isinstance(location, str) and location.lower().startswith(POSTGRES_SCHEMES)


def database_url(location: str) -> URL:
    """The SQLAlchemy URL for a ``postgresql://`` location, with psycopg 3 as its driver."""
    try:
        url = make_url(location)
    except ArgumentError:
        raise StateError("the state URL is not a valid PostgreSQL URL",
                         hint="write it as postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE") from None
    if url.password:
        register(str(url.password))
    if url.get_backend_name() not in ("postgresql", "postgres"):
        raise StateError(f"the state URL names {url.get_backend_name()!r}; only PostgreSQL URLs are supported")
    return url.set(drivername="postgresql+psycopg")


def describe(location: str | Path) -> str:
    """A location as it may be shown: a URL without its password."""
    if not is_database_url(location):
        return str(location)
    try:
        url = make_url(str(location))
    except ArgumentError:
        return "postgresql://(an invalid URL)"
    return url.render_as_string(hide_password=True)


def postgres_engine(location: str, readonly: bool, lock_timeout: float, connections: int | None = None) -> Engine:
    """An engine on the PostgreSQL database ``location``; ``readonly`` sessions cannot write.

    ``connections`` bounds the pool (SQLAlchemy's default: 5 kept, 15 at most).

    A pooled connection is checked for life without a round trip (:func:`_closed_by_server`),
    not with ``pool_pre_ping``, whose ``SELECT`` per checkout was a third of a lease claim's
    round trips. A connection that dies unnoticed (a host cut off without a word) fails its
    next statement with :class:`StateUnreachableError` and the pool starts afresh.

    A row or table lock held by another process is waited for ``lock_timeout``
    seconds (PostgreSQL's ``lock_timeout``), then :class:`StateLockedError`.
    """
    try:
        import psycopg  # noqa: F401 - only to say what is missing
    except ImportError:
        raise StateError("the state database is on PostgreSQL but psycopg is not installed",
                         hint="pip install 'cloze-syncd[postgresql]'") from None
    options = f"-c lock_timeout={int(lock_timeout * 1000)}"
    if readonly:
        options += " -c default_transaction_read_only=on"
    engine = create_engine(
        database_url(location),
        connect_args={"options": options, "connect_timeout": max(1, int(lock_timeout)),
                      "application_name": "cloze-syncd"},
        **({"pool_size": connections, "max_overflow": 0} if connections else {}),
    )
    shown = describe(location)

    @event.listens_for(engine, "checkout")
    def _alive(dbapi_conn: Any, record: Any, proxy: Any) -> None:
        if _closed_by_server(dbapi_conn):
            raise DisconnectionError("the server closed this pooled connection")  # the pool connects afresh

    @event.listens_for(engine, "handle_error")
    def _typed(context: ExceptionContext) -> None:
        """A lock waited out, and a server that cannot be reached, as errors an operator can act on."""
        code = getattr(context.original_exception, "sqlstate", None)
        if code == "55P03":  # lock_not_available: lock_timeout ran out
            raise StateLockedError(
                f"the state database {shown} stayed locked by another process for {lock_timeout:g} s",
                hint="another syncd is writing to the same rows; try again later, or raise [state] lock_timeout",
            ) from None
        if context.connection is None or context.is_disconnect:
            raise StateUnreachableError(
                f"the state database {shown} cannot be reached: {_first_line(context.original_exception)}",
                hint="check that the PostgreSQL server runs and that [state] url names it",
            ) from None

    return engine


def _closed_by_server(dbapi_conn: Any) -> bool:
    """An idle pooled connection that the server closed (restart, shutdown, idle timeout, killed backend).

    An idle connection has nothing to read (the state store does not LISTEN); when its socket is
    readable the server sent its goodbye (a FATAL message) or closed it. Asking the socket costs
    no round trip.
    """
    pgconn = getattr(dbapi_conn, "pgconn", None)
    if pgconn is None:
        return False
    try:
        readable, _, _ = select.select([pgconn.socket], [], [], 0)
    except Exception:  # noqa: BLE001 - a socket libpq no longer has is a dead connection
        return True
    return bool(readable)


def table_names(conn: Connection) -> set[str]:
    """The tables in the database, from the dialect's own catalog."""
    return set(inspect(conn).get_table_names())


def take_schema_lock(conn: Connection) -> None:
    """Serialise opening: two processes creating one new schema would both find it missing.

    SQLite takes its write lock (``BEGIN IMMEDIATE``); PostgreSQL an advisory lock held to
    the end of the transaction.
    """
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK_KEY})")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__

