"""HubSpot's engagement objects (notes, tasks, calls, meetings, emails, communications), as the emulator
serves them (communications: the WhatsApp, LinkedIn and SMS messages logged in the CRM).

Engagements are ordinary CRM objects: the same list, get, batch, search (on
``hs_lastmodifieddate``) and archive routes as contacts, and v4 associations to
contacts, companies and deals. This module only declares them, as plain data that
:mod:`connectors.hubspot.emulator.schema` folds into its tables: type ids, the
built-in properties each type has, and the HUBSPOT_DEFINED association types
(HubSpot's own ids, served by ``/labels``). ``hs_timestamp`` is required on create.
"""

from __future__ import annotations

NOTES, TASKS, CALLS, MEETINGS, EMAILS = "notes", "tasks", "calls", "meetings", "emails"
COMMUNICATIONS = "communications"
TYPES = (NOTES, TASKS, CALLS, MEETINGS, EMAILS, COMMUNICATIONS)
TYPE_IDS = {NOTES: "0-46", TASKS: "0-27", CALLS: "0-48", MEETINGS: "0-47", EMAILS: "0-49", COMMUNICATIONS: "0-18"}
SINGULAR = {NOTES: "note", TASKS: "task", CALLS: "call", MEETINGS: "meeting", EMAILS: "email",
            COMMUNICATIONS: "communication"}
ALIASES = {**{t: t for t in TYPES}, **{s: t for t, s in SINGULAR.items()}, **{i: t for t, i in TYPE_IDS.items()}}
LABELS = {t: s.upper() for t, s in SINGULAR.items()}
MODIFIED_PROPERTY = {t: "hs_lastmodifieddate" for t in TYPES}
GROUPS = {t: f"{s}information" for t, s in SINGULAR.items()}
REQUIRED_ON_CREATE = ("hs_timestamp",)
DEFAULT_READ = {t: ("createdate", "hs_lastmodifieddate", "hs_object_id", "hs_timestamp") for t in TYPES}
ALWAYS_READ = {t: ("createdate", "hs_lastmodifieddate", "hs_object_id") for t in TYPES}
QUERY_PROPERTIES = {
    NOTES: ("hs_note_body",), TASKS: ("hs_task_subject", "hs_task_body"), CALLS: ("hs_call_title", "hs_call_body"),
    MEETINGS: ("hs_meeting_title", "hs_meeting_body"), EMAILS: ("hs_email_subject", "hs_email_text"),
    COMMUNICATIONS: ("hs_communication_body",),
}

# (name, label, type, fieldType, enumeration values)
PropertySpec = tuple[str, str, str, str, tuple[str, ...]]


def _text(name: str, label: str, field_type: str = "text") -> PropertySpec:
    return (name, label, "string", field_type, ())


def _enum(name: str, label: str, *values: str) -> PropertySpec:
    return (name, label, "enumeration", "select", values)


def _datetime(name: str, label: str) -> PropertySpec:
    return (name, label, "datetime", "date", ())


