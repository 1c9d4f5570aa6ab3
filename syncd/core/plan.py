"""Planning one entity of a pair: what to link, create, update, delete. Pure.

Input: the pair's links for the entity (from the state database), what was
observed on each side (canonical records, and ids known to be gone), the
field mapping and the delete policy. Output: a list of :class:`Action` that
the executor applies, plus :class:`PlanError` for records that must wait for
an operator (ambiguous matches, stale join markers). Nothing here does I/O.

Linked records are merged field by field (:mod:`syncd.core.merge`), or their
deletion is propagated by the delete policy. Records not yet linked go through
:mod:`syncd.core.pairing`, in this order (so the first sync duplicates no one,
a crash between a create and its state write is healed, and a link whose record
was merged away, re-keyed or restored heals itself):

0. take-overs: a record whose join marker names the survivor of a link whose
   own record is gone takes that record's place;
1. join markers: a Cloze record's App Link ``(app_id, X)``, an external
   record's stored Cloze identity;
2. the entity's match rules (email for people, domain for companies...), only
   when exactly one candidate exists on each side;
3. what is still unmatched, passes the filters and may be created, is created
   (records that the target side would merge into one are held back).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace

from config.models import DeletePolicy
from connectors.model import SIDES, Side
from connectors.values import Value
from syncd.core import pairing
from syncd.core.actions import (
    CREATE_ON,
    DELETE_ON,
    Action,
    ActionKind,
    EntityPlan,
    LinkState,
    Observation,
    PlanError,
)
from syncd.core.mapping import Canon, EntityMapping, match_field
from syncd.core.merge import MergeResult, merge_fields
from syncd.core.sides import OTHER, ordered, view

__all__ = ["Action", "ActionKind", "EntityPlan", "LinkState", "Observation", "PlanError", "at_rest", "plan_entity"]


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
    return view(side).marker.names(canon, link.id_on(OTHER[side]), app_id)


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
    merges_on_create: Mapping[Side, Collection[str]] | None = None,
) -> EntityPlan:
    """Plan one entity. See the module docstring for the matching order.

    ``hold`` maps ``(side, record id)`` to a time: such a record is not created on the
    other side unless it changed after that time (its last create was merged away).
    ``merges_on_create`` names, per side, the fields by which that side merges a
    created record into an existing one (a connector capability, e.g. Cloze's e-mails
    and phones): records to be created there that share such a value are held back.
    """
    plan = EntityPlan(entity)
    resolutions = resolutions or {}
    links = list(links)
    by_cloze: dict[str, LinkState] = {}
    by_external: dict[str, LinkState] = {}
    for link in links:
        if link.cloze_id:
            by_cloze[link.cloze_id] = link
        if link.external_id:
            by_external[link.external_id] = link

    for side in SIDES:
        for canon in obs.records(side).values():
            for fname, message in canon.problems.items():
                plan.field_problems.append((side, canon.id, fname, message))
        for record_id, why in sorted(obs.unreadable(side).items()):
            plan.errors.append(PlanError(side, record_id, why, "unreadable_record"))

    takeovers = pairing.find_takeovers(links, obs, app_id, mapping.match_on)
    plan.errors.extend(takeovers.errors)
    for takeover in takeovers.found:
        c, e = takeover.pair()
        healed = _sync_action(takeover.link, c, e, mapping, app_id, resolutions.get(takeover.link.id), relink=True)
        assert healed is not None
        # The survivor's marker may still name the vanished record, and a claimer that had a link of
        # its own its deleted counterpart: both markers go, so each record names one counterpart.
        stale = [(OTHER[takeover.side], takeover.link.id_on(takeover.side))]
        if takeover.released is not None:
            stale.append((takeover.side, takeover.released.id_on(OTHER[takeover.side])))
        healed.stale_markers = tuple((side, rid) for side, rid in stale if rid)
        plan.actions.append(healed)

    taken = takeovers.links()
    seen_links: set[int] = set()
    for link in list(by_cloze.values()) + list(by_external.values()):
        if link.id in seen_links or link.id in taken:
            continue
        seen_links.add(link.id)
        action = _plan_link(link, obs, mapping, app_id, delete_policy, resolutions.get(link.id))
        if action is not None:
            plan.actions.append(action)

    links_by: dict[Side, dict[str, LinkState]] = {"cloze": by_cloze, "external": by_external}
    free: dict[Side, dict[str, Canon]] = {}
    linked: dict[Side, list[Canon]] = {}
    for side in SIDES:
        held = links_by[side].keys() | takeovers.claimers(side)
        free[side] = {rid: r for rid, r in obs.records(side).items()
                      if rid not in held and rid not in takeovers.held(side)}
        # A linked record is judged by the keys it holds once this plan's merge is written, and a
        # record this plan deletes no longer stands in the way of a new record with the same e-mail.
        merged = {a.id_on(side): a.merge for a in plan.actions if a.kind == "sync" and a.merge is not None}
        doomed = {a.id_on(side) for a in plan.actions if a.kind == DELETE_ON[side]}
        linked[side] = [_keys_after(r, merged.get(rid), side, mapping) for rid, r in obs.records(side).items()
                        if rid in held and rid not in doomed]
    _plan_unlinked(plan, obs, mapping, app_id, free, links_by, linked, hold or {}, merges_on_create or {})
    return plan


def _keys_after(canon: Canon, merge: MergeResult | None, side: Side, mapping: EntityMapping) -> Canon:
    """``canon`` with the match keys it will hold once ``merge`` is written to ``side``."""
    if merge is None:
        return canon
    after = merge.base(side)
    keys = dict(canon.match_keys)
    for rule in mapping.match_on:
        value = after.get(match_field(rule), canon.values.get(match_field(rule)))
        if isinstance(value, frozenset):
            keys[rule] = value
        elif isinstance(value, str) and value:
            keys[rule] = frozenset({value.lower()})
    return replace(canon, match_keys=keys)


def _plan_link(
    link: LinkState,
    obs: Observation,
    mapping: EntityMapping,
    app_id: str,
    delete_policy: DeletePolicy,
    resolution: Mapping[str, Value] | None,
) -> Action | None:
    c_state = pairing.record_state(link.cloze_id, obs, "cloze")
    e_state = pairing.record_state(link.external_id, obs, "external")

    if link.status != "active":
        # A tombstone: the survivor stays unpaired. Forget it once the survivor is gone too.
        return Action("forget", link_id=link.id) if c_state == e_state == "gone" else None  # a missing id is gone

    if c_state == "seen" and e_state == "seen":
        assert link.cloze_id and link.external_id
        c, e = obs.cloze[link.cloze_id], obs.external[link.external_id]
        return _sync_action(link, c, e, mapping, app_id, resolution)

    if c_state == "gone" and e_state == "gone":
        return Action("forget", link_id=link.id, cloze_id=link.cloze_id, external_id=link.external_id)

    if "unknown" in (c_state, e_state):
        return None  # the runner could not see the other side this time; decide next run

    survivor: Side = "cloze" if c_state == "seen" else "external"
    survivor_id = link.id_on(survivor)
    assert survivor_id is not None  # "seen" means the link names it
    canon = obs.records(survivor)[survivor_id]
    if _changed_since(canon, link.base(survivor)):
        # Update beats delete: the survivor was edited since the last sync, so the
        # deleted side gets it back rather than losing the edit.
        cloze_id, external_id = ordered(survivor, canon.id, None)
        return Action(
            CREATE_ON[OTHER[survivor]],
            cloze_id=cloze_id,
            external_id=external_id,
            values=canon.values,
            replaces_link=link.id,
            source_problems=dict(canon.problems),
        )
    if delete_policy == "delete":
        return Action(DELETE_ON[survivor], link_id=link.id, cloze_id=link.cloze_id, external_id=link.external_id,
                      survivor=survivor)
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
    *,
    relink: bool = False,
) -> Action | None:
    """The merge of ``c`` and ``e``; None when the link is in sync already.

    ``relink``: the pair heals ``link`` (a take-over), so the link is saved even if
    nothing is written.
    """
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
    add_link = not view("cloze").marker.names(c, e.id, app_id)
    set_ref = not view("external").marker.names(e, c.id, app_id)
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
    if quiet and unchanged and not relink:
        return None  # in sync already: nothing to write, nothing to record
    return action


def _plan_unlinked(
    plan: EntityPlan,
    obs: Observation,
    mapping: EntityMapping,
    app_id: str,
    free: Mapping[Side, Mapping[str, Canon]],
    links_by: Mapping[Side, Mapping[str, LinkState]],
    linked: Mapping[Side, list[Canon]],
    hold: Mapping[tuple[str, str], int],
    merges_on_create: Mapping[Side, Collection[str]],
) -> None:
    """Pair, hold back or create the records no link holds (see :mod:`syncd.core.pairing`)."""
    joined = pairing.join_by_markers(free, links_by, obs, app_id)
    plan.errors.extend(joined.errors)
    pairs = list(joined.pairs)
    paired_c = {c.id for c, _ in pairs}
    paired_e = {e.id for _, e in pairs}
    free_c = {k: v for k, v in free["cloze"].items() if k not in paired_c}
    free_e = {k: v for k, v in free["external"].items() if k not in paired_e}
    blocked_c, blocked_e = set(joined.blocked["cloze"]), set(joined.blocked["external"])

    for rule in mapping.match_on:
        matched = pairing.match_by_rule(rule, free_c, free_e, blocked_c, blocked_e,
                                        pairing.key_owners(linked["external"], rule))
        plan.errors.extend(matched.errors)
        blocked_c |= matched.blocked_cloze
        blocked_e |= matched.blocked_external
        for c, e in matched.pairs:
            pairs.append((c, e))
            free_c.pop(c.id)
            free_e.pop(e.id)
    pair_actions = [_sync_action(None, c, e, mapping, app_id, None) for c, e in pairs]
    # Cloze records paired in this run stand in the way of new external ones like linked records
    # do, with the keys their merge leaves them (the next run would see those keys).
    paired_now = [_keys_after(c, action.merge if action else None, "cloze", mapping)
                  for (c, _), action in zip(pairs, pair_actions)]
    for rule in mapping.match_on:
        owners = pairing.key_owners([*linked["cloze"], *paired_now], rule)
        clashes = pairing.linked_clashes(rule, free_e, blocked_e, owners)
        plan.errors.extend(clashes)
        blocked_e |= {err.record_id for err in clashes}

    for action in pair_actions:
        assert action is not None
        plan.actions.append(action)

    unmatched: dict[Side, tuple[Mapping[str, Canon], set[str]]] = {
        "cloze": (free_c, blocked_c), "external": (free_e, blocked_e)}
    for side in SIDES:
        # Records of ``side`` to create on the other side, where the twins rule applies only
        # if that side declares it merges a create into a record sharing such a value.
        target = OTHER[side]
        records, blocked = unmatched[side]
        candidates = pairing.creatable(records, side, mapping, blocked, hold)
        twins, errors = pairing.twins(candidates, side, merges_on_create.get(target, ()))
        plan.errors.extend(errors)
        for canon in candidates:
            if canon.id not in twins:
                cloze_id, external_id = ordered(side, canon.id, None)
                plan.actions.append(Action(CREATE_ON[target], cloze_id=cloze_id, external_id=external_id,
                                           values=canon.values, source_problems=dict(canon.problems)))
