"""The change feed of one Tryton model, in ascending change order, resumable by cursor.

Each poll starts ``overlap`` seconds before its cursor (see ``cursor_overlap``) and
pages by keyset on ``(change time, id)``, so a page boundary inside a run of equal
timestamps neither skips nor loops. Archived rows (``active = False``) are read too
(``active_test`` off) and the caller reports them as deleted. Hard deletes leave no
trace in Tryton; they are found by a full reconcile (the engine compares id sets).

For parties, edits made to a contact mechanism or an address on its own do not
touch the party's ``write_date``; the feed therefore also reads those child models
from the cursor's child mark and re-reads their parties, in a last page that
carries the new child mark. Until that last page the child mark stays where it
was, so a run cut short reads the children again rather than missing them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from connectors.errors import StateError
from connectors.model import ChangePage, Record
from connectors.tryton.client import TrytonClient
from connectors.tryton.cursor import (
    EPOCH,
    NEWEST,
    ORDER,
    Cursor,
    Position,
    after,
    change_time,
    decode,
    later_than,
)

ToPage = Callable[[list[dict[str, Any]]], tuple[list[Record], list[str]]]
"""Rows -> (live records of the feed's entity, ids to report as deleted)."""


@dataclass(frozen=True)
class Child:
    model: str  # e.g. "party.contact_mechanism"
    parent_field: str  # e.g. "party"


class Feed:
    """Change pages of ``model`` (and of its parents' children, for parties)."""

    def __init__(self, client: TrytonClient, *, model: str, fields: Callable[[], Sequence[str]], page_size: int,
                 overlap: float, children: Sequence[Child] = ()) -> None:
        self.client = client
        self.model = model
        self.fields = fields
        self.page_size = page_size
        self.overlap = overlap
        self.children = tuple(children)

    # -- cursors ----------------------------------------------------------------------------

    def _newest(self, model: str) -> Position | None:
        rows = self.client.search_read(model, [], ["id", "write_date", "create_date"], limit=1, order=NEWEST,
                                       active_test=False)
        return Position(change_time(rows[0]), int(rows[0]["id"])) if rows else None

    def _child_mark(self) -> dt.datetime | None:
        if not self.children:
            return None
        marks = [p.at for p in (self._newest(c.model) for c in self.children) if p is not None]
        return max(marks, default=EPOCH)

    def now(self) -> str:
        """A cursor at the newest change present, by the server's own clock (no clock skew)."""
        return Cursor(self._newest(self.model) or Position(EPOCH, 0), self._child_mark()).encode()

    @staticmethod
    def parse(text: str) -> Cursor:
        try:
            return decode(text)
        except ValueError as exc:
            raise StateError(f"stored Tryton cursor is unreadable: {exc}",
                             hint="run a full reconcile (`syncd reconcile`) to start the feed afresh") from None

    # -- pages ------------------------------------------------------------------------------

    def pages(self, cursor_text: str | None, to_page: ToPage) -> Iterator[ChangePage]:
        start = self.parse(cursor_text) if cursor_text else None
        if start is None:
            # From the beginning: every row comes below; children need no separate pass,
            # so their mark starts at "now".
            cursor = Cursor(Position(EPOCH, 0), self._child_mark())
            key: Position | None = None
        else:
            cursor = start
            key = start.position.minus(self.overlap)
        seen: set[int] = set()
        fields = list(self.fields())
        while True:
            rows = self.client.search_read(self.model, after(key) if key else [], fields, limit=self.page_size,
                                           order=ORDER, active_test=False)
            if not rows:
                break
            key = Position(change_time(rows[-1]), int(rows[-1]["id"]))
            cursor = cursor.advanced(key)
            seen.update(int(r["id"]) for r in rows)
            records, deleted = to_page(rows)
            yield ChangePage(records=records, cursor=cursor.encode(), deleted_ids=deleted)
            if len(rows) < self.page_size:
                break
        if start is not None and self.children:
            yield from self._children(start, cursor, seen, fields, to_page)
        elif start is None and not seen:
            yield ChangePage(records=[], cursor=cursor.encode())

    def _children(self, start: Cursor, cursor: Cursor, seen: set[int], fields: list[str],
                  to_page: ToPage) -> Iterator[ChangePage]:
        since = Position(start.child_at or start.position.at).minus(self.overlap).at
        parents: list[int] = []
        mark: dt.datetime | None = None
        for child in self.children:
            key: Position | None = None
            while True:
                domain = after(key) if key else later_than(since)
                rows = self.client.search_read(child.model, domain, ["id", child.parent_field, "write_date",
                                                                     "create_date"],
                                               limit=self.page_size, order=ORDER, active_test=False)
                for row in rows:
                    parent = row.get(child.parent_field)
                    if isinstance(parent, int) and parent not in seen:
                        seen.add(parent)
                        parents.append(parent)
                if rows:
                    key = Position(change_time(rows[-1]), int(rows[-1]["id"]))
                    mark = key.at if mark is None or key.at > mark else mark
                if len(rows) < self.page_size:
                    break
        final = cursor.advanced(child_at=mark)
        if not parents:
            if final != cursor:
                yield ChangePage(records=[], cursor=final.encode())
            return
        for i in range(0, len(parents), self.page_size):
            chunk = parents[i : i + self.page_size]
            rows = self.client.search_read(self.model, [("id", "in", chunk)], fields, active_test=False)
            records, deleted = to_page(rows)
            last = i + self.page_size >= len(parents)
            yield ChangePage(records=records, cursor=(final if last else cursor).encode(), deleted_ids=deleted)
