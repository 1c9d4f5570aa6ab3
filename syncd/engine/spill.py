"""A full reconcile's records and plans on disk, planned component by component.

A full reconcile must decide about every record of both sides and every link, but
no decision of the planner looks beyond the records tied to each other: by a link,
by a join marker, by a shared match key (e-mail, domain; a linked record's stored
values included, since its merge may take them) or by a value the target side merges
creates on (the same-side twins guard). So each listed record is written to a
private temporary SQLite database (``sqlite3.connect("")``: unlinked as it opens,
dropped on close) as it is read, and only small integers are kept per record: a
union-find over those ties groups the records into connected components, and the
entity is planned a batch of whole components at a time with the pure planner, each
batch's actions written back to the same database. What stays in memory is the
ids, the keys and the per-entity counts (deletes for the safety cap, records per
side for the empty-side guard), not the records.
"""

from __future__ import annotations

import pickle
import sqlite3
from collections.abc import Collection, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from connectors.model import SIDES, Side
from connectors.values import Value
from syncd.core.actions import Action, EntityPlan, LinkState, Observation, PlanError
from syncd.core.mapping import Canon, EntityMapping, match_field
from syncd.core.pairing import marker_targets
from syncd.core.sides import OTHER, as_side

CHUNK = 500  # ids per SQL statement (well under SQLite's parameter limit)
DEFAULT_BATCH = 2000  # records (both sides) per planned batch, at least; whole components only


class Ties:
    """Union-find over records (one small int each), joined by what the planner looks across."""

    def __init__(self) -> None:
        self.ids: dict[Side, dict[str, int]] = {side: {} for side in SIDES}
        self.parent: list[int] = []
        self._keys: dict[Hashable, int] = {}  # a key -> the first record holding it

    def node(self, side: Side, record_id: str) -> int:
        nodes = self.ids[side]
        found = nodes.get(record_id)
        if found is None:
            found = nodes[record_id] = len(self.parent)
            self.parent.append(found)
        return found

    def find(self, n: int) -> int:
        parent = self.parent
        root = n
        while parent[root] != root:
            root = parent[root]
        while parent[n] != root:  # path compression
            parent[n], n = root, parent[n]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def key(self, n: int, key: Hashable) -> None:
        first = self._keys.setdefault(key, n)
        if first != n:
            self.union(first, n)


def _set_keys(value: Value | None) -> Iterable[str]:
    if isinstance(value, frozenset):
        return value
    if isinstance(value, str) and value:
        return (value.lower(),)
    return ()


class PlannedEntity(Protocol):
    """One entity's plan as the rest of a run sees it: its counts, then its batches one at a time."""

    drop_deletes: bool  # set by the safety cap: this run applies no delete

    @property
    def deletes(self) -> int: ...

    @property
    def actions(self) -> int: ...

    def plans(self) -> Iterator[EntityPlan]: ...


@dataclass
class HeldPlan:
    """An incremental run's plan: one batch, held in memory (it covers what changed)."""

    plan: EntityPlan
    drop_deletes: bool = False

    @property
    def deletes(self) -> int:
        return self.plan.deletes

    @property
    def actions(self) -> int:
        return len(self.plan.actions) - (self.deletes if self.drop_deletes else 0)

    def plans(self) -> Iterator[EntityPlan]:
        if self.drop_deletes:
            self.plan.actions = [a for a in self.plan.actions if not a.is_delete]
        yield self.plan


@dataclass
class Batch:
    """One planned batch's place in the database and what the rest of the run needs to know of it."""

    seq: int
    actions: int
    deletes: int


