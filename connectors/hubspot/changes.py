"""The change feed: records modified after a cursor, through the search API, without gaps.

HubSpot's search applies one sorting rule, pages by offset (``after``), and refuses
to page past 10,000 results. Offset paging also skips a record whenever an earlier
one is modified mid-scan and moves to the end. So every query here starts from the
last position seen (keyset paging) instead of following ``after``:

* **forward**: ``modified > ts`` (``>=`` when nothing at ``ts`` was delivered yet),
  sorted by modified time. A full page is delivered except its last timestamp ``T``,
  whose records may continue past the page; the next query starts at ``>= T``.
* **tie**: when a whole page shares one timestamp ``T`` (a bulk import can stamp
  thousands alike), ``modified == T AND hs_object_id > last id``, sorted by id, until
  exhausted; then forward from ``> T``.

Each query is at most one page, far from the result cap, and each step moves the
position strictly forward (a later timestamp, or a higher id at the same one), so the
feed neither stops at the cap nor loops when more than a cap's worth of records share
one timestamp. The cursor ``hs1:<ts>:<id>:<archived>`` means: every record modified
before ``ts``, and those at ``ts`` with id <= ``id``, were delivered, and every record
archived before ``archived`` was reported; an optional fifth field is when that poll
began. Search results trail writes by a moment, so a record modified shortly before a
poll may have been invisible to it: the next poll starts ``change_overlap_seconds``
before the earlier poll began when the cursor lies within that window, and exactly at
the cursor otherwise (so a quiet account is not re-read poll after poll). Archived records are not
searchable; they are found by listing ``archived=true`` and reported as ``deleted_ids``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from connectors.errors import ApiError
from connectors.hubspot import values as v
from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.mapping import MODIFIED, OBJECT_TYPE, row_id
from connectors.model import ChangePage, Entity, Record

PREFIX = "hs1"


@dataclass(frozen=True, order=True)
class Position:
    ts: int
    last_id: int = 0

    def encode(self, archived_ts: int, polled: int | None = None) -> str:
        tail = f":{polled}" if polled is not None else ""
        return f"{PREFIX}:{self.ts}:{self.last_id}:{archived_ts}{tail}"


def decode(cursor: str | None) -> tuple[Position, int] | None:
    """``(position, archived watermark)`` of a cursor, ``None`` for no cursor."""
    if not cursor:
        return None
    parts = cursor.split(":")
    if len(parts) not in (3, 4, 5) or parts[0] != PREFIX:
        raise ValueError(f"not a HubSpot change cursor: {cursor!r}")
    position = Position(int(parts[1]), int(parts[2]))
    return position, int(parts[3]) if len(parts) >= 4 else position.ts


def polled_at(cursor: str | None) -> int | None:
    """When the poll that wrote ``cursor`` began (cursors of older versions do not say)."""
    parts = (cursor or "").split(":")
    return int(parts[4]) if len(parts) == 5 and parts[0] == PREFIX else None


def _numeric_id(row: Any) -> int:
    """A feed row's id as the number the feed sorts and resumes by."""
    object_id = row_id(row)
    if not object_id.isdigit():
        raise ApiError(f"HubSpot sent a change-feed row with a non-numeric id {object_id[:40]!r}", side="external")
    return int(object_id)


def now_ms() -> int:
    return int(time.time() * 1000)


def now_cursor() -> str:
    now = now_ms()
    return Position(now, 0).encode(now, now)


ToRecords = Callable[[Entity, Sequence[dict[str, Any]]], list[Record]]


