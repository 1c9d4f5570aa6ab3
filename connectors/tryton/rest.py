"""Tryton over its 8.x REST API (``/<db>/rest/model/<model>``) with a user application key.

Measured against trytond 8.2: ``GET`` searches (``d`` = urlsafe-base64 JSON domain,
``o`` = order, ``f`` = fields, ``s``/``p`` = limit/offset), ``POST`` creates one
record, ``PUT /<id>`` writes one, ``DELETE /<id>`` deletes one, and
``POST /<id>/<method>`` calls any RPC method such as a workflow button. The
context travels in ``X-Tryton-Context`` (urlsafe-base64 JSON).

The REST routes never check ``_timestamp`` (the server only reads it from JSON-RPC
contexts), so a versioned write here reads the record's ``_timestamp`` just before
writing and refuses if it moved. That narrows the window to one round trip but
cannot close it; use ``auth = "session"`` where the server's own check matters.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from connectors.base import ApiObserver
from connectors.errors import ApiError, AuthError, TransientApiError
from connectors.http import ApiSession, RateLimiter, Redactor, parse_retry_after
from connectors.tryton.client import ConcurrentEdit, Domain, Order, TrytonClient, TrytonRejected, undot
from connectors.tryton.encoding import WireError, dumps, loads
from connectors.tryton.settings import TrytonSettings


def _b64(value: Any) -> str:
    return base64.urlsafe_b64encode(dumps(value).encode()).decode()


def classify(response: httpx.Response) -> ApiError | None:
    """REST statuses: 400 carries Tryton's message as JSON; a 500 is a refusal, not worth retrying."""
    status = response.status_code
    if status < 400:
        return None
    if status in (429, 502, 503, 504, 408):
        return TransientApiError(f"HTTP {status}", status=status,
                                 retry_after=parse_retry_after(response.headers.get("Retry-After")))
    if status == 401:
        return AuthError("Tryton refused the REST key (HTTP 401)", status=status)
    message = f"HTTP {status}"
    if response.headers.get("content-type", "").startswith("application/json"):
        try:
            body = json.loads(response.content)
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("message"):
            message = str(body["message"]) + (f": {body['description']}" if body.get("description") else "")
    code = {400: "UserError", 403: "AccessError", 404: "NotFound", 409: "UserWarning"}.get(status, "ServerError")
    return TrytonRejected(f"Tryton {code}: {message}", status=status, code=code)


class RestClient(TrytonClient):
    """The REST API as the key's user."""

    def __init__(self, settings: TrytonSettings, *, pair: str | None = None, side: str = "external",
                 observer: ApiObserver | None = None, transport: httpx.BaseTransport | None = None) -> None:
        assert settings.rest_key is not None, "validated by TrytonSettings"
        key = settings.rest_key.get_secret_value()
        self.settings = settings
        self.side = side
        self.pair = pair
        self.http = ApiSession(
            settings.url, side=side, pair=pair, service="Tryton", setting="url", html_errors=True,
            timeout=settings.timeout, verify=settings.verify_tls,
            limiter=RateLimiter(settings.requests_per_second) if settings.requests_per_second else None,
            observer=observer, redactor=Redactor([key]), classifier=classify, transport=transport,
            headers={"Authorization": f"Bearer {key}"})
        self.root = f"/{settings.database}/rest/model"
        self._context: dict[str, Any] | None = None

    @property
    def server_checks_versions(self) -> bool:
        return False

    def _request(self, method: str, path: str, *, idempotent: bool = True, context: Mapping[str, Any] | None = None,
                 body: Any = None, params: list[tuple[str, str]] | None = None) -> Any:
        headers = {"X-Tryton-Context": _b64(dict(context))} if context else {}
        if body is not None:
            headers["Content-Type"] = "application/json"
        response = self.http.request(method, f"{self.root}/{path}", idempotent=idempotent, headers=headers,
                                     params=params, content=dumps(body).encode() if body is not None else None)
        if not response.content:
            return None
        try:
            return loads(response.content)
        except (ValueError, WireError) as exc:
            raise ApiError(f"Tryton sent an unreadable reply to {method} {path}: {exc}", side=self.side,
                           pair=self.pair) from None

    def preferences(self) -> dict[str, Any]:
        if self._context is None:
            prefs = self._request("POST", "res.user/get_preferences", body={"context_only": True})
            self._context = dict(prefs) if isinstance(prefs, dict) else {}
        return self._context

    def _ctx(self, **extra: Any) -> dict[str, Any]:
        return {**self.preferences(), **extra}

    def search_read(self, model: str, domain: Domain, fields: Sequence[str], *, offset: int = 0,
                    limit: int | None = None, order: Order | None = None,
                    active_test: bool = True) -> list[dict[str, Any]]:
        params: list[tuple[str, str]] = [("d", _b64(domain)), ("p", str(offset))]
        params += [("f", f) for f in fields]
        if limit is not None:
            params.append(("s", str(limit)))
        if order:
            params.append(("o", _b64([list(o) for o in order])))
        ctx = self._ctx() if active_test else self._ctx(active_test=False)
        rows = self._request("GET", model, params=params, context=ctx)
        return [undot(r) for r in rows or []]

    def create(self, model: str, values: Sequence[Mapping[str, Any]]) -> list[int]:
        ids = []
        for vals in values:  # the REST route creates one record per call
            row = self._request("POST", model, body=dict(vals), params=[("f", "id")], idempotent=False,
                                context=self._ctx())
            ids.append(int(row["id"]))
        return ids

    def write(self, model: str, record_id: int, values: Mapping[str, Any], *, timestamp: str | None = None) -> None:
        if timestamp is not None:
            now = self._request("GET", f"{model}/{record_id}", params=[("f", "_timestamp")],
                                context=self._ctx(active_test=False))
            if str((now or {}).get("_timestamp")) != timestamp:
                raise ConcurrentEdit("Tryton: the record was modified in the meanwhile", code="ConcurrencyException",
                                     side=self.side, pair=self.pair)
        # The REST routes find the record by search: archived ones only with active_test off.
        self._request("PUT", f"{model}/{record_id}", body=dict(values), params=[("f", "id")], idempotent=False,
                      context=self._ctx(active_test=False))

    def delete(self, model: str, ids: Sequence[int]) -> None:
        for record_id in ids:
            self._request("DELETE", f"{model}/{record_id}", idempotent=False, context=self._ctx(active_test=False))

    def button(self, model: str, name: str, ids: Sequence[int]) -> None:
        for record_id in ids:
            self._request("POST", f"{model}/{record_id}/{name}", body={}, params=[("f", "id")], idempotent=False,
                          context=self._ctx())

    def fields_get(self, model: str, names: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
        result = self._request("POST", f"{model}/fields_get", body={"fields_names": list(names) if names else None},
                               context=self._ctx())
        return dict(result or {})

    def close(self) -> None:
        self.http.close()
