"""The ``/v1/...`` endpoints: authentication, routing and the envelope (spec §1-§7, §9).

Independent of the HTTP server: a handler takes a :class:`Request` and returns
a :class:`Reply`. Business errors are HTTP 200 with a non-zero ``errorcode``
(spec §3); unknown paths are HTTP 404 ``{errorcode: 404, message: "Resource Not Found"}``.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from connectors.cloze.emulator import account
from connectors.cloze.emulator.errors import Rejected
from connectors.cloze.emulator.query import (
    FEED_FILTERS,
    BadQuery,
    FeedCursor,
    feed_batch,
    matcher,
    page_size,
    record_checks,
    sort_records,
    truthy,
)
from connectors.cloze.emulator.store import Change
from connectors.cloze.wire import ENTITY_OF_PATH, PATH
from connectors.model import Entity

if TYPE_CHECKING:
    from connectors.cloze.emulator.app import ClozeEmulator

_log = logging.getLogger(__name__)
NOT_FOUND_BODY = {"errorcode": 404, "message": "Resource Not Found"}
BAD_KEY_BODY = {"errorcode": 1, "message": "The API key was not found"}
BAD_TOKEN_BODY = {"message": "Invalid token: access token is invalid"}
_FUTURE_SLACK_MS = 60_000
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
PREVIEW_MAX_BYTES = 1024  # "no longer than 1kb" (the Swagger's timeline schemas)
# email | phone | domain | source:uniqueid (an App Link) | @handle
_ADDRESS = re.compile(
    r"[^@\s]+@[^@\s]+\.[^@\s]+|\+?[\d().\- ]{5,}|[a-z0-9-]+(\.[a-z0-9-]+)+|[a-z0-9-]+(\.[a-z0-9-]+)+:\S+|@\w+",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: Any = None


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def errorcode(self) -> int | None:
        code = self.body.get("errorcode") if isinstance(self.body, dict) else None
        return code if isinstance(code, int) else None


def ok(**values: Any) -> Reply:
    return Reply(200, {"errorcode": 0, **values})


Handler = Callable[[Request], Reply]
_KIND_ROUTE = re.compile(r"^/v1/(people|companies|projects)/(find|feed|get|create|update|delete)$")


class ClozeApi:
    """Routes and handles API requests against one emulator's state."""

    def __init__(self, emulator: ClozeEmulator) -> None:
        self.emu = emulator
        self._routes: dict[tuple[str, str], Handler] = {
            ("GET", "/v1/user/profile"): self.profile,
            ("GET", "/v1/profile"): self.profile,
            ("GET", "/v1/user/fields"): self.fields,
            ("GET", "/v1/user/segments/people"): lambda r: ok(list=_pairs(account.PEOPLE_SEGMENTS)),
            ("GET", "/v1/user/segments/projects"): lambda r: ok(
                list=_pairs(account.segments_for("project", self._dashed()))
            ),
            ("GET", "/v1/user/stages/people"): lambda r: ok(list=_pairs(account.stage_pairs("person"))),
            ("GET", "/v1/user/stages/projects"): lambda r: ok(
                list=_pairs(account.stage_pairs("project", self.emu.behaviour.project_pending_stage))
            ),
            ("GET", "/v1/user/steps"): lambda r: ok(
                segments=account.steps(
                    r.query.get("segment"),
                    r.query.get("stage"),
                    self.emu.behaviour.project_pending_stage,
                    self._dashed(),
                )
            ),
            ("GET", "/v1/user/views"): lambda r: ok(**account.views()),
            ("POST", "/v1/timeline/communication/create"): self.communication,
            ("POST", "/v1/timeline/content/create"): self.content,
            ("POST", "/v1/createcontent"): self.content,
            ("POST", "/v1/timeline/todo/create"): self.todo,
            ("POST", "/v1/webhooks/subscribe"): self.subscribe,
            ("POST", "/v1/subscribe"): self.subscribe,
            ("POST", "/v1/webhooks/unsubscribe"): self.unsubscribe,
            ("POST", "/v1/unsubscribe"): self.unsubscribe,
            ("GET", "/v1/webhooks"): lambda r: ok(list=self.emu.webhooks.listing()),
        }
        self._kind_ops: dict[tuple[str, str], Callable[[Entity, Request], Reply]] = {
            ("GET", "find"): self.find,
            ("GET", "feed"): self.feed,
            ("GET", "get"): self.get,
            ("POST", "create"): lambda e, r: self.write(e, r, "create"),
            ("POST", "update"): lambda e, r: self.write(e, r, "update"),
            ("DELETE", "delete"): self.delete,
        }

    # -- plumbing --------------------------------------------------------------------

    def route(self, method: str, path: str) -> Handler | None:
        handler = self._routes.get((method, path))
        if handler is not None:
            return handler
        match = _KIND_ROUTE.match(path)
        if match:
            op = self._kind_ops.get((method, match.group(2)))
            if op is not None:
                entity = ENTITY_OF_PATH[match.group(1)]
                return lambda r: op(entity, r)
        return None

    def authenticate(self, query: Mapping[str, str], headers: Mapping[str, str]) -> Reply | None:
        """``None`` when the request may proceed, else the 401 reply (spec §9.2)."""
        key = query.get("api_key")
        bearer = headers.get("authorization", "")
        if key is not None:
            if key != self.emu.api_key:
                return Reply(401, dict(BAD_KEY_BODY))
        elif bearer.lower().startswith("bearer "):
            token = bearer[7:].strip()
            if token != self.emu.api_key and token not in self.emu.oauth_tokens:
                return Reply(401, dict(BAD_TOKEN_BODY))
        else:
            return Reply(401, dict(BAD_KEY_BODY))
        user = query.get("user")
        if self.emu.behaviour.check_user and user is not None and user.lower() != self.emu.user.lower():
            return Reply(401, dict(BAD_KEY_BODY))
        return None

    def call(self, handler: Handler, request: Request) -> Reply:
        try:
            return handler(request)
        except Rejected as exc:
            return Reply(200, {"errorcode": exc.code, "message": exc.message})
        except BadQuery as exc:
            return Reply(200, {"errorcode": 26, "message": str(exc)})
        except Exception:  # noqa: BLE001 - every failure must still get a reply
            # A request the emulator cannot handle still gets an answer in the envelope (a dropped
            # connection would look like a network fault to the client under test).
            _log.exception("emulator failed on %s %s", request.method, request.path)
            return Reply(500, {"errorcode": 500, "message": "Internal server error"})

    def _publish(self, changes: list[Change]) -> None:
        if changes:
            self.emu.stats.changed(len(changes))
            self.emu.webhooks.notify(changes)

    # -- account ---------------------------------------------------------------------

    def _dashed(self) -> bool:
        return self.emu.behaviour.project_segment_keys == "dashed"

    def profile(self, request: Request) -> Reply:
        return ok(**{self.emu.behaviour.profile_key: account.profile(self.emu.user)})

    def fields(self, request: Request) -> Reply:
        return ok(list=account.fields(request.query.get("relationtype")))

    # -- records ---------------------------------------------------------------------

    def find(self, entity: Entity, request: Request) -> Reply:
        q = request.query
        size = page_size(q.get("pagesize"))
        try:
            number = max(1, int(q.get("pagenumber") or 1))
        except ValueError:
            raise BadQuery("pagenumber", q.get("pagenumber", "")) from None
        wanted = matcher(entity, q)
        records = [r for r in self.emu.store.rendered(entity) if wanted(r)]
        if truthy(q.get("countonly")):
            return ok(availablecount=len(records))
        ordered = sort_records(records, q.get("sort"), self.emu.behaviour.find_lastchanged_desc)
        start = (number - 1) * size
        return ok(
            availablecount=len(records),
            pagenumber=number,
            pagesize=size,
            **{PATH[entity]: ordered[start : start + size]},
        )

    def feed(self, entity: Entity, request: Request) -> Reply:
        q = request.query
        kind = PATH[entity]
        if q.get("cursor"):
            cursor = FeedCursor.decode(q["cursor"], kind)
        else:
            cursor = self._new_cursor(entity, q)
        if record_checks(entity, dict(cursor.filters)):
            wanted = matcher(entity, dict(cursor.filters))
            records = [r for r in self.emu.store.rendered(entity, (cursor.stamp, cursor.key)) if wanted(r)]
            batch, cursor, available = feed_batch(records, cursor)
        else:  # nothing filtered out: read the page from the feed index
            batch, available = self.emu.store.feed_page(entity, (cursor.stamp, cursor.key), cursor.pagesize)
            if batch:
                cursor = cursor.after(int(batch[-1].get("lastChanged", 0)), str(batch[-1].get("syncKey", "")))
        reply: dict[str, Any] = {"availablecount": available, "cursor": cursor.encode()}
        if cursor.keysonly:
            reply[kind] = [{"syncKey": r["syncKey"]} for r in batch]
        elif cursor.audited:
            results = []
            for record in batch:
                audit, since = self.emu.store.audit_of(entity, record["direct"])
                changes = {**audit, "_since": since} if audit else {}
                results.append({entity: record, "changes": changes})
            reply["results"] = results
        elif ("summaryonly", "true") in cursor.extra:
            reply[kind] = [_summary(entity, r) for r in batch]
        else:
            reply[kind] = batch
        return ok(**reply)

    def _new_cursor(self, entity: Entity, q: Mapping[str, str]) -> FeedCursor:
        after = (q.get("modifiedafter") or "").strip()
        if after.lower() == "now":
            stamp, key = self.emu.store.clock.last, "\uffff"
        elif after:
            try:
                stamp, key = int(after), "\uffff"
            except ValueError:
                raise BadQuery("modifiedafter", after) from None
        else:
            stamp, key = -1, ""
        filters = []
        for name in FEED_FILTERS:
            value = q.get(name)
            # an unknown stage/segment on a feed is ignored, not refused (spec §3, observed)
            if not value or (
                name == "stage"
                and value.lower() not in ("none", "any")
                and account.stage_key(entity, value, self.emu.behaviour.project_pending_stage) is None
            ):
                continue
            if (
                name == "segment"
                and value.lower() not in ("none", "any")
                and account.segment_key(entity, value) is None
            ):
                continue
            filters.append((name, value))
        extra = (("summaryonly", "true"),) if truthy(q.get("summaryonly")) else ()
        return FeedCursor(
            PATH[entity],
            page_size(q.get("pagesize")),
            truthy(q.get("keysonly")),
            truthy(q.get("includeauditedchanges")),
            tuple(filters),
            stamp,
            key,
            extra,
        )

    def get(self, entity: Entity, request: Request) -> Reply:
        uniqueid = request.query.get("uniqueid", "").strip()
        if not uniqueid:
            raise BadQuery("uniqueid", "")
        direct = self.emu.store.resolve(entity, uniqueid)
        if direct is None:
            raise Rejected(62, "Not found")
        return ok(**{entity: self.emu.store.render(entity, direct)})

    def write(self, entity: Entity, request: Request, op: str) -> Reply:
        if not isinstance(request.body, dict):
            raise Rejected(26, "An invalid value was provided for the body")
        self._publish(self.emu.store.upsert(entity, request.body, op))
        return ok()

    def delete(self, entity: Entity, request: Request) -> Reply:
        uniqueid = request.query.get("uniqueid", "").strip()
        if not uniqueid or self.emu.store.delete(entity, uniqueid) is None:
            raise Rejected(62, "Not found")
        self.emu.stats.changed(1)
        return ok()

    # -- timeline --------------------------------------------------------------------

    def _references(self, items: Any) -> list[tuple[Entity, str]]:
        """Resolve ``references[].value``: an email or phone (person), a domain (company) or an App Link
        (project). A value that is no address at all, such as a syncKey or direct id, is errorcode 32.
        With ``unknown_reference_creates_person``, an e-mail no record has becomes a new person."""
        found: list[tuple[Entity, str]] = []
        for item in items:
            value = str(item.get("value") if isinstance(item, Mapping) else item or "").strip()
            target = self._resolve_address(value)
            if target is not None:
                found.append(target)
            elif not _ADDRESS.fullmatch(value):
                raise Rejected(32, "Invalid address")
            elif self.emu.behaviour.unknown_reference_creates_person and _EMAIL.fullmatch(value):
                found.append(("person", self.emu.store.insert("person", {"emails": [{"value": value}]})))
        return found

    def _resolve_address(self, value: str) -> tuple[Entity, str] | None:
        entities: tuple[Entity, ...] = ("person", "company", "project")
        for entity in entities:
            direct = self.emu.store.resolve_address(entity, value)
            if direct is not None:
                return entity, direct
        return None

    def _timeline(self, kind: str, body: Mapping[str, Any], refs: list[tuple[Entity, str]],
                  replaces: Callable[[Mapping[str, Any]], bool] | None = None) -> Reply:
        """Store one item; ``replaces`` picks the earlier items it takes the place of."""
        preview = body.get("preview")
        if isinstance(preview, str) and len(preview.encode()) > PREVIEW_MAX_BYTES:
            raise Rejected(26, f"An invalid value was provided for the preview: longer than {PREVIEW_MAX_BYTES} bytes")
        if body.get("dryrun"):
            return ok()
        timeline = self.emu.store.timeline
        if replaces is not None:
            timeline[:] = [t for t in timeline if not replaces(t)]
        self.emu.store.timeline.append({"kind": kind, **body, "received": int(time.time() * 1000)})
        if self.emu.behaviour.timeline_bumps_last_changed:
            self._publish(self.emu.store.touch_referenced(refs))
        return ok()

    def communication(self, request: Request) -> Reply:
        body = _object(request.body)
        refs = self._references(_array(body, "references"))
        date = body.get("date")
        if isinstance(date, (int, float)) and date > time.time() * 1000 + _FUTURE_SLACK_MS:
            raise Rejected(38, "Communication date is in the future")
        for item in _array(body, "recipients"):
            value = str(item.get("value") if isinstance(item, Mapping) else item or "").strip()
            hit = self._resolve_address(value)
            if hit is not None:
                refs.append(hit)
        thread = body.get("threadid")
        if self.emu.behaviour.communication_update_matches == "threadid" and body.get("update") and thread:
            return self._timeline("communication", body, refs,
                                  replaces=lambda t: t["kind"] == "communication" and t.get("threadid") == thread)
        return self._timeline("communication", body, refs)

    def content(self, request: Request) -> Reply:
        body = _object(request.body)
        style = str(body.get("style") or "note")
        if style in ("note", "todo") and not (body.get("uniqueid") and body.get("source")):
            raise Rejected(11, "No identifiers available")
        date = body.get("date")
        future = isinstance(date, (int, float)) and date > time.time() * 1000 + _FUTURE_SLACK_MS
        if style == "event" and future and not self.emu.behaviour.event_future_allowed:
            raise Rejected(38, "Event date is in the future")
        refs = self._references(_array(body, "references"))
        key = (body.get("source"), body.get("uniqueid"))
        if not (key[0] and key[1]):
            return self._timeline("content", body, refs)
        earlier = [t for t in self.emu.store.timeline if (t.get("source"), t.get("uniqueid")) == key]
        flag = self.emu.behaviour.content_update_flag
        if earlier and not body.get("update") and (flag == "all" or flag == "events" and style == "event"):
            return ok()  # "update the existing record if it's already been imported": not asked, so kept
        if not self.emu.behaviour.content_repost_replaces:
            return self._timeline("content", body, refs)
        return self._timeline("content", body, refs,
                              replaces=lambda t: (t.get("source"), t.get("uniqueid")) == key)

    def todo(self, request: Request) -> Reply:
        body = _object(request.body)
        if not str(body.get("subject") or "").strip():
            raise Rejected(11, "A subject is required")
        refs = [
            hit for p in _array(body, "participants") if (hit := self._resolve_address(str(p))) is not None
        ]
        return self._timeline("todo", body, refs)

    # -- webhooks --------------------------------------------------------------------

    def subscribe(self, request: Request) -> Reply:
        return ok(uniqueid=self.emu.webhooks.subscribe(_object(request.body)))

    def unsubscribe(self, request: Request) -> Reply:
        if not self.emu.webhooks.unsubscribe(_object(request.body)):
            raise Rejected(62, "Not found")
        return ok()


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise Rejected(26, "An invalid value was provided for the body")
    return body


def _array(body: Mapping[str, Any], name: str) -> list[Any]:
    """A documented array field (``recipients[]``, ``participants[]``, ``references[]``); any other
    JSON type is errorcode 26, like every other invalid value."""
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise Rejected(26, f"An invalid value was provided for the {name}: {value!r}")
    return value


def _pairs(items: tuple[tuple[str, str], ...]) -> list[dict[str, str]]:
    return [{"key": k, "name": n} for k, n in items]


def _summary(entity: Entity, record: Mapping[str, Any]) -> dict[str, Any]:
    first = ""
    for name in ("emails", "phones"):
        for item in record.get(name, []):
            first = first or str(item.get("value", ""))
    if entity == "company" and not first and record.get("domains"):
        first = str(record["domains"][0])
    return {
        "syncKey": record.get("syncKey"),
        "direct": record.get("direct"),
        "name": record.get("name"),
        "lastChanged": record.get("lastChanged"),
        "summary": first,
    }


def decode_body(raw: bytes) -> Any:
    """The JSON request body; raises ``ValueError`` when it is not JSON."""
    if not raw.strip():
        return None
    return json.loads(raw)
