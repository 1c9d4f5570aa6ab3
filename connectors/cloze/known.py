"""What the Cloze connector has read during the current run, so it is not read again.

Cloze has no batch reads and returns nothing from a write (spec §2.1), so every
record the connector sees (feed pages, gets, the feed read that confirms a
batch of writes) is kept here for the rest of the run, by ``direct`` id, with an
index of the App Links it carries. An update of a record read in this run needs
no fresh read first; a record found by App Link needs no undocumented ``get``.

The records are kept in a private temporary SQLite database (``sqlite3.connect("")``:
a file SQLite removes from the directory as it opens it, and drops on close), not in
the process's memory, so a run that reads 100,000 records holds a few megabytes of
them at a time. Everything is forgotten at the start of the next run
(``Connector.begin_run``): a record read in an earlier run may have changed since.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any

from connectors import jsoncodec
from connectors.cloze.wire import live_elements
from connectors.model import Entity

Json = dict[str, Any]
LinkKey = tuple[str, str]

_SCHEMA = """
CREATE TABLE records (entity TEXT NOT NULL, direct TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (entity, direct));
CREATE TABLE links (entity TEXT NOT NULL, source TEXT NOT NULL, uniqueid TEXT NOT NULL, direct TEXT NOT NULL,
                    PRIMARY KEY (entity, source, uniqueid));
"""


def link_keys(record: Mapping[str, Any]) -> list[LinkKey]:
    """``(source lower-cased, uniqueid)`` of each live App Link of a wire record."""
    out = []
    for link in live_elements(record.get("appLinks")):
        if isinstance(link, Mapping) and link.get("source") and link.get("uniqueid"):
            out.append((str(link["source"]).lower(), str(link["uniqueid"])))
    return out


class KnownRecords:
    """Wire records of one run, per entity: by direct id, by App Link, and how far the feed was read."""

    def __init__(self) -> None:
        self._db: sqlite3.Connection | None = None
        self.complete: set[Entity] = set()
        # A feed position no later than this connector's first unconfirmed write (where a confirming read starts).
        self.cursor: dict[Entity, str] = {}
        self.sizes: dict[Entity, int] = {}

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            # Only this connector's thread uses it; the run may be started from another thread.
            self._db = sqlite3.connect("", check_same_thread=False, isolation_level=None)
            self._db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + _SCHEMA)
        return self._db

    def reset(self) -> None:
        self.close()
        self.complete.clear()
        self.cursor.clear()
        self.sizes.clear()

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def remember(self, entity: Entity, items: Iterable[Mapping[str, Any]]) -> None:
        rows: list[tuple[str, str, bytes]] = []
        links: list[tuple[str, str, str, str]] = []
        for item in items:
            direct = item.get("direct")
            if not isinstance(direct, str) or not direct:
                continue
            rows.append((entity, direct, jsoncodec.dumps(item)))
            links.extend((entity, source, uniqueid, direct) for source, uniqueid in link_keys(item))
        if not rows:
            return
        db = self._conn()
        db.executemany("INSERT INTO records (entity, direct, data) VALUES (?, ?, ?) "
                       "ON CONFLICT (entity, direct) DO UPDATE SET data = excluded.data", rows)
        db.executemany("INSERT OR REPLACE INTO links (entity, source, uniqueid, direct) VALUES (?, ?, ?, ?)", links)

    def forget(self, entity: Entity, direct: str) -> None:
        if self._db is not None:
            self._db.execute("DELETE FROM records WHERE entity = ? AND direct = ?", (entity, direct))

    def get(self, entity: Entity, direct: str) -> Json | None:
        if self._db is None:
            return None
        row = self._db.execute("SELECT data FROM records WHERE entity = ? AND direct = ?", (entity, direct)).fetchone()
        return jsoncodec.loads(row[0]) if row is not None else None

    def linked(self, entity: Entity, source: str, uniqueid: str) -> Json | None:
        """The record last seen carrying App Link ``(source, uniqueid)``, if it still carries it."""
        if self._db is None:
            return None
        key = (source.lower(), uniqueid)
        row = self._db.execute(
            "SELECT r.data FROM links l JOIN records r ON r.entity = l.entity AND r.direct = l.direct "
            "WHERE l.entity = ? AND l.source = ? AND l.uniqueid = ?", (entity, *key)).fetchone()
        record: Json | None = jsoncodec.loads(row[0]) if row is not None else None
        return record if record is not None and key in link_keys(record) else None

    def mark_complete(self, entity: Entity) -> None:
        self.complete.add(entity)
        held = self._conn().execute("SELECT count(*) FROM records WHERE entity = ?", (entity,)).fetchone()
        self.sizes[entity] = int(held[0])
