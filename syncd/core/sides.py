"""The two sides of a pair as objects, so each algorithm is written once for (this side, the other). Pure.

A pair joins a hub (Cloze) and an external CRM. What differs between the two is
data, held here, not branches spread over the planner and the engine:

- each side's **join marker**, the mark a record carries naming its counterpart:
  a Cloze record holds an App Link ``(app_id, external id)`` (it may hold several,
  of other apps too), an external record holds the Cloze identity (``cloze_ref``,
  at most one);
- which side's vocabulary the pair's values are written in: value maps translate
  the external side's enumerated values into the hub's, so filters (written in the
  hub's vocabulary) can judge a field the pair does not map only on the hub side.

How a connector behaves (merges on create, batch sizes...) is not a property of
its side: it is declared by the connector (``Connector.capabilities``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar

from connectors.model import SIDES, Side

T = TypeVar("T")

OTHER: Mapping[Side, Side] = {"cloze": "external", "external": "cloze"}

MarkerVerdict = Literal["pair", "several", "collision", "stale", "unseen"]


def as_side(value: str) -> Side:
    """``value`` (a side as a state row stores it) as a :data:`Side`; a foreign value is refused."""
    for side in SIDES:
        if value == side:
            return side
    raise ValueError(f"not a side: {value!r} (expected one of {', '.join(SIDES)})")


def ordered(side: Side, mine: T, theirs: T) -> tuple[T, T]:
    """``(cloze's, external's)`` of a pair whose ``side`` item is ``mine`` and other item ``theirs``."""
    by_side = {side: mine, OTHER[side]: theirs}
    return by_side["cloze"], by_side["external"]


class Marked(Protocol):
    """What a join marker reads of a record in canonical form (:class:`~syncd.core.mapping.Canon`)."""

    @property
    def app_links(self) -> frozenset[tuple[str, str]]: ...

    @property
    def cloze_ref(self) -> str | None: ...


@dataclass(frozen=True)
class MarkerProblem:
    """Why an unlinked record's join marker holds it back: an operator's message and its code."""

    message: str
    code: str


class JoinMarker(Protocol):
    """How records of one side name their counterparts on the other side."""

    def targets(self, canon: Marked, app_id: str) -> tuple[str, ...]:
        """The ids on the other side that the markers of ``canon`` name, sorted."""
        ...

    def names(self, canon: Marked, other_id: str | None, app_id: str) -> bool:
        """Whether ``canon`` carries the marker naming ``other_id`` (its linked counterpart)."""
        ...

    def problem(self, verdict: MarkerVerdict, targets: Sequence[str], app_id: str,
                linked_to: str | None) -> MarkerProblem | None:
        """What to tell an operator about a record held back by ``verdict``; None: hold it silently."""
        ...


class AppLinkMarker:
    """Cloze: App Links ``(source, uniqueid)``; the pair's own are those whose source is its App ID."""

    def targets(self, canon: Marked, app_id: str) -> tuple[str, ...]:
        return tuple(sorted(uid for src, uid in canon.app_links if src == app_id))

    def names(self, canon: Marked, other_id: str | None, app_id: str) -> bool:
        return (app_id, other_id) in canon.app_links

    def problem(self, verdict: MarkerVerdict, targets: Sequence[str], app_id: str,
                linked_to: str | None) -> MarkerProblem | None:
        target = targets[0]
        if verdict == "several":
            return MarkerProblem(f"carries {len(targets)} App Links for {app_id}: {', '.join(targets)}",
                                 "several_app_links")
        if verdict == "collision":
            return MarkerProblem(f"its App Link points at external record {target}, which is linked to another "
                                 f"Cloze record ({linked_to or 'deleted'})", "marker_collision")
        if verdict == "stale":
            return MarkerProblem(f"its App Link points at external record {target}, which does not exist; "
                                 f"remove the App Link or delete the record", "stale_app_link")
        return None


class ClozeRefMarker:
    """An external CRM: the Cloze identity stored on the record (one at most)."""

    def targets(self, canon: Marked, app_id: str) -> tuple[str, ...]:
        return (canon.cloze_ref,) if canon.cloze_ref else ()

    def names(self, canon: Marked, other_id: str | None, app_id: str) -> bool:
        return canon.cloze_ref == other_id

    def problem(self, verdict: MarkerVerdict, targets: Sequence[str], app_id: str,
                linked_to: str | None) -> MarkerProblem | None:
        target = targets[0]
        if verdict == "collision":
            return MarkerProblem(f"its Cloze identity {target} belongs to a record linked to another external "
                                 f"record ({linked_to or 'deleted'})", "marker_collision")
        if verdict == "stale":
            return MarkerProblem(f"its Cloze identity {target} names a Cloze record that does not exist; "
                                 f"clear it or delete the record", "stale_cloze_ref")
        return None  # one marker at most: never "several"


@dataclass(frozen=True)
class SideView:
    """One side of a pair as the core sees it: its name, its join marker, its vocabulary."""

    name: Side
    marker: JoinMarker
    # Its enumerated values are the pair's own vocabulary (the one filters and value maps'
    # keys are written in); the other side's values are translated through the value maps.
    speaks_pair_vocabulary: bool

    @property
    def other(self) -> Side:
        return OTHER[self.name]


VIEWS: Mapping[Side, SideView] = {
    "cloze": SideView("cloze", AppLinkMarker(), speaks_pair_vocabulary=True),
    "external": SideView("external", ClozeRefMarker(), speaks_pair_vocabulary=False),
}


def view(side: Side) -> SideView:
    return VIEWS[side]