_COMMON = (_datetime("hs_timestamp", "Activity date"), _text("hubspot_owner_id", "Activity assigned to"))
PROPERTIES: dict[str, tuple[PropertySpec, ...]] = {
    NOTES: (*_COMMON, _text("hs_note_body", "Note body", "html"), _text("hs_attachment_ids", "Attached file IDs")),
    TASKS: (
        *_COMMON, _text("hs_task_subject", "Task Title"), _text("hs_task_body", "Task notes", "html"),
        _enum("hs_task_status", "Task Status", "NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED"),
        _enum("hs_task_priority", "Priority", "NONE", "LOW", "MEDIUM", "HIGH"),
        _enum("hs_task_type", "Task Type", "EMAIL", "CALL", "TODO"),
        _text("hs_task_reminders", "Reminder date"), _datetime("hs_task_completion_date", "Completed at"),
    ),
    CALLS: (
        *_COMMON, _text("hs_call_title", "Call Title"), _text("hs_call_body", "Call notes", "html"),
        _enum("hs_call_direction", "Call direction", "INBOUND", "OUTBOUND"),
        _text("hs_call_disposition", "Call outcome"),
        ("hs_call_duration", "Call duration", "number", "number", ()),
        _enum("hs_call_status", "Call status", "BUSY", "CALLING_CRM_USER", "CANCELED", "COMPLETED", "CONNECTING",
              "FAILED", "IN_PROGRESS", "NO_ANSWER", "QUEUED", "RINGING"),
        _text("hs_call_from_number", "From number"), _text("hs_call_to_number", "To number"),
        _text("hs_call_recording_url", "Recording URL"),
    ),
    MEETINGS: (
        *_COMMON, _text("hs_meeting_title", "Meeting name"), _text("hs_meeting_body", "Meeting description", "html"),
        _text("hs_internal_meeting_notes", "Internal notes", "html"),
        _datetime("hs_meeting_start_time", "Start Time"), _datetime("hs_meeting_end_time", "End Time"),
        _text("hs_meeting_location", "Location"), _text("hs_meeting_external_url", "External URL"),
        _enum("hs_meeting_outcome", "Meeting outcome", "SCHEDULED", "COMPLETED", "RESCHEDULED", "NO_SHOW", "CANCELED"),
    ),
    EMAILS: (
        *_COMMON, _enum("hs_email_direction", "Email direction", "EMAIL", "INCOMING_EMAIL", "FORWARDED_EMAIL"),
        _text("hs_email_subject", "Email subject"), _text("hs_email_text", "Email body", "textarea"),
        _text("hs_email_html", "Email HTML body", "html"),
        _enum("hs_email_status", "Email send status", "BOUNCED", "FAILED", "SCHEDULED", "SENDING", "SENT"),
        _text("hs_email_headers", "Email headers", "textarea"),
    ),
    COMMUNICATIONS: (
        *_COMMON, _enum("hs_communication_channel_type", "Channel type", "WHATS_APP", "LINKEDIN_MESSAGE", "SMS"),
        _enum("hs_communication_logged_from", "Logged from", "CRM"),
        _text("hs_communication_body", "Message body", "html"),
    ),
}

# HUBSPOT_DEFINED association type ids, engagement -> record and back: (from, to, id, inverse id).
ASSOCIATIONS: tuple[tuple[str, str, int, int], ...] = (
    (NOTES, "contacts", 202, 201), (NOTES, "companies", 190, 189), (NOTES, "deals", 214, 213),
    (TASKS, "contacts", 204, 203), (TASKS, "companies", 192, 191), (TASKS, "deals", 216, 215),
    (CALLS, "contacts", 194, 193), (CALLS, "companies", 182, 181), (CALLS, "deals", 206, 205),
    (EMAILS, "contacts", 198, 197), (EMAILS, "companies", 186, 185), (EMAILS, "deals", 210, 209),
    (MEETINGS, "contacts", 200, 199), (MEETINGS, "companies", 188, 187), (MEETINGS, "deals", 212, 211),
    (COMMUNICATIONS, "contacts", 81, 82), (COMMUNICATIONS, "companies", 87, 88), (COMMUNICATIONS, "deals", 85, 86),
)


def association_rows() -> list[tuple[int, str, str, str]]:
    """``(type id, from, to, name)`` for both directions of every engagement association."""
    rows: list[tuple[int, str, str, str]] = []
    single = {**SINGULAR, "contacts": "contact", "companies": "company", "deals": "deal"}
    for from_type, to_type, forward, backward in ASSOCIATIONS:
        rows.append((forward, from_type, to_type, f"{single[from_type]}_to_{single[to_type]}"))
        rows.append((backward, to_type, from_type, f"{single[to_type]}_to_{single[from_type]}"))
    return rows


def missing_required(type_: str, properties: dict[str, str]) -> list[str]:
    """The required properties a create of ``type_`` lacks (only engagements have any)."""
    if type_ not in PROPERTIES:
        return []
    return [name for name in REQUIRED_ON_CREATE if not properties.get(name)]
