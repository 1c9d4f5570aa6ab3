"""The CRM search API's filters and sorting, evaluated over the emulator's records.

Semantics follow HubSpot's "Search the CRM" page: filter groups are OR-ed, filters in
a group AND-ed; string comparisons ignore case except for enumerations; ``IN`` values
for strings must be lower case; only the first sorting rule is applied, and records
that tie on it come back in an order of HubSpot's choosing (here: a fixed hash), so a
caller cannot rely on a secondary order it never asked for.
"""

from __future__ import annotations

import fnmatch
import heapq
import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.hubspot.emulator import schema
from connectors.hubspot.emulator.errors import EmulatorError, bad_request, error_body
from connectors.hubspot.emulator.store import Store, StoredObject, tie_of

OPERATORS = {"EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN", "HAS_PROPERTY",
             "NOT_HAS_PROPERTY", "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"}
MAX_GROUPS = 5
MAX_FILTERS_PER_GROUP = 6
MAX_FILTERS = 18
_TOKEN_SPLIT = re.compile(r"[\s;,]+")

Predicate = Callable[[StoredObject], bool]


def compile_filters(store: Store, type_: str, body: Mapping[str, Any]) -> Predicate:
    """One predicate for the request's ``filterGroups`` (or top-level ``filters``)."""
    groups = body.get("filterGroups")
    if groups is None and body.get("filters"):
        groups = [{"filters": body["filters"]}]
    groups = groups or []
    if not isinstance(groups, list):
        raise bad_request("filterGroups must be a list")
    total = sum(len(g.get("filters") or []) for g in groups if isinstance(g, dict))
    if len(groups) > MAX_GROUPS or total > MAX_FILTERS or any(
            len(g.get("filters") or []) > MAX_FILTERS_PER_GROUP for g in groups if isinstance(g, dict)):
        raise bad_request(
            f"Too many filters or filter groups: at most {MAX_GROUPS} filterGroups, {MAX_FILTERS_PER_GROUP} "
            f"filters in each, and {MAX_FILTERS} filters in total are allowed.",
            sub_category="TOO_MANY_FILTERS")
    compiled = [[_compile_filter(store, type_, f) for f in (g.get("filters") or [])] for g in groups]
    query = str(body.get("query") or "").strip().lower()

    def matches(obj: StoredObject) -> bool:
        if compiled and not any(all(test(obj) for test in group) for group in compiled):
            return False
        if query:
            return any(query in (obj.value(p) or "").lower() for p in schema.QUERY_PROPERTIES[type_])
        return True

    return matches


def modified_windows(store: Store, type_: str, body: Mapping[str, Any]) -> list[tuple[int | None, int | None]] | None:
    """The modification-time ranges ``[low, high]`` (ms) that every match lies in, one per filter group,
    or ``None`` when some group does not bound the modification time (the whole store is searched).

    Only narrows where to look: each record found is still tested against every filter.
    """
    groups = body.get("filterGroups")
    if groups is None and body.get("filters"):
        groups = [{"filters": body["filters"]}]
    if not groups or not isinstance(groups, list):
        return None
    name = schema.MODIFIED_PROPERTY[type_]
    windows: list[tuple[int | None, int | None]] = []
    for group in groups:
        low: int | None = None
        high: int | None = None
        bounded = False
        for spec in (group.get("filters") or []) if isinstance(group, dict) else []:
            if not isinstance(spec, dict) or spec.get("propertyName") != name:
                continue
            operator = str(spec.get("operator") or "EQ").upper()
            value = schema.ms_from_value(spec.get("value")) if spec.get("value") is not None else None
            if value is None or operator not in ("EQ", "GT", "GTE", "LT", "LTE", "BETWEEN"):
                continue
            if operator in ("EQ", "GT", "GTE", "BETWEEN"):
                start = value + 1 if operator == "GT" else value
                low = start if low is None else max(low, start)
            if operator in ("EQ", "LT", "LTE"):
                end = value - 1 if operator == "LT" else value
                high = end if high is None else min(high, end)
            if operator == "BETWEEN":
                top = schema.ms_from_value(spec.get("highValue")) if spec.get("highValue") is not None else None
                if top is not None:
                    high = top if high is None else min(high, top)
            bounded = True
        if not bounded:
            return None
        windows.append((low, high))
    return windows


