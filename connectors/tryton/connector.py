"""Tryton as one side of a pair: parties <-> people and companies, opportunities <-> projects.

Talks JSON-RPC (or the 8.x REST API) over HTTP and imports no Tryton code. See
:mod:`connectors.tryton.parties` and :mod:`connectors.tryton.opportunities` for the
field maps, :mod:`connectors.tryton.changes` for the change feed and
:mod:`connectors.tryton.writes` for edit conflicts and idempotent creates.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any, ClassVar

import httpx

from connectors.base import Capabilities, Connector, ConnectorContext, Problem
from connectors.model import (
    ChangePage,
    CreateRequest,
    Entity,
    FieldKind,
    FieldSpec,
    Record,
    UpdateRequest,
    WriteResult,
    custom_key,
)
from connectors.tryton import opportunities as opp
from connectors.tryton import parties as pty
from connectors.tryton.changes import Child, Feed
from connectors.tryton.client import Domain, TrytonClient
from connectors.tryton.opportunities import Opportunities
from connectors.tryton.parties import Parties
from connectors.tryton.rest import RestClient
from connectors.tryton.rpc import RpcClient
from connectors.tryton.settings import TrytonSettings
from connectors.tryton.writes import Versions, Writer

_LOOKUP_LIMIT = 100
KINDS: tuple[Entity, ...] = ("person", "company", "project")
"""Parties (people and companies) and sale opportunities."""


class TrytonConnector(Connector[TrytonSettings]):
    """The Tryton connector (JSON-RPC session or REST key; see TrytonSettings)."""

    name: ClassVar[str] = "tryton"

    def __init__(self, settings: TrytonSettings, context: ConnectorContext, *,
                 transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(settings, context)
        self.ts: TrytonSettings = settings
        kind = RpcClient if settings.auth == "session" else RestClient
        # No request is made here: `syncd config check` builds connectors offline.
        self.client: TrytonClient = kind(settings, pair=context.pair, side=context.side, observer=context.observer,
                                         transport=transport)
        self.parties = Parties(self.client, settings, context.custom_fields)
        self.opportunities = Opportunities(self.client, settings, self.parties,
                                           context.custom_fields.get("project", ()))
        self.versions = Versions()
        self.writer = Writer(self.client, settings, self.parties, self.opportunities, self.versions,
                             self._to_record, self.find_many)
        overlap, size = settings.cursor_overlap, settings.page_size
        self.feeds = {
            "party": Feed(self.client, model=pty.MODEL, fields=self.parties.read_fields, page_size=size,
                          overlap=overlap, children=[Child(m, f) for m, f in pty.CHILDREN]),
            "project": Feed(self.client, model=opp.MODEL, fields=self.opportunities.read_fields, page_size=size,
                            overlap=overlap),
        }

    # -- description ------------------------------------------------------------------------

    def entities(self) -> frozenset[Entity]:
        return frozenset(KINDS)

    def fields(self, entity: Entity) -> Mapping[str, FieldSpec]:
        """Canonical fields, plus ``custom:<field>`` for the plain model fields the pair maps
        (a custom field must name a plain field of ``party.party`` or ``sale.opportunity``)."""
        out = dict(self.opportunities.fields() if entity == "project" else self.parties.fields(entity))
        for name in self.context.custom_fields.get(entity, ()):
            key = custom_key(name)
            out[key] = FieldSpec(key, FieldKind.TEXT, f"Tryton field {name}")
        return out

    def capabilities(self, entity: Entity) -> Capabilities:
        # The change feed lists deleted rows; a guarded update is checked against the row's write date.
        return Capabilities(deletes_in_feed=True, conditional_writes=True)

    def check(self) -> list[Problem]:
        """Logs in (or proves the REST key), reads the models' definitions and the mapped custom fields."""
        self.client.preferences()
        problems = []
        for model in (pty.MODEL, opp.MODEL):
            if not self.client.fields_get(model, ["id"]):
                problems.append(Problem(f"Tryton model {model} is not available",
                                        "activate the party and sale_opportunity modules", model))
        if problems:
            return problems
        for entity in KINDS:
            plain = self.opportunities.plain if entity == "project" else self.parties.plain[entity]
            problems += [replace(p, where=f"entities.{entity}.fields.{p.where}") for p in plain.problems()]
        return problems

    def account_identity(self) -> dict[str, str]:
        """The database this connector reaches.

        Tryton has no account id of its own, so the database name stands for the account.
        The server's address is left out on purpose: a proxy, a load balancer or a move to
        another host changes it while the data stays the same.
        """
        return {"database": self.ts.database}

    def describe(self) -> dict[str, Any]:
        prefs = self.client.preferences()
        return {
            "auth": self.ts.auth,
            "server_checks_versions": self.client.server_checks_versions,
            "company": prefs.get("company"),
            "employee": prefs.get("employee"),
            "company_category_exists": self.parties.categories.find(self.ts.company_category) is not None,
            "person_category": self.ts.person_category,
            "stage_map": dict(self.ts.stage_map),
        }

    # -- reads ------------------------------------------------------------------------------

    def _model(self, entity: Entity) -> str:
        return opp.MODEL if entity == "project" else pty.MODEL

    def _to_record(self, entity: Entity, row: Mapping[str, Any]) -> Record | None:
        """The row as a record of ``entity``; None when it belongs to another entity."""
        if entity == "project":
            return self.opportunities.to_record(row)
        if self.parties.kind(row) != entity:
            return None
        return self.parties.to_record(entity, row)

    def _page(self, entity: Entity, rows: list[dict[str, Any]]) -> tuple[list[Record], list[str]]:
        """Live records of ``entity``; archived rows, and parties now of another kind, as deleted."""
        self.versions.remember(self._model(entity), rows)
        records: list[Record] = []
        deleted: list[str] = []
        for row in rows:
            record = self._to_record(entity, row)
            if record is None or record.archived:
                deleted.append(str(row["id"]))
            else:
                records.append(record)
        return records, deleted

    def _feed(self, entity: Entity) -> Feed:
        return self.feeds["project" if entity == "project" else "party"]

    def changes(self, entity: Entity, cursor: str | None) -> Iterator[ChangePage]:
        self.parties.categories.forget_missing()
        return self._feed(entity).pages(cursor, lambda rows: self._page(entity, rows))

    def current_cursor(self, entity: Entity) -> str | None:
        return self._feed(entity).now()

    def _base(self, entity: Entity) -> Domain | None:
        return [] if entity == "project" else self.parties.domain(entity)

    def list_all(self, entity: Entity) -> Iterator[Sequence[Record]]:
        self.parties.categories.forget_missing()
        base = self._base(entity)
        if base is None:
            return
        fields = self.opportunities.read_fields() if entity == "project" else self.parties.read_fields()
        last = 0
        while True:  # keyset on id: stable under concurrent inserts, unlike offsets
            rows = self.client.search_read(self._model(entity), [*base, ("id", ">", last)], fields,
                                           limit=self.ts.page_size, order=[("id", "ASC")])
            if not rows:
                return
            last = int(rows[-1]["id"])
            records, _ = self._page(entity, rows)
            if records:
                yield records
            if len(rows) < self.ts.page_size:
                return

    def get(self, entity: Entity, ids: Sequence[str]) -> dict[str, Record]:
        self.parties.categories.forget_missing()
        wanted = sorted({int(i) for i in ids if str(i).isdigit()})
        rows = (self.opportunities if entity == "project" else self.parties).read(wanted)
        self.versions.remember(self._model(entity), rows)
        out: dict[str, Record] = {}
        for row in rows:
            record = self._to_record(entity, row)
            if record is not None:
                out[record.id] = record
        return out

    def _search(self, entity: Entity, domain: Domain, limit: int | None = None) -> list[Record]:
        self.parties.categories.forget_missing()
        base = self._base(entity)
        if base is None:
            return []
        fields = self.opportunities.read_fields() if entity == "project" else self.parties.read_fields()
        rows = self.client.search_read(self._model(entity), [*base, *domain], fields, limit=limit,
                                       order=[("id", "ASC")])
        records, _ = self._page(entity, rows)
        return records

    def find_linked(self, entity: Entity, ref: str) -> Record | None:
        return self.find_many(entity, [ref]).get(ref)

    def find_linked_many(self, entity: Entity, refs: Sequence[str]) -> dict[str, Record]:
        return self.find_many(entity, refs)

    def find_many(self, entity: Entity, refs: Sequence[str]) -> dict[str, Record]:
        """Live records carrying these Cloze identities, by identity (the oldest when several do)."""
        if not refs:
            return {}
        domain = (self.opportunities if entity == "project" else self.parties).ref_domain(list(refs))
        found: dict[str, Record] = {}
        for record in self._search(entity, domain):
            ref = record.cloze_ref
            if ref is not None and ref in refs and ref not in found:
                found[ref] = record
        return found

    def lookup(self, entity: Entity, field_name: str, value: str) -> list[Record]:
        if entity == "project":
            domain = self.opportunities.lookup_domain(field_name, value)
            check = self.opportunities.matches
        else:
            domain = self.parties.lookup_domain(entity, field_name, value)
            check = self.parties.matches
        if domain is None:
            return []
        return [r for r in self._search(entity, domain, _LOOKUP_LIMIT) if check(r, field_name, value)]

    # -- writes -----------------------------------------------------------------------------

    def create(self, entity: Entity, requests: Sequence[CreateRequest]) -> list[WriteResult]:
        return self.writer.create(entity, requests) if requests else []

    def update(self, entity: Entity, requests: Sequence[UpdateRequest]) -> list[WriteResult]:
        return self.writer.update(entity, requests) if requests else []

    def delete(self, entity: Entity, ids: Sequence[str]) -> list[WriteResult]:
        return self.writer.delete(entity, ids) if ids else []

    def close(self) -> None:
        self.client.close()
