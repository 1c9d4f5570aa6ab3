"""The emulated account's records: identity index, upsert/merge, delete, rendering.

One re-entrant lock guards everything, so each API call is atomic. Records are
kept in Cloze's wire shape; ``lastChanged`` comes from a clock that never
repeats a value, so ``(lastChanged, syncKey)`` orders every change totally.
"""

from __future__ import annotations

import bisect
import copy
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors.cloze.emulator import account
from connectors.cloze.emulator.errors import Rejected
from connectors.cloze.emulator.merge import (
    LINKS,
    SCALARS,
    apply,
    audit_changes,
    fold,
    identity_keys,
    link_key,
    merge_array,
)
from connectors.cloze.emulator.settings import BehaviourSettings
from connectors.cloze.emulator.validate import check_types
from connectors.cloze.wire import (
    KINDS,
    SOCIAL_TYPES,
    is_empty_enum,
)
from connectors.model import Entity
from connectors.values import norm_domain, norm_email, norm_phone

__all__ = ["Change", "Clock", "RecordStore", "Rejected", "Stored"]

IndexKey = tuple[str, ...]
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_PHONE = re.compile(r"\+?[\d().\- ]{5,}")
LINK_TARGET: Mapping[str, Entity] = {
    "companies": "company",
    "clientcompanies": "company",
    "partnercompanies": "company",
    "clientpeople": "person",
    "partnerpeople": "person",
}


@dataclass
class Stored:
    data: dict[str, Any]
    audit: dict[str, Any] = field(default_factory=dict)
    since: int = 0


@dataclass(frozen=True)
class Change:
    """One effective change, with the record as rendered right after it (for webhooks)."""

    entity: Entity
    direct: str
    audit: Mapping[str, Any]
    record: Mapping[str, Any]


FeedEntry = tuple[int, str, str]  # (lastChanged, syncKey, direct)
_AFTER_EVERY_ID = "\U0010ffff"  # sorts after every direct id: bisects past a whole (lastChanged, syncKey)


def _feed_entry(direct: str, data: Mapping[str, Any]) -> FeedEntry:
    return int(data.get("lastChanged") or 0), str(data.get("syncKey") or ""), direct


class Clock:
    """Epoch milliseconds, strictly increasing across calls."""

    def __init__(self) -> None:
        self.last = 0
        self._lock = threading.Lock()

    def tick(self) -> int:
        with self._lock:
            self.last = max(int(time.time() * 1000), self.last + 1)
            return self.last

    def observe(self, stamp: int) -> None:
        with self._lock:
            self.last = max(self.last, stamp)


