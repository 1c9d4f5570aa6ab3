"""An in-memory connector: a real implementation of the interface with no network.

It backs the engine's property tests (thousands of random runs per minute) and
lets the daemon be tried without any CRM. A :class:`MemoryBackend` holds the
records; several connectors (and the test driving them) can share one through
:meth:`MemoryBackend.named`, and ``path`` persists it to a JSON file so a
subprocess and its test see the same data.

It plays either role: ``role = "cloze"`` keeps App Links on records (and merges a
create whose App Link already exists, as Cloze does); ``role = "external"`` keeps
the Cloze identity in ``cloze_ref`` (and a create with a known ``cloze_ref`` returns
the existing record, like an upsert on a unique property). With ``merges_on_create``
set (e.g. ``["emails", "phones"]``), a create is merged into an existing record that
shares a value of one of those fields, as Cloze does, and the connector declares it.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from connectors.base import Capabilities, Connector, ConnectorContext, ConnectorSettings
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
from connectors.values import BadValue, normalize

PAGE = 50


class SimulatedCrash(BaseException):
    """Raised by a backend's crash switch; a BaseException so no error handler swallows it."""


@dataclass
class _Item:
    id: str
    fields: dict[str, Any]
    seq: int
    app_links: list[AppLink] = field(default_factory=list)
    cloze_ref: str | None = None


class MemoryBackend:
    """The records of one in-memory system, with a change sequence and fault switches."""

    _named: ClassVar[dict[str, MemoryBackend]] = {}
    _named_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, role: Literal["cloze", "external"] = "external", path: Path | None = None) -> None:
        self.role = role
        self.path = path
        self.lock = threading.RLock()
        # Any kind a connector over this backend holds (see MemoryConnector.kinds).
        self.items: defaultdict[str, dict[str, _Item]] = defaultdict(dict)
        self.deleted: defaultdict[str, dict[str, int]] = defaultdict(dict)
        self.seq = 0
        self.next_id = 1
        self.writes = 0
        self.reject: Callable[[str, str, Mapping[str, Any]], str | None] | None = None
        self.crash_after_writes: int | None = None
        if path is not None and path.exists():
            self._load()

    @classmethod
    def named(cls, name: str, role: Literal["cloze", "external"] = "external", path: Path | None = None) -> MemoryBackend:
        with cls._named_lock:
            if name not in cls._named:
                cls._named[name] = cls(role, path)
            return cls._named[name]

    @classmethod
    def forget(cls, name: str) -> None:
        with cls._named_lock:
            cls._named.pop(name, None)

    # -- persistence (for subprocess use) ------------------------------------------

    def _load(self) -> None:
        assert self.path is not None
        data = json.loads(self.path.read_text())
        self.seq, self.next_id, self.writes = data["seq"], data["next_id"], data.get("writes", 0)
        for entity in set(self.items) | set(data["items"]) | set(data["deleted"]):
            self.items[entity] = {
                i["id"]: _Item(i["id"], i["fields"], i["seq"], [AppLink(**a) for a in i["app_links"]], i["cloze_ref"])
                for i in data["items"].get(entity, [])
            }
            self.deleted[entity] = dict(data["deleted"].get(entity, {}))

    def save(self) -> None:
        if self.path is None:
            return
        data = {
            "seq": self.seq,
            "next_id": self.next_id,
            "writes": self.writes,
            "items": {
                e: [
                    {"id": i.id, "fields": i.fields, "seq": i.seq, "cloze_ref": i.cloze_ref,
                     "app_links": [dataclasses.asdict(a) for a in i.app_links]}
                    for i in items.values()
                ]
                for e, items in self.items.items()
            },
            "deleted": self.deleted,
        }
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, default=_json_default))
        tmp.replace(self.path)

    # -- direct access for tests and the sandbox ----------------------------------

    def put(self, entity: str, fields: Mapping[str, Any], *, record_id: str | None = None,
            app_links: Sequence[AppLink] = (), cloze_ref: str | None = None) -> str:
        """Create or replace a record directly, as a user of that system would."""
        with self.lock:
            rid = record_id or self._new_id()
            self.seq += 1
            self.items[entity][rid] = _Item(rid, dict(fields), self.seq, list(app_links), cloze_ref)
            self.deleted[entity].pop(rid, None)
            self.save()
            return rid

    def edit(self, entity: str, record_id: str, **fields: Any) -> None:
        with self.lock:
            item = self.items[entity][record_id]
            item.fields.update(fields)
            self.seq += 1
            item.seq = self.seq
            self.save()

    def remove(self, entity: str, record_id: str) -> None:
        with self.lock:
            if self.items[entity].pop(record_id, None) is not None:
                self.seq += 1
                self.deleted[entity][record_id] = self.seq
                self.save()

    def _new_id(self) -> str:
        rid = f"{'c' if self.role == 'cloze' else 'x'}{self.next_id}"
        self.next_id += 1
        return rid

    def _count_write(self) -> None:
        self.writes += 1
        if self.crash_after_writes is not None:
            self.crash_after_writes -= 1
            if self.crash_after_writes < 0:
                self.crash_after_writes = None
                self.save()
                raise SimulatedCrash("simulated crash after a write")


