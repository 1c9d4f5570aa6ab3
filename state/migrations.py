"""Schema upgrades of the state database, one function per version step.

A database records its version in ``meta.schema_version``; :func:`upgrade` runs
every step from that version to :data:`state.models.SCHEMA_VERSION` inside the
opening transaction, so an interrupted upgrade leaves the old schema intact.
Each step is plain SQL both SQLite and PostgreSQL run (``ALTER TABLE … ADD COLUMN``,
``CREATE TABLE`` with the dialect's numbered key); times are ``BIGINT``.

History:

- **1**: links, cursors, conflicts, record errors, runs, leases.
- **2**: the create journal (``journal``), tombstoned links (``links.unlinked_side``),
  per-side bases (``links.base_external``) and per-field record errors
  (``record_errors.field``).
- **3**: fenced leases (``leases.epoch``, ``heartbeat_at``, ``boot_id``, ``mono_expires``) and the
  accounts each pair belongs to (``accounts``), and who a record error is about
  (``record_errors.label``).
- **4**: timeline activities: the activity journal (``activity_journal``, hashes only) and the
  activity feed positions (``activity_feeds``), see :mod:`state.activities`.
- **5**: ``ix_links_status`` on ``links (pair, entity, status)``, so a run counts an entity's active
  links without reading them (it looks links up by record id, through the unique indexes).
- **6**: the fleet's schedule (``pair_schedule``, see :mod:`state.schedule`).
- **7**: per-account budgets: account leases (``account_leases``) and the API usage ledger
  (``api_usage``), see :mod:`state.budget`; ``runs.seq``, the order runs were recorded in on both
  backends.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, text
from sqlmodel import SQLModel

from state.activities import TABLE_NAMES as ACTIVITY_TABLE_NAMES
from state.models import SCHEMA_VERSION, AccountLease, ApiUsage
from state.schedule import TABLE_NAMES as SCHEDULE_TABLE_NAMES

# The version-1 schema, kept so the upgrade path stays testable.
SCHEMA_V1 = """
CREATE TABLE meta (key VARCHAR NOT NULL PRIMARY KEY, value VARCHAR NOT NULL);
CREATE TABLE links (
    id INTEGER NOT NULL PRIMARY KEY, pair VARCHAR NOT NULL, entity VARCHAR NOT NULL, app_id VARCHAR NOT NULL,
    cloze_id VARCHAR, external_id VARCHAR, status VARCHAR NOT NULL, base VARCHAR,
    cloze_modified INTEGER, external_modified INTEGER, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
    CONSTRAINT uq_links_cloze UNIQUE (pair, entity, cloze_id),
    CONSTRAINT uq_links_external UNIQUE (pair, entity, external_id)
);
CREATE INDEX ix_links_pair ON links (pair);
CREATE TABLE cursors (
    pair VARCHAR NOT NULL, entity VARCHAR NOT NULL, side VARCHAR NOT NULL, value VARCHAR, updated_at INTEGER NOT NULL,
    PRIMARY KEY (pair, entity, side)
);
CREATE TABLE conflicts (
    id INTEGER NOT NULL PRIMARY KEY, run_id VARCHAR NOT NULL, pair VARCHAR NOT NULL, entity VARCHAR NOT NULL,
    link_id INTEGER, cloze_id VARCHAR, external_id VARCHAR, field VARCHAR NOT NULL, base VARCHAR,
    cloze_value VARCHAR, external_value VARCHAR, policy VARCHAR NOT NULL, outcome VARCHAR NOT NULL,
    status VARCHAR NOT NULL, resolution VARCHAR, resolved_by VARCHAR, created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX ix_conflicts_open ON conflicts (pair, status);
CREATE TABLE record_errors (
    id INTEGER NOT NULL PRIMARY KEY, run_id VARCHAR NOT NULL, pair VARCHAR NOT NULL, entity VARCHAR NOT NULL,
    side VARCHAR NOT NULL, op VARCHAR NOT NULL, record_id VARCHAR NOT NULL, source_side VARCHAR NOT NULL,
    code VARCHAR, message VARCHAR NOT NULL, attempts INTEGER NOT NULL, resolved BOOLEAN NOT NULL,
    first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL
);
CREATE INDEX ix_record_errors_open ON record_errors (pair, resolved);
CREATE TABLE runs (
    id VARCHAR NOT NULL PRIMARY KEY, pair VARCHAR NOT NULL, mode VARCHAR NOT NULL, started_at INTEGER NOT NULL,
    finished_at INTEGER, status VARCHAR NOT NULL, counts VARCHAR, error VARCHAR
);
CREATE INDEX ix_runs_pair ON runs (pair);
CREATE TABLE leases (
    pair VARCHAR NOT NULL PRIMARY KEY, owner VARCHAR NOT NULL, acquired_at INTEGER NOT NULL, expires_at INTEGER NOT NULL
);
INSERT INTO meta (key, value) VALUES ('schema_version', '1');
"""


def _row_id(conn: Connection) -> str:
    """A numbered primary key in this dialect: SQLite numbers only its rowid alias."""
    return "INTEGER NOT NULL PRIMARY KEY" if conn.dialect.name == "sqlite" else "BIGSERIAL NOT NULL PRIMARY KEY"


def _v1_to_v2(conn: Connection) -> None:
    conn.exec_driver_sql("ALTER TABLE links ADD COLUMN unlinked_side VARCHAR")
    conn.exec_driver_sql("ALTER TABLE links ADD COLUMN base_external VARCHAR")
    conn.exec_driver_sql("ALTER TABLE record_errors ADD COLUMN field VARCHAR")
    conn.exec_driver_sql(
        f"""CREATE TABLE journal (
            id {_row_id(conn)}, run_id VARCHAR NOT NULL, pair VARCHAR NOT NULL,
            entity VARCHAR NOT NULL, target_side VARCHAR NOT NULL, source_id VARCHAR NOT NULL,
            replaces_link BIGINT, base VARCHAR, created_at BIGINT NOT NULL)"""
    )
    # A v1 "unlinked" link did not say which side had gone; the side whose id was kept survived.
    conn.exec_driver_sql(
        "UPDATE links SET unlinked_side = CASE WHEN cloze_id IS NULL THEN 'cloze' ELSE 'external' END "
        "WHERE status = 'unlinked'"
    )


def _v2_to_v3(conn: Connection) -> None:
    for column in ("epoch BIGINT NOT NULL DEFAULT 0", "heartbeat_at BIGINT NOT NULL DEFAULT 0",
                   "boot_id VARCHAR NOT NULL DEFAULT ''", "mono_expires FLOAT NOT NULL DEFAULT 0"):
        conn.exec_driver_sql(f"ALTER TABLE leases ADD COLUMN {column}")
    # A lease written by an older version is held by a process that does not check epochs:
    # it starts at epoch 1 so the next claim fences it out.
    conn.exec_driver_sql("UPDATE leases SET epoch = 1")
    conn.exec_driver_sql(
        """CREATE TABLE accounts (
            pair VARCHAR NOT NULL, side VARCHAR NOT NULL, identity VARCHAR NOT NULL, recorded_at BIGINT NOT NULL,
            PRIMARY KEY (pair, side))"""
    )
    conn.exec_driver_sql("ALTER TABLE record_errors ADD COLUMN label VARCHAR")


def _v3_to_v4(conn: Connection) -> None:
    SQLModel.metadata.create_all(conn, tables=[SQLModel.metadata.tables[name] for name in ACTIVITY_TABLE_NAMES])


def _v4_to_v5(conn: Connection) -> None:
    conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_links_status ON links (pair, entity, status)")


def _v5_to_v6(conn: Connection) -> None:
    SQLModel.metadata.create_all(conn, tables=[SQLModel.metadata.tables[name] for name in SCHEDULE_TABLE_NAMES])


def _account_budgets(conn: Connection) -> None:
    SQLModel.metadata.create_all(conn, tables=[AccountLease.__table__, ApiUsage.__table__])  # type: ignore[attr-defined]
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("ALTER TABLE runs ADD COLUMN seq BIGINT NOT NULL DEFAULT 0")
        conn.exec_driver_sql("UPDATE runs SET seq = rowid")
    else:
        conn.exec_driver_sql("ALTER TABLE runs ADD COLUMN seq BIGINT")
        conn.exec_driver_sql("UPDATE runs SET seq = numbered.n FROM (SELECT id, row_number() OVER "
                             "(ORDER BY started_at, id) AS n FROM runs) AS numbered WHERE runs.id = numbered.id")
        conn.exec_driver_sql("ALTER TABLE runs ALTER COLUMN seq SET NOT NULL")
        conn.exec_driver_sql("ALTER TABLE runs ALTER COLUMN seq ADD GENERATED BY DEFAULT AS IDENTITY")
        conn.exec_driver_sql("SELECT setval(pg_get_serial_sequence('runs', 'seq'), "
                             "COALESCE((SELECT MAX(seq) FROM runs), 0) + 1, false)")
    conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_runs_order ON runs (pair, seq)")


STEPS: dict[int, Callable[[Connection], None]] = {1: _v1_to_v2, 2: _v2_to_v3, 3: _v3_to_v4, 4: _v4_to_v5,
                                                  5: _v5_to_v6, 6: _account_budgets}


def upgrade(conn: Connection, version: int) -> None:
    """Run every step from ``version`` up to the current schema, then record it."""
    while version < SCHEMA_VERSION:
        STEPS[version](conn)
        version += 1
    conn.execute(text("UPDATE meta SET value = :v WHERE key = 'schema_version'"), {"v": str(version)})
