"""Runs a parsed SOQL query against the store and renders records as the REST API returns them."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from connectors.salesforce import ids
from connectors.salesforce.emulator import soql
from connectors.salesforce.emulator.clock import format_datetime, parse_datetime
from connectors.salesforce.emulator.errors import api_error, invalid_field, malformed_query
from connectors.salesforce.emulator.schema import FieldDef, ObjectDef, object_name
from connectors.salesforce.emulator.store import Store

_NUMERIC = ("currency", "double", "percent", "int")


def record_url(version: str, object_name_: str, record_id: str) -> str:
    return f"/services/data/v{version}/sobjects/{object_name_}/{record_id}"


def render_value(fdef: FieldDef, value: Any) -> Any:
    if value is not None and fdef.type == "datetime":
        return format_datetime(value)
    return value


def render(store: Store, odef: ObjectDef, row: dict[str, Any], fields: list[soql.Path] | None,
           version: str) -> dict[str, Any]:
    """A record with ``attributes``; ``fields`` None means every field (a GET without ``fields=``)."""
    out: dict[str, Any] = {"attributes": {"type": odef.name, "url": record_url(version, odef.name, row["Id"])}}
    if fields is None:
        for name, fdef in odef.fields.items():
            out[name] = render_value(fdef, row.get(name))
        return out
    for path in fields:
        if len(path.parts) == 1:
            own = odef.field(path.parts[0])
            assert own is not None
            out[own.name] = render_value(own, row.get(own.name))
            continue
        ref = odef.relationship(path.parts[0])
        assert ref is not None and ref.relationship_name is not None
        parent_def = store.defs.get(ref.reference_to or "")
        parent = store.rows[parent_def.name].get(row.get(ref.name) or "") if parent_def else None
        if parent is None or parent_def is None:
            out[ref.relationship_name] = None
            continue
        nested = out.get(ref.relationship_name) or {
            "attributes": {"type": parent_def.name, "url": record_url(version, parent_def.name, parent["Id"])}}
        pdef = parent_def.field(path.parts[1])
        assert pdef is not None
        nested[pdef.name] = render_value(pdef, parent.get(pdef.name))
        out[ref.relationship_name] = nested
    return out


class Resolved:
    """A query checked against the schema: field definitions for every path it uses."""

    def __init__(self, store: Store, text: str, query: soql.Query) -> None:
        self.store, self.text, self.query = store, text, query
        name = object_name(store.defs, query.object_name)
        if name is None:
            raise api_error(400, "INVALID_TYPE", f"\n{text}\n{' ' * (query.object_column - 1)}^\nERROR at Row:1:"
                            f"Column:{query.object_column}\nsObject type '{query.object_name}' is not supported. If "
                            "you are attempting to use a custom object, be sure to append the '__c' after the entity "
                            "name. Please reference your WSDL or the describe call for the appropriate names.")
        self.odef = store.defs[name]
        for path in query.fields:
            self.field(path)
        for agg in query.aggregates:
            if agg.path is not None:
                self.field(agg.path)
        for key in query.order:
            self.field(key.path)
        if query.where is not None:
            self._check(query.where)

    def field(self, path: soql.Path) -> FieldDef:
        """The definition a path ends on, or the INVALID_FIELD error Salesforce gives."""
        if len(path.parts) == 1:
            fdef = self.odef.field(path.parts[0])
        elif len(path.parts) == 2:
            ref = self.odef.relationship(path.parts[0])
            parent = self.store.defs.get(ref.reference_to or "") if ref is not None else None
            fdef = parent.field(path.parts[1]) if parent is not None else None
        else:
            fdef = None
        if fdef is None:
            raise invalid_field(self.text, f"No such column '{path.text}' on entity '{self.odef.name}'. If you are "
                                "attempting to use a custom field, be sure to append the '__c' after the custom "
                                "field name. Please reference your WSDL or the describe call for the appropriate "
                                "names.", path.column)
        return fdef

    def _check(self, cond: soql.Condition) -> None:
        if isinstance(cond, soql.BoolOp):
            for item in cond.items:
                self._check(item)
        elif isinstance(cond, soql.Not):
            self._check(cond.item)
        elif isinstance(cond, soql.InList):
            fdef = self.field(cond.path)
            for value in cond.values:
                self._literal(fdef, value, cond.path)
        else:
            fdef = self.field(cond.path)
            self._literal(fdef, cond.value, cond.path)

    def _literal(self, fdef: FieldDef, lit: soql.Literal, path: soql.Path) -> Any:
        if lit.kind == "null":
            return None
        kind = fdef.type
        wanted = ("datetime" if kind == "datetime" else "date" if kind == "date" else "number" if kind in _NUMERIC
                  else "boolean" if kind == "boolean" else "string")
        if lit.kind != wanted:
            quoted = " and should not be enclosed in quotes" if wanted in ("datetime", "date", "number", "boolean") \
                else " and should be enclosed in quotes"
            raise invalid_field(self.text, f"value of filter criterion for field '{path.text}' must be of type "
                                f"{'dateTime' if wanted == 'datetime' else wanted}{quoted}", lit.column)
        if wanted == "datetime":
            return int(parse_datetime(lit.value))
        if kind in ("id", "reference"):
            # Ids match in either form; anything that is not an id can never match.
            return ids.normalize(lit.value) or f"\0{lit.value}"
        return lit.value

    # -- evaluation ---------------------------------------------------------------------------------

    def value(self, row: dict[str, Any], path: soql.Path) -> Any:
        if len(path.parts) == 1:
            return row.get(self.field(path).name)
        ref = self.odef.relationship(path.parts[0])
        assert ref is not None
        parent = self.store.rows[ref.reference_to or ""].get(row.get(ref.name) or "")
        return None if parent is None else parent.get(self.field(path).name)

    def matches(self, row: dict[str, Any], cond: soql.Condition | None) -> bool:
        if cond is None:
            return True
        if isinstance(cond, soql.BoolOp):
            results = (self.matches(row, c) for c in cond.items)
            return all(results) if cond.op == "AND" else any(results)
        if isinstance(cond, soql.Not):
            return not self.matches(row, cond.item)
        fdef = self.field(cond.path)
        actual = _fold(self.value(row, cond.path), fdef)
        if isinstance(cond, soql.InList):
            found = actual in {_fold(self._literal(fdef, v, cond.path), fdef) for v in cond.values}
            return (not found) if cond.negated else found
        wanted = _fold(self._literal(fdef, cond.value, cond.path), fdef)
        if cond.op == "LIKE":
            return isinstance(actual, str) and soql.like_regex(str(cond.value.value)).match(actual) is not None
        if cond.op == "=":
            return bool(actual == wanted)
        if cond.op == "!=":
            return bool(actual != wanted)
        if actual is None or wanted is None:
            return False
        return bool({"<": actual < wanted, "<=": actual <= wanted, ">": actual > wanted,
                     ">=": actual >= wanted}[cond.op])

    def sort(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        keys = self.query.order

        def compare(a: dict[str, Any], b: dict[str, Any]) -> int:
            for key in keys:
                fdef = self.field(key.path)
                x, y = _fold(self.value(a, key.path), fdef), _fold(self.value(b, key.path), fdef)
                if x == y:
                    continue
                if x is None or y is None:
                    first_is_null = x is None
                    return (1 if first_is_null else -1) if key.nulls_last else (-1 if first_is_null else 1)
                result = -1 if x < y else 1
                return -result if key.descending else result
            return 0

        return sorted(rows, key=functools.cmp_to_key(compare)) if keys else rows


def _fold(value: Any, fdef: FieldDef) -> Any:
    # Text compares case-insensitively in SOQL; ids compare exactly (their 18-character form).
    if isinstance(value, str) and fdef.type not in ("id", "reference"):
        return value.casefold()
    return value


def execute(store: Store, text: str, *, include_deleted: bool, version: str) -> tuple[list[dict[str, Any]], int]:
    """The rendered rows of a query and its totalSize; SalesforceError for what Salesforce refuses."""
    try:
        parsed = soql.parse(text)
    except soql.SoqlSyntaxError as exc:
        raise malformed_query(text, exc.message, exc.column) from None
    if parsed.offset > 2_000:
        raise api_error(400, "NUMBER_OUTSIDE_VALID_RANGE",
                        "Maximum SOQL offset allowed is 2000")
    resolved = Resolved(store, text, parsed)
    odef = resolved.odef
    # ``query`` skips deleted rows and archived activities; ``queryAll`` returns both.
    rows = [r for r in store.rows[odef.name].values()
            if (include_deleted or not (r["IsDeleted"] or r.get("IsArchived")))
            and resolved.matches(r, parsed.where)]
    if parsed.count_only:
        total = len(rows[parsed.offset:parsed.limit and parsed.offset + parsed.limit or None])
        return [], total
    if parsed.aggregates:
        return [_aggregate(resolved, rows)], 1
    rows = resolved.sort(rows)[parsed.offset:]
    if parsed.limit is not None:
        rows = rows[:parsed.limit]
    return [render(store, odef, r, parsed.fields, version) for r in rows], len(rows)


def _aggregate(resolved: Resolved, rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"attributes": {"type": "AggregateResult"}}
    for agg in resolved.query.aggregates:
        assert agg.path is not None
        fdef = resolved.field(agg.path)
        values = [v for v in (resolved.value(r, agg.path) for r in rows) if v is not None]
        pick: Callable[[list[Any]], Any] = max if agg.function == "MAX" else min
        if agg.function == "COUNT":
            out[agg.alias] = len(values)
        else:
            out[agg.alias] = render_value(fdef, pick(values)) if values else None
    return out


