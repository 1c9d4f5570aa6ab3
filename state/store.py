"""The state database: open, upgrade, and read or write links, cursors, conflicts, errors,
runs, the create journal, pair leases and the accounts each pair belongs to.

SQLite in WAL mode (the default), or PostgreSQL when the location is a
``postgresql://`` URL (:mod:`state.backend`). A SQLite file is created owner-only
(0600) before SQLite touches it. Every write happens inside :meth:`StateStore.transaction`, so a crash at any
instant leaves either the old or the new state of a batch, never half of it.
A run writes through a :class:`FencedStore`, whose transactions first renew the
pair's lease for the run's epoch and roll back if another process took it over.
On PostgreSQL lease times come from the server's clock, so workers on hosts with
skewed clocks agree on them; a run takes the accounts its sides reach with its
lease (:mod:`state.budget`), and each batch adds its API calls to the usage ledger.

``readonly=True`` (dry runs, ``status``) opens the file with ``mode=ro``; when no
other process has it open (no ``-wal`` file beside it) also ``immutable=1``, so
SQLite creates no ``-wal``/``-shm`` files either: a dry run writes nothing anywhere.

Another process holding the database locked is waited for ``lock_timeout``
seconds, then a :class:`StateLockedError` (exit 75) says so. On PostgreSQL ``readonly``
sessions are read-only transactions, and row locks are waited for the same time.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote

from sqlalchemy import (
    Connection,
    Engine,
    UniqueConstraint,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    text,
    update,
)
from sqlalchemy import select as sql_select
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DatabaseError, OperationalError
from sqlalchemy.sql.elements import TextClause
from sqlmodel import Session, SQLModel, col, select

from connectors.errors import StateError, StateLockedError
from connectors.model import Side
from connectors.scrub import scrub
from state import activities as activity_tables
from state import budget
from state.backend import describe, is_database_url, postgres_engine, table_names, take_schema_lock
from state.budget import UsageCounter
from state.clock import PG_NOW_MS, boot_id, lease_expired_sql, monotonic, wall_ms
from state.lease import LeaseKeeper, LeaseToken
from state.migrations import upgrade
from state.models import (
    SCHEMA_VERSION,
    AccountLease,
    ApiUsage,
    ConflictRow,
    Cursor,
    JournalEntry,
    Lease,
    Link,
    Meta,
    PairAccount,
    RecordErrorRow,
    Run,
)

DEFAULT_LOCK_TIMEOUT = 30.0
_ID_COLUMN: Mapping[Side, str] = {"cloze": "cloze_id", "external": "external_id"}
"""The ``links`` column holding each side's record id."""
_OTHER: Mapping[Side, Side] = {"cloze": "external", "external": "cloze"}
LOOKUP_CHUNK = 500  # ids per ``IN (...)`` look-up: well under SQLite's bound of 32,766 variables
DAMAGED_HINT = "restore a backup, or move the file away and run `syncd state rebuild`"
SEQUENCE_HINT = ("move it past the largest id: SELECT setval(pg_get_serial_sequence('TABLE', 'COLUMN'), "
                 "(SELECT MAX(COLUMN) FROM TABLE))")


def now_ms() -> int:
    return wall_ms()


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


class LinkRow(NamedTuple):
    """What a run's planner needs of a stored link: plain columns, read without building a ``Link`` object."""

    id: int | None
    pair: str
    entity: str
    cloze_id: str | None
    external_id: str | None
    status: str
    base: str | None
    base_external: str | None


@dataclass(frozen=True)
class NewLink:
    """A link to store for a pair of records just joined (see :meth:`StateStore.save_new_links`)."""

    cloze_id: str
    external_id: str
    base: Mapping[str, Any] | None
    base_external: Mapping[str, Any] | None = None
    cloze_modified: int | None = None
    external_modified: int | None = None


def _external_base(base: Mapping[str, Any] | None, base_external: Mapping[str, Any] | None) -> str | None:
    """Only where the external side holds something different is its base stored apart."""
    if base is None or base_external is None:
        return None
    differs = {k: v for k, v in base_external.items() if base.get(k, object()) != v}
    return dumps(differs) if differs else None


