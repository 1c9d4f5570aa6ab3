"""A connector over records kept in memory: the short example of ``docs/connectors.md``.

Each rule of that page is one or two lines here. A :class:`MemoryStore` holds the
records of one pretend system and a change counter; connectors naming the same
``backend`` share it, and ``path`` keeps it in a JSON file so that another process
(the daemon, a test) sees the same records. It plays either side of a pair: it keeps
whichever join marker it is given (App Links or a Cloze identity).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

from connectors.base import Connector, ConnectorContext, ConnectorSettings, Problem
from connectors.entities import ENTITY_KINDS
from connectors.model import (
    AppLink,
    ChangePage,
    CreateRequest,
    Entity,
    FieldSpec,
    Record,
    SetPatch,
    UpdateRequest,
    WriteResult,
)


class MemorySettings(ConnectorSettings):
    backend: str = "default"
    """Connectors of one process that name the same backend share its records."""
    path: Path | None = None
    """A JSON file the records are kept in (read again before a call when it changed, written after every write)."""
    page_size: int = 50


@dataclass
class StoredRecord:
    id: str
    fields: dict[str, Any]
    seq: int
    app_links: list[AppLink] = field(default_factory=list)
    cloze_ref: str | None = None


class MemoryStore:
    """The records of one pretend system: ``seq`` counts changes, ``deleted`` remembers when each record went."""

    _named: ClassVar[dict[str, MemoryStore]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()
    id_prefix = "r"

    def __init__(self, path: Path | None = None) -> None:
        self.path, self.lock = path, threading.RLock()
        # Any kind a connector over this store holds (see MemoryConnector.kinds).
        self.items: defaultdict[str, dict[str, StoredRecord]] = defaultdict(dict)
        self.deleted: defaultdict[str, dict[str, int]] = defaultdict(dict)
        self.seq, self.next_id = 0, 1
        self._read: tuple[int, ...] | None = None  # the file as last read or written (see _signature)
        self.load()

    @classmethod
    def named(cls, name: str, path: Path | None = None) -> Self:
        with cls._lock:
            store = cls._named.get(name)
            if not isinstance(store, cls):
                store = cls._named[name] = cls(path=path)
            return store

    @classmethod
    def forget(cls, name: str) -> None:
        with cls._lock:
            cls._named.pop(name, None)

    @staticmethod
    def _signature(stat: os.stat_result) -> tuple[int, ...]:
        """What tells one version of the file from another without reading it: every save writes a new
        file (a new inode); an edit in place changes its size or its times."""
        return stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns

    def load(self) -> None:
        """Read the file again if it changed since this store last read or wrote it (a quiet run asks for
        every kind's changes: parsing the whole file each time made it cost the size of the account)."""
        if self.path is None:
            return
        try:
            signature = self._signature(self.path.stat())
        except FileNotFoundError:
            return
        if signature == self._read:
            return
        data = json.loads(self.path.read_text())
        self.seq, self.next_id = data["seq"], data["next_id"]
        for e in set(self.items) | set(data["items"]) | set(data["deleted"]):
            # kept in change order, so that ``changes`` reads only the end of it
            stored = sorted(data["items"].get(e, []), key=lambda i: i["seq"])
            self.items[e] = {i["id"]: StoredRecord(i["id"], i["fields"], i["seq"], [AppLink(**a) for a in i["app_links"]],
                                                   i["cloze_ref"]) for i in stored}
            self.deleted[e] = dict(data["deleted"].get(e, {}))
        self._read = signature

    def save(self) -> None:
        if self.path is None:
            return
        items = {e: [dataclasses.asdict(i) for i in records.values()] for e, records in self.items.items()}
        data = {"seq": self.seq, "next_id": self.next_id, "items": items, "deleted": self.deleted}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, default=sorted))  # sets (a SetPatch result) as sorted lists
        written = self._signature(tmp.stat())  # before the rename: a later writer's file is not taken for ours
        tmp.replace(self.path)
        self._read = written

    def touch(self, entity: str, item: StoredRecord) -> None:
        """``item`` changed (or was made): it moves to the end of the change feed (and of ``items``)."""
        self.seq += 1
        item.seq = self.seq
        self.items[entity].pop(item.id, None)
        self.items[entity][item.id] = item
        self.deleted[entity].pop(item.id, None)

    def new_record(self) -> StoredRecord:
        self.next_id += 1
        return StoredRecord(f"{self.id_prefix}{self.next_id - 1}", {}, 0)


