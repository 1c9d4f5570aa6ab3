"""The emulated account's data: records, property definitions, associations, and their rules.

Everything here runs under ``Store.lock``; the HTTP layer takes the lock once per
request, so a request (a whole batch included) is atomic, as HubSpot's are.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.hubspot.emulator import history, schema
from connectors.hubspot.emulator.errors import PropertyProblem
from connectors.hubspot.emulator.history import History
from connectors.hubspot.emulator.schema import PropertyDef

_EMAIL = re.compile(r"^[^@\s;,]+@[^@\s;,]+\.[^@\s;,]+$")
# Computed on read, never stored.
_COMPUTED = {"hs_object_id", "createdate", "lastmodifieddate", "hs_lastmodifieddate"}


@dataclass
class StoredObject:
    id: str
    type: str
    properties: dict[str, str]
    created_ms: int
    modified_ms: int
    archived: bool = False
    archived_ms: int | None = None
    history: History = field(default_factory=dict)
    # Told of every change of ``modified_ms`` (old value, new value): the store's modification-time index.
    on_modified: Callable[[StoredObject, int, int], None] | None = field(default=None, repr=False, compare=False)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "modified_ms":
            old = self.__dict__.get("modified_ms")
            object.__setattr__(self, name, value)
            watcher = self.__dict__.get("on_modified")
            if watcher is not None and old is not None and old != value:
                watcher(self, old, value)
            return
        object.__setattr__(self, name, value)

    def value(self, name: str) -> str | None:
        """A property's value as HubSpot returns it (computed ones included); ``None`` if unset."""
        if name == "hs_object_id":
            return self.id
        if name == "createdate":
            return schema.iso_from_ms(self.created_ms)
        if name == schema.MODIFIED_PROPERTY[self.type]:
            return schema.iso_from_ms(self.modified_ms)
        raw = self.properties.get(name)
        return raw if raw not in (None, "") else None