def _create_private(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
    os.chmod(path, 0o600)


class StateStore:
    """All reads and writes of the state database."""

    def __init__(self, engine: Engine, path: Path | None, readonly: bool, *, where: str | None = None) -> None:
        self.engine = engine
        self.path = path  # the SQLite file; None on PostgreSQL and in memory
        self.readonly = readonly
        self.where = where if where is not None else str(path)  # how errors name the database (no password)
        self.created = False  # this open made the schema: a new, empty state

    # -- opening -----------------------------------------------------------------

    @classmethod
    def open(cls, location: Path | str, *, readonly: bool = False,
             lock_timeout: float = DEFAULT_LOCK_TIMEOUT, connections: int | None = None) -> StateStore:
        """Open (creating and upgrading if needed) the database at ``location``: a file or a PostgreSQL URL.

        ``connections``: how many PostgreSQL connections the store may hold at once (a worker
        running many pairs at once needs more than the pool's default of 15).
        """
        if is_database_url(location):
            return cls._open_postgres(str(location), readonly, lock_timeout, connections)
        path = Path(location)
        if readonly and not path.exists():
            return cls.memory()  # a dry run before the first sync: empty state, nothing written
        if not readonly:
            try:
                _create_private(path)
            except OSError as exc:
                raise StateError(f"cannot create the state database {path}: {exc.strerror}") from None
        store = cls(_engine(path, readonly, lock_timeout), path, readonly)
        store._prepare()
        return store

    @classmethod
    def _open_postgres(cls, url: str, readonly: bool, lock_timeout: float,
                       connections: int | None = None) -> StateStore:
        store = cls(postgres_engine(url, readonly, lock_timeout, connections), None, readonly, where=describe(url))
        try:
            store._prepare()
            if readonly:
                with store.engine.connect() as conn:
                    empty = "meta" not in table_names(conn)
                if empty:  # a dry run before the first sync: empty state, as for a missing file
                    store.engine.dispose()
                    return cls.memory()
        except BaseException:
            store.engine.dispose()
            raise
        return store

    @classmethod
    def check_file(cls, location: Path | str, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> list[str]:
        """Every problem ``syncd state check`` finds (empty: sound), without changing the database.

        Unlike :meth:`open` it goes on past a damaged ``meta`` row, so SQLite's own
        integrity check still runs and every finding is listed.
        """
        if is_database_url(location):
            path: Path | None = None
            where = describe(location)
            try:
                store = cls(postgres_engine(str(location), True, lock_timeout), None, True, where=where)
            except StateError as exc:
                return [str(exc)]
        else:
            path = Path(location)
            where = str(path)
            if not path.exists():
                return []  # nothing to check before the first run creates it
            store = cls(_engine(path, True, lock_timeout), path, True)
        findings: list[str] = []
        try:
            findings += [f"integrity: {p}" for p in store.integrity_check()]
            with store.engine.connect() as conn:
                tables = table_names(conn)
                if not tables and path is None:
                    pass  # an empty PostgreSQL database: nothing to check before the first run fills it
                elif "meta" not in tables:
                    findings.append(f"{where} is not a cloze-syncd state database; {store._new_hint()}")
                else:
                    version = schema_version(conn, where)
                    if version > SCHEMA_VERSION:
                        findings.append(f"the state database {where} has schema version {version}, newer than "
                                        f"this cloze-syncd understands ({SCHEMA_VERSION})")
                    elif version == SCHEMA_VERSION:
                        findings += [f"schema: {p}" for p in schema_problems(conn)]
                        findings += [f"sequence: {p}" for p in sequence_problems(conn)]
        except StateError as exc:
            findings.append(str(exc))
        except (DatabaseError, sqlite3.DatabaseError) as exc:
            findings.append(f"the state database {where} cannot be read: {_reason(exc)}; {DAMAGED_HINT}")
        finally:
            store.engine.dispose()
        return findings

    @classmethod
    def memory(cls) -> StateStore:
        """An empty in-memory state (dry runs with no database yet, and tests)."""
        engine = create_engine("sqlite://", connect_args={"check_same_thread": False})
        store = cls(engine, None, False, where="(in memory)")
        store._prepare()
        store.readonly = True
        return store

    def _prepare(self) -> None:
        try:
            with self.engine.begin() as conn:
                if not self.readonly:
                    # Take the write lock before looking: two processes opening a new database at once
                    # would otherwise both find no schema and both try to create it.
                    take_schema_lock(conn)
                tables = table_names(conn)
                if "meta" not in tables:
                    if self.readonly and tables:
                        raise StateError(
                            f"{self.where} is not a cloze-syncd state database",
                            hint=self._new_hint(),
                        )
                    if not self.readonly:
                        if tables:
                            raise StateError(
                                f"{self.where} is not a cloze-syncd state database",
                                hint=self._new_hint(),
                            )
                        SQLModel.metadata.create_all(conn)
                        conn.execute(text("INSERT INTO meta (key, value) VALUES ('schema_version', :v)"),
                                     {"v": str(SCHEMA_VERSION)})
                        self.created = True
                    return
                version = schema_version(conn, self.where)
                if version > SCHEMA_VERSION:
                    raise StateError(
                        f"the state database {self.where} has schema version {version}, newer than this "
                        f"cloze-syncd understands ({SCHEMA_VERSION})",
                        hint="upgrade cloze-syncd",
                    )
                if version < SCHEMA_VERSION:
                    if self.readonly:
                        raise StateError(
                            f"the state database has schema version {version}; run a real sync once to upgrade it"
                        )
                    upgrade(conn, version)
        except (DatabaseError, sqlite3.DatabaseError) as exc:
            raise StateError(f"the state database {self.where} cannot be read: {_reason(exc)}",
                             hint=DAMAGED_HINT) from None

    def _new_hint(self) -> str:
        return "point [state] path at a new file" if self.path is not None else "point [state] url at a new database"

    def close(self) -> None:
        if not self.readonly and self.path is not None and self.engine.dialect.name == "sqlite":
            try:
                with self.engine.connect() as conn:
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            except (OperationalError, StateError):
                pass  # another process holds the database; its own close checkpoints
        self.engine.dispose()

    def fenced(self, keeper: LeaseKeeper, usage: UsageCounter | None = None) -> FencedStore:
        """This store as seen by a run holding ``keeper``'s lease: every transaction checks the epoch
        (and adds the API calls ``usage`` counted since the last one to the ledger)."""
        return FencedStore(self, keeper, usage)

    def integrity_check(self) -> list[str]:
        """``PRAGMA integrity_check``; an empty list means the database is sound.

        PostgreSQL keeps its own pages sound (WAL, and data checksums or ``pg_amcheck`` for
        the disk beneath): there is no file-level check to run from here.
        """
        if self.engine.dialect.name != "sqlite":
            return []
        with self.engine.connect() as conn:
            rows = [r[0] for r in conn.exec_driver_sql("PRAGMA integrity_check")]
        return [] if rows == ["ok"] else rows

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One atomic unit of writes."""
        if self.readonly:
            raise StateError("the state database is open read-only (dry run)")
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    # -- links -------------------------------------------------------------------

    def links(self, pair: str, entity: str) -> list[Link]:
        with Session(self.engine) as s:
            return list(s.exec(select(Link).where(col(Link.pair) == pair, col(Link.entity) == entity)))

    def links_by_ids(self, pair: str, entity: str, side: str, ids: Iterable[str]) -> list[LinkRow]:
        """The links of ``entity`` holding any of ``ids`` on ``side`` (``cloze`` or ``external``).

        Looked up through that id column's unique index, :data:`LOOKUP_CHUNK` ids per query, so a
        run reads the links of the records it saw, not every link of the pair. Plain rows, not
        ``Link`` objects: building those was most of the cost of loading a run's links.
        """
        column = col(Link.cloze_id) if side == "cloze" else col(Link.external_id)
        keys = sorted({i for i in ids if i})
        columns = (col(Link.id), col(Link.pair), col(Link.entity), col(Link.cloze_id), col(Link.external_id),
                   col(Link.status), col(Link.base), col(Link.base_external))
        out: list[LinkRow] = []
        with self.engine.connect() as conn:
            for chunk in _lookup_chunks(keys):
                query = sql_select(*columns).where(col(Link.pair) == pair, col(Link.entity) == entity,
                                                   column.in_(chunk))
                out.extend(LinkRow(*row) for row in conn.execute(query))
        return out

    def links_with_ids(self, pair: str, entity: str, link_ids: Iterable[int]) -> list[Link]:
        """The links of ``entity`` with these row ids (by primary key, in chunks)."""
        return self._links_where(pair, entity, col(Link.id), sorted(set(link_ids)))

    def _links_where(self, pair: str, entity: str, column: Any, keys: Sequence[Any]) -> list[Link]:
        out: list[Link] = []
        with Session(self.engine) as s:
            for chunk in _lookup_chunks(keys):
                out.extend(s.exec(select(Link).where(col(Link.pair) == pair, col(Link.entity) == entity,
                                                     column.in_(chunk))))
        return out

    def iter_links(self, pair: str, entity: str, batch: int = 1000) -> Iterator[list[Link]]:
        """Every link of ``entity``, ``batch`` rows at a time in row-id order (keyset paging)."""
        after = 0
        while True:
            with Session(self.engine) as s:
                rows = list(s.exec(select(Link).where(col(Link.pair) == pair, col(Link.entity) == entity,
                                                      col(Link.id) > after).order_by(col(Link.id)).limit(batch)))
            if not rows:
                return
            yield rows
            after = rows[-1].id or after

    def link_count(self, pair: str, status: str = "active", entity: str | None = None) -> int:
        """How many links of ``pair`` (of one ``entity``, if given) have ``status``; counted in SQL."""
        where = [col(Link.pair) == pair, col(Link.status) == status]
        if entity is not None:
            where.append(col(Link.entity) == entity)
        with Session(self.engine) as s:
            return int(s.exec(select(func.count()).select_from(Link).where(*where)).one())

    @staticmethod
    def save_link(
        s: Session,
        *,
        pair: str,
        entity: str,
        app_id: str,
        cloze_id: str | None,
        external_id: str | None,
        base: Mapping[str, Any] | None,
        base_external: Mapping[str, Any] | None = None,
        link_id: int | None = None,
        cloze_modified: int | None = None,
        external_modified: int | None = None,
    ) -> int:
        """Insert or update a link; any other row claiming either id is replaced."""
        stamp = now_ms()
        row: Link | None = s.get(Link, link_id) if link_id is not None else None
        keeps_its_ids = (row is not None and cloze_id is not None and external_id is not None
                         and (row.pair, row.entity, row.cloze_id, row.external_id) == (pair, entity, cloze_id, external_id))
        # A row that already holds both ids has no rival: each id column's unique index rules one out.
        if not keeps_its_ids:
            # One query per id column, each answered from that column's unique index (SQLite reads every
            # link of the entity for ``a = x OR b = y``, which made each saved link cost O(links)).
            clash = select(Link).where(col(Link.pair) == pair, col(Link.entity) == entity)
            seen: set[int | None] = set()
            for column, value in ((col(Link.cloze_id), cloze_id), (col(Link.external_id), external_id)):
                for other in s.exec(clash.where(column == value)):
                    if other.id not in seen and (row is None or other.id != row.id):
                        seen.add(other.id)
                        s.delete(other)
            s.flush()
        if row is None:
            row = Link(pair=pair, entity=entity, app_id=app_id, created_at=stamp, updated_at=stamp)
        row.cloze_id, row.external_id = cloze_id, external_id
        row.status, row.unlinked_side = "active", None
        row.base = dumps(base) if base is not None else None
        row.base_external = _external_base(base, base_external)
        row.cloze_modified, row.external_modified = cloze_modified, external_modified
        row.updated_at = stamp
        s.add(row)
        s.flush()
        assert row.id is not None
        return row.id

    @staticmethod
    def save_new_links(s: Session, *, pair: str, entity: str, app_id: str, links: Sequence[NewLink]) -> None:
        """Insert a batch of new links, as :meth:`save_link` does one at a time (any other row claiming
        either id is replaced; within the batch the later link wins), in one query and one insert."""
        kept: list[NewLink] = []
        taken_cloze: set[str] = set()
        taken_external: set[str] = set()
        for link in reversed(links):
            if link.cloze_id in taken_cloze or link.external_id in taken_external:
                continue
            taken_cloze.add(link.cloze_id)
            taken_external.add(link.external_id)
            kept.append(link)
        if not kept:
            return
        kept.reverse()
        # One statement per id column: SQLite answers ``a IN (...) OR b IN (...)`` by reading every link
        # of the entity, but each ``IN`` alone from that column's unique index.
        for column, ids in ((col(Link.cloze_id), taken_cloze), (col(Link.external_id), taken_external)):
            s.execute(delete(Link).where(col(Link.pair) == pair, col(Link.entity) == entity, column.in_(sorted(ids))))
        stamp = now_ms()
        s.execute(insert(Link), [
            {"pair": pair, "entity": entity, "app_id": app_id, "cloze_id": link.cloze_id,
             "external_id": link.external_id, "status": "active", "unlinked_side": None,
             "base": dumps(link.base) if link.base is not None else None,
             "base_external": _external_base(link.base, link.base_external),
             "cloze_modified": link.cloze_modified, "external_modified": link.external_modified,
             "created_at": stamp, "updated_at": stamp}
            for link in kept])

    def counterpart(self, pair: str, entity: str, side: Side, record_id: str) -> str | None:
        """The other side's id linked to ``record_id`` on ``side``, if any."""
        return self.counterparts(pair, entity, side, [record_id]).get(record_id)

    def counterparts(self, pair: str, entity: str, side: Side, record_ids: list[str]) -> dict[str, str | None]:
        """The other side's ids linked to ``record_ids`` on ``side`` (a query per :data:`LOOKUP_CHUNK` ids);
        unlinked ids are absent."""
        mine, theirs = _ID_COLUMN[side], _ID_COLUMN[_OTHER[side]]
        found: dict[str, str | None] = {}
        # The two id columns only: building whole Link objects (their bases included) was most of the cost.
        with Session(self.engine) as s:
            for chunk in _lookup_chunks(record_ids):
                rows = s.exec(select(col(getattr(Link, mine)), col(getattr(Link, theirs))).where(
                    col(Link.pair) == pair, col(Link.entity) == entity, col(getattr(Link, mine)).in_(chunk)))
                found.update((ours or "", other) for ours, other in rows)
        return found

    @staticmethod
    def tombstone_link(s: Session, link_id: int, unlinked_side: Side) -> None:
        """The link stays as a tombstone naming only its survivor; ``unlinked_side``'s record is gone."""
        row = s.get(Link, link_id)
        if row is None:
            return
        row.status, row.unlinked_side = "unlinked", unlinked_side
        setattr(row, _ID_COLUMN[unlinked_side], None)
        row.updated_at = now_ms()
        s.add(row)

    @staticmethod
    def delete_link(s: Session, link_id: int) -> None:
        s.execute(delete(Link).where(col(Link.id) == link_id))

    # -- cursors -----------------------------------------------------------------

    def cursors(self, pair: str) -> dict[tuple[str, str], str | None]:
        """Every cursor of ``pair`` by ``(entity, side)``, in one query (one never set is missing)."""
        with Session(self.engine) as s:
            return {(row.entity, row.side): row.value for row in s.exec(select(Cursor).where(col(Cursor.pair) == pair))}

    @staticmethod
    def set_cursor(s: Session, pair: str, entity: str, side: str, value: str | None) -> None:
        row = s.get(Cursor, (pair, entity, side)) or Cursor(pair=pair, entity=entity, side=side, updated_at=0)
        row.value, row.updated_at = value, now_ms()
        s.add(row)

    # -- conflicts ---------------------------------------------------------------

    @staticmethod
    def record_conflict(s: Session, **fields: Any) -> ConflictRow:
        """Store a conflict; a manual one still open for the same link and field is refreshed, not repeated."""
        stamp = now_ms()
        if fields.get("status") == "open" and fields.get("link_id") is not None:
            existing = s.exec(
                select(ConflictRow).where(
                    col(ConflictRow.pair) == fields["pair"],
                    col(ConflictRow.link_id) == fields["link_id"],
                    col(ConflictRow.field) == fields["field"],
                    col(ConflictRow.status) == "open",
                )
            ).first()
            if existing is not None:
                for key in ("base", "cloze_value", "external_value", "run_id"):
                    setattr(existing, key, fields[key])
                existing.updated_at = stamp
                s.add(existing)
                return existing
        row = ConflictRow(created_at=stamp, updated_at=stamp, **fields)
        s.add(row)
        return row

    def conflicts(self, pair: str | None = None, status: str | None = None) -> list[ConflictRow]:
        with Session(self.engine) as s:
            q = select(ConflictRow).order_by(col(ConflictRow.id))
            if pair:
                q = q.where(col(ConflictRow.pair) == pair)
            if status:
                q = q.where(col(ConflictRow.status) == status)
            return list(s.exec(q))

    def conflict(self, conflict_id: int) -> ConflictRow | None:
        with Session(self.engine) as s:
            return s.get(ConflictRow, conflict_id)

    def resolve_conflict(self, conflict_id: int, resolved_by: str, value: Any) -> ConflictRow:
        with self.transaction() as s:
            row = s.get(ConflictRow, conflict_id)
            if row is None:
                raise StateError(f"no conflict with id {conflict_id}")
            if row.status != "open":
                raise StateError(f"conflict {conflict_id} is not open (it is {row.status})")
            row.status, row.resolved_by, row.resolution = "resolved", resolved_by, dumps(value)
            row.outcome, row.updated_at = "operator", now_ms()
            s.add(row)
            return row

    def resolutions(self, pair: str) -> dict[str, dict[int, dict[str, tuple[int, Any]]]]:
        """Operator choices waiting to be applied, in one query for the pair:
        ``{entity: {link_id: {field: (conflict_id, value)}}}``."""
        out: dict[str, dict[int, dict[str, tuple[int, Any]]]] = {}
        with Session(self.engine) as s:
            q = select(ConflictRow).where(col(ConflictRow.pair) == pair, col(ConflictRow.status) == "resolved")
            for row in s.exec(q):
                if row.link_id is not None and row.id is not None:
                    chosen = out.setdefault(row.entity, {}).setdefault(row.link_id, {})
                    chosen[row.field] = (row.id, json.loads(row.resolution or "null"))
        return out

    @staticmethod
    def mark_conflicts_applied(s: Session, ids: list[int]) -> None:
        if ids:
            s.execute(
                update(ConflictRow).where(col(ConflictRow.id).in_(ids)).values(status="applied", updated_at=now_ms())
            )

    def open_conflict_links(self, pair: str) -> set[int]:
        """Links of ``pair`` with an open conflict (few, usually none)."""
        with Session(self.engine) as s:
            rows = s.exec(select(ConflictRow.link_id).where(col(ConflictRow.pair) == pair,
                                                             col(ConflictRow.status) == "open").distinct())
            return {int(r) for r in rows if r is not None}

    @staticmethod
    def close_open_conflicts(s: Session, link_id: int, fields: list[str]) -> None:
        """Open conflicts whose field has since converged on its own are closed."""
        if fields:
            s.execute(
                update(ConflictRow)
                .where(col(ConflictRow.link_id) == link_id, col(ConflictRow.status) == "open", col(ConflictRow.field).in_(fields))
                .values(status="applied", outcome="converged", updated_at=now_ms())
            )

    # -- record errors -----------------------------------------------------------

    @staticmethod
    def record_error(s: Session, **fields: Any) -> None:
        """Store a record error, or count one more attempt of the same open one (its text scrubbed)."""
        fields = {**fields, "message": scrub(str(fields["message"]))}
        stamp = now_ms()
        existing = s.exec(
            select(RecordErrorRow).where(
                col(RecordErrorRow.pair) == fields["pair"],
                col(RecordErrorRow.entity) == fields["entity"],
                col(RecordErrorRow.source_side) == fields["source_side"],
                col(RecordErrorRow.record_id) == fields["record_id"],
                col(RecordErrorRow.op) == fields["op"],
                col(RecordErrorRow.field) == fields.get("field"),
                col(RecordErrorRow.resolved) == False,
            )
        ).first()
        if existing is not None:
            existing.attempts += 1
            existing.last_seen = stamp
            existing.message, existing.code, existing.run_id = fields["message"], fields.get("code"), fields["run_id"]
            existing.label = fields.get("label") or existing.label
            s.add(existing)
            return
        s.add(RecordErrorRow(first_seen=stamp, last_seen=stamp, **fields))

    def open_errors(self, pair: str | None = None, entity: str | None = None) -> list[RecordErrorRow]:
        with Session(self.engine) as s:
            q = select(RecordErrorRow).where(col(RecordErrorRow.resolved) == False)
            if pair:
                q = q.where(col(RecordErrorRow.pair) == pair)
            if entity:
                q = q.where(col(RecordErrorRow.entity) == entity)
            return list(s.exec(q.order_by(col(RecordErrorRow.id))))

    @staticmethod
    def resolve_errors(s: Session, pair: str, entity: str, side: str, record_ids: list[str], ops: tuple[str, ...]) -> None:
        if record_ids:
            s.execute(
                update(RecordErrorRow)
                .where(
                    col(RecordErrorRow.pair) == pair,
                    col(RecordErrorRow.entity) == entity,
                    col(RecordErrorRow.source_side) == side,
                    col(RecordErrorRow.record_id).in_(record_ids),
                    col(RecordErrorRow.op).in_(ops),
                    col(RecordErrorRow.resolved) == False,
                )
                .values(resolved=True, last_seen=now_ms())
            )

    # -- runs --------------------------------------------------------------------

    def start_run(self, run_id: str, pair: str, mode: str) -> None:
        # ``seq``: PostgreSQL's identity column numbers the run; SQLite runs this statement under its
        # write lock, so the next number is taken by one run only.
        seq = "" if self.engine.dialect.name == "postgresql" else ", seq"
        next_seq = "" if seq == "" else ", (SELECT COALESCE(MAX(seq), 0) + 1 FROM runs)"
        with self.transaction() as s:
            s.execute(text(f"INSERT INTO runs (id, pair, mode, started_at, status{seq}) "
                           f"SELECT :id, :pair, :mode, :now, 'running'{next_seq}"),
                      {"id": run_id, "pair": pair, "mode": mode, "now": now_ms()})

    def finish_run(self, run_id: str, status: str, counts: Mapping[str, Any], error: str | None) -> None:
        with self.transaction() as s:
            row = s.get(Run, run_id)
            if row is None:
                return
            row.status, row.finished_at, row.counts = status, now_ms(), dumps(counts)
            row.error = scrub(error) if error is not None else None
            s.add(row)

    def runs(self, pair: str | None = None, limit: int = 20) -> list[Run]:
        with Session(self.engine) as s:
            q = select(Run).order_by(col(Run.seq).desc()).limit(limit)
            if pair:
                q = q.where(col(Run.pair) == pair)
            return list(s.exec(q))

    def last_success(self, pair: str) -> Any:
        """The finish time (UTC datetime) of the pair's last run that ended without a fatal error.

        "Last" is the run recorded last (``runs.seq``), not the largest time: one run
        made with a clock far ahead must not stand for every later run.
        """
        from datetime import datetime

        with Session(self.engine) as s:
            stamp = s.exec(
                select(col(Run.finished_at))
                .where(col(Run.pair) == pair, col(Run.status).in_(("ok", "errors")), col(Run.finished_at).is_not(None))
                .order_by(col(Run.seq).desc()).limit(1)
            ).first()
        return None if stamp is None else datetime.fromtimestamp(stamp / 1000, tz=UTC)

    # -- journal -----------------------------------------------------------------

    @staticmethod
    def journal_add(s: Session, **fields: Any) -> JournalEntry:
        row = JournalEntry(created_at=now_ms(), **fields)
        s.add(row)
        return row

    @staticmethod
    def journal_add_many(s: Session, entries: Sequence[Mapping[str, Any]]) -> None:
        """Journal entries for a batch of creates, in one insert."""
        if entries:
            stamp = now_ms()
            s.execute(insert(JournalEntry), [{"created_at": stamp, **fields} for fields in entries])

    @staticmethod
    def journal_done(s: Session, entry_ids: list[int]) -> None:
        if entry_ids:
            s.execute(delete(JournalEntry).where(col(JournalEntry.id).in_(entry_ids)))

    @staticmethod
    def journal_settle(s: Session, pair: str, entity: str, target_side: str, source_ids: list[str]) -> None:
        if source_ids:
            s.execute(
                delete(JournalEntry).where(
                    col(JournalEntry.pair) == pair,
                    col(JournalEntry.entity) == entity,
                    col(JournalEntry.target_side) == target_side,
                    col(JournalEntry.source_id).in_(source_ids),
                )
            )

    def journal_pending(self, pair: str, entity: str | None = None) -> list[JournalEntry]:
        """The creates of ``pair`` (of ``entity``, or of every entity) not yet settled, oldest first."""
        with Session(self.engine) as s:
            q = select(JournalEntry).where(col(JournalEntry.pair) == pair)
            if entity is not None:
                q = q.where(col(JournalEntry.entity) == entity)
            return list(s.exec(q.order_by(col(JournalEntry.id))))

    # -- leases ------------------------------------------------------------------

    def claim_lease(self, pair: str, owner: str, ttl_seconds: float, *,
                    orphan: tuple[str, int] | None = None, accounts: Sequence[str] = ()) -> int | None:
        """Take the pair's lease in one conditional statement; its new epoch, or None if it is held.

        It is taken when free, released, expired, already ``owner``'s, or when it is still
        exactly the ``orphan`` lease ``(owner, epoch)`` a caller found abandoned. Two
        processes racing for it: the second's statement sees the first's claim, and only
        one gets an epoch. Expiry is judged by the database's clock on PostgreSQL (workers
        on hosts whose clocks disagree agree on it); on SQLite by the monotonic clock for a
        lease of this boot, by the wall clock otherwise.

        ``accounts`` (see :mod:`state.budget`) are taken in the same transaction: if any is
        held by another pair's live lease, nothing is taken and the answer is None.
        """
        now, mono, boot = now_ms(), monotonic(), self._boot()
        orphan_owner, orphan_epoch = orphan if orphan is not None else ("", -1)
        try:
            return self._claim(pair, owner, ttl_seconds, orphan_owner, orphan_epoch, accounts, now, mono, boot)
        except _AccountHeld:
            return None  # the transaction rolled back: the pair's lease was not taken either

    def _claim(self, pair: str, owner: str, ttl_seconds: float, orphan_owner: str, orphan_epoch: int,
               accounts: Sequence[str], now: int, mono: float, boot: str) -> int | None:
        clock = self._clock()
        # Without accounts the claim is its one statement; with them, one transaction for all.
        with (self._one_statement() if not accounts else self.engine.begin()) as conn:
            row = conn.execute(_statement(
                "INSERT INTO leases (pair, owner, epoch, acquired_at, heartbeat_at, expires_at, boot_id, mono_expires) "
                f"VALUES (:pair, :owner, 1, {clock}, {clock}, {clock} + :ttl_ms, :boot, :mexp) "
                "ON CONFLICT (pair) DO UPDATE SET owner = excluded.owner, epoch = leases.epoch + 1, "
                "acquired_at = excluded.acquired_at, heartbeat_at = excluded.heartbeat_at, "
                "expires_at = excluded.expires_at, boot_id = excluded.boot_id, mono_expires = excluded.mono_expires "
                f"WHERE leases.owner = '' OR leases.owner = :owner OR {self._expired('leases')} "
                "OR (leases.owner = :orphan_owner AND leases.epoch = :orphan_epoch) "
                "RETURNING epoch"),
                {"pair": pair, "owner": owner, "now": now, "ttl_ms": int(ttl_seconds * 1000), "boot": boot,
                 "mono": mono, "mexp": mono + ttl_seconds, "orphan_owner": orphan_owner,
                 "orphan_epoch": orphan_epoch},
            ).first()
            if row is None:
                return None
            epoch = int(row[0])
            if accounts and not self._claim_accounts(conn, pair, epoch, accounts, now, mono, boot):
                raise _AccountHeld
        return epoch

    def _claim_accounts(self, conn: Connection, pair: str, epoch: int, accounts: Sequence[str],
                        now: int, mono: float, boot: str) -> bool:
        """Each account for ``pair`` at ``epoch``, unless another pair's live lease holds it."""
        held_live = ("EXISTS (SELECT 1 FROM leases AS holder WHERE holder.pair = account_leases.pair "
                     "AND holder.epoch = account_leases.epoch AND holder.owner <> '' "
                     f"AND NOT {self._expired('holder')})")
        for key in sorted(set(accounts)):  # one order for every claimer: no deadlock between two
            if conn.dialect.name == "postgresql":
                # Two claims of one account wait for each other here, so the second one's statement
                # sees the first one's committed lease (READ COMMITTED takes a snapshot per statement).
                conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key})
            row = conn.execute(text(
                "INSERT INTO account_leases (account_key, pair, epoch, acquired_at) "
                f"VALUES (:key, :pair, :epoch, {self._clock()}) "
                "ON CONFLICT (account_key) DO UPDATE SET pair = excluded.pair, epoch = excluded.epoch, "
                "acquired_at = excluded.acquired_at "
                f"WHERE account_leases.pair = excluded.pair OR NOT {held_live} "
                "RETURNING epoch"),
                {"key": key, "pair": pair, "epoch": epoch, "now": now, "mono": mono, "boot": boot},
            ).first()
            if row is None:
                return False
        return True

    def account_holder(self, account_key: str) -> str | None:
        """The pair whose live lease holds ``account_key`` now, if any."""
        now, mono, boot = now_ms(), monotonic(), self._boot()
        with self.engine.connect() as conn:
            found = conn.execute(text(
                "SELECT account_leases.pair FROM account_leases JOIN leases AS holder "
                "ON holder.pair = account_leases.pair AND holder.epoch = account_leases.epoch "
                f"WHERE account_leases.account_key = :key AND holder.owner <> '' AND NOT {self._expired('holder')}"),
                {"key": account_key, "now": now, "mono": mono, "boot": boot}).scalar_one_or_none()
        return None if found is None else str(found)

    def acquire_lease(self, pair: str, owner: str, ttl_seconds: float) -> bool:
        """:meth:`claim_lease` for callers that need no epoch (``state rebuild``)."""
        return self.claim_lease(pair, owner, ttl_seconds) is not None

    def _renew(self, conn: Connection | Session, pair: str, owner: str, epoch: int, ttl_seconds: float) -> bool:
        now, mono = now_ms(), monotonic()
        clock = self._clock()
        result = conn.execute(
            _statement(f"UPDATE leases SET heartbeat_at = {clock}, expires_at = {clock} + :ttl_ms, boot_id = :boot, "
                 "mono_expires = :mexp WHERE pair = :pair AND owner = :owner AND epoch = :epoch"),
            {"pair": pair, "owner": owner, "epoch": epoch, "now": now, "ttl_ms": int(ttl_seconds * 1000),
             "boot": self._boot(), "mexp": mono + ttl_seconds},
        )
        return int(getattr(result, "rowcount", 0)) == 1

    def renew_lease(self, pair: str, owner: str, epoch: int, ttl_seconds: float) -> bool:
        """Extend the lease if ``owner`` still holds it at ``epoch`` (one conditional UPDATE)."""
        with self._one_statement() as conn:
            return self._renew(conn, pair, owner, epoch, ttl_seconds)

    def release_lease(self, pair: str, owner: str, epoch: int | None = None) -> None:
        """Give the lease back (its row and epoch stay, so epochs never repeat); its accounts go with it."""
        where = "pair = :pair AND owner = :owner" + (" AND epoch = :epoch" if epoch is not None else "")
        with self._one_statement() as conn:
            conn.execute(_statement(f"UPDATE leases SET owner = '', expires_at = 0, mono_expires = 0 WHERE {where}"),
                         {"pair": pair, "owner": owner, "epoch": epoch})

    def lease_holder(self, pair: str) -> Lease | None:
        """The pair's lease if someone holds it now."""
        with Session(self.engine) as s:
            row = s.get(Lease, pair)
            if row is None or not row.owner:
                return None
            if self.engine.dialect.name == "postgresql":
                live = s.execute(text(f"SELECT {self._clock()} < :exp"), {"exp": row.expires_at}).scalar_one()
                return row if live else None
        if row.boot_id and row.boot_id == boot_id():
            return row if row.mono_expires > monotonic() else None
        return row if row.expires_at > now_ms() else None

    def _one_statement(self) -> AbstractContextManager[Connection]:
        """A connection for one statement that is its own transaction.

        On PostgreSQL in autocommit: one round trip, where ``BEGIN``, the statement and
        ``COMMIT`` are three (the lease calls every run makes; a claim cycle went from 12
        round trips to 3). On SQLite a transaction as before (its write lock is taken there).
        """
        if self.engine.dialect.name == "postgresql":
            return self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self.engine.begin()

    def database_now_ms(self) -> int:
        """The clock lease times are written with: the database server's on PostgreSQL, this host's on SQLite."""
        if self.engine.dialect.name != "postgresql":
            return now_ms()
        with self.engine.connect() as conn:
            return int(conn.execute(text(f"SELECT {PG_NOW_MS}")).scalar_one())

    def _clock(self) -> str:
        """SQL for "now" in epoch ms: the server's own clock on PostgreSQL, the ``:now`` parameter on SQLite."""
        return PG_NOW_MS if self.engine.dialect.name == "postgresql" else ":now"

    def _boot(self) -> str:
        """This boot, for leases judged by the monotonic clock: never on PostgreSQL, whose clock is shared."""
        return "" if self.engine.dialect.name == "postgresql" else boot_id()

    def _expired(self, alias: str) -> str:
        """SQL: the lease row ``alias`` has expired (parameters :now, :mono and :boot on SQLite)."""
        return lease_expired_sql(alias, self.engine.dialect.name)

    # -- API usage ---------------------------------------------------------------

    @staticmethod
    def record_usage(s: Session | Connection, account_key: str, day: str, calls: int, *,
                     remaining: int | None = None, daily_limit: int | None = None) -> None:
        """:func:`state.budget.record_usage`, beside the store's other writes."""
        budget.record_usage(s, account_key, day, calls, remaining=remaining, daily_limit=daily_limit)

    def usage(self, account_key: str, day: str) -> ApiUsage | None:
        with Session(self.engine) as s:
            return s.get(ApiUsage, (account_key, day))

    # -- accounts ----------------------------------------------------------------

    def accounts(self, pair: str) -> dict[str, dict[str, str]]:
        """The recorded account identity of each side of ``pair`` (``{}`` before its first run)."""
        with Session(self.engine) as s:
            rows = s.exec(select(PairAccount).where(col(PairAccount.pair) == pair))
            return {r.side: dict(json.loads(r.identity)) for r in rows}

    @staticmethod
    def record_accounts(s: Session, pair: str, identity: Mapping[str, Mapping[str, str]]) -> None:
        for side, ident in identity.items():
            row = s.get(PairAccount, (pair, side)) or PairAccount(pair=pair, side=side, identity="{}", recorded_at=0)
            row.identity, row.recorded_at = dumps(dict(ident)), now_ms()
            s.add(row)

    # -- export ------------------------------------------------------------------

    def export(self) -> dict[str, Any]:
        """Everything in the database as JSON-able data (it holds no secrets)."""
        out: dict[str, Any] = {}
        with Session(self.engine) as s:
            for model in (Meta, Link, Cursor, ConflictRow, RecordErrorRow, Run, JournalEntry, Lease, PairAccount,
                          AccountLease, ApiUsage):
                rows = []
                for row in s.exec(select(model)):
                    data = row.model_dump()
                    for key in ("base", "base_external", "counts", "cloze_value", "external_value", "resolution"):
                        if isinstance(data.get(key), str):
                            data[key] = json.loads(data[key])
                    rows.append(data)
                out[model.__tablename__] = rows
            out.update(activity_tables.export_rows(s))
        return out


