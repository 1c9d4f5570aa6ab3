"""Cloze's timeline writes for activities: one :class:`~connectors.activity.TimelineItem`, one call.

Keyed content (note, external to-do, event) goes to ``POST /v1/timeline/content/create``
with ``source`` + ``uniqueid``, which makes the call idempotent: the client retries it,
and a repeat replaces the earlier copy. A communication goes to
``/v1/timeline/communication/create``, which has no key: it is never retried, and a
request whose outcome is unknown (a timeout, a dropped connection) comes back
``uncertain`` so the engine never sends it twice.

A refusal is reported by Cloze's errorcode with a fixed description, never with the
side's message text: an activity's text must not reach logs, errors or state.
"""

from __future__ import annotations

from typing import Any

from connectors.activity import PutResult, TimelineItem
from connectors.cloze.client import ClozeClient
from connectors.errors import AuthError, RecordRejected, TransientApiError

# Cloze's timeline errorcodes (cloze-api.md, timeline.md §1.5), described without the item's content.
ERRORCODES = {
    11: "the item has no source and uniqueid",
    26: "a value was invalid (a preview longer than 1 KB, say)",
    32: "a reference is not an address Cloze knows",
    38: "a communication dated in the future",
}


def wire_body(item: TimelineItem) -> dict[str, Any]:
    """The JSON body of the write for ``item``."""
    body: dict[str, Any] = {"style": item.style, "date": item.date, "subject": item.subject}
    if item.body is not None:
        body["body"], body["bodytype"] = item.body, item.bodytype
    optional = {"source": item.source, "uniqueid": item.uniqueid, "threadid": item.threadid,
                "preview": item.preview, "due": item.due, "direction": item.direction,
                "duration": item.duration_min, "outcome": item.outcome, "location": item.location,
                "from": item.from_address}
    body.update({k: v for k, v in optional.items() if v is not None})
    if item.references:
        body["references"] = [{"value": ref} for ref in item.references]
    if item.links:
        body["links"] = [{"title": title, "value": url} for title, url in item.links]
    if item.source and item.uniqueid:
        # "Update the existing event style record if it's already been imported": documented for events,
        # sent for every keyed item so that a repost replaces it however Cloze reads the flag for the rest.
        body["update"] = True
    return body


class ClozeTimeline:
    def __init__(self, client: ClozeClient) -> None:
        self.client = client

    def put(self, item: TimelineItem) -> PutResult:
        body = wire_body(item)
        communication = item.target == "communication"
        try:
            if communication:
                self.client.create_communication(body)
            else:
                self.client.create_content(body)
        except AuthError:
            raise
        except RecordRejected as exc:
            code = _code(exc.code)
            if code is None:
                # Not Cloze's envelope (an odd reply): whether it was stored is unknown.
                return PutResult(False, uncertain=communication, message="Cloze answered with no errorcode")
            return PutResult(False, code=code, message=ERRORCODES.get(code, f"Cloze refused it (errorcode {code})"))
        except TransientApiError as exc:
            if communication:
                return PutResult(False, uncertain=True, message=f"no reply from Cloze ({type(exc).__name__})")
            raise  # keyed content is safe to repeat on the next run
        return PutResult(True)


def _code(value: str | int | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
