"""Creates, updates and deletes, one :class:`WriteResult` per request, never an exception per record.

Edit conflicts. Every read remembers each record's ``_timestamp`` (its version).
An update reads the record afresh and applies only the requested changes to what it
holds *now* (set fields as additions/removals, a person's first or last name on top
of the current name), writing with the fresh version. A field update whose record
changed after the caller read it (another version than the one remembered, or a
change time after ``seen_modified_at``, which also covers edits of contact
mechanisms) is not written: it is answered ``CHANGED_SINCE_READ`` with the record as
it is now, so the caller merges both edits and a change to the same field becomes a
conflict instead of a silent overwrite. If the record changes between the update's
own read and its write, Tryton itself refuses the write (ConcurrencyException) and
the answer is the same. Updates that only stamp the join marker are retried on the
fresh record instead: they overwrite nothing anyone edits.

Creates first look for a record carrying the request's Cloze identity, so a create
repeated after a crash returns the record made the first time
(``details["existing"] = True``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from connectors.model import CHANGED_SINCE_READ, CreateRequest, Entity, Record, UpdateRequest, WriteResult
from connectors.tryton import opportunities as opp
from connectors.tryton import parties as pty
from connectors.tryton.client import ConcurrentEdit, TrytonClient, TrytonRejected
from connectors.tryton.opportunities import OPEN_STATES, Opportunities
from connectors.tryton.parties import Parties
from connectors.tryton.settings import TrytonSettings

MAX_ATTEMPTS = 5
VERSIONS_KEPT = 100_000


class Versions:
    """The last ``_timestamp`` read per record (bounded: the oldest are forgotten first)."""

    def __init__(self, limit: int = VERSIONS_KEPT) -> None:
        self.limit = limit
        self._stamps: OrderedDict[tuple[str, int], str] = OrderedDict()

    def remember(self, model: str, rows: Sequence[Mapping[str, Any]]) -> None:
        for row in rows:
            stamp = row.get("_timestamp")
            if stamp is not None:
                key = (model, int(row["id"]))
                self._stamps[key] = str(stamp)
                self._stamps.move_to_end(key)
        while len(self._stamps) > self.limit:
            self._stamps.popitem(last=False)

    def get(self, model: str, record_id: int) -> str | None:
        return self._stamps.get((model, record_id))


def failed(key: str, message: str, *, code: str, record_id: str | None = None, retryable: bool = False,
           **details: Any) -> WriteResult:
    return WriteResult(key=key, ok=False, id=record_id, error=message, code=code, retryable=retryable,
                       details=details)


class Writer:
    """Writes of parties (person, company) and opportunities (project)."""

    def __init__(self, client: TrytonClient, settings: TrytonSettings, parties: Parties,
                 opportunities: Opportunities, versions: Versions,
                 to_record: Callable[[Entity, Mapping[str, Any]], Record | None],
                 find_many: Callable[[Entity, Sequence[str]], dict[str, Record]]) -> None:
        self.client = client
        self.settings = settings
        self.parties = parties
        self.opportunities = opportunities
        self.versions = versions
        self.to_record = to_record
        self.find_many = find_many

    @staticmethod
    def model(entity: Entity) -> str:
        return opp.MODEL if entity == "project" else pty.MODEL

    def read(self, entity: Entity, record_id: int) -> dict[str, Any] | None:
        rows = (self.opportunities if entity == "project" else self.parties).read([record_id])
        self.versions.remember(self.model(entity), rows)
        return rows[0] if rows else None

    def _result(self, entity: Entity, key: str, record_id: int) -> WriteResult:
        return self._results(entity, [(key, record_id)])[0]

    def _results(self, entity: Entity, done: Sequence[tuple[str, int]]) -> list[WriteResult]:
        """Successful results with each record as Tryton now holds it (one read for all)."""
        rows = (self.opportunities if entity == "project" else self.parties).read([rid for _, rid in done])
        self.versions.remember(self.model(entity), rows)
        by_id = {int(row["id"]): row for row in rows}
        out = []
        for key, rid in done:
            row = by_id.get(rid)
            record = self.to_record(entity, row) if row is not None else None
            out.append(WriteResult(key=key, ok=True, id=str(rid), record=record))
        return out

    # -- create -----------------------------------------------------------------------------

    def create(self, entity: Entity, requests: Sequence[CreateRequest]) -> list[WriteResult]:
        results: dict[int, WriteResult] = {}
        pending: list[tuple[int, CreateRequest, dict[str, Any], list[tuple[str, str]]]] = []
        known = self.find_many(entity, [r.cloze_ref for r in requests if r.cloze_ref])
        for i, req in enumerate(requests):
            if req.cloze_ref:
                existing = known.get(req.cloze_ref)
                if existing is not None:
                    results[i] = WriteResult(key=req.key, ok=True, id=existing.id, record=existing,
                                             details={"existing": True})
                    continue
            try:
                values, steps = self._create_values(entity, req)
            except ValueError as exc:
                results[i] = failed(req.key, str(exc), code="BadValue")
                continue
            pending.append((i, req, values, steps))
        ids = self._create_rows(entity, [p[2] for p in pending])
        done: list[tuple[int, str, int]] = []
        for (i, req, _, steps), outcome in zip(pending, ids):
            if isinstance(outcome, TrytonRejected):
                results[i] = failed(req.key, outcome.message, code=str(outcome.code or "Rejected"))
                continue
            try:
                for button, _state in steps:
                    self.client.button(opp.MODEL, button, [outcome])
            except TrytonRejected as exc:
                results[i] = failed(req.key, f"created, but the stage was refused: {exc.message}",
                                    code=str(exc.code or "Rejected"), record_id=str(outcome))
                continue
            done.append((i, req.key, outcome))
        for (i, _, _), result in zip(done, self._results(entity, [(key, rid) for _, key, rid in done])):
            results[i] = result
        return [results[i] for i in range(len(requests))]

    def _create_values(self, entity: Entity, req: CreateRequest) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        if entity != "project":
            return self.parties.create_values(entity, req.fields, req.cloze_ref), []
        values = self.opportunities.create_values(req.fields, req.cloze_ref)
        stage = req.fields.get("stage")
        steps = self.opportunities.stage_steps({"state": "lead"}, stage if isinstance(stage, str) else None)
        if any(button == "opportunity" for button, _ in steps) and not (values.get("party") and values.get("employee")):
            raise ValueError("Tryton needs a party and an employee (employee_id) before an opportunity "
                             "leaves the 'lead' state")
        return values, steps

    def _create_rows(self, entity: Entity, values: list[dict[str, Any]]) -> list[int | TrytonRejected]:
        """Create in one call; if Tryton refuses the batch (nothing was created), one by one."""
        if not values:
            return []
        model = self.model(entity)
        try:
            return list(self.client.create(model, values))
        except TrytonRejected as exc:
            if len(values) == 1:
                return [exc]
        out: list[int | TrytonRejected] = []
        for vals in values:
            try:
                out.append(self.client.create(model, [vals])[0])
            except TrytonRejected as exc:
                out.append(exc)
        return out

    # -- update -----------------------------------------------------------------------------

    def update(self, entity: Entity, requests: Sequence[UpdateRequest]) -> list[WriteResult]:
        return [self._update_one(entity, req) for req in requests]

    def _update_one(self, entity: Entity, req: UpdateRequest) -> WriteResult:
        try:
            record_id = int(req.id)
        except ValueError:
            return failed(req.id, f"{req.id!r} is not a Tryton record id", code="NotFound")
        model = self.model(entity)
        expected = self.versions.get(model, record_id)
        guarded = bool(req.fields)  # a marker-only update overwrites nothing anyone edits
        for _attempt in range(MAX_ATTEMPTS):
            row = self.read(entity, record_id)
            if row is None or (entity != "project" and self.parties.kind(row) != entity):
                return failed(req.id, f"Tryton has no {entity} {record_id}", code="NotFound", record_id=req.id)
            fresh = str(row.get("_timestamp"))
            if guarded and self._changed_since(entity, row, expected, req.seen_modified_at):
                return self._changed(entity, req.id, row)
            try:
                self._apply(entity, record_id, row, req, fresh)
            except ConcurrentEdit:
                if guarded:
                    row = self.read(entity, record_id)
                    if row is not None:
                        return self._changed(entity, req.id, row)
                continue
            except TrytonRejected as exc:
                return failed(req.id, exc.message, code=str(exc.code or "Rejected"), record_id=req.id)
            except ValueError as exc:
                return failed(req.id, str(exc), code="BadValue", record_id=req.id)
            return self._result(entity, req.id, record_id)
        return failed(req.id, f"the record kept changing during {MAX_ATTEMPTS} attempts", code="ConcurrencyException",
                      record_id=req.id, retryable=True, concurrent_edit=True)

    def _changed_since(self, entity: Entity, row: Mapping[str, Any], expected: str | None,
                       seen_modified_at: int | None) -> bool:
        """Whether ``row`` changed after the caller's read (by version, or by change time)."""
        if expected is not None and expected != str(row.get("_timestamp")):
            return True
        if seen_modified_at is None:
            return False
        record = self.to_record(entity, row)
        return record is not None and (record.modified_at or 0) > seen_modified_at

    def _changed(self, entity: Entity, key: str, row: Mapping[str, Any]) -> WriteResult:
        return WriteResult(key=key, ok=False, id=key, record=self.to_record(entity, row), code=CHANGED_SINCE_READ,
                           retryable=True, error=f"Tryton {entity} {key} was changed by someone else after it was read",
                           details={"concurrent_edit": True})

    def _apply(self, entity: Entity, record_id: int, row: Mapping[str, Any], req: UpdateRequest, stamp: str) -> None:
        if entity != "project":
            values = self.parties.update_values(entity, row, req.fields, cloze_ref=req.cloze_ref,
                                                clear_ref=req.clear_cloze_ref)
            if values:
                self.client.write(pty.MODEL, record_id, values, timestamp=stamp)
            return
        values = self.opportunities.values(row, req.fields)
        current_ref = self.opportunities.cloze_ref(row)
        if req.clear_cloze_ref and current_ref is not None:
            values["reference"] = None  # a reference someone typed (no prefix) is left alone
        elif req.cloze_ref is not None and current_ref != req.cloze_ref:
            values["reference"] = self.settings.cloze_ref_prefix + req.cloze_ref
        stage = req.fields.get("stage")
        steps = self.opportunities.stage_steps(row, stage if isinstance(stage, str) else None)
        self._write_opportunity(record_id, row, values, steps, stamp)

    def _write_opportunity(self, record_id: int, row: Mapping[str, Any], values: dict[str, Any],
                           steps: list[tuple[str, str]], stamp: str) -> None:
        """Field values are writable only in open states: press buttons up to the first open
        state on the way, write, then press the rest."""
        states = [str(row.get("state") or "lead"), *(state for _, state in steps)]
        split = next((k for k, state in enumerate(states) if state in OPEN_STATES), len(steps))
        before, after = steps[:split], steps[split:]
        if any(button == "opportunity" for button, _ in after) and not row.get("employee"):
            employee = self.opportunities.defaults()["employee"]
            if employee:
                values.setdefault("employee", employee)
        for button, _ in before:
            self.client.button(opp.MODEL, button, [record_id])
        if values:
            if before:  # our own button presses moved the version on
                fresh = self.read("project", record_id)
                stamp = str((fresh or {}).get("_timestamp"))
            self.client.write(opp.MODEL, record_id, values, timestamp=stamp)
        for button, _ in after:
            self.client.button(opp.MODEL, button, [record_id])

    # -- delete -----------------------------------------------------------------------------

    def delete(self, entity: Entity, ids: Sequence[str]) -> list[WriteResult]:
        return [self._delete_one(entity, rid) for rid in ids]

    def _delete_one(self, entity: Entity, rid: str) -> WriteResult:
        try:
            record_id = int(rid)
        except ValueError:
            return failed(rid, f"{rid!r} is not a Tryton record id", code="NotFound")
        row = self.read(entity, record_id)
        if row is None:
            return WriteResult(key=rid, ok=True, id=rid, details={"already_gone": True})
        try:
            if entity == "project":
                steps = opp.path(str(row.get("state")), "cancelled") or []
                for button, _ in steps:
                    self.client.button(opp.MODEL, button, [record_id])
                self.client.delete(opp.MODEL, [record_id])
            elif self.settings.delete_mode == "archive":
                if row.get("active", True):
                    self.client.write(pty.MODEL, record_id, {"active": False})
            else:
                self.client.delete(pty.MODEL, [record_id])
        except TrytonRejected as exc:
            return failed(rid, exc.message, code=str(exc.code or "Rejected"), record_id=rid)
        return WriteResult(key=rid, ok=True, id=rid, details={"mode": "archive" if entity != "project"
                                                              and self.settings.delete_mode == "archive" else "delete"})

