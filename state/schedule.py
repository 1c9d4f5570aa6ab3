"""The fleet's per-pair schedule (table ``pair_schedule``): when each pair's next run of a kind is due.

One row per pair and kind (``incremental``, ``reconcile``). The tick of ``syncd worker``
(:mod:`syncd.fleet.tick`) reads the rows that are due, earliest first, with ``FOR UPDATE SKIP
LOCKED`` (two ticks never take the same row), advances them and queues one run each. Times
are epoch milliseconds from the database's clock, so workers whose clocks disagree still
agree on what is due.

The tick needs PostgreSQL (the dispatcher, procrastinate, lives there too); the table is
created on SQLite as well so a state database moves between the two unchanged.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from sqlalchemy import Connection, text
from sqlmodel import Field, SQLModel

from state.clock import PG_NOW_MS
from state.models import BIG

TABLE_NAMES = ("pair_schedule",)


class PairScheduleRow(SQLModel, table=True):
    __tablename__ = "pair_schedule"
    pair: str = Field(primary_key=True)
    kind: str = Field(primary_key=True)  # incremental | reconcile
    next_due_at: int = Field(sa_type=BIG, index=True)  # epoch ms, database clock
    deferred_at: int | None = Field(default=None, sa_type=BIG)  # when the tick last queued a run


@dataclass(frozen=True)
class Due:
    """A run the tick took off the schedule: the pair, the kind, and when it was due."""

    pair: str
    kind: str
    due_at: int


def db_now_ms(conn: Connection) -> int:
    """Now, in epoch milliseconds, by the database's clock (PostgreSQL) or this host's (SQLite)."""
    if conn.dialect.name == "postgresql":
        return int(conn.exec_driver_sql(f"SELECT {PG_NOW_MS}").scalar_one())
    import time

    return int(time.time() * 1000)


def sync_rows(conn: Connection, first_due: Mapping[tuple[str, str], int]) -> None:
    """Make the rows match the config: add each missing ``(pair, kind)`` due at its ``first_due``,
    drop those no longer configured. Existing rows keep their due time."""
    for (pair, kind), due in first_due.items():
        conn.execute(text("INSERT INTO pair_schedule (pair, kind, next_due_at) VALUES (:pair, :kind, :due) "
                          "ON CONFLICT (pair, kind) DO NOTHING"), {"pair": pair, "kind": kind, "due": due})
    existing = conn.execute(text("SELECT pair, kind FROM pair_schedule")).all()
    for pair, kind in existing:
        if (pair, kind) not in first_due:
            conn.execute(text("DELETE FROM pair_schedule WHERE pair = :pair AND kind = :kind"),
                         {"pair": pair, "kind": kind})


def take_due(conn: Connection, now: int, limit: int, skip: Collection[str] = ()) -> list[Due]:
    """Up to ``limit`` rows due by ``now``, earliest first, locked for this transaction.

    Rows another tick holds are skipped, not waited for; so are the pairs in ``skip``.
    """
    if limit <= 0:
        return []
    rows = conn.execute(text(
        "SELECT pair, kind, next_due_at FROM pair_schedule WHERE next_due_at <= :now "
        "ORDER BY next_due_at, pair, kind LIMIT :limit FOR UPDATE SKIP LOCKED"),
        {"now": now, "limit": limit + len(skip)}).all()
    due = [Due(str(pair), str(kind), int(at)) for pair, kind, at in rows if pair not in skip]
    return due[:limit]


def advance(conn: Connection, row: Due, next_due_at: int, now: int) -> None:
    conn.execute(text("UPDATE pair_schedule SET next_due_at = :next, deferred_at = :now "
                      "WHERE pair = :pair AND kind = :kind"),
                 {"next": next_due_at, "now": now, "pair": row.pair, "kind": row.kind})


def make_due(conn: Connection, pair: str, kind: str = "incremental") -> None:
    """The pair's run of ``kind`` is due now (a stalled job was failed; the next tick re-queues it)."""
    conn.execute(text("UPDATE pair_schedule SET next_due_at = LEAST(next_due_at, :now) "
                      "WHERE pair = :pair AND kind = :kind")
                 if conn.dialect.name == "postgresql" else
                 text("UPDATE pair_schedule SET next_due_at = MIN(next_due_at, :now) WHERE pair = :pair AND kind = :kind"),
                 {"now": db_now_ms(conn), "pair": pair, "kind": kind})


def lag_ms(conn: Connection, now: int) -> int:
    """How late the most overdue run is (0 when nothing is overdue): the fleet's schedule lag."""
    oldest = conn.execute(text("SELECT MIN(next_due_at) FROM pair_schedule")).scalar_one_or_none()
    return max(0, now - int(oldest)) if oldest is not None else 0
