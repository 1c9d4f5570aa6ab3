"""HubSpot engagements (notes, tasks, calls, meetings, emails, and communications: the WhatsApp,
LinkedIn and SMS messages logged in the CRM, kind ``message``) as timeline activities.

Engagements are CRM objects: each kind is read through its own search, sorted by
``hs_lastmodifieddate``, with keyset paging as the record feed does
(:mod:`connectors.hubspot.changes`): a forward query ``modified > ts``, and a walk by id
through the records sharing the page's last timestamp, so neither ties nor the 10,000
result cap lose a record. The cursor ``hsa1:<ts>:<id>`` means: every engagement with
``(modified, id) <= (ts, id)`` was delivered.

Per page, the associations to contacts, companies and deals are read with one v4
batch read per associated type, and turned into addresses Cloze understands: a
contact's e-mail, a company's domain, and for a deal the pair's App Link
``<app_id>:<deal id>``. A contact without an e-mail is referred to by its App Link too.

An engagement's ``hubspot_owner_id`` is read as its owner, with the owner's e-mail from the
owners API (one call per owner and feed, remembered; a token without the owners scope just
leaves the e-mail unknown).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from connectors.activity import (
    Activity,
    ActivityKind,
    ActivityPage,
    ActivityRef,
    CallOutcome,
    Channel,
    Direction,
)
from connectors.errors import ApiError, TransientApiError
from connectors.hubspot import values as v
from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.relations import Relations
from connectors.model import Entity

PREFIX = "hsa1"
MODIFIED = "hs_lastmodifieddate"
OBJECT_TYPE: Mapping[ActivityKind, str] = {
    "note": "notes", "task": "tasks", "call": "calls", "meeting": "meetings", "email": "emails",
    "message": "communications"}
PROPERTIES: Mapping[ActivityKind, tuple[str, ...]] = {
    "note": ("hs_timestamp", "hs_note_body"),
    "task": ("hs_timestamp", "hs_task_subject", "hs_task_body", "hs_task_status"),
    "call": ("hs_timestamp", "hs_call_title", "hs_call_body", "hs_call_direction", "hs_call_duration",
             "hs_call_disposition", "hs_call_status"),
    "meeting": ("hs_timestamp", "hs_meeting_title", "hs_meeting_body", "hs_meeting_start_time",
                "hs_meeting_end_time", "hs_meeting_location"),
    "email": ("hs_timestamp", "hs_email_subject", "hs_email_text", "hs_email_html", "hs_email_direction"),
    "message": ("hs_timestamp", "hs_communication_channel_type", "hs_communication_body"),
}
OWNER = "hubspot_owner_id"
# hs_communication_channel_type -> the channel a message went through.
_CHANNELS: Mapping[str, Channel] = {"SMS": "sms", "WHATS_APP": "whatsapp", "LINKEDIN_MESSAGE": "linkedin"}
_RECORD_TYPES: tuple[tuple[str, Entity], ...] = (("contacts", "person"), ("companies", "company"), ("deals", "project"))
# HubSpot's default call outcomes (dispositions are account-specific GUIDs; these are the built-in ones).
_DISPOSITIONS: Mapping[str, CallOutcome] = {
    "f240bbac-87c9-4f6e-bf70-924b57d47db7": "connected",
    "a4c4c377-d246-4b32-a13b-75a56a4cd0ff": "connected",  # left live message
    "b2cf5968-551e-4856-9783-52b3da59a7d0": "leftvm",
    "73a0d17f-1163-4015-bdd5-ec830791da20": "noanwser",
    "9d9162e7-6cf3-4944-bf63-4dff82258764": "noanwser",  # busy
}
_STATUS_OUTCOME: Mapping[str, CallOutcome] = {"NO_ANSWER": "noanwser", "BUSY": "noanwser"}


def encode(ts: int, last_id: int) -> str:
    return f"{PREFIX}:{ts}:{last_id}"


def decode(cursor: str | None) -> tuple[int, int] | None:
    if not cursor:
        return None
    parts = cursor.split(":")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise ValueError(f"not a HubSpot activity cursor: {cursor!r}")
    return int(parts[1]), int(parts[2])


class ActivityFeed:
    """Reads one pair's engagements as :class:`~connectors.activity.Activity` pages."""

    def __init__(self, client: HubSpotClient, relations: Relations, *, app_id: str, page_size: int,
                 overlap_ms: int, batch_size: int) -> None:
        self.client = client
        self.relations = relations
        self.app_id = app_id.lower()
        self.page_size = page_size
        self.overlap_ms = overlap_ms
        self.batch_size = batch_size
        self._owner_emails: dict[str, str | None] = {}

    # -- the feed ---------------------------------------------------------------------

    def pages(self, kind: ActivityKind, cursor: str | None, since: int | None, until: int | None
              ) -> Iterator[ActivityPage]:
        start = decode(cursor)
        ts, last_id = start if start is not None else (max(0, (since or 0) - 1), 0)
        tie = start is not None and self.overlap_ms == 0
        if start is not None and self.overlap_ms:
            ts, last_id = max(0, ts - self.overlap_ms), 0  # search trails writes: look back a moment
        guard = self.client.guard(f"{self.client.paths.objects(OBJECT_TYPE[kind])}/search")
        while True:
            guard.see((ts, last_id, tie), what="activity search position")
            if tie:
                rows, more = self._search(kind, [_f(MODIFIED, "EQ", ts), _f("hs_object_id", "GT", last_id)],
                                          "hs_object_id")
                if rows:
                    last_id = max(_id(r) for r in rows)
                    yield ActivityPage(self._activities(kind, rows), encode(ts, last_id))
                tie = more
                continue
            filters = [_f(MODIFIED, "GT", ts)] + ([_f(MODIFIED, "LTE", until)] if until is not None else [])
            rows, more = self._search(kind, filters, MODIFIED)
            if not rows:
                return
            stamps = [_stamp(r) for r in rows]
            last = stamps[-1]
            if not more:
                at_last = max(_id(r) for r, s in zip(rows, stamps) if s == last)
                yield ActivityPage(self._activities(kind, rows), encode(last, at_last))
                return
            keep = [r for r, s in zip(rows, stamps) if s < last]
            if keep:  # everything modified before `last` is in this page; nothing at `last` yet
                yield ActivityPage(self._activities(kind, keep), encode(last, 0))
            ts, last_id, tie = last, 0, True  # every record at `last` is walked by id next

    def count(self, kind: ActivityKind, since: int, until: int) -> int | None:
        body = {"filterGroups": [{"filters": [_f(MODIFIED, "GTE", since), _f(MODIFIED, "LTE", until)]}],
                "properties": ["hs_object_id"], "limit": 1}
        data = self.client.post(f"{self.client.paths.objects(OBJECT_TYPE[kind])}/search", body, search=True).body
        total = (data or {}).get("total")
        return int(total) if isinstance(total, int) else None

    def deleted(self, kind: ActivityKind, since: int, list_page_size: int) -> tuple[list[str], int]:
        """Archived engagements (search never shows them): listed with ``archived=true``, those archived
        after ``since``; the watermark is the newest archive time seen."""
        path = self.client.paths.objects(OBJECT_TYPE[kind])
        guard = self.client.guard(path)
        found: list[str] = []
        newest, after = since, None
        while True:
            params: dict[str, Any] = {"limit": list_page_size, "archived": "true", "properties": "hs_object_id"}
            if after:
                guard.see(after, what="paging token")
                params["after"] = after
            body = self.client.get(path, params) or {}
            for row in body.get("results", []):
                archived_at = v.ms_from(row.get("archivedAt"))
                if archived_at is not None and archived_at > since - self.overlap_ms:
                    found.append(str(row["id"]))
                    newest = max(newest, archived_at)
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return found, newest

    def get(self, kind: ActivityKind, ids: Sequence[str]) -> dict[str, Activity]:
        path = f"{self.client.paths.objects(OBJECT_TYPE[kind])}/batch/read"
        rows: list[dict[str, Any]] = []
        unique = list(dict.fromkeys(ids))
        for at in range(0, len(unique), self.batch_size):
            reply = self.client.post(path, {"inputs": [{"id": i} for i in unique[at:at + self.batch_size]],
                                            "properties": [*PROPERTIES[kind], OWNER]})
            rows.extend((reply.body or {}).get("results", []))  # ids in a 207's errors are gone
        return {a.id: a for a in self._activities(kind, rows)}

    def _search(self, kind: ActivityKind, filters: list[dict[str, Any]], sort_by: str
                ) -> tuple[list[dict[str, Any]], bool]:
        body = {"filterGroups": [{"filters": filters}], "sorts": [{"propertyName": sort_by, "direction": "ASCENDING"}],
                "properties": [*PROPERTIES[kind], OWNER, MODIFIED], "limit": self.page_size}
        data = self.client.post(f"{self.client.paths.objects(OBJECT_TYPE[kind])}/search", body, search=True).body
        rows: list[dict[str, Any]] = (data or {}).get("results", [])
        more = bool((((data or {}).get("paging") or {}).get("next") or {}).get("after"))
        return rows, more

    # -- rows -> activities -----------------------------------------------------------

    def _activities(self, kind: ActivityKind, rows: Sequence[dict[str, Any]]) -> list[Activity]:
        ids = [str(r["id"]) for r in rows]
        refs = self._refs(OBJECT_TYPE[kind], ids)
        found = [to_activity(kind, row, refs.get(str(row["id"]), ())) for row in rows]
        return [replace(a, owner_email=self._owner_email(a.owner_id)) if a.owner_id else a for a in found]

    def _owner_email(self, owner_id: str) -> str | None:
        if owner_id not in self._owner_emails:
            path = f"/crm/owners/{self.client.paths.version}" if self.client.paths.dated else "/crm/v3/owners"
            try:
                body = self.client.get(f"{path}/{owner_id}") or {}
            except TransientApiError:
                raise  # asked again next run: a guess now would change the copy's hash later
            except ApiError:  # no such owner any more, or no owners scope: the owner stays unnamed
                body = {}
            email = body.get("email") if isinstance(body, dict) else None
            self._owner_emails[owner_id] = str(email).lower() if email else None
        return self._owner_emails[owner_id]

    def _refs(self, object_type: str, ids: Sequence[str]) -> dict[str, tuple[ActivityRef, ...]]:
        out: dict[str, list[ActivityRef]] = {i: [] for i in ids}
        for to_type, entity in _RECORD_TYPES:
            links = self.relations.associated(object_type, to_type, ids)
            targets = sorted({t for found in links.values() for t in found})
            keys = self.relations.keys(to_type, targets) if to_type != "deals" and targets else {}
            for from_id, found in links.items():
                for target in found:
                    address = keys.get(target) or f"{self.app_id}:{target}"
                    out.setdefault(from_id, []).append(ActivityRef(entity, target, address))
        return {i: tuple(r) for i, r in out.items()}


