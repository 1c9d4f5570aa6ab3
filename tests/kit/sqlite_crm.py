"""A CRM kept in one SQLite file, and its connector: written from docs/connectors.md and the memory example.

The "CRM" is a file with a ``people`` table, a change counter, a log of deleted ids, the
custom fields it defines and an API key that a connector must present. :func:`create_crm`
makes one; :class:`SqliteCrmConnector` syncs its people.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from connectors.base import Connector, ConnectorContext, ConnectorSettings, Problem
from connectors.entities import ENTITY_KINDS
from connectors.errors import AuthError, ConfigError
from connectors.model import (
    ChangePage,
    CreateRequest,
    Entity,
    FieldSpec,
    Record,
    SetPatch,
    UpdateRequest,
    WriteResult,
    custom_key,
)

FIELDS = ("first", "last", "title", "emails", "phones")
LISTS = ("emails", "phones")
SCHEMA = """
CREATE TABLE account (api_key TEXT NOT NULL);
CREATE TABLE meta (seq INTEGER NOT NULL);
CREATE TABLE people (id INTEGER PRIMARY KEY, first TEXT, last TEXT, title TEXT, emails TEXT, phones TEXT,
                     custom TEXT NOT NULL DEFAULT '{}', cloze_ref TEXT UNIQUE, seq INTEGER NOT NULL);
