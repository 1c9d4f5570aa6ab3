"""Reading what changed: builds the :class:`~syncd.core.plan.Observation` a plan needs.

A full run lists both sides. An incremental run reads each side's change feed
from its stored cursor and then fills in what the planner must see to decide
without guessing: the counterpart of every changed linked record, the record a
join marker points at, records whose earlier write failed (retried every run
until they succeed), and, for new records, any record on the other side that
carries their join marker or shares their e-mail or domain. The links this
consults are looked up by record id as it goes (:class:`~syncd.engine.links.LinkCache`),
and the records of each change page that are at rest are let go as the page is read
(:func:`drop_at_rest`), so an incremental run holds what changed, not the account.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from connectors import limits
from connectors.base import Connector
from connectors.errors import TooManyRecords
from connectors.model import SIDES, Entity, Record, Side
from syncd.core.mapping import EntityMapping, match_field, to_canonical
from syncd.core.plan import LinkState, Observation, at_rest
from syncd.core.sides import OTHER, view
from syncd.engine.links import LinkCache
from syncd.engine.relations import prefetch_read

GET_CHUNK = 100

Targets = Mapping[str, Mapping[Side, Collection[str]]]
"""Record ids to read, per entity and per side that named them: a run of just these records."""


@dataclass
class Observed:
    obs: Observation
    cursors: dict[Side, str | None] = field(default_factory=dict)  # to store once applied
    reads: dict[Side, int] = field(default_factory=dict)


def _add(obs: Observation, side: Side, records: Iterable[Record], mapping: EntityMapping) -> int:
    target, unreadable, gone = obs.records(side), obs.unreadable(side), obs.gone(side)
    records = list(records)  # one page or batch
    prefetch_read(mapping, side, [r for r in records if r.unreadable is None and not r.archived])
    count = 0
    for record in records:
        if record.unreadable is not None:
            unreadable[record.id] = record.unreadable
            target.pop(record.id, None)
            continue
        unreadable.pop(record.id, None)
        if record.archived:
            gone.add(record.id)
            continue
        target[record.id] = to_canonical(record, mapping, side)
        count += 1
    return count


def _count(held: int, side: Side, entity: Entity, pair: str | None) -> int:
    """``held`` records read from ``side`` so far; past ``limits.max_records`` the run stops.

    Everything a read collects is kept until the plan is made (in memory, or in a full
    reconcile on disk), so a side that sends records without end (or far more than
    expected) would exhaust it.
    """
    bound = limits.current()
    if held > bound.max_records:
        raise TooManyRecords(
            f"the {side} side sent more than {bound.max_records:,} {entity} records in one run; reading stopped",
            pair=pair or bound.pair, side=side, entity=entity,
            hint=f"if the account really holds that many, raise {bound.setting('max_records')} "
                 "(memory grows with it)",
        )
    return held


def _get(conn: Connector, entity: Entity, ids: Sequence[str]) -> dict[str, Record]:
    """Records by id, in calls of at most the side's ``read_batch`` ids (and :data:`GET_CHUNK`)."""
    out: dict[str, Record] = {}
    unique = list(dict.fromkeys(ids))
    chunk = min(GET_CHUNK, conn.capabilities(entity).read_batch or GET_CHUNK)
    for start in range(0, len(unique), chunk):
        out.update(conn.get(entity, unique[start : start + chunk]))
    return out


def _no_progress(_: int) -> None:
    pass


