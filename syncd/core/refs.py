"""Reference fields between each side's own record ids and the engine's canonical form. Pure.

A reference (kind ``REF`` / ``REFS``) names records of another kind. Each connector reads
and writes its own ids of them; canonically a reference holds the target's id on the *hub*
side, whose ids key the link table (``cloze_id <-> external_id``). The functions here
translate through an :class:`IdLookup` that answers from that table.

- Reading (:func:`read_references`): the hub side's ids are canonical already; another
  side's ids become hub ids. An id whose target is not linked yet stays *pending*
  (``@<side>:<id>``, see :func:`pending`), so a target linked later in the same run (a
  company created before the people who work there) can still be written.
- Writing (:func:`write_references`): canonical ids become the target side's ids. An id
  with no counterpart there leaves the whole field unwritten and is reported as a problem
  of that field; the field's base stays, so the next run tries again. A reference is never
  written as another side's id, and never written short of a member.
- Bases (:func:`settle_pending`): once a pending target is linked, its hub id replaces
  the pending form, so what a link records compares equal to what the sides read next.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Protocol

from connectors.model import Entity, SetPatch, Side
from connectors.values import Value

HUB: Side = "cloze"
"""The side whose ids a canonical reference holds: the link table is keyed by them."""

UNRESOLVED = "unresolved_reference"
"""The record-error code of a reference field waiting for its target's link."""

_PENDING = "@"
_SIDES: tuple[Side, ...] = ("cloze", "external")


class IdLookup(Protocol):
    """Counterparts through the link table."""

    def counterparts(self, entity: Entity, side: Side, ids: Collection[str]) -> Mapping[str, str]:
        """``{id on side: id on the other side}`` for those of ``ids`` that are linked."""
        ...


def pending(side: Side, record_id: str) -> str:
    """The canonical form of ``side``'s id of a target that is not linked yet."""
    return f"{_PENDING}{side}:{record_id}"


def parse_pending(value: str) -> tuple[Side, str] | None:
    """``(side, id)`` of a pending reference, or None for a hub id."""
    if not value.startswith(_PENDING):
        return None
    side, sep, rid = value[1:].partition(":")
    for known in _SIDES:
        if sep and side == known:
            return known, rid
    return None


def _shown(value: str) -> str:
    parsed = parse_pending(value)
    return parsed[1] if parsed else value


def _members(value: Value | SetPatch) -> set[str]:
    if isinstance(value, SetPatch):
        return set(value.add | value.remove | value.result)
    if isinstance(value, frozenset):
        return set(value)
    return {value} if value else set()


def _to_hub(lookup: IdLookup, target: Entity, side: Side, ids: Collection[str]) -> dict[str, str]:
    """``side``'s ids as canonical values: hub ids where linked, pending forms otherwise."""
    if side == HUB:
        return {i: i for i in ids}
    linked = lookup.counterparts(target, side, ids) if ids else {}
    return {i: linked.get(i) or pending(side, i) for i in ids}


def read_references(
    values: Mapping[str, Value], targets: Mapping[str, Entity], side: Side, lookup: IdLookup
) -> dict[str, Value]:
    """``values`` read from ``side`` with each reference in canonical form."""
    out = dict(values)
    for name, target in targets.items():
        value = out.get(name)
        ids = _members(value)
        if not ids:
            continue
        hub = _to_hub(lookup, target, side, ids)
        out[name] = frozenset(hub[i] for i in ids) if isinstance(value, frozenset) else hub[str(value)]
    return out


def _to_side(lookup: IdLookup, target: Entity, side: Side, values: Collection[str]) -> dict[str, str]:
    """Canonical reference values as ``side``'s ids, for those that have one now."""
    out: dict[str, str] = {}
    by_side: dict[Side, list[str]] = {"cloze": [], "external": []}
    for value in values:
        parsed = parse_pending(value)
        if parsed is None:
            by_side[HUB].append(value)
        elif parsed[0] == side:
            out[value] = parsed[1]  # the side's own id, read from it earlier in the run
        else:
            by_side[parsed[0]].append(parsed[1])
    for origin, ids in by_side.items():
        if not ids:
            continue
        if origin == side:
            out.update({i: i for i in ids})
            continue
        found = lookup.counterparts(target, origin, ids)
        for rid, theirs in found.items():
            out[rid if origin == HUB else pending(origin, rid)] = theirs
    return out


