"""Applying a plan: writes through the connectors, then the state, batch by batch.

Order inside a batch: the side is written first, the state database after, in
one transaction per batch; so a crash between the two leaves a side ahead of
the state, which the next run heals without writing again (the values already
agree) and without duplicating (creates carry their join marker and are
journalled before the call).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlmodel import Session

from connectors.base import Connector
from connectors.model import (
    CHANGED_SINCE_READ,
    SIDES,
    AppLink,
    CreateRequest,
    Entity,
    SetPatch,
    Side,
    UpdateRequest,
    WriteResult,
)
from connectors.values import Value, to_json
from state.store import NewLink, StateStore, dumps
from syncd.core.actions import CREATE_ON, DELETE_ON
from syncd.core.label import record_label
from syncd.core.mapping import EntityMapping, to_canonical, to_side
from syncd.core.plan import Action, EntityPlan
from syncd.core.refs import UNRESOLVED, Wanted, lookups_to_write, settle_pending
from syncd.core.sides import OTHER, ordered
from syncd.engine.markers import WireMarker, wire_markers
from syncd.engine.relations import prefetch, prefetch_read
from syncd.engine.report import RunReport
from syncd.progress import NullProgress, Progress

REFUSED = "refused_field"  # record-error code: the side applied the write but refused this field

log = structlog.get_logger("syncd.engine")


def _empty(value: Value) -> bool:
    return value is None or value == "" or value == frozenset()


def base_json(values: Mapping[str, Value]) -> dict[str, Any]:
    return {k: to_json(v) for k, v in values.items()}


@dataclass
class Context:
    pair: str
    app_id: str
    app_name: str
    app_url: Callable[[Entity, str], str]
    conns: Mapping[Side, Connector]
    store: StateStore
    report: RunReport
    run_id: str
    stop: threading.Event
    batch_size: int = 100
    on_batch: Callable[[], None] = lambda: None
    progress: Progress = field(default_factory=NullProgress)
    applied_conflicts: list[int] = field(default_factory=list)


class Executor:
    """Applies one entity's plan."""

    def __init__(self, ctx: Context, entity: Entity, mapping: EntityMapping,
                 resolutions: Mapping[int, Mapping[str, tuple[int, Any]]]) -> None:
        self.ctx = ctx
        self.entity = entity
        self.mapping = mapping
        self.resolution_ids = {lid: {f: cid for f, (cid, _) in fields.items()} for lid, fields in resolutions.items()}
        # Records with an error recorded in this run: a write of their other fields must not mark it resolved.
        self.flagged: set[tuple[str, str]] = set()
        # Links whose write changed a field the sync did not send (a side effect, such as Cloze
        # deriving a person's company name from a new company relation): read again and
        # synced once more before the run ends, so the run leaves both sides equal.
        self.settle: set[tuple[str, str]] = set()
        # Read once, and before any write: checking every written link would scan the table per link,
        # and a read inside a write's transaction opens a second session beside it (on an in-memory
        # state, one connection per thread: its end rolled the write back).
        self.open_conflicts = ctx.store.open_conflict_links(ctx.pair)
        self.markers: Mapping[Side, WireMarker] = wire_markers(self._app_link)
        # A batch writes to both sides, so it is no larger than either side takes in one call.
        self.batch_size = min([ctx.batch_size, *(n for conn in ctx.conns.values()
                                                 if (n := conn.capabilities(entity).write_batch))])
        self.labels: dict[tuple[str, str], str | None] | None = None  # learnt from the plan at the first error
        self.plan: EntityPlan | None = None

    # -- helpers -------------------------------------------------------------------

    def _count(self, side: Side, op: str, n: int = 1) -> None:
        if n:
            self.ctx.report.writes[f"{side}.{self.entity}.{op}"] += n

    def _error(self, s: Session, *, side: Side, op: str, record_id: str, source_side: Side, message: str,
               code: str | None = None, field_name: str | None = None) -> None:
        self.ctx.report.record_errors += 1
        self.flagged.add((source_side, record_id))
        if self.labels is None:
            self.labels = self._learn_labels(self.plan) if self.plan is not None else {}
        label = self.labels.get((source_side, record_id))
        log.warning("record_error", pair=self.ctx.pair, entity=self.entity, side=side, op=op,
                    record_id=record_id, record=label, field=field_name, code=code, error=message)
        StateStore.record_error(s, run_id=self.ctx.run_id, pair=self.ctx.pair, entity=self.entity, side=side,
                                op=op, record_id=record_id, source_side=source_side, field=field_name,
                                code=code, message=message, label=label)

    def _learn_labels(self, plan: EntityPlan) -> dict[tuple[str, str], str | None]:
        """Who each planned record is, by side and id, for record errors (``syncd errors list``).

        Built at the first error only: most runs have none, and a large plan's labels take memory.
        """
        labels: dict[tuple[str, str], str | None] = {}
        for a in plan.actions:
            if a.kind == "sync":
                name = record_label(self.entity, a.seen_cloze) or record_label(self.entity, a.seen_external)
                for side in SIDES:
                    if rid := a.id_on(side):
                        labels[(side, rid)] = name
                continue
            for side in SIDES:  # a create: labelled by the values of its source record
                if a.kind == CREATE_ON[OTHER[side]] and (rid := a.id_on(side)):
                    labels[(side, rid)] = record_label(self.entity, a.values)
        return labels

    def _resolve(self, s: Session, side: Side, record_ids: list[str], ops: tuple[str, ...]) -> None:
        """Close the records' open errors, except for records that got a new one in this run."""
        StateStore.resolve_errors(s, self.ctx.pair, self.entity, side,
                                  [r for r in record_ids if (side, r) not in self.flagged], ops)

    def _app_link(self, external_id: str) -> AppLink:
        return AppLink(self.ctx.app_id, external_id, self.ctx.app_name, self.ctx.app_url(self.entity, external_id))

    def _prefetch(self, wanted: Wanted) -> None:
        prefetch(self.mapping, wanted)

    def _prefetch_readbacks(self, side: Side, results: Iterable[WriteResult]) -> None:
        prefetch_read(self.mapping, side, [r.record for r in results if r.ok and r.record is not None])

    def _readback(self, side: Side, result: WriteResult, written: Mapping[str, Value],
                  expected: dict[str, Value]) -> tuple[dict[str, Value], bool]:
        """What the side holds now for the fields written, and whether the write had side effects.

        Values of written fields come from the returned record when there is one (the side's
        own spelling of the value becomes that side's base, so it is not echoed back). A field
        that was *not* written but comes back different from ``expected`` (what the side held
        before the write) is a side effect; its base is left alone, so syncing again sees it
        as a change.
        """
        if result.record is None:
            return dict(written), False
        canon = to_canonical(result.record, self.mapping, side)
        out = dict(written)
        out.update({k: v for k, v in canon.values.items() if k in written})
        effects = False
        for name, sent in written.items():
            held = canon.values.get(name)
            if isinstance(sent, frozenset) and isinstance(held, frozenset) and held > sent:
                # More than was written came back: the write landed on a record that held values
                # of its own (a create merged into an existing record). Those values are the
                # side's, not agreed ones: the base keeps what was written, and syncing again
                # carries the rest to the other side.
                out[name] = sent
                effects = True
        for rule in self.mapping.rules:
            name = rule.name
            if name in written or name in canon.problems or rule.key(side) not in result.record.fields:
                continue  # only what the reply actually holds can show a side effect
            if canon.values.get(name) != expected.get(name) and not (_empty(canon.values.get(name)) and _empty(expected.get(name))):
                effects = True
        return out, effects

    def _rule_name(self, side: Side, key: str) -> str:
        """The canonical field a side's field key maps to (the key itself when no rule names it)."""
        return next((r.name for r in self.mapping.rules if r.key(side) == key), key)

    def _problem_code(self, name: str) -> str:
        """The record-error code of a field that could not be written."""
        return UNRESOLVED if name in self.mapping.reference_targets else "unmapped_value"

    def _base(self, values: Mapping[str, Value]) -> dict[str, Any]:
        """A link's base as stored: references to records linked by now under their canonical ids."""
        if self.mapping.references is not None:
            values = settle_pending(values, self.mapping.reference_targets, self.mapping.references)
        return base_json(values)

    def _batches(self, actions: Sequence[Action]) -> list[Sequence[Action]]:
        size = self.batch_size
        return [actions[i : i + size] for i in range(0, len(actions), size)]

    # -- entry ---------------------------------------------------------------------

    def apply(self, plan: EntityPlan) -> bool:
        """Apply the plan; False when stopped before the end."""
        self.plan, self.labels = plan, None
        with self.ctx.store.transaction() as s:
            for side, rid, fname, message in plan.field_problems:
                self._error(s, side=side, op="read", record_id=rid, source_side=side, message=message,
                            code="bad_value", field_name=fname)
            for err in plan.errors:
                self._error(s, side=err.side, op="match", record_id=err.record_id, source_side=err.side,
                            message=err.message, code=err.code)
        groups: list[tuple[Callable[[Sequence[Action]], None], list[Action]]] = [
            (self._apply_syncs, [a for a in plan.actions if a.kind == "sync"]),
            (lambda b: self._apply_creates("external", b), [a for a in plan.actions if a.kind == "create_external"]),
            (lambda b: self._apply_creates("cloze", b), [a for a in plan.actions if a.kind == "create_cloze"]),
            (self._apply_removals, [a for a in plan.actions if a.kind in ("delete_cloze", "delete_external", "unlink", "forget")]),
        ]
        for handler, actions in groups:
            for batch in self._batches(actions):
                if self.ctx.stop.is_set():
                    return False
                self.ctx.on_batch()  # raises if the run lost its lease: no write after that
                handler(batch)
                self.ctx.progress.advance(len(batch))
        return True

    # -- updates of linked (or newly matched) pairs -----------------------------------

    def _apply_syncs(self, batch: Sequence[Action]) -> None:
        requests: dict[Side, list[UpdateRequest]] = {side: [] for side in SIDES}
        problems: dict[int, list[tuple[Side, str, str, str]]] = {}
        written: dict[int, dict[Side, dict[str, Value]]] = {}
        if self.mapping.references is not None:
            for side in SIDES:
                self._prefetch(lookups_to_write([a.merge.patch(side) for a in batch if a.merge is not None],
                                                self.mapping.reference_targets, side))
        for i, action in enumerate(batch):
            assert action.merge is not None
            ids = _pair_ids(action)
            written[i] = {}
            for side in SIDES:
                patch = action.merge.patch(side)
                fields, bad = to_side(patch, self.mapping, side)
                for fname, message in bad.items():
                    problems.setdefault(i, []).append((side, fname, message, self._problem_code(fname)))
                written[i][side] = {k: (v.result if isinstance(v, SetPatch) else v)
                                    for k, v in patch.items() if k not in bad}
                stamp = ids[OTHER[side]] if action.needs_marker(side) else None
                drop = action.stale_marker(side)
                if fields or stamp or drop:
                    # ``seen_modified_at`` lets the side refuse to overwrite an edit made after this run read it.
                    requests[side].append(self.markers[side].update(
                        ids[side], fields, names=stamp, replacing=drop,
                        seen_modified_at=action.seen_at(side) if fields else None))
        results: dict[Side, dict[str, WriteResult]] = {}
        for side, reqs in requests.items():
            if reqs:
                out = self.ctx.conns[side].update(self.entity, reqs)
                results[side] = {r.key: r for r in out}
                self._count(side, "update", sum(1 for r in out if r.ok))
        done: dict[Side, list[str]] = {side: [] for side in SIDES}
        for side, by_key in results.items():
            self._prefetch_readbacks(side, by_key.values())
        with self.ctx.store.transaction() as s:
            for i, action in enumerate(batch):
                assert action.merge is not None
                ids = _pair_ids(action)
                merge = action.merge
                failed = False
                bases: dict[Side, dict[str, Value]] = {side: dict(merge.base(side)) for side in SIDES}
                for side in SIDES:
                    res = results.get(side, {}).get(ids[side])
                    if res is None:
                        continue
                    if not res.ok and res.code == CHANGED_SINCE_READ:
                        # Someone edited the record between this run's read and its write: nothing of
                        # theirs was overwritten. The bases stay, and the settle pass reads both sides
                        # again, so the merge sees both edits (a conflict if they touch one field).
                        failed = True
                        self.settle.add((ids["cloze"], ids["external"]))
                        log.warning("write_race", pair=self.ctx.pair, entity=self.entity, side=side,
                                    record_id=ids[side], cloze_id=action.cloze_id, external_id=action.external_id)
                    elif not res.ok:
                        failed = True
                        self._error(s, side=side, op="update", record_id=ids[OTHER[side]], source_side=OTHER[side],
                                    message=res.error or "rejected", code=res.code)
                    else:
                        now, effects = self._readback(side, res, written[i][side], dict(action.seen(side)))
                        bases[side].update(now)
                        if effects:
                            self.settle.add((ids["cloze"], ids["external"]))
                        problems.setdefault(i, []).extend(
                            (side, self._rule_name(side, key), message, REFUSED) for key, message in res.refused.items())
                for side, fname, message, code in problems.get(i, []):
                    self._error(s, side=side, op="update", record_id=ids[OTHER[side]], source_side=OTHER[side],
                                message=message, code=code, field_name=fname)
                    # The field was not written: both its bases stay as they were, so the next run
                    # sees the same change again and tries it again.
                    for held in SIDES:
                        old = action.prior(held)
                        if old is not None and fname in old:
                            bases[held][fname] = old[fname]
                        else:
                            bases[held].pop(fname, None)
                # A failed write keeps the link's base, so the next run retries the same change.
                saved: Mapping[Side, Mapping[str, Value] | None] = (
                    {side: action.prior(side) for side in SIDES} if failed else bases)
                base_c, base_e = saved["cloze"], saved["external"]
                link_id = StateStore.save_link(
                    s, pair=self.ctx.pair, entity=self.entity, app_id=self.ctx.app_id, cloze_id=ids["cloze"],
                    external_id=ids["external"], link_id=action.link_id,
                    base=self._base(base_c) if base_c is not None else None,
                    base_external=self._base(base_e) if base_e is not None else None,
                )
                if not failed:
                    self._record_conflicts(s, action, link_id)
                    for side in SIDES:
                        done[side].append(ids[side])
                    if link_id in self.open_conflicts:
                        settled = [c.field for c in merge.conflicts]
                        converged = [r.name for r in self.mapping.rules if r.name not in settled]
                        StateStore.close_open_conflicts(s, link_id, converged)
            for side, ids_done in done.items():
                # "create" too: a field left out of a create (a reference waiting for its link) is
                # settled once a sync of the link has written it.
                self._resolve(s, side, ids_done, ("update", "read", "match", "link", "create"))

    def _record_conflicts(self, s: Session, action: Action, link_id: int) -> None:
        assert action.merge is not None
        resolved = self.resolution_ids.get(action.link_id or -1, {})
        done = [cid for cid in resolved.values()]
        StateStore.mark_conflicts_applied(s, done)
        for conflict in action.merge.conflicts:
            self.ctx.report.conflicts += 1
            pending = conflict.outcome == "pending"
            if pending:
                self.ctx.report.pending_conflicts += 1
            log.warning("conflict", pair=self.ctx.pair, entity=self.entity, cloze_id=action.cloze_id,
                        external_id=action.external_id, field=conflict.field, base=to_json(conflict.base),
                        cloze=to_json(conflict.cloze), external=to_json(conflict.external),
                        policy=conflict.policy, outcome=conflict.outcome)
            StateStore.record_conflict(
                s, run_id=self.ctx.run_id, pair=self.ctx.pair, entity=self.entity, link_id=link_id,
                cloze_id=action.cloze_id, external_id=action.external_id, field=conflict.field,
                base=dumps(to_json(conflict.base)) if conflict.has_base else None,
                cloze_value=dumps(to_json(conflict.cloze)), external_value=dumps(to_json(conflict.external)),
                policy=conflict.policy, outcome=conflict.outcome, status="open" if pending else "auto",
            )

    # -- creates -------------------------------------------------------------------

    def _apply_creates(self, target: Side, batch: Sequence[Action]) -> None:
        source: Side = OTHER[target]
        conn, source_conn = self.ctx.conns[target], self.ctx.conns[source]
        requests: list[CreateRequest] = []
        payloads: dict[str, dict[str, Value]] = {}
        journal: list[dict[str, Any]] = []
        if self.mapping.references is not None:
            self._prefetch(lookups_to_write([a.values for a in batch], self.mapping.reference_targets, target))
        with self.ctx.store.transaction() as s:
            for action in batch:
                source_id = action.id_on(source)
                assert source_id
                values = {k: v for k, v in action.values.items() if k not in action.source_problems}
                fields, bad = to_side({k: v for k, v in values.items() if v not in (None, frozenset())}, self.mapping, target)
                for fname, message in bad.items():
                    values.pop(fname, None)
                    self._error(s, side=target, op="create", record_id=source_id, source_side=source,
                                message=message, code=self._problem_code(fname), field_name=fname)
                payloads[source_id] = values
                journal.append({"run_id": self.ctx.run_id, "pair": self.ctx.pair, "entity": self.entity,
                                "target_side": target, "source_id": source_id,
                                "replaces_link": action.replaces_link, "base": dumps(self._base(values))})
                requests.append(self.markers[target].create(source_id, fields, source_id))
            StateStore.journal_add_many(s, journal)
        results = conn.create(self.entity, requests)
        self._count(target, "create", sum(1 for r in results if r.ok))
        # A side that merges on create (Cloze matches by e-mail or phone) can land two new
        # records on one existing record; only the first claim is linked, the others are reported.
        merged: dict[str, str] = {}
        claimed: dict[str, str] = {}
        owners = self.ctx.store.counterparts(self.ctx.pair, self.entity, target,
                                             [r.id for r in results if r.ok and r.id])
        for res in results:
            if res.ok and res.id:
                owner = owners.get(res.id)
                if res.id in claimed or (owner is not None and owner != res.key):
                    merged[res.key] = res.id
                else:
                    claimed[res.id] = res.key
        # Stamp the join marker on the source record too, so both systems carry the link. A
        # record re-created elsewhere (its counterpart was deleted while it was edited) drops
        # the marker naming the deleted record in the same call: one join key per pair. (A
        # marker that does not accumulate is replaced by setting it.)
        source_marker = self.markers[source]
        replaced = self.ctx.store.counterparts(
            self.ctx.pair, self.entity, source,
            [rid for a in batch if a.replaces_link is not None and (rid := a.id_on(source))],
        ) if source_marker.accumulates else {}
        marks = [source_marker.update(res.key, {}, names=res.id, replacing=replaced.get(res.key))
                 for res in results if res.ok and res.id and res.key not in merged]
        mark_results = {r.key: r for r in source_conn.update(self.entity, marks)} if marks else {}
        self._count(source, "update", sum(1 for r in mark_results.values() if r.ok))
        by_key = {r.key: r for r in results}
        self._prefetch_readbacks(target, results)
        linked: list[str] = []
        replaced_links: list[int] = []
        new_links: list[NewLink] = []
        with self.ctx.store.transaction() as s:
            for action in batch:
                source_id = action.id_on(source)
                assert source_id
                created = by_key.get(source_id)
                if created is None or not created.ok or not created.id:
                    self._error(s, side=target, op="create", record_id=source_id, source_side=source,
                                message=(created.error if created else None) or "the create returned no id",
                                code=created.code if created else None)
                    continue
                if source_id in merged:
                    self._error(s, side=target, op="create", record_id=source_id, source_side=source,
                                message=f"the {target} side merged this record into {merged[source_id]}, which another "
                                        f"{source} record already owns (they share an e-mail or phone?); merge the "
                                        f"duplicates on the {source} side", code="merged_on_create")
                    continue
                values = payloads[source_id]
                sent = {k: v for k, v in values.items() if not _empty(v)}
                target_base, effects = self._readback(target, created, sent, values)
                target_base = {**values, **target_base}
                for key, message in created.refused.items():
                    # Not agreed: left out of both bases, so the next sync of the link writes it again.
                    fname = self._rule_name(target, key)
                    values.pop(fname, None)
                    target_base.pop(fname, None)
                    self._error(s, side=target, op="create", record_id=source_id, source_side=source,
                                message=message, code=REFUSED, field_name=fname)
                cloze_id, external_id = ordered(source, source_id, created.id)
                if effects:
                    self.settle.add((cloze_id, external_id))
                if action.replaces_link is not None:
                    replaced_links.append(action.replaces_link)
                held = {source: values, target: target_base}  # what each side holds now
                new_links.append(NewLink(cloze_id, external_id, base=self._base(held["cloze"]),
                                         base_external=self._base(held["external"])))
                mark = mark_results.get(source_id)
                if mark is not None and not mark.ok:
                    # Linked in state; the marker is added again on the next run.
                    self._error(s, side=source, op="link", record_id=source_id, source_side=source,
                                message=mark.error or "could not stamp the join marker", code=mark.code)
                linked.append(source_id)
            for link_id in replaced_links:
                StateStore.delete_link(s, link_id)
            StateStore.save_new_links(s, pair=self.ctx.pair, entity=self.entity, app_id=self.ctx.app_id,
                                      links=new_links)
            self._resolve(s, source, linked, ("create", "read", "match"))
            sources = [a.id_on(source) or "" for a in batch]
            StateStore.journal_settle(s, self.ctx.pair, self.entity, target, sources)

    # -- deletes, unlinks, forgets ----------------------------------------------------

    def _apply_removals(self, batch: Sequence[Action]) -> None:
        deletes: dict[Side, list[str]] = {side: [] for side in SIDES}
        unmark: dict[Side, list[UpdateRequest]] = {side: [] for side in SIDES}
        for action in batch:
            for side in SIDES:
                rid = action.id_on(side)
                if action.kind == DELETE_ON[side] and rid:
                    deletes[side].append(rid)
                elif action.kind == "unlink" and action.remove_markers and action.survivor == side and rid:
                    request = self.markers[side].clear(rid, action.id_on(OTHER[side]))
                    if request is not None:
                        unmark[side].append(request)
        results: dict[Side, dict[str, WriteResult]] = {side: {} for side in SIDES}
        for each in SIDES:
            if deletes[each]:
                out = self.ctx.conns[each].delete(self.entity, deletes[each])
                results[each].update({r.key: r for r in out})
                self._count(each, "delete", sum(1 for r in out if r.ok))
            if unmark[each]:
                out = self.ctx.conns[each].update(self.entity, unmark[each])
                results[each].update({r.key: r for r in out})
                self._count(each, "update", sum(1 for r in out if r.ok))
        with self.ctx.store.transaction() as s:
            for action in batch:
                assert action.link_id is not None
                if action.kind == "forget":
                    StateStore.delete_link(s, action.link_id)
                    continue
                kept = action.survivor
                assert kept is not None
                rid = action.id_on(kept)
                outcome = results[kept].get(rid or "")
                if outcome is not None and not outcome.ok:
                    self._error(s, side=kept, op="delete" if action.kind != "unlink" else "link", record_id=rid or "",
                                source_side=kept, message=outcome.error or "rejected", code=outcome.code)
                    continue
                log.info("linked_record_deleted", pair=self.ctx.pair, entity=self.entity, cloze_id=action.cloze_id,
                         external_id=action.external_id, action=action.kind, survivor=kept)
                if action.kind == "unlink":
                    StateStore.tombstone_link(s, action.link_id, OTHER[kept])
                else:
                    StateStore.delete_link(s, action.link_id)


def _pair_ids(action: Action) -> dict[Side, str]:
    """Both ids of a sync action (a sync always has both)."""
    ids = {side: rid for side in SIDES if (rid := action.id_on(side))}
    assert len(ids) == len(SIDES), f"a sync action lacks an id: {action.kind} {action.link_id}"
    return ids
