"""Tables of the state database (SQLModel on SQLite).

Times are stored as epoch milliseconds (UTC) so they sort and compare exactly;
JSON columns hold canonical values (sets as sorted lists).
"""

from __future__ import annotations

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

SCHEMA_VERSION = 5


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
    id: int | None = Field(default=None, primary_key=True)
    pair: str = Field(index=True)
    entity: str
    app_id: str
    cloze_id: str | None = None  # Cloze `direct` id
    external_id: str | None = None  # the App Link's Unique ID
    status: str = "active"  # active | unlinked
    unlinked_side: str | None = None  # the side whose record was deleted
    base: str | None = None  # JSON: canonical values as Cloze held them after the last sync
    base_external: str | None = None  # JSON: only the fields the external side holds differently
    cloze_modified: int | None = None
    external_modified: int | None = None
    created_at: int
    updated_at: int


class Cursor(SQLModel, table=True):
    __tablename__ = "cursors"
    pair: str = Field(primary_key=True)
    entity: str = Field(primary_key=True)
    side: str = Field(primary_key=True)
    value: str | None = None
    updated_at: int


class ConflictRow(SQLModel, table=True):
    """A field changed on both sides. ``status``: open (manual, waiting), resolved (an
    operator chose; applied next run), applied, auto (settled by policy)."""

    __tablename__ = "conflicts"
    __table_args__ = (Index("ix_conflicts_open", "pair", "status"),)
    id: int | None = Field(default=None, primary_key=True)
    run_id: str
    pair: str
    entity: str
    link_id: int | None = None
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
    created_at: int
    updated_at: int


class RecordErrorRow(SQLModel, table=True):
    """A record one side rejected (or that could not be read); retried on later runs."""

    __tablename__ = "record_errors"
    __table_args__ = (Index("ix_record_errors_open", "pair", "resolved"),)
    id: int | None = Field(default=None, primary_key=True)
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
    first_seen: int
    last_seen: int


class Run(SQLModel, table=True):
    __tablename__ = "runs"
    id: str = Field(primary_key=True)
    pair: str = Field(index=True)
    mode: str
    started_at: int
    finished_at: int | None = None
    status: str = "running"  # running | ok | errors | failed | stopped
    counts: str | None = None  # JSON
    error: str | None = None


class JournalEntry(SQLModel, table=True):
    """A create in flight: written before the call, settled after the link is stored."""

    __tablename__ = "journal"
    id: int | None = Field(default=None, primary_key=True)
    run_id: str
    pair: str
    entity: str
    target_side: str  # where the record is being created
    source_id: str  # the record it is created from (its id is the join marker)
    replaces_link: int | None = None
    base: str | None = None  # JSON of the values being written
    created_at: int


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
    epoch: int = 0
    acquired_at: int
    heartbeat_at: int = 0
    expires_at: int
    boot_id: str = ""
    mono_expires: float = 0.0


class PairAccount(SQLModel, table=True):
    """Which account a pair's side belongs to, recorded on its first run (``side``: cloze, external, app)."""

    __tablename__ = "accounts"
    pair: str = Field(primary_key=True)
    side: str = Field(primary_key=True)
    identity: str  # JSON object of strings, e.g. {"portal_id": "4242424"}
    recorded_at: int
