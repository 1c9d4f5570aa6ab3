"""The procrastinate app on the state database, its schema, and queueing one run.

One database holds the fleet: the state tables, the schedule and procrastinate's job
tables. A run is the task :data:`RUN_TASK` with ``pair`` and ``kind``; it is queued with
``queueing_lock = "<kind>:<pair>"``, so a pair never has more than one waiting run of a
kind however often the tick, a webhook storm or an operator asks (a second request is
:class:`procrastinate.exceptions.AlreadyEnqueued`, ignored). There is no procrastinate
``lock``: the pair's fenced lease is what keeps two runs apart.
"""

from __future__ import annotations

from typing import Literal

import procrastinate
import structlog
from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.jobs import JobDeferrer
from procrastinate.schema import SchemaManager
from sqlalchemy import Engine

from connectors.errors import ConfigError
from state.backend import SCHEMA_LOCK_KEY, database_url, is_database_url, table_names

log = structlog.get_logger("syncd.fleet")

RUN_TASK = "syncd.run_pair"
TICK_TASK = "syncd.tick"
REAP_TASK = "syncd.reap"
QUEUE = "syncd"

RunKind = Literal["incremental", "reconcile", "webhook"]
RUN_KINDS: tuple[RunKind, ...] = ("webhook", "incremental", "reconcile")
# Fetched highest first: a webhook's run before the periodic ones, reconciles last.
PRIORITY: dict[str, int] = {"webhook": 10, "incremental": 0, "reconcile": -10}
# pg_advisory_xact_lock key that serialises creating procrastinate's tables ("syncdq").
QUEUE_SCHEMA_LOCK_KEY = SCHEMA_LOCK_KEY + 1


def conninfo(location: str) -> str:
    """A libpq URI for psycopg from the ``[state] url`` (which SQLAlchemy spells with a driver)."""
    return database_url(location).set(drivername="postgresql").render_as_string(hide_password=False)


def new_app(location: str | object) -> procrastinate.App:
    """A procrastinate app on the state database; no task is registered yet."""
    if not isinstance(location, str) or not is_database_url(location):
        raise ConfigError(
            "syncd worker needs the state database on PostgreSQL",
            problems=["state.url: set it to postgresql://USER@HOST[:PORT]/DATABASE (one database for the fleet)"],
        )
    connector = procrastinate.PsycopgConnector(conninfo=conninfo(location),
                                               kwargs={"application_name": "cloze-syncd-worker"})
    return procrastinate.App(connector=connector)


def ensure_queue_schema(engine: Engine) -> bool:
    """Create procrastinate's tables in the state database unless they are there; ``True`` if created.

    Workers starting together take an advisory lock first, so one creates and the others wait.
    """
    with engine.begin() as conn:
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({QUEUE_SCHEMA_LOCK_KEY})")
        if "procrastinate_jobs" in table_names(conn):
            return False
        conn.exec_driver_sql(SchemaManager.get_schema().replace("%", "%%"))
    log.info("queue_schema_created")
    return True


def enqueue(app: procrastinate.App, pair: str, kind: RunKind, *, delay: float = 0.0) -> int | None:
    """Queue a run of ``pair``; its job id, or None when one is already waiting (nothing to do)."""
    try:
        return _deferrer(app, pair, kind, delay).defer(pair=pair, kind=kind)
    except AlreadyEnqueued:
        return None


async def enqueue_async(app: procrastinate.App, pair: str, kind: RunKind, *, delay: float = 0.0) -> int | None:
    try:
        return await _deferrer(app, pair, kind, delay).defer_async(pair=pair, kind=kind)
    except AlreadyEnqueued:
        return None


def _deferrer(app: procrastinate.App, pair: str, kind: RunKind, delay: float) -> JobDeferrer:
    return app.configure_task(RUN_TASK, queueing_lock=f"{kind}:{pair}", priority=PRIORITY[kind], queue=QUEUE,
                              schedule_in={"seconds": delay} if delay > 0 else None)
