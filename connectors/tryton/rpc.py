"""Tryton over JSON-RPC (``POST /<db>/rpc/``) with a login session.

``common.db.login`` answers ``[user_id, session, ...]``; later calls carry
``Authorization: Session base64("<login>:<user_id>:<session>")``. A session that
expired (HTTP 401) is replaced by logging in again, once per call. Every model
call ends with the user's context (company, employee, language) from
``res.user.get_preferences``, plus ``_timestamp`` for a versioned write, which the
server checks itself (ConcurrencyException).
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from connectors.base import ApiObserver
from connectors.errors import ApiError, AuthError
from connectors.http import ApiSession, RateLimiter, Redactor, default_classifier
from connectors.tryton.client import Domain, Order, TrytonClient, rejection, undot
from connectors.tryton.encoding import WireError, dumps, loads
from connectors.tryton.settings import TrytonSettings


def classify(response: httpx.Response) -> ApiError | None:
    """401/403 mean the login or session was refused; the rest as usual (429/5xx transient)."""
    if response.status_code in (401, 403):
        return AuthError(f"Tryton refused the credentials (HTTP {response.status_code})",
                         status=response.status_code)
    return default_classifier(response)


class RpcClient(TrytonClient):
    """A JSON-RPC session as ``settings.username``."""

    def __init__(self, settings: TrytonSettings, *, pair: str | None = None, side: str = "external",
                 observer: ApiObserver | None = None, transport: httpx.BaseTransport | None = None) -> None:
        assert settings.username and settings.password, "validated by TrytonSettings"
        self.settings = settings
        self.side = side
        self.pair = pair
        self._password = settings.password.get_secret_value()
        self.redactor = Redactor([self._password])
        self.http = ApiSession(
            settings.url, side=side, pair=pair, service="Tryton", setting="url", html_errors=True,
            timeout=settings.timeout, verify=settings.verify_tls,
            limiter=RateLimiter(settings.requests_per_second) if settings.requests_per_second else None,
            observer=observer, redactor=self.redactor, classifier=classify, transport=transport,
            headers={"Content-Type": "application/json"})
        self.path = f"/{settings.database}/rpc/"
        self._ids = itertools.count(1)
        self._auth: str | None = None
        self._context: dict[str, Any] | None = None
        self.logins = 0

    @property
    def server_checks_versions(self) -> bool:
        return True

    # -- transport -----------------------------------------------------------------------

    def _post(self, method: str, params: list[Any], *, idempotent: bool, auth: bool = True) -> Any:
        headers = {"Authorization": self._auth} if auth and self._auth else {}
        body = dumps({"id": next(self._ids), "method": method, "params": params}).encode()
        response = self.http.request("POST", self.path, content=body, headers=headers, idempotent=idempotent)
        try:
            data = loads(response.content)
        except (ValueError, WireError) as exc:
            raise ApiError(f"Tryton sent an unreadable reply to {method}: {exc}", side=self.side,
                           pair=self.pair) from None
        if not isinstance(data, dict):
            raise ApiError(f"Tryton sent an unexpected reply to {method}", side=self.side, pair=self.pair)
        if data.get("error") is not None:
            err = rejection(data["error"], side=self.side, pair=self.pair)
            err.message = self.redactor(err.message)
            raise err
        return data.get("result")

    def login(self) -> None:
        """Open a session (and learn the user's context)."""
        s = self.settings
        self._auth = None
        result = self._post("common.db.login", [s.username, {"password": self._password}, s.language],
                            idempotent=True, auth=False)
        if not isinstance(result, list) or len(result) < 2:
            raise AuthError("Tryton refused the login", side=self.side, pair=self.pair)
        user_id, session = result[0], str(result[1])
        self.redactor.add(session)
        token = base64.b64encode(f"{s.username}:{user_id}:{session}".encode()).decode()
        self.redactor.add(token)
        self._auth = f"Session {token}"
        self.logins += 1
        self._context = None

    def call(self, method: str, params: list[Any], *, idempotent: bool = True) -> Any:
        """A model or common call with an open session; logs in again once if it expired."""
        if self._auth is None:
            self.login()
        try:
            return self._post(method, params, idempotent=idempotent)
        except AuthError:
            self.login()
            return self._post(method, params, idempotent=idempotent)

    def _ctx(self, **extra: Any) -> dict[str, Any]:
        return {**self.preferences(), **extra}

    # -- TrytonClient ----------------------------------------------------------------------

    def preferences(self) -> dict[str, Any]:
        if self._context is None:
            if self._auth is None:
                self.login()
            prefs = self.call("model.res.user.get_preferences", [True, {}])
            self._context = dict(prefs) if isinstance(prefs, dict) else {}
        return self._context

    def search_read(self, model: str, domain: Domain, fields: Sequence[str], *, offset: int = 0,
                    limit: int | None = None, order: Order | None = None,
                    active_test: bool = True) -> list[dict[str, Any]]:
        ctx = self._ctx() if active_test else self._ctx(active_test=False)
        rows = self.call(f"model.{model}.search_read",
                         [domain, offset, limit, [list(o) for o in order] if order else None, list(fields), ctx])
        return [undot(r) for r in rows or []]

    def create(self, model: str, values: Sequence[Mapping[str, Any]]) -> list[int]:
        ids = self.call(f"model.{model}.create", [list(values), self._ctx()], idempotent=False)
        return [int(i) for i in ids]

    def write(self, model: str, record_id: int, values: Mapping[str, Any], *, timestamp: str | None = None) -> None:
        ctx = self._ctx(_timestamp={f"{model},{record_id}": timestamp}) if timestamp else self._ctx()
        self.call(f"model.{model}.write", [[record_id], dict(values), ctx], idempotent=False)

    def delete(self, model: str, ids: Sequence[int]) -> None:
        self.call(f"model.{model}.delete", [list(ids), self._ctx()], idempotent=False)

    def button(self, model: str, name: str, ids: Sequence[int]) -> None:
        self.call(f"model.{model}.{name}", [list(ids), self._ctx()], idempotent=False)

    def fields_get(self, model: str, names: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
        result = self.call(f"model.{model}.fields_get", [list(names) if names else None, self._ctx()])
        return dict(result or {})

    def server_version(self) -> str:
        body = dumps({"id": next(self._ids), "method": "common.server.version", "params": []}).encode()
        return str(loads(self.http.request("POST", "/rpc/", content=body).content).get("result"))

    def logout(self) -> None:
        if self._auth is not None:
            try:
                self._post("common.db.logout", [], idempotent=True)
            except ApiError:
                pass  # an expired session needs no logout
            self._auth = None

    def close(self) -> None:
        try:
            self.logout()
        finally:
            self.http.close()