def _lookup_chunks(keys: Sequence[Any]) -> Iterator[Sequence[Any]]:
    """``keys`` in slices of :data:`LOOKUP_CHUNK`, one ``IN (...)`` query each."""
    for start in range(0, len(keys), LOOKUP_CHUNK):
        yield keys[start : start + LOOKUP_CHUNK]


@functools.lru_cache(maxsize=64)
def _statement(sql: str) -> TextClause:
    """``text(sql)``, built once: parsing a statement's bind names cost a fifth of a lease call's CPU."""
    return text(sql)


class _AccountHeld(Exception):
    """Another pair's live lease holds one of the accounts: the claim's transaction rolls back."""




class FencedStore(StateStore):
    """The store as a run sees it: each transaction first renews the run's lease at its epoch.

    The renewal is the transaction's first statement, so the run holds SQLite's write
    lock from the check to the commit: no other process can take the lease in between.
    If the lease is gone, the transaction rolls back with :class:`LeaseLostError`.
    """

    def __init__(self, base: StateStore, keeper: LeaseKeeper, usage: UsageCounter | None = None) -> None:
        super().__init__(base.engine, base.path, base.readonly, where=base.where)
        self.base = base
        self.keeper = keeper
        self.run_usage = usage

    @property
    def token(self) -> LeaseToken:
        return self.keeper.token

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        if self.readonly:
            raise StateError("the state database is open read-only (dry run)")
        if self.keeper.lost:
            raise self.keeper.error()
        t = self.token
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            if not self._renew(session, t.pair, t.owner, t.epoch, t.ttl):
                self.keeper.mark_lost()
                raise self.keeper.error()
            yield session
            if self.run_usage is not None:
                self.run_usage.flush(session)  # once per batch, with the batch
        self.keeper.renewed()

    def finish_run(self, run_id: str, status: str, counts: Mapping[str, Any], error: str | None) -> None:
        # The run's own row is recorded even after the lease is lost, so its outcome stays honest;
        # so are the calls it made since its last batch.
        self.base.finish_run(run_id, status, counts, error)
        if self.run_usage is not None and self.run_usage.pending():
            with self.base.transaction() as s:
                self.run_usage.flush(s)

    def close(self) -> None:
        """The base store belongs to whoever opened it."""