CREATE TABLE deleted (id INTEGER PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE custom_fields (name TEXT PRIMARY KEY);
"""


def create_crm(path: Path, api_key: str, custom_fields: Sequence[str] = ()) -> None:
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA)
        db.execute("INSERT INTO account VALUES (?)", (api_key,))
        db.execute("INSERT INTO meta VALUES (0)")
        db.executemany("INSERT INTO custom_fields VALUES (?)", [(n,) for n in custom_fields])
    db.close()


class SqliteCrmSettings(ConnectorSettings):
    path: Path
    api_key: SecretStr
    page_size: int = 50


class SqliteCrmConnector(Connector[SqliteCrmSettings]):
    name = "sqlitecrm"

    def __init__(self, settings: SqliteCrmSettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        self._db: sqlite3.Connection | None = None  # opened on first use: __init__ makes no request

    def db(self) -> sqlite3.Connection:
        if self._db is None:
            if not self.settings.path.exists():
                raise ConfigError(f"no CRM file at {self.settings.path}", pair=self.context.pair,
                                  side=self.context.side, hint=f"check pairs.{self.context.pair}.external.path")
            db = sqlite3.connect(self.settings.path, isolation_level=None)
            db.row_factory = sqlite3.Row
            (key,) = db.execute("SELECT api_key FROM account").fetchone()
            if key != self.settings.api_key.get_secret_value():
                db.close()
                raise AuthError("the CRM file refused the API key", pair=self.context.pair, side=self.context.side,
                                hint=f"set pairs.{self.context.pair}.external.api_key to the file's key")
            self._db = db
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def entities(self) -> frozenset[Entity]:
        return frozenset({"person"})

    def fields(self, entity: Entity) -> Mapping[str, FieldSpec]:
        out = {n: ENTITY_KINDS.fields(entity)[n] for n in FIELDS}
        for native in self.context.custom_fields.get(entity, ()):
            out[custom_key(native)] = FieldSpec(custom_key(native), ENTITY_KINDS.fields(entity)["title"].kind)
        return out

    def account_identity(self) -> dict[str, str]:
        return {"file": str(self.settings.path.resolve())}

    def check(self) -> list[Problem]:
        defined = {row[0] for row in self.db().execute("SELECT name FROM custom_fields")}
        return [Problem(f"the CRM has no custom field {native!r}", "add it to the custom_fields table, or fix "
                        f"pairs.{self.context.pair}.entities.{entity}.fields", f"entities.{entity}.fields.custom:{native}")
                for entity, names in self.context.custom_fields.items() for native in names if native not in defined]

    # -- reads ---------------------------------------------------------------------------

    def _record(self, row: sqlite3.Row) -> Record:
        fields: dict[str, Any] = {n: json.loads(row[n] or "[]") if n in LISTS else row[n] for n in FIELDS}
        fields.update({custom_key(k): v for k, v in json.loads(row["custom"]).items()})
        return Record(str(row["id"]), fields, row["seq"], cloze_ref=row["cloze_ref"])

    def _rows(self, where: str = "", args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return list(self.db().execute(f"SELECT * FROM people {where}", args))

    def _pages(self, rows: list[sqlite3.Row]) -> Iterator[list[sqlite3.Row]]:
        for start in range(0, len(rows), self.settings.page_size):
            yield rows[start : start + self.settings.page_size]

    def changes(self, entity: Entity, cursor: str | None) -> Iterator[ChangePage]:
        since = int(cursor or 0)
        (top,) = self.db().execute("SELECT seq FROM meta").fetchone()
        rows = self._rows("WHERE seq > ? ORDER BY seq", (since,))
        gone = [str(r[0]) for r in self.db().execute("SELECT id FROM deleted WHERE seq > ? ORDER BY seq", (since,))]
        pages = list(self._pages(rows)) or [[]]
        for n, page in enumerate(pages):
            last = n == len(pages) - 1
            yield ChangePage([self._record(r) for r in page], str(top if last else page[-1]["seq"]), gone if last else ())

    def current_cursor(self, entity: Entity) -> str | None:
        return str(self.db().execute("SELECT seq FROM meta").fetchone()[0])

    def list_all(self, entity: Entity) -> Iterator[Sequence[Record]]:
        for page in self._pages(self._rows("ORDER BY id")):
            yield [self._record(r) for r in page]

    def get(self, entity: Entity, ids: Sequence[str]) -> dict[str, Record]:
        wanted = [int(i) for i in ids if i.isdigit()]
        rows = self._rows(f"WHERE id IN ({','.join('?' * len(wanted))})", wanted) if wanted else []
        return {str(r["id"]): self._record(r) for r in rows}

    def find_linked(self, entity: Entity, ref: str) -> Record | None:
        rows = self._rows("WHERE cloze_ref = ?", (ref,))
        return self._record(rows[0]) if rows else None

    def lookup(self, entity: Entity, field_name: str, value: str) -> list[Record]:
        if field_name not in FIELDS:
            return []
        needle = value.strip().lower()
        found = [self._record(r) for r in self._rows()]
        return [r for r in found if needle in {str(v).strip().lower() for v in _as_list(r.fields.get(field_name)) if v}]

    # -- writes ----------------------------------------------------------------------------

    def _bump(self) -> int:
        self.db().execute("UPDATE meta SET seq = seq + 1")
        return int(self.db().execute("SELECT seq FROM meta").fetchone()[0])

    def _columns(self, fields: Mapping[str, str | SetPatch | None], custom: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in fields.items():
            plain = sorted(value.result) if isinstance(value, SetPatch) else value
            if key.startswith("custom:"):
                custom[key.removeprefix("custom:")] = plain
            elif key in FIELDS:
                out[key] = json.dumps(plain) if key in LISTS else plain
            else:
                raise ValueError(f"the CRM has no field {key!r}")
        out["custom"] = json.dumps(custom)
        return out

    def create(self, entity: Entity, requests: Sequence[CreateRequest]) -> list[WriteResult]:
        results = []
        for req in requests:
            existing = self.find_linked(entity, req.cloze_ref) if req.cloze_ref else None
            if existing is not None:  # a create repeated after a crash: the record is already there
                results.append(WriteResult(req.key, True, id=existing.id, record=existing))
                continue
            try:
                cols = self._columns(req.fields, {})
            except ValueError as exc:
                results.append(WriteResult(req.key, False, error=str(exc), code="bad_field"))
                continue
            cols.update(cloze_ref=req.cloze_ref, seq=self._bump())
            cur = self.db().execute(f"INSERT INTO people ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                                    list(cols.values()))
            new_id = str(cur.lastrowid)
            results.append(WriteResult(req.key, True, id=new_id, record=self.get(entity, [new_id])[new_id]))
        return results

    def update(self, entity: Entity, requests: Sequence[UpdateRequest]) -> list[WriteResult]:
        results = []
        for req in requests:
            current = self.get(entity, [req.id]).get(req.id)
            if current is None:
                results.append(WriteResult(req.id, False, error=f"no person {req.id}", code="not_found"))
                continue
            custom = {k.removeprefix("custom:"): v for k, v in current.fields.items() if k.startswith("custom:")}
            try:
                cols = self._columns(req.fields, custom)
            except ValueError as exc:
                results.append(WriteResult(req.id, False, error=str(exc), code="bad_field"))
                continue
            if req.cloze_ref is not None or req.clear_cloze_ref:
                cols["cloze_ref"] = None if req.clear_cloze_ref else req.cloze_ref
            cols["seq"] = self._bump()
            self.db().execute(f"UPDATE people SET {', '.join(f'{c} = ?' for c in cols)} WHERE id = ?",
                              [*cols.values(), int(req.id)])
            results.append(WriteResult(req.id, True, id=req.id, record=self.get(entity, [req.id])[req.id]))
        return results

    def delete(self, entity: Entity, ids: Sequence[str]) -> list[WriteResult]:
        for record_id in ids:
            if self.get(entity, [record_id]):
                self.db().execute("DELETE FROM people WHERE id = ?", (int(record_id),))
                self.db().execute("INSERT OR REPLACE INTO deleted VALUES (?, ?)", (int(record_id), self._bump()))
        return [WriteResult(i, True, id=i) for i in ids]


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple, set, frozenset)) else [value]
