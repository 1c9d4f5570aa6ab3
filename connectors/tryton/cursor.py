"""Change-feed cursors over ``write_date`` / ``create_date``.

A record's change time is ``write_date``, or ``create_date`` while ``write_date`` is
still NULL (Tryton leaves it NULL until the first edit). Records are read in
ascending ``(change time, id)`` order (``last_modified_at`` is Tryton's
``COALESCE(write_date, create_date)`` column, used for ordering), and a cursor names
the last one read, so records sharing one timestamp (a bulk import, or one
transaction's writes) are never skipped between pages.

A cursor also carries the high-water mark of the party's child records (contact
mechanisms, addresses): edited on their own, they do not touch the party's
``write_date``.

Text form: ``v1;<change time ISO>;<id>;<child time ISO or empty>``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from connectors.tryton.client import Domain

EPOCH = dt.datetime(1970, 1, 1)


@dataclass(frozen=True, order=True)
class Position:
    """A point in ``(change time, id)`` order."""

    at: dt.datetime
    id: int = 0

    def minus(self, seconds: float) -> Position:
        """A position ``seconds`` earlier (id 0: everything at that instant is after it)."""
        if seconds <= 0:
            return self
        return Position(max(EPOCH, self.at - dt.timedelta(seconds=seconds)), 0)


@dataclass(frozen=True)
class Cursor:
    position: Position
    child_at: dt.datetime | None = None

    def encode(self) -> str:
        child = self.child_at.isoformat() if self.child_at else ""
        return f"v1;{self.position.at.isoformat()};{self.position.id};{child}"

    def advanced(self, position: Position | None = None, child_at: dt.datetime | None = None) -> Cursor:
        """This cursor moved forward (never back) to ``position`` and ``child_at``."""
        out = self
        if position is not None and position > out.position:
            out = replace(out, position=position)
        if child_at is not None and (out.child_at is None or child_at > out.child_at):
            out = replace(out, child_at=child_at)
        return out


def decode(text: str) -> Cursor:
    """Parse :meth:`Cursor.encode`; raises ``ValueError`` on anything else."""
    parts = text.split(";")
    if len(parts) != 4 or parts[0] != "v1":
        raise ValueError(f"not a Tryton cursor: {text!r}")
    at = dt.datetime.fromisoformat(parts[1])
    child = dt.datetime.fromisoformat(parts[3]) if parts[3] else None
    if at.tzinfo is not None or (child is not None and child.tzinfo is not None):
        raise ValueError(f"a Tryton cursor holds server-local times: {text!r}")
    return Cursor(Position(at, int(parts[2])), child)


def change_time(row: Mapping[str, Any]) -> dt.datetime:
    """``max(write_date, create_date)`` of a row (``write_date`` is NULL until the first edit)."""
    stamps = [v for v in (row.get("write_date"), row.get("create_date")) if isinstance(v, dt.datetime)]
    if not stamps:
        raise ValueError(f"record {row.get('id')} has neither write_date nor create_date")
    return max(stamps)


def after(position: Position) -> Domain:
    """Records whose ``(change time, id)`` comes after ``position``.

    ``write_date > T OR (write_date IS NULL AND create_date > T)``, and at ``T`` itself
    only ids above the position's id.
    """
    t, rid = position.at, position.id
    return ["OR",
            [("write_date", ">", t)],
            [("write_date", "=", None), ("create_date", ">", t)],
            [("write_date", "=", t), ("id", ">", rid)],
            [("write_date", "=", None), ("create_date", "=", t), ("id", ">", rid)]]


def later_than(t: dt.datetime) -> Domain:
    """Records changed strictly after ``t`` (the child mark: child rows carry no id in the cursor;
    rows of one transaction share one instant and become visible together)."""
    return ["OR", [("write_date", ">", t)], [("write_date", "=", None), ("create_date", ">", t)]]


ORDER = (("last_modified_at", "ASC"), ("id", "ASC"))
NEWEST = (("last_modified_at", "DESC"), ("id", "DESC"))
