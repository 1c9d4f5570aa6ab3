"""The activity journal and feed positions (tables ``activity_journal`` and ``activity_feeds``).

One journal row per activity a pair has seen: its kind and external id, the Cloze
record it became, its state (waiting, sending, sent, failed, uncertain, skipped) and
SHA-256 hashes of what was posted. Never a subject, body or address: the state
database holds no activity text. A communication's row says ``sending`` in a committed
transaction before the call is made, so a crash between the call and its record is
found on the next run (the row is then ``uncertain`` and reported, not sent again).

``activity_feeds`` keeps per pair and kind two positions: ``live`` (changes from the
moment the feed was switched on) and ``backfill`` (the history window, read after the
live changes), with the backfill's size and progress for ``syncd status`` and /metrics.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import and_, or_
from sqlmodel import Field, Session, SQLModel, col, select

from connectors.activity import JournalRow, JournalState
from state.models import BIG, Link

if TYPE_CHECKING:
    from connectors.activity import ActivityKind, ClozeTarget
    from state.store import StateStore


class ActivityJournalRow(SQLModel, table=True):
    __tablename__ = "activity_journal"
    pair: str = Field(primary_key=True)
    kind: str = Field(primary_key=True)
    source_id: str = Field(primary_key=True)
    target: str | None = None  # content_note | content_todo | content_event | communication
    cloze_uniqueid: str | None = None  # "<kind>:<id>" for keyed content
    state: str  # waiting | sending | sent | failed | uncertain | skipped
    reason: str | None = None  # why it waits or was skipped; the Cloze errorcode of a refusal
    payload_sha256: str | None = None  # of the last payload attempted (sent when state is sent)
    attempts: int = 0
    first_seen_at: int = Field(sa_type=BIG)  # epoch ms: 64-bit on every backend
    first_sent_at: int | None = Field(default=None, sa_type=BIG)
    last_sent_at: int | None = Field(default=None, sa_type=BIG)
    updated_at: int = Field(sa_type=BIG)  # epoch ms: 64-bit on every backend


class ActivityFeedRow(SQLModel, table=True):
    __tablename__ = "activity_feeds"
    pair: str = Field(primary_key=True)
    kind: str = Field(primary_key=True)
    feed: str = Field(primary_key=True)  # live | backfill
    cursor: str | None = None
    since: int | None = Field(default=None, sa_type=BIG)  # backfill window: modified in [since, until]
    until: int | None = Field(default=None, sa_type=BIG)
    total: int | None = None  # activities in the window, as the source counted them
    done: int = 0  # activities of the window planned so far
    finished: bool = False
    started_at: int = Field(sa_type=BIG)  # epoch ms: 64-bit on every backend
    updated_at: int = Field(sa_type=BIG)  # epoch ms: 64-bit on every backend


TABLE_NAMES = ("activity_journal", "activity_feeds")


@dataclass(frozen=True)
class FeedPosition:
    kind: str
    feed: str
    cursor: str | None
    since: int | None
    until: int | None
    total: int | None
    done: int
    finished: bool
    started_at: int
    updated_at: int


def journal(store: StateStore, pair: str, keys: Iterable[tuple[str, str]]) -> dict[tuple[ActivityKind, str], JournalRow]:
    """The journal rows of ``keys`` ((kind, source id) pairs), as the planner reads them."""
    wanted = set(keys)
    out: dict[tuple[ActivityKind, str], JournalRow] = {}
    if not wanted:
        return out
    ids = sorted({i for _, i in wanted})
    with Session(store.engine) as s:
        for chunk in range(0, len(ids), 500):
            rows = s.exec(select(ActivityJournalRow).where(
                col(ActivityJournalRow.pair) == pair, col(ActivityJournalRow.source_id).in_(ids[chunk:chunk + 500])))
            for row in rows:
                if (row.kind, row.source_id) in wanted:
                    kind = cast("ActivityKind", row.kind)
                    out[(kind, row.source_id)] = _as_planner_row(row)
    return out


def _as_planner_row(row: ActivityJournalRow) -> JournalRow:
    return JournalRow(kind=cast("ActivityKind", row.kind), source_id=row.source_id,
                      state=cast(JournalState, row.state), target=cast("ClozeTarget | None", row.target),
                      payload_sha256=row.payload_sha256, attempts=row.attempts, first_seen_at=row.first_seen_at,
                      reason=row.reason)


def pending(store: StateStore, pair: str, kind: str, limit: int, max_attempts: int) -> list[str]:
    """Ids of ``kind`` waiting for a link, or refused fewer than ``max_attempts`` times, oldest first."""
    row = ActivityJournalRow
    with Session(store.engine) as s:
        rows = s.exec(select(row.source_id).where(
            col(row.pair) == pair, col(row.kind) == kind,
            or_(col(row.state) == "waiting", and_(col(row.state) == "failed", col(row.attempts) < max_attempts)),
        ).order_by(col(row.updated_at)).limit(limit))
        return list(rows)


def record(s: Session, pair: str, kind: str, source_id: str, now: int, **fields: Any) -> None:
    """Create or change one journal row (``fields``: state, target, reason, payload_sha256, ...)."""
    row = s.get(ActivityJournalRow, (pair, kind, source_id))
    if row is None:
        row = ActivityJournalRow(pair=pair, kind=kind, source_id=source_id, state="waiting", first_seen_at=now,
                                 updated_at=now)
    for name, value in fields.items():
        setattr(row, name, value)
    if fields.get("state") == "sent":
        row.first_sent_at = row.first_sent_at or now
        row.last_sent_at = now
    row.updated_at = now
    s.add(row)


def linked_external_ids(store: StateStore, pair: str) -> dict[str, set[str]]:
    """``{entity: external ids}`` of the pair's active links: the records an activity may name."""
    out: dict[str, set[str]] = {}
    with Session(store.engine) as s:
        for entity, external_id in s.exec(select(Link.entity, Link.external_id).where(
                col(Link.pair) == pair, col(Link.status) == "active")):
            if external_id:
                out.setdefault(entity, set()).add(external_id)
    return out