class ChangeFeed:
    def __init__(self, client: HubSpotClient, *, page_size: int, list_page_size: int, overlap_ms: int,
                 properties: Callable[[Entity], list[str]], to_records: ToRecords) -> None:
        self.client = client
        self.page_size = page_size
        self.list_page_size = list_page_size
        self.overlap_ms = overlap_ms
        self.properties = properties
        self.to_records = to_records
        self.queries = 0  # searches sent, for tests and diagnostics

    def pages(self, entity: Entity, cursor: str | None) -> Iterator[ChangePage]:
        decoded = decode(cursor)
        start = decoded[0] if decoded else None
        began = now_ms()
        # Archives before the first poll concern no link yet: watch them from now on.
        archived_since = decoded[1] if decoded else began
        pos = Position(0, 0) if start is None else Position(max(0, start.ts - self.overlap_ms), 0)
        previous_poll = polled_at(cursor)
        if start is not None and previous_poll is not None:
            # Only records modified after (previous poll - overlap) can have been missed by it.
            lagging_since = previous_poll - self.overlap_ms
            pos = start if start.ts < lagging_since else Position(max(0, min(start.ts, lagging_since)), 0)
        if start is not None and self.overlap_ms == 0:
            pos = start
        floor = start or Position(0, 0)
        mod = MODIFIED[OBJECT_TYPE[entity]]
        complete = False  # True: every record at pos.ts was delivered
        tie = pos.last_id > 0
        # Every step moves (position, mode) forward, so one seen twice means the replies repeat.
        guard = self.client.guard(f"{self.client.paths.objects(OBJECT_TYPE[entity])}/search", entity)
        while True:
            guard.see((pos, tie, complete), what="search position")
            if tie:
                rows, more = self._search(entity, [
                    {"propertyName": mod, "operator": "EQ", "value": str(pos.ts)},
                    {"propertyName": "hs_object_id", "operator": "GT", "value": str(pos.last_id)},
                ], "hs_object_id")
                if rows:
                    pos = Position(pos.ts, max(_numeric_id(r) for r in rows))
                    yield ChangePage(self._records(entity, rows, mod), max(pos, floor).encode(archived_since, began))
                if not more:
                    tie, complete = False, True
                continue
            rows, more = self._search(entity, [
                {"propertyName": mod, "operator": "GT" if complete else "GTE", "value": str(pos.ts)}], mod)
            if not rows:
                break
            stamps = self._stamps(rows, mod, pos.ts)
            last = stamps[-1]
            if not more:
                at_last = [_numeric_id(r) for r, s in zip(rows, stamps) if s == last]
                pos = Position(last, max(at_last))
                deleted, archived_until = self._deleted(entity, decoded)
                yield ChangePage(self._records(entity, rows, mod), max(pos, floor).encode(archived_until, began),
                                 deleted)
                return
            if stamps[0] == last:  # a whole page shares one timestamp: walk it by id
                pos, tie = Position(last, 0), True
                continue
            keep = [r for r, s in zip(rows, stamps) if s < last]
            pos, complete = Position(last, 0), False
            yield ChangePage(self._records(entity, keep, mod), max(pos, floor).encode(archived_since, began))
        deleted, archived_until = self._deleted(entity, decoded)
        yield ChangePage([], max(pos, floor).encode(archived_until, began), deleted)

    def _search(self, entity: Entity, filters: list[dict[str, Any]], sort_by: str
                ) -> tuple[list[dict[str, Any]], bool]:
        body = {"filterGroups": [{"filters": filters}], "sorts": [{"propertyName": sort_by, "direction": "ASCENDING"}],
                "properties": self.properties(entity), "limit": self.page_size}
        self.queries += 1
        reply = self.client.post(f"{self.client.paths.objects(OBJECT_TYPE[entity])}/search", body, search=True)
        data = reply.body or {}
        rows: list[dict[str, Any]] = data.get("results", [])
        more = bool(((data.get("paging") or {}).get("next") or {}).get("after"))
        return rows, more

    @staticmethod
    def _stamp(row: dict[str, Any], mod: str) -> int | None:
        props = row.get("properties")
        value = (props.get(mod) if isinstance(props, dict) else None) or row.get("updatedAt")
        return v.ms_from(str(value) if value is not None else None)

    def _stamps(self, rows: Sequence[dict[str, Any]], mod: str, start: int) -> list[int]:
        """Each row's modification time; a row without one (unreadable) is placed with the row before it."""
        out: list[int] = []
        for row in rows:
            stamp = self._stamp(row, mod)
            out.append(stamp if stamp is not None else (out[-1] if out else start))
        return out

    def _records(self, entity: Entity, rows: Sequence[dict[str, Any]], mod: str) -> list[Record]:
        """The rows as records; one the feed lists without its modification time cannot be placed in the
        feed, so it is an unreadable record (a record error with its id) and the others go on."""
        unstamped = {_numeric_id(r) for r in rows if self._stamp(r, mod) is None}
        records = self.to_records(entity, [r for r in rows if _numeric_id(r) not in unstamped])
        return records + [Record(id=str(i), fields={}, unreadable=f"HubSpot listed record {i} in the change feed "
                                 f"without {mod} or updatedAt") for i in sorted(unstamped)]

    def _deleted(self, entity: Entity, decoded: tuple[Position, int] | None) -> tuple[list[str], int]:
        """Ids archived since the cursor's watermark, and the new watermark.

        On the first poll nothing is linked yet, so nothing is reported; the watermark
        starts at the newest archive seen (or now).
        """
        watermark = decoded[1] if decoded else None
        since = None if watermark is None else watermark - self.overlap_ms
        deleted: list[str] = []
        newest = watermark if watermark is not None else now_ms()
        after: str | None = None
        path = self.client.paths.objects(OBJECT_TYPE[entity])
        guard = self.client.guard(path, entity)
        while True:
            params: dict[str, Any] = {"limit": self.list_page_size, "archived": "true", "properties": "hs_object_id"}
            if after:
                guard.see(after, what="paging token")
                params["after"] = after
            body = self.client.get(path, params) or {}
            for row in body.get("results", []):
                archived_at = v.ms_from(row.get("archivedAt"))
                if archived_at is not None:
                    newest = max(newest, archived_at)
                if since is not None and (archived_at is None or archived_at > since):
                    deleted.append(str(row["id"]))
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return deleted, newest
