"""The plain data that crosses the line between a connector and the sync engine.

Every connector (Cloze, HubSpot, Tryton, a third party's) reads records into
:class:`Record` objects whose ``fields`` use the *canonical field names* listed
by the kind's :class:`~connectors.entities.EntitySpec`, plus ``custom:<native id>`` keys for custom
fields the pair maps. The engine never sees a connector's wire format, and a
connector never sees the engine's state.

A reference field (kind ``REF`` / ``REFS``, see ``EntitySpec.relations`` in :mod:`connectors.entities`) holds the side's own
ids of the records it points at: a connector reads and writes its native ids, and the
engine translates them through the link table for the other side.

Values in ``Record.fields`` may be loosely shaped (a connector passes on what
its API returned); the engine normalises them (``connectors.values``)
before comparing. Values a connector is asked to *write* are already
normalised: scalars as ``str | None`` (numbers as decimal strings, dates as
``YYYY-MM-DD``) and multi-valued fields as :class:`SetPatch`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal

Entity = str
"""The name of an entity kind (``person``, ``company``...): the kinds are declared in
:mod:`connectors.entities`, never listed here."""

Side = Literal["cloze", "external"]
SIDES: tuple[Side, ...] = ("cloze", "external")

CUSTOM_PREFIX = "custom:"
"""Prefix of a custom field's key in ``Record.fields``: ``custom:<native id>``."""


class FieldKind(str, Enum):
    """How a canonical field's values are normalised, compared and merged."""

    TEXT = "text"  # one line; whitespace runs collapsed
    LONGTEXT = "longtext"  # notes; line endings normalised, trailing blanks dropped
    ENUM = "enum"  # a key such as a stage or segment; compared case-insensitively
    NUMBER = "number"  # decimal; written as a canonical decimal string
    DATE = "date"  # YYYY-MM-DD
    EMAILS = "emails"  # set of e-mail addresses (lower-cased)
    PHONES = "phones"  # set of phone numbers (digits, optional leading +)
    DOMAINS = "domains"  # set of bare domains (no scheme, no www.)
    TAGS = "tags"  # set of free-text tags
    SET = "set"  # set of free-text strings (addresses)
    REF = "ref"  # the id of one record of another kind (``FieldSpec.target``)
    REFS = "refs"  # the ids of records of another kind (``FieldSpec.target``)

    @property
    def is_set(self) -> bool:
        return self in _SET_KINDS


_SET_KINDS = {FieldKind.EMAILS, FieldKind.PHONES, FieldKind.DOMAINS, FieldKind.TAGS, FieldKind.SET, FieldKind.REFS}


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One canonical field of an entity."""

    name: str
    kind: FieldKind
    description: str = ""
    # The side accepts only values from its own fixed list (a dropdown such as HubSpot's industry),
    # while the other side may hold free text: such a field is left out of the default mapping.
    fixed_values: bool = False
    # The kind of record a reference field (REF / REFS) points at. A connector reads and writes
    # its own ids of those records; the engine translates them through the link table.
    target: Entity | None = None


@dataclass(frozen=True, slots=True)
class AppLink:
    """A Cloze App Link: ``(source, uniqueid)`` is the join key (App ID, Unique ID)."""

    source: str
    uniqueid: str
    label: str = ""
    url: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.source.lower(), self.uniqueid)


@dataclass(frozen=True, slots=True)
class Record:
    """One record as a connector read it.

    ``id`` is the side's own stable id: the external record id, or for Cloze the
    ``direct`` id. ``app_links`` is filled by the Cloze connector only;
    ``cloze_ref`` (the Cloze identity stored on an external record) by external
    connectors only. ``modified_at`` is the side's last-change time in epoch ms.
    ``unreadable`` says why a record the side sent (with an id) cannot be read at
    all, its shape being wrong: the run records it as an error of that record and
    goes on, deciding nothing about it or its link.
    """

    id: str
    fields: Mapping[str, Any]
    modified_at: int | None = None
    app_links: tuple[AppLink, ...] = ()
    cloze_ref: str | None = None
    archived: bool = False
    unreadable: str | None = None


@dataclass(frozen=True, slots=True)
class ChangePage:
    """One page of a change feed.

    ``cursor`` is the position *after* this page; the engine persists it only
    once every record of the page has been applied and recorded. ``deleted_ids``
    lists records the side reports as deleted or archived.
    """

    records: Sequence[Record]
    cursor: str | None
    deleted_ids: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class SetPatch:
    """A change to a multi-valued field: what to add, what to remove, and the result.

    Connectors whose API merges arrays (Cloze) send ``add``/``remove``; those whose
    API replaces the whole value (HubSpot's ``;``-joined properties) send ``result``.
    """

    add: frozenset[str] = frozenset()
    remove: frozenset[str] = frozenset()
    result: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class CreateRequest:
    """Create one record. ``key`` is the caller's correlation key, echoed in the result.

    ``app_link`` (Cloze side) or ``cloze_ref`` (external side) is the join marker the
    connector must stamp on the new record *in the same call*, so a create repeated
    after a crash finds the record instead of making a second one.
    """

    key: str
    fields: Mapping[str, str | SetPatch | None]
    app_link: AppLink | None = None
    cloze_ref: str | None = None


@dataclass(frozen=True, slots=True)
class UpdateRequest:
    """Change only the given fields of record ``id``; fields not named are never touched.

    ``seen_modified_at`` is the record's ``modified_at`` as the caller read it before deciding
    on this write. A connector that can tell the record changed since (a conditional write, a
    fresh read, a property history) must not overwrite such a change silently: it answers
    with a failed result coded :data:`CHANGED_SINCE_READ` carrying the record as it is now,
    and leaves the other writer's values in place.
    """

    id: str
    fields: Mapping[str, str | SetPatch | None]
    add_app_link: AppLink | None = None
    remove_app_link: AppLink | None = None
    cloze_ref: str | None = None
    clear_cloze_ref: bool = False
    seen_modified_at: int | None = None


CHANGED_SINCE_READ = "changed_since_read"
"""``WriteResult.code`` of an update refused (or undone) because someone else changed the
record after the caller read it; ``WriteResult.record`` holds the record as it is now."""


@dataclass(frozen=True, slots=True)
class WriteResult:
    """The outcome of one create/update/delete. A connector never raises for one bad record."""

    key: str
    ok: bool
    id: str | None = None
    record: Record | None = None
    error: str | None = None
    code: str | None = None
    retryable: bool = False
    details: Mapping[str, Any] = field(default_factory=dict)
    # Fields of an applied write that the side refused (its field key -> the side's message):
    # the other fields stand; these are not agreed, so the caller keeps them to try again.
    refused: Mapping[str, str] = field(default_factory=dict)


def custom_key(native_id: str) -> str:
    """The ``Record.fields`` key of a custom field."""
    return CUSTOM_PREFIX + native_id
