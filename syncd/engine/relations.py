"""Reference fields resolved through the pair's link table, for the engine.

Connectors read and write their own record ids in reference fields (a person's companies,
a project's people); :mod:`syncd.core.refs` translates them, asking :class:`LinkedIds` for
counterparts. Links are looked up by need (only the ids the records name) and kept until
:meth:`LinkedIds.refresh`, which the run calls once an entity's writes may have linked new
records, so a company linked earlier in the run resolves the people that name it.

:func:`with_references` puts the lookup into an entity's mapping and leaves out reference
fields whose target kind the pair does not sync: such a reference could never resolve.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import replace

from connectors.model import Entity, Record, Side
from state.store import StateStore
from syncd.core.mapping import EntityMapping, reference_values
from syncd.core.refs import Wanted, lookups_to_read


class LinkedIds:
    """Counterpart ids from the state database's link table, cached per entity and side."""

    def __init__(self, store: StateStore, pair: str) -> None:
        self.store = store
        self.pair = pair
        self._known: dict[tuple[Entity, Side], dict[str, str | None]] = {}

    def counterparts(self, entity: Entity, side: Side, ids: Collection[str]) -> Mapping[str, str]:
        known = self._known.setdefault((entity, side), {})
        missing = [i for i in dict.fromkeys(ids) if i not in known]
        if missing:
            found = self.store.counterparts(self.pair, entity, side, missing)
            for rid in missing:
                known[rid] = found.get(rid)  # None: not linked, or the link is a tombstone
        return {rid: other for rid in ids if (other := known.get(rid))}

    def refresh(self) -> None:
        """Forget what was looked up: writes since may have linked (or unlinked) records."""
        self._known.clear()


def prefetch(mapping: EntityMapping, wanted: Wanted) -> None:
    """Ask ``mapping``'s reference look-up for a batch's ids at once (a query per :data:`state.store.LOOKUP_CHUNK` ids),
    so mapping each record of the batch asks what is known already instead of a query per record."""
    lookup = mapping.references
    if lookup is None:
        return
    for (target, side), ids in wanted.items():
        lookup.counterparts(target, side, sorted(ids))


def prefetch_read(mapping: EntityMapping, side: Side, records: Collection[Record]) -> None:
    """:func:`prefetch` for reading ``records`` from ``side``: the ids their reference fields name."""
    if mapping.references is not None and mapping.reference_targets:
        prefetch(mapping, lookups_to_read([reference_values(r, mapping, side) for r in records],
                                          mapping.reference_targets, side))


def with_references(mapping: EntityMapping, lookup: LinkedIds, synced: Collection[Entity]) -> EntityMapping:
    """``mapping`` resolving its references through ``lookup``, without those to kinds not synced."""
    rules = tuple(r for r in mapping.rules if r.target is None or r.target in synced)
    return replace(mapping, rules=rules, references=lookup)


def unsynced_targets(mapping: EntityMapping, synced: Collection[Entity]) -> dict[str, Entity]:
    """Reference fields of ``mapping`` pointing at kinds the pair does not sync."""
    return {name: target for name, target in mapping.reference_targets.items() if target not in synced}
