"""Planning one entity of a pair: what to link, create, update, delete. Pure.

Input: the pair's links for the entity (from the state database), what was
observed on each side (canonical records, and ids known to be gone), the
field mapping and the delete policy. Output: a list of :class:`Action` that
the executor applies, plus :class:`PlanError` for records that must wait for
an operator (ambiguous matches, stale join markers). Nothing here does I/O.

Matching order for records not yet linked (so the first sync duplicates no one,
and a crash between a create and its state write is healed):

1. join markers: a Cloze record's App Link ``(app_id, X)``, an external record's
   stored Cloze identity;
2. the entity's match rules (email for people, domain for companies...), only
   when exactly one candidate exists on each side;
3. what is still unmatched, passes the filters and may be created, is created.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from config.models import DeletePolicy, MatchRule
from connectors.model import SetPatch, Side
from syncd.core.mapping import Canon, EntityMapping, match_field, passes_filters
from syncd.core.merge import MergeResult, merge_fields
from syncd.core.normalize import Value

ActionKind = Literal["sync", "create_cloze", "create_external", "delete_cloze", "delete_external", "unlink", "forget"]


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
        return self.base_cloze if side == "cloze" else self.base_external


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


@dataclass
class Action:
    kind: ActionKind
    link_id: int | None = None
    cloze_id: str | None = None
    external_id: str | None = None
    merge: MergeResult | None = None  # sync: patches, conflicts, new base
    values: dict[str, Value] = field(default_factory=dict)  # create: canonical values to write
    add_app_link: bool = False  # the Cloze record lacks the join App Link
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


def _changed_since(canon: Canon, base: Mapping[str, Value] | None) -> bool:
    if base is None:
        return True
    return any(canon.values.get(name) != base.get(name) for name in canon.values if name in base)


def at_rest(link: LinkState, canon: Canon, side: Side, app_id: str) -> bool:
    """``canon`` (linked by ``link``) holds just what the last sync left on its side, markers included.

    Such a record is most often the echo of the sync's own write; it asks nothing of its
    counterpart, so an incremental run need not read that.
    """
    base = link.base(side)
    if base is None or canon.problems or any(name not in base or base[name] != value
                                             for name, value in canon.values.items()):
        return False
    if side == "cloze":
        return (app_id, link.external_id) in canon.app_links
    return canon.cloze_ref == link.cloze_id


def plan_entity(
    entity: str,
    links: Iterable[LinkState],
    obs: Observation,
    mapping: EntityMapping,
    *,
    app_id: str,
    delete_policy: DeletePolicy,
    resolutions: Mapping[int, Mapping[str, Value]] | None = None,
    hold: Mapping[tuple[str, str], int] | None = None,
) -> EntityPlan:
    """Plan one entity. See the module docstring for the matching order.

    ``hold`` maps ``(side, record id)`` to a time: such a record is not created on the
    other side unless it changed after that time (its last create was merged away).
    """
    plan = EntityPlan(entity)
    resolutions = resolutions or {}
    by_cloze: dict[str, LinkState] = {}
    by_external: dict[str, LinkState] = {}
    for link in links:
        if link.cloze_id:
            by_cloze[link.cloze_id] = link
        if link.external_id:
            by_external[link.external_id] = link

    for side, records in (("cloze", obs.cloze), ("external", obs.external)):
        for canon in records.values():
            for fname, message in canon.problems.items():
                plan.field_problems.append((side, canon.id, fname, message))  # type: ignore[arg-type]
    for side, unreadable in (("cloze", obs.cloze_unreadable), ("external", obs.external_unreadable)):
        for record_id, why in sorted(unreadable.items()):
            plan.errors.append(PlanError(side, record_id, why, "unreadable_record"))  # type: ignore[arg-type]

    seen_links: set[int] = set()
    for link in list(by_cloze.values()) + list(by_external.values()):
        if link.id in seen_links:
            continue
        seen_links.add(link.id)
        action = _plan_link(link, obs, mapping, app_id, delete_policy, resolutions.get(link.id))
        if action is not None:
            plan.actions.append(action)

    # Records this plan deletes no longer stand in the way of a new record with the same e-mail.
    doomed_c = {a.cloze_id for a in plan.actions if a.kind == "delete_cloze" and a.cloze_id}
    doomed_e = {a.external_id for a in plan.actions if a.kind == "delete_external" and a.external_id}
    # Linked records stand in the way of new ones with the keys they will hold after this plan's
    # writes, not those read: otherwise the next run, seeing the written keys, decides otherwise.
    after_c: dict[str, Mapping[str, frozenset[str]]] = {}
    after_e: dict[str, Mapping[str, frozenset[str]]] = {}
    for a in plan.actions:
        if a.kind == "sync" and a.merge is not None and a.cloze_id in obs.cloze and a.external_id in obs.external:
            after_c[a.cloze_id] = keys_after(obs.cloze[a.cloze_id], a.merge.cloze_patch, mapping.match_on)
            after_e[a.external_id] = keys_after(obs.external[a.external_id], a.merge.external_patch, mapping.match_on)
    _plan_unlinked(plan, obs, mapping, app_id, by_cloze, by_external, doomed_c, doomed_e, hold or {},
                   after_c, after_e)
    return plan


def keys_after(canon: Canon, patch: Mapping[str, Value | SetPatch], match_on: Iterable[MatchRule]
               ) -> Mapping[str, frozenset[str]]:
    """The match keys ``canon`` holds once ``patch`` (this plan's write to it) is applied."""
    keys = dict(canon.match_keys)
    for rule in match_on:
        name = match_field(rule)
        if name not in patch:
            continue
        value = patch[name]
        value = value.result if isinstance(value, SetPatch) else value
        keys[rule] = value if isinstance(value, frozenset) else frozenset({value.lower()} if value else ())
    return keys


def _state(record_id: str | None, observed: Mapping[str, Canon], gone: set[str], complete: bool,
           unreadable: Mapping[str, str]) -> str:
    if record_id is None:
        return "gone"
    if record_id in observed:
        return "seen"
    if record_id in unreadable:
        return "unknown"  # it exists, but nothing can be decided from it
    if record_id in gone or complete:
        return "gone"
    return "unknown"


def _plan_link(
    link: LinkState,
    obs: Observation,
    mapping: EntityMapping,
    app_id: str,
    delete_policy: DeletePolicy,
    resolution: Mapping[str, Value] | None,
) -> Action | None:
    c_state = _state(link.cloze_id, obs.cloze, obs.cloze_gone, obs.complete, obs.cloze_unreadable)
    e_state = _state(link.external_id, obs.external, obs.external_gone, obs.complete, obs.external_unreadable)

    if link.status != "active":
        # A tombstone: the survivor stays unpaired. Forget it once the survivor is gone too.
        survivor_gone = (link.cloze_id is None or c_state == "gone") and (link.external_id is None or e_state == "gone")
        return Action("forget", link_id=link.id) if survivor_gone else None

    if c_state == "seen" and e_state == "seen":
        assert link.cloze_id and link.external_id
        c, e = obs.cloze[link.cloze_id], obs.external[link.external_id]
        return _sync_action(link, c, e, mapping, app_id, resolution)

    if c_state == "gone" and e_state == "gone":
        return Action("forget", link_id=link.id, cloze_id=link.cloze_id, external_id=link.external_id)

    if "unknown" in (c_state, e_state):
        return None  # the runner could not see the other side this time; decide next run

    survivor: Side = "cloze" if c_state == "seen" else "external"
    canon = obs.cloze[link.cloze_id] if survivor == "cloze" else obs.external[link.external_id]  # type: ignore[index]
    if _changed_since(canon, link.base(survivor)):
        # Update beats delete: the survivor was edited since the last sync, so the
        # deleted side gets it back rather than losing the edit.
        kind: ActionKind = "create_external" if survivor == "cloze" else "create_cloze"
        return Action(
            kind,
            cloze_id=canon.id if survivor == "cloze" else None,
            external_id=canon.id if survivor == "external" else None,
            values=dict(canon.values),
            replaces_link=link.id,
            source_problems=dict(canon.problems),
        )
    if delete_policy == "delete":
        kind = "delete_cloze" if survivor == "cloze" else "delete_external"
        return Action(kind, link_id=link.id, cloze_id=link.cloze_id, external_id=link.external_id, survivor=survivor)
    return Action(
        "unlink",
        link_id=link.id,
        cloze_id=link.cloze_id,
        external_id=link.external_id,
        survivor=survivor,
        remove_markers=delete_policy == "unlink",
    )


def _sync_action(
    link: LinkState | None,
    c: Canon,
    e: Canon,
    mapping: EntityMapping,
    app_id: str,
    resolution: Mapping[str, Value] | None,
) -> Action | None:
    link_id = link.id if link is not None else None
    base_c = link.base_cloze if link is not None else None
    base_e = link.base_external if link is not None else None
    merge = merge_fields(
        mapping.rules,
        base_c,
        base_e,
        c.values,
        e.values,
        cloze_modified=c.modified_at,
        external_modified=e.modified_at,
        skip=frozenset(c.problems) | frozenset(e.problems),
        resolutions=resolution,
    )
    add_link = (app_id, e.id) not in c.app_links
    set_ref = e.cloze_ref != c.id
    action = Action(
        "sync",
        link_id=link_id,
        cloze_id=c.id,
        external_id=e.id,
        merge=merge,
        add_app_link=add_link,
        set_cloze_ref=set_ref,
        prior_cloze=base_c,
        prior_external=base_e,
        seen_cloze=c.values,
        seen_external=e.values,
        seen_cloze_at=c.modified_at,
        seen_external_at=e.modified_at,
    )
    quiet = link_id is not None and not merge.writes and not merge.conflicts and not add_link and not set_ref
    unchanged = (base_c is not None and base_e is not None and not resolution
                 and dict(base_c) == merge.base_cloze and dict(base_e) == merge.base_external)
    if quiet and unchanged:
        return None  # in sync already: nothing to write, nothing to record
    return action


def _plan_unlinked(
    plan: EntityPlan,
    obs: Observation,
    mapping: EntityMapping,
    app_id: str,
    by_cloze: Mapping[str, LinkState],
    by_external: Mapping[str, LinkState],
    doomed_c: set[str] = frozenset(),  # type: ignore[assignment]
    doomed_e: set[str] = frozenset(),  # type: ignore[assignment]
    hold: Mapping[tuple[str, str], int] | None = None,
    after_c: Mapping[str, Mapping[str, frozenset[str]]] | None = None,
    after_e: Mapping[str, Mapping[str, frozenset[str]]] | None = None,
) -> None:
    hold = hold or {}
    after_c, after_e = after_c or {}, after_e or {}

    def held(side: str, canon: Canon) -> bool:
        since = hold.get((side, canon.id))
        return since is not None and (canon.modified_at or 0) <= since

    free_c = {cid: c for cid, c in obs.cloze.items() if cid not in by_cloze}
    free_e = {eid: e for eid, e in obs.external.items() if eid not in by_external}
    blocked_c: set[str] = set()
    blocked_e: set[str] = set()
    pairs: list[tuple[Canon, Canon]] = []

    def take(c: Canon, e: Canon) -> None:
        pairs.append((c, e))
        free_c.pop(c.id, None)
        free_e.pop(e.id, None)

    # 1. Join markers.
    for c in sorted(free_c.values(), key=lambda r: r.id):
        targets = sorted(uid for src, uid in c.app_links if src == app_id)
        if not targets:
            continue
        if len(targets) > 1:
            blocked_c.add(c.id)
            plan.errors.append(PlanError("cloze", c.id, f"carries {len(targets)} App Links for {app_id}: {', '.join(targets)}", "several_app_links"))
            continue
        target = targets[0]
        if target in free_e:
            take(c, free_e[target])
        elif target in by_external:
            blocked_c.add(c.id)
            plan.errors.append(PlanError("cloze", c.id, f"its App Link points at external record {target}, which is linked to another Cloze record", "marker_collision"))
        elif target in obs.external_gone or obs.complete:
            blocked_c.add(c.id)
            plan.errors.append(PlanError("cloze", c.id, f"its App Link points at external record {target}, which does not exist; remove the App Link or delete the record", "stale_app_link"))
        else:
            blocked_c.add(c.id)  # counterpart not seen this run (incremental); the next full run decides
    for e in sorted(free_e.values(), key=lambda r: r.id):
        ref = e.cloze_ref
        if not ref:
            continue
        if ref in free_c:
            take(free_c[ref], e)
        elif ref in by_cloze:
            blocked_e.add(e.id)
            plan.errors.append(PlanError("external", e.id, f"its Cloze identity {ref} belongs to a record linked to another external record", "marker_collision"))
        elif ref in obs.cloze_gone or obs.complete:
            blocked_e.add(e.id)
            plan.errors.append(PlanError("external", e.id, f"its Cloze identity {ref} names a Cloze record that does not exist; clear it or delete the record", "stale_cloze_ref"))
        else:
            blocked_e.add(e.id)

    # 2. Match rules, unambiguous only.
    for rule in mapping.match_on:
        index: dict[str, set[str]] = defaultdict(set)
        linked_index: dict[str, str] = {}
        for e in obs.external.values():
            if e.id in free_e:
                for key in e.match_keys.get(rule, ()):
                    index[key].add(e.id)
            elif e.id in by_external and e.id not in doomed_e:
                for key in after_e.get(e.id, e.match_keys).get(rule, ()):
                    linked_index[key] = e.id
        reverse: dict[str, set[str]] = defaultdict(set)
        for c in free_c.values():
            for key in c.match_keys.get(rule, ()):
                reverse[key].add(c.id)
        for c in sorted(free_c.values(), key=lambda r: r.id):
            if c.id in blocked_c or c.id not in free_c:
                continue
            keys = c.match_keys.get(rule, frozenset())
            everyone = set().union(*(index.get(k, set()) for k in keys)) if keys else set()
            candidates = {x for x in everyone if x in free_e and x not in blocked_e}
            if everyone & blocked_e:
                # A candidate is already held back as ambiguous: creating this record would duplicate it.
                blocked_c.add(c.id)
                plan.errors.append(PlanError("cloze", c.id, f"matches by {rule} a record held back as ambiguous; merge the duplicates", "ambiguous_match"))
                continue
            clash = sorted({linked_index[k] for k in keys if k in linked_index})
            if clash and not candidates:
                blocked_c.add(c.id)
                plan.errors.append(PlanError("cloze", c.id, f"matches by {rule} external record {clash[0]}, which is already linked to another Cloze record (a duplicate?)", "duplicate"))
                continue
            if not candidates:
                continue
            rivals = set().union(*(reverse.get(k, set()) for k in keys)) - {c.id}
            for eid in candidates:
                for k in obs.external[eid].match_keys.get(rule, ()):
                    rivals |= reverse.get(k, set()) - {c.id}
            if len(candidates) > 1 or rivals:
                blocked_c.add(c.id)
                blocked_c.update(rivals)
                blocked_e.update(candidates)
                for rival in sorted(rivals):
                    plan.errors.append(PlanError("cloze", rival, f"shares its {rule} with Cloze record {c.id}; merge the duplicates", "ambiguous_match"))
                who = ", ".join(sorted(candidates))
                plan.errors.append(PlanError("cloze", c.id, f"matches by {rule} more than one record ({who}; other Cloze records: {len(rivals)}); merge the duplicates", "ambiguous_match"))
                continue
            take(c, free_e[next(iter(candidates))])

    # Pairs made here count as linked below, with the keys their merge leaves them.
    pair_actions = [_sync_action(None, c, e, mapping, app_id, None) for c, e in pairs]
    for action, (c, _e) in zip(pair_actions, pairs):
        assert action is not None and action.merge is not None
        after_c = {**after_c, c.id: keys_after(c, action.merge.cloze_patch, mapping.match_on)}
    paired_c = {c.id for c, _ in pairs}

    # Linked-by-match external records that clash with an already linked Cloze record.
    for rule in mapping.match_on:
        linked_c_keys: dict[str, str] = {}
        for c in obs.cloze.values():
            if (c.id in by_cloze and c.id not in doomed_c) or c.id in paired_c:
                for key in after_c.get(c.id, c.match_keys).get(rule, ()):
                    linked_c_keys[key] = c.id
        for e in sorted(free_e.values(), key=lambda r: r.id):
            if e.id in blocked_e:
                continue
            clash = sorted({linked_c_keys[k] for k in e.match_keys.get(rule, ()) if k in linked_c_keys})
            if clash:
                blocked_e.add(e.id)
                plan.errors.append(PlanError("external", e.id, f"matches by {rule} Cloze record {clash[0]}, which is already linked to another external record (a duplicate?)", "duplicate"))

    for action in pair_actions:
        assert action is not None
        plan.actions.append(action)

    # 3. Creates. Two new records of one side that share an identifier would become one
    # record on a side that merges on create (Cloze merges by e-mail, phone and domain),
    # mixing their fields: both wait for an operator instead.
    to_external = [c for c in sorted(free_c.values(), key=lambda r: r.id)
                   if c.id not in blocked_c and mapping.create_in_external and passes_filters(c, mapping)
                   and not held("cloze", c)]
    to_cloze = [e for e in sorted(free_e.values(), key=lambda r: r.id)
                if e.id not in blocked_e and mapping.create_in_cloze and passes_filters(e, mapping)
                and not held("external", e)]
    twins = _twins(to_external, "cloze", plan) | _twins(to_cloze, "external", plan)
    for c in to_external:
        if ("cloze", c.id) not in twins:
            plan.actions.append(Action("create_external", cloze_id=c.id, values=dict(c.values),
                                       source_problems=dict(c.problems)))
    for e in to_cloze:
        if ("external", e.id) not in twins:
            plan.actions.append(Action("create_cloze", external_id=e.id, values=dict(e.values),
                                       source_problems=dict(e.problems)))


_IDENTIFIERS = ("emails", "phones", "domains")


def _twins(candidates: list[Canon], side: Side, plan: EntityPlan) -> set[tuple[Side, str]]:
    """Records about to be created that share an e-mail, phone or domain with another one."""
    owners: dict[tuple[str, str], list[str]] = defaultdict(list)
    for canon in candidates:
        for fname in _IDENTIFIERS:
            value = canon.values.get(fname)
            for key in value if isinstance(value, frozenset) else ():
                owners[(fname, key)].append(canon.id)
    twins: dict[str, tuple[str, str, list[str]]] = {}
    for (fname, key), ids in owners.items():
        if len(ids) > 1:
            for rid in ids:
                twins.setdefault(rid, (fname, key, ids))
    for rid, (fname, key, ids) in sorted(twins.items()):
        others = ", ".join(i for i in ids if i != rid)
        plan.errors.append(PlanError(side, rid, f"shares {fname[:-1]} {key!r} with {others} on the same side; "
                                                f"merge the duplicates before they are synced", "duplicate_on_side"))
    return {(side, rid) for rid in twins}