def observe_full(entity: Entity, mapping: EntityMapping, cloze: Connector, external: Connector,
                 on_read: Callable[[int], None] = _no_progress,
                 sink: Callable[[Side, Observation], None] | None = None) -> Observed:
    """Both sides listed completely. Cursors are taken *before* listing so nothing is missed after.

    ``on_read(n)`` is told how many records each page brought (progress). With ``sink``,
    each page is read into an observation of its own and handed to ``sink(side, page)``
    instead of being kept (a full reconcile spills them, :mod:`syncd.engine.spill`).
    """
    result = Observed(Observation(complete=True))
    conns = _by_side(cloze, external)
    for side in SIDES:
        conn = conns[side]
        result.cursors[side] = conn.current_cursor(entity)
        n = held = 0
        for page in conn.list_all(entity):
            held = _count(held + len(page), side, entity, None)
            into = result.obs if sink is None else Observation(complete=True)
            n += _add(into, side, page, mapping)
            if sink is not None:
                sink(side, into)
            on_read(len(page))
        result.reads[side] = n
    return result


def observe_changes(
    entity: Entity,
    mapping: EntityMapping,
    cloze: Connector,
    external: Connector,
    cursors: Mapping[Side, str | None],
    on_read: Callable[[int], None] = _no_progress,
    on_page: Callable[[Observation, Side, list[str]], None] | None = None,
) -> Observed:
    """Each side's change feed since its cursor.

    ``on_page(obs, side, ids)`` is called after each page is added, with the ids it
    brought, so a caller can let go of what it need not keep (:func:`drop_at_rest`).
    """
    result = Observed(Observation())
    conns = _by_side(cloze, external)
    for side in SIDES:
        conn = conns[side]
        cursor = cursors.get(side)
        n = held = 0
        gone, seen = result.obs.gone(side), result.obs.records(side)
        for page in conn.changes(entity, cursor):
            held = _count(held + len(page.records) + len(page.deleted_ids), side, entity, None)
            n += _add(result.obs, side, page.records, mapping)
            if on_page is not None:
                on_page(result.obs, side, [r.id for r in page.records])
            on_read(len(page.records) + len(page.deleted_ids))
            for rid in page.deleted_ids:
                gone.add(rid)
                seen.pop(rid, None)
            if page.cursor is not None:
                cursor = page.cursor
        result.cursors[side] = cursor
        result.reads[side] = n
    return result


def drop_at_rest(obs: Observation, side: Side, ids: Sequence[str], links: LinkCache, app_id: str,
                 keep: Callable[[Side, str, LinkState], bool]) -> int:
    """Let go of the records of a page that are at rest, and of their links; how many went.

    A linked record that holds just what the last sync left on its side (most often the
    echo of this tool's own write) asks nothing of a plan on its own: with its counterpart
    not seen it plans nothing, and when its counterpart is seen changed, or gone, or named
    by a new record, :func:`complete` reads it again by id. So an echo sync holds one page
    of records at a time, not every record the previous run wrote. Tombstones and the
    records ``keep`` names (open errors, operator resolutions) are kept.
    """
    links.load(side, ids)
    records = obs.records(side)
    dropped = 0
    for rid in ids:
        canon, link = records.get(rid), links.on(side, rid)
        if canon is None or link is None or link.status != "active" or keep(side, rid, link):
            continue
        if at_rest(link, canon, side, app_id):
            del records[rid]
            links.forget(link)
            dropped += 1
    return dropped


def observe_records(entity: Entity, mapping: EntityMapping, conns: Mapping[Side, Connector],
                    ids: Mapping[Side, Collection[str]]) -> Observed:
    """Just these records, on the side that named them (a change notification said they changed)."""
    result = Observed(Observation())
    for side, wanted in ids.items():
        result.reads[side] = add_by_id(result.obs, side, conns[side], entity, sorted(wanted), mapping)
    return result


def add_by_id(obs: Observation, side: Side, conn: Connector, entity: Entity, ids: Iterable[str], mapping: EntityMapping) -> int:
    """Read records by id onto ``side`` of the observation; absent ones are known gone."""
    have, gone = obs.records(side), obs.gone(side)
    wanted = [i for i in ids if i and i not in have and i not in gone]
    if not wanted:
        return 0
    found = _get(conn, entity, wanted)
    gone.update(set(wanted) - set(found))
    return _add(obs, side, found.values(), mapping)