class RecordStore:
    """All records of the emulated account, and the rules that change them."""

    def __init__(self, behaviour: Callable[[], BehaviourSettings], seed: int = 0) -> None:
        self.behaviour = behaviour
        self.clock = Clock()
        self.lock = threading.RLock()
        self._rng = random.Random(f"cloze-emulator-ids:{seed}")
        self._issued: set[str] = set()
        # Rendered records are cached until the next write (or behaviour change): find and
        # feed render every record per request, and most requests are reads.
        self._version = 0
        self._cache: dict[tuple[Entity, str], dict[str, Any]] = {}
        self._cache_tag: tuple[int, int] = (-1, 0)
        self._records: dict[Entity, dict[str, Stored]] = {e: {} for e in KINDS}
        self._index: dict[Entity, dict[IndexKey, set[str]]] = {e: {} for e in KINDS}
        self._keys: dict[Entity, dict[str, list[IndexKey]]] = {e: {} for e in KINDS}
        self._aliases: dict[Entity, dict[str, str]] = {e: {} for e in KINDS}
        # Every record's feed position ``(lastChanged, syncKey, direct)``, sorted, and where each
        # record stands in it: a feed page reads from its cursor on, not the whole store.
        self._feed: dict[Entity, list[FeedEntry]] = {e: [] for e in KINDS}
        self._feed_at: dict[Entity, dict[str, FeedEntry]] = {e: {} for e in KINDS}
        self.timeline: list[dict[str, Any]] = []

    # -- ids and index -------------------------------------------------------------

    def new_id(self, length: int) -> str:
        """A fresh base64url id (22 characters for ``direct``, 43 for ``syncKey``), seeded and unique."""
        with self.lock:
            return self._new_id(length)

    def _new_id(self, length: int) -> str:
        while True:
            value = "".join(self._rng.choice(_ALPHABET) for _ in range(length))
            if value not in self._issued:
                self._issued.add(value)
                return value

    def _reindex(self, entity: Entity, direct: str) -> None:
        index = self._index[entity]
        for key in self._keys[entity].pop(direct, []):
            holders = index.get(key)
            if holders is not None:
                holders.discard(direct)
                if not holders:
                    del index[key]
        self._place(entity, direct)
        stored = self._records[entity].get(direct)
        if stored is None:
            return
        keys = identity_keys(entity, stored.data)
        self._keys[entity][direct] = keys
        for key in keys:
            index.setdefault(key, set()).add(direct)

    def _place(self, entity: Entity, direct: str) -> None:
        """Move ``direct`` to its current feed position (or out of the feed index once it is gone)."""
        entries, at = self._feed[entity], self._feed_at[entity]
        old = at.pop(direct, None)
        if old is not None:
            i = bisect.bisect_left(entries, old)
            if i < len(entries) and entries[i] == old:
                del entries[i]
        stored = self._records[entity].get(direct)
        if stored is not None:
            entry = _feed_entry(direct, stored.data)
            bisect.insort(entries, entry)
            at[direct] = entry

    def _rebuild_feed(self, entity: Entity) -> None:
        records = self._records[entity]
        self._feed_at[entity] = {d: _feed_entry(d, stored.data) for d, stored in records.items()}
        self._feed[entity] = sorted(self._feed_at[entity].values())

    def _feed_from(self, entity: Entity, after: tuple[int, str], check: int | None = None) -> list[FeedEntry]:
        """The feed index's entries past position ``after``. The first ``check`` of them (all without
        it) are checked against the records: a record changed behind the store's back (a test poking
        its data) rebuilds the index first."""
        records = self._records[entity]
        for _attempt in range(2):
            entries = self._feed[entity]
            tail = entries[bisect.bisect_right(entries, (after[0], after[1], _AFTER_EVERY_ID)):]
            sound = len(entries) == len(records) and all(
                e[2] in records and _feed_entry(e[2], records[e[2]].data) == e for e in tail[:check])
            if sound:
                break
            self._rebuild_feed(entity)
        return tail

    def feed_page(self, entity: Entity, after: tuple[int, str], size: int) -> tuple[list[dict[str, Any]], int]:
        """Up to ``size`` records past feed position ``after``, in feed order, and how many are past it
        (an unfiltered feed page: it renders the page, not the rest of the store)."""
        with self.lock:
            tail = self._feed_from(entity, after, size)
            return [self.render(entity, e[2]) for e in tail[:size]], len(tail)

    def _lookup_all(self, entity: Entity, key: IndexKey) -> list[str]:
        holders = self._index[entity].get(key, set())
        records = self._records[entity]
        return sorted(holders, key=lambda d: (records[d].data.get("firstSeen", 0), d))

    def resolve(self, entity: Entity, uniqueid: str) -> str | None:
        """The direct id named by a ``uniqueid`` (spec §2.3), or ``None``."""
        with self.lock:
            for key in self._uniqueid_keys(entity, uniqueid.strip()):
                found = self._lookup_all(entity, key)
                if found:
                    return found[0]
            return None

    def resolve_address(self, entity: Entity, value: str) -> str | None:
        """Like :meth:`resolve` but only by address (email, phone, domain, social, App Link), never by id."""
        with self.lock:
            for key in self._uniqueid_keys(entity, value.strip()):
                if key[0] in ("direct", "sync"):
                    continue
                found = self._lookup_all(entity, key)
                if found:
                    return found[0]
            return None

    def _uniqueid_keys(self, entity: Entity, u: str) -> list[IndexKey]:
        forms = self.behaviour().direct_id_forms
        keys: list[IndexKey] = []
        if not u:
            return keys
        if u.startswith("direct:"):
            if forms == "any" or entity == "project":
                keys.append(("direct", u[7:]))
            return keys
        if forms == "any" or entity != "project":
            keys.append(("direct", u))
        keys.append(("sync", u))
        if u.startswith("@"):
            keys.append(("social", f"twitter:{u[1:].lower()}"))
        elif "@" in u and ":" not in u:
            keys.append(("email", norm_email(u)))
        elif ":" in u:
            prefix, rest = u.split(":", 1)
            if prefix.lower() in SOCIAL_TYPES:
                keys.append(("social", f"{prefix.lower()}:{rest.lower()}"))
            elif self.behaviour().app_link_get == "all" or entity == "project":
                keys.append(("app", prefix.lower(), rest))
        elif _PHONE.fullmatch(u):
            keys.append(("phone", norm_phone(u)))
        elif entity == "company" and "." in u:
            keys.append(("domain", norm_domain(u)))
        return keys

    # -- reads -----------------------------------------------------------------------

    def _changed(self) -> None:
        self._version += 1

    def render(self, entity: Entity, direct: str, human: bool = False) -> dict[str, Any]:
        """The record as the API returns it (derived fields filled, links resolved).

        The result may be shared with the cache: callers must not modify it.
        """
        with self.lock:
            tag = (self._version, id(self.behaviour()))
            if tag != self._cache_tag:
                self._cache.clear()
                self._cache_tag = tag
            if not human:
                cached = self._cache.get((entity, direct))
                if cached is None:
                    cached = self._cache[(entity, direct)] = self._render(entity, direct, False)
                return cached
            return self._render(entity, direct, True)

    def _render(self, entity: Entity, direct: str, human: bool) -> dict[str, Any]:
        data = copy.deepcopy(self._records[entity][direct].data)
        empty_none = self.behaviour().empty_enum_as_none
        for name in ("stage", "segment", "step"):
            if is_empty_enum(data.get(name)):
                if empty_none:
                    data[name] = "none"
                else:
                    data.pop(name, None)
            elif human and name == "stage":
                data[name] = account.stage_label(entity, str(data[name]))
            elif human and name == "segment":
                data[name] = account.segment_label(entity, str(data[name]))
        if entity == "person":
            titles = [w.get("title") for w in data.get("workHistory", []) if w.get("title")]
            if titles:
                data["jobtitle"] = titles[0]
        for name in LINKS[entity]:
            if name in data:
                data[name] = [r for r in (self._render_link(LINK_TARGET[name], e) for e in data[name]) if r]
        data.setdefault("keywords", [])
        data.setdefault("visibility", "visible")
        return data

    def _render_link(self, target: Entity, element: Mapping[str, Any]) -> dict[str, Any] | None:
        direct = element.get("direct")
        if not direct:
            return {"name": element["name"]} if element.get("name") else None
        seen = set()
        while direct in self._aliases[target] and direct not in seen:
            seen.add(direct)
            direct = self._aliases[target][direct]
        stored = self._records[target].get(str(direct))
        if stored is None:
            return None
        data = stored.data
        ref: dict[str, Any] = {"direct": direct, "syncKey": data.get("syncKey"), "name": data.get("name", "")}
        if target == "company":
            ref["domains"] = list(data.get("domains", []))
        else:
            ref["emails"] = [{"value": e.get("value")} for e in data.get("emails", [])]
        return ref

    def rendered(self, entity: Entity, after: tuple[int, str] | None = None) -> list[dict[str, Any]]:
        """Every record as the API returns it; with ``after``, only those past that feed position
        ``(lastChanged, syncKey)`` (compared before rendering, so a feed read costs what it returns)."""
        with self.lock:
            if after is None:
                return [self.render(entity, d) for d in self._records[entity]]
            return [self.render(entity, e[2]) for e in self._feed_from(entity, after)]

    def exists(self, entity: Entity, direct: str) -> bool:
        return direct in self._records[entity]

    def audit_of(self, entity: Entity, direct: str) -> tuple[dict[str, Any], int]:
        stored = self._records[entity][direct]
        return dict(stored.audit), stored.since

    def count(self, entity: Entity) -> int:
        return len(self._records[entity])

    # -- writes ------------------------------------------------------------------------

    def insert(self, entity: Entity, record: Mapping[str, Any]) -> str:
        """Add a record as given (no merging): direct seeding for tests and the sandbox."""
        with self.lock:
            self._changed()
            body = self._validated(entity, record)
            direct = str(record.get("direct") or "") or self._new_id(22)
            if direct in self._records[entity]:
                raise ValueError(f"direct id {direct!r} already exists")
            self._issued.add(direct)
            stamp = int(record.get("lastChanged") or 0) or self.clock.tick()
            self.clock.observe(stamp)
            data: dict[str, Any] = {
                "direct": direct,
                "syncKey": str(record.get("syncKey") or "") or self._new_id(43),
                "firstSeen": int(record.get("firstSeen") or stamp),
                "lastChanged": stamp,
            }
            self._records[entity][direct] = Stored(data, since=stamp)
            apply(entity, data, body, "replace")
            self._apply_links(entity, data, body, [])
            self._reindex(entity, direct)
            return direct

    def upsert(self, entity: Entity, body: Mapping[str, Any], op: str) -> list[Change]:
        """``create`` / ``update``: merge ``body`` into the record(s) it names (spec §2.4).

        Returns the effective changes; raises :class:`Rejected` for a business error.
        """
        settings = self.behaviour()
        with self.lock:
            self._changed()
            if not isinstance(body, Mapping):
                raise Rejected(26, "An invalid value was provided for the body")
            if body.get("skipImport"):
                return []
            # Identifiers are checked before values: a body with neither identifiers nor a known
            # segment gets errorcode 11 from the live API, not 26.
            keys = identity_keys(entity, body)
            named = [k for k in keys if k[0] in ("direct", "sync")]
            if op == "update" and named and not any(self._lookup_all(entity, k) for k in named):
                raise Rejected(62, "Not found")
            matches: list[str] = []
            for key in keys:
                for direct in self._lookup_all(entity, key):
                    if direct not in matches:
                        matches.append(direct)
            if not matches:
                if op == "update" and settings.update_without_match == "error":
                    raise Rejected(62, "Not found")
                if not self._can_create(entity, body, keys):
                    if body.get("skipWithoutIds"):
                        return []
                    if entity == "project":
                        raise Rejected(11, "At least one appLink must be specified")
                    raise Rejected(11, "No identifiers available")
                if entity == "project" and not str(body.get("name") or "").strip():
                    raise Rejected(11, "Projects require a name")
            if settings.value_validation == "reject":
                check_types(entity, body)
            clean = self._validated(entity, body)
            if clean.get("dryrun"):
                return []
            changes: list[Change] = []
            if matches:
                survivor = matches[0]
                for other in matches[1:]:
                    self._absorb(entity, survivor, other)
                created = False
            else:
                survivor = self._new(entity)
                created = True
            stored = self._records[entity][survivor]
            before = copy.deepcopy(stored.data)
            apply(entity, stored.data, clean, settings.keywords_mode)
            self._apply_links(entity, stored.data, clean, changes)
            merged = len(matches) > 1
            if created or merged or before != stored.data or settings.noop_bumps_last_changed:
                if merged and settings.merge_new_sync_key:
                    stored.data["syncKey"] = self._new_id(43)
                self._touch(entity, survivor, {} if created else audit_changes(entity, before, stored.data))
                changes.append(self._change(entity, survivor))
            self._reindex(entity, survivor)
            return changes

    def delete(self, entity: Entity, uniqueid: str) -> str | None:
        with self.lock:
            self._changed()
            direct = self.resolve(entity, uniqueid)
            if direct is None:
                return None
            del self._records[entity][direct]
            self._reindex(entity, direct)
            return direct

    def remove(self, entity: Entity, direct: str) -> bool:
        with self.lock:
            self._changed()
            if self._records[entity].pop(direct, None) is None:
                return False
            self._reindex(entity, direct)
            return True

    def touch_referenced(self, refs: Iterable[tuple[Entity, str]]) -> list[Change]:
        """Bump ``lastChanged`` of records a timeline item names (``timeline_bumps_last_changed``)."""
        with self.lock:
            changes = []
            self._changed()
            for entity, direct in dict.fromkeys(refs):
                if direct in self._records[entity]:
                    self._touch(entity, direct, {})
                    changes.append(self._change(entity, direct))
            return changes

    # -- helpers -----------------------------------------------------------------------

    def _new(self, entity: Entity) -> str:
        direct = self._new_id(22)
        stamp = self.clock.tick()
        data = {"direct": direct, "syncKey": self._new_id(43), "firstSeen": stamp, "lastChanged": stamp}
        self._records[entity][direct] = Stored(data, since=0)
        return direct

    def _touch(self, entity: Entity, direct: str, audit: dict[str, Any]) -> None:
        stored = self._records[entity][direct]
        stored.since = int(stored.data.get("lastChanged", 0))
        stored.data["lastChanged"] = self.clock.tick()
        stored.audit = audit
        self._place(entity, direct)

    def _change(self, entity: Entity, direct: str) -> Change:
        return Change(entity, direct, dict(self._records[entity][direct].audit), self.render(entity, direct))

    def _absorb(self, entity: Entity, survivor: str, other: str) -> None:
        """Fold record ``other`` into ``survivor``; ``other`` disappears (spec §9.5)."""
        keep, gone = self._records[entity][survivor], self._records[entity].pop(other)
        fold(entity, keep.data, gone.data)
        keep.data["firstSeen"] = min(int(keep.data.get("firstSeen", 0)), int(gone.data.get("firstSeen", 0)))
        self._aliases[entity][other] = survivor
        self._reindex(entity, other)

    @staticmethod
    def _can_create(entity: Entity, body: Mapping[str, Any], keys: list[IndexKey]) -> bool:
        kinds = {k[0] for k in keys}
        if entity == "project":
            return "app" in kinds or bool(body.get("forceCreate"))
        return bool(kinds & {"app", "email", "phone", "social", "domain"})

    def _validated(self, entity: Entity, body: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of ``body`` with stage/segment labels turned into keys; bad values raise errorcode 26."""
        if not isinstance(body, Mapping):
            raise Rejected(26, "An invalid value was provided for the body")
        clean = dict(body)
        for name in ("stage", "defaultStage"):
            value = clean.get(name)
            if isinstance(value, str) and not is_empty_enum(value):
                key = account.stage_key(entity, value, self.behaviour().project_pending_stage)
                if key is None:
                    raise Rejected(26, f"An invalid value was provided for the stage: {value}")
                clean[name] = key
        for name in ("segment", "defaultSegment"):
            value = clean.get(name)
            if isinstance(value, str) and not is_empty_enum(value):
                key = account.segment_key(entity, value, self.behaviour().project_segment_keys == "dashed")
                if key is None:
                    raise Rejected(26, f"An invalid value was provided for the segment: {value}")
                clean[name] = key
        for name in SCALARS[entity] & {"name", "first", "last", "summary", "notes"}:
            if name in clean and clean[name] is not None and not isinstance(clean[name], str):
                raise Rejected(26, f"An invalid value was provided for the {name}: {clean[name]!r}")
        return clean

    def _apply_links(
        self, entity: Entity, data: dict[str, Any], body: Mapping[str, Any], changes: list[Change]
    ) -> None:
        """Resolve reference arrays (a person's companies, a project's clients), creating targets if needed."""
        for name in LINKS[entity]:
            refs = body.get(name)
            if refs is None:
                continue
            target = LINK_TARGET[name]
            for ref in refs if isinstance(refs, list) else [refs]:
                if isinstance(ref, str):
                    ref = (
                        {"domains": [ref]}
                        if target == "company" and "." in ref and " " not in ref
                        else {"emails": [{"value": ref}]}
                        if target == "person" and "@" in ref
                        else {"name": ref}
                    )
                if not isinstance(ref, Mapping):
                    continue
                element = self._link_element(target, ref, changes)
                if element is None:
                    continue
                if ref.get("archived"):
                    element = {**element, "archived": True}
                merge_array(data.setdefault(name, []), [element], link_key)
            if not data.get(name):
                data.pop(name, None)

    def _link_element(
        self, target: Entity, ref: Mapping[str, Any], changes: list[Change]
    ) -> dict[str, Any] | None:
        clean = {k: v for k, v in ref.items() if k not in ("archived", "direct", "syncKey")}
        keys = identity_keys(target, ref)
        for key in keys:
            found = self._lookup_all(target, key)
            if found:
                return {"direct": found[0]}
        name = str(ref.get("name") or "").strip()
        if not keys and name:
            for direct, stored in self._records[target].items():
                if str(stored.data.get("name", "")).lower() == name.lower():
                    return {"direct": direct}
        if not ref.get("archived") and self._can_create(target, clean, identity_keys(target, clean)):
            changes.extend(self.upsert(target, clean, "create"))
            for key in identity_keys(target, clean):
                found = self._lookup_all(target, key)
                if found:
                    return {"direct": found[0]}
        return {"name": name} if name else None
