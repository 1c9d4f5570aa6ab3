"""``find`` filters and sort orders, and the ``feed`` cursor (spec §2.2, §4, §9.7-8).

The cursor follows the decoded example in the spec: URL-safe base64 of a query
string holding the feed's filters and the keyset position ``(stamp, key)`` of
the last record delivered. Clients must treat it as opaque.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, urlencode

from connectors.cloze.emulator import account
from connectors.cloze.wire import format_address, is_empty_enum
from connectors.model import Entity
from connectors.values import norm_domain, norm_phone  # lookups compare exactly as the sync engine does

FEED_FILTERS = ("scope", "stage", "segment", "freeformquery")
FIND_FILTERS = (
    "stage",
    "segment",
    "step",
    "assigned",
    "assignee",
    "scope",
    "freeformquery",
    "hidelostdone",
    "collaborator",
)
_PHONE = re.compile(r"[+\d().\-]{5,}")


class BadQuery(ValueError):
    """A parameter value the emulated service refuses (errorcode 26)."""

    def __init__(self, name: str, value: str) -> None:
        super().__init__(f"An invalid value was provided for the {name}: {value}")


def truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "1", "yes")


def _enum_matches(entity: Entity, name: str, wanted: str, actual: Any) -> bool:
    w = wanted.strip().lower()
    if w == "none":
        return is_empty_enum(actual)
    if w == "any":
        return not is_empty_enum(actual)
    if name == "segment":  # by key in either form (project keys may carry a leading "-") or label
        have = str(actual or "").lower()
        return (account.segment_key(entity, w) or w) == (account.segment_key(entity, have) or have)
    if name == "stage":
        w = account.stage_key(entity, w) or w
    return str(actual or "").lower() == w


def _enum_check(entity: Entity, name: str, wanted: str) -> Callable[[Mapping[str, Any]], bool]:
    return lambda record: _enum_matches(entity, name, wanted, record.get(name))


def search_text(record: Mapping[str, Any]) -> str:
    """What ``freeformquery`` searches: name, emails, phones (also digits only), domains."""
    parts: list[str] = [str(record.get("name") or "")]
    for item in record.get("emails", []) or []:
        parts.append(str(item.get("value", "")) if isinstance(item, Mapping) else str(item))
    for item in record.get("phones", []) or []:
        value = str(item.get("value", "")) if isinstance(item, Mapping) else str(item)
        parts += [value, norm_phone(value)]
    for domain in record.get("domains", []) or []:
        parts.append(norm_domain(str(domain)))
    for address in record.get("addresses", []) or []:
        if isinstance(address, Mapping):
            parts.append(format_address(address))
    return "\n".join(parts).lower()


def matcher(entity: Entity, params: Mapping[str, str]) -> Callable[[Mapping[str, Any]], bool]:
    """A predicate over *rendered* records for the structured filters and ``freeformquery``."""
    checks = record_checks(entity, params)
    return lambda record: all(check(record) for check in checks)


def record_checks(entity: Entity, params: Mapping[str, str]) -> list[Callable[[Mapping[str, Any]], bool]]:
    """The tests ``matcher`` applies; none when ``params`` filter nothing out."""
    checks: list[Callable[[Mapping[str, Any]], bool]] = []
    for name in ("stage", "segment", "step"):
        wanted = params.get(name)
        if wanted:
            checks.append(_enum_check(entity, name, wanted))
    if truthy(params.get("assigned")):
        checks.append(lambda r: bool(r.get("assignee")))
    assignee = (params.get("assignee") or "").strip().lower()
    if assignee:
        checks.append(lambda r: str(r.get("assignee") or "").lower() == assignee)
    query = (params.get("freeformquery") or "").strip().lower()
    if query:
        terms = query.split()

        def free(record: Mapping[str, Any]) -> bool:
            text = search_text(record)
            return all(
                t in text or (_PHONE.fullmatch(t) is not None and norm_phone(t) in text) for t in terms
            )

        checks.append(free)
    if entity == "project":
        if truthy(params.get("hidelostdone")):
            checks.append(lambda r: str(r.get("stage") or "").lower() not in ("lost", "won"))
        collaborator = (params.get("collaborator") or "").strip().lower()
        if collaborator:
            checks.append(lambda r: collaborator in [str(e).lower() for e in r.get("projectTeam", [])])
    return checks


def sort_records(
    records: list[dict[str, Any]], sort: str | None, lastchanged_desc: bool
) -> list[dict[str, Any]]:
    """Order find results; the default is oldest first (``firstSeen``), stable for paging."""
    key = (sort or "").strip().lower()
    base = sorted(records, key=lambda r: (r.get("firstSeen", 0), r.get("direct", "")))
    if key == "lastchanged":
        return sorted(base, key=lambda r: r.get("lastChanged", 0), reverse=lastchanged_desc)
    if key in ("name", "first", "last"):
        return sorted(base, key=lambda r: str(r.get(key) or r.get("name") or "").lower())
    if key == "created":
        return sorted(base, key=lambda r: r.get("firstSeen", 0), reverse=True)
    if key == "value":
        return sorted(base, key=lambda r: _value_of(r), reverse=True)
    if key in ("start", "end"):
        field_name = "startDate" if key == "start" else "endDate"
        return sorted(base, key=lambda r: str(r.get(field_name) or ""))
    return base


def _value_of(record: Mapping[str, Any]) -> float:
    for item in record.get("customFields", []):
        if item.get("id") == "value":
            try:
                return float(item.get("value"))
            except (TypeError, ValueError):
                return 0.0
    return 0.0


def page_size(raw: str | None, default: int = 10, maximum: int = 1000) -> int:
    if raw is None or raw == "":
        return default
    try:
        size = int(raw)
    except ValueError:
        raise BadQuery("pagesize", raw) from None
    if size < 1:
        raise BadQuery("pagesize", raw)
    return min(size, maximum)


@dataclass(frozen=True)
class FeedCursor:
    """A feed's filters and the last position delivered: ``(stamp, key)``."""

    kind: str
    pagesize: int
    keysonly: bool = False
    audited: bool = False
    filters: tuple[tuple[str, str], ...] = ()
    stamp: int = -1
    key: str = ""
    extra: tuple[tuple[str, str], ...] = field(default=())

    def after(self, stamp: int, key: str) -> FeedCursor:
        return replace(self, stamp=stamp, key=key)

    def encode(self) -> str:
        items: list[tuple[str, str]] = [("kind", self.kind), ("pagesize", str(self.pagesize))]
        if self.keysonly:
            items.append(("keysonly", "true"))
        if self.audited:
            items.append(("includeauditedchanges", "true"))
        items += list(self.filters) + list(self.extra)
        items += [("stamp", str(self.stamp)), ("key", self.key)]
        return base64.urlsafe_b64encode(urlencode(items).encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str, kind: str) -> FeedCursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            items = parse_qsl(raw, keep_blank_values=True, strict_parsing=True)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise BadQuery("cursor", text[:40]) from None
        data = dict(items)
        if data.get("kind") != kind or "stamp" not in data:
            raise BadQuery("cursor", text[:40])
        try:
            return cls(
                kind=kind,
                pagesize=int(data.get("pagesize", "10")),
                keysonly=truthy(data.get("keysonly")),
                audited=truthy(data.get("includeauditedchanges")),
                filters=tuple((k, v) for k, v in items if k in FEED_FILTERS),
                stamp=int(data["stamp"]),
                key=data.get("key", ""),
                extra=tuple((k, v) for k, v in items if k == "summaryonly"),
            )
        except ValueError:
            raise BadQuery("cursor", text[:40]) from None


def feed_batch(
    records: Iterable[dict[str, Any]], cursor: FeedCursor
) -> tuple[list[dict[str, Any]], FeedCursor, int]:
    """The next batch after ``cursor``: records in ``(lastChanged, syncKey)`` order, the new cursor,
    and ``availablecount`` (this batch plus what remains in the stream)."""
    position = (cursor.stamp, cursor.key)
    pending = sorted(
        (r for r in records if (int(r.get("lastChanged", 0)), str(r.get("syncKey", ""))) > position),
        key=lambda r: (int(r.get("lastChanged", 0)), str(r.get("syncKey", ""))),
    )
    batch = pending[: cursor.pagesize]
    if batch:
        last = batch[-1]
        cursor = cursor.after(int(last.get("lastChanged", 0)), str(last.get("syncKey", "")))
    return batch, cursor, len(pending)
