"""Maps a request path to its handler, for both ``/crm/v3|v4/...`` and date-versioned ``/crm/.../2026-03/...`` paths."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

from connectors.hubspot.emulator import api_account, api_assoc, api_objects, api_props, schema
from connectors.hubspot.emulator.call import Call, Reply
from connectors.hubspot.emulator.errors import EmulatorError, error_body

Handler = Callable[[Call], Reply]
_DATED = re.compile(r"^\d{4}-\d{2}(-beta)?$")
_BATCH_OBJECT_OPS = {
    "read": api_objects.batch_read, "create": api_objects.batch_create, "update": api_objects.batch_update,
    "upsert": api_objects.batch_upsert, "archive": api_objects.batch_archive,
}
_BATCH_ASSOC_OPS = {
    "read": api_assoc.batch_read, "create": api_assoc.batch_create, "labels/archive": api_assoc.batch_archive_labels,
}


@dataclass(frozen=True)
class Route:
    name: str
    handler: Handler
    is_search: bool = False


def _type(segment: str) -> str:
    found = schema.object_type(segment)
    if found is None:
        raise EmulatorError(400, error_body(f"Unable to infer object type from: {segment}", "VALIDATION_ERROR"))
    return found


def _no_route(method: str, path: str) -> EmulatorError:
    return EmulatorError(404, error_body(f"No route for {method} {path}", "OBJECT_NOT_FOUND"))


def resolve(method: str, path: str) -> Route:
    """The route for ``method path``, or a 404/405 EmulatorError."""
    # ids in paths are percent-encoded by clients (``ann%40x.example`` for an e-mail idProperty)
    parts = [unquote(p) for p in path.split("/") if p]
    if len(parts) == 3 and parts[0] == "account-info" and parts[2] == "details" and (
            parts[1] == "v3" or _DATED.match(parts[1])):
        if method != "GET":
            raise _no_route(method, path)
        return Route("account-info", api_account.details)
    if parts == ["oauth", "v2", "private-apps", "get", "access-token-info"] and method == "POST":
        return Route("access-token-info", api_account.token_info)
    if len(parts) < 3 or parts[0] != "crm":
        raise _no_route(method, path)
    if parts[1] == "v3" and parts[2] == "owners" or len(parts) > 2 and parts[1] == "owners":
        return _owners(method, path, parts[3:])
    area, version, rest = parts[1], parts[2], parts[3:]
    if area in ("v3", "v4"):  # /crm/v3/objects/...: the area comes after the version
        area, version, rest = parts[2], parts[1], parts[3:]
    elif not _DATED.match(version):
        raise _no_route(method, path)
    if area == "objects" and rest:
        return _objects(method, path, version, rest)
    if area == "pipelines" and rest:
        return _pipelines(method, path, rest)
    if area == "properties" and rest:
        return _properties(method, path, rest)
    if area == "associations" and len(rest) >= 4 and rest[2] == "batch":
        return _assoc_batch(method, path, rest, dated=version != "v4")
    if area == "associations" and len(rest) in (3, 4) and rest[2] == "labels":
        return _assoc_labels(method, path, rest)
    raise _no_route(method, path)


def _objects(method: str, path: str, version: str, rest: list[str]) -> Route:
    type_ = _type(rest[0])
    tail = rest[1:]
    if version != "v4":
        if not tail:
            if method == "GET":
                return Route("objects.list", lambda c: api_objects.list_objects(c, type_))
            if method == "POST":
                return Route("objects.create", lambda c: api_objects.create_object(c, type_))
        elif tail == ["merge"] and method == "POST":
            return Route("objects.merge", lambda c: api_objects.merge(c, type_))
        elif tail == ["search"] and method == "POST":
            return Route("objects.search", lambda c: api_objects.search(c, type_), is_search=True)
        elif len(tail) == 2 and tail[0] == "batch" and tail[1] in _BATCH_OBJECT_OPS and method == "POST":
            op = _BATCH_OBJECT_OPS[tail[1]]
            return Route(f"objects.batch.{tail[1]}", lambda c: op(c, type_))
        elif len(tail) == 1:
            ref = tail[0]
            if method == "GET":
                return Route("objects.get", lambda c: api_objects.get_object(c, type_, ref))
            if method == "PATCH":
                return Route("objects.update", lambda c: api_objects.update_object(c, type_, ref))
            if method == "DELETE":
                return Route("objects.archive", lambda c: api_objects.archive_object(c, type_, ref))
    if len(tail) >= 3 and tail[1] == "associations":
        return _record_associations(method, path, type_, tail[0], tail[2:])
    raise _no_route(method, path)


def _record_associations(method: str, path: str, from_type: str, from_id: str, rest: list[str]) -> Route:
    if len(rest) == 3 and rest[0] == "default" and method == "PUT":
        to_type, to_id = _type(rest[1]), rest[2]
        return Route("associations.default", lambda c: api_assoc.put_default(c, from_type, from_id, to_type, to_id))
    if len(rest) == 2:
        to_type, to_id = _type(rest[0]), rest[1]
        if method == "PUT":
            return Route("associations.put", lambda c: api_assoc.put_labelled(c, from_type, from_id, to_type, to_id))
        if method == "DELETE":
            return Route("associations.delete", lambda c: api_assoc.delete_pair(c, from_type, from_id, to_type, to_id))
    if len(rest) == 1 and method == "GET":
        to_type = _type(rest[0])
        return Route("associations.list", lambda c: api_assoc.list_for(c, from_type, from_id, to_type))
    raise _no_route(method, path)


def _assoc_batch(method: str, path: str, rest: list[str], *, dated: bool) -> Route:
    from_type, to_type, op = _type(rest[0]), _type(rest[1]), "/".join(rest[3:])
    if method != "POST":
        raise _no_route(method, path)
    if op == "archive":
        return Route("associations.batch.archive", lambda c: api_assoc.batch_archive(c, from_type, to_type, dated=dated))
    if op == "associate/default":
        return Route("associations.batch.default", lambda c: api_assoc.batch_default(c, from_type, to_type))
    if op in _BATCH_ASSOC_OPS:
        handler = _BATCH_ASSOC_OPS[op]
        return Route(f"associations.batch.{op}", lambda c: handler(c, from_type, to_type))
    raise _no_route(method, path)


def _assoc_labels(method: str, path: str, rest: list[str]) -> Route:
    from_type, to_type = _type(rest[0]), _type(rest[1])
    if len(rest) == 4:
        type_id = rest[3]
        if method == "DELETE":
            return Route("associations.labels.delete", lambda c: api_assoc.delete_label(c, from_type, to_type, type_id))
        raise _no_route(method, path)
    handlers = {"GET": api_assoc.list_labels, "POST": api_assoc.create_label, "PUT": api_assoc.update_label}
    if method not in handlers:
        raise _no_route(method, path)
    handler = handlers[method]
    return Route(f"associations.labels.{method.lower()}", lambda c: handler(c, from_type, to_type))


def _owners(method: str, path: str, rest: list[str]) -> Route:
    if method == "GET" and not rest:
        return Route("owners.list", api_account.list_owners)
    if method == "GET" and len(rest) == 1:
        owner_id = rest[0]
        return Route("owners.get", lambda c: api_account.get_owner(c, owner_id))
    raise _no_route(method, path)


def _pipelines(method: str, path: str, rest: list[str]) -> Route:
    if method != "GET":
        raise _no_route(method, path)
    type_ = _type(rest[0])
    if len(rest) == 1:
        return Route("pipelines.list", lambda c: api_account.list_pipelines(c, type_))
    pipeline_id = rest[1]
    if len(rest) == 2:
        return Route("pipelines.get", lambda c: api_account.get_pipeline(c, type_, pipeline_id))
    if len(rest) == 3 and rest[2] == "stages":
        return Route("pipelines.stages", lambda c: api_account.list_stages(c, type_, pipeline_id))
    if len(rest) == 4 and rest[2] == "stages":
        stage_id = rest[3]
        return Route("pipelines.stage", lambda c: api_account.get_stage(c, type_, pipeline_id, stage_id))
    raise _no_route(method, path)


def _properties(method: str, path: str, rest: list[str]) -> Route:
    type_ = _type(rest[0])
    if len(rest) == 1:
        if method == "GET":
            return Route("properties.list", lambda c: api_props.list_properties(c, type_))
        if method == "POST":
            return Route("properties.create", lambda c: api_props.create_property(c, type_))
    if len(rest) == 2:
        name = rest[1]
        if method == "GET":
            return Route("properties.get", lambda c: api_props.get_property(c, type_, name))
        if method == "PATCH":
            return Route("properties.update", lambda c: api_props.update_property(c, type_, name))
        if method == "DELETE":
            return Route("properties.archive", lambda c: api_props.archive_property(c, type_, name))
    raise _no_route(method, path)
