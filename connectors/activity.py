"""Timeline activities: the plain data that crosses the line between connectors and the engine.

Activities (notes, tasks, calls, meetings, e-mails, texts logged in the external CRM)
are a kind of their own, not a fourth record entity: they flow one way, from the
external CRM into Cloze's timeline, which the Cloze API can write but not read back.
They have a planner of their own (:mod:`syncd.core.activities`): append-mostly, no
three-way merge.

This module is the one declaration of the kind: :data:`ACTIVITY_KINDS` (what each
kind is, whether it is on by default, which Cloze records it may become), the
canonical :class:`Activity` an external connector reads, the :class:`TimelineItem`
the planner hands the Cloze side, and the two capabilities, :class:`ActivitySource`
(an external connector that can list activities) and :class:`ActivitySink` (Cloze).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from connectors.model import Entity

ActivityKind = Literal["note", "task", "call", "meeting", "email", "message"]
# What an activity becomes in Cloze: a keyed content record (note, to-do, event) or a communication.
ClozeTarget = Literal["content_note", "content_todo", "content_event", "communication"]
BodyType = Literal["text", "html"]
Direction = Literal["inbound", "outbound"]
CallOutcome = Literal["connected", "leftvm", "noanwser"]  # Cloze's own spelling
Channel = Literal["sms", "whatsapp", "linkedin"]  # what a text or direct message went through


@dataclass(frozen=True, slots=True)
class KindSpec:
    """One activity kind: its default and the Cloze records it may be written as (the first is the default)."""

    kind: ActivityKind
    default_on: bool
    targets: tuple[ClozeTarget, ...]
    description: str


ACTIVITY_KINDS: Mapping[ActivityKind, KindSpec] = {
    spec.kind: spec for spec in (
        KindSpec("note", True, ("content_note",), "a note, as a keyed Cloze note"),
        KindSpec("task", True, ("content_todo",), "a task, as a keyed Cloze external to-do"),
        KindSpec("call", True, ("content_note", "communication"),
                 "a logged call: a keyed note by default, or a call communication (sent once)"),
        KindSpec("meeting", False, ("content_event", "communication"),
                 "a meeting: a keyed event by default, or a meeting communication once it has happened"),
        KindSpec("email", False, ("content_note", "communication"),
                 "a logged e-mail: a keyed note with its metadata by default (Cloze reads mailboxes itself)"),
        KindSpec("message", False, ("communication",), "a text or direct message, as a communication (sent once)"),
    )
}
DEFAULT_KINDS: tuple[ActivityKind, ...] = tuple(k for k, s in ACTIVITY_KINDS.items() if s.default_on)
KEYED_TARGETS: frozenset[ClozeTarget] = frozenset({"content_note", "content_todo", "content_event"})


def uniqueid(kind: ActivityKind, source_id: str) -> str:
    """The Cloze content key of an activity: ``<kind>:<external id>`` (with ``source`` = the pair's App ID)."""
    return f"{kind}:{source_id}"


@dataclass(frozen=True, slots=True)
class ActivityRef:
    """A record the activity is about: the external record id, and the address Cloze knows it by
    (an e-mail or phone for a person, a domain for a company, an App Link for a project)."""

    entity: Entity
    external_id: str
    address: str | None


@dataclass(frozen=True, slots=True)
class Activity:
    """One activity as an external connector read it (times in epoch ms)."""

    kind: ActivityKind
    id: str
    occurred_at: int  # when it happened; a task's due time; a meeting's start
    modified_at: int
    subject: str | None = None
    body: str | None = None
    body_type: BodyType = "text"
    direction: Direction | None = None
    refs: tuple[ActivityRef, ...] = ()
    duration_min: int | None = None
    location: str | None = None
    outcome: CallOutcome | None = None
    done: bool = False  # tasks
    url: str | None = None  # a link back to the record in the external CRM
    channel: Channel | None = None  # messages
    owner_id: str | None = None  # the CRM user it is assigned to (the source's own id)
    owner_email: str | None = None  # that user's e-mail, when the source can tell
    private: bool = False
    archived: bool = False


@dataclass(frozen=True, slots=True)
class ActivityPage:
    """One page of an activity feed; ``cursor`` is the position after it, stored once the page is recorded."""

    activities: Sequence[Activity]
    cursor: str | None
    deleted_ids: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class TimelineItem:
    """What the planner asks Cloze to store: already mapped, cut and referenced (only addresses).

    ``source``/``uniqueid`` key content targets; a communication carries ``threadid`` instead.
    """

    target: ClozeTarget
    style: str  # Cloze's style: note | todo | event, or call | meeting | email | text | direct
    date: int
    subject: str
    source: str | None = None
    uniqueid: str | None = None
    threadid: str | None = None
    body: str | None = None
    bodytype: BodyType = "text"
    preview: str | None = None
    references: tuple[str, ...] = ()
    due: int | None = None
    direction: Direction | None = None
    duration_min: int | None = None
    outcome: CallOutcome | None = None
    location: str | None = None
    links: tuple[tuple[str, str], ...] = ()  # (title, url)
    from_address: str | None = None  # Cloze's ``from``: the Cloze user the activity is by


@dataclass(frozen=True, slots=True)
class PutResult:
    """The outcome of one timeline write.

    ``ok``: Cloze answered errorcode 0. ``code``: Cloze's errorcode when it refused the item (a
    definite no). ``uncertain``: the request may or may not have reached Cloze (a timeout, a dropped
    connection); a communication in that state is never sent again on its own.
    """

    ok: bool
    code: int | None = None
    message: str = ""
    uncertain: bool = False
    details: Mapping[str, str] = field(default_factory=dict)


@runtime_checkable
class ActivitySource(Protocol):
    """An external connector that can list activities (HubSpot engagements, say)."""

    def activity_kinds(self) -> frozenset[ActivityKind]:
        """The kinds this side can list."""
        ...

    def activity_pages(self, kind: ActivityKind, cursor: str | None, *, since: int | None = None,
                       until: int | None = None) -> Iterator[ActivityPage]:
        """Activities of ``kind`` modified after ``cursor`` (or from ``since``), up to ``until``
        (epoch ms; ``None``: no bound), oldest change first; archived ones as ``deleted_ids``."""
        ...

    def activity_get(self, kind: ActivityKind, ids: Sequence[str]) -> dict[str, Activity]:
        """Read activities by id (those waiting for a link); an id absent from the result is gone."""
        ...

    def activity_deleted(self, kind: ActivityKind, since: int) -> tuple[list[str], int]:
        """Ids of ``kind`` deleted (or archived) after ``since`` (epoch ms), and the watermark to ask from next."""
        ...

    def activity_count(self, kind: ActivityKind, since: int, until: int) -> int | None:
        """How many activities of ``kind`` were modified in ``[since, until]``, if the side can tell cheaply."""
        ...


@runtime_checkable
class ActivitySink(Protocol):
    """The Cloze side: stores timeline items."""

    def put_timeline(self, item: TimelineItem) -> PutResult:
        """Write one item; never raises for a refused item, only for what stops the side (auth)."""
        ...


# What the state database keeps of each activity (hashes and states, never text): the planner
# reads it and the state store writes it, so it sits here, below both.
JournalState = Literal["waiting", "sending", "sent", "failed", "uncertain", "skipped"]


@dataclass(frozen=True, slots=True)
class JournalRow:
    """What the state database knows of one activity: hashes and states, never text."""

    kind: ActivityKind
    source_id: str
    state: JournalState
    target: ClozeTarget | None = None
    payload_sha256: str | None = None
    attempts: int = 0
    first_seen_at: int = 0
    reason: str | None = None  # why it waits ("unlinked", "future") or was skipped
