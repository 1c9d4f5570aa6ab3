"""Salesforce as one side of a pair: Contact <-> person, Account <-> company, Opportunity <-> project.

See :mod:`connectors.salesforce.changes` for the change feed, :mod:`connectors.salesforce.writes`
for the writes, :mod:`connectors.salesforce.mapping` for the fields and
:mod:`connectors.salesforce.budget` for the daily API allowance.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar, Self
from urllib.parse import urlsplit

import httpx

from connectors.base import Connector, ConnectorContext, Problem
from connectors.model import (
    ENTITIES,
    ChangePage,
    CreateRequest,
    Entity,
    FieldSpec,
    Record,
    UpdateRequest,
    WriteResult,
)
from connectors.salesforce import ids
from connectors.salesforce.changes import ChangeFeed, current_cursor
from connectors.salesforce.client import SalesforceClient, soql_string
from connectors.salesforce.mapping import OBJECT, Mapper
from connectors.salesforce.relations import Relations, chunks, in_list
from connectors.salesforce.settings import SalesforceSettings
from connectors.salesforce.writes import Writer
from syncd.errors import ConfigError

_LOOKUP_LIMIT = 200


class SalesforceConnector(Connector[SalesforceSettings]):
    """The Salesforce connector (REST API; auth flow and API version are settings)."""

    name: ClassVar[str] = "salesforce"

    def __init__(self, settings: SalesforceSettings, context: ConnectorContext,
                 *, transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(settings, context)
        self.sf: SalesforceSettings = settings
        self.client = SalesforceClient(settings, pair=context.pair, observer=context.observer,
                                       state_dir=context.state_dir, transport=transport)
        self.mapper = Mapper(settings)
        self.relations = Relations(self.client)
        self.writer = Writer(self.client, self.mapper, self.relations, self.get, settings.batch_size)
        self.feed = ChangeFeed(self.client, overlap_ms=int(settings.poll_overlap_seconds * 1000),
                               horizon_ms=int(settings.recycle_bin_days * 86_400_000),
                               fields=self.mapper.read_fields, to_records=self._records, pair=context.pair,
                               get=self.get)
        self._checked_version = False
        self._identity_ok: set[str] = set()

    # -- description ------------------------------------------------------------------------

    def default_app_url(self, entity: Entity) -> str:
        """``https://<My Domain host>/{id}``: a bare record id under the org's host opens the record."""
        host = self.context.app_id.strip().lower()
        return f"https://{host}/{{id}}" if host and "." in host else ""

    def entities(self) -> frozenset[Entity]:
        return frozenset(ENTITIES)

    def fields(self, entity: Entity) -> Mapping[str, FieldSpec]:
        return self.mapper.fields(entity)

    def canonical_id(self, entity: Entity, external_id: str) -> str:
        """The 18-character form of a 15-character id (App Links imported from the Salesforce UI)."""
        return ids.normalize(external_id) or external_id

    def begin_run(self) -> None:
        self.relations.accounts.clear()
        self.relations.contacts.clear()

    def check_version(self) -> None:
        """The configured API version must be one the org serves (``GET /services/data/``)."""
        if self._checked_version:
            return
        served = self.client.versions()
        if self.sf.api_version not in served:
            raise ConfigError(f"Salesforce does not serve API version {self.sf.api_version}", side="external",
                              pair=self.context.pair, field="api_version",
                              hint=f"set api_version to one of: {', '.join(served[-5:]) or 'none listed'}")
        self._checked_version = True

    def check_identity_field(self, entity: Entity) -> None:
        """The identity field must exist on the object and be an External ID and Unique."""
        obj = OBJECT[entity]
        if obj in self._identity_ok:
            return
        body = self.client.get(f"/sobjects/{obj}/describe") or {}
        found = next((f for f in body.get("fields") or [] if isinstance(f, dict)
                      and str(f.get("name", "")).lower() == self.sf.identity_field.lower()), None)
        if found is None or not found.get("externalId") or not found.get("unique"):
            what = "is missing" if found is None else "is not marked External ID and Unique"
            raise ConfigError(
                f"the {obj} field {self.sf.identity_field} {what}: cloze-syncd keeps the Cloze identity there so "
                "that a create repeated after a crash never duplicates", side="external", pair=self.context.pair,
                entity=entity, field="identity_field",
                hint=f"in Setup > Object Manager > {obj} > Fields & Relationships > New, create a Text(255) field "
                     f"with API name {self.sf.identity_field}, tick 'Unique' (case sensitive) and 'External ID', "
                     "and give the integration user read/edit access to it (on Contact, Account and Opportunity)")
        self._identity_ok.add(obj)

    def check(self) -> list[Problem]:
        """The token and API version (raised: nothing else can be read), then each object's identity field."""
        self.check_version()
        self.client.get("/limits")
        problems = []
        for entity in ENTITIES:
            try:
                self.check_identity_field(entity)
            except ConfigError as exc:
                problems.append(Problem(exc.message, exc.hint or "", f"{OBJECT[entity]}.{self.sf.identity_field}"))
        return problems

    def account_identity(self) -> dict[str, str]:
        """The org id: from the token's identity URL, or for a fixed session from the session id, whose part
        before ``!`` is the org id; failing both, the instance host."""
        self.check_version()
        token = self.client.token
        assert token is not None  # check_version made the first call
        org = token.org_id or (ids.normalize(token.access_token.split("!", 1)[0]) or "")
        if not org:
            return {"instance_host": (urlsplit(token.instance_url).hostname or "").lower()}
        org = ids.normalize(org) or org
        if self.sf.org_id and (ids.normalize(self.sf.org_id) or self.sf.org_id) != org:
            raise ConfigError(f"the credentials reach Salesforce org {org}, not the configured org_id "
                              f"{self.sf.org_id}", side="external", pair=self.context.pair, field="org_id")
        return {"org_id": org}

    def describe(self) -> dict[str, Any]:
        stages = [r for page in self.client.query(
            "SELECT ApiName, IsClosed, IsWon FROM OpportunityStage WHERE IsActive = true ORDER BY SortOrder")
            for r in page]
        host = urlsplit(self.client.session.base_url).hostname or ""
        return {"api_version": self.sf.api_version, "auth": self.sf.auth, "instance_host": host,
                "project_stage_options": [s.get("ApiName") for s in stages],
                "daily_budget_percent": self.sf.daily_budget_percent}

    # -- reads ---------------------------------------------------------------------------------

    def _records(self, entity: Entity, rows: Sequence[dict[str, Any]]) -> list[Record]:
        people: dict[str, dict[str, str]] = {}
        self.relations.remember(entity, rows)
        if entity == "project" and rows:
            people = self.relations.project_people([str(r["Id"]) for r in rows])
        return [self.mapper.to_record(entity, row, sorted(people.get(str(row["Id"]), {})) if entity == "project"
                                      else None) for row in rows]

    def _select(self, entity: Entity, where: str = "") -> str:
        return f"SELECT {', '.join(self.mapper.read_fields(entity))} FROM {OBJECT[entity]}{where}"

    def changes(self, entity: Entity, cursor: str | None) -> Iterator[ChangePage]:
        self.check_version()
        return self.feed.pages(entity, cursor)

    def list_all(self, entity: Entity) -> Iterator[Sequence[Record]]:
        self.check_version()
        for page in self.client.query(self._select(entity, " ORDER BY Id")):
            yield self._records(entity, page)

    def get(self, entity: Entity, record_ids: Sequence[str]) -> dict[str, Record]:
        wanted = list(dict.fromkeys(ids.normalize(i) or i for i in record_ids))
        found: dict[str, Record] = {}
        for chunk in chunks(wanted, 200):
            for page in self.client.query(self._select(entity, f" WHERE Id IN {in_list(chunk)}")):
                for record in self._records(entity, page):
                    found[record.id] = record
        # callers may ask by a 15-character id: answer under the id they asked for too
        for asked in record_ids:
            norm = ids.normalize(asked) or asked
            if norm in found and asked != norm:
                found[asked] = found[norm]
        return found

    def find_linked(self, entity: Entity, ref: str) -> Record | None:
        rows = [r for page in self.client.query(self._select(
            entity, f" WHERE {self.sf.identity_field} = {soql_string(ref)} LIMIT 2")) for r in page]
        return self._records(entity, rows[:1])[0] if rows else None

    def lookup(self, entity: Entity, field_name: str, value: str) -> list[Record]:
        value = value.strip()
        if not value:
            return []
        where = None
        if entity == "person" and field_name == "emails":
            where = f"Email = {soql_string(value.lower())}"
        elif entity == "company" and field_name == "domains":
            where = f"Website LIKE {soql_string('%' + value.lower() + '%')}"
        elif field_name == "name":
            if entity == "person":
                first, _, last = value.partition(" ")
                where = (f"FirstName = {soql_string(first)} AND LastName = {soql_string(last)}" if last
                         else f"LastName = {soql_string(first)}")
            else:
                where = f"Name = {soql_string(value)}"
        elif field_name == "phones" and entity in ("person", "company"):
            where = f"Phone = {soql_string(value)}"
        if where is None:
            return []
        rows = [r for page in self.client.query(self._select(entity, f" WHERE {where} ORDER BY Id "
                                                                      f"LIMIT {_LOOKUP_LIMIT}")) for r in page]
        records = self._records(entity, rows)
        if entity == "company" and field_name == "domains":  # LIKE also matches longer hosts
            records = [r for r in records if value.lower() in (r.fields.get("domains") or [])]
        return records

    def current_cursor(self, entity: Entity) -> str | None:
        return current_cursor(self.client, entity)

    # -- writes --------------------------------------------------------------------------------

    def create(self, entity: Entity, requests: Sequence[CreateRequest]) -> list[WriteResult]:
        if not requests:
            return []
        self.check_identity_field(entity)
        return self.writer.create(entity, requests)

    def update(self, entity: Entity, requests: Sequence[UpdateRequest]) -> list[WriteResult]:
        if not requests:
            return []
        return self.writer.update(entity, requests)

    def delete(self, entity: Entity, record_ids: Sequence[str]) -> list[WriteResult]:
        return self.writer.delete(entity, record_ids) if record_ids else []

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Self:
        return self
