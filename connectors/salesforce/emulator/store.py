"""The org's records: validation, writes with undo (for allOrNone), the Recycle Bin, merges and the delete log.

Values are kept in their JSON form except datetimes, which are whole epoch seconds. Every write
stamps ``SystemModstamp``; a user write also stamps ``LastModifiedDate`` (automation moves only
the former). Callers hold ``lock``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from connectors.salesforce import ids
from connectors.salesforce.emulator import schema
from connectors.salesforce.emulator.clock import Clock, parse_date, parse_datetime
from connectors.salesforce.emulator.errors import RecordError, entity_deleted
from connectors.salesforce.emulator.schema import FieldDef, ObjectDef

POD = "5g"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_LEAD_TO_CONTACT = ("FirstName", "LastName", "Title", "Email", "Phone", "MobilePhone", "Description")
_REPARENT = {  # merging records of this object moves these (child object, reference field) to the master
    "Account": (("Contact", "AccountId"), ("Opportunity", "AccountId")),
    "Contact": (("OpportunityContactRole", "ContactId"),),
    "Lead": (),
}


@dataclass
class DeletedEntry:
    id: str
    object_name: str
    deleted_at: int


@dataclass
class Store:
    defs: dict[str, ObjectDef]
    clock: Clock
    user_id: str
    user_email: str = "integration@example.com"
    lock: threading.RLock = field(default_factory=threading.RLock)
    rows: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    deleted_log: list[DeletedEntry] = field(default_factory=list)
    log_start: int = 0  # earliest time the delete log still covers
    _serial: int = 0
    _undo: list[tuple[str, str, dict[str, Any] | None]] | None = None
    # (object, field) -> folded value -> ids; built on the first lookup of a field, kept up to date by writes,
    # so an upsert or a uniqueness check does not scan the whole table.
    _index: dict[tuple[str, str], dict[Any, set[str]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in self.defs:
            self.rows.setdefault(name, {})
        self.log_start = self.clock.stamp()
        if "OpportunityStage" in self.defs:
            for values in schema.stage_rows():
                self.insert("OpportunityStage", values)
        if "User" in self.defs:
            self.add_user(self.user_id, self.user_email, "Integration", "User")

    def add_user(self, user_id: str, email: str, first: str, last: str) -> dict[str, Any]:
        """A user of the org (the integration user, or one an activity can be assigned to)."""
        now = self.clock.stamp()
        row: dict[str, Any] = {"Id": user_id, "IsDeleted": False, "CreatedDate": now, "LastModifiedDate": now,
                               "SystemModstamp": now, "CreatedById": self.user_id, "LastModifiedById": self.user_id,
                               "Username": email, "Email": email, "FirstName": first, "LastName": last,
                               "Name": f"{first} {last}", "IsActive": True}
        self.rows["User"][user_id] = row
        return row

    # -- reading ------------------------------------------------------------------------------

    def find(self, object_name: str, record_id: str) -> dict[str, Any] | None:
        """A record (live or in the Recycle Bin) by 15- or 18-character id."""
        full = ids.normalize(record_id)
        return None if full is None else self.rows[object_name].get(full)

    def live(self, object_name: str, record_id: str) -> dict[str, Any]:
        """A live record, or the RecordError Salesforce gives (NOT_FOUND / ENTITY_IS_DELETED)."""
        row = self.find(object_name, record_id)
        if row is None:
            raise RecordError("NOT_FOUND", "The requested resource does not exist", [], status=404)
        if row["IsDeleted"]:
            raise entity_deleted()
        return row

    def object_of(self, record_id: str) -> str | None:
        full = ids.normalize(record_id)
        if full is None:
            return None
        return next((d.name for d in self.defs.values() if full.startswith(d.key_prefix) and full in self.rows[d.name]),
                    None)

    def matching(self, object_name: str, field_name: str, value: Any) -> list[dict[str, Any]]:
        """Live records whose ``field_name`` equals ``value`` (case-insensitive for text)."""
        table = self._index.get((object_name, field_name))
        if table is None:
            table = {}
            for row in self.rows[object_name].values():
                table.setdefault(_fold(row.get(field_name)), set()).add(row["Id"])
            self._index[(object_name, field_name)] = table
        rows = self.rows[object_name]
        return [rows[i] for i in sorted(table.get(_fold(value), ())) if not rows[i]["IsDeleted"]]

    def redefine(self, defs: dict[str, ObjectDef]) -> None:
        """Replace the schema (a field added or removed in Setup); lookups index afresh."""
        self.defs = defs
        self._index.clear()

    def _indexed(self, object_name: str, row: Mapping[str, Any], add: bool) -> None:
        for (indexed_object, field_name), table in self._index.items():
            if indexed_object != object_name:
                continue
            key = _fold(row.get(field_name))
            if add:
                table.setdefault(key, set()).add(row["Id"])
            else:
                table.get(key, set()).discard(row["Id"])

    # -- undo (allOrNone) ---------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Writes inside are undone if the block raises; a nested block is a savepoint inside the outer one."""
        outer = self._undo is None
        if self._undo is None:
            self._undo = []
        mark = len(self._undo)
        try:
            yield
        except BaseException:
            self._rollback_to(mark)
            raise
        finally:
            if outer:
                self._undo = None

    def _rollback_to(self, mark: int) -> None:
        assert self._undo is not None
        while len(self._undo) > mark:
            object_name, record_id, before = self._undo.pop()
            current = self.rows[object_name].pop(record_id, None)
            if current is not None:
                self._indexed(object_name, current, add=False)
            if before is not None:
                self.rows[object_name][record_id] = before
                self._indexed(object_name, before, add=True)

    def _remember(self, object_name: str, record_id: str) -> None:
        if self._undo is not None:
            before = self.rows[object_name].get(record_id)
            self._undo.append((object_name, record_id, None if before is None else dict(before)))

    # -- validation -----------------------------------------------------------------------------

    def clean(self, object_name: str, values: Mapping[str, Any], *, creating: bool) -> dict[str, Any]:
        """Writable values in their stored form; RecordError for what Salesforce refuses."""
        odef = self.defs[object_name]
        out: dict[str, Any] = {}
        for raw_name, value in values.items():
            if raw_name == "attributes":
                continue
            fdef = odef.field(raw_name)
            if fdef is None:
                raise RecordError("INVALID_FIELD", f"No such column '{raw_name}' on sobject of type {object_name}",
                                  [raw_name])
            if fdef.name == "Id" and creating:
                raise RecordError("INVALID_FIELD", "Unable to create/update fields: Id. Please check the security "
                                  "settings of this field and verify that it is read/write for your profile or "
                                  "permission set.", ["Id"])
            if fdef.name == "Id":
                continue
            if not (fdef.createable if creating else fdef.updateable):
                raise RecordError("INVALID_FIELD_FOR_INSERT_UPDATE",
                                  f"Unable to create/update fields: {fdef.name}. Please check the security settings "
                                  "of this field and verify that it is read/write for your profile or permission "
                                  "set.", [fdef.name])
            out[fdef.name] = self._value(object_name, fdef, value)
        return out

    def _value(self, object_name: str, fdef: FieldDef, value: Any) -> Any:
        if value is None or value == "" and fdef.type not in ("boolean",):
            return None
        kind = fdef.type
        if kind == "boolean":
            if not isinstance(value, bool):
                raise _json_type(value, "boolean")
            return value
        if kind in ("currency", "double", "percent", "int"):
            try:
                number = float(value) if not isinstance(value, bool) else None
            except (TypeError, ValueError):
                number = None
            if number is None:
                raise _json_type(value, "double")
            return int(number) if kind == "int" else number
        if kind == "date":
            try:
                return parse_date(str(value)[:10]).isoformat()
            except ValueError:
                raise _json_type(value, "date") from None
        if kind == "datetime":
            try:
                return int(parse_datetime(str(value)))
            except ValueError:
                raise _json_type(value, "datetime") from None
        text = str(value)
        if kind == "reference":
            full = ids.normalize(text)
            row = None
            for target in (fdef.reference_to or "").split("|"):  # a polymorphic reference names several
                found = None if full is None or target not in self.rows else self.rows[target].get(full)
                row = row or found
            if row is None or row["IsDeleted"]:
                raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [fdef.name])
            return full
        if fdef.length and len(text) > fdef.length:
            raise RecordError("STRING_TOO_LONG", f"{fdef.name}: data value too large: {text[:40]} "
                              f"(max length={fdef.length})", [fdef.name])
        if kind == "email" and not _EMAIL.match(text):
            raise RecordError("INVALID_EMAIL_ADDRESS", f"{fdef.name}: invalid email address: {text}", [fdef.name])
        if kind == "picklist" and fdef.restricted and text not in fdef.picklist:
            raise RecordError("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                              f"{fdef.name}: bad value for restricted picklist field: {text}", [fdef.name])
        return text

    def _check_complete(self, object_name: str, row: Mapping[str, Any]) -> None:
        odef = self.defs[object_name]
        missing = [f.name for f in odef.fields.values() if f.required and row.get(f.name) in (None, "")]
        if missing:
            raise RecordError("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing)
        for fdef in odef.fields.values():
            if fdef.unique and row.get(fdef.name) is not None:
                for other in self.matching(object_name, fdef.name, row[fdef.name]):
                    if other["Id"] != row.get("Id"):
                        raise RecordError("DUPLICATE_VALUE", f"duplicate value found: {fdef.name} duplicates value "
                                          f"on record with id: {other['Id']}", [])

    # -- writing --------------------------------------------------------------------------------

    def new_id(self, object_name: str) -> str:
        self._serial += 1
        return ids.mint(self.defs[object_name].key_prefix, POD, self._serial)

    def insert(self, object_name: str, values: Mapping[str, Any], *, created: int | None = None) -> dict[str, Any]:
        """Create a record from cleaned ``values``; RecordError if it is incomplete or clashes."""
        now = self.clock.stamp() if created is None else created
        odef = self.defs[object_name]
        row: dict[str, Any] = {name: fdef.default for name, fdef in odef.fields.items()}
        row.update(values)
        record_id = self.new_id(object_name)
        row.update({"Id": record_id, "IsDeleted": False, "CreatedDate": now, "LastModifiedDate": now,
                    "SystemModstamp": now, "CreatedById": self.user_id, "LastModifiedById": self.user_id})
        if "OwnerId" in odef.fields and row.get("OwnerId") is None:
            row["OwnerId"] = self.user_id
        self._derive(object_name, row, values)
        self._check_complete(object_name, row)
        self._remember(object_name, record_id)
        self.rows[object_name][record_id] = row
        self._indexed(object_name, row, add=True)
        self._after_write(object_name, row)
        return row

    def modify(self, row: dict[str, Any], object_name: str, values: Mapping[str, Any], *,
               automation: bool = False, at: int | None = None) -> None:
        """Apply cleaned ``values``; ``automation`` moves SystemModstamp only, as a workflow would."""
        candidate = {**row, **values}
        self._derive(object_name, candidate, values)
        self._check_complete(object_name, candidate)
        self._remember(object_name, row["Id"])
        now = self.clock.stamp() if at is None else at
        candidate["SystemModstamp"] = now
        if not automation:
            candidate["LastModifiedDate"] = now
            candidate["LastModifiedById"] = self.user_id
        self._indexed(object_name, row, add=False)
        row.clear()
        row.update(candidate)
        self._indexed(object_name, row, add=True)
        self._after_write(object_name, row)

    def delete(self, object_name: str, row: dict[str, Any], *, master_id: str | None = None) -> None:
        """Soft delete to the Recycle Bin; the deletion moves SystemModstamp (see EMULATOR_CHOICES.md)."""
        self._remember(object_name, row["Id"])
        now = self.clock.stamp()
        self._indexed(object_name, row, add=False)
        row.update({"IsDeleted": True, "SystemModstamp": now, "LastModifiedDate": now})
        if master_id is not None:
            row["MasterRecordId"] = master_id
        self._indexed(object_name, row, add=True)
        self.deleted_log.append(DeletedEntry(row["Id"], object_name, now))
        if object_name == "Opportunity":  # its contact roles go with it
            for ocr in list(self.rows["OpportunityContactRole"].values()):
                if ocr["OpportunityId"] == row["Id"] and not ocr["IsDeleted"]:
                    self.delete("OpportunityContactRole", ocr)
        if object_name in schema.ACTIVITIES:  # and an activity's relations with it
            relation = f"{object_name}Relation"
            for rel in list(self.rows.get(relation, {}).values()):
                if rel[f"{object_name}Id"] == row["Id"] and not rel["IsDeleted"]:
                    self.delete(relation, rel)

    def undelete(self, object_name: str, row: dict[str, Any]) -> None:
        self._remember(object_name, row["Id"])
        now = self.clock.stamp()
        self._indexed(object_name, row, add=False)
        row.update({"IsDeleted": False, "SystemModstamp": now, "LastModifiedDate": now})
        if "MasterRecordId" in row:
            row["MasterRecordId"] = None
        self._indexed(object_name, row, add=True)
        self.deleted_log = [e for e in self.deleted_log if e.id != row["Id"]]

    def merge(self, object_name: str, master_id: str, loser_ids: list[str],
              values: Mapping[str, Any] | None = None) -> None:
        """Merge up to two records into a master: losers deleted with MasterRecordId, children reparented, and
        the master given the cleaned ``values`` picked from the losers (as the merge's master record carries
        them; set after the losers are gone, so a Unique value moves from a loser to the master)."""
        if object_name not in schema.MERGEABLE:
            raise RecordError("INVALID_TYPE", f"{object_name} records cannot be merged", [])
        if not 1 <= len(loser_ids) <= 2:
            raise RecordError("INVALID_ID_FIELD", "A merge takes a master and one or two other records", [])
        master = self.live(object_name, master_id)
        losers = [self.live(object_name, i) for i in loser_ids]
        if any(l["Id"] == master["Id"] for l in losers):
            raise RecordError("INVALID_ID_FIELD", "A record cannot be merged into itself", [])
        for loser in losers:
            for child_object, ref in _REPARENT[object_name]:
                for child in self.rows[child_object].values():
                    if child.get(ref) == loser["Id"]:
                        self.modify(child, child_object, {ref: master["Id"]})
            self.delete(object_name, loser, master_id=master["Id"])
        self.modify(master, object_name, dict(values or {}))

    def convert_lead(self, lead_id: str, *, account_id: str | None = None,
                     custom_fields: tuple[str, ...] = ()) -> dict[str, Any]:
        """Convert a lead as Salesforce's lead conversion does: a contact (and an account named after the lead's
        Company, unless ``account_id`` is given) made from the lead's standard fields and the ``custom_fields``
        the admin mapped to same-named contact fields; the lead becomes read-only (``IsConverted``)."""
        lead = self.live("Lead", lead_id)
        if lead.get("IsConverted"):
            raise RecordError("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", [])
        if account_id is None:
            account = self.insert("Account", {"Name": lead.get("Company"), "Website": lead.get("Website"),
                                              "Phone": lead.get("Phone"), "Industry": lead.get("Industry")})
        else:
            account = self.live("Account", account_id)
        values: dict[str, Any] = {name: lead.get(name) for name in _LEAD_TO_CONTACT}
        values.update({"Mailing" + part: lead.get(part) for part in ("Street", "City", "State", "PostalCode",
                                                                     "Country")})
        values.update({name: lead.get(name) for name in custom_fields if name in self.defs["Contact"].fields})
        values["AccountId"] = account["Id"]
        contact = self.insert("Contact", {k: v for k, v in values.items() if v is not None})
        self.modify(lead, "Lead", {"IsConverted": True, "Status": "Closed - Converted",
                                   "ConvertedContactId": contact["Id"], "ConvertedAccountId": account["Id"]})
        return {"contact": contact["Id"], "account": account["Id"]}

    def purge(self, *, older_than: int | None = None) -> int:
        """Empty the Recycle Bin (of records deleted before ``older_than``); the delete log is purged with it."""
        removed = 0
        for object_name, table in self.rows.items():
            for record_id in [i for i, r in table.items() if r["IsDeleted"]
                              and (older_than is None or r["SystemModstamp"] < older_than)]:
                self._indexed(object_name, table.pop(record_id), add=False)
                removed += 1
        if older_than is None:
            self.deleted_log.clear()
            self.log_start = self.clock.stamp()
        else:
            self.deleted_log = [e for e in self.deleted_log if e.deleted_at >= older_than]
            self.log_start = max(self.log_start, older_than)
        return removed

    def _derive(self, object_name: str, row: dict[str, Any], given: Mapping[str, Any]) -> None:
        if object_name in ("Contact", "Lead"):
            row["Name"] = " ".join(p for p in (row.get("FirstName"), row.get("LastName")) if p) or None
        if object_name in schema.ACTIVITIES:
            self._derive_activity(object_name, row, given)
        if object_name == "Opportunity":
            stage = schema.STAGE_BY_NAME.get(row.get("StageName") or "")
            if stage is not None:
                row["IsClosed"], row["IsWon"] = stage.is_closed, stage.is_won
                if "StageName" in given:  # a new stage brings its probability and forecast unless both are given
                    if "Probability" not in given:
                        row["Probability"] = float(stage.probability)
                    if "ForecastCategoryName" not in given:
                        row["ForecastCategoryName"] = stage.forecast

    def _derive_activity(self, object_name: str, row: dict[str, Any], given: Mapping[str, Any]) -> None:
        """What Salesforce fills in on a Task or an Event: its account, a task's closed state, an event's times."""
        account = None
        what = row.get("WhatId")
        if what and what.startswith(self.defs["Account"].key_prefix):
            account = what
        elif what and what in self.rows["Opportunity"]:
            account = self.rows["Opportunity"][what].get("AccountId")
        elif row.get("WhoId") in self.rows["Contact"]:
            account = self.rows["Contact"][row["WhoId"]].get("AccountId")
        row["AccountId"] = account
        if object_name == "Task":
            row["TaskSubtype"] = row.get("TaskSubtype") or "Task"
            closed = row.get("Status") in schema.CLOSED_TASK_STATUSES
            if closed and not row.get("IsClosed"):
                row["CompletedDateTime"] = self.clock.stamp()
            row["IsClosed"], row["CompletedDateTime"] = closed, row.get("CompletedDateTime") if closed else None
            return
        row["EventSubtype"] = row.get("EventSubtype") or "Event"
        start, end, minutes = row.get("StartDateTime"), row.get("EndDateTime"), row.get("DurationInMinutes")
        if start is not None and end is not None and ("EndDateTime" in given or minutes is None):
            row["DurationInMinutes"] = max(0, (end - start) // 60)
        elif start is not None and minutes is not None:
            row["EndDateTime"] = start + minutes * 60
        row["ActivityDateTime"] = start

    def _relate(self, object_name: str, row: dict[str, Any]) -> None:
        """An activity's ``WhoId`` and ``WhatId`` are rows of its relation object too (the primary ones)."""
        relation = f"{object_name}Relation"
        parent = f"{object_name}Id"
        have = {(r["RelationId"], r["IsWhat"]) for r in self.rows[relation].values()
                if r[parent] == row["Id"] and not r["IsDeleted"]}
        for ref, is_what in ((row.get("WhoId"), False), (row.get("WhatId"), True)):
            if ref and (ref, is_what) not in have:
                self.insert(relation, {parent: row["Id"], "RelationId": ref, "IsWhat": is_what})

    def _after_write(self, object_name: str, row: dict[str, Any]) -> None:
        if object_name in schema.ACTIVITIES:
            self._relate(object_name, row)
        if object_name == "OpportunityContactRole" and row.get("IsPrimary"):
            # At most one primary contact role per opportunity: the new one wins.
            for other in self.rows[object_name].values():
                if other is not row and other["OpportunityId"] == row["OpportunityId"] and other.get("IsPrimary"):
                    self._remember(object_name, other["Id"])
                    self._indexed(object_name, other, add=False)
                    other["IsPrimary"] = False
                    other["SystemModstamp"] = row["SystemModstamp"]
                    self._indexed(object_name, other, add=True)


def _fold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _json_type(value: Any, type_name: str) -> RecordError:
    return RecordError("JSON_PARSER_ERROR", f"Cannot deserialize instance of {type_name} from "
                       f"{type(value).__name__.upper()} value {value!r}", [])
