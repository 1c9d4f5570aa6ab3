"""A client for the Cloze REST API (``https://api.cloze.com/v1/...``).

It speaks the wire format: records are the JSON objects Cloze sends and
accepts (``PersonRef``, ``CompanyRef``, ``ProjectRef``). Mapping them to the
canonical model is the connector's job (:mod:`connectors.cloze.mapping`).

Every request goes through :class:`connectors.http.ApiSession`, so pacing,
retries honouring ``Retry-After`` and secret redaction are shared with the
other connectors; :func:`connectors.cloze.classify.make_classifier` teaches it
Cloze's envelope (``errorcode`` with HTTP 200 for business errors).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Self, TypedDict, Unpack

import httpx
import structlog

from connectors.base import ApiObserver
from connectors.cloze import logfilter
from connectors.cloze.choices import ClozeApiAssumptions
from connectors.cloze.classify import body_of, make_classifier
from connectors.cloze.wire import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    PATH,
    app_link_uniqueid,
    live_elements,
)
from connectors.errors import RecordRejected
from connectors.http import ApiSession, RateLimiter, Redactor, RetryPolicy, safe_url
from connectors.loops import RepeatGuard
from connectors.model import AppLink, Entity

log = structlog.get_logger("syncd.cloze")

DEFAULT_BASE_URL = "https://api.cloze.com"

AuthKind = Literal["api_key", "bearer"]
Json = dict[str, Any]


class FindFilters(TypedDict, total=False):
    """The structured filters of ``find`` (spec §2.2); ``None`` means "not sent"."""

    stage: str | None
    segment: str | None
    step: str | None
    assigned: bool | None
    assignee: str | None
    scope: str | None
    freeformquery: str | None
    sort: str | None
    group: str | None
    hidelostdone: bool | None
    collaborator: str | None


class FeedStart(TypedDict, total=False):
    """The parameters of a feed's first request (spec §2.2, §4)."""

    modifiedafter: int | str | None
    pagesize: int
    keysonly: bool
    includeauditedchanges: bool
    summaryonly: bool
    scope: str | None
    stage: str | None
    segment: str | None
    freeformquery: str | None


@dataclass(frozen=True)
class FindPage:
    """One page of ``find``: the records, the total match count, and where this page sits."""

    records: list[Json]
    available: int | None
    page: int
    page_size: int


@dataclass(frozen=True)
class FeedPage:
    """One batch of a feed.

    ``records`` are full records (or ``{syncKey}`` objects with ``keysonly``).
    With ``includeauditedchanges`` the parallel list ``changes`` holds each
    record's ``{field: {before, after}}`` map. ``cursor`` continues after this batch.
    """

    records: list[Json]
    cursor: str
    available: int | None
    changes: list[Json] = field(default_factory=list)


def _params(values: Mapping[str, Any]) -> dict[str, str]:
    """Query parameters as Cloze expects them: booleans as ``true``/``false``, ``None`` left out."""
    out: dict[str, str] = {}
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        else:
            out[key] = str(value)
    return out


def app_link_json(link: AppLink, *, archived: bool = False) -> Json:
    body: Json = {"source": link.source.lower(), "uniqueid": link.uniqueid}
    if link.label:
        body["label"] = link.label
    if link.url:
        body["url"] = link.url
    if archived:
        body["archived"] = True
    return body