def candidates(store: Store, type_: str, body: Mapping[str, Any]) -> list[StoredObject]:
    """The live records a search has to test: its modification-time windows, or every live record."""
    windows = modified_windows(store, type_, body)
    if windows is None:
        found = list(store.live(type_))
    else:
        seen: dict[str, StoredObject] = {}
        for low, high in windows:
            for obj in store.modified_between(type_, low, high):
                seen.setdefault(obj.id, obj)
        found = list(seen.values())
    store.search_examined += len(found)
    return found


def search_page(store: Store, type_: str, body: Mapping[str, Any], matches: Predicate, offset: int, limit: int
                ) -> tuple[list[StoredObject], int]:
    """One page of a search (``limit`` rows from ``offset``; ``matches`` its compiled filters) and
    the total number of matches.

    A search sorted by modification time, ascending (the change feed's query), walks the
    modification-time index, which is in exactly that order: a page costs its rows (plus a
    binary search), or its window when other filters must be counted for the total.
    """
    rule = sort_rule(store, type_, body.get("sorts"))
    if rule == (schema.MODIFIED_PROPERTY[type_], False):
        spans = _index_spans(store, type_, body)
        if _bounds_only(type_, body):
            return _slice_spans(store, type_, spans, offset, limit), sum(end - start for start, end in spans)
        return _walk_spans(store, type_, spans, matches, offset, limit)
    found = [o for o in candidates(store, type_, body) if matches(o)]
    rows = sort_records(store, type_, found, body.get("sorts"), first=offset + limit)
    return rows[offset:offset + limit], len(found)


def _index_spans(store: Store, type_: str, body: Mapping[str, Any]) -> list[tuple[int, int]]:
    """The index positions of the search's windows, in order, overlapping ones merged."""
    windows = modified_windows(store, type_, body) or [(None, None)]
    spans: list[tuple[int, int]] = []
    for start, end in sorted(store.modified_span(type_, low, high) for low, high in windows):
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], end))
        elif end > start:
            spans.append((start, end))
    return spans


def _bounds_only(type_: str, body: Mapping[str, Any]) -> bool:
    """Every filter bounds the modification time (and there is no free-text query), so every record
    in the windows matches: the windows are the result."""
    if str(body.get("query") or "").strip():
        return False
    groups = body.get("filterGroups")
    if groups is None and body.get("filters"):
        groups = [{"filters": body["filters"]}]
    name = schema.MODIFIED_PROPERTY[type_]
    for group in groups or []:
        for spec in (group.get("filters") or []) if isinstance(group, dict) else []:
            if not isinstance(spec, dict):
                return False
            operator = str(spec.get("operator") or "EQ").upper()
            if spec.get("propertyName") != name or operator not in ("EQ", "GT", "GTE", "LT", "LTE", "BETWEEN"):
                return False
            if schema.ms_from_value(spec.get("value")) is None:
                return False
            if operator == "BETWEEN" and schema.ms_from_value(spec.get("highValue")) is None:
                return False
    return True


def _slice_spans(store: Store, type_: str, spans: list[tuple[int, int]], offset: int, limit: int
                 ) -> list[StoredObject]:
    """Rows ``offset`` to ``offset + limit`` of the spans, each of whose records is a match."""
    rows: list[StoredObject] = []
    skip = offset
    for start, end in spans:
        if skip >= end - start:
            skip -= end - start
            continue
        stop = min(end, start + skip + limit - len(rows))
        rows.extend(store.modified_at(type_, at) for at in range(start + skip, stop))
        skip = 0
        if len(rows) == limit:
            break
    store.search_examined += len(rows)
    return rows


def _walk_spans(store: Store, type_: str, spans: list[tuple[int, int]], matches: Predicate, offset: int,
                limit: int) -> tuple[list[StoredObject], int]:
    """The page and the total of the matches in the spans, tested in index order."""
    rows: list[StoredObject] = []
    total = 0
    for start, end in spans:
        store.search_examined += end - start
        for at in range(start, end):
            obj = store.modified_at(type_, at)
            if matches(obj):
                if offset <= total < offset + limit:
                    rows.append(obj)
                total += 1
    return rows, total