class MemoryConnector(Connector[MemorySettings]):
    """The connector over a :class:`MemoryStore`; ``store_type`` lets a test rig bring a store of its own."""

    name = "memory"
    store_type: ClassVar[type[MemoryStore]] = MemoryStore
    kinds: ClassVar[frozenset[Entity]] = frozenset({"person", "company", "project"})  # a subclass may hold more

    def __init__(self, settings: MemorySettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        self.store = self.store_type.named(settings.backend, path=settings.path)

    def entities(self) -> frozenset[Entity]:
        return self.kinds

    def fields(self, entity: Entity) -> Mapping[str, FieldSpec]:
        return ENTITY_KINDS.fields(entity)

    def account_identity(self) -> dict[str, str]:
        """The backend's name, and its file when it has one (another file is another account)."""
        path = self.settings.path
        return {"backend": self.settings.backend, **({"path": str(path.resolve())} if path else {})}

    def check(self) -> list[Problem]:
        """A memory system holds any field, so only a custom field it has no room for is a problem."""
        return [Problem(f"{entity} custom field {native!r} is not a plain name", "use letters, digits and _",
                        f"entities.{entity}.custom:{native}")
                for entity, ids in self.context.custom_fields.items() for native in ids if not native.isidentifier()]

    # -- reads: canonical field names, with the join markers --------------------------

    def _record(self, item: StoredRecord) -> Record:
        return Record(item.id, dict(item.fields), item.seq, tuple(item.app_links), item.cloze_ref)

    def _pages(self, records: list[StoredRecord]) -> Iterator[list[StoredRecord]]:
        for start in range(0, len(records), self.settings.page_size):
            yield records[start : start + self.settings.page_size]

    def changes(self, entity: Entity, cursor: str | None) -> Iterator[ChangePage]:
        with self.store.lock:
            self.store.load()
            since, top = int(cursor or 0), self.store.seq
            changed = list(itertools.takewhile(lambda i: i.seq > since, reversed(self.store.items[entity].values())))
            changed.reverse()  # items are in change order: only the changes since the cursor are read
            gone = sorted(rid for rid, seq in self.store.deleted[entity].items() if seq > since)
        pages = list(self._pages(changed)) or [[]]
        for n, page in enumerate(pages):
            last = n == len(pages) - 1  # the last page carries the deletions and the cursor "now"
            yield ChangePage([self._record(i) for i in page], str(top if last else page[-1].seq), gone if last else ())

    def current_cursor(self, entity: Entity) -> str | None:
        with self.store.lock:
            self.store.load()
            return str(self.store.seq)

    def list_all(self, entity: Entity) -> Iterator[Sequence[Record]]:
        with self.store.lock:
            self.store.load()
            records = sorted(self.store.items[entity].values(), key=lambda i: i.id)
        for page in self._pages(records):
            yield [self._record(i) for i in page]

    def get(self, entity: Entity, ids: Sequence[str]) -> dict[str, Record]:
        with self.store.lock:
            self.store.load()
            return {i: self._record(self.store.items[entity][i]) for i in ids if i in self.store.items[entity]}

    def _marked(self, entity: Entity, app_link: AppLink | None, cloze_ref: str | None) -> StoredRecord | None:
        """The record already carrying this join marker: a create repeated after a crash finds it."""
        for item in self.store.items[entity].values():
            if (app_link and any(a.key == app_link.key for a in item.app_links)) or (cloze_ref and item.cloze_ref == cloze_ref):
                return item
        return None

    def find_linked(self, entity: Entity, ref: str) -> Record | None:
        with self.store.lock:
            self.store.load()
            item = self._marked(entity, AppLink(self.context.app_id, ref), ref)
            return self._record(item) if item else None

    def find_linked_many(self, entity: Entity, refs: Sequence[str]) -> dict[str, Record]:
        """One pass over the store for every ref (the first record carrying each marker)."""
        wanted = set(refs)
        found: dict[str, StoredRecord] = {}
        with self.store.lock:
            self.store.load()
            for item in self.store.items[entity].values():
                marks = {a.uniqueid for a in item.app_links if a.key[0] == self.context.app_id.lower()}
                if item.cloze_ref:
                    marks.add(item.cloze_ref)
                for ref in marks & wanted:
                    found.setdefault(ref, item)
            return {ref: self._record(item) for ref, item in found.items()}

    def lookup(self, entity: Entity, field_name: str, value: str) -> list[Record]:
        needle = value.strip().lower()
        with self.store.lock:
            self.store.load()
            return [self._record(i) for i in self.store.items[entity].values()
                    if needle in {v.strip().lower() for v in _values(i.fields.get(field_name)) if isinstance(v, str)}]

    # -- writes: never raise for one record; touch only the fields given ----------------

    def _apply(self, item: StoredRecord, fields: Mapping[str, str | SetPatch | None]) -> None:
        for key, value in fields.items():
            item.fields[key] = sorted(value.result) if isinstance(value, SetPatch) else value

    def _write(self, entity: Entity, requests: Sequence[Any], one: Callable[[Entity, Any], WriteResult]) -> list[WriteResult]:
        with self.store.lock:
            self.store.load()
            results = [one(entity, r) for r in requests]
            self.store.save()
        return results

    def create(self, entity: Entity, requests: Sequence[CreateRequest]) -> list[WriteResult]:
        return self._write(entity, requests, self.create_one)

    def create_one(self, entity: Entity, req: CreateRequest) -> WriteResult:
        item = self._marked(entity, req.app_link, req.cloze_ref) or self.store.new_record()
        self._apply(item, req.fields)
        if req.app_link and all(a.key != req.app_link.key for a in item.app_links):
            item.app_links.append(req.app_link)
        item.cloze_ref = req.cloze_ref or item.cloze_ref
        self.store.touch(entity, item)
        return WriteResult(req.key, True, id=item.id, record=self._record(item))

    def update(self, entity: Entity, requests: Sequence[UpdateRequest]) -> list[WriteResult]:
        return self._write(entity, requests, self.update_one)

    def update_one(self, entity: Entity, req: UpdateRequest) -> WriteResult:
        item = self.store.items[entity].get(req.id)
        if item is None:
            return WriteResult(req.id, False, error=f"no {entity} {req.id}", code="not_found")
        self._apply(item, req.fields)
        if req.add_app_link and all(a.key != req.add_app_link.key for a in item.app_links):
            item.app_links.append(req.add_app_link)
        if req.remove_app_link:
            item.app_links = [a for a in item.app_links if a.key != req.remove_app_link.key]
        item.cloze_ref = None if req.clear_cloze_ref else (req.cloze_ref or item.cloze_ref)
        self.store.touch(entity, item)
        return WriteResult(req.id, True, id=item.id, record=self._record(item))

    def delete(self, entity: Entity, ids: Sequence[str]) -> list[WriteResult]:
        return self._write(entity, ids, self.delete_one)

    def delete_one(self, entity: Entity, record_id: str) -> WriteResult:
        if self.store.items[entity].pop(record_id, None) is not None:
            self.store.seq += 1
            self.store.deleted[entity][record_id] = self.store.seq
        return WriteResult(record_id, True, id=record_id)  # already gone is done too


def _values(raw: Any) -> list[Any]:
    return list(raw) if isinstance(raw, (list, tuple, set, frozenset)) else [raw]
