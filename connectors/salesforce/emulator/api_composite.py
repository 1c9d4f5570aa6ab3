"""``POST /composite``: up to 25 subrequests in one API call, later ones using earlier results through
``@{referenceId.path}``, optionally all-or-none."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from connectors.salesforce.emulator.call import Call, Reply
from connectors.salesforce.emulator.errors import SalesforceError, api_error

Resolve = Callable[[str, list[str]], Any]  # (method, path parts after the version) -> Route

MAX_SUBREQUESTS = 25
MAX_QUERIES_AND_COLLECTIONS = 5
_REFERENCE = re.compile(r"@\{([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+|\[\d+\])*)\}")
_HALTED = {"errorCode": "PROCESSING_HALTED",
           "message": "The transaction was rolled back since another operation in the same transaction failed."}


class _Unresolved(Exception):
    pass


class _Rollback(Exception):
    pass


def _lookup(results: dict[str, Any], ref: str, path: str) -> Any:
    if ref not in results:
        raise _Unresolved(ref)
    value = results[ref]
    for step in re.findall(r"\.([A-Za-z0-9_]+)|\[(\d+)\]", path):
        key, index = step
        try:
            value = value[int(index)] if index else value[key]
        except (KeyError, IndexError, TypeError):
            raise _Unresolved(ref + path) from None
    return value


def _substitute(value: Any, results: dict[str, Any]) -> Any:
    if isinstance(value, str):
        whole = _REFERENCE.fullmatch(value)
        if whole:
            return _lookup(results, whole.group(1), whole.group(2))
        return _REFERENCE.sub(lambda m: str(_lookup(results, m.group(1), m.group(2))), value)
    if isinstance(value, list):
        return [_substitute(v, results) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, results) for k, v in value.items()}
    return value


def run(call: Call, resolve: Resolve) -> Reply:
    body = call.json_object()
    subrequests = body.get("compositeRequest")
    if not isinstance(subrequests, list) or not subrequests:
        raise api_error(400, "JSON_PARSER_ERROR", "compositeRequest must be a non-empty list")
    if len(subrequests) > MAX_SUBREQUESTS:
        raise api_error(400, "INVALID_INPUT", f"Composite request can have at most {MAX_SUBREQUESTS} subrequests")
    heavy = sum(1 for s in subrequests if isinstance(s, dict) and re.search(r"/(query|queryAll|composite)/?",
                                                                            str(s.get("url", ""))))
    if heavy > MAX_QUERIES_AND_COLLECTIONS:
        raise api_error(400, "INVALID_INPUT", "Composite request can have at most "
                        f"{MAX_QUERIES_AND_COLLECTIONS} query or sObject Collections subrequests")
    all_or_none = bool(body.get("allOrNone", False))
    responses: list[dict[str, Any]] = []
    results: dict[str, Any] = {}
    try:
        with call.store.transaction():
            for sub in subrequests:
                response = _one(call, resolve, sub, results)
                responses.append(response)
                if all_or_none and response["httpStatusCode"] >= 400:
                    raise _Rollback()
    except _Rollback:
        failed = len(responses) - 1
        responses = [r if i == failed else {**r, "body": [_HALTED], "httpHeaders": {}, "httpStatusCode": 400}
                     for i, r in enumerate(responses)]
        responses += [{"body": [_HALTED], "httpHeaders": {}, "httpStatusCode": 400,
                       "referenceId": s.get("referenceId") if isinstance(s, dict) else None}
                      for s in subrequests[len(responses):]]
    return Reply(200, {"compositeResponse": responses})


def _one(call: Call, resolve: Resolve, sub: Any, results: dict[str, Any]) -> dict[str, Any]:
    reference = sub.get("referenceId") if isinstance(sub, dict) else None
    try:
        if not isinstance(sub, dict) or not reference or not sub.get("url") or not sub.get("method"):
            raise api_error(400, "INVALID_INPUT", "each subrequest needs method, url and referenceId")
        try:
            url = _substitute(str(sub["url"]), results)
            payload = _substitute(sub.get("body"), results)
        except _Unresolved as exc:
            raise api_error(400, "PROCESSING_HALTED", f"Invalid reference specified. No value for {exc} found "
                            "in the previous subrequests") from None
        split = urlsplit(url)
        parts = [p for p in split.path.split("/") if p]
        if parts[:2] != ["services", "data"] or len(parts) < 4:
            raise api_error(400, "INVALID_INPUT", f"subrequest URL {url} is not a data API URL")
        method = str(sub["method"]).upper()
        route = resolve(method, parts[3:])
        if route.name == "composite":
            raise api_error(400, "INVALID_INPUT", "a composite subrequest cannot be a composite request")
        inner = Call(method, call.version, parse_qs(split.query, keep_blank_values=True),
                     json.loads(json.dumps(payload)) if payload is not None else None,
                     {**call.headers, **(sub.get("httpHeaders") or {})}, call.settings, call.store, call.stats,
                     call.api_usage)
        reply: Reply = route.handler(inner)
        status, out, headers = reply.status, reply.body, dict(reply.headers)
    except SalesforceError as exc:
        status, out, headers = exc.status, exc.body, {}
    if status < 400:
        results[str(reference)] = out
    return {"body": out, "httpHeaders": headers, "httpStatusCode": status, "referenceId": reference}
