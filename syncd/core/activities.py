"""The activity planner: what to do with each activity of the external CRM's feed (pure, no I/O).

Activities flow one way, into Cloze's timeline, and are append-mostly: there is no
base and no three-way merge. For each activity the planner decides one of:

- ``put``: write its Cloze record. Content targets (note, to-do, event) are keyed by
  ``source`` = the pair's App ID and ``uniqueid`` = ``<kind>:<external id>``, so a
  repeat (after a crash, or for an edit) replaces the earlier copy. A communication has
  no key: it is put once, through the journal (``sending`` before the call, ``sent``
  after), and never again.
- ``unchanged``: the journal holds the same payload hash as sent.
- ``uncertain``: a communication whose send was interrupted (its row still says
  ``sending``): it may have reached Cloze, so it is reported, not repeated.
- ``wait``: none of the records it is about is linked yet; it waits up to
  ``ref_wait_ms`` for the record sync to link them.
- ``skip``: kind off, private, about nothing, never linked, deleted (``on_delete =
  ignore``), a communication edited after it was sent, or parked after too many refusals.

The planner sees only hashes of what was sent, never the text (the state database
keeps no activity text).
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Literal

from connectors.activity import (
    ACTIVITY_KINDS,
    KEYED_TARGETS,
    Activity,
    ActivityKind,
    ActivityRef,
    Channel,
    ClozeTarget,
    JournalRow,
    TimelineItem,
    uniqueid,
)
from connectors.model import Entity

PREVIEW_MAX_BYTES = 1024  # Cloze: "no longer than 1kb"
FUTURE_SLACK_MS = 60_000
EmailBody = Literal["none", "preview", "full"]
OnDelete = Literal["ignore", "tombstone"]
OwnerAs = Literal["from", "none"]
Action = Literal["put", "unchanged", "uncertain", "wait", "skip"]
_CONTENT_STYLE: Mapping[ClozeTarget, str] = {"content_note": "note", "content_todo": "todo", "content_event": "event"}
_COMMUNICATION_STYLE: Mapping[ActivityKind, str] = {
    "note": "direct", "task": "direct", "call": "call", "meeting": "meeting", "email": "email", "message": "text"}
# A message's Cloze style and subject by channel: an SMS is a text, a WhatsApp or LinkedIn message a
# direct message (timeline.md §5.2); a message of no known channel is a text.
_CHANNEL_STYLE: Mapping[Channel | None, tuple[str, str]] = {
    "sms": ("text", "SMS"), "whatsapp": ("direct", "WhatsApp message"),
    "linkedin": ("direct", "LinkedIn message"), None: ("text", "Message")}
_TAG = re.compile(r"<[^>]+>")
_BLOCK_END = re.compile(r"</(p|div|li|h[1-6])>|<br\s*/?>", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ActivityOptions:
    """A pair's activity settings, as plain data (from ``[pairs.NAME.activities]``)."""

    app_id: str
    app_name: str = ""
    kinds: frozenset[ActivityKind] = frozenset({"note", "task", "call"})
    targets: Mapping[ActivityKind, ClozeTarget] | None = None  # per kind; None: each kind's default
    email_body: EmailBody = "none"
    on_delete: OnDelete = "ignore"
    ref_wait_ms: int = 86_400_000
    max_attempts: int = 5
    owner_as: OwnerAs = "from"
    cloze_users: frozenset[str] = frozenset()  # lower-case e-mails of the Cloze users an owner may be

    def target(self, kind: ActivityKind) -> ClozeTarget:
        chosen = (self.targets or {}).get(kind)
        return chosen if chosen is not None else ACTIVITY_KINDS[kind].targets[0]


@dataclass(frozen=True, slots=True)
class ActivityDecision:
    kind: ActivityKind
    source_id: str
    action: Action
    reason: str = ""
    item: TimelineItem | None = None
    payload_sha256: str | None = None

    @property
    def keyed(self) -> bool:
        return self.item is not None and self.item.target in KEYED_TARGETS


Linked = Mapping[Entity, Collection[str]]


def plan_activities(
    activities: Sequence[Activity],
    journal: Mapping[tuple[ActivityKind, str], JournalRow],
    linked: Linked,
    options: ActivityOptions,
    *,
    now: int,
    deleted: Sequence[tuple[ActivityKind, str]] = (),
) -> list[ActivityDecision]:
    """One decision per activity (and per deleted id), in feed order."""
    out = [decide(a, journal.get((a.kind, a.id)), linked, options, now=now) for a in activities]
    out.extend(decide_deleted(kind, source_id, journal.get((kind, source_id)), options, now=now)
               for kind, source_id in deleted)
    return out


