"""The plain data a plan is made of: links as stored, what a run observed, actions and errors. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from connectors.model import Side
from connectors.values import Value
from syncd.core.mapping import Canon
from syncd.core.merge import MergeResult

ActionKind = Literal["sync", "create_cloze", "create_external", "delete_cloze", "delete_external", "unlink", "forget"]

CREATE_ON: Mapping[Side, ActionKind] = {"cloze": "create_cloze", "external": "create_external"}
"""The action creating a record on each side."""

DELETE_ON: Mapping[Side, ActionKind] = {"cloze": "delete_cloze", "external": "delete_external"}
"""The action deleting a linked record on each side."""


@dataclass(frozen=True)
class LinkState:
    """A link as the state database holds it."""

    id: int
    cloze_id: str | None
    external_id: str | None
    status: str = "active"  # "active", or "unlinked" (one side was deleted, the other kept)
    base_cloze: Mapping[str, Value] | None = None
    base_external: Mapping[str, Value] | None = None

    def base(self, side: Side) -> Mapping[str, Value] | None:
        return {"cloze": self.base_cloze, "external": self.base_external}[side]

    def id_on(self, side: Side) -> str | None:
        return {"cloze": self.cloze_id, "external": self.external_id}[side]


@dataclass
class Observation:
    """What a run saw of one entity. ``complete`` means a full listing of both sides."""

    cloze: dict[str, Canon] = field(default_factory=dict)
    external: dict[str, Canon] = field(default_factory=dict)
    cloze_gone: set[str] = field(default_factory=set)
    external_gone: set[str] = field(default_factory=set)
    complete: bool = False
    # Records a side sent in a shape that cannot be read: id -> why. Neither seen nor gone.
    cloze_unreadable: dict[str, str] = field(default_factory=dict)
    external_unreadable: dict[str, str] = field(default_factory=dict)

    def records(self, side: Side) -> dict[str, Canon]:
        return {"cloze": self.cloze, "external": self.external}[side]

    def gone(self, side: Side) -> set[str]:
        return {"cloze": self.cloze_gone, "external": self.external_gone}[side]

    def unreadable(self, side: Side) -> dict[str, str]:
        return {"cloze": self.cloze_unreadable, "external": self.external_unreadable}[side]


@dataclass(slots=True)
class Action:
    kind: ActionKind
    link_id: int | None = None
    cloze_id: str | None = None
    external_id: str | None = None
    merge: MergeResult | None = None  # sync: patches, conflicts, new base
    values: Mapping[str, Value] = field(default_factory=dict)  # create: canonical values to write (the record's own, not copied)
    add_app_link: bool = False  # the Cloze record lacks the join App Link
    # sync (a take-over): per side, a deleted record of the other side its record may still name; dropped
    stale_markers: tuple[tuple[Side, str], ...] = ()
    set_cloze_ref: bool = False  # the external record lacks the Cloze identity
    remove_markers: bool = False  # unlink: drop the join markers from the survivor
    survivor: Side | None = None  # unlink/delete: the side whose record stays (or is deleted)
    replaces_link: int | None = None  # re-create after "update beats delete"
    prior_cloze: Mapping[str, Value] | None = None  # the link's bases before this action
    prior_external: Mapping[str, Value] | None = None
    source_problems: dict[str, str] = field(default_factory=dict)
    # sync: each side's values as read, so a write's reply can show what else it changed
    seen_cloze: Mapping[str, Value] = field(default_factory=dict)
    seen_external: Mapping[str, Value] = field(default_factory=dict)
    # sync: each side's modification time as read, so a write can tell if someone changed it since
    seen_cloze_at: int | None = None
    seen_external_at: int | None = None

    @property
    def is_delete(self) -> bool:
        return self.kind in ("delete_cloze", "delete_external", "unlink")

    def id_on(self, side: Side) -> str | None:
        """The id of the action's record on ``side``."""
        return {"cloze": self.cloze_id, "external": self.external_id}[side]

    def needs_marker(self, side: Side) -> bool:
        """sync: the record on ``side`` lacks the join marker naming its counterpart."""
        return {"cloze": self.add_app_link, "external": self.set_cloze_ref}[side]

    def stale_marker(self, side: Side) -> str | None:
        """sync: the record on ``side`` carries a marker naming this deleted record of the other side."""
        return next((rid for s, rid in self.stale_markers if s == side), None)

    def prior(self, side: Side) -> Mapping[str, Value] | None:
        """The link's base on ``side`` before this action."""
        return {"cloze": self.prior_cloze, "external": self.prior_external}[side]

    def seen(self, side: Side) -> Mapping[str, Value]:
        """sync: ``side``'s values as read."""
        return {"cloze": self.seen_cloze, "external": self.seen_external}[side]

    def seen_at(self, side: Side) -> int | None:
        """sync: ``side``'s modification time as read."""
        return {"cloze": self.seen_cloze_at, "external": self.seen_external_at}[side]


@dataclass(frozen=True)
class PlanError:
    """A record the run cannot sync without an operator; recorded as a record error."""

    side: Side
    record_id: str
    message: str
    code: str


@dataclass
class EntityPlan:
    entity: str
    actions: list[Action] = field(default_factory=list)
    errors: list[PlanError] = field(default_factory=list)
    field_problems: list[tuple[Side, str, str, str]] = field(default_factory=list)  # side, id, field, message

    def count(self, kind: ActionKind) -> int:
        return sum(1 for a in self.actions if a.kind == kind)

    @property
    def deletes(self) -> int:
        return sum(1 for a in self.actions if a.is_delete)