@dataclass
class SpilledEntity:
    """One entity of a full reconcile: its records and links tied into components, then its plan in batches."""

    spill: Spill
    entity: str
    mapping: EntityMapping
    app_id: str
    merges_on_create: Mapping[Side, Collection[str]]
    ties: Ties = field(default_factory=Ties)
    counts: dict[Side, int] = field(default_factory=lambda: {side: 0 for side in SIDES})
    gone: dict[Side, set[str]] = field(default_factory=lambda: {side: set() for side in SIDES})
    unreadable: dict[int, tuple[Side, str, str]] = field(default_factory=dict)  # node -> side, id, why
    links: list[tuple[int, int]] = field(default_factory=list)  # (link id, node)
    batches: list[Batch] = field(default_factory=list)
    drop_deletes: bool = False  # the safety cap held this run's deletes back

    def __post_init__(self) -> None:
        # Either side's merge fields tie records of both sides: a superset of what the twins guard
        # compares, so that a create and the records it could be merged into are applied together.
        self._merge_fields = sorted({f for fields in self.merges_on_create.values() for f in fields})

    # -- reading ---------------------------------------------------------------------

    def add(self, side: Side, page: Observation) -> None:
        """A page of listed records (read into ``page`` by the observer): written out, tied, let go."""
        ties = self.ties
        rows: list[tuple[int, Side, bytes | None]] = []
        for rid, why in page.unreadable(side).items():
            n = ties.node(side, rid)
            self.unreadable[n] = (side, rid, why)
            rows.append((n, side, None))
        for rid in page.gone(side):
            self.gone[side].add(rid)
        target = OTHER[side]
        for rid, canon in page.records(side).items():
            n = ties.node(side, rid)
            self.unreadable.pop(n, None)
            for other_id in marker_targets(canon, side, self.app_id):
                ties.union(n, ties.node(target, other_id))
            for rule, keys in canon.match_keys.items():
                for k in keys:
                    ties.key(n, ("match", rule, k))
            for fname in self._merge_fields:
                for k in _set_keys(canon.values.get(fname)):
                    ties.key(n, ("merges", fname, k))
            rows.append((n, side, pickle.dumps(canon, pickle.HIGHEST_PROTOCOL)))
        self.counts[side] += len(page.records(side))
        self.spill.put_records(rows)

    def add_link(self, link: LinkState, resolution: Mapping[str, Value] | None) -> None:
        """A stored link: ties its two records, and both to the keys its merge may give them."""
        ties = self.ties
        nodes = [ties.node(side, rid) for side in SIDES if (rid := link.id_on(side))]
        if not nodes:
            return
        for n in nodes[1:]:
            ties.union(nodes[0], n)
        for values in (link.base_cloze, link.base_external, resolution):
            for rule in self.mapping.match_on:
                for k in _set_keys((values or {}).get(match_field(rule))):
                    ties.key(nodes[0], ("match", rule, k))
        self.links.append((link.id, nodes[0]))

    # -- planning --------------------------------------------------------------------

    def components(self, batch: int) -> Iterator[tuple[list[int], list[int]]]:
        """(record nodes, link ids) of whole components, at least ``batch`` records each but the last."""
        ties = self.ties
        total = len(ties.parent)
        roots = [ties.find(n) for n in range(total)]
        links_of: dict[int, list[int]] = {}
        for link_id, n in self.links:
            links_of.setdefault(roots[n], []).append(link_id)
        order = sorted(range(total), key=roots.__getitem__)
        nodes: list[int] = []
        link_ids: list[int] = []
        for i, n in enumerate(order):
            nodes.append(n)
            root = roots[n]
            if i + 1 < total and roots[order[i + 1]] == root:
                continue  # the component goes on
            link_ids.extend(links_of.pop(root, ()))
            if len(nodes) >= batch:
                yield nodes, link_ids
                nodes, link_ids = [], []
        if nodes or link_ids:
            yield nodes, link_ids

    def planned(self) -> None:
        """Every batch is planned: let go of the ties (the plan's batches and counts stay)."""
        self.ties, self.links, self.unreadable = Ties(), [], {}
        self.gone = {side: set() for side in SIDES}

    def observation(self, nodes: Sequence[int]) -> Observation:
        """The records of ``nodes`` as a complete observation (what is not in it is gone)."""
        obs = Observation(complete=True)
        for side in SIDES:
            obs.gone(side).update(self.gone[side])
        for n in nodes:
            if n in self.unreadable:
                side, rid, why = self.unreadable[n]
                obs.unreadable(side)[rid] = why
        for canon_side, canon in self.spill.records(nodes):
            obs.records(canon_side)[canon.id] = canon
        return obs

    def keep(self, plan: EntityPlan) -> None:
        """Write one batch's plan out; remember its counts."""
        seq = len(self.batches)
        self.spill.put_plan(self.entity, seq, plan)
        self.batches.append(Batch(seq, len(plan.actions), plan.deletes))

    @property
    def deletes(self) -> int:
        return sum(b.deletes for b in self.batches)

    @property
    def actions(self) -> int:
        return sum(b.actions - (b.deletes if self.drop_deletes else 0) for b in self.batches)

    def plans(self) -> Iterator[EntityPlan]:
        """The planned batches, in order, read back one at a time (deletes held back if the cap said so)."""
        for b in self.batches:
            plan = self.spill.plan(self.entity, b.seq)
            if self.drop_deletes:
                plan.actions = [a for a in plan.actions if not a.is_delete]
            yield plan


class Spill:
    """The private temporary database of one run (see the module docstring); ``close()`` drops it."""

    def __init__(self) -> None:
        # "" is a private temporary database on disk: SQLite deletes the file itself.
        self.db = sqlite3.connect("")
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.execute("CREATE TABLE records (node INTEGER PRIMARY KEY, side TEXT, canon BLOB)")
        self.db.execute("CREATE TABLE plans (entity TEXT, seq INTEGER, plan BLOB, PRIMARY KEY (entity, seq))")
        self._entity: str | None = None

    def entity(self, entity: str, mapping: EntityMapping, app_id: str,
               merges_on_create: Mapping[Side, Collection[str]]) -> SpilledEntity:
        """Start reading ``entity``: the records of the entity before it are no longer needed."""
        self.db.execute("DELETE FROM records")
        self._entity = entity
        return SpilledEntity(self, entity, mapping, app_id, merges_on_create)

    def put_records(self, rows: Sequence[tuple[int, Side, bytes | None]]) -> None:
        self.db.executemany("INSERT OR REPLACE INTO records (node, side, canon) VALUES (?, ?, ?)", rows)

    def records(self, nodes: Sequence[int]) -> Iterator[tuple[Side, Canon]]:
        """The listed records among ``nodes`` (unreadable ones have none), with their side."""
        for start in range(0, len(nodes), CHUNK):
            chunk = nodes[start : start + CHUNK]
            marks = ",".join("?" * len(chunk))
            for side, blob in self.db.execute(f"SELECT side, canon FROM records WHERE node IN ({marks})", chunk):
                if blob is not None:
                    yield as_side(side), pickle.loads(blob)

    def put_plan(self, entity: str, seq: int, plan: EntityPlan) -> None:
        blob = pickle.dumps((plan.actions, plan.errors, plan.field_problems), pickle.HIGHEST_PROTOCOL)
        self.db.execute("INSERT INTO plans (entity, seq, plan) VALUES (?, ?, ?)", (entity, seq, blob))

    def plan(self, entity: str, seq: int) -> EntityPlan:
        (blob,) = self.db.execute("SELECT plan FROM plans WHERE entity = ? AND seq = ?", (entity, seq)).fetchone()
        actions: list[Action]
        errors: list[PlanError]
        actions, errors, problems = pickle.loads(blob)
        return EntityPlan(entity, actions=actions, errors=errors, field_problems=problems)

    def close(self) -> None:
        self.db.close()