def decide(activity: Activity, row: JournalRow | None, linked: Linked, options: ActivityOptions, *,
           now: int) -> ActivityDecision:
    kind, source_id = activity.kind, activity.id

    def skip(reason: str) -> ActivityDecision:
        return ActivityDecision(kind, source_id, "skip", reason)

    if kind not in options.kinds:
        return skip("kind_off")
    if activity.archived:
        return decide_deleted(kind, source_id, row, options, now=now)
    if activity.private:
        return skip("private")
    if not activity.refs:
        return skip("no_refs")
    refs = [r for r in activity.refs if r.address and r.external_id in linked.get(r.entity, ())]
    if not refs:
        first = row.first_seen_at if row is not None and row.state == "waiting" else now
        if now - first >= options.ref_wait_ms:
            return skip("unlinked")
        return ActivityDecision(kind, source_id, "wait", "unlinked")
    target = _target(activity, row, options, now)
    future = activity.occurred_at > now + FUTURE_SLACK_MS
    refused_as_future = row is not None and row.state == "waiting" and row.reason == "future"
    if future and (target == "communication" or refused_as_future):
        # Cloze refuses a future communication (errorcode 38), and this Cloze refused this item as future.
        return ActivityDecision(kind, source_id, "wait", "future")
    item = to_item(activity, target, refs, options)
    digest = payload_sha256(item)
    if target == "communication":
        return _communication(kind, source_id, row, item, digest, options)
    if row is not None and row.payload_sha256 == digest:
        if row.state == "sent":
            return ActivityDecision(kind, source_id, "unchanged", payload_sha256=digest)
        if row.state == "failed" and row.attempts >= options.max_attempts:
            return skip("parked")
    return ActivityDecision(kind, source_id, "put", item=item, payload_sha256=digest)


def _communication(kind: ActivityKind, source_id: str, row: JournalRow | None, item: TimelineItem, digest: str,
                   options: ActivityOptions) -> ActivityDecision:
    """At most once: a communication whose send began is never begun again."""
    if row is not None and row.target == "communication":
        if row.state == "sending":
            return ActivityDecision(kind, source_id, "uncertain", "interrupted")
        if row.state == "uncertain":
            return ActivityDecision(kind, source_id, "skip", "uncertain")
        if row.state == "sent":
            if row.payload_sha256 == digest:
                return ActivityDecision(kind, source_id, "unchanged", payload_sha256=digest)
            return ActivityDecision(kind, source_id, "skip", "edit_not_sent")
        if row.state == "failed" and row.attempts >= options.max_attempts and row.payload_sha256 == digest:
            return ActivityDecision(kind, source_id, "skip", "parked")
    return ActivityDecision(kind, source_id, "put", item=item, payload_sha256=digest)


def decide_deleted(kind: ActivityKind, source_id: str, row: JournalRow | None, options: ActivityOptions, *,
                   now: int) -> ActivityDecision:
    """Cloze has no delete for timeline items: ignore (the copy stays), or scrub a keyed copy's text."""
    if options.on_delete != "tombstone" or row is None or row.target not in KEYED_TARGETS or row.state != "sent":
        return ActivityDecision(kind, source_id, "skip", "deleted")
    assert row.target is not None
    item = TimelineItem(
        target=row.target, style=_CONTENT_STYLE[row.target], date=now,
        subject=f"[deleted in {options.app_name or options.app_id}]", source=options.app_id.lower(),
        uniqueid=uniqueid(kind, source_id), body="", bodytype="text",
    )
    digest = payload_sha256(replace(item, date=0))  # a tombstone's hash must not move with the clock
    if row.payload_sha256 == digest:
        return ActivityDecision(kind, source_id, "unchanged", "deleted", payload_sha256=digest)
    return ActivityDecision(kind, source_id, "put", "deleted", item=item, payload_sha256=digest)


def _target(activity: Activity, row: JournalRow | None, options: ActivityOptions, now: int) -> ClozeTarget:
    """The Cloze record this activity becomes; once written, it stays that record (no second copy)."""
    if row is not None and row.target is not None and row.state in ("sent", "sending", "uncertain"):
        return row.target
    target = options.target(activity.kind)
    if target == "communication" and activity.kind == "meeting" and activity.occurred_at > now + FUTURE_SLACK_MS:
        return "content_event"  # Cloze refuses a future communication (errorcode 38)
    return target


# -- mapping: activity -> timeline item ------------------------------------------------