class ClozeClient:
    """Typed access to every Cloze endpoint cloze-syncd uses.

    ``auth="api_key"`` sends ``api_key`` (and ``user`` when given) as query
    parameters, the scheme most integrations use; ``auth="bearer"`` sends
    ``Authorization: Bearer <key>``, which works for an API key and an OAuth
    access token alike (spec §1). The key is registered with the session's
    redactor and with the HTTP libraries' loggers, so it never appears in a
    log line or an exception.
    """

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        auth: AuthKind = "api_key",
        user: str | None = None,
        timeout: float = 30.0,
        verify: bool = True,
        rate_per_second: float | None = 4.0,
        retry: RetryPolicy | None = None,
        assumptions: ClozeApiAssumptions | None = None,
        observer: ApiObserver | None = None,
        pair: str | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not api_key:
            raise ValueError("a Cloze API key (or OAuth access token) is required")
        self.assumptions = assumptions or ClozeApiAssumptions()
        logfilter.protect(api_key)
        redactor = Redactor([api_key])
        headers = {"Accept": "application/json", "User-Agent": "cloze-syncd"}
        self._auth_params: dict[str, str] = {}
        if auth == "bearer":
            headers["Authorization"] = f"Bearer {api_key}"
        else:
            self._auth_params["api_key"] = api_key
        if user:
            self._auth_params["user"] = user
        self.session = ApiSession(
            base_url.rstrip("/"),
            side="cloze",
            pair=pair,
            service="Cloze",
            timeout=timeout,
            verify=verify,
            headers=headers,
            retry=retry,
            limiter=RateLimiter(rate_per_second) if rate_per_second else None,
            observer=observer,
            redactor=redactor,
            classifier=make_classifier(self.assumptions.auth_errorcodes),
            transport=transport,
            sleep=sleep,
        )

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport -----------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        idempotent: bool = True,
    ) -> Any:
        query = {**_params(params or {}), **self._auth_params}
        kwargs: dict[str, Any] = {"params": query}
        if body is not None:
            kwargs["json"] = body
        response = self.session.request(method, path, idempotent=idempotent, **kwargs)
        return body_of(response)

    def _not_found(self, exc: RecordRejected) -> bool:
        return exc.code is not None and int(exc.code) in self.assumptions.not_found_errorcodes

    # -- find ----------------------------------------------------------------------

    def find(
        self,
        entity: Entity,
        *,
        page: int = 1,
        page_size: int = DEFAULT_PAGE_SIZE,
        **filters: Unpack[FindFilters],
    ) -> FindPage:
        """One page of ``GET /v1/{kind}/find`` (``pagenumber`` from 1, ``pagesize`` at most 1000)."""
        size = max(1, min(page_size, MAX_PAGE_SIZE))
        params: dict[str, Any] = {"pagenumber": page, "pagesize": size, **filters}
        body = self._call("GET", f"/v1/{PATH[entity]}/find", params=params)
        records = [r for r in body.get(PATH[entity], []) if isinstance(r, dict)]
        available = body.get("availablecount")
        return FindPage(records, available if isinstance(available, int) else None, page, size)

    def count(self, entity: Entity, **filters: Unpack[FindFilters]) -> int:
        """``find`` with ``countonly=true``: the number of matching records."""
        params: dict[str, Any] = {"countonly": True, **filters}
        body = self._call("GET", f"/v1/{PATH[entity]}/find", params=params)
        return int(body.get("availablecount") or 0)

    def iter_find(
        self, entity: Entity, *, page_size: int = MAX_PAGE_SIZE, **filters: Unpack[FindFilters]
    ) -> Iterator[list[Json]]:
        """Every matching record, page by page.

        Stops on a short page or once ``availablecount`` records were seen
        (both stop rules are used by integrations, spec §4).
        """
        page, seen = 1, 0
        while True:
            result = self.find(entity, page=page, page_size=page_size, **filters)
            if result.records:
                yield result.records
            seen += len(result.records)
            if len(result.records) < result.page_size:
                return
            if result.available is not None and seen >= result.available:
                return
            page += 1

    # -- feed ----------------------------------------------------------------------

    def feed_start(self, entity: Entity, **start: Unpack[FeedStart]) -> FeedPage:
        """The first request of a feed; later batches come from :meth:`feed_next`."""
        params: dict[str, Any] = dict(start)
        params["pagesize"] = max(1, min(int(params.get("pagesize") or DEFAULT_PAGE_SIZE), MAX_PAGE_SIZE))
        for flag in ("keysonly", "includeauditedchanges", "summaryonly"):
            if not params.get(flag):
                params.pop(flag, None)
        return self._feed(entity, params)

    def feed_next(self, entity: Entity, cursor: str) -> FeedPage:
        """The batch after ``cursor`` (only the cursor and auth are sent, spec §2.2)."""
        return self._feed(entity, {"cursor": cursor})

    def _feed(self, entity: Entity, params: Mapping[str, Any]) -> FeedPage:
        path = f"/v1/{PATH[entity]}/feed"
        body = self._call("GET", path, params=params)
        cursor = body.get("cursor")
        if not isinstance(cursor, str) or not cursor:
            raise RecordRejected("Cloze feed reply carries no cursor", side="cloze", entity=entity,
                                 pair=self.session.pair, url=safe_url(f"{self.session.base_url}{path}"))
        available = body.get("availablecount")
        avail = available if isinstance(available, int) else None
        if isinstance(body.get("results"), list):
            records: list[Json] = []
            changes: list[Json] = []
            for item in body["results"]:
                if isinstance(item, dict) and isinstance(item.get(entity), dict):
                    records.append(item[entity])
                    delta = item.get("changes")
                    changes.append(delta if isinstance(delta, dict) else {})
            return FeedPage(records, cursor, avail, changes)
        return FeedPage([r for r in body.get(PATH[entity], []) if isinstance(r, dict)], cursor, avail)

    def iter_feed(
        self, entity: Entity, cursor: str | None = None, **start: Unpack[FeedStart]
    ) -> Iterator[FeedPage]:
        """Batches from ``cursor`` (or a new feed) up to and including the first empty one.

        A cursor handed out twice, or the same batch twice, is a loop (:class:`RepeatGuard`).
        """
        guard = RepeatGuard(side="cloze", pair=self.session.pair, entity=entity, service="Cloze",
                            url=safe_url(f"{self.session.base_url}/v1/{PATH[entity]}/feed"))
        if cursor:
            guard.see(cursor)
        page = self.feed_next(entity, cursor) if cursor else self.feed_start(entity, **start)
        while True:
            yield page
            if not page.records:
                return
            guard.see(page.cursor)
            guard.see(_batch_key(page.records), what="batch of records")
            page = self.feed_next(entity, page.cursor)

    def live_sync_keys(self, entity: Entity, pagesize: int = MAX_PAGE_SIZE) -> set[str]:
        """Every live record's ``syncKey`` (the ``keysonly`` sweep that reveals deletions, spec §4)."""
        keys: set[str] = set()
        for page in self.iter_feed(entity, keysonly=True, pagesize=pagesize):
            keys.update(str(r["syncKey"]) for r in page.records if r.get("syncKey"))
        return keys

    # -- get / create / update / delete ----------------------------------------------

    def get(
        self, entity: Entity, uniqueid: str, *, team: bool = False, detailed: bool = False
    ) -> Json | None:
        """``GET /v1/{kind}/get?uniqueid=``: the record, or ``None`` when nothing matches.

        ``uniqueid`` may be an email, a phone, a domain (companies), a social
        handle, an App Link ``source:uniqueid``, a ``direct`` id or a ``syncKey``.
        """
        params: dict[str, Any] = {"uniqueid": uniqueid, "team": team or None}
        if entity == "project" and detailed:
            params["detailed"] = True
        try:
            body = self._call("GET", f"/v1/{PATH[entity]}/get", params=params)
        except RecordRejected as exc:
            if self._not_found(exc):
                return None
            raise
        record = body.get(entity)
        return record if isinstance(record, dict) and record else None

    def get_by_direct(self, entity: Entity, direct_id: str) -> Json | None:
        return self.get(entity, self.assumptions.direct_uniqueid(entity, direct_id))

    def get_by_app_link(self, entity: Entity, source: str, uniqueid: str) -> Json | None:
        """The record carrying App Link ``(source, uniqueid)``.

        With ``get`` where ``app_link_lookup`` allows it (projects by default, the only kind
        documented to take that form), else by reading the feed until a record carries it.
        """
        if self.assumptions.app_link_by_get(entity):
            record = self.get(entity, app_link_uniqueid(source, uniqueid))
            return record if record is not None and has_app_link(record, source, uniqueid) else None
        for page in self.iter_feed(entity, pagesize=MAX_PAGE_SIZE):
            for record in page.records:
                if has_app_link(record, source, uniqueid):
                    return record
        return None

    def create(self, entity: Entity, record: Mapping[str, Any]) -> None:
        """``POST /v1/{kind}/create``: create, or merge into the record its identifiers name.

        Cloze returns no id (spec §2.1); read the record back by one of its identifiers.
        A create is repeated safely only when it carries an identifier (an App Link),
        so ``forceCreate`` bodies are never retried after an ambiguous failure.
        """
        self._write("create", entity, record, idempotent=not record.get("forceCreate"))

    def update(self, entity: Entity, record: Mapping[str, Any]) -> None:
        """``POST /v1/{kind}/update``: merge ``record`` into the record its identifiers name."""
        self._write("update", entity, record, idempotent=True)

    def _write(self, op: str, entity: Entity, record: Mapping[str, Any], *, idempotent: bool) -> None:
        try:
            self._call("POST", f"/v1/{PATH[entity]}/{op}", body=dict(record), idempotent=idempotent)
        except RecordRejected as exc:
            exc.entity = exc.entity or entity
            exc.record_id = exc.record_id or _identity_hint(record)
            raise
        if _debug_logged():  # the hint is built only for a line that is written
            log.debug("cloze_write", op=op, entity=entity, record=_identity_hint(record))

    def delete(self, entity: Entity, uniqueid: str, *, team: bool = False) -> bool:
        """``DELETE /v1/{kind}/delete``; ``False`` when nothing matched (errorcode 62)."""
        try:
            self._call(
                "DELETE", f"/v1/{PATH[entity]}/delete", params={"uniqueid": uniqueid, "team": team or None}
            )
        except RecordRejected as exc:
            if self._not_found(exc):
                return False
            exc.entity = exc.entity or entity
            exc.record_id = exc.record_id or uniqueid
            raise
        log.debug("cloze_write", op="delete", entity=entity, record=uniqueid)
        return True

    def delete_by_direct(self, entity: Entity, direct_id: str) -> bool:
        return self.delete(entity, self.assumptions.direct_uniqueid(entity, direct_id))

    # -- targeted updates ------------------------------------------------------------

    def target_of(self, record: Mapping[str, Any]) -> Json:
        """The identity fragment an update body carries to name ``record`` (``update_identity``)."""
        target: Json = {}
        mode = self.assumptions.update_identity
        if mode in ("direct", "both") and record.get("direct"):
            target["direct"] = record["direct"]
        if mode in ("synckey", "both") and record.get("syncKey"):
            target["syncKey"] = record["syncKey"]
        if not target:
            for key in ("direct", "syncKey"):
                if record.get(key):
                    target[key] = record[key]
        return target

    def add_app_link(self, entity: Entity, target: Mapping[str, Any], link: AppLink) -> None:
        self.update(entity, {**target, "appLinks": [app_link_json(link)]})

    def remove_app_link(self, entity: Entity, target: Mapping[str, Any], link: AppLink) -> None:
        self.update(entity, {**target, "appLinks": [app_link_json(link, archived=True)]})

    def set_keywords(self, entity: Entity, target: Mapping[str, Any], keywords: Sequence[str]) -> None:
        """Write ``keywords`` (the whole list under ``keywords_write='replace'``, additions under 'merge')."""
        self.update(entity, {**target, "keywords": list(keywords)})

    def set_relationship(
        self,
        entity: Entity,
        target: Mapping[str, Any],
        *,
        segment: str | None = None,
        stage: str | None = None,
        step: str | None = None,
    ) -> None:
        body = {**target, **{k: v for k, v in (("segment", segment), ("stage", stage), ("step", step)) if v}}
        self.update(entity, body)

    def set_custom_fields(
        self,
        entity: Entity,
        target: Mapping[str, Any],
        values: Sequence[Mapping[str, Any]],
        *,
        replace: bool = False,
    ) -> None:
        """Write custom field values ``{id, type, value}``; ``replace`` overrides Cloze's merge."""
        items = [{**v, "replace": True} if replace else dict(v) for v in values]
        self.update(entity, {**target, "customFields": items})

    # -- account settings --------------------------------------------------------------

    def profile(self) -> Json:
        """``GET /v1/user/profile`` (the reply key is ``profile``; the spec example says ``user``)."""
        body = self._call("GET", "/v1/user/profile")
        for key in ("profile", "user"):
            if isinstance(body.get(key), dict):
                return dict(body[key])
        return {}

    def fields(self, relationtype: Entity | None = None) -> list[Json]:
        """Custom field definitions (``FieldCustomization``), optionally for one entity."""
        body = self._call("GET", "/v1/user/fields", params={"relationtype": relationtype})
        return [f for f in body.get("list", []) if isinstance(f, dict)]

    def segments(self, of: Literal["people", "projects"]) -> list[Json]:
        """``[{name, key}]``; the people list also serves companies (spec §7)."""
        return [
            s for s in self._call("GET", f"/v1/user/segments/{of}").get("list", []) if isinstance(s, dict)
        ]

    def stages(self, of: Literal["people", "projects"]) -> list[Json]:
        return [s for s in self._call("GET", f"/v1/user/stages/{of}").get("list", []) if isinstance(s, dict)]

    def steps(self, segment: str | None = None, stage: str | None = None) -> Json:
        """``{segment: {stage: {steps: [{name, key}]}}}``."""
        body = self._call("GET", "/v1/user/steps", params={"segment": segment, "stage": stage})
        segments = body.get("segments")
        return dict(segments) if isinstance(segments, dict) else {}

    def views(self) -> Json:
        body = self._call("GET", "/v1/user/views")
        return {k: v for k, v in body.items() if k not in ("errorcode", "message")}

    # -- timeline ----------------------------------------------------------------------

    def create_communication(self, body: Mapping[str, Any]) -> None:
        """Log a call, email, meeting... (``POST /v1/timeline/communication/create``)."""
        self._call("POST", "/v1/timeline/communication/create", body=dict(body), idempotent=False)

    def create_content(self, body: Mapping[str, Any]) -> None:
        """Add a note, event or external to-do; ``source`` + ``uniqueid`` make it idempotent."""
        keyed = bool(body.get("source") and body.get("uniqueid"))
        self._call("POST", "/v1/timeline/content/create", body=dict(body), idempotent=keyed)

    def create_todo(self, body: Mapping[str, Any]) -> None:
        self._call("POST", "/v1/timeline/todo/create", body=dict(body), idempotent=False)

    # -- webhooks ----------------------------------------------------------------------

    def subscribe(
        self,
        event: str,
        target_url: str,
        *,
        scope: str | None = None,
        filters: Sequence[Mapping[str, Any]] | None = None,
        client_type: str | None = None,
        client_reference: str | None = None,
        ttl: int | None = None,
    ) -> str:
        """Subscribe ``target_url`` to ``event``; returns the subscription's ``uniqueid``.

        Subscribing again with the same ``client_reference`` replaces the old
        subscription (spec §6), which makes the call safe to repeat.
        """
        body: Json = {"event": event, "target_url": target_url}
        for key, value in (
            ("scope", scope),
            ("client_type", client_type),
            ("client_reference", client_reference),
        ):
            if value:
                body[key] = value
        if filters:
            body["filters"] = [dict(f) for f in filters]
        if ttl is not None:
            body["ttl"] = str(ttl)
        reply = self._call("POST", "/v1/webhooks/subscribe", body=body, idempotent=bool(client_reference))
        uid = reply.get("uniqueid") or reply.get("uniqueId")
        if not isinstance(uid, str) or not uid:
            raise RecordRejected("Cloze subscribe reply carries no uniqueid", side="cloze")
        return uid

    def unsubscribe(
        self, event: str, *, uniqueid: str | None = None, client_reference: str | None = None
    ) -> bool:
        """Remove a subscription by id or by ``client_reference``; ``False`` when none matched."""
        if not uniqueid and not client_reference:
            raise ValueError("unsubscribe needs uniqueid or client_reference")
        body: Json = {"event": event}
        if uniqueid:
            body["uniqueid"] = uniqueid
        if client_reference:
            body["client_reference"] = client_reference
        try:
            self._call("POST", "/v1/webhooks/unsubscribe", body=body)
        except RecordRejected as exc:
            if self._not_found(exc):
                return False
            raise
        return True

    def webhooks(self) -> list[Json]:
        """Current subscriptions; ``uniqueid`` is filled in when Cloze spells it ``uniqueId``."""
        items = [dict(s) for s in self._call("GET", "/v1/webhooks").get("list", []) if isinstance(s, dict)]
        for item in items:
            if "uniqueid" not in item and "uniqueId" in item:
                item["uniqueid"] = item["uniqueId"]
        return items


