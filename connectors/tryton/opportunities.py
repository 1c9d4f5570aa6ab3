"""``sale.opportunity`` as projects.

Field map: ``name`` <-> ``description``; ``summary`` <-> ``comment``; ``value`` <->
``amount`` (an exact ``Decimal``); ``close_date`` <-> ``end_date``; ``stage`` <->
``state`` through ``stage_map``; ``people`` / ``companies`` <-> ``party``, by party id
(a person party in ``people``, a company party in ``companies``; an opportunity has one
party, so writing picks the first wanted person, else the first wanted company).
The Cloze identity is kept in ``reference`` as ``cloze_ref_prefix + ref``.

``state`` is read-only in Tryton: a stage is written by pressing the workflow
buttons (``lead``, ``opportunity``, ``convert``, ``lost``, ``cancel``) along the
shortest path. ``won`` follows the sales and cannot be set from outside; such a
write is refused for that record. Tryton keeps the fields of a closed opportunity
(converted, won, lost, cancelled) read-only, so an edit to one is refused too,
unless the same update re-opens it (buttons first, then the fields). Deleting an opportunity cancels it first (Tryton
deletes only cancelled ones).
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.entities import ENTITY_KINDS
from connectors.model import FieldSpec, Record, SetPatch
from connectors.tryton.client import Domain, TrytonClient
from connectors.tryton.cursor import change_time
from connectors.tryton.encoding import epoch_ms
from connectors.tryton.parties import Parties, _escape_like
from connectors.tryton.plain import PlainFields
from connectors.tryton.settings import TrytonSettings
from connectors.tryton.values import set_change
from connectors.values import norm_text

MODEL = "sale.opportunity"
PROJECT_FIELDS = ("name", "summary", "stage", "value", "close_date", "people", "companies")
_STAMPS = ("write_date", "create_date")
READ_FIELDS = (
    "description", "comment", "state", "amount", "end_date", "reference", "party", "employee", "_timestamp",
    *_STAMPS, "party.categories",
)

# (from state, to state) -> button; "won" has no button (it follows the sales).
BUTTONS: Mapping[tuple[str, str], str] = {
    ("lead", "opportunity"): "opportunity", ("lead", "lost"): "lost", ("lead", "cancelled"): "cancel",
    ("lead", "converted"): "convert",
    ("opportunity", "lead"): "lead", ("opportunity", "lost"): "lost", ("opportunity", "cancelled"): "cancel",
    ("opportunity", "converted"): "convert",
    ("lost", "lead"): "lead", ("cancelled", "lead"): "lead",
}
OPEN_STATES = frozenset({"lead", "opportunity"})  # where description/amount/dates are writable


def path(start: str, goal: str) -> list[tuple[str, str]] | None:
    """``(button, state reached)`` steps from state ``start`` to ``goal`` (shortest), or None."""
    queue: deque[tuple[str, list[tuple[str, str]]]] = deque([(start, [])])
    seen = {start}
    while queue:
        state, steps = queue.popleft()
        if state == goal:
            return steps
        for (src, dst), button in BUTTONS.items():
            if src == state and dst not in seen:
                seen.add(dst)
                queue.append((dst, [*steps, (button, dst)]))
    return None


class Opportunities:
    """Reads and write values of ``sale.opportunity`` for the project entity."""

    def __init__(self, client: TrytonClient, settings: TrytonSettings, parties: Parties,
                 custom_fields: Sequence[str]) -> None:
        self.client = client
        self.settings = settings
        self.parties = parties
        self.plain = PlainFields(client, MODEL, custom_fields)
        self._defaults: dict[str, Any] | None = None

    def fields(self) -> dict[str, FieldSpec]:
        return {n: ENTITY_KINDS.fields("project")[n] for n in PROJECT_FIELDS}

    def read_fields(self) -> list[str]:
        return [*READ_FIELDS, *self.plain.names]

    def read(self, ids: Sequence[int]) -> list[dict[str, Any]]:
        if not ids:
            return []
        return self.client.search_read(MODEL, [("id", "in", list(ids))], self.read_fields(), active_test=False)

    def cloze_ref(self, row: Mapping[str, Any]) -> str | None:
        ref, prefix = row.get("reference") or "", self.settings.cloze_ref_prefix
        return ref[len(prefix):] if ref.startswith(prefix) and len(ref) > len(prefix) else None

    def ref_domain(self, refs: Sequence[str]) -> Domain:
        return [("reference", "in", [self.settings.cloze_ref_prefix + ref for ref in refs])]

    def lookup_domain(self, field_name: str, value: str) -> Domain | None:
        if field_name == "name":
            return [("description", "ilike", _escape_like(" ".join(value.split())))]
        return None

    def matches(self, record: Record, field_name: str, value: str) -> bool:
        return field_name == "name" and (norm_text(str(record.fields.get("name") or "")) or "").casefold() == (
            norm_text(value) or "").casefold()

    # -- reads ------------------------------------------------------------------------------

    def _relations(self, party: Mapping[str, Any] | None) -> tuple[list[str], list[str]]:
        """``(people, companies)``: the party's id under its kind."""
        if not party:
            return [], []
        kind = self.parties.kind(party)
        if kind == "person":
            return [str(party["id"])], []
        if kind == "company":
            return [], [str(party["id"])]
        return [], []

    def to_record(self, row: Mapping[str, Any]) -> Record:
        party = row.get("party") if isinstance(row.get("party"), dict) else None
        people, companies = self._relations(party)
        state = str(row.get("state") or "lead")
        end = row.get("end_date")
        fields: dict[str, Any] = {
            "name": row.get("description"),
            "summary": row.get("comment"),
            "stage": self.settings.stage_for_state(state),
            "value": row.get("amount"),
            "close_date": end.isoformat() if isinstance(end, dt.date) else None,
            "people": people,
            "companies": companies,
            **self.plain.read(row),
        }
        return Record(id=str(row["id"]), fields=fields,
                      modified_at=epoch_ms(change_time(row), self.settings.server_timezone),
                      cloze_ref=self.cloze_ref(row))

    # -- writes -----------------------------------------------------------------------------

    def defaults(self) -> dict[str, Any]:
        """Company, currency and employee for new opportunities, from the settings or the user."""
        if self._defaults is None:
            prefs = self.client.preferences()
            company = self.settings.company_id or prefs.get("company")
            if not company:
                raise ValueError("no company for opportunities: set company_id or give the Tryton user a company")
            out: dict[str, Any] = {"company": int(company)}
            if self.settings.currency_code:
                rows = self.client.search_read("currency.currency", [("code", "=", self.settings.currency_code)],
                                               ["id"], limit=1)
                if not rows:
                    raise ValueError(f"Tryton has no currency {self.settings.currency_code!r}")
                out["currency"] = int(rows[0]["id"])
            else:
                rows = self.client.search_read("company.company", [("id", "=", out["company"])], ["currency"])
                if not rows:
                    raise ValueError(f"Tryton has no company {out['company']}")
                out["currency"] = int(rows[0]["currency"])
            employee = self.settings.employee_id or prefs.get("employee")
            out["employee"] = int(employee) if employee else None
            self._defaults = out
        return self._defaults

    def values(self, row: Mapping[str, Any], fields: Mapping[str, str | SetPatch | None]) -> dict[str, Any]:
        """``write`` values for the plain fields and the party (only what differs from ``row``)."""
        out: dict[str, Any] = {}
        for key, value in fields.items():
            text = value if isinstance(value, str) or value is None else None
            if key.startswith("custom:"):
                name, wire = self.plain.write(key, text)
                if row.get(name) != wire:
                    out[name] = wire
            elif key == "name":
                if (row.get("description") or None) != text:
                    out["description"] = text
            elif key == "summary":
                if (row.get("comment") or None) != text:
                    out["comment"] = text
            elif key == "value":
                amount = _decimal(text)
                if row.get("amount") != amount:
                    out["amount"] = amount
            elif key == "close_date":
                end = dt.date.fromisoformat(text[:10]) if text else None
                if row.get("end_date") != end:
                    out["end_date"] = end
            elif key in ("stage", "people", "companies"):
                continue  # the stage goes through buttons; relations below
            else:
                raise ValueError(f"project field {key!r} is not synced with Tryton")
        if "people" in fields or "companies" in fields:
            party = self._party(row, fields)
            current = row.get("party")
            current_id = int(current["id"]) if isinstance(current, dict) else current
            if party != current_id:
                out["party"] = party
        return out

    def _party(self, row: Mapping[str, Any], fields: Mapping[str, str | SetPatch | None]) -> int | None:
        """The party id the wanted relations name: the first person, else the first company."""
        people_now, companies_now = self._relations(row.get("party") if isinstance(row.get("party"), dict) else None)
        for key, now in (("people", people_now), ("companies", companies_now)):
            value = fields.get(key)
            if isinstance(value, SetPatch):
                change = set_change(list(enumerate(now)), value, str.strip)
                kept = [v for i, v in enumerate(now) if i not in change.remove_ids]
                wanted = sorted({*kept, *change.add_values}, key=_party_order)
            else:
                wanted = now if key not in fields else []
            if wanted:
                return int(wanted[0])
        return None

    def create_values(self, fields: Mapping[str, str | SetPatch | None], cloze_ref: str | None) -> dict[str, Any]:
        defaults = self.defaults()
        out = {"company": defaults["company"], "currency": defaults["currency"],
               **self.values({"party": None}, fields)}
        if defaults["employee"]:
            out["employee"] = defaults["employee"]
        if "start_date" not in out:
            out["start_date"] = dt.date.today()
        if cloze_ref is not None:
            out["reference"] = self.settings.cloze_ref_prefix + cloze_ref
        return out

    def stage_steps(self, row: Mapping[str, Any], stage: str | None) -> list[tuple[str, str]]:
        """``(button, state)`` steps for ``stage``; raises ``ValueError`` when Tryton cannot get there."""
        if stage is None:
            return []
        goal = self.settings.state_for_stage(stage)
        state = str(row.get("state") or "lead")
        if self.settings.stage_for_state(state) == self.settings.stage_for_state(goal):
            return []
        steps = path(state, goal)
        if steps is None:
            raise ValueError(f"Tryton cannot move an opportunity from {state!r} to {goal!r} "
                             f"(stage {stage!r}); 'won' follows its sales")
        return steps


def _party_order(party_id: str) -> tuple[int, str]:
    """Party ids in numeric order (the oldest party first)."""
    return (int(party_id), party_id) if party_id.isdigit() else (0, party_id)


def _decimal(text: str | None) -> Decimal | None:
    if text is None or text == "":
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"not a number: {text!r}") from None
    if not value.is_finite():
        raise ValueError(f"not a finite number: {text!r}")
    return value
