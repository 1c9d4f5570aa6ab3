"""Maps ``/services/data/vNN.N/...`` paths (after the version) to handlers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

from connectors.salesforce.emulator import api_collections, api_composite, api_query, api_sobjects
from connectors.salesforce.emulator.call import Call, Reply
from connectors.salesforce.emulator.errors import SalesforceError, api_error, not_found
from connectors.salesforce.emulator.schema import ObjectDef, object_name

Handler = Callable[[Call], Reply]


@dataclass(frozen=True)
class Route:
    name: str
    handler: Handler


def _method_not_allowed(method: str) -> SalesforceError:
    return api_error(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are GET,PATCH,DELETE")


def resolve(method: str, rest: list[str], defs: dict[str, ObjectDef], cursors: api_query.Cursors) -> Route:
    parts = [unquote(p) for p in rest if p]
    if not parts:
        raise not_found()
    head, tail = parts[0], parts[1:]
    if head in ("query", "queryAll") and method == "GET":
        if not tail:
            return Route(head, lambda c: api_query.run(c, cursors, head))
        if len(tail) == 1:
            locator = tail[0]
            return Route(f"{head}.more", lambda c: api_query.more(c, cursors, head, locator))
    if head == "limits" and not tail and method == "GET":
        return Route("limits", api_sobjects.limits)
    if head == "sobjects":
        return _sobjects(method, tail, defs)
    if head == "composite" and not tail and method == "POST":
        return Route("composite", lambda c: api_composite.run(c, lambda m, p: resolve(m, p, defs, cursors)))
    if head == "composite" and tail and tail[0] == "sobjects":
        return _collections(method, tail[1:], defs)
    raise not_found()


def _object(defs: dict[str, ObjectDef], segment: str) -> str:
    name = object_name(defs, segment)
    if name is None:
        raise api_error(404, "NOT_FOUND", "The requested resource does not exist")
    return name


def _sobjects(method: str, tail: list[str], defs: dict[str, ObjectDef]) -> Route:
    if not tail:
        if method == "GET":
            return Route("sobjects.describeGlobal", api_sobjects.global_describe)
        raise _method_not_allowed(method)
    obj = _object(defs, tail[0])
    rest = tail[1:]
    if not rest:
        if method == "POST":
            return Route("sobjects.create", lambda c: api_sobjects.create(c, obj))
        if method == "GET":
            return Route("sobjects.basic", lambda c: api_sobjects.describe(c, obj))
        raise _method_not_allowed(method)
    if rest == ["describe"] and method == "GET":
        return Route("sobjects.describe", lambda c: api_sobjects.describe(c, obj))
    if rest == ["updated"] and method == "GET":
        return Route("sobjects.updated", lambda c: api_sobjects.updated(c, obj))
    if rest == ["deleted"] and method == "GET":
        return Route("sobjects.deleted", lambda c: api_sobjects.deleted(c, obj))
    if len(rest) == 1:
        record_id = rest[0]
        handlers = {"GET": api_sobjects.get, "PATCH": api_sobjects.update, "DELETE": api_sobjects.delete}
        if method not in handlers:
            raise _method_not_allowed(method)
        handler = handlers[method]
        return Route(f"sobjects.{method.lower()}", lambda c: handler(c, obj, record_id))
    if len(rest) == 2:
        field_name, value = rest
        if method == "PATCH":
            return Route("sobjects.upsert", lambda c: api_sobjects.upsert(c, obj, field_name, value))
        if method == "GET":
            return Route("sobjects.getByExternalId",
                         lambda c: api_sobjects.get_by_external_id(c, obj, field_name, value))
        raise _method_not_allowed(method)
    raise not_found()


def _collections(method: str, tail: list[str], defs: dict[str, ObjectDef]) -> Route:
    if not tail:
        handlers = {"POST": api_collections.create, "PATCH": api_collections.update, "DELETE": api_collections.delete}
        if method not in handlers:
            raise _method_not_allowed(method)
        return Route(f"collections.{method.lower()}", handlers[method])
    obj = _object(defs, tail[0])
    if len(tail) == 1 and method in ("GET", "POST"):
        return Route("collections.retrieve", lambda c: api_collections.retrieve(c, obj))
    if len(tail) == 2 and method == "PATCH":
        field_name = tail[1]
        return Route("collections.upsert", lambda c: api_collections.upsert(c, obj, field_name))
    raise not_found()
