"""The links a run needs, loaded from the state database by record id, not all at once.

An incremental run reads only what changed, so it needs only the links of the
records it saw (and of the records those name): :class:`LinkCache` looks them up
by id in batches, through the state database's unique indexes, and keeps what it
loaded for the rest of the entity's run. A quiet sync then costs the same for
1,000 linked records as for 1,000,000.

A full reconcile decides about every link (one whose records were not listed is
gone): it reads them all, in batches, ties each to its records and lets it go; each
planned batch reads its own links again by row id (:mod:`syncd.engine.spill`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from connectors.entities import ENTITY_KINDS
from connectors.model import SIDES, Entity, FieldKind, Side
from connectors.values import Value, from_json
from state.store import StateStore
from syncd.core.pairing import marker_targets
from syncd.core.plan import LinkState, Observation
from syncd.core.sides import OTHER


def decode_value(kinds: Mapping[str, Any], name: str, value: Any) -> Value:
    """A stored base value back in canonical form."""
    kind = kinds.get(name)
    if kind is None:  # a custom field: sets are stored as lists
        return frozenset(value) if isinstance(value, list) else (None if value is None else str(value))
    return from_json(kind, value) if isinstance(kind, FieldKind) else value


def field_kinds(entity: Entity) -> dict[str, Any]:
    return {name: spec.kind for name, spec in ENTITY_KINDS.fields(entity).items()}


class StoredLink(Protocol):
    """A link as stored: a ``Link`` row or a :class:`~state.store.LinkRow`."""

    @property
    def id(self) -> int | None: ...
    @property
    def cloze_id(self) -> str | None: ...
    @property
    def external_id(self) -> str | None: ...
    @property
    def status(self) -> str: ...
    @property
    def base(self) -> str | None: ...
    @property
    def base_external(self) -> str | None: ...


def link_state(row: StoredLink, kinds: Mapping[str, Any]) -> LinkState:
    """A stored link as the planner sees it, with both bases decoded."""
    base_c = base_e = None
    if row.base is not None:
        base_c = {k: decode_value(kinds, k, v) for k, v in json.loads(row.base).items()}
        base_e = dict(base_c)
        if row.base_external:
            base_e.update({k: decode_value(kinds, k, v) for k, v in json.loads(row.base_external).items()})
    return LinkState(row.id or 0, row.cloze_id, row.external_id, row.status, base_c, base_e)


class LinkCache:
    """The links of one entity that a run has asked for, loaded on demand by record id.

    ``load(side, ids)`` reads the links of those ids that are not known yet (one
    query per batch of ids); ``on(side, id)`` answers from what was loaded. An id
    looked up and not linked is remembered as such, so it is not queried again.
    """

    def __init__(self, store: StateStore, pair: str, entity: Entity) -> None:
        self.store, self.pair, self.entity = store, pair, entity
        self.kinds = field_kinds(entity)
        self.by_id: dict[int, LinkState] = {}
        self._by: dict[Side, dict[str, LinkState]] = {"cloze": {}, "external": {}}
        self._asked: dict[Side, set[str]] = {"cloze": set(), "external": set()}

    def _keep(self, rows: Iterable[StoredLink]) -> None:
        for row in rows:
            if row.id in self.by_id:
                continue
            link = link_state(row, self.kinds)
            self.by_id[link.id] = link
            for side in SIDES:
                rid = link.id_on(side)
                if rid:
                    self._by[side][rid] = link

    def load(self, side: Side, ids: Iterable[str]) -> None:
        """Make sure the links of ``ids`` on ``side`` are loaded."""
        asked = self._asked[side]
        wanted = [i for i in dict.fromkeys(ids) if i and i not in asked and i not in self._by[side]]
        if not wanted:
            return
        asked.update(wanted)
        self._keep(self.store.links_by_ids(self.pair, self.entity, side, wanted))

    def forget(self, link: LinkState) -> None:
        """Let go of a loaded link (its records need nothing more); a later ``load`` reads it again."""
        self.by_id.pop(link.id, None)
        for side in SIDES:
            rid = link.id_on(side)
            if rid and self._by[side].get(rid) is link:
                del self._by[side][rid]
            self._asked[side].discard(rid or "")

    def load_observed(self, obs: Observation, app_id: str) -> None:
        """Load every link a plan of ``obs`` consults: those of the records seen, gone or unreadable
        on either side, and those of the records their join markers name on the other side."""
        for side in SIDES:
            other = OTHER[side]
            records = obs.records(side)
            self.load(side, [*records, *obs.gone(side), *obs.unreadable(side)])
            self.load(other, [t for canon in records.values() for t in marker_targets(canon, side, app_id)])

    def load_link_ids(self, link_ids: Iterable[int]) -> None:
        """Make sure the links with these row ids are loaded (operator resolutions name links by id)."""
        wanted = [i for i in set(link_ids) if i not in self.by_id]
        if wanted:
            self._keep(self.store.links_with_ids(self.pair, self.entity, wanted))

    def on(self, side: Side, record_id: str | None) -> LinkState | None:
        """The loaded link holding ``record_id`` on ``side`` (load it first)."""
        return self._by[side].get(record_id) if record_id else None

    def loaded(self) -> list[LinkState]:
        """Every link loaded so far: what the planner is given."""
        return list(self.by_id.values())