def counts(store: StateStore, pair: str) -> dict[str, dict[str, int]]:
    """``{kind: {state: n}}`` for a pair."""
    out: dict[str, dict[str, int]] = {}
    with Session(store.engine) as s:
        for kind, state in s.exec(select(ActivityJournalRow.kind, ActivityJournalRow.state).where(
                col(ActivityJournalRow.pair) == pair)):
            out.setdefault(kind, {}).setdefault(state, 0)
            out[kind][state] += 1
    return out


def uncertain(store: StateStore, pair: str) -> list[tuple[str, str]]:
    """(kind, id) of the communications whose send may or may not have reached Cloze."""
    with Session(store.engine) as s:
        return [(k, i) for k, i in s.exec(select(ActivityJournalRow.kind, ActivityJournalRow.source_id).where(
            col(ActivityJournalRow.pair) == pair, col(ActivityJournalRow.state) == "uncertain"))]


def feed(store: StateStore, pair: str, kind: str, name: str) -> FeedPosition | None:
    with Session(store.engine) as s:
        row = s.get(ActivityFeedRow, (pair, kind, name))
        return None if row is None else _position(row)


def feeds(store: StateStore, pair: str) -> list[FeedPosition]:
    with Session(store.engine) as s:
        return [_position(r) for r in s.exec(select(ActivityFeedRow).where(col(ActivityFeedRow.pair) == pair))]


def _position(row: ActivityFeedRow) -> FeedPosition:
    return FeedPosition(row.kind, row.feed, row.cursor, row.since, row.until, row.total, row.done, row.finished,
                        row.started_at, row.updated_at)


def set_feed(s: Session, pair: str, kind: str, name: str, now: int, **fields: Any) -> None:
    row = s.get(ActivityFeedRow, (pair, kind, name))
    if row is None:
        row = ActivityFeedRow(pair=pair, kind=kind, feed=name, started_at=now, updated_at=now)
    for key, value in fields.items():
        setattr(row, key, value)
    row.updated_at = now
    s.add(row)


def export_rows(s: Session) -> Mapping[str, list[dict[str, Any]]]:
    """Both tables as JSON-able rows (for ``syncd state export``)."""
    return {
        "activity_journal": [r.model_dump() for r in s.exec(select(ActivityJournalRow))],
        "activity_feeds": [r.model_dump() for r in s.exec(select(ActivityFeedRow))],
    }