def has_app_link(record: Mapping[str, Any], source: str, uniqueid: str) -> bool:
    key = (source.lower(), uniqueid)
    for link in live_elements(record.get("appLinks")):
        if (
            isinstance(link, Mapping)
            and (str(link.get("source", "")).lower(), str(link.get("uniqueid", ""))) == key
        ):
            return True
    return False


def _batch_key(records: Sequence[Mapping[str, Any]]) -> tuple[tuple[str, str], ...]:
    """What makes a feed batch itself: each record's id and change stamp, in order."""
    return tuple(
        (str(r.get("direct") or r.get("syncKey") or r.get("id") or ""), str(r.get("lastChanged") or ""))
        for r in records
    )


def _debug_logged() -> bool:
    """Whether a debug line would be written (a logger that cannot tell is assumed to write it)."""
    enabled = getattr(log, "is_enabled_for", None)
    return enabled is None or bool(enabled(logging.DEBUG))


def _identity_hint(record: Mapping[str, Any]) -> str | None:
    """A short, secret-free name for a record in error context (direct id or App Link)."""
    if record.get("direct"):
        return str(record["direct"])
    for link in live_elements(record.get("appLinks")):
        if isinstance(link, Mapping) and link.get("source"):
            return app_link_uniqueid(str(link["source"]), str(link.get("uniqueid", "")))
    return None
