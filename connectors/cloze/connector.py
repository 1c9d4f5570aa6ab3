"""``ClozeConnector``: the Cloze side of a pair.

Reads come from the feed (ascending ``lastChanged``, an opaque cursor that is
stored as the pair's position); ``Record.id`` is the stable ``direct`` id.
Only documented behaviour is relied on (spec §2.3): records are looked up by
direct id, e-mail, phone or domain, and by App Link only for projects; people
and companies are found by App Link in the feed.

Writes are upserts that carry the pair's App Link in the same call as the
fields. Cloze returns no id (spec §2.1), so a batch of writes is confirmed by
one feed read from a position taken before it, which returns every record the
batch changed with its direct id and App Links; only a record missing from it is
looked up on its own. A record read earlier in the run (see
:mod:`connectors.cloze.known`) is updated without being read again. One bad
record never raises: it becomes a failed :class:`~connectors.model.WriteResult`
with Cloze's message and errorcode.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator

from connectors.activity import PutResult, TimelineItem
from connectors.base import Capabilities, Connector, ConnectorContext, ConnectorSettings, Problem
from connectors.cloze.choices import ClozeApiAssumptions
from connectors.cloze.client import DEFAULT_BASE_URL, ClozeClient, FeedPage, app_link_json, has_app_link
from connectors.cloze.known import KnownRecords, link_keys
from connectors.cloze.mapping import TEXT_FIELDS, Unsupported, body_for, to_record
from connectors.cloze.notifications import ClozeNotifications
from connectors.cloze.timeline import ClozeTimeline
from connectors.cloze.wire import KINDS
from connectors.entities import ENTITY_KINDS
from connectors.errors import ApiError, RecordRejected
from connectors.http import RetrySettings
from connectors.model import (
    CHANGED_SINCE_READ,
    AppLink,
    ChangePage,
    CreateRequest,
    Entity,
    FieldSpec,
    Record,
    UpdateRequest,
    WriteResult,
)
from connectors.notifications import Listener
from connectors.values import norm_domain, norm_email, norm_phone

Json = dict[str, Any]


class ClozeSettings(RetrySettings):
    """The ``[pairs.NAME.cloze]`` table. Secrets arrive resolved (``env:``/``file:``/``credential:``)."""

    base_url: str = Field(
        default=DEFAULT_BASE_URL, description="the API root; the sandbox points it at the emulator"
    )
    auth: Literal["api_key", "bearer"] = Field(
        default="api_key",
        description="'api_key': key (and user) as query parameters; 'bearer': Authorization header (API key or OAuth token)",
    )
    api_key: SecretStr = Field(description="Cloze API key or OAuth access token")
    user: str | None = Field(default=None, description="the Cloze account e-mail (optional with API keys)")
    timeout: float = Field(default=30.0, gt=0, le=600, description="seconds per request")
    verify_tls: bool = Field(default=True, description="verify the server certificate")
    rate_per_second: float = Field(
        default=4.0, gt=0, le=1000, description="request pacing (Cloze documents no limit)"
    )
    page_size: int = Field(
        default=500, ge=1, le=1000, description="records per find/feed page (Cloze caps at 1000)"
    )
    api_assumptions: ClozeApiAssumptions = Field(
        default_factory=ClozeApiAssumptions,
        description="how undocumented parts of the Cloze API are handled (see connectors/cloze/choices.py)",
    )

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("https://", "http://")):
            raise ValueError("base_url must start with https:// (or http:// for a local emulator)")
        return v.rstrip("/")


# The identifiers by which Cloze merges a create into an existing record (spec §2.4).
CLOZE_MERGE_KEYS = frozenset({"emails", "phones", "domains"})


class ClozeConnector(Connector[ClozeSettings]):
    """The Cloze side of a pair (entry point ``cloze``)."""

    name = "cloze"

    def __init__(self, settings: ClozeSettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        self.cfg = settings
        self.assumptions = settings.api_assumptions
        self.client = ClozeClient(
            settings.api_key.get_secret_value(),
            base_url=settings.base_url,
            auth=settings.auth,
            user=settings.user,
            timeout=settings.timeout,
            verify=settings.verify_tls,
            rate_per_second=settings.rate_per_second,
            retry=settings.retry_policy(),
            assumptions=settings.api_assumptions,
            observer=context.observer,
            pair=context.pair,
        )
        self._custom_types: dict[Entity, dict[str, str]] | None = None
        self.known = KnownRecords()
        self.timeline = ClozeTimeline(self.client)

    def put_timeline(self, item: TimelineItem) -> PutResult:
        """Write one timeline activity (:class:`connectors.activity.ActivitySink`)."""
        return self.timeline.put(item)

    def close(self) -> None:
        self.client.close()
        self.known.close()

    @classmethod
    def change_notifications(cls, settings: ConnectorSettings, context: ConnectorContext,
                             listener: Listener) -> ClozeNotifications | None:
        """Cloze webhooks, trusted by a per-pair token derived from ``daemon.webhooks.secret``."""

        @contextmanager
        def client() -> Iterator[ClozeClient]:
            connector = cls.build(settings, context)
            try:
                yield connector.client
            finally:
                connector.close()

        return ClozeNotifications(context.pair, listener, client)

    # -- description ---------------------------------------------------------------------

    def entities(self) -> frozenset[Entity]:
        return frozenset(KINDS)

    def fields(self, entity: Entity) -> Mapping[str, FieldSpec]:
        return ENTITY_KINDS.fields(entity)

    def capabilities(self, entity: Entity) -> Capabilities:
        # Cloze resolves a create through its identifiers and merges it into the record found. Its
        # feed has no tombstones (a delete shows only in a listing); it sends webhooks.
        return Capabilities(merges_on_create=CLOZE_MERGE_KEYS, deletes_in_feed=False, change_notifications=True)

    def check(self) -> list[Problem]:
        """The key reaches an account (``/v1/user/profile``), and every mapped custom field is defined there."""
        profile = self.client.profile()
        if not profile.get("email"):
            raise ApiError("Cloze /v1/user/profile returned no account", side="cloze", pair=self.context.pair)
        problems = []
        for entity, wanted in sorted(self.context.custom_fields.items()):
            defined = {str(f.get("id")) for f in self.client.fields(entity)}
            for native in wanted:
                if native not in defined:
                    problems.append(Problem(
                        f"Cloze has no {entity} custom field {native!r} (mapped as custom:{native})",
                        f"add it in Cloze (Settings, Custom Fields), or fix the cloze name of that field in "
                        f"pairs.{self.context.pair}.entities.{entity}.fields", f"entities.{entity}.fields.custom:{native}"))
        return problems

    def account_identity(self) -> dict[str, str]:
        """The account e-mail from ``GET /v1/user/profile``.

        Cloze documents no account id: the profile's ``email`` is what API-key
        authentication names the account by (the ``user`` parameter), so it is the
        identity. This is the one place to change if Cloze ever exposes an account id.
        """
        email = self.client.profile().get("email")
        if not email:
            raise ApiError("Cloze /v1/user/profile returned no account", side="cloze", pair=self.context.pair)
        return {"user": str(email).strip().lower()}

    def describe(self) -> dict[str, Any]:
        profile = self.client.profile()
        return {
            "account": profile.get("email"),
            "name": profile.get("name"),
            "stages": {"people": self.client.stages("people"), "projects": self.client.stages("projects")},
            "segments": {
                "people": self.client.segments("people"),
                "projects": self.client.segments("projects"),
            },
            "steps": self.client.steps(),
            "custom_fields": [
                {k: f.get(k) for k in ("id", "type", "name", "relations")} for f in self.client.fields()
            ],
        }

    # -- reads -------------------------------------------------------------------------

    def begin_run(self) -> None:
        """Forget what earlier runs read: a record read then may have changed since."""
        self.known.reset()

    def _record(self, entity: Entity, data: Mapping[str, Any]) -> Record:
        custom = self.context.custom_fields.get(entity, ())
        return to_record(entity, data, custom, self.assumptions, self._types(entity) if custom else None)

    def _seen(self, entity: Entity, page: FeedPage) -> None:
        """Keep a feed page's records and position (the feed reaches the present at its last page)."""
        self.known.remember(entity, page.records)
        self.known.cursor[entity] = page.cursor

    def changes(self, entity: Entity, cursor: str | None) -> Iterator[ChangePage]:
        """Feed batches after ``cursor``; ``None`` starts a new feed, which lists everything first."""
        last = cursor
        try:
            for page in self.client.iter_feed(entity, cursor, pagesize=self.cfg.page_size):
                self._seen(entity, page)
                if page.records:
                    yield ChangePage([self._record(entity, r) for r in page.records], page.cursor)
                    last = page.cursor
                elif page.cursor != last:
                    yield ChangePage([], page.cursor)
            if cursor is None:
                self.known.mark_complete(entity)
        except RecordRejected as exc:
            if cursor is not None and last == cursor:
                exc.hint = "the stored Cloze feed cursor was refused; a full reconcile starts a new one"
            raise

    def list_all(self, entity: Entity) -> Iterator[Sequence[Record]]:
        """Every live record, through a new feed (keyset paging stays consistent while records change)."""
        for page in self.client.iter_feed(entity, pagesize=self.cfg.page_size):
            self._seen(entity, page)
            if page.records:
                yield [self._record(entity, r) for r in page.records]
        self.known.mark_complete(entity)

    def _scan(self, entity: Entity) -> None:
        """Read the whole feed once (for lookups that no documented ``get`` can answer)."""
        for page in self.client.iter_feed(entity, pagesize=self.cfg.page_size):
            self._seen(entity, page)
        self.known.mark_complete(entity)

    def _scan_is_cheaper(self, entity: Entity, wanted: int) -> bool:
        """Whether one full feed read costs fewer calls than ``wanted`` gets by direct id."""
        if entity in self.known.complete or wanted < 3:
            return False
        if entity not in self.known.sizes:
            self.known.sizes[entity] = self.client.count(entity)
        pages = -(-self.known.sizes[entity] // self.cfg.page_size) + 1  # the last, empty page included
        return pages < wanted

    def _wire(self, entity: Entity, ids: Sequence[str]) -> dict[str, Json]:
        """Wire records by direct id: from this run's reads, else one feed read or a get each."""
        out: dict[str, Json] = {}
        missing = []
        for direct in dict.fromkeys(ids):
            data = self.known.get(entity, direct)
            if data is not None:
                out[direct] = data
            else:
                missing.append(direct)
        if self._scan_is_cheaper(entity, len(missing)):
            self._scan(entity)
            for direct in list(missing):
                data = self.known.get(entity, direct)
                if data is not None:
                    out[direct] = data
                    missing.remove(direct)
        for direct in missing:
            data = self.client.get_by_direct(entity, direct)
            # a merged-away id may resolve to the survivor: that record is not this id any more
            if data is not None and str(data.get("direct") or direct) == direct:
                self.known.remember(entity, [data])
                out[direct] = data
        return out

    def get(self, entity: Entity, ids: Sequence[str]) -> dict[str, Record]:
        return {d: self._record(entity, {**data, "direct": d}) for d, data in self._wire(entity, ids).items()}

    def find_linked(self, entity: Entity, ref: str) -> Record | None:
        data = self._linked(entity, self.context.app_id, ref)
        return self._record(entity, data) if data is not None else None

    def _linked(self, entity: Entity, source: str, uniqueid: str) -> Json | None:
        """The record carrying an App Link: by ``get`` where documented (projects), else from the feed."""
        if self.assumptions.app_link_by_get(entity):
            data = self.client.get_by_app_link(entity, source, uniqueid)
            if data is not None:
                self.known.remember(entity, [data])
            return data
        found = self.known.linked(entity, source, uniqueid)
        if found is None and entity not in self.known.complete:
            self._scan(entity)
            found = self.known.linked(entity, source, uniqueid)
        return found

    def lookup(self, entity: Entity, field_name: str, value: str) -> list[Record]:
        if field_name == "name":
            return self._lookup_name(entity, value)
        norm = {"emails": norm_email, "phones": norm_phone, "domains": norm_domain}.get(field_name)
        if norm is None or entity == "project" or (field_name == "domains" and entity != "company"):
            return []
        data = self.client.get(entity, value.strip())
        if data is None:
            return []
        self.known.remember(entity, [data])
        record = self._record(entity, data)
        held = record.fields.get(field_name) or []
        return [record] if any(norm(str(v)) == norm(value) for v in held) else []

    def _lookup_name(self, entity: Entity, value: str) -> list[Record]:
        wanted = " ".join(value.split()).lower()
        if not wanted:
            return []
        out = []
        for page in self.client.iter_find(entity, page_size=self.cfg.page_size, freeformquery=value):
            self.known.remember(entity, page)
            for data in page:
                name = data.get("name") or " ".join(str(data.get(k) or "") for k in ("first", "last"))
                if " ".join(str(name).split()).lower() == wanted:
                    out.append(self._record(entity, data))
        return out

    def current_cursor(self, entity: Entity) -> str | None:
        cursor = self.client.feed_start(entity, modifiedafter="now", pagesize=self.cfg.page_size).cursor
        self.known.cursor[entity] = cursor
        return cursor

    # -- writes ------------------------------------------------------------------------

    def _types(self, entity: Entity) -> dict[str, str]:
        """Custom field types by id (read once; ``text`` when the account does not say)."""
        if self._custom_types is None:
            types: dict[Entity, dict[str, str]] = {e: {} for e in KINDS}
            try:
                definitions = self.client.fields()
            except RecordRejected:
                definitions = []
            key_of = {"person": "person", "company": "entity", "project": "project"}
            for f in definitions:
                relations = f.get("relations") or {}
                for e in KINDS:
                    if not relations or relations.get(key_of[e]) or relations.get(e):
                        types[e][str(f.get("id"))] = str(f.get("type") or "text")
            self._custom_types = types
        return self._custom_types[entity]

    # A batch's writes are confirmed by reading the feed from a position taken before them:
    # every record the batch changed comes back once, with its direct id and App Links.

    def _position(self, entity: Entity) -> str:
        """A feed position before the writes about to be sent (one call when this run has none yet)."""
        cursor = self.known.cursor.get(entity)
        if cursor is None:
            cursor = self.current_cursor(entity)
            assert cursor is not None
        return cursor

    def _confirm(self, entity: Entity, position: str, done: Callable[[Json], bool], expected: int) -> None:
        """Read the feed from ``position`` until ``expected`` records satisfy ``done`` or it is caught up."""
        cursor, matched = position, 0
        while matched < expected:
            page = self.client.feed_next(entity, cursor)
            self._seen(entity, page)
            cursor = page.cursor
            matched += sum(1 for r in page.records if done(r))
            if len(page.records) < self.cfg.page_size:
                break

    def _retry(self, locate: Callable[[], Json | None]) -> Json | None:
        """A documented lookup of a written record the feed did not show, tried ``read_back_attempts`` times."""
        for attempt in range(self.assumptions.read_back_attempts):
            data = locate()
            if data is not None:
                return dict(data)
            if attempt + 1 < self.assumptions.read_back_attempts:
                time.sleep(0.2 * (attempt + 1))
        return None

    def create(self, entity: Entity, requests: Sequence[CreateRequest]) -> list[WriteResult]:
        results: dict[str, WriteResult] = {}
        sent: list[tuple[CreateRequest, Json]] = []
        position = self._position(entity) if requests else ""
        for req in requests:
            try:
                body = body_for(entity, req.fields, {}, self.assumptions, self._types(entity), creating=True)
                if req.app_link is not None:
                    body["appLinks"] = [app_link_json(req.app_link)]
                self.client.create(entity, body)
            except Unsupported as exc:
                results[req.key] = WriteResult(
                    req.key, False, error=str(exc), code="unsupported", details={"field": exc.field}
                )
            except RecordRejected as exc:
                results[req.key] = _rejected(req.key, exc)
            else:
                sent.append((req, body))
        links = {(r.app_link.source.lower(), r.app_link.uniqueid) for r, _ in sent if r.app_link is not None}

        def carries_one(record: Json) -> bool:
            return not links.isdisjoint(link_keys(record))

        if sent:
            self._confirm(entity, position, carries_one, len(links))
        for req, body in sent:
            data = self._created(entity, req, body)
            if data is None:
                results[req.key] = WriteResult(
                    req.key,
                    False,
                    error="created, but Cloze could not find the record afterwards",
                    code="not_read_back",
                    retryable=True,
                )
            else:
                record = self._record(entity, data)
                results[req.key] = WriteResult(req.key, True, id=record.id, record=record)
        return [results[r.key] for r in requests]

    def _created(self, entity: Entity, req: CreateRequest, body: Mapping[str, Any]) -> Json | None:
        """The record a create landed on: from the confirming feed read, else a documented lookup."""
        if req.app_link is not None:
            found = self.known.linked(entity, req.app_link.source, req.app_link.uniqueid)
            if found is not None:
                return found
        data = self._retry(lambda: self._locate_created(entity, req, body))
        if data is not None:
            self.known.remember(entity, [data])
        return data

    def _locate_created(self, entity: Entity, req: CreateRequest, body: Mapping[str, Any]) -> Json | None:
        """A documented lookup: App Link for projects (or where ``app_link_lookup='get'``), else e-mail, phone, domain."""
        if req.app_link is not None and self.assumptions.app_link_by_get(entity):
            return self.client.get_by_app_link(entity, req.app_link.source, req.app_link.uniqueid)
        for name, key in (("emails", "value"), ("phones", "value")):
            for item in body.get(name, []):
                if isinstance(item, Mapping) and item.get(key) and not item.get("archived"):
                    return self.client.get(entity, str(item[key]))
        for domain in body.get("domains", []):
            if isinstance(domain, str):
                return self.client.get(entity, domain)
        return None

    # Cloze has no conditional write, so an update guarded by ``seen_modified_at`` is checked
    # by the feed on both sides of the batch. Before it, one feed read from where this run last
    # read the feed: a record changed since the caller read it (a later ``lastChanged``) is not
    # written. After it, the read that confirms the batch: a text field written that comes back
    # with another value was changed by someone else right after the write. Either way the
    # result is CHANGED_SINCE_READ with the record as it is now, and the caller merges again.
    # What no documented call can show is an edit of a field landing in the one round trip
    # between the check and the write of that same field: the write replaces it.

    def update(self, entity: Entity, requests: Sequence[UpdateRequest]) -> list[WriteResult]:
        results: dict[str, WriteResult] = {}
        guarded = {r.id: r.seen_modified_at for r in requests if r.seen_modified_at is not None and r.fields}
        currents = self._wire(entity, [r.id for r in requests])  # no read for a record read in this run
        position = self._position(entity) if requests else ""
        if guarded:
            position = self._catch_up(entity, position)
            currents = {direct: self.known.get(entity, direct) or data for direct, data in currents.items()}
        sent: dict[str, Json] = {}
        for req in requests:
            current = currents.get(req.id)
            if current is None:
                results[req.id] = WriteResult(req.id, False, id=req.id, error="Not found", code="62")
                continue
            seen = guarded.get(req.id)
            if seen is not None and _last_changed(current) > seen:
                results[req.id] = self._changed(entity, req.id, current)
                continue
            try:
                body = body_for(entity, req.fields, current, self.assumptions, self._types(entity))
                links = self._link_changes(current, req.add_app_link, req.remove_app_link)
                if links:
                    body["appLinks"] = links  # the join marker goes in the same call as the fields
                if not body:
                    results[req.id] = WriteResult(req.id, True, id=req.id, record=self._record(entity, current))
                    continue
                self.client.update(entity, {**self.client.target_of({**current, "direct": req.id}), **body})
            except Unsupported as exc:
                results[req.id] = WriteResult(
                    req.id, False, id=req.id, error=str(exc), code="unsupported", details={"field": exc.field}
                )
            except RecordRejected as exc:
                results[req.id] = _rejected(req.id, exc)
            else:
                self.known.forget(entity, req.id)  # what was known is out of date until confirmed
                sent[req.id] = body
        if sent:
            wanted = set(sent)
            self._confirm(entity, position, lambda r: r.get("direct") in wanted, len(wanted))
        for direct, body in sent.items():
            data = self.known.get(entity, direct)
            if data is None:
                data = self._retry(partial(self._fresh, entity, direct))
            if data is None:
                results[direct] = WriteResult(
                    direct, False, id=direct, error="updated, but the record is gone", code="62"
                )
            elif direct in guarded and _overwritten_after(entity, body, data):
                results[direct] = self._changed(entity, direct, data)
            else:
                results[direct] = WriteResult(direct, True, id=direct, record=self._record(entity, data))
        return [results[r.id] for r in requests]

    def _catch_up(self, entity: Entity, position: str) -> str:
        """Read the feed from ``position`` to the present (one call when little changed); the new position."""
        cursor = position
        while True:
            page = self.client.feed_next(entity, cursor)
            self._seen(entity, page)
            cursor = page.cursor
            if len(page.records) < self.cfg.page_size:
                return cursor

    def _changed(self, entity: Entity, direct: str, data: Mapping[str, Any]) -> WriteResult:
        return WriteResult(direct, False, id=direct, record=self._record(entity, data), code=CHANGED_SINCE_READ,
                           retryable=True, error=f"Cloze record {direct} was changed by someone else after it was read")

    def _fresh(self, entity: Entity, direct: str) -> Json | None:
        data = self.client.get_by_direct(entity, direct)
        if data is None or str(data.get("direct") or direct) != direct:
            return None
        self.known.remember(entity, [data])
        return data

    @staticmethod
    def _link_changes(current: Mapping[str, Any], add: AppLink | None, remove: AppLink | None) -> list[Json]:
        items: list[Json] = []
        if remove is not None and has_app_link(current, remove.source, remove.uniqueid):
            items.append(app_link_json(remove, archived=True))
        if add is not None and not has_app_link(current, add.source, add.uniqueid):
            items.append(app_link_json(add))
        return items

    def delete(self, entity: Entity, ids: Sequence[str]) -> list[WriteResult]:
        results = []
        for direct in ids:
            try:
                gone = self.client.delete_by_direct(entity, direct)
                self.known.forget(entity, direct)
            except RecordRejected as exc:
                results.append(_rejected(direct, exc))
                continue
            results.append(
                WriteResult(direct, True, id=direct, details={} if gone else {"already_absent": True})
            )
        return results


def _last_changed(data: Mapping[str, Any]) -> int:
    stamp = data.get("lastChanged")
    return int(stamp) if isinstance(stamp, (int, float)) else 0


def _overwritten_after(entity: Entity, body: Mapping[str, Any], data: Mapping[str, Any]) -> bool:
    """Whether a text field this write set holds another value now: someone wrote it after this write."""
    for key in TEXT_FIELDS[entity].values():
        if isinstance(body.get(key), str) and str(data.get(key) or "").strip() != str(body[key]).strip():
            return True
    return False


def _rejected(key: str, exc: RecordRejected) -> WriteResult:
    return WriteResult(
        key,
        False,
        error=exc.message,
        code=None if exc.code is None else str(exc.code),
        details={"status": exc.status} if exc.status else {},
    )
