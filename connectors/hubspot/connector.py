"""HubSpot as one side of a pair: contacts <-> person, companies <-> company, deals <-> project.

See :mod:`connectors.hubspot.changes` for the change feed, :mod:`connectors.hubspot.writes`
for batch writes, :mod:`connectors.hubspot.mapping` for the field mapping and
``API_NOTES.md`` for the HubSpot behaviour this relies on.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

import httpx

from connectors.activity import Activity, ActivityKind, ActivityPage
from connectors.base import Capabilities, Connector, ConnectorContext, ConnectorSettings, Problem
from connectors.errors import ApiError
from connectors.hubspot.activities import OBJECT_TYPE as ACTIVITY_OBJECT_TYPE
from connectors.hubspot.activities import ActivityFeed
from connectors.hubspot.changes import ChangeFeed, now_cursor
from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.mapping import OBJECT_TYPE, Mapper, row_id, shape_problem
from connectors.hubspot.notifications import HubSpotNotifications
from connectors.hubspot.props import OwnProperty, PropertyCatalog
from connectors.hubspot.relations import Relations, chunks
from connectors.hubspot.settings import HubSpotSettings
from connectors.hubspot.writes import Writer
from connectors.model import (
    ChangePage,
    CreateRequest,
    Entity,
    FieldSpec,
    Record,
    UpdateRequest,
    WriteResult,
)
from connectors.notifications import Listener

_LOOKUP_PAGES = 5  # at most 5 x 100 candidates for one lookup value


_OBJECT_TYPE_IDS = {"contacts": "0-1", "companies": "0-2", "deals": "0-3"}


class HubSpotConnector(Connector[HubSpotSettings]):
    """The HubSpot CRM connector (API version and token kind are settings; see HubSpotSettings)."""

    name: ClassVar[str] = "hubspot"

    def __init__(self, settings: HubSpotSettings, context: ConnectorContext,
                 *, transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(settings, context)
        self.hs: HubSpotSettings = settings
        self.client = HubSpotClient(settings, pair=context.pair, side=context.side, observer=context.observer,
                                    transport=transport)
        self.mapper = Mapper(settings, context.custom_fields)
        self.catalog = PropertyCatalog(self.client)
        self.relations = Relations(self.client, settings.batch_size)
        self.writer = Writer(self.client, self.mapper, self.relations, batch_size=settings.batch_size,
                             read_properties=self.mapper.read_properties)
        self.feed = ChangeFeed(self.client, page_size=settings.search_page_size,
                               list_page_size=settings.list_page_size,
                               overlap_ms=int(settings.change_overlap_seconds * 1000),
                               properties=self.mapper.read_properties, to_records=self._records)
        self.activity_feed = ActivityFeed(self.client, self.relations, app_id=context.app_id,
                                          page_size=settings.search_page_size,
                                          overlap_ms=int(settings.change_overlap_seconds * 1000),
                                          batch_size=settings.batch_size)
        self._ensured: set[str] = set()

    @classmethod
    def change_notifications(cls, settings: ConnectorSettings, context: ConnectorContext,
                             listener: Listener) -> HubSpotNotifications | None:
        """The app's webhooks, verified with its client secret (``webhook_client_secret``)."""
        if not isinstance(settings, HubSpotSettings):
            raise ValueError("the hubspot connector needs HubSpotSettings")  # noqa: TRY004 - reported as a config problem
        if settings.webhook_client_secret is None:
            raise ValueError("set webhook_client_secret in its table (the client secret of the HubSpot app "
                             "whose webhooks post here; Service Keys have no webhooks)")
        return HubSpotNotifications(context.pair, listener, settings.webhook_client_secret.get_secret_value(),
                                    portal_id=settings.portal_id, max_age_seconds=settings.webhook_max_age_seconds)

    # -- description ------------------------------------------------------------------------

    def default_app_url(self, entity: Entity) -> str:
        """``{app_host}/contacts/{portal}/record/<object type id>/{id}``: HubSpot's record pages use
        the object type id (0-1 contacts, 0-2 companies, 0-3 deals); without ``portal_id``, none."""
        if self.hs.portal_id is None:
            return ""
        type_id = _OBJECT_TYPE_IDS[OBJECT_TYPE[entity]]
        return f"{self.hs.app_host.rstrip('/')}/contacts/{self.hs.portal_id}/record/{type_id}/{{id}}"

    def entities(self) -> frozenset[Entity]:
        return frozenset(OBJECT_TYPE)

    def fields(self, entity: Entity) -> Mapping[str, FieldSpec]:
        return self.mapper.fields(entity)

    def capabilities(self, entity: Entity) -> Capabilities:
        # Batch endpoints; archived records listed as deletes; a guarded update is checked
        # against the property history; phones fill fixed slots (phone, and mobilephone on contacts).
        limits: dict[str, int] = {}
        if entity in ("person", "company"):
            limits["phones"] = 2 if entity == "person" else 1
        if entity == "person" and not self.hs.write_additional_emails:
            limits["emails"] = 1
        return Capabilities(read_batch=self.hs.batch_size, write_batch=self.hs.batch_size, deletes_in_feed=True,
                            conditional_writes=True, max_values=limits)

    def check(self) -> list[Problem]:
        """Reads the property definitions (proving the token) and the token's scopes, where HubSpot tells them."""
        problems: list[Problem] = []
        granted = self._granted_scopes()
        pair = self.context.pair
        for entity in sorted(self.entities()):
            object_type = OBJECT_TYPE[entity]
            defs = self.catalog.definitions(object_type)
            for access in ("read", "write"):
                scope = f"crm.objects.{object_type}.{access}"
                if granted is not None and scope not in granted:
                    problems.append(Problem(f"the token lacks the scope {scope}", f"grant the app the scope {scope}",
                                            f"{object_type}"))
            own = self._wanted_properties(entity)
            for prop in own:
                found = defs.get(prop.name)
                scope = f"crm.schemas.{object_type}.write"
                if found is None and not self.hs.create_properties:
                    problems.append(Problem(
                        f"HubSpot property {prop.name!r} is missing on {object_type}",
                        f"create it in HubSpot (field type {prop.field_type}{', unique values' if prop.unique else ''}), "
                        "or set create_properties = true", f"{object_type}.{prop.name}"))
                elif found is None and granted is not None and scope not in granted:
                    problems.append(Problem(
                        f"HubSpot property {prop.name!r} is missing on {object_type} and the token lacks the scope "
                        f"{scope} to create it", f"grant the app the scope {scope}, or create the property by hand",
                        f"{object_type}.{prop.name}"))
                elif found is not None and prop.unique and not found.get("hasUniqueValue"):
                    problems.append(Problem(
                        f"HubSpot property {prop.name!r} on {object_type} does not require unique values",
                        f"set pairs.{pair}.external.identity_property to a new name (it is created unique)",
                        f"{object_type}.{prop.name}"))
            own_names = {p.name for p in own}
            for name, prop_name in sorted(self.mapper.scalars[entity].items()):
                if prop_name not in defs and prop_name not in own_names:
                    problems.append(Problem(
                        f"HubSpot has no {object_type} property {prop_name!r} (mapped to {entity} {name})",
                        f"create it in HubSpot, or change the {name} property setting in pairs.{pair}.external",
                        f"{object_type}.{prop_name}"))
            for native in self.mapper.custom[entity]:
                if native not in defs:
                    problems.append(Problem(
                        f"HubSpot has no {object_type} property {native!r} (mapped as custom:{native})",
                        f"create the property in HubSpot, or fix the external name of that field in "
                        f"pairs.{pair}.entities.{entity}.fields", f"entities.{entity}.fields.custom:{native}"))
        return problems

    def _granted_scopes(self) -> frozenset[str] | None:
        """The token's scopes, for a private-app token (HubSpot tells them); ``None`` when it cannot tell."""
        if self.hs.token_kind != "private_app":
            return None
        reply = self.client.post("/oauth/v2/private-apps/get/access-token-info",
                                 {"tokenKey": self.hs.token.get_secret_value()})
        scopes = reply.body.get("scopes") if isinstance(reply.body, dict) else None
        return frozenset(str(s) for s in scopes) if isinstance(scopes, list) else None

    def account_identity(self) -> dict[str, str]:
        """The portal (Hub) id from ``GET /account-info/v3/details``."""
        body = self.client.get("/account-info/v3/details")
        portal = body.get("portalId") if isinstance(body, dict) else None
        if portal is None:
            raise ApiError("HubSpot /account-info/v3/details returned no portalId", side=self.context.side,
                           pair=self.context.pair)
        return {"portal_id": str(portal)}

    def describe(self) -> dict[str, Any]:
        facts: dict[str, Any] = {"api_version": self.hs.api_version, "token_kind": self.hs.token_kind,
                                 "webhooks_available": self.hs.webhooks_available,
                                 "activity_kinds": sorted(self.activity_kinds())}
        for entity in OBJECT_TYPE:
            object_type = OBJECT_TYPE[entity]
            scalars = self.mapper.scalars[entity]
            facts[entity] = {
                "object_type": object_type,
                "identity_property_exists": self.catalog.exists(object_type, self.hs.identity_property),
                **{f"{name}_property": scalars.get(name) for name in ("stage", "segment")},
                **{f"{name}_options": self.catalog.options(object_type, scalars[name])
                   for name in ("stage", "segment") if name in scalars},
            }
        return facts

    # -- reads ---------------------------------------------------------------------------------

    def changes(self, entity: Entity, cursor: str | None) -> Iterator[ChangePage]:
        return self.feed.pages(entity, cursor)

    def list_all(self, entity: Entity) -> Iterator[Sequence[Record]]:
        path = self.client.paths.objects(OBJECT_TYPE[entity])
        props = ",".join(self.mapper.read_properties(entity))
        after: str | None = None
        guard = self.client.guard(path, entity)
        while True:
            params: dict[str, Any] = {"limit": self.hs.list_page_size, "archived": "false", "properties": props}
            if after:
                guard.see(after, what="paging token")
                params["after"] = after
            body = self.client.get(path, params) or {}
            rows = body.get("results", [])
            if rows:
                yield self._records(entity, rows)
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return

    def get(self, entity: Entity, ids: Sequence[str]) -> dict[str, Record]:
        path = f"{self.client.paths.objects(OBJECT_TYPE[entity])}/batch/read"
        rows: list[dict[str, Any]] = []
        for chunk in chunks(list(dict.fromkeys(ids)), self.hs.batch_size):
            reply = self.client.post(path, {"inputs": [{"id": i} for i in chunk],
                                            "properties": self.mapper.read_properties(entity)})
            rows.extend((reply.body or {}).get("results", []))  # ids in a 207's errors are gone
        return {r.id: r for r in self._records(entity, rows)}

    def find_linked(self, entity: Entity, ref: str) -> Record | None:
        return self.find_linked_many(entity, [ref]).get(ref)

    def find_linked_many(self, entity: Entity, refs: Sequence[str]) -> dict[str, Record]:
        """One batch read by the identity property per ``batch_size`` refs."""
        object_type = OBJECT_TYPE[entity]
        wanted = list(dict.fromkeys(r for r in refs if r))
        if not wanted or not self.catalog.exists(object_type, self.hs.identity_property):
            return {}  # nobody carries a Cloze identity yet
        found: dict[str, Record] = {}
        for chunk in chunks(wanted, self.hs.batch_size):
            # A batch read by the unique property sees a record the moment it is written; search may lag.
            reply = self.client.post(f"{self.client.paths.objects(object_type)}/batch/read", {
                "idProperty": self.hs.identity_property, "inputs": [{"id": r} for r in chunk],
                "properties": self.mapper.read_properties(entity)})
            rows = (reply.body or {}).get("results", [])
            for record in self._records(entity, rows):
                ref = record.cloze_ref
                if ref is not None and ref in chunk and ref not in found:
                    found[ref] = record
        return found

    def lookup(self, entity: Entity, field_name: str, value: str) -> list[Record]:
        groups = self._lookup_filters(entity, field_name, value.strip())
        if not groups:
            return []
        path = f"{self.client.paths.objects(OBJECT_TYPE[entity])}/search"
        rows: list[dict[str, Any]] = []
        after: str | None = None
        for _ in range(_LOOKUP_PAGES):
            body: dict[str, Any] = {"filterGroups": [{"filters": g} for g in groups],
                                    "properties": self.mapper.read_properties(entity), "limit": 100,
                                    "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]}
            if after:
                body["after"] = after
            data = self.client.post(path, body, search=True).body or {}
            rows.extend(data.get("results", []))
            after = ((data.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                break
        return self._records(entity, rows)

    def _lookup_filters(self, entity: Entity, field_name: str, value: str) -> list[list[dict[str, Any]]]:
        if not value:
            return []

        def eq(prop: str, text: str) -> dict[str, Any]:
            return {"propertyName": prop, "operator": "EQ", "value": text}

        def token(prop: str, text: str) -> dict[str, Any]:
            return {"propertyName": prop, "operator": "CONTAINS_TOKEN", "value": text}

        if entity == "person" and field_name == "emails":
            return [[eq("email", value.lower())], [token("hs_additional_emails", value.lower())]]
        if entity == "company" and field_name == "domains":
            return [[eq("domain", value.lower())], [token("hs_additional_domains", value.lower())]]
        if field_name == "phones" and entity in ("person", "company"):
            props = ["phone", "mobilephone"] if entity == "person" else ["phone"]
            return [[eq(p, value)] for p in props]
        if field_name == "name":
            if entity == "person":
                first, _, last = value.partition(" ")
                return [[eq("firstname", first), eq("lastname", last)]] if last else [[eq("lastname", first)]]
            return [[eq("name" if entity == "company" else "dealname", value)]]
        return []

    def current_cursor(self, entity: Entity) -> str | None:
        return now_cursor()

    def _records(self, entity: Entity, rows: Sequence[dict[str, Any]]) -> list[Record]:
        """Result rows as records; a row of a shape that cannot be read is an unreadable record (its id kept)."""
        problems = {row_id(row): shape_problem(row) for row in rows}
        readable = [row for row in rows if problems[str(row["id"])] is None]
        relations: Mapping[str, Mapping[str, Sequence[str]]] = {}
        if self.hs.read_associations and readable:
            relations = self.relations.read(entity, [str(r["id"]) for r in readable])
        out = []
        for row in rows:
            object_id = str(row["id"])
            problem = problems[object_id]
            if problem is not None:
                out.append(Record(id=object_id, fields={}, unreadable=problem))
            else:
                out.append(self.mapper.to_record(entity, row, relations.get(object_id) if self.hs.read_associations
                                                 else None))
        return out

    # -- activities (connectors.activity.ActivitySource): engagements, read only ---------------

    def activity_kinds(self) -> frozenset[ActivityKind]:
        return frozenset(ACTIVITY_OBJECT_TYPE)

    def activity_pages(self, kind: ActivityKind, cursor: str | None, *, since: int | None = None,
                       until: int | None = None) -> Iterator[ActivityPage]:
        return self.activity_feed.pages(kind, cursor, since, until)

    def activity_get(self, kind: ActivityKind, ids: Sequence[str]) -> dict[str, Activity]:
        return self.activity_feed.get(kind, ids)

    def activity_deleted(self, kind: ActivityKind, since: int) -> tuple[list[str], int]:
        return self.activity_feed.deleted(kind, since, self.hs.list_page_size)

    def activity_count(self, kind: ActivityKind, since: int, until: int) -> int | None:
        return self.activity_feed.count(kind, since, until)

    # -- writes --------------------------------------------------------------------------------

    def _wanted_properties(self, entity: Entity) -> list[OwnProperty]:
        """The properties cloze-syncd writes on ``entity``'s object type: identity, tags, notes."""
        wanted = [OwnProperty(self.hs.identity_property, "Cloze sync id", "text", True,
                              "Identity of the linked Cloze record, written by cloze-syncd.")]
        if self.hs.tags_property:
            wanted.append(OwnProperty(self.hs.tags_property, "Cloze tags", "textarea", False,
                                      "Cloze keywords, separated by ';', synced by cloze-syncd."))
        if entity == "person" and self.hs.person_notes_property:
            wanted.append(OwnProperty(self.hs.person_notes_property, "Cloze notes", "textarea", False,
                                      "Notes synced with Cloze by cloze-syncd."))
        return wanted

    def _own_properties(self, entity: Entity) -> None:
        """Create the properties cloze-syncd writes (identity, tags, notes) on first use."""
        object_type = OBJECT_TYPE[entity]
        if object_type in self._ensured:
            return
        for prop in self._wanted_properties(entity):
            self.catalog.ensure(object_type, prop, create=self.hs.create_properties)
        self._ensured.add(object_type)

    def create(self, entity: Entity, requests: Sequence[CreateRequest]) -> list[WriteResult]:
        if not requests:
            return []
        self._own_properties(entity)
        return self.writer.create(entity, requests)

    def update(self, entity: Entity, requests: Sequence[UpdateRequest]) -> list[WriteResult]:
        if not requests:
            return []
        self._own_properties(entity)
        return self.writer.update(entity, requests)

    def delete(self, entity: Entity, ids: Sequence[str]) -> list[WriteResult]:
        return self.writer.delete(entity, ids) if ids else []

    def close(self) -> None:
        self.client.close()
