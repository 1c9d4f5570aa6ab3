"""The memory connector with the switches the engine's tests need (the faults live here, not in the example).

- ``role``: ``"cloze"`` ids start with ``c`` and set patches merge into the stored list as Cloze's API
  does (add and remove elements); ``"external"`` ids start with ``x`` and a patch replaces the list;
- ``merges_on_create``: a create is folded into an existing record sharing one of those values (Cloze);
- ``reject(op, entity, fields)``: a message refuses that one write;
- ``crash_after_writes``: after that many more writes the process "dies" (:class:`SimulatedCrash`);
- ``writes``: how many writes reached the backend.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

from connectors.base import Capabilities
from connectors.entities import ENTITY_KINDS
from connectors.memory import MemoryConnector as ExampleConnector
from connectors.memory import MemorySettings as ExampleSettings
from connectors.memory import MemoryStore, StoredRecord
from connectors.model import (
    AppLink,
    CreateRequest,
    Entity,
    SetPatch,
    UpdateRequest,
    WriteResult,
)
from connectors.values import BadValue, normalize

Role = Literal["cloze", "external"]


class SimulatedCrash(BaseException):
    """Raised by a backend's crash switch; a BaseException so no error handler swallows it."""


class MemoryBackend(MemoryStore):
    """A :class:`MemoryStore` with fault switches; every write is saved at once, so a crash loses nothing."""

    def __init__(self, role: Role = "external", path: Path | None = None) -> None:
        self.role = role
        self.id_prefix = "c" if role == "cloze" else "x"
        self.writes = 0
        self.reject: Callable[[str, str, Mapping[str, Any]], str | None] | None = None
        self.crash_after_writes: int | None = None
        super().__init__(path)

    @classmethod
    def named(cls, name: str, role: Role = "external", path: Path | None = None) -> Self:  # type: ignore[override]
        with cls._lock:
            store = cls._named.get(name)
            if not isinstance(store, cls):
                store = cls._named[name] = cls(role, path)
            return store

    # -- direct access, as a user of that system would change it (tests, the daemon's file) --

    def put(self, entity: str, fields: Mapping[str, Any], *, record_id: str | None = None,
            app_links: Sequence[AppLink] = (), cloze_ref: str | None = None) -> str:
        with self.lock:
            item = self.new_record() if record_id is None else StoredRecord(record_id, {}, 0)
            item.fields, item.app_links, item.cloze_ref = dict(fields), list(app_links), cloze_ref
            self.touch(entity, item)
            self.save()
            return item.id

    def edit(self, entity: str, record_id: str, **fields: Any) -> None:
        with self.lock:
            item = self.items[entity][record_id]
            item.fields.update(fields)
            self.touch(entity, item)
            self.save()

    def remove(self, entity: str, record_id: str) -> None:
        with self.lock:
            if self.items[entity].pop(record_id, None) is not None:
                self.seq += 1
                self.deleted[entity][record_id] = self.seq
                self.save()

    def count_write(self) -> None:
        self.save()
        self.writes += 1
        if self.crash_after_writes is not None:
            self.crash_after_writes -= 1
            if self.crash_after_writes < 0:
                self.crash_after_writes = None
                raise SimulatedCrash("simulated crash after a write")


class MemorySettings(ExampleSettings):
    role: Role = "external"
    merges_on_create: frozenset[str] = frozenset()


class MemoryConnector(ExampleConnector):
    store_type: ClassVar[type[MemoryStore]] = MemoryBackend

    def __init__(self, settings: ExampleSettings, context: Any) -> None:
        super().__init__(settings, context)
        self.rig = settings if isinstance(settings, MemorySettings) else MemorySettings(**settings.model_dump())
        self.backend = MemoryBackend.named(settings.backend, self.rig.role, settings.path)
        self.store = self.backend

    def capabilities(self, entity: Entity) -> Capabilities:
        return Capabilities(merges_on_create=self.rig.merges_on_create)

    def _apply(self, item: StoredRecord, fields: Mapping[str, str | SetPatch | None]) -> None:
        if self.backend.role != "cloze":
            return super()._apply(item, fields)
        for key, value in fields.items():  # Cloze merges arrays: add and archive elements
            if isinstance(value, SetPatch):
                item.fields[key] = sorted((set(item.fields.get(key) or ()) | value.add) - value.remove)
            else:
                item.fields[key] = value

    def _rejected(self, op: str, entity: str, fields: Mapping[str, Any]) -> str | None:
        return self.backend.reject(op, entity, fields) if self.backend.reject else None

    def create_one(self, entity: Entity, req: CreateRequest) -> WriteResult:
        if problem := self._rejected("create", entity, req.fields):
            return WriteResult(req.key, False, error=problem, code="rejected")
        if self._marked(entity, req.app_link, req.cloze_ref) is None and (target := self._merge_target(entity, req)):
            self._apply(target, req.fields)  # folded into the record sharing an identifier, as Cloze does
            if req.app_link and all(a.key != req.app_link.key for a in target.app_links):
                target.app_links.append(req.app_link)
            target.cloze_ref = req.cloze_ref or target.cloze_ref
            self.backend.touch(entity, target)
            result = WriteResult(req.key, True, id=target.id, record=self._record(target))
        else:
            result = super().create_one(entity, req)
        self.backend.count_write()
        return result

    def update_one(self, entity: Entity, req: UpdateRequest) -> WriteResult:
        if req.id in self.backend.items[entity] and (problem := self._rejected("update", entity, req.fields)):
            return WriteResult(req.id, False, error=problem, code="rejected")
        result = super().update_one(entity, req)
        if result.ok:
            self.backend.count_write()
        return result

    def delete_one(self, entity: Entity, record_id: str) -> WriteResult:
        existed = record_id in self.backend.items[entity]
        result = super().delete_one(entity, record_id)
        if existed:
            self.backend.count_write()
        return result

    def _identifiers(self, entity: Entity, fields: Mapping[str, Any]) -> set[tuple[str, str]]:
        """The ``merges_on_create`` values of ``fields``, normalised, as (field, value)."""
        out: set[tuple[str, str]] = set()
        for name in self.rig.merges_on_create:
            spec, raw = ENTITY_KINDS.fields(entity).get(name), fields.get(name)
            if spec is None or raw is None:
                continue
            try:
                value = normalize(spec.kind, sorted(raw.result) if isinstance(raw, SetPatch) else raw)
            except BadValue:
                continue
            out |= {(name, v) for v in value} if isinstance(value, frozenset) else set()
        return out

    def _merge_target(self, entity: Entity, req: CreateRequest) -> StoredRecord | None:
        wanted = self._identifiers(entity, req.fields)
        if not wanted:
            return None
        return next((i for i in sorted(self.backend.items[entity].values(), key=lambda i: i.id)
                     if wanted & self._identifiers(entity, i.fields)), None)