def _compile_filter(store: Store, type_: str, spec: Any) -> Predicate:
    if not isinstance(spec, dict):
        raise bad_request("each filter must be an object")
    name = spec.get("propertyName")
    operator = str(spec.get("operator") or "EQ").upper()
    if not name:
        raise bad_request("filter is missing propertyName")
    if operator not in OPERATORS:
        raise bad_request(f"Unknown operator {operator!r}")
    definition = store.definitions[type_].get(name)
    if definition is None:
        raise bad_request(f"There was a problem with the request. Property {name} does not exist",
                          sub_category="PROPERTY_DOESNT_EXIST")
    kind = definition.type
    if operator == "HAS_PROPERTY":
        return lambda o: _has(o, name)
    if operator == "NOT_HAS_PROPERTY":
        return lambda o: not _has(o, name)
    if operator in ("IN", "NOT_IN"):
        raw_values = spec.get("values")
        if not isinstance(raw_values, list):
            raise bad_request(f"operator {operator} needs a values list")
        wanted = [_key(kind, v, exact=True) for v in raw_values]

        def in_values(o: StoredObject) -> bool:
            current = o.value(name)
            if current is None:
                return False
            # HubSpot compares string properties against lower-case values: a value sent in
            # upper case never matches.
            return _key(kind, current if kind in ("enumeration", "number", "datetime", "date") else current.lower(),
                        exact=True) in wanted

        return in_values if operator == "IN" else (lambda o: not in_values(o))
    if operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        pattern = str(spec.get("value") or "").lower()

        def contains(o: StoredObject) -> bool:
            current = o.value(name)
            if current is None:
                return False
            tokens = [t for t in _TOKEN_SPLIT.split(current.lower()) if t]
            if "*" in pattern:
                return any(fnmatch.fnmatchcase(t, pattern) for t in tokens) or fnmatch.fnmatchcase(
                    current.lower(), pattern)
            return pattern in tokens

        return contains if operator == "CONTAINS_TOKEN" else (lambda o: not contains(o))
    if "value" not in spec and operator != "BETWEEN":
        raise bad_request(f"operator {operator} needs a value")
    value = _key(kind, spec.get("value"), exact=kind == "enumeration")
    if operator == "BETWEEN":
        if "highValue" not in spec:
            raise bad_request("operator BETWEEN needs value and highValue")
        high = _key(kind, spec.get("highValue"), exact=kind == "enumeration")
        return _ordered(name, kind, lambda k: _safe_le(value, k) and _safe_le(k, high))
    if operator == "EQ":
        return lambda o: _has(o, name) and _obj_key(o, name, kind) == value
    if operator == "NEQ":
        return lambda o: not _has(o, name) or _obj_key(o, name, kind) != value
    tests: dict[str, Callable[[Any], bool]] = {
        "LT": lambda k: _safe_lt(k, value),
        "LTE": lambda k: _safe_le(k, value),
        "GT": lambda k: _safe_lt(value, k),
        "GTE": lambda k: _safe_le(value, k),
    }
    return _ordered(name, kind, tests[operator])


def _ordered(name: str, kind: str, test: Callable[[Any], bool]) -> Predicate:
    def check(o: StoredObject) -> bool:
        if not _has(o, name):
            return False
        return test(_obj_key(o, name, kind))

    return check


def _has(obj: StoredObject, name: str) -> bool:
    """``obj.value(name) is not None``, without formatting the computed dates (the hot path of a search)."""
    if name in ("hs_object_id", "createdate") or name == schema.MODIFIED_PROPERTY[obj.type]:
        return True
    return obj.properties.get(name) not in (None, "")


def _obj_key(obj: StoredObject, name: str, kind: str) -> Any:
    if name == "hs_object_id":
        return Decimal(obj.id)
    if name == "createdate":
        return obj.created_ms
    if name == schema.MODIFIED_PROPERTY[obj.type]:
        return obj.modified_ms
    return _key(kind, obj.value(name), exact=kind == "enumeration")