def schema_version(conn: Connection, path: Path | str | None) -> int:
    """``meta.schema_version`` as a number, or a StateError saying how the row is damaged."""
    raw = conn.exec_driver_sql("SELECT value FROM meta WHERE key = 'schema_version'").scalar_one_or_none()
    if raw is None:
        raise StateError(f"the state database {path} is damaged: its meta table has no schema_version",
                         hint=DAMAGED_HINT)
    try:
        version = int(str(raw).strip())
    except ValueError:
        version = 0
    if version < 1:
        raise StateError(f"the state database {path} is damaged: its schema_version {str(raw)[:40]!r} is not "
                         "a version number", hint=DAMAGED_HINT)
    return version


def schema_problems(conn: Connection) -> list[str]:
    """Tables, columns, indexes and unique constraints of the current schema that are missing,
    read from the dialect's own catalog (a table dropped or altered by hand, a half-restored dump)."""
    inspector = inspect(conn)
    present = set(inspector.get_table_names())
    out: list[str] = []
    for table in SQLModel.metadata.sorted_tables:
        if table.name not in present:
            out.append(f"table {table.name} is missing")
            continue
        columns = {c["name"] for c in inspector.get_columns(table.name)}
        out += [f"column {table.name}.{c.name} is missing" for c in table.columns if c.name not in columns]
        indexes = {i["name"] for i in inspector.get_indexes(table.name)}
        out += [f"index {i.name} on {table.name} is missing" for i in table.indexes if i.name not in indexes]
        uniques = {u["name"] for u in inspector.get_unique_constraints(table.name)} | indexes
        out += [f"unique constraint {u.name} on {table.name} is missing" for u in table.constraints
                if isinstance(u, UniqueConstraint) and u.name not in uniques]
    return out