@dataclass
class Store:
    """All records of one emulated account."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    objects: dict[str, dict[str, StoredObject]] = field(default_factory=dict)
    definitions: dict[str, dict[str, PropertyDef]] = field(default_factory=dict)
    # (from_type, from_id, to_type) -> {to_id: {type_id, ...}}
    links: dict[tuple[str, str, str], dict[str, set[int]]] = field(default_factory=dict)
    frozen_ms: int | None = None
    # USER_DEFINED association labels created through ``/labels``: (type_id, from, to) -> type
    user_associations: dict[tuple[int, str, str], schema.AssociationType] = field(default_factory=dict)
    user_inverse: dict[int, int] = field(default_factory=dict)
    # (type, merged-away id) -> surviving id: a merged record's old id still reads the survivor
    merged_into: dict[tuple[str, str], str] = field(default_factory=dict)
    _next_id: int = 1001
    _next_type_id: int = 1000
    # (type, property or EMAILS) -> lower-cased value -> ids: unique-value and upsert lookups
    # without a scan of every record. Built on first use, kept by create/update/set_raw;
    # candidates are checked against the record on every read, so a stale entry is harmless.
    _index: dict[tuple[str, str], dict[str, set[str]]] = field(default_factory=dict)
    # type -> every live record's ``(modified_ms, tie, id)``, sorted: the order of a search sorted
    # by modification time (ties in the search's tie order), so a time-window search reads its
    # window, and a page of it only its rows, not the whole store (HubSpot indexes by modification
    # time too). Kept by ``on_modified``, ``archive`` and ``merge``: it holds exactly the live records.
    _by_modified: dict[str, list[ModifiedEntry]] = field(default_factory=dict)
    # Records a search looked at (its page's rows, the index's window, or the whole store).
    search_examined: int = 0
    # Told of every change as a webhook event: (type, action, id, occurred ms, extra payload fields).
    on_event: Callable[..., None] | None = field(default=None, repr=False, compare=False)

    def _emit(self, type_: str, action: str, object_id: str, stamp: int, **extra: Any) -> None:
        if self.on_event is not None:
            self.on_event(type_, action, object_id, stamp, **extra)

    def __post_init__(self) -> None:
        for t in schema.OBJECT_TYPES:
            self.objects.setdefault(t, {})
            self._by_modified.setdefault(t, [])
            self.definitions.setdefault(t, {p.name: p for p in schema.builtin_properties(t)})

    # -- clock and ids -------------------------------------------------------------

    def now_ms(self) -> int:
        return self.frozen_ms if self.frozen_ms is not None else int(time.time() * 1000)

    def new_id(self) -> str:
        value = self._next_id
        self._next_id += 1
        return str(value)

    # -- lookups -------------------------------------------------------------------

    def get(self, type_: str, object_id: str, *, archived: bool = False) -> StoredObject | None:
        obj = self.objects[type_].get(str(object_id))
        if obj is None or obj.archived != archived:
            return None
        return obj

    def live(self, type_: str) -> Iterator[StoredObject]:
        return (o for o in self.objects[type_].values() if not o.archived)

    def all(self, type_: str, *, archived: bool) -> Iterator[StoredObject]:
        return (o for o in self.objects[type_].values() if o.archived == archived)

    def modified_between(self, type_: str, low: int | None, high: int | None) -> Iterator[StoredObject]:
        """Live records whose modification time is in ``[low, high]`` (either end open when ``None``),
        in the order of a search sorted by modification time."""
        stamps = self._by_modified[type_]
        start, end = self.modified_span(type_, low, high)
        objects = self.objects[type_]
        for at in range(start, end):
            yield objects[stamps[at][2]]

    def modified_span(self, type_: str, low: int | None, high: int | None) -> tuple[int, int]:
        """The index positions ``[start, end)`` of the records modified in ``[low, high]``."""
        stamps = self._by_modified[type_]
        start = 0 if low is None else bisect.bisect_left(stamps, (low,))
        end = len(stamps) if high is None else bisect.bisect_left(stamps, (high + 1,))
        return start, max(start, end)

    def modified_at(self, type_: str, position: int) -> StoredObject:
        """The live record at ``position`` of the modification-time index."""
        return self.objects[type_][self._by_modified[type_][position][2]]

    def _add(self, obj: StoredObject) -> None:
        self.objects[obj.type][obj.id] = obj
        if not obj.archived:
            bisect.insort(self._by_modified[obj.type], _entry(obj, obj.modified_ms))
        obj.on_modified = self._restamped

    def _restamped(self, obj: StoredObject, old: int, new: int) -> None:
        self._drop(obj, old)
        if not obj.archived:
            bisect.insort(self._by_modified[obj.type], _entry(obj, new))

    def _drop(self, obj: StoredObject, stamp: int) -> None:
        stamps = self._by_modified[obj.type]
        entry = _entry(obj, stamp)
        at = bisect.bisect_left(stamps, entry)
        if at < len(stamps) and stamps[at] == entry:
            del stamps[at]

    def find_by(self, type_: str, prop: str, value: str) -> StoredObject | None:
        """The live record whose ``prop`` equals ``value`` (emails compared without case)."""
        if prop == "hs_object_id":
            return self.get(type_, value)
        if type_ == schema.CONTACTS and prop == "email":
            return self.email_owner(value)
        return next((o for o in self._holders(type_, prop, value) if o.properties.get(prop) == value), None)

    def email_owner(self, email: str, *, exclude: str | None = None) -> StoredObject | None:
        """The live contact holding ``email`` as primary or additional address."""
        return next((o for o in self._holders(schema.CONTACTS, EMAILS, email.strip()) if o.id != exclude), None)

    # -- the value index -------------------------------------------------------------

    def _holders(self, type_: str, prop: str, value: str) -> list[StoredObject]:
        """Live records of ``type_`` whose ``prop`` holds ``value`` (without case), oldest first."""
        index = self._index.get((type_, prop))
        if index is None:
            index = self._index[(type_, prop)] = {}
            for obj in self.objects[type_].values():
                for held in _indexed(obj, prop):
                    index.setdefault(held, set()).add(obj.id)
        wanted = value.lower()
        found = [self.objects[type_].get(i) for i in index.get(wanted, ())]
        live = [o for o in found if o is not None and not o.archived and wanted in _indexed(o, prop)]
        return sorted(live, key=lambda o: (len(o.id), o.id))

    def _reindex(self, obj: StoredObject, before: Mapping[str, set[str]]) -> None:
        for (type_, prop), index in self._index.items():
            if type_ != obj.type:
                continue
            now = _indexed(obj, prop)
            for gone in before.get(prop, set()) - now:
                index.get(gone, set()).discard(obj.id)
            for held in now:
                index.setdefault(held, set()).add(obj.id)

    def _indexed_now(self, obj: StoredObject) -> dict[str, set[str]]:
        return {prop: _indexed(obj, prop) for (type_, prop) in self._index if type_ == obj.type}

    def set_raw(self, obj: StoredObject, raw: Mapping[str, Any]) -> None:
        """Set properties as given (any JSON type), skipping validation: what a broken API could hold."""
        before = self._indexed_now(obj)
        obj.properties.update(raw)
        self._reindex(obj, before)

    def is_unique(self, type_: str, prop: str) -> bool:
        if type_ == schema.CONTACTS and prop == "email":
            return True
        definition = self.definitions[type_].get(prop)
        return definition is not None and definition.has_unique_value

    # -- validation ----------------------------------------------------------------

    def clean(self, type_: str, values: Mapping[str, Any], *, enforce_options: bool
              ) -> tuple[dict[str, str], list[PropertyProblem]]:
        """Normalise property values to HubSpot's stored strings; refuse the invalid ones."""
        clean: dict[str, str] = {}
        problems: list[PropertyProblem] = []
        defs = self.definitions[type_]
        for name, raw in values.items():
            definition = defs.get(name)
            if definition is None:
                problems.append(PropertyProblem(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist'))
                continue
            if definition.read_only_value:
                problems.append(PropertyProblem(name, "READ_ONLY_VALUE",
                                                f'"{name}" is a read only property; its value cannot be set.'))
                continue
            text = _as_text(raw)
            if text == "":
                clean[name] = ""
                continue
            problem, value = _check_value(type_, definition, text, enforce_options)
            if problem is not None:
                problems.append(problem)
            else:
                clean[name] = value
        return clean, problems

    def unique_clashes(self, type_: str, clean: Mapping[str, str], self_id: str | None,
                       *, company_domain_unique: bool) -> list[tuple[str, str, StoredObject]]:
        """Unique values in ``clean`` already held by another live record: (property, value, holder)."""
        clashes: list[tuple[str, str, StoredObject]] = []
        for name, value in clean.items():
            if value == "":
                continue
            unique = self.is_unique(type_, name) and not (type_ == schema.CONTACTS and name == "email")
            unique = unique or (type_ == schema.COMPANIES and name == "domain" and company_domain_unique)
            if not unique:
                continue
            holder = next((o for o in self._holders(type_, name, value) if o.id != self_id), None)
            if holder is not None:
                clashes.append((name, value, holder))
        return clashes

    def email_clash(self, clean: Mapping[str, str], self_id: str | None) -> StoredObject | None:
        """Another live contact already holding one of the e-mail addresses being written."""
        wanted: set[str] = set()
        if clean.get("email"):
            wanted.add(clean["email"].lower())
        wanted |= _split(clean.get("hs_additional_emails", ""))
        for address in sorted(wanted):
            owner = self.email_owner(address, exclude=self_id)
            if owner is not None:
                return owner
        return None

    # -- writes --------------------------------------------------------------------

    def create(self, type_: str, clean: Mapping[str, str], *, now: int | None = None,
               object_id: str | None = None, source: str = history.API) -> StoredObject:
        stamp = self.now_ms() if now is None else now
        new_id = object_id or self.new_id()
        props = {k: v for k, v in clean.items() if v != "" and k not in _COMPUTED}
        obj = StoredObject(new_id, type_, props, stamp, stamp)
        history.record(obj.history, props, stamp, source)
        self._add(obj)
        self._reindex(obj, {})
        self._emit(type_, "creation", new_id, stamp, changeFlag="CREATED")
        return obj

    def update(self, obj: StoredObject, clean: Mapping[str, str], *, now: int | None = None,
               source: str = history.API) -> None:
        before = self._indexed_now(obj)
        stamp = self.now_ms() if now is None else now
        written = {k: v for k, v in clean.items() if k not in _COMPUTED}
        # A value set to what it already is leaves no history entry (as in HubSpot), so a test
        # reading the history sees other writers' changes, not our own no-op echoes.
        changed = {k: v for k, v in written.items() if (obj.properties.get(k) or "") != v}
        for name, value in written.items():
            if value == "":
                obj.properties.pop(name, None)
            else:
                obj.properties[name] = value
        history.record(obj.history, changed, stamp, source)
        obj.modified_ms = stamp
        self._reindex(obj, before)
        for name, value in sorted(changed.items()):
            self._emit(obj.type, "propertyChange", obj.id, stamp, propertyName=name, propertyValue=value)

    def merge(self, primary: StoredObject, other: StoredObject, *, now: int | None = None) -> None:
        """Fold ``other`` into ``primary`` (HubSpot's merge): the primary's values win, empty ones are
        filled, a contact's second e-mail becomes an additional one, associations move over, and
        ``other`` disappears, its id leading to ``primary`` from then on."""
        stamp = self.now_ms() if now is None else now
        before = self._indexed_now(primary)
        filled = {k: v for k, v in other.properties.items()
                  if v and not primary.properties.get(k) and k not in ("email", "hs_additional_emails")}
        if primary.type == schema.CONTACTS:
            extra = sorted((_emails_of(other) | _split(primary.properties.get("hs_additional_emails", "")))
                           - {(primary.properties.get("email") or "").lower()})
            if extra:
                filled["hs_additional_emails"] = ";".join(extra)
        primary.properties.update(filled)
        history.record(primary.history, filled, stamp, history.MERGE, other.id)
        primary.modified_ms = stamp
        for (f_type, f_id, t_type), targets in list(self.links.items()):
            if f_type == other.type and f_id == other.id:
                for to_id, types in list(targets.items()):
                    for type_id in types:
                        self.associate(primary.type, primary.id, t_type, to_id, type_id)
                    self.dissociate(f_type, f_id, t_type, to_id)
        del self.objects[other.type][other.id]
        other.on_modified = None
        self._drop(other, other.modified_ms)
        self.merged_into[(other.type, other.id)] = primary.id
        for key, target in list(self.merged_into.items()):
            if target == other.id:
                self.merged_into[key] = primary.id
        self._reindex(primary, before)  # the gone record's index entries are skipped on read
        self._emit(primary.type, "merge", primary.id, stamp, primaryObjectId=int(primary.id),
                   mergedObjectIds=[int(other.id)])

    def survivor(self, type_: str, object_id: str) -> str:
        """The id a (possibly merged-away) record id reads as now."""
        return self.merged_into.get((type_, str(object_id)), str(object_id))

    def archive(self, obj: StoredObject, *, now: int | None = None) -> None:
        stamp = self.now_ms() if now is None else now
        self._drop(obj, obj.modified_ms)  # an archived record is not searchable
        obj.archived = True
        obj.archived_ms = stamp
        obj.modified_ms = stamp
        self._emit(obj.type, "deletion", obj.id, stamp, changeFlag="DELETED")

    # -- associations --------------------------------------------------------------

    def association_type(self, type_id: int, from_type: str, to_type: str) -> schema.AssociationType | None:
        key = (type_id, from_type, to_type)
        return schema.ASSOCIATION_BY_ID.get(key) or self.user_associations.get(key)

    def association_types(self, from_type: str, to_type: str) -> list[schema.AssociationType]:
        every = [*schema.ASSOCIATION_TYPES, *self.user_associations.values()]
        return [a for a in every if a.from_type == from_type and a.to_type == to_type]

    def inverse(self, type_id: int) -> int:
        return schema.INVERSE_ASSOCIATION.get(type_id) or self.user_inverse.get(type_id, type_id)

    def define_label(self, from_type: str, to_type: str, name: str, label: str,
                     inverse_label: str | None) -> schema.AssociationType:
        """A USER_DEFINED label pair (one type id per direction, as HubSpot creates them)."""
        forward_id, backward_id = self._next_type_id, self._next_type_id + 1
        self._next_type_id += 2
        forward = schema.AssociationType(forward_id, from_type, to_type, name, label, "USER_DEFINED")
        backward = schema.AssociationType(backward_id, to_type, from_type, f"{name}_inverse",
                                          inverse_label or label, "USER_DEFINED")
        self.user_associations[(forward_id, from_type, to_type)] = forward
        self.user_associations[(backward_id, to_type, from_type)] = backward
        self.user_inverse.update({forward_id: backward_id, backward_id: forward_id})
        return forward

    def drop_label(self, from_type: str, to_type: str, type_id: int) -> bool:
        found = self.user_associations.pop((type_id, from_type, to_type), None)
        if found is None:
            return False
        back = self.user_inverse.pop(type_id, None)
        if back is not None:
            self.user_associations.pop((back, to_type, from_type), None)
            self.user_inverse.pop(back, None)
        for (f_type, f_id, t_type), targets in self.links.items():
            for types in targets.values():
                if (f_type, t_type) == (from_type, to_type):
                    types.discard(type_id)
                elif (f_type, t_type) == (to_type, from_type) and back is not None:
                    types.discard(back)
        return True

    def associate(self, from_type: str, from_id: str, to_type: str, to_id: str, type_id: int) -> None:
        self.links.setdefault((from_type, from_id, to_type), {}).setdefault(to_id, set()).add(type_id)
        inverse = self.inverse(type_id)
        self.links.setdefault((to_type, to_id, from_type), {}).setdefault(from_id, set()).add(inverse)

    def dissociate(self, from_type: str, from_id: str, to_type: str, to_id: str,
                   type_ids: Iterable[int] | None = None) -> bool:
        forward = self.links.get((from_type, from_id, to_type), {})
        current = forward.get(to_id)
        if not current:
            return False
        remove = set(current) if type_ids is None else set(type_ids) & current
        current -= remove
        if not current:
            forward.pop(to_id, None)
        backward = self.links.get((to_type, to_id, from_type), {})
        back = backward.get(from_id, set())
        back -= {self.inverse(t) for t in remove}
        if not back:
            backward.pop(from_id, None)
        return bool(remove)

    def associated(self, from_type: str, from_id: str, to_type: str) -> dict[str, set[int]]:
        """Live records associated with ``from_id``: ``{to_id: {type_id, ...}}`` in id order."""
        found = self.links.get((from_type, from_id, to_type), {})
        return {
            to_id: set(types)
            for to_id, types in sorted(found.items(), key=lambda item: int(item[0]))
            if types and self.get(to_type, to_id) is not None
        }


ModifiedEntry = tuple[int, str, str]  # (modified_ms, tie, id)


@functools.lru_cache(maxsize=1 << 18)
def tie_of(object_id: str) -> str:
    """Where a record comes among those equal on a search's sort value: stable, but not the id
    order (as in HubSpot, a caller cannot rely on a secondary order it never asked for)."""
    return hashlib.sha1(object_id.encode()).hexdigest()


def _entry(obj: StoredObject, stamp: int) -> ModifiedEntry:
    return stamp, tie_of(obj.id), obj.id


EMAILS = "@emails"  # the index of a contact's primary and additional e-mail addresses


def _indexed(obj: StoredObject, prop: str) -> set[str]:
    if prop == EMAILS:
        return _emails_of(obj)
    value = obj.properties.get(prop)
    return {value.lower()} if isinstance(value, str) and value else set()


def _emails_of(obj: StoredObject) -> set[str]:
    found = _split(obj.properties.get("hs_additional_emails", ""))
    if obj.properties.get("email"):
        found.add(obj.properties["email"].lower())
    return found


def _split(joined: str) -> set[str]:
    return {part.strip().lower() for part in joined.split(";") if part.strip()}


def _as_text(raw: Any) -> str:
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return str(raw)


def _check_value(type_: str, definition: PropertyDef, text: str, enforce_options: bool
                 ) -> tuple[PropertyProblem | None, str]:
    name = definition.name
    if definition.type == "number":
        try:
            number = Decimal(text.strip())
        except InvalidOperation:
            return PropertyProblem(name, "INVALID_DECIMAL", f"{text} was not a valid number."), ""
        if not number.is_finite():
            return PropertyProblem(name, "INVALID_DECIMAL", f"{text} was not a valid number."), ""
        return None, text.strip()
    if definition.type in ("datetime", "date"):
        ms = schema.ms_from_value(text)
        if ms is None:
            return PropertyProblem(name, "INVALID_DATE", f"{text} was not a valid long or date."), ""
        return None, schema.iso_from_ms(ms)
    if definition.type == "bool":
        if text.lower() not in ("true", "false"):
            return PropertyProblem(name, "INVALID_OPTION", f"{text} was not one of the allowed options: [true, false]"), ""
        return None, text.lower()
    if definition.type == "enumeration" and enforce_options and definition.options:
        allowed = definition.option_values()
        chosen = [part for part in text.split(";") if part]
        bad = [part for part in chosen if part not in allowed]
        if bad:
            return PropertyProblem(
                name, "INVALID_OPTION",
                f"{bad[0]} was not one of the allowed options: [{', '.join(sorted(allowed))}]"), ""
        return None, text
    if type_ == schema.CONTACTS and name == "email":
        address = text.strip().lower()
        if not _EMAIL.match(address):
            return PropertyProblem(name, "INVALID_EMAIL", f"Email address {text} is invalid"), ""
        return None, address
    if type_ == schema.CONTACTS and name == "hs_additional_emails":
        parts = [p.strip().lower() for p in text.split(";") if p.strip()]
        bad = [p for p in parts if not _EMAIL.match(p)]
        if bad:
            return PropertyProblem(name, "INVALID_EMAIL", f"Email address {bad[0]} is invalid"), ""
        return None, ";".join(parts)
    return None, text
