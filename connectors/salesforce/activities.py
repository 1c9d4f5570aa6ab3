"""Salesforce Task and Event as timeline activities (read only, into Cloze).

The kinds come from two objects: ``Task`` is a task, a call (``TaskSubtype = Call``) or a
logged e-mail (``Email``/``ListEmail``); ``Event`` is a meeting. Each kind is one ``queryAll``
feed (so deleted rows arrive as deletes and archived ones are still read), keyset-paged on
``(SystemModstamp, Id)`` as the record feed is (:mod:`connectors.salesforce.changes`), up to
2,000 rows a call. The cursor ``sfa1:<ts ms>:<id>`` means: every row of the kind with
``(SystemModstamp, Id) <= (ts, id)`` was delivered; a later call resumes (inclusive) at least the
stamp's whole second before it (:data:`~connectors.salesforce.mapping.STAMP_RESOLUTION_MS`).

Who an activity is about: its ``WhoId``, its ``WhatId`` and the other contacts of a shared
activity, read per page from ``TaskRelation``/``EventRelation`` (one query per 200 activities;
the emulator has no SOQL sub-queries, and a plain query costs the same few calls). Contacts
and leads are named by e-mail, accounts by their website's domain, opportunities (and a
contact without an e-mail) by the pair's App Link ``<app_id>:<id>``, as Cloze wants addresses.
An activity's ``OwnerId`` is its owner, with the user's e-mail read from ``User`` (remembered).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from connectors.activity import Activity, ActivityKind, ActivityPage, ActivityRef, CallOutcome, Direction
from connectors.model import Entity
from connectors.salesforce import ids
from connectors.salesforce.client import SalesforceClient, soql_string
from connectors.salesforce.mapping import domain_of, resume_lookback_ms, sf_time_ms, soql_time
from connectors.salesforce.relations import chunks, in_list

PREFIX = "sfa1"
PAGE = 2000
KINDS: frozenset[ActivityKind] = frozenset({"task", "call", "email", "meeting"})
OBJECT: Mapping[ActivityKind, str] = {"task": "Task", "call": "Task", "email": "Task", "meeting": "Event"}
_NOT_TASKS = ("Call", "Email", "ListEmail")
# Which rows of the object are the kind (TaskSubtype is set on create and never changes).
_KIND_FILTER: Mapping[ActivityKind, str] = {
    "task": f"(TaskSubtype = null OR TaskSubtype NOT IN {in_list(_NOT_TASKS)})",
    "call": "TaskSubtype = 'Call'",
    "email": "TaskSubtype IN ('Email', 'ListEmail')",
    "meeting": "",
}
_COMMON = ("Id", "IsDeleted", "SystemModstamp", "CreatedDate", "Subject", "Description", "WhoId", "WhatId",
           "OwnerId")
FIELDS: Mapping[str, tuple[str, ...]] = {
    "Task": (*_COMMON, "ActivityDate", "Status", "IsClosed", "TaskSubtype", "CallDurationInSeconds", "CallType",
             "CallDisposition", "CompletedDateTime"),
    "Event": (*_COMMON, "StartDateTime", "EndDateTime", "DurationInMinutes", "Location", "IsPrivate"),
}
_ENTITY_BY_PREFIX: Mapping[str, Entity] = {"003": "person", "00Q": "person", "001": "company", "006": "project"}
_DIRECTION: Mapping[str, Direction] = {"Inbound": "inbound", "Outbound": "outbound"}


def encode(ts: int, last_id: str) -> str:
    return f"{PREFIX}:{ts}:{last_id}"


def decode(cursor: str | None) -> tuple[int, str] | None:
    if not cursor:
        return None
    parts = cursor.split(":")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise ValueError(f"not a Salesforce activity cursor: {cursor!r}")
    return int(parts[1]), parts[2]


class ActivityFeed:
    """Reads one pair's Tasks and Events as :class:`~connectors.activity.Activity` pages."""

    def __init__(self, client: SalesforceClient, *, app_id: str, overlap_ms: int) -> None:
        self.client = client
        self.app_id = app_id.strip().lower()
        self.overlap_ms = overlap_ms
        self.lookback_ms = resume_lookback_ms(overlap_ms)
        self._owner_emails: dict[str, str | None] = {}

    def pages(self, kind: ActivityKind, cursor: str | None, since: int | None, until: int | None
              ) -> Iterator[ActivityPage]:
        start = decode(cursor)
        if start is not None:
            # Transactions commit late, and a stamp is a whole second: look back (inclusive) from
            # the last row delivered; what is read twice hashes the same.
            ts, last_id, inclusive = max(0, start[0] - self.lookback_ms), "", True
        else:
            ts, last_id, inclusive = max(0, (since or 0) - self.overlap_ms), "", True
        guard = self.client.guard("queryAll", OBJECT[kind])
        while True:
            guard.see((ts, last_id), what="activity position")
            stamp = soql_time(ts)
            if inclusive:
                after = f"SystemModstamp >= {stamp}"
            else:
                after = f"(SystemModstamp > {stamp} OR (SystemModstamp = {stamp} AND Id > {soql_string(last_id)}))"
            where = [after] + ([f"SystemModstamp <= {soql_time(until)}"] if until is not None else [])
            rows = self._query(kind, where, f" ORDER BY SystemModstamp, Id LIMIT {PAGE}")
            if not rows:
                return
            last = rows[-1]
            ts, last_id, inclusive = _stamp(last), str(last["Id"]), False
            live = [r for r in rows if not r.get("IsDeleted")]
            deleted = [_id(r) for r in rows if r.get("IsDeleted")]
            yield ActivityPage(self._activities(kind, live), encode(ts, last_id), deleted)
            if len(rows) < PAGE:
                return

    def get(self, kind: ActivityKind, record_ids: Sequence[str]) -> dict[str, Activity]:
        wanted = list(dict.fromkeys(ids.normalize(i) or i for i in record_ids))
        rows: list[dict[str, Any]] = []
        for chunk in chunks(wanted, 200):
            rows += [r for r in self._query(kind, [f"Id IN {in_list(chunk)}"], "") if not r.get("IsDeleted")]
        return {a.id: a for a in self._activities(kind, rows)}

    def deleted(self, kind: ActivityKind, since: int) -> tuple[list[str], int]:
        """Rows of ``kind`` deleted after ``since`` (they stay readable through queryAll for the Recycle
        Bin's 15 days); the watermark is the newest deletion seen."""
        rows = self._query(kind, ["IsDeleted = true", f"SystemModstamp >= {soql_time(max(0, since - self.lookback_ms))}"],
                           " ORDER BY SystemModstamp, Id")
        return [_id(r) for r in rows], max([since, *(_stamp(r) for r in rows)])

    def count(self, kind: ActivityKind, since: int, until: int) -> int | None:
        # queryAll, as the feed reads: archived activities count, deleted ones do not.
        soql = self._soql(kind, "COUNT()", ["IsDeleted = false", f"SystemModstamp >= {soql_time(since)}",
                                             f"SystemModstamp <= {soql_time(until)}"], "")
        body = self.client.get("/queryAll", {"q": soql})
        total = body.get("totalSize") if isinstance(body, dict) else None
        return int(total) if isinstance(total, int) else None

    # -- queries --------------------------------------------------------------------------

    def _soql(self, kind: ActivityKind, select: str, where: Sequence[str], tail: str) -> str:
        conditions = [c for c in (_KIND_FILTER[kind], *where) if c]
        return f"SELECT {select} FROM {OBJECT[kind]} WHERE {' AND '.join(conditions)}{tail}"

    def _query(self, kind: ActivityKind, where: Sequence[str], tail: str) -> list[dict[str, Any]]:
        soql = self._soql(kind, ", ".join(FIELDS[OBJECT[kind]]), where, tail)
        return [r for page in self.client.query(soql, all_rows=True) for r in page]

    # -- rows -> activities ---------------------------------------------------------------

    def _activities(self, kind: ActivityKind, rows: Sequence[dict[str, Any]]) -> list[Activity]:
        refs = self._refs(OBJECT[kind], rows)
        found = [to_activity(kind, row, refs.get(_id(row), ()), self.app_id) for row in rows]
        owners = self._owners(sorted({a.owner_id for a in found if a.owner_id}))
        return [replace(a, owner_email=owners.get(a.owner_id)) if a.owner_id else a for a in found]

    def _owners(self, user_ids: Sequence[str]) -> dict[str, str | None]:
        """The e-mail of each owner (a User; a queue owns no e-mail)."""
        unknown = [u for u in user_ids if u not in self._owner_emails]
        for chunk in chunks(unknown, 200):
            self._owner_emails.update(dict.fromkeys(chunk))
            for page in self.client.query(f"SELECT Id, Email FROM User WHERE Id IN {in_list(chunk)}"):
                for row in page:
                    email = row.get("Email")
                    self._owner_emails[_id(row)] = str(email).lower() if email else None
        return {u: self._owner_emails.get(u) for u in user_ids}

    def _refs(self, obj: str, rows: Sequence[dict[str, Any]]) -> dict[str, tuple[ActivityRef, ...]]:
        """Per activity id: the records it is about (its primary who and what, and its relations)."""
        related: dict[str, list[str]] = {}
        for row in rows:
            related[_id(row)] = [i for i in (_norm(row.get("WhoId")), _norm(row.get("WhatId"))) if i]
        for chunk in chunks(list(related), 200):
            soql = (f"SELECT {obj}Id, RelationId FROM {obj}Relation WHERE {obj}Id IN {in_list(chunk)} "
                    "ORDER BY Id")
            for page in self.client.query(soql):
                for rel in page:
                    target = _norm(rel.get("RelationId"))
                    if target:
                        related.setdefault(_norm(rel.get(f"{obj}Id")) or "", []).append(target)
        addresses = self._addresses(sorted({t for found in related.values() for t in found}))
        out: dict[str, tuple[ActivityRef, ...]] = {}
        for activity_id, found in related.items():
            refs = []
            for target in dict.fromkeys(found):
                entity = _ENTITY_BY_PREFIX.get(target[:3])
                if entity is not None:
                    refs.append(ActivityRef(entity, target, addresses.get(target) or f"{self.app_id}:{target}"))
            out[activity_id] = tuple(refs)
        return out

    def _addresses(self, targets: Sequence[str]) -> dict[str, str]:
        """The address Cloze knows each record by: a contact's or lead's e-mail, an account's domain."""
        out: dict[str, str] = {}
        for obj, prefix, fieldname in (("Contact", "003", "Email"), ("Lead", "00Q", "Email"),
                                       ("Account", "001", "Website")):
            wanted = [t for t in targets if t.startswith(prefix)]
            for chunk in chunks(wanted, 200):
                for page in self.client.query(f"SELECT Id, {fieldname} FROM {obj} WHERE Id IN {in_list(chunk)}"):
                    for row in page:
                        value = row.get(fieldname)
                        address = domain_of(value) if fieldname == "Website" else str(value or "").lower()
                        if address:
                            out[_id(row)] = address
        return out