def sequence_problems(conn: Connection) -> list[str]:
    """PostgreSQL numbers rows from sequences, which a copy or a restore can leave behind the ids
    already used: the next insert would then fail on a duplicate key. (SQLite numbers from the
    largest rowid, so it has none.)"""
    if conn.dialect.name != "postgresql":
        return []
    out: list[str] = []
    for table in SQLModel.metadata.sorted_tables:
        for column in table.columns:
            if not (column.autoincrement is True or (column.primary_key and column.autoincrement == "auto")
                    or column.identity is not None) or column.type.python_type is not int:
                continue
            if column.primary_key and len(table.primary_key.columns) != 1:
                continue
            sequence = conn.execute(text("SELECT pg_get_serial_sequence(:t, :c)"),
                                    {"t": table.name, "c": column.name}).scalar_one_or_none()
            if sequence is None:
                continue
            last, called = conn.execute(text(f"SELECT last_value, is_called FROM {sequence}")).one()
            largest = conn.execute(text(f"SELECT MAX({column.name}) FROM {table.name}")).scalar_one_or_none()
            next_value = int(last) + 1 if called else int(last)
            if largest is not None and next_value <= int(largest):
                out.append(f"{table.name}.{column.name} would next be numbered {next_value}, but {largest} is "
                           f"already used; {SEQUENCE_HINT}")
    return out


