"""Salesforce as one side of a pair: Contact <-> person, Account <-> company, Opportunity <-> project.

With ``leads = true`` unconverted Leads are people too: listed, fed, found and looked up beside the
contacts, and updated in place; new people are always created as Contacts. The person change
cursor then holds both feeds' positions (``sfp|<contacts>|<leads>``).

See :mod:`connectors.salesforce.changes` for the change feed, :mod:`connectors.salesforce.writes`
for the writes, :mod:`connectors.salesforce.mapping` for the fields and
:mod:`connectors.salesforce.budget` for the daily API allowance.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar, Self
from urllib.parse import urlsplit

import httpx

from connectors.activity import Activity, ActivityKind, ActivityPage
from connectors.base import Capabilities, Connector, ConnectorContext, Problem
from connectors.errors import ConfigError
from connectors.model import (
    ChangePage,
    CreateRequest,
    Entity,
    FieldSpec,
    Record,
    UpdateRequest,
    WriteResult,
)
from connectors.salesforce import ids
from connectors.salesforce.activities import KINDS as ACTIVITY_KINDS
from connectors.salesforce.activities import ActivityFeed
from connectors.salesforce.changes import ChangeFeed, current_cursor
from connectors.salesforce.client import SalesforceClient, soql_string
from connectors.salesforce.mapping import LEAD, OBJECT, PHONE_SLOTS, Mapper, is_lead
from connectors.salesforce.relations import Relations, chunks, in_list
from connectors.salesforce.settings import SalesforceSettings
from connectors.salesforce.writes import Writer

_LOOKUP_LIMIT = 200
MERGEABLE: frozenset[Entity] = frozenset({"person", "company"})  # Contact and Account merges
_PERSON_CURSOR = "sfp"  # a person cursor holding the Contact and the Lead feed positions
# After this many join-marker lookups of one entity in a run, the marked records are read in pages of
# 2,000 instead of one query each: recovering the journal of a run the daily budget stopped (an entry
# per create of the interrupted batch) then costs a few calls, not one per entry, and fits the share.
_MARKER_INDEX_AFTER = 10


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
                               get=self.get, identity_field=settings.identity_field,
                               lead_fields=self.mapper.lead_fields)
        self.activity_feed = ActivityFeed(self.client, app_id=context.app_id,
                                          overlap_ms=int(settings.poll_overlap_seconds * 1000))
        self._checked_version = False
        self._identity_ok: set[str] = set()
        self._marker_lookups: dict[Entity, int] = {}
        self._marker_index: dict[Entity, dict[str, Record]] = {}

    # -- description ------------------------------------------------------------------------

    def default_app_url(self, entity: Entity) -> str:
        """``https://<My Domain host>/{id}``: a bare record id under the org's host opens the record."""
        host = self.context.app_id.strip().lower()
        return f"https://{host}/{{id}}" if host and "." in host else ""

    def entities(self) -> frozenset[Entity]:
        return frozenset(OBJECT)

    def fields(self, entity: Entity) -> Mapping[str, FieldSpec]:
        return self.mapper.fields(entity)

    def capabilities(self, entity: Entity) -> Capabilities:
        # sObject Collections calls; ``queryAll`` reports deleted and merged-away rows; one
        # e-mail field, and fixed phone slots.
        slots = {"phones": len(PHONE_SLOTS[entity])} if entity in PHONE_SLOTS else {}
        emails = {"emails": 1} if entity == "person" else {}
        return Capabilities(write_batch=self.sf.batch_size, deletes_in_feed=True, conditional_writes=True,
                            max_values={**emails, **slots})

    def canonical_id(self, entity: Entity, external_id: str) -> str:
        """The 18-character form of a 15-character id (App Links imported from the Salesforce UI)."""
        return ids.normalize(external_id) or external_id

    def begin_run(self) -> None:
        self._marker_lookups.clear()
        self._marker_index.clear()

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

    def _leads(self, entity: Entity) -> bool:
        return entity == "person" and self.sf.leads

    def check_identity_field(self, entity: Entity) -> None:
        """The identity field must exist on the object (and on Lead when leads are synced), External ID and
        Unique."""
        self._check_identity_field(entity, OBJECT[entity])
        if self._leads(entity):
            self._check_identity_field(entity, LEAD)

    def _check_identity_field(self, entity: Entity, obj: str) -> None:
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
                     "and give the integration user read/edit access to it (on Contact, Account and Opportunity, "
                     "and Lead when leads are synced)")
        self._identity_ok.add(obj)

    def check(self) -> list[Problem]:
        """The token and API version (raised: nothing else can be read), then each object's identity field."""
        self.check_version()
        self.client.budget.observe_limits(self.client.get("/limits"))
        problems = []
        for entity in OBJECT:
            for obj in (OBJECT[entity], *((LEAD,) if self._leads(entity) else ())):
                try:
                    self._check_identity_field(entity, obj)
                except ConfigError as exc:
                    problems.append(Problem(exc.message, exc.hint or "", f"{obj}.{self.sf.identity_field}"))
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
                "daily_budget_percent": self.sf.daily_budget_percent,
                "activity_kinds": sorted(self.activity_kinds())}

    # -- reads ---------------------------------------------------------------------------------

    def _records(self, entity: Entity, rows: Sequence[dict[str, Any]]) -> list[Record]:
        people: dict[str, dict[str, str]] = {}
        if entity == "project" and rows:
            people = self.relations.project_people([str(r["Id"]) for r in rows])
        return [self.mapper.to_record(entity, row, sorted(people.get(str(row["Id"]), {})) if entity == "project"
                                      else None) for row in rows]

    def _select(self, entity: Entity, where: str = "", *, lead: bool = False) -> str:
        if lead:
            return f"SELECT {', '.join(self.mapper.lead_fields())} FROM {LEAD}{where}"
        return f"SELECT {', '.join(self.mapper.read_fields(entity))} FROM {OBJECT[entity]}{where}"

    def _lead_records(self, rows: Sequence[dict[str, Any]]) -> list[Record]:
        """Lead rows as people; a converted lead is handed to its contact, or is an unreadable record."""
        return list(self.feed.page("person", rows, "").records)

    def changes(self, entity: Entity, cursor: str | None) -> Iterator[ChangePage]:
        self.check_version()
        if not self._leads(entity):
            return self.feed.pages(entity, _split_person_cursor(cursor)[0])  # leads were synced before: Contact's
        return self._person_changes(cursor)

    def _person_changes(self, cursor: str | None) -> Iterator[ChangePage]:
        contacts, leads = _split_person_cursor(cursor)
        for page in self.feed.pages("person", contacts):
            contacts = page.cursor or contacts
            yield ChangePage(page.records, _person_cursor(contacts, leads), page.deleted_ids)
        for page in self.feed.pages("person", leads, leads=True):
            leads = page.cursor or leads
            yield ChangePage(page.records, _person_cursor(contacts, leads), page.deleted_ids)

    def list_all(self, entity: Entity) -> Iterator[Sequence[Record]]:
        self.check_version()
        for page in self.client.query(self._select(entity, " ORDER BY Id")):
            yield self._records(entity, page)
        if entity in MERGEABLE:
            # Merge losers still in the Recycle Bin (one queryAll): one that cannot be handed to its master
            # is an unreadable record, as in the change feed, not a delete for the pair's delete policy.
            where = " WHERE IsDeleted = true AND MasterRecordId != null ORDER BY Id"
            for page in self.client.query(self._select(entity, where), all_rows=True):
                stuck = [r for r in self.feed.page(entity, page, "").records if r.unreadable]
                if stuck:
                    yield stuck
        if self._leads(entity):
            for page in self.client.query(self._select(entity, " ORDER BY Id", lead=True)):
                yield self._lead_records(page)

    def get(self, entity: Entity, record_ids: Sequence[str]) -> dict[str, Record]:
        wanted = list(dict.fromkeys(ids.normalize(i) or i for i in record_ids))
        found: dict[str, Record] = {}
        leads = [i for i in wanted if self._leads(entity) and is_lead(i)]
        for chunk in chunks([i for i in wanted if i not in leads], 200):
            for page in self.client.query(self._select(entity, f" WHERE Id IN {in_list(chunk)}")):
                for record in self._records(entity, page):
                    found[record.id] = record
        for chunk in chunks(leads, 200):
            for page in self.client.query(self._select(entity, f" WHERE Id IN {in_list(chunk)}", lead=True)):
                for record in self._lead_records(page):
                    if record.id in chunk:  # not the contact a converted lead handed over to
                        found[record.id] = record
        # callers may ask by a 15-character id: answer under the id they asked for too
        for asked in record_ids:
            norm = ids.normalize(asked) or asked
            if norm in found and asked != norm:
                found[asked] = found[norm]
        return found

    def find_linked(self, entity: Entity, ref: str) -> Record | None:
        index = self._marker_index.get(entity)
        if index is None:
            self._marker_lookups[entity] = self._marker_lookups.get(entity, 0) + 1
            if self._marker_lookups[entity] > _MARKER_INDEX_AFTER:
                index = self._marker_index[entity] = self._marked(entity)
        if index is not None:
            return index.get(ref)
        where = f" WHERE {self.sf.identity_field} = {soql_string(ref)}"
        rows = [r for page in self.client.query(self._select(entity, where + " LIMIT 2")) for r in page]
        if rows:
            return self._records(entity, rows[:1])[0]
        if self._leads(entity):
            rows = [r for page in self.client.query(self._select(
                entity, where + " AND IsConverted = false LIMIT 2", lead=True)) for r in page]
            if rows:
                return self._records(entity, rows[:1])[0]
        return None

    def _marked(self, entity: Entity) -> dict[str, Record]:
        """Every live record carrying a Cloze identity, by that identity (the first by id where two claim one)."""
        found: dict[str, Record] = {}
        where = f" WHERE {self.sf.identity_field} != null"
        pages = [self._records(entity, page) for page in self.client.query(self._select(entity, where + " ORDER BY Id"))]
        if self._leads(entity):
            pages += [self._records(entity, page) for page in self.client.query(self._select(
                entity, where + " AND IsConverted = false ORDER BY Id", lead=True))]
        for records in pages:
            for record in records:
                if record.cloze_ref:
                    found.setdefault(record.cloze_ref, record)
        return found

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
        if self._leads(entity):
            rows += [r for page in self.client.query(self._select(
                entity, f" WHERE ({where}) AND IsConverted = false ORDER BY Id LIMIT {_LOOKUP_LIMIT}", lead=True))
                for r in page]
        records = self._records(entity, rows)
        if entity == "company" and field_name == "domains":  # LIKE also matches longer hosts
            records = [r for r in records if value.lower() in (r.fields.get("domains") or [])]
        return records

    def current_cursor(self, entity: Entity) -> str | None:
        if self._leads(entity):
            return _person_cursor(current_cursor(self.client, entity), current_cursor(self.client, entity, LEAD))
        return current_cursor(self.client, entity)

    # -- activities (connectors.activity.ActivitySource): Task and Event, read only ---------------

    def activity_kinds(self) -> frozenset[ActivityKind]:
        return ACTIVITY_KINDS

    def activity_pages(self, kind: ActivityKind, cursor: str | None, *, since: int | None = None,
                       until: int | None = None) -> Iterator[ActivityPage]:
        self.check_version()
        return self.activity_feed.pages(kind, cursor, since, until)

    def activity_get(self, kind: ActivityKind, ids: Sequence[str]) -> dict[str, Activity]:
        return self.activity_feed.get(kind, ids)

    def activity_deleted(self, kind: ActivityKind, since: int) -> tuple[list[str], int]:
        return self.activity_feed.deleted(kind, since)

    def activity_count(self, kind: ActivityKind, since: int, until: int) -> int | None:
        return self.activity_feed.count(kind, since, until)

    # -- writes --------------------------------------------------------------------------------

    def create(self, entity: Entity, requests: Sequence[CreateRequest]) -> list[WriteResult]:
        if not requests:
            return []
        self.check_identity_field(entity)
        self._marker_index.pop(entity, None)  # from here the index would miss what this write marks
        return self.writer.create(entity, requests)

    def update(self, entity: Entity, requests: Sequence[UpdateRequest]) -> list[WriteResult]:
        if not requests:
            return []
        self._marker_index.pop(entity, None)
        return self.writer.update(entity, requests)

    def delete(self, entity: Entity, record_ids: Sequence[str]) -> list[WriteResult]:
        if not record_ids:
            return []
        self._marker_index.pop(entity, None)
        return self.writer.delete(entity, record_ids)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Self:
        return self


def _person_cursor(contacts: str | None, leads: str | None) -> str:
    return f"{_PERSON_CURSOR}|{contacts or ''}|{leads or ''}"


def _split_person_cursor(cursor: str | None) -> tuple[str | None, str | None]:
    """The Contact and Lead feed positions; a plain cursor (leads just turned on) is the Contact feed's."""
    if not cursor or not cursor.startswith(_PERSON_CURSOR + "|"):
        return cursor, None
    _, contacts, leads = (cursor.split("|") + ["", ""])[:3]
    return contacts or None, leads or None