def _json_default(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"cannot store {type(value).__name__}")


class MemorySettings(ConnectorSettings):
    backend: str = "default"
    role: Literal["cloze", "external"] = "external"
    path: Path | None = None
    page_size: int = PAGE
    merges_on_create: frozenset[str] = frozenset()


class MemoryConnector(Connector):
    """The connector over a :class:`MemoryBackend`."""

    name = "memory"
    Settings = MemorySettings
    kinds: ClassVar[frozenset[Entity]] = frozenset({"person", "company", "project"})

    def __init__(self, settings: ConnectorSettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        assert isinstance(settings, MemorySettings)
        self.cfg = settings
        self.backend = MemoryBackend.named(settings.backend, settings.role, settings.path)
        if settings.path is not None and settings.path.exists():
            with self.backend.lock:
                self.backend._load()

    def entities(self) -> frozenset[Entity]:
        return self.kinds

    def fields(self, entity: Entity) -> Mapping[str, FieldSpec]:
        return ENTITY_KINDS.fields(entity)

    def account_identity(self) -> dict[str, str]:
        """The backend's name, and its file when it has one (another file is another account)."""
        ident = {"backend": self.cfg.backend}
        if self.cfg.path is not None:
            ident["path"] = str(self.cfg.path.resolve())
        return ident

    def capabilities(self, entity: Entity) -> Capabilities:
        return Capabilities(merges_on_create=self.cfg.merges_on_create)

    def _identifiers(self, entity: Entity, fields: Mapping[str, Any]) -> set[tuple[str, str]]:
        """The ``merges_on_create`` values of ``fields``, normalised, as (field, value)."""
        out: set[tuple[str, str]] = set()
        for name in self.cfg.merges_on_create:
            spec = ENTITY_KINDS.fields(entity).get(name)
            raw = fields.get(name)
            if spec is None or raw is None:
                continue
            try:
                value = normalize(spec.kind, sorted(raw.result) if isinstance(raw, SetPatch) else raw)
            except BadValue:
                continue
            out |= {(name, v) for v in value} if isinstance(value, frozenset) else set()
        return out

    def _merge_target(self, entity: Entity, fields: Mapping[str, Any]) -> _Item | None:
        wanted = self._identifiers(entity, fields)
        if not wanted:
            return None
        return next((i for i in sorted(self.backend.items[entity].values(), key=lambda i: i.id)
                     if wanted & self._identifiers(entity, i.fields)), None)

    def _record(self, item: _Item) -> Record:
        return Record(
            id=item.id,
            fields=dict(item.fields),
            modified_at=item.seq,
            app_links=tuple(item.app_links),
            cloze_ref=item.cloze_ref,
        )

    def _reload(self) -> None:
        if self.backend.path is not None and self.backend.path.exists():
            self.backend._load()

    def changes(self, entity: Entity, cursor: str | None) -> Iterator[ChangePage]:
        with self.backend.lock:
            self._reload()
            since = int(cursor or 0)
            items = sorted((i for i in self.backend.items[entity].values() if i.seq > since), key=lambda i: i.seq)
            gone = sorted((rid for rid, seq in self.backend.deleted[entity].items() if seq > since))
            top = self.backend.seq
        for start in range(0, len(items), self.cfg.page_size):
            chunk = items[start : start + self.cfg.page_size]
            last = start + self.cfg.page_size >= len(items)
            cursor_after = str(top if last else chunk[-1].seq)
            yield ChangePage([self._record(i) for i in chunk], cursor_after, gone if last else ())
        if not items:
            yield ChangePage([], str(top), gone)

    def current_cursor(self, entity: Entity) -> str | None:
        with self.backend.lock:
            self._reload()
            return str(self.backend.seq)

    def list_all(self, entity: Entity) -> Iterator[Sequence[Record]]:
        with self.backend.lock:
            self._reload()
            items = sorted(self.backend.items[entity].values(), key=lambda i: i.id)
        for start in range(0, len(items), self.cfg.page_size):
            yield [self._record(i) for i in items[start : start + self.cfg.page_size]]

    def get(self, entity: Entity, ids: Sequence[str]) -> dict[str, Record]:
        with self.backend.lock:
            self._reload()
            return {i: self._record(self.backend.items[entity][i]) for i in ids if i in self.backend.items[entity]}

    def find_linked(self, entity: Entity, ref: str) -> Record | None:
        with self.backend.lock:
            self._reload()
            for item in self.backend.items[entity].values():
                if self.backend.role == "cloze":
                    if any(a.source == self.context.app_id and a.uniqueid == ref for a in item.app_links):
                        return self._record(item)
                elif item.cloze_ref == ref:
                    return self._record(item)
        return None

    def lookup(self, entity: Entity, field_name: str, value: str) -> list[Record]:
        needle = value.strip().lower()
        out = []
        with self.backend.lock:
            self._reload()
            for item in self.backend.items[entity].values():
                raw = item.fields.get(field_name)
                values = raw if isinstance(raw, (list, tuple, set, frozenset)) else [raw]
                if any(isinstance(v, str) and v.strip().lower() == needle for v in values):
                    out.append(self._record(item))
        return out

    # -- writes ------------------------------------------------------------------

    def _apply(self, item: _Item, fields: Mapping[str, str | SetPatch | None]) -> None:
        for key, value in fields.items():
            if isinstance(value, SetPatch):
                if self.backend.role == "cloze":  # Cloze merges arrays: add and archive elements
                    current = set(item.fields.get(key) or ())
                    item.fields[key] = sorted((current | value.add) - value.remove)
                else:
                    item.fields[key] = sorted(value.result)
            else:
                item.fields[key] = value

    def _rejected(self, op: str, entity: str, fields: Mapping[str, Any]) -> str | None:
        return self.backend.reject(op, entity, fields) if self.backend.reject else None

    def create(self, entity: Entity, requests: Sequence[CreateRequest]) -> list[WriteResult]:
        results = []
        with self.backend.lock:
            self._reload()
            for req in requests:
                problem = self._rejected("create", entity, req.fields)
                if problem:
                    results.append(WriteResult(req.key, False, error=problem, code="rejected"))
                    continue
                existing = None
                if req.app_link is not None:
                    existing = next((i for i in self.backend.items[entity].values()
                                     if any(a.key == req.app_link.key for a in i.app_links)), None)
                elif req.cloze_ref is not None:
                    existing = next((i for i in self.backend.items[entity].values() if i.cloze_ref == req.cloze_ref), None)
                if existing is None:
                    existing = self._merge_target(entity, req.fields)
                if existing is None:
                    existing = _Item(self.backend._new_id(), {}, 0)
                    self.backend.items[entity][existing.id] = existing
                self._apply(existing, req.fields)
                if req.app_link is not None and all(a.key != req.app_link.key for a in existing.app_links):
                    existing.app_links.append(req.app_link)
                if req.cloze_ref is not None:
                    existing.cloze_ref = req.cloze_ref
                self.backend.seq += 1
                existing.seq = self.backend.seq
                self.backend.save()
                self.backend._count_write()
                results.append(WriteResult(req.key, True, id=existing.id, record=self._record(existing)))
        return results

    def update(self, entity: Entity, requests: Sequence[UpdateRequest]) -> list[WriteResult]:
        results = []
        with self.backend.lock:
            self._reload()
            for req in requests:
                item = self.backend.items[entity].get(req.id)
                if item is None:
                    results.append(WriteResult(req.id, False, error="not found", code="not_found"))
                    continue
                problem = self._rejected("update", entity, req.fields)
                if problem:
                    results.append(WriteResult(req.id, False, error=problem, code="rejected"))
                    continue
                self._apply(item, req.fields)
                if req.add_app_link is not None and all(a.key != req.add_app_link.key for a in item.app_links):
                    item.app_links.append(req.add_app_link)
                if req.remove_app_link is not None:
                    item.app_links = [a for a in item.app_links if a.key != req.remove_app_link.key]
                if req.cloze_ref is not None:
                    item.cloze_ref = req.cloze_ref
                if req.clear_cloze_ref:
                    item.cloze_ref = None
                self.backend.seq += 1
                item.seq = self.backend.seq
                self.backend.save()
                self.backend._count_write()
                results.append(WriteResult(req.id, True, id=item.id, record=self._record(item)))
        return results

    def delete(self, entity: Entity, ids: Sequence[str]) -> list[WriteResult]:
        results = []
        with self.backend.lock:
            self._reload()
            for rid in ids:
                if self.backend.items[entity].pop(rid, None) is not None:
                    self.backend.seq += 1
                    self.backend.deleted[entity][rid] = self.backend.seq
                    self.backend.save()
                    self.backend._count_write()
                results.append(WriteResult(rid, True, id=rid))
        return results
