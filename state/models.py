"""Tables of the state database (SQLModel on SQLite or PostgreSQL).

Times are stored as epoch milliseconds (UTC) so they sort and compare exactly, in
64-bit columns (an epoch-ms value overflows a 32-bit ``INTEGER`` on PostgreSQL);
JSON columns hold canonical values (sets as sorted lists). Ids are 64-bit on
PostgreSQL and SQLite's ``INTEGER PRIMARY KEY`` (its rowid, the only column
SQLite numbers by itself) on SQLite.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Identity, Index, Integer, UniqueConstraint
from sqlmodel import Field, SQLModel

SCHEMA_VERSION = 7

# An epoch-ms time, an epoch or a reference to an id: 64-bit on every backend.
BIG = BigInteger
# A row id: BIGSERIAL-like on PostgreSQL, the rowid alias on SQLite.
ROW_ID = BigInteger().with_variant(Integer(), "sqlite")


class Meta(SQLModel, table=True):
    __tablename__ = "meta"
    key: str = Field(primary_key=True)
    value: str


class Link(SQLModel, table=True):
    """One record pair joined by the App Link, with the base both sides last agreed on."""

    __tablename__ = "links"
    __table_args__ = (
        UniqueConstraint("pair", "entity", "cloze_id", name="uq_links_cloze"),
        UniqueConstraint("pair", "entity", "external_id", name="uq_links_external"),
        # How many links of one entity are active (the empty-side guard), without reading them.
        Index("ix_links_status", "pair", "entity", "status"),
    )
    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    pair: str = Field(index=True)
    entity: str
    app_id: str
    cloze_id: str | None = None  # Cloze `direct` id
    external_id: str | None = None  # the App Link's Unique ID
    status: str = "active"  # active | unlinked
    unlinked_side: str | None = None  # the side whose record was deleted
    base: str | None = None  # JSON: canonical values as Cloze held them after the last sync
    base_external: str | None = None  # JSON: only the fields the external side holds differently
    cloze_modified: int | None = Field(default=None, sa_type=BIG)
    external_modified: int | None = Field(default=None, sa_type=BIG)
    created_at: int = Field(sa_type=BIG)
    updated_at: int = Field(sa_type=BIG)


class Cursor(SQLModel, table=True):
    __tablename__ = "cursors"
    pair: str = Field(primary_key=True)
    entity: str = Field(primary_key=True)
    side: str = Field(primary_key=True)
    value: str | None = None
    updated_at: int = Field(sa_type=BIG)


class ConflictRow(SQLModel, table=True):
    """A field changed on both sides. ``status``: open (manual, waiting), resolved (an
    operator chose; applied next run), applied, auto (settled by policy)."""

    __tablename__ = "conflicts"
    __table_args__ = (Index("ix_conflicts_open", "pair", "status"),)
    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    run_id: str
    pair: str
    entity: str
    link_id: int | None = Field(default=None, sa_type=BIG)
    cloze_id: str | None = None
    external_id: str | None = None
    field: str
    base: str | None = None  # JSON
    cloze_value: str | None = None  # JSON
    external_value: str | None = None  # JSON
    policy: str
    outcome: str  # cloze | external | pending | operator
    status: str
    resolution: str | None = None  # JSON of the chosen value
    resolved_by: str | None = None  # cloze | external | value
    created_at: int = Field(sa_type=BIG)
    updated_at: int = Field(sa_type=BIG)


class RecordErrorRow(SQLModel, table=True):
    """A record one side rejected (or that could not be read); retried on later runs."""

    __tablename__ = "record_errors"
    __table_args__ = (Index("ix_record_errors_open", "pair", "resolved"),)
    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    run_id: str
    pair: str
    entity: str
    side: str  # the side that refused (or that sent the unreadable record)
    op: str  # create | update | delete | read | match
    record_id: str  # id of the record concerned, on `source_side`
    source_side: str
    field: str | None = None
    code: str | None = None
    message: str
    label: str | None = None  # who the record is ("Ann Lee <ann@acme.example>"), for operators
    attempts: int = 1
    resolved: bool = False
    first_seen: int = Field(sa_type=BIG)
    last_seen: int = Field(sa_type=BIG)


class Run(SQLModel, table=True):
    """One run of a pair. ``seq`` numbers runs in the order they were recorded (an identity
    column on PostgreSQL; on SQLite the next number in the inserting statement, under its
    write lock), so "the last run" never depends on any host's clock or on ties."""

    __tablename__ = "runs"
    __table_args__ = (Index("ix_runs_order", "pair", "seq"),)
    id: str = Field(primary_key=True)
    seq: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), nullable=False))
    pair: str = Field(index=True)
    mode: str
    started_at: int = Field(sa_type=BIG)
    finished_at: int | None = Field(default=None, sa_type=BIG)
    status: str = "running"  # running | ok | errors | failed | stopped
    counts: str | None = None  # JSON
    error: str | None = None


class JournalEntry(SQLModel, table=True):
    """A create in flight: written before the call, settled after the link is stored."""

    __tablename__ = "journal"
    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    run_id: str
    pair: str
    entity: str
    target_side: str  # where the record is being created
    source_id: str  # the record it is created from (its id is the join marker)
    replaces_link: int | None = Field(default=None, sa_type=BIG)
    base: str | None = None  # JSON of the values being written
    created_at: int = Field(sa_type=BIG)


class Lease(SQLModel, table=True):
    """Who is syncing a pair right now (the daemon, or a manual reconcile).

    ``epoch`` grows by one with every claim and never goes back (a released lease
    keeps its row with an empty owner): it is the fencing token every state
    transaction of a run checks. A lease held on this boot of this host expires by
    the host's monotonic clock (``mono_expires``, compared only when ``boot_id``
    matches); ``expires_at`` (wall clock) is for every other reader.
    """

    __tablename__ = "leases"
    pair: str = Field(primary_key=True)
    owner: str
    epoch: int = Field(default=0, sa_type=BIG)
    acquired_at: int = Field(sa_type=BIG)
    heartbeat_at: int = Field(default=0, sa_type=BIG)
    expires_at: int = Field(sa_type=BIG)
    boot_id: str = ""
    mono_expires: float = 0.0


class PairAccount(SQLModel, table=True):
    """Which account a pair's side belongs to, recorded on its first run (``side``: cloze, external, app)."""

    __tablename__ = "accounts"
    pair: str = Field(primary_key=True)
    side: str = Field(primary_key=True)
    identity: str  # JSON object of strings, e.g. {"portal_id": "4242424"}
    recorded_at: int = Field(sa_type=BIG)


class AccountLease(SQLModel, table=True):
    """Which pair's run holds an account (a Cloze login, a HubSpot portal's token) right now.

    It holds as long as the pair's lease at ``epoch`` does: it needs no renewal of its own,
    and it is free once that lease is released, expires or is taken over.
    """

    __tablename__ = "account_leases"
    account_key: str = Field(primary_key=True)
    pair: str
    epoch: int = Field(sa_type=BIG)
    acquired_at: int = Field(sa_type=BIG)


class ApiUsage(SQLModel, table=True):
    """API calls made on one account in one UTC day, and what the account last said remains."""

    __tablename__ = "api_usage"
    account_key: str = Field(primary_key=True)
    day: str = Field(primary_key=True)  # YYYY-MM-DD, UTC
    calls: int = Field(default=0, sa_type=BIG)
    last_remaining: int | None = Field(default=None, sa_type=BIG)  # None: the account never said
    daily_limit: int | None = Field(default=None, sa_type=BIG)  # the day's budget, as the account reported it
    updated_at: int = Field(sa_type=BIG)