def _key(kind: str, value: Any, *, exact: bool) -> Any:
    """A comparable key: numbers as Decimal, datetimes as epoch ms, strings lower-cased."""
    if value is None:
        return None
    if kind == "number":
        try:
            return Decimal(str(value).strip())
        except InvalidOperation:
            raise bad_request(f"{value} is not a valid number") from None
    if kind in ("datetime", "date"):
        ms = schema.ms_from_value(value)
        if ms is None:
            raise bad_request(f"{value} is not a valid date or epoch millisecond value")
        return ms
    text = str(value)
    return text if exact else text.lower()


def _safe_lt(a: Any, b: Any) -> bool:
    try:
        return bool(a < b)
    except TypeError:
        return False


def _safe_le(a: Any, b: Any) -> bool:
    try:
        return bool(a <= b)
    except TypeError:
        return False


def sort_rule(store: Store, type_: str, sorts: Any) -> tuple[str, bool] | None:
    """The first sorting rule as ``(property, descending)`` (string ``"prop"`` / ``"-prop"`` or
    ``{propertyName, direction}``), ``None`` without one; HTTP 400 for one HubSpot refuses."""
    if not sorts:
        return None
    if not isinstance(sorts, Sequence) or isinstance(sorts, (str, bytes)):
        raise bad_request("sorts must be a list")
    rule = sorts[0]
    if isinstance(rule, str):
        descending = rule.startswith("-")
        name = rule.lstrip("-+")
    elif isinstance(rule, dict):
        name = str(rule.get("propertyName") or "")
        descending = str(rule.get("direction") or "ASCENDING").upper().startswith("DESC")
    else:
        raise bad_request("each sort must be a property name or {propertyName, direction}")
    if store.definitions[type_].get(name) is None:
        raise bad_request(f"Cannot sort by unknown property {name}")
    return name, descending


def sort_records(store: Store, type_: str, records: list[StoredObject], sorts: Any,
                 first: int | None = None) -> list[StoredObject]:
    """Apply the first sorting rule (see :func:`sort_rule`); without one, records come in id order.

    With ``first``, only that many leading rows are returned in order (the rest are not sorted).
    """
    rule = sort_rule(store, type_, sorts)
    if rule is None:
        return sorted(records, key=lambda o: int(o.id))
    name, descending = rule
    kind = store.definitions[type_][name].type

    present = [o for o in records if _has(o, name)]
    missing = [o for o in records if not _has(o, name)]
    missing.sort(key=_tie)
    if not descending and first is not None and first < len(records):
        # Only the first ``first`` rows are wanted: no need to sort every match.
        rest = max(0, first - len(missing))
        return missing[:first] + heapq.nsmallest(rest, present, key=lambda o: (_obj_key(o, name, kind), _tie(o)))
    present.sort(key=_tie)
    present.sort(key=lambda o: _obj_key(o, name, kind), reverse=descending)
    return missing + present if not descending else present + missing


def _tie(o: StoredObject) -> str:
    """Equal sort values come in an order that is stable but not the id order (as in HubSpot)."""
    return tie_of(o.id)


def page_bounds(body: Mapping[str, Any], *, max_limit: int, cap: int) -> tuple[int, int]:
    """``(offset, limit)`` of a search request; beyond the result cap is HTTP 400, as on HubSpot."""
    try:
        limit = int(body.get("limit") or 10)
        offset = int(body.get("after") or 0)
    except (TypeError, ValueError):
        raise bad_request("limit and after must be integers") from None
    if limit < 1 or limit > max_limit:
        raise bad_request(f"limit must be between 1 and {max_limit}")
    if offset < 0:
        raise bad_request("after must not be negative")
    if offset >= cap:
        raise EmulatorError(400, error_body(
            f"There was a problem with the request. The search result limit of {cap} has been reached; "
            "narrow the query (for example by a property filter) to page further.",
            "VALIDATION_ERROR"))
    return offset, min(limit, cap - offset)
