"""What the Cloze connector has read during the current run, so it is not read again.

Cloze has no batch reads and returns nothing from a write (spec §2.1), so every
record the connector sees (feed pages, gets, the feed read that confirms a
batch of writes) is kept here for the rest of the run, by ``direct`` id, with an
index of the App Links it carries. An update of a record read in this run needs
no fresh read first; a record found by App Link needs no undocumented ``get``.

Everything is forgotten at the start of the next run (``Connector.begin_run``):
a record read in an earlier run may have changed since.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors.cloze.wire import live_elements
from connectors.model import Entity

Json = dict[str, Any]
LinkKey = tuple[str, str]


def link_keys(record: Mapping[str, Any]) -> list[LinkKey]:
    """``(source lower-cased, uniqueid)`` of each live App Link of a wire record."""
    out = []
    for link in live_elements(record.get("appLinks")):
        if isinstance(link, Mapping) and link.get("source") and link.get("uniqueid"):
            out.append((str(link["source"]).lower(), str(link["uniqueid"])))
    return out


@dataclass
class KnownRecords:
    """Wire records of one run, per entity: by direct id, by App Link, and how far the feed was read."""

    records: dict[Entity, dict[str, Json]] = field(default_factory=dict)
    by_link: dict[Entity, dict[LinkKey, str]] = field(default_factory=dict)
    complete: set[Entity] = field(default_factory=set)
    # A feed position no later than this connector's first unconfirmed write (where a confirming read starts).
    cursor: dict[Entity, str] = field(default_factory=dict)
    sizes: dict[Entity, int] = field(default_factory=dict)

    def reset(self) -> None:
        self.records.clear()
        self.by_link.clear()
        self.complete.clear()
        self.cursor.clear()
        self.sizes.clear()

    def remember(self, entity: Entity, items: Iterable[Mapping[str, Any]]) -> None:
        records = self.records.setdefault(entity, {})
        links = self.by_link.setdefault(entity, {})
        for item in items:
            direct = item.get("direct")
            if not isinstance(direct, str) or not direct:
                continue
            record = item if isinstance(item, dict) else dict(item)
            records[direct] = record
            for key in link_keys(record):
                links[key] = direct

    def forget(self, entity: Entity, direct: str) -> None:
        self.records.get(entity, {}).pop(direct, None)

    def get(self, entity: Entity, direct: str) -> Json | None:
        return self.records.get(entity, {}).get(direct)

    def linked(self, entity: Entity, source: str, uniqueid: str) -> Json | None:
        """The record last seen carrying App Link ``(source, uniqueid)``, if it still carries it."""
        key = (source.lower(), uniqueid)
        direct = self.by_link.get(entity, {}).get(key)
        record = self.get(entity, direct) if direct else None
        return record if record is not None and key in link_keys(record) else None

    def mark_complete(self, entity: Entity) -> None:
        self.complete.add(entity)
        self.sizes[entity] = len(self.records.get(entity, {}))