def to_activity(kind: ActivityKind, row: Mapping[str, Any], refs: tuple[ActivityRef, ...]) -> Activity:
    """One engagement row as a canonical activity."""
    p: Mapping[str, Any] = row.get("properties") or {}

    def text(name: str) -> str | None:
        value = p.get(name)
        return str(value) if value not in (None, "") else None

    occurred = v.ms_from(text("hs_timestamp")) or _stamp(row)
    base = Activity(kind=kind, id=str(row["id"]), occurred_at=occurred, modified_at=_stamp(row), refs=refs,
                    archived=bool(row.get("archived")), owner_id=text(OWNER))
    if kind == "note":
        return replace(base, body=text("hs_note_body"), body_type="html")
    if kind == "task":
        return replace(base, subject=text("hs_task_subject"), body=text("hs_task_body"), body_type="html",
                        done=text("hs_task_status") == "COMPLETED")
    if kind == "call":
        duration = v.ms_from(text("hs_call_duration"))
        outcome = _DISPOSITIONS.get(text("hs_call_disposition") or "") or _STATUS_OUTCOME.get(
            text("hs_call_status") or "")
        return replace(base, subject=text("hs_call_title"), body=text("hs_call_body"), body_type="html",
                        direction=_direction(text("hs_call_direction"), "INBOUND"),
                        duration_min=round(duration / 60_000) if duration is not None else None, outcome=outcome)
    if kind == "meeting":
        start = v.ms_from(text("hs_meeting_start_time"))
        end = v.ms_from(text("hs_meeting_end_time"))
        return replace(base, occurred_at=start or occurred, subject=text("hs_meeting_title"),
                        body=text("hs_meeting_body"), body_type="html", location=text("hs_meeting_location"),
                        duration_min=round((end - start) / 60_000) if start and end and end > start else None)
    if kind == "message":
        return replace(base, body=text("hs_communication_body"), body_type="html",
                       channel=_CHANNELS.get(text("hs_communication_channel_type") or ""))
    html_body = text("hs_email_html")
    plain = text("hs_email_text")
    return replace(base, subject=text("hs_email_subject"), body=plain or html_body,
                    body_type="text" if plain else "html",
                    direction=_direction(text("hs_email_direction"), "INCOMING_EMAIL"))


def _direction(value: str | None, inbound: str) -> Direction | None:
    if value is None:
        return None
    return "inbound" if value == inbound else "outbound"


def _f(prop: str, op: str, value: int) -> dict[str, Any]:
    return {"propertyName": prop, "operator": op, "value": str(value)}


def _id(row: Mapping[str, Any]) -> int:
    object_id = str(row.get("id"))
    if not object_id.isdigit():
        raise ApiError(f"HubSpot sent an engagement with a non-numeric id {object_id[:40]!r}", side="external")
    return int(object_id)


def _stamp(row: Mapping[str, Any]) -> int:
    props = row.get("properties") or {}
    value = props.get(MODIFIED) or row.get("updatedAt")
    stamp = v.ms_from(str(value) if value is not None else None)
    if stamp is None:
        raise ApiError(f"HubSpot sent engagement {str(row.get('id'))[:40]} without {MODIFIED}", side="external")
    return stamp