def _reason(exc: BaseException) -> object:
    return getattr(exc, "orig", None) or exc


def _engine(path: Path, readonly: bool, lock_timeout: float) -> Engine:
    if readonly:
        # With no -wal beside the file no other process has it open: immutable=1 reads it
        # without creating -wal/-shm. Otherwise those files exist already and mode=ro reads
        # the other process's committed writes through them.
        wal = path.with_name(path.name + "-wal")
        flags = "mode=ro" if wal.exists() else "mode=ro&immutable=1"
        url = f"sqlite:///file:{quote(str(path))}?{flags}&uri=true"
    else:
        url = f"sqlite:///{path}"
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": lock_timeout})
    _pragmas(engine, readonly, lock_timeout)
    return engine


def _set_wal(cur: Any, lock_timeout: float) -> None:
    """Switch to WAL. SQLite answers "locked" at once, without its busy handler, while another
    process is creating or switching the same new file, so this waits out ``lock_timeout`` itself."""
    deadline = time.monotonic() + lock_timeout
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc).lower() or time.monotonic() >= deadline:
                raise
            time.sleep(0.02)


def _pragmas(engine: Engine, readonly: bool, lock_timeout: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={int(lock_timeout * 1000)}")
        if not readonly:
            _set_wal(cur, lock_timeout)
            # NORMAL in WAL mode survives any process crash (kill -9); only an OS
            # crash or power cut can lose the last transactions, never corrupt.
            cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "handle_error")
    def _typed(context: ExceptionContext) -> None:
        """SQLite's "locked" and "disk full" as the typed errors an operator can act on."""
        text_ = str(context.original_exception).lower()
        if "database is locked" in text_ or "database table is locked" in text_:
            raise StateLockedError(
                f"the state database {engine.url.database} stayed locked by another process for "
                f"{lock_timeout:g} s",
                hint="another syncd (or a tool holding the file open) is writing to it; try again later, "
                     "or raise [state] lock_timeout",
            ) from None
        if "database or disk is full" in text_:
            raise StateError(
                f"the state database {engine.url.database} cannot be written: the disk is full",
                hint="free space on its file system; nothing of the failed batch was recorded",
            ) from None