def complete(
    obs: Observation,
    entity: Entity,
    mapping: EntityMapping,
    links: LinkCache,
    cloze: Connector,
    external: Connector,
    app_id: str,
    retry: Mapping[Side, Iterable[str]],
) -> dict[Side, int]:
    """Fill in what an incremental observation lacks (see the module docstring).

    The links it consults are loaded into ``links`` by id as records are added, so on
    return ``links`` holds every link the plan needs (see :meth:`LinkCache.load_observed`).
    Returns the records read, per side they were read from.
    """
    reads: dict[Side, int] = {side: 0 for side in SIDES}
    conns = _by_side(cloze, external)
    for side, ids in retry.items():
        reads[side] += add_by_id(obs, side, conns[side], entity, ids, mapping)
    links.load_observed(obs, app_id)

    # New records: find a counterpart by marker or match rule before anything is created.
    named: dict[Side, set[str]] = {side: set() for side in SIDES}  # records new ones name or match
    for side in SIDES:
        other_side = OTHER[side]
        other = conns[other_side]
        for canon in list(obs.records(side).values()):
            if links.on(side, canon.id) is not None:
                continue
            marker_ids = view(side).marker.targets(canon, app_id)
            if marker_ids:
                reads[other_side] += add_by_id(obs, other_side, other, entity, marker_ids, mapping)
                named[other_side].update(marker_ids)
                continue
            found = other.find_linked(entity, canon.id)
            if found is not None:
                reads[other_side] += _add(obs, other_side, [found], mapping)
            # Match keys are looked up even then: the record found may not pair (it carries other
            # markers too), and the duplicate guards must see every record holding the same keys,
            # or the verdict would depend on which records this run happened to read.
            for rule in mapping.match_on:
                for key in canon.match_keys.get(rule, ()):
                    matches = other.lookup(entity, match_field(rule), key)
                    reads[other_side] += _add(obs, other_side, matches, mapping)
                    named[other_side].update(r.id for r in matches)
    links.load_observed(obs, app_id)

    # Such a named record may be linked to a record that is gone (merged away, or back under
    # a new id), whose place the new record takes: read the link's own record so the plan can tell.
    for side in SIDES:
        other_side = OTHER[side]
        holders = [link.id_on(side) for rid in sorted(named[other_side])
                   if (link := links.on(other_side, rid)) is not None]
        reads[side] += add_by_id(obs, side, conns[side], entity, [h for h in holders if h], mapping)
    links.load_observed(obs, app_id)

    # Linked records seen on one side only: read the counterpart, unless the record is at
    # rest (typically the echo of this tool's own write), which asks nothing of it.
    def counterparts(side: Side) -> int:
        """Read the ``side`` records of links whose other record alone was seen."""
        other_side = OTHER[side]
        seen, have = obs.records(other_side), obs.records(side)
        wanted = []
        for theirs, canon in seen.items():
            link = links.on(other_side, theirs)
            mine = link.id_on(side) if link is not None else None
            if link is not None and mine and mine not in have and not at_rest(link, canon, other_side, app_id):
                wanted.append(mine)
        read = add_by_id(obs, side, conns[side], entity, wanted, mapping)
        links.load_observed(obs, app_id)
        return read

    reads["cloze"] += counterparts("cloze")
    reads["external"] += counterparts("external")
    # Counterparts of records just found through markers or matches may be linked too.
    reads["cloze"] += counterparts("cloze")
    # A linked record known gone: read its counterpart, so the plan can decide on the link.
    for side in SIDES:
        other_side = OTHER[side]
        for gone_id in list(obs.gone(side)):
            link = links.on(side, gone_id)
            counterpart = link.id_on(other_side) if link else None
            if counterpart:
                reads[other_side] += add_by_id(obs, other_side, conns[other_side], entity, [counterpart], mapping)
        links.load_observed(obs, app_id)
    return reads


def _by_side(cloze: Connector, external: Connector) -> dict[Side, Connector]:
    return {"cloze": cloze, "external": external}