def to_activity(kind: ActivityKind, row: Mapping[str, Any], refs: tuple[ActivityRef, ...], app_id: str) -> Activity:
    """One Task or Event row as a canonical activity."""

    def text(name: str) -> str | None:
        value = row.get(name)
        return str(value) if value not in (None, "") else None

    created = sf_time_ms(row.get("CreatedDate")) or _stamp(row)
    base = Activity(kind=kind, id=_id(row), occurred_at=created, modified_at=_stamp(row), refs=refs,
                    subject=text("Subject"), body=text("Description"), body_type="text",
                    url=f"https://{app_id}/{_id(row)}" if "." in app_id else None, owner_id=_norm(row.get("OwnerId")))
    if kind == "meeting":
        start = sf_time_ms(row.get("StartDateTime"))
        minutes = row.get("DurationInMinutes")
        return replace(base, occurred_at=start or created, location=text("Location"),
                       duration_min=int(minutes) if isinstance(minutes, (int, float)) else None,
                       private=bool(row.get("IsPrivate")))
    if kind == "task":
        return replace(base, occurred_at=_date_ms(text("ActivityDate")) or created, done=bool(row.get("IsClosed")))
    # A logged call or e-mail happened when it was completed (logged), else when it was created.
    occurred = sf_time_ms(row.get("CompletedDateTime")) or created
    if kind == "email":
        return replace(base, occurred_at=occurred)
    seconds = row.get("CallDurationInSeconds")
    return replace(base, occurred_at=occurred, direction=_DIRECTION.get(text("CallType") or ""),
                   duration_min=round(seconds / 60) if isinstance(seconds, (int, float)) else None,
                   outcome=call_outcome(text("CallDisposition")))


def call_outcome(disposition: str | None) -> CallOutcome | None:
    """``CallDisposition`` is free text an org fills in its own words: the common ones, else nothing."""
    words = (disposition or "").lower()
    if "voicemail" in words or "left message" in words:
        return "leftvm"
    if "no answer" in words or "busy" in words or "not answer" in words:
        return "noanwser"
    if "connected" in words or "reached" in words:
        return "connected"
    return None


def _date_ms(value: str | None) -> int | None:
    """A date field (``2026-12-01``) as midnight UTC in epoch ms."""
    if not value:
        return None
    try:
        day = dt.date.fromisoformat(value[:10])
    except ValueError:
        return None
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)


def _norm(value: Any) -> str | None:
    text = str(value or "")
    return ids.normalize(text) if text else None


def _id(row: Mapping[str, Any]) -> str:
    return ids.normalize(str(row.get("Id") or "")) or str(row.get("Id"))


def _stamp(row: Mapping[str, Any]) -> int:
    return sf_time_ms(row.get("SystemModstamp")) or 0
