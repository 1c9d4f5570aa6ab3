"""The change feed: one ``queryAll`` per entity and poll, keyset-paged on ``(SystemModstamp, Id)``.

``queryAll`` returns live rows, soft-deleted rows (``IsDeleted``) and merge losers (deleted, with
``MasterRecordId``) in one stream. Each query asks for rows after the last position delivered,
``SystemModstamp > ts OR (SystemModstamp = ts AND Id > id)``, so a bulk update stamping thousands
of rows with one second is walked by id and never loops. The cursor ``sf1:<ts ms>:<id>:<polled ms>``
says every row before ``(ts, id)`` was delivered and when that poll began. Transactions commit
late, so a poll starts ``poll_overlap_seconds`` before the previous poll began when the cursor lies
within that window.

OpportunityContactRole is polled the same way from the previous poll's start (less the overlap):
a role added or removed does not move the opportunity's ``SystemModstamp``, so the opportunities
whose roles changed are read again and delivered as changes.

Deleted rows stay visible for the Recycle Bin's 15 days. A cursor whose poll began longer ago
than that has lost deletes:
the feed raises :class:`~connectors.errors.ChangeHistoryLost`, and the engine reads the entity in full
instead (a full reconcile finds every record that is gone) and says so in the run's notes.

A merge loser (deleted, with ``MasterRecordId``) relinks to its master when the evidence is
unambiguous: the master carries the loser's Cloze identity (the user kept it in the merge). The
loser is then delivered as gone and the master as changed, and the engine's take-over moves the
link to the master (a self-healing link, sync-semantics). Otherwise (the master keeps another
Cloze record's identity, or none, or is gone too) the loser is an unreadable record (code
SF_MERGED) whose message names the master, the Cloze records involved and the one-field fix;
nothing is deleted or relinked by guess. A converted Lead (``IsConverted``, ``ConvertedContactId``)
is handed to its contact by the same rule (code SF_CONVERTED when it cannot be).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from connectors.errors import ChangeHistoryLost
from connectors.model import ChangePage, Entity, Record
from connectors.salesforce import ids
from connectors.salesforce.client import SalesforceClient, soql_string
from connectors.salesforce.mapping import LEAD, OBJECT, resume_lookback_ms, sf_time_ms, soql_time

PREFIX = "sf1"
PAGE = 2000


@dataclass(frozen=True, order=True)
class Position:
    ts: int  # epoch ms of SystemModstamp
    last_id: str = ""

    def encode(self, polled: int) -> str:
        return f"{PREFIX}:{self.ts}:{self.last_id}:{polled}"


def decode(cursor: str | None) -> tuple[Position, int | None] | None:
    if not cursor:
        return None
    parts = cursor.split(":")
    if len(parts) not in (3, 4) or parts[0] != PREFIX:
        raise ValueError(f"not a Salesforce change cursor: {cursor!r}")
    return Position(int(parts[1]), parts[2]), int(parts[3]) if len(parts) == 4 else None


def now_ms() -> int:
    return int(time.time() * 1000)


ToRecords = Callable[[Entity, Sequence[dict[str, Any]]], list[Record]]


class ChangeFeed:
    def __init__(self, client: SalesforceClient, *, overlap_ms: int, horizon_ms: int,
                 fields: Callable[[Entity], list[str]], to_records: ToRecords, pair: str,
                 get: Callable[[Entity, Sequence[str]], dict[str, Record]] | None = None,
                 identity_field: str = "Cloze_Syncd_Id__c", lead_fields: Callable[[], list[str]] | None = None
                 ) -> None:
        self.client = client
        self.lead_fields = lead_fields
        self.identity_field = identity_field
        self.get = get
        self.overlap_ms = overlap_ms
        self.horizon_ms = horizon_ms
        self.fields = fields
        self.to_records = to_records
        self.pair = pair
        self.queries = 0

    def start(self, cursor: str | None) -> Position:
        decoded = decode(cursor)
        if decoded is None:
            return Position(0)
        pos, polled = decoded
        lookback = resume_lookback_ms(self.overlap_ms)
        if polled is not None and pos.ts >= polled - lookback:
            return Position(max(0, polled - lookback))
        return pos

    def pages(self, entity: Entity, cursor: str | None, *, leads: bool = False) -> Iterator[ChangePage]:
        """The entity's changes since ``cursor``; ``leads``: the Lead feed of ``person`` instead of Contact's."""
        last: str | None = cursor
        for page in self._pages(entity, cursor, LEAD if leads else OBJECT[entity]):
            last = page.cursor
            yield page
        decoded = decode(cursor)
        if entity == "project" and self.get is not None and decoded is not None and decoded[1] is not None:
            # A contact role change does not move its opportunity's SystemModstamp: poll the roles too.
            since = soql_time(max(0, decoded[1] - self.overlap_ms))
            soql = (f"SELECT Id, OpportunityId FROM OpportunityContactRole WHERE SystemModstamp >= {since} "
                    "ORDER BY SystemModstamp, Id")
            opportunities = sorted({str(r["OpportunityId"]) for page in self.client.query(soql, all_rows=True)
                                    for r in page if r.get("OpportunityId")})
            for start in range(0, len(opportunities), 200):
                found = self.get(entity, opportunities[start:start + 200])
                if found:
                    yield ChangePage(list(found.values()), last)

    def _pages(self, entity: Entity, cursor: str | None, obj: str) -> Iterator[ChangePage]:
        began = now_ms()
        decoded = decode(cursor)
        previous = decoded[1] if decoded else None
        if previous is not None and began - previous > self.horizon_ms:
            raise ChangeHistoryLost(
                f"the {obj} change cursor is older than Salesforce keeps deleted records "
                f"({self.horizon_ms // 86_400_000} days): deletes since then cannot be listed",
                side="external", pair=self.pair, entity=entity, code="SF_HISTORY_GAP",
                hint=f"`syncd reconcile {self.pair}` reads everything and finds every record that is gone")
        pos = self.start(cursor)
        floor = decoded[0] if decoded else Position(0)
        guard = self.client.guard("queryAll", entity)
        select = ", ".join(self.lead_fields() if obj == LEAD and self.lead_fields else self.fields(entity))
        while True:
            guard.see(pos, what="change position")
            where = ""
            if pos.ts or pos.last_id:
                stamp = soql_time(pos.ts)
                where = (f" WHERE SystemModstamp > {stamp} OR (SystemModstamp = {stamp} AND Id > "
                         f"{soql_string(pos.last_id)})") if pos.last_id else f" WHERE SystemModstamp >= {stamp}"
            soql = f"SELECT {select} FROM {obj}{where} ORDER BY SystemModstamp, Id LIMIT {PAGE}"
            self.queries += 1
            rows = [r for page in self.client.query(soql, all_rows=True) for r in page]
            if not rows:
                yield ChangePage([], max(pos, floor).encode(began))
                return
            last = rows[-1]
            pos = Position(sf_time_ms(last.get("SystemModstamp")) or pos.ts, str(last.get("Id") or ""))
            yield self.page(entity, rows, max(pos, floor).encode(began))
            if len(rows) < PAGE:
                return

    def page(self, entity: Entity, rows: Sequence[dict[str, Any]], cursor: str) -> ChangePage:
        """One page of feed rows: live records, deletes, and what merges and lead conversions handed over."""
        live = [r for r in rows if not r.get("IsDeleted") and not r.get("IsConverted")]
        deleted: list[str] = []
        handed: list[tuple[str, str, str, bool]] = []  # (record id, successor id, its Cloze identity, converted)
        for row in rows:
            record_id = ids.normalize(str(row.get("Id") or "")) or str(row.get("Id"))
            identity = str(row.get(self.identity_field) or "")
            if not row.get("IsDeleted"):
                if row.get("IsConverted"):
                    contact = str(row.get("ConvertedContactId") or "")
                    handed.append((record_id, ids.normalize(contact) or contact, identity, True))
                continue
            master = row.get("MasterRecordId")
            if master:
                handed.append((record_id, ids.normalize(str(master)) or str(master), identity, False))
            else:
                deleted.append(record_id)
        records = self.to_records(entity, live)
        if handed:
            relinked, unreadable = self._successors(entity, handed, {r.id for r in records})
            records += relinked + unreadable
            stuck = {r.id for r in unreadable}
            deleted += [old for old, _, _, _ in handed if old not in stuck]
        return ChangePage(records, cursor, deleted)

    def _successors(self, entity: Entity, handed: Sequence[tuple[str, str, str, bool]], delivered: set[str]
                    ) -> tuple[list[Record], list[Record]]:
        """Successors to deliver (each carrying its predecessor's Cloze identity: a merge's master, a converted
        lead's contact), and the predecessors that cannot be handed over, as unreadable records."""
        wanted = sorted({s for _, s, _, _ in handed if s})
        successors = self.get(entity, wanted) if self.get is not None and wanted else {}
        relinked: dict[str, Record] = {}
        unreadable: list[Record] = []
        for old, successor_id, identity, converted in handed:
            successor = successors.get(successor_id)
            if successor is not None and identity and successor.cloze_ref == identity:
                if successor.id not in delivered:
                    relinked[successor.id] = successor
                continue
            obj = "Contact" if converted else OBJECT[entity]
            how, code = ("converted to", "SF_CONVERTED") if converted else ("merged into", "SF_MERGED")
            if successor is None:
                why = f"{obj} {successor_id or '(none)'}, which is gone too"
                fix = "link the Cloze record by hand, or run a full reconcile to match it again"
            elif not identity:
                why = f"{obj} {successor_id}; the old record carried no Cloze identity"
                fix = "run a full reconcile to match the Cloze record again"
            elif successor.cloze_ref:
                why = (f"{obj} {successor_id}, which carries the identity of Cloze record {successor.cloze_ref}, so "
                       f"Cloze records {successor.cloze_ref} and {identity} are one record in Salesforce now")
                fix = (f"merge them in Cloze, or set {self.identity_field} on {successor_id} to {identity} to keep "
                       f"{identity} linked to it")
            else:
                why = f"{obj} {successor_id}, which carries no Cloze identity"
                fix = (f"set {self.identity_field} on {successor_id} to {identity} and the next run links Cloze "
                       f"record {identity} to it")
                if converted:
                    fix += (f" (and map the Lead field {self.identity_field} to the Contact field of that name in "
                            "Setup > Object Manager > Lead > Fields & Relationships > Map Lead Fields, so later "
                            "conversions hand over by themselves)")
            unreadable.append(Record(id=old, fields={}, unreadable=(
                f"{how} {why} (code {code}); the link is kept as it is: {fix}")))
        return list(relinked.values()), unreadable


def current_cursor(client: SalesforceClient, entity: Entity, obj: str | None = None) -> str:
    """The newest ``(SystemModstamp, Id)`` now: a feed from here misses nothing written after it."""
    soql = f"SELECT Id, SystemModstamp FROM {obj or OBJECT[entity]} ORDER BY SystemModstamp DESC, Id DESC LIMIT 1"
    began = now_ms()
    for page in client.query(soql, all_rows=True):
        row = page[0]
        return Position(sf_time_ms(row.get("SystemModstamp")) or 0, str(row.get("Id") or "")).encode(began)
    return Position(0).encode(began)