def to_item(activity: Activity, target: ClozeTarget, refs: Sequence[ActivityRef],
            options: ActivityOptions) -> TimelineItem:
    """The Cloze record for ``activity``, referencing only the linked ``refs`` by address."""
    app = options.app_name or options.app_id
    addresses = tuple(sorted({r.address for r in refs if r.address}))
    links = ((f"Open in {app}", activity.url),) if activity.url else ()
    subject, body, preview = _text(activity, target, options)
    style = _COMMUNICATION_STYLE[activity.kind] if target == "communication" else _CONTENT_STYLE[target]
    if activity.kind == "message":
        style = _CHANNEL_STYLE[activity.channel][0]
    item = TimelineItem(
        target=target, style=style, date=activity.occurred_at, subject=subject, body=body,
        bodytype=activity.body_type if body else "text", preview=preview, references=addresses, links=links,
        from_address=sender(activity, target, options),
    )
    if target == "communication":
        return replace(item, threadid=f"{options.app_id.lower()}:{activity.kind}:{activity.id}",
                       direction=activity.direction, duration_min=activity.duration_min, outcome=activity.outcome,
                       location=activity.location)
    return replace(
        item, source=options.app_id.lower(), uniqueid=uniqueid(activity.kind, activity.id),
        due=activity.occurred_at if target == "content_todo" and not activity.done else None,
        location=activity.location if target == "content_event" else None,
    )


def sender(activity: Activity, target: ClozeTarget, options: ActivityOptions) -> str | None:
    """Cloze's ``from`` for the activity: its CRM owner's e-mail when that is one of the Cloze users.

    Otherwise nothing, and Cloze files the item under the API user: an App Link there could name a
    record of the same id, and another address would make a stranger the author. An inbound
    communication was begun by the contact, so its owner is no sender either.
    """
    email = (activity.owner_email or "").strip().lower()
    if options.owner_as != "from" or not email or email not in options.cloze_users:
        return None
    if target == "communication" and activity.direction == "inbound":
        return None
    return email


def _text(activity: Activity, target: ClozeTarget, options: ActivityOptions) -> tuple[str, str | None, str | None]:
    """(subject, body, preview) under the body policy: e-mail bodies are left out unless asked for."""
    kind, subject, body = activity.kind, (activity.subject or "").strip(), activity.body or None
    preview: str | None = None
    if kind == "email":
        if options.email_body == "preview" and body:
            preview, body = cut_preview(plain_text(body, activity.body_type)), None
        elif options.email_body == "none":
            body = None
    if kind == "message":
        return subject or _CHANNEL_STYLE[activity.channel][1], body, preview
    if target == "communication":
        return subject or kind.capitalize(), body, preview
    if kind == "task":
        return ("✓ " if activity.done else "") + (subject or "Task"), body, preview
    if kind == "call":
        return f"Call: {subject}" if subject else "Call", _with_facts(body, activity), preview
    if kind == "email":
        return f"Email: {subject}" if subject else "Email", body, preview
    if kind == "note":
        return subject or f"Note from {options.app_name or options.app_id}", body, preview
    return subject or kind.capitalize(), body, preview


def _with_facts(body: str | None, activity: Activity) -> str | None:
    """A call kept as a note carries its direction, duration and outcome in the body."""
    facts = [f"{label}: {value}" for label, value in (
        ("Direction", activity.direction), ("Duration", f"{activity.duration_min} min" if activity.duration_min
                                            is not None else None), ("Outcome", activity.outcome)) if value]
    if not facts:
        return body
    if activity.body_type == "html":
        head = "".join(f"<p>{html.escape(f)}</p>" for f in facts)
        return head + (body or "")
    return "\n".join(facts) + (f"\n\n{body}" if body else "")


def plain_text(text: str, body_type: str) -> str:
    if body_type != "html":
        return text.strip()
    return html.unescape(_TAG.sub("", _BLOCK_END.sub("\n", text))).strip()


def cut_preview(text: str, limit: int = PREVIEW_MAX_BYTES) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, never inside a character."""
    return text.encode()[:limit].decode("utf-8", errors="ignore")


# Fields added to TimelineItem after journals were first written: hashed only when set, so an item
# without them keeps the hash it had (else every keyed copy would be posted again after an upgrade).
_HASHED_WHEN_SET = ("from_address",)


def payload_sha256(item: TimelineItem) -> str:
    """A stable hash of what is (or was) posted: the only trace of an activity's text kept in state."""
    data = asdict(item)
    for name in _HASHED_WHEN_SET:
        if data.get(name) is None:
            del data[name]
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
