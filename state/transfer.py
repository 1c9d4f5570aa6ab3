"""Moving a SQLite state database to PostgreSQL (``syncd state migrate --to postgresql://...``).

The copy keeps every row as it is, ids included (``conflicts.link_id`` and
``journal.replaces_link`` name links by id), so a deployment moves without a resync:
the next sync on PostgreSQL finds every link, cursor and base where it was.

- The source is upgraded to the current schema first, then held with SQLite's write
  lock for the whole copy: no writer gets in, and what is copied is one snapshot.
  A pair whose lease is held (a run in progress) stops the migration before anything.
- The target must be empty (a new database, or one holding only an empty schema): a
  second migration into the same database is refused rather than mixing two states.
- Every table is copied in **one target transaction**, each id sequence is moved past
  the largest id copied, and the copy is verified before the commit: each table's row
  count and SHA-256 digest (rows in primary-key order, byte order for text) must equal
  the source's. Any difference rolls the whole copy back, leaving the target empty.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Table, func, insert, select, text
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, SQLModel
from sqlmodel import select as sqlmodel_select

from connectors.errors import LeaseHeldError, StateError
from state.models import Lease
from state.store import StateStore

CHUNK_ROWS = 5000


@dataclass(frozen=True)
class TableDigest:
    table: str
    rows: int
    sha256: str


@dataclass(frozen=True)
class MigrationReport:
    source: str
    target: str  # without its password
    tables: tuple[TableDigest, ...]
    copy_seconds: float  # the copy alone (reading the source and inserting into the target)
    total_seconds: float  # with the digests on both sides and the commit

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.copy_seconds if self.copy_seconds > 0 else float("inf")


def state_tables() -> list[Table]:
    """The state database's tables, in dependency order."""
    return list(SQLModel.metadata.sorted_tables)


def table_digest(conn: Connection, table: Table) -> TableDigest:
    """The table's row count and the SHA-256 of its rows (canonical JSON, one per line, in key order)."""
    digest = hashlib.sha256()
    rows = 0
    result = conn.execution_options(yield_per=CHUNK_ROWS).execute(
        select(table).order_by(*_key_order(conn, table)))
    for part in result.partitions():
        for row in part:
            digest.update(json.dumps(list(row), ensure_ascii=False, separators=(",", ":")).encode())
            digest.update(b"\n")
            rows += 1
    return TableDigest(table.name, rows, digest.hexdigest())


def _key_order(conn: Connection, table: Table) -> list[ColumnElement[Any]]:
    """Primary-key order that both dialects agree on: text compared byte by byte (SQLite's BINARY)."""
    out: list[ColumnElement[Any]] = []
    for column in table.primary_key.columns:
        is_text = column.type.python_type is str
        out.append(column.collate("C") if is_text and conn.dialect.name == "postgresql" else column)
    return out


def digests(conn: Connection, tables: Iterable[Table] | None = None) -> tuple[TableDigest, ...]:
    return tuple(table_digest(conn, t) for t in (tables if tables is not None else state_tables()))


def migrate(source: Path, target: str, *, lock_timeout: float = 30.0) -> MigrationReport:
    """Copy the SQLite state database ``source`` into the empty PostgreSQL database ``target``."""
    if not Path(source).exists():
        raise StateError(f"there is no state database at {source} to migrate")
    started = time.perf_counter()
    src = StateStore.open(Path(source), lock_timeout=lock_timeout)  # upgraded to the current schema
    try:
        held = [row.pair for row in _leases(src) if src.lease_holder(row.pair) is not None]
        if held:
            raise LeaseHeldError(
                f"pair {held[0]!r} is being synced right now (its lease in {source} is held)",
                pair=held[0], hint="stop the daemon (and any manual sync) before migrating the state database")
        dst = StateStore.open(target, lock_timeout=lock_timeout)
        try:
            return _copy(src, dst, str(source), started)
        finally:
            dst.close()
    finally:
        src.close()


def _leases(store: StateStore) -> list[Lease]:
    with Session(store.engine) as s:
        return list(s.exec(sqlmodel_select(Lease)))


def _copy(src: StateStore, dst: StateStore, source: str, started: float) -> MigrationReport:
    tables = state_tables()
    with src.engine.connect() as sconn:
        sconn.exec_driver_sql("BEGIN IMMEDIATE")  # no writer until the copy is verified
        try:
            with dst.engine.begin() as dconn:
                _refuse_unless_empty(dconn, tables, dst.where)
                copy_start = time.perf_counter()
                for table in tables:
                    if table.name == "meta":
                        dconn.execute(table.delete())  # the source's rows replace the new schema's
                    _copy_table(sconn, dconn, table)
                copy_seconds = time.perf_counter() - copy_start
                _advance_sequences(dconn, tables)
                theirs, ours = digests(sconn, tables), digests(dconn, tables)
                if theirs != ours:
                    differ = [a.table for a, b in zip(theirs, ours, strict=True) if a != b]
                    raise StateError(
                        f"the copy in {dst.where} differs from {source} in {', '.join(differ)}; "
                        "nothing was committed",
                        hint="the target is left empty; report this with `syncd state export` of the source")
        finally:
            sconn.rollback()
    return MigrationReport(source=source, target=dst.where, tables=ours,
                           copy_seconds=copy_seconds, total_seconds=time.perf_counter() - started)


def _refuse_unless_empty(conn: Connection, tables: list[Table], where: str) -> None:
    for table in tables:
        if table.name == "meta":
            continue
        count = int(conn.execute(select(func.count()).select_from(table)).scalar_one())
        if count:
            raise StateError(
                f"{where} already holds cloze-syncd state ({count} rows in {table.name}); a migration "
                "copies into an empty database only",
                hint="create a new database for it, or drop this one if it holds nothing you need")


def _copy_table(sconn: Connection, dconn: Connection, table: Table) -> None:
    """Rows go in through PostgreSQL's ``COPY … FROM STDIN`` on the target transaction's own
    connection (several times faster than batched INSERTs), values as SQLAlchemy read them."""
    result = sconn.execution_options(yield_per=CHUNK_ROWS).execute(select(table))
    if dconn.dialect.name != "postgresql":
        for part in result.partitions():
            dconn.execute(insert(table), [dict(row._mapping) for row in part])
        return
    columns = ", ".join(f'"{c.name}"' for c in table.columns)
    cursor = dconn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy:
        for part in result.partitions():
            for row in part:
                copy.write_row(tuple(row))


def _advance_sequences(conn: Connection, tables: list[Table]) -> None:
    """Ids (and ``runs.seq``) were copied as they were: each sequence continues after the largest one."""
    if conn.dialect.name != "postgresql":
        return
    for table in tables:
        key = list(table.primary_key.columns)
        numbered = [c for c in table.columns if c.identity is not None]
        if len(key) == 1 and key[0].autoincrement is not False and key[0].type.python_type is int:
            numbered.append(key[0])
        for column in numbered:
            conn.execute(text(
                f"SELECT setval(pg_get_serial_sequence(:table, :column), "
                f"COALESCE((SELECT MAX({column.name}) FROM {table.name}), 0) + 1, false)"),
                {"table": table.name, "column": column.name})
