"""Records no link holds yet: take over a link, join by marker, match by rule, or create. Pure.

Each step is a function over plain data that returns what it decided (pairs, records
held back, errors) and mutates nothing it was given, so each can be tested alone:

0. :func:`find_takeovers`: a record whose join marker (or, lacking any marker, match
   key) names the survivor of a link whose own record is gone takes that record's
   place. This is how a link heals when Cloze merges a person into a duplicate, when a
   record comes back under another id, or when a deleted record is restored.
1. :func:`join_by_markers`: a Cloze record's App Link ``(app_id, X)`` or an external
   record's stored Cloze identity names its counterpart.
2. :func:`match_by_rule`: the entity's match rules (e-mail, domain...), only when
   exactly one candidate exists on each side; :func:`linked_clashes` holds back an
   external record that would duplicate an already linked Cloze record.
3. :func:`creatable` and :func:`twins`: what is left, passes the filters and may be
   created, is created, except records that a side merging on create would fold
   into one (they share an identifier that side merges by).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from connectors.model import SIDES, Side
from syncd.core.actions import LinkState, Observation, PlanError
from syncd.core.mapping import Canon, EntityMapping, passes_filters
from syncd.core.sides import OTHER, MarkerVerdict, ordered, view


def marker_targets(canon: Canon, side: Side, app_id: str) -> tuple[str, ...]:
    """The ids on the other side that the join markers of ``canon`` (read on ``side``) name, sorted."""
    return view(side).marker.targets(canon, app_id)


def record_state(record_id: str | None, obs: Observation, side: Side) -> Literal["seen", "gone", "unknown"]:
    """Whether this run saw the record, knows it is gone, or cannot tell (an incremental run)."""
    if record_id is None:
        return "gone"
    if record_id in obs.records(side):
        return "seen"
    if record_id in obs.unreadable(side):
        return "unknown"  # it exists, but nothing can be decided from it
    if record_id in obs.gone(side) or obs.complete:
        return "gone"
    return "unknown"


def marker_verdict(
    targets: Sequence[str],
    *,
    free: Collection[str],
    linked: Collection[str],
    known_gone: Collection[str],
    complete: bool,
) -> MarkerVerdict | None:
    """What the join markers of an unlinked record say, given the other side's records.

    ``None``: no marker. ``pair``: it names a free record. ``several``: more than one
    marker. ``collision``: it names a record linked to another one. ``stale``: it names
    a record that does not exist. ``unseen``: its target was not read this run.
    """
    if not targets:
        return None
    if len(targets) > 1:
        return "several"
    target = targets[0]
    if target in free:
        return "pair"
    if target in linked:
        return "collision"
    if target in known_gone or complete:
        return "stale"
    return "unseen"


# -- 0. take-overs --------------------------------------------------------------------


@dataclass(frozen=True)
class Takeover:
    """``claimer`` (on ``side``) replaces the vanished record of ``link`` beside ``target``."""

    link: LinkState
    side: Side
    claimer: Canon
    target: Canon
    released: LinkState | None = None  # the claimer's own link, whose other record is gone

    def pair(self) -> tuple[Canon, Canon]:
        """(Cloze record, external record) of the healed link."""
        return ordered(self.side, self.claimer, self.target)


@dataclass
class Takeovers:
    """Links healed by a take-over, links held because the evidence is disputed, and why."""

    found: list[Takeover] = field(default_factory=list)
    contested: set[int] = field(default_factory=set)
    disputed: set[tuple[Side, str]] = field(default_factory=set)  # claimers reported, held this run
    errors: list[PlanError] = field(default_factory=list)

    def links(self) -> set[int]:
        """Links the plan must leave to the take-overs: healed, or held while disputed."""
        return {t.link.id for t in self.found} | {t.released.id for t in self.found if t.released} | self.contested

    def claimers(self, side: Side) -> set[str]:
        return {t.claimer.id for t in self.found if t.side == side}

    def held(self, side: Side) -> set[str]:
        """Claimers whose claim is disputed: reported here, neither paired nor created this run."""
        return {rid for s, rid in self.disputed if s == side}


def vacancies(links: Iterable[LinkState], obs: Observation) -> dict[tuple[Side, str], LinkState]:
    """``(side, id of the seen survivor on the other side)`` -> link, for links whose ``side`` record is gone.

    That is a tombstone's deleted side, or an active link's record known to be gone.
    """
    out: dict[tuple[Side, str], LinkState] = {}
    for link in links:
        for side, other in OTHER.items():
            survivor = link.id_on(other)
            if survivor and survivor in obs.records(other) and record_state(link.id_on(side), obs, side) == "gone":
                out[(side, survivor)] = link
    return out


def _claims(
    side: Side,
    vacant: Mapping[tuple[Side, str], LinkState],
    obs: Observation,
    linked_ids: Collection[str],
    app_id: str,
    match_on: Sequence[str],
) -> dict[str, tuple[str, list[Canon]]]:
    """Survivor id -> (how, unlinked records of ``side`` that claim it).

    A claim by marker (the record's one join marker names the survivor) outranks a claim
    by match rule (a record with no marker shares a match key with an active link's survivor).
    """
    by_marker: dict[str, list[Canon]] = defaultdict(list)
    by_rule: dict[str, list[Canon]] = defaultdict(list)
    other = OTHER[side]
    unlinked = [c for c in obs.records(side).values() if c.id not in linked_ids]
    # A record whose own counterpart is gone may claim by marker too: after a Cloze merge the
    # survivor names both former counterparts, and the one still there is its counterpart now.
    released = [c for c in obs.records(side).values() if c.id in linked_ids and (other, c.id) in vacant
                and vacant[(other, c.id)].status == "active"]
    released_ids = {c.id for c in released}
    for canon in unlinked + released:
        own = vacant[(other, canon.id)].id_on(other) if canon.id in released_ids else None
        targets = [t for t in marker_targets(canon, side, app_id) if t != own]  # its own gone counterpart aside
        if len(targets) == 1 and (side, targets[0]) in vacant:
            by_marker[targets[0]].append(canon)
    for (vacant_side, survivor), link in vacant.items():
        if vacant_side != side or survivor in by_marker or link.status != "active":
            continue  # a tombstone's survivor stays unpaired unless a marker names it
        target = obs.records(other)[survivor]
        for canon in unlinked:
            if not marker_targets(canon, side, app_id) and any(
                    canon.match_keys.get(rule, frozenset()) & target.match_keys.get(rule, frozenset())
                    for rule in match_on):
                by_rule[survivor].append(canon)
    out = {t: ("marker", c) for t, c in by_marker.items()}
    out.update({t: ("rule", c) for t, c in by_rule.items()})
    return out


def find_takeovers(
    links: Iterable[LinkState], obs: Observation, app_id: str, match_on: Sequence[str] = (),
) -> Takeovers:
    """Unlinked records that take the place of a link's vanished record beside its survivor.

    The evidence must be unambiguous: the link's record on the claimer's side is gone
    (or the link is a tombstone whose deleted side is the claimer's); the claimer is the
    only unlinked record naming the survivor by its join marker (or, with no marker
    anywhere, the only one sharing a match key with an active link's survivor) and
    claims no other survivor; and the survivor's own marker names nothing but the
    claimer or records that no longer exist. Where several records claim one survivor by
    marker, or the survivor names another live record, each claimer is reported and the
    link is left as it is (nothing is deleted while the evidence is disputed); an
    ambiguous claim by match rule alone is no evidence, and the link is planned as usual.
    """
    links = list(links)
    result = Takeovers()
    vacant = vacancies(links, obs)
    for side, other in OTHER.items():
        linked_ids = {rid for link in links if (rid := link.id_on(side))}
        claims = _claims(side, vacant, obs, linked_ids, app_id, match_on)
        named_by: dict[str, set[str]] = defaultdict(set)
        for canon in obs.records(side).values():
            for target_id in marker_targets(canon, side, app_id):
                named_by[target_id].add(canon.id)
        claimed_by: dict[str, int] = defaultdict(int)
        for _, claimers in claims.values():
            for canon in claimers:
                claimed_by[canon.id] += 1
        for survivor, (how, claimers) in sorted(claims.items()):
            link = vacant[(side, survivor)]
            gone = link.id_on(side) or "(deleted)"
            ids = sorted(c.id for c in claimers)
            target = obs.records(other)[survivor]
            rivals = [rid for rid in marker_targets(target, other, app_id)
                      if rid not in ids and record_state(rid, obs, side) != "gone"]
            # A record of the claimer's side that is not a claimer (a linked one, say the survivor
            # of a Cloze merge that kept the loser's App Link) and still names the survivor.
            namers = sorted(rid for rid in named_by[survivor] if rid not in ids)
            if len(claimers) > 1 or claimed_by[claimers[0].id] > 1 or rivals or namers:
                if how == "rule":
                    continue  # a shared e-mail alone is weak evidence: the link's delete goes ahead as usual
                result.contested.add(link.id)
                if rivals:
                    why = f"whose own join marker names {side} record {rivals[0]}; clear the wrong marker"
                elif namers:
                    why = f"which {side} record {namers[0]} names too; clear the wrong marker"
                else:
                    why = f"claimed by {', '.join(ids)}; merge the duplicates"
                for rid in ids:
                    result.disputed.add((side, rid))
                    result.errors.append(PlanError(
                        side, rid, f"names by {how} {other} record {survivor}, whose linked {side} record {gone} "
                                   f"is gone, {why}", "marker_collision"))
                continue
            own = vacant.get((other, claimers[0].id))
            released = own if own is not None and own.status == "active" and own.id != link.id else None
            result.found.append(Takeover(link, side, claimers[0], target, released))
    return result


# -- 1. join markers ------------------------------------------------------------------


@dataclass
class Joined:
    """Pairs found, records held back (per side) and why."""

    pairs: list[tuple[Canon, Canon]] = field(default_factory=list)
    blocked: dict[Side, set[str]] = field(default_factory=lambda: {"cloze": set(), "external": set()})
    errors: list[PlanError] = field(default_factory=list)


def _marker_error(side: Side, rid: str, verdict: MarkerVerdict, targets: Sequence[str], app_id: str,
                  linked_to: str | None) -> PlanError | None:
    problem = view(side).marker.problem(verdict, targets, app_id, linked_to)
    return PlanError(side, rid, problem.message, problem.code) if problem is not None else None


def join_by_markers(
    free: Mapping[Side, Mapping[str, Canon]],
    linked: Mapping[Side, Mapping[str, LinkState]],
    obs: Observation,
    app_id: str,
) -> Joined:
    """Pair unlinked records through their join markers; Cloze's App Links are read first.

    A record whose marker names a record not seen this run (an incremental run) is held
    back silently: the next full run decides.
    """
    out = Joined()
    left: dict[Side, dict[str, Canon]] = {side: dict(records) for side, records in free.items()}
    for side in SIDES:
        other = OTHER[side]
        for canon in sorted(left[side].values(), key=lambda r: r.id):
            targets = marker_targets(canon, side, app_id)
            verdict = marker_verdict(targets, free=left[other], linked=linked[other],
                                     known_gone=obs.gone(other), complete=obs.complete)
            if verdict is None:
                continue
            if verdict == "pair":
                mate = left[other].pop(targets[0])
                left[side].pop(canon.id)
                out.pairs.append(ordered(side, canon, mate))
                continue
            out.blocked[side].add(canon.id)
            link = linked[other].get(targets[0])
            error = _marker_error(side, canon.id, verdict, targets, app_id, link.id_on(side) if link else None)
            if error is not None:
                out.errors.append(error)
    return out


# -- 2. match rules -------------------------------------------------------------------


@dataclass
class Matched:
    pairs: list[tuple[Canon, Canon]] = field(default_factory=list)
    blocked_cloze: set[str] = field(default_factory=set)
    blocked_external: set[str] = field(default_factory=set)
    errors: list[PlanError] = field(default_factory=list)


def key_owners(records: Iterable[Canon], rule: str) -> dict[str, str]:
    """Match key -> id of a record holding it (the last one wins), for records already linked."""
    owners: dict[str, str] = {}
    for canon in records:
        for key in canon.match_keys.get(rule, ()):
            owners[key] = canon.id
    return owners


def match_by_rule(
    rule: str,
    free_cloze: Mapping[str, Canon],
    free_external: Mapping[str, Canon],
    blocked_cloze: Collection[str],
    blocked_external: Collection[str],
    linked_external_keys: Mapping[str, str],
) -> Matched:
    """Pair free records that share a ``rule`` key with exactly one record on each side.

    Ambiguity holds every record involved back (and is reported): more than one
    candidate, another free Cloze record with the same key, or a candidate already held
    back. A Cloze record whose key belongs only to an already linked external record is
    a likely duplicate and is held back too.
    """
    out = Matched()
    free_e = dict(free_external)
    index: dict[str, set[str]] = defaultdict(set)
    for e in free_external.values():
        for key in e.match_keys.get(rule, ()):
            index[key].add(e.id)
    reverse: dict[str, set[str]] = defaultdict(set)
    for c in free_cloze.values():
        for key in c.match_keys.get(rule, ()):
            reverse[key].add(c.id)
    held_c, held_e = set(blocked_cloze), set(blocked_external)
    for c in sorted(free_cloze.values(), key=lambda r: r.id):
        if c.id in held_c:
            continue
        keys = c.match_keys.get(rule, frozenset())
        everyone = set().union(*(index.get(k, set()) for k in keys))
        candidates = {x for x in everyone if x in free_e and x not in held_e}
        if everyone & held_e:
            # A candidate is already held back as ambiguous: creating this record would duplicate it.
            held_c.add(c.id)
            out.errors.append(PlanError("cloze", c.id, f"matches by {rule} a record held back as ambiguous; "
                                                       f"merge the duplicates", "ambiguous_match"))
            continue
        clash = sorted({linked_external_keys[k] for k in keys if k in linked_external_keys})
        if clash and not candidates:
            held_c.add(c.id)
            out.errors.append(PlanError("cloze", c.id, f"matches by {rule} external record {clash[0]}, which is "
                                                       f"already linked to another Cloze record (a duplicate?)",
                                        "duplicate"))
            continue
        if not candidates:
            continue
        rivals = set().union(*(reverse.get(k, set()) for k in keys)) - {c.id}
        for eid in candidates:
            for k in free_external[eid].match_keys.get(rule, ()):
                rivals |= reverse.get(k, set()) - {c.id}
        if len(candidates) > 1 or rivals:
            held_c.add(c.id)
            held_c.update(rivals)
            held_e.update(candidates)
            for rival in sorted(rivals):
                out.errors.append(PlanError("cloze", rival, f"shares its {rule} with Cloze record {c.id}; "
                                                            f"merge the duplicates", "ambiguous_match"))
            who = ", ".join(sorted(candidates))
            out.errors.append(PlanError("cloze", c.id, f"matches by {rule} more than one record ({who}; other "
                                                       f"Cloze records: {len(rivals)}); merge the duplicates",
                                        "ambiguous_match"))
            # Each record held back says so itself: once the Cloze record is settled (linked,
            # merged), the next run reads it again through its own open error.
            why = (f"which matches more than one record ({who})" if len(candidates) > 1
                   else f"which shares it with Cloze record {', '.join(sorted(rivals))}")
            for eid in sorted(candidates):
                out.errors.append(PlanError("external", eid, f"matches by {rule} Cloze record {c.id}, {why}; "
                                                             f"merge the duplicates", "ambiguous_match"))
            continue
        [eid] = candidates
        out.pairs.append((c, free_e.pop(eid)))
    out.blocked_cloze = held_c - set(blocked_cloze)
    out.blocked_external = held_e - set(blocked_external)
    return out


def linked_clashes(
    rule: str,
    free_external: Mapping[str, Canon],
    blocked_external: Collection[str],
    linked_cloze_keys: Mapping[str, str],
) -> list[PlanError]:
    """Free external records whose ``rule`` key belongs to an already linked Cloze record (a duplicate?)."""
    errors = []
    for e in sorted(free_external.values(), key=lambda r: r.id):
        if e.id in blocked_external:
            continue
        clash = sorted({linked_cloze_keys[k] for k in e.match_keys.get(rule, ()) if k in linked_cloze_keys})
        if clash:
            errors.append(PlanError("external", e.id, f"matches by {rule} Cloze record {clash[0]}, which is already "
                                                      f"linked to another external record (a duplicate?)", "duplicate"))
    return errors


# -- 3. creates -----------------------------------------------------------------------


def held_since(hold: Mapping[tuple[str, str], int], side: Side, canon: Canon) -> bool:
    """Whether ``canon``'s last create was merged away and it has not changed since."""
    since = hold.get((side, canon.id))
    return since is not None and (canon.modified_at or 0) <= since


def creatable(
    records: Mapping[str, Canon],
    side: Side,
    mapping: EntityMapping,
    blocked: Collection[str],
    hold: Mapping[tuple[str, str], int],
) -> list[Canon]:
    """Unlinked records of ``side`` that may be created on the other side, by id."""
    if not {"cloze": mapping.create_in_external, "external": mapping.create_in_cloze}[side]:
        return []
    return [c for c in sorted(records.values(), key=lambda r: r.id)
            if c.id not in blocked and passes_filters(c, mapping) and not held_since(hold, side, c)]


def twins(candidates: Sequence[Canon], side: Side, merge_keys: Collection[str]) -> tuple[set[str], list[PlanError]]:
    """Records about to be created that share a value of a ``merge_keys`` field with another one.

    The side they would be created on merges a new record into one that holds the same
    value of one of those fields, so two such records would become one, mixing their
    fields: both wait for an operator instead.
    """
    owners: dict[tuple[str, str], list[str]] = defaultdict(list)
    for canon in candidates:
        for fname in sorted(merge_keys):
            value = canon.values.get(fname)
            for key in sorted(value) if isinstance(value, frozenset) else ():
                owners[(fname, key)].append(canon.id)
    found: dict[str, tuple[str, str, list[str]]] = {}
    for (fname, key), ids in owners.items():
        if len(ids) > 1:
            for rid in ids:
                found.setdefault(rid, (fname, key, ids))
    errors = []
    for rid, (fname, key, ids) in sorted(found.items()):
        others = ", ".join(i for i in ids if i != rid)
        errors.append(PlanError(side, rid, f"shares {fname.removesuffix('s')} {key!r} with {others} on the same side; "
                                           f"merge the duplicates before they are synced", "duplicate_on_side"))
    return set(found), errors
