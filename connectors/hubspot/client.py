"""HTTP to HubSpot: paths for the configured API version, pacing under the account's limits, typed errors.

Pacing: a token bucket sized so that no rolling 10-second window exceeds 80% of the
burst limit (rate ``0.8 * R / 10`` per second, burst ``R / 10``), lowered when
HubSpot's ``X-HubSpot-RateLimit-Max`` / ``-Interval-Milliseconds`` headers report a
smaller limit, and slowed when ``-Remaining`` runs low (other apps share the account's
limit). Search has its own per-second bucket. 429s are retried after ``Retry-After``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from connectors import jsonbody
from connectors.base import ApiObserver, BudgetObserver
from connectors.errors import ApiError, AuthError, RecordRejected, TransientApiError
from connectors.http import ApiSession, RateLimiter, Redactor, parse_retry_after, safe_url
from connectors.hubspot.messages import one_line
from connectors.hubspot.settings import HubSpotSettings
from connectors.loops import RepeatGuard

# Waits for a 429 that carries no Retry-After, by HubSpot's policyName.
_POLICY_WAIT = {"SECONDLY": 1.0, "TEN_SECONDLY_ROLLING": 2.0, "DAILY": 60.0}
SIDE = "external"


class HubSpotRejected(RecordRejected):
    """A 4xx from HubSpot about the request's content; ``body`` is HubSpot's error body."""

    def __init__(self, message: str, *, body: Mapping[str, Any] | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.body: Mapping[str, Any] = body or {}


@dataclass(frozen=True)
class Paths:
    """URL paths for one API version: ``v3`` (legacy) or a date version such as ``2026-03``."""

    version: str

    @property
    def dated(self) -> bool:
        return self.version != "v3"

    def objects(self, object_type: str) -> str:
        return f"/crm/objects/{self.version}/{object_type}" if self.dated else f"/crm/v3/objects/{object_type}"

    def properties(self, object_type: str) -> str:
        return f"/crm/properties/{self.version}/{object_type}" if self.dated else f"/crm/v3/properties/{object_type}"

    def associations(self, from_type: str, to_type: str, op: str) -> str:
        if self.dated:
            return f"/crm/associations/{self.version}/{from_type}/{to_type}/batch/{op}"
        return f"/crm/v4/associations/{from_type}/{to_type}/batch/{op}"


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any


def _body(response: httpx.Response) -> Any:
    if not response.content:
        return None
    return jsonbody.loads(response.content)


class HubSpotClient:
    """One HubSpot account over HTTP."""

    def __init__(self, settings: HubSpotSettings, *, pair: str, side: str = SIDE, observer: ApiObserver | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        self.pair = pair
        self.paths = Paths(settings.api_version)
        self._observer = observer
        token = settings.token.get_secret_value()
        self._burst_limit = float(settings.requests_per_10s)
        self.limiter = RateLimiter(self._burst_limit * 0.8 / 10, burst=max(1, int(self._burst_limit // 10)))
        self.search_limiter = RateLimiter(max(0.2, (settings.search_per_second - 1) * 0.9), burst=1)
        self.session = ApiSession(
            settings.base_url, side=side, pair=pair, service="HubSpot", timeout=settings.timeout, verify=settings.verify_tls,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                     "Accept": "application/json"},
            limiter=self.limiter, observer=observer, redactor=Redactor([token]), classifier=self._classify,
            retry=settings.retry_policy(), transport=transport)

    def close(self) -> None:
        self.session.close()

    def _report_daily(self, headers: httpx.Headers) -> None:
        """Tell a budget observer what the account says is left of its day (``X-HubSpot-RateLimit-Daily*``)."""
        if not isinstance(self._observer, BudgetObserver):
            return
        remaining, limit = headers.get("X-HubSpot-RateLimit-Daily-Remaining"), headers.get("X-HubSpot-RateLimit-Daily")
        if remaining is None and limit is None:
            return
        try:
            self._observer.api_budget(self.session.side, remaining=None if remaining is None else int(remaining),
                                      daily_limit=None if limit is None else int(limit))
        except ValueError:
            return  # not a number: HubSpot's pacing headers are advisory

    def guard(self, path: str, entity: str | None = None) -> RepeatGuard:
        """A loop guard for one paged read of ``path``."""
        return RepeatGuard(side=self.session.side, pair=self.pair, entity=entity, service="HubSpot",
                           url=safe_url(f"{self.session.base_url}{path}"))

    # -- requests ----------------------------------------------------------------------

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self._send("GET", path, params=params).body

    def post(self, path: str, body: Any, *, search: bool = False) -> Reply:
        return self._send("POST", path, json=body, search=search)

    def put(self, path: str, body: Any = None) -> Reply:
        return self._send("PUT", path, json=body)

    def delete(self, path: str) -> Reply:
        return self._send("DELETE", path)

    def _send(self, method: str, path: str, *, search: bool = False, **kwargs: Any) -> Reply:
        if search:
            self.search_limiter.acquire()
        # Every call is safe to repeat: creates are upserts by the identity property, updates set
        # values, archives and association writes are idempotent, searches and reads change nothing.
        response = self.session.request(method, path, idempotent=True, **kwargs)
        return Reply(response.status_code, _body(response))

    # -- responses ---------------------------------------------------------------------

    def _classify(self, response: httpx.Response) -> ApiError | None:
        self._pace(response)
        status = response.status_code
        if status < 300:
            try:
                _body(response)
            except ValueError as exc:
                return TransientApiError(f"HubSpot HTTP {status}: {exc}", status=status)
            return None
        try:
            body = _body(response)
        except ValueError:
            body = None
        data: dict[str, Any] = body if isinstance(body, dict) else {}
        category = data.get("category") or data.get("errorType")
        message = one_line(str(data.get("message") or response.reason_phrase or "no message"))
        correlation = data.get("correlationId") or response.headers.get("X-HubSpot-Correlation-Id")
        text = f"HubSpot HTTP {status}{' ' + str(category) if category else ''}: {message}"
        if status == 429:
            policy = data.get("policyName")
            wait = parse_retry_after(response.headers.get("Retry-After"))
            if wait is None:
                wait = _POLICY_WAIT.get(str(policy), 1.0)
            if policy == "SECONDLY":
                self.search_limiter.slow_down(wait)
            return TransientApiError(text, status=status, code=policy or category, correlation_id=correlation,
                                     retry_after=wait)
        if status >= 500 or status in (408, 423):
            return TransientApiError(text, status=status, code=category, correlation_id=correlation,
                                     retry_after=parse_retry_after(response.headers.get("Retry-After")))
        if status in (401, 403):
            return AuthError(text, status=status, code=category, correlation_id=correlation,
                             hint="check the HubSpot token and its scopes (crm.objects.*.read/write, "
                                  "crm.schemas.*.read/write)")
        return HubSpotRejected(text, status=status, code=category, correlation_id=correlation, body=data)

    def _pace(self, response: httpx.Response) -> None:
        """Follow the account's limit as HubSpot reports it, so requests stay under it."""
        headers = response.headers
        self._report_daily(headers)
        try:
            maximum = float(headers["X-HubSpot-RateLimit-Max"])
            interval = float(headers.get("X-HubSpot-RateLimit-Interval-Milliseconds", "10000")) / 1000
        except (KeyError, ValueError):
            return
        if maximum <= 0 or interval <= 0:
            return
        per_10s = maximum * 10 / interval
        if per_10s < self._burst_limit:
            self._burst_limit = per_10s
            self.limiter.rate = per_10s * 0.8 / 10
            self.limiter.capacity = float(max(1, int(per_10s // 10)))
        try:
            remaining = float(headers["X-HubSpot-RateLimit-Remaining"])
        except (KeyError, ValueError):
            return
        low_water = maximum * 0.1
        if remaining < low_water:
            self.limiter.slow_down(interval * (low_water - remaining) / maximum)