def write_references(
    changes: Mapping[str, Value | SetPatch], targets: Mapping[str, Entity], side: Side, lookup: IdLookup
) -> tuple[dict[str, Value | SetPatch], dict[str, str]]:
    """Canonical changes with each reference as ``side``'s ids; and the fields that must wait.

    An element to remove that has no counterpart on ``side`` cannot be linked there, so it
    is simply left out; an element to hold that has none makes the field wait.
    """
    out: dict[str, Value | SetPatch] = dict(changes)
    problems: dict[str, str] = {}
    for name, target in targets.items():
        if name not in changes:
            continue
        value = changes[name]
        ids = _members(value)
        found = _to_side(lookup, target, side, ids)
        wanted = (value.add | value.result) if isinstance(value, SetPatch) else ids
        missing = sorted(i for i in wanted if i not in found)
        if missing:
            out.pop(name)
            shown = ", ".join(_shown(m) for m in missing)
            problems[name] = (f"refers to {target} records not linked to the {side} side yet ({shown}); "
                              "written once they are linked")
            continue
        if isinstance(value, SetPatch):
            out[name] = SetPatch(add=frozenset(found[i] for i in value.add),
                                 remove=frozenset(found[i] for i in value.remove if i in found),
                                 result=frozenset(found[i] for i in value.result))
        elif isinstance(value, frozenset):
            out[name] = frozenset(found[i] for i in value)
        elif value:
            out[name] = found[value]
    return out, problems


def settle_pending(values: Mapping[str, Value], targets: Mapping[str, Entity], lookup: IdLookup) -> dict[str, Value]:
    """``values`` with each pending reference whose target is linked now replaced by its hub id."""
    out = dict(values)
    for name, target in targets.items():
        value = out.get(name)
        members = _members(value)
        waiting = {m: p for m in members if (p := parse_pending(m)) is not None}
        if not waiting:
            continue
        hub: dict[str, str] = {}
        for origin in _SIDES:
            ids = [rid for s, rid in waiting.values() if s == origin]
            if ids:
                hub.update({pending(origin, rid): theirs for rid, theirs in lookup.counterparts(target, origin, ids).items()})
        if isinstance(value, frozenset):
            out[name] = frozenset(hub.get(m, m) for m in value)
        elif isinstance(value, str):
            out[name] = hub.get(value, value)
    return out


Wanted = dict[tuple[Entity, Side], set[str]]
"""Ids to look up, by ``(target kind, side the ids are of)``."""


def lookups_to_write(changes: Iterable[Mapping[str, Value | SetPatch]], targets: Mapping[str, Entity],
                     side: Side) -> Wanted:
    """Every id :func:`write_references` asks the lookup for when writing each of ``changes`` to
    ``side``: a batch asks for them in one go instead of record by record."""
    wanted: Wanted = {}
    for change in changes:
        for name, target in targets.items():
            if name not in change:
                continue
            for value in _members(change[name]):
                parsed = parse_pending(value)
                origin, rid = (HUB, value) if parsed is None else parsed
                if origin != side:
                    wanted.setdefault((target, origin), set()).add(rid)
    return wanted


def lookups_to_read(values: Iterable[Mapping[str, Value]], targets: Mapping[str, Entity], side: Side) -> Wanted:
    """Every id :func:`read_references` asks the lookup for when reading each of ``values`` from
    ``side`` (the hub side's ids need none)."""
    wanted: Wanted = {}
    if side == HUB:
        return wanted
    for read in values:
        for name, target in targets.items():
            ids = _members(read.get(name))
            if ids:
                wanted.setdefault((target, side), set()).update(ids)
    return wanted
