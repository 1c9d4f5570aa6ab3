"""HTTP to one Salesforce org: a token per session, one re-mint on 401, the daily budget, typed errors.

REST errors are a JSON array of ``{message, errorCode, fields}``. A 401 ``INVALID_SESSION_ID``
mints a new token once and repeats the call; a second 401 is an :class:`AuthError`. A 403
``REQUEST_LIMIT_EXCEEDED`` is the daily allowance being spent (the pair stops); 5xx and
``UNABLE_TO_LOCK_ROW`` are retried by the shared session.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from connectors import jsonbody
from connectors.base import ApiObserver
from connectors.errors import ApiError, AuthError, RecordRejected, TransientApiError
from connectors.http import ApiSession, Redactor, safe_url
from connectors.loops import RepeatGuard
from connectors.salesforce.auth import RefreshTokenStore, Token, TokenSource
from connectors.salesforce.budget import BudgetMeter, CallLedger, ServiceClock
from connectors.salesforce.settings import SalesforceSettings

SIDE = "external"


class SalesforceRejected(RecordRejected):
    """A 4xx about the request's content; ``errors`` is Salesforce's error array."""

    def __init__(self, message: str, *, errors: list[dict[str, Any]] | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.errors: list[dict[str, Any]] = errors or []


class _SessionExpired(ApiError):
    """401 INVALID_SESSION_ID: not retried by the session; the client re-mints once."""


class _LimitRefused(ApiError):
    """403 REQUEST_LIMIT_EXCEEDED: not retried by the session; the client stops the pair."""


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any
    headers: httpx.Headers


def _errors(body: Any) -> list[dict[str, Any]]:
    if isinstance(body, list):
        return [e for e in body if isinstance(e, dict)]
    if isinstance(body, dict):
        return [body]
    return []


def error_text(error: Mapping[str, Any]) -> str:
    code = error.get("errorCode") or error.get("statusCode") or "ERROR"
    fields = error.get("fields") or []
    where = f" [{', '.join(map(str, fields))}]" if fields else ""
    message = " ".join(str(error.get("message") or "no message").split())
    return f"{code}: {message}{where}"


class SalesforceClient:
    """One org over HTTP, with paths relative to ``/services/data/vNN.0``."""

    def __init__(self, settings: SalesforceSettings, *, pair: str, observer: ApiObserver | None = None,
                 state_dir: Path | None = None, transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        self.pair = pair
        self.observer = observer
        self.transport = transport
        self.redactor = Redactor()
        refresh_path = Path(settings.refresh_token_file) if settings.refresh_token_file else (
            state_dir / f"salesforce-{pair}.refresh-token" if state_dir else None)
        initial = settings.refresh_token.get_secret_value() if settings.refresh_token else ""
        self.tokens = TokenSource(settings, pair=pair, redactor=self.redactor,
                                  refresh_store=RefreshTokenStore(refresh_path, initial), transport=transport)
        ledger_path = state_dir / f"salesforce-{pair}.calls.json" if state_dir else None
        clock = ServiceClock()  # the ledger's hours are the org's (each reply's Date)
        self.budget = BudgetMeter(own_percent=settings.daily_budget_percent,
                                  org_percent=settings.org_usage_stop_percent, ledger=CallLedger(ledger_path, clock),
                                  pair=pair, clock=clock)
        self.token: Token | None = None
        self._session: ApiSession | None = None
        self.prefix = f"/services/data/v{settings.api_version}"

    # -- session ----------------------------------------------------------------------

    def _mint(self) -> ApiSession:
        self.token = self.tokens.mint()
        if self._session is not None and self._session.base_url != self.token.instance_url:
            self._session.close()
            self._session = None
        if self._session is None:
            headers = {"Content-Type": "application/json", "Accept": "application/json",
                       "Sforce-Call-Options": f"client={self.settings.call_options_client}"}
            if self.settings.duplicate_rules == "allow":
                headers["Sforce-Duplicate-Rule-Header"] = "allowSave=true"
            self._session = ApiSession(
                self.token.instance_url, side=SIDE, pair=self.pair, service="Salesforce", setting="instance_url",
                timeout=self.settings.timeout, verify=self.settings.verify_tls, headers=headers,
                observer=self.observer, redactor=self.redactor, classifier=self._classify,
                retry=self.settings.retry_policy(), transport=self.transport)
        self._session.client.headers["Authorization"] = f"Bearer {self.token.access_token}"
        return self._session

    @property
    def session(self) -> ApiSession:
        return self._session if self._session is not None else self._mint()

    def close(self) -> None:
        self.budget.ledger.save()
        if self._session is not None:
            self._session.close()
        self.tokens.close()

    def guard(self, what: str, entity: str | None = None) -> RepeatGuard:
        return RepeatGuard(side=SIDE, pair=self.pair, entity=entity, service="Salesforce",
                           url=safe_url(f"{self.session.base_url}{self.prefix}/{what}"))

    # -- requests ---------------------------------------------------------------------

    def versions(self) -> list[str]:
        """``GET /services/data/``: the API versions the org serves (uncounted, no auth needed)."""
        reply = self.session.request("GET", "/services/data/")
        body = jsonbody.loads(reply.content)
        return [str(v.get("version")) for v in body if isinstance(v, dict)] if isinstance(body, list) else []

    def request(self, method: str, path: str, *, idempotent: bool = True, headers: Mapping[str, str] | None = None,
                **kwargs: Any) -> Reply:
        """``path`` below ``/services/data/vNN.0`` (or a full ``/services/...`` path, as in nextRecordsUrl)."""
        url = path if path.startswith("/services/") else f"{self.prefix}{path}"
        self.budget.check()
        for attempt in (1, 2):
            session = self.session
            before = session.requests_sent
            try:
                response = session.request(method, url, idempotent=idempotent, headers=dict(headers or {}), **kwargs)
            except _SessionExpired as exc:
                self.budget.sent(session.requests_sent - before)
                if attempt == 2 or self.settings.auth == "session":
                    raise AuthError(exc.message, status=401, code=exc.code, side=SIDE, pair=self.pair,
                                    hint="the access token was refused right after it was minted; check the "
                                         "app's OAuth policies and the user's access") from None
                self._mint()
                continue
            except _LimitRefused as exc:
                raise self.budget.exhausted(exc.message) from None
            except BaseException:
                self.budget.sent(session.requests_sent - before)  # retries inside the session count too
                raise
            self.budget.sent(session.requests_sent - before)
            body = jsonbody.loads(response.content) if response.content else None
            return Reply(response.status_code, body, response.headers)
        raise AssertionError("unreachable")  # pragma: no cover

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.request("GET", path, params=params).body

    def query(self, soql: str, *, all_rows: bool = False) -> Iterator[list[dict[str, Any]]]:
        """Pages of rows, following ``nextRecordsUrl``; ``all_rows`` uses queryAll (deleted and merged rows)."""
        resource = "queryAll" if all_rows else "query"
        headers = {"Sforce-Query-Options": f"batchSize={self.settings.query_batch_size}"}
        reply = self.request("GET", f"/{resource}", params={"q": soql}, headers=headers)
        guard = self.guard(resource)
        while True:
            body = reply.body if isinstance(reply.body, dict) else {}
            rows = [r for r in body.get("records") or [] if isinstance(r, dict)]
            if rows:
                yield rows
            following = body.get("nextRecordsUrl")
            if body.get("done", True) or not following:
                return
            guard.see(following, what="nextRecordsUrl")
            reply = self.request("GET", str(following), headers=headers)

    def collection(self, method: str, path: str, body: Any) -> list[dict[str, Any]]:
        """An sObject Collections call: one result per record, in request order."""
        reply = self.request(method, f"/composite/sobjects{path}", json=body)
        return [r if isinstance(r, dict) else {} for r in reply.body] if isinstance(reply.body, list) else []

    # -- responses --------------------------------------------------------------------

    def _classify(self, response: httpx.Response) -> ApiError | None:
        self.budget.observe(response.headers.get("Sforce-Limit-Info"), response.headers.get("Date"))
        status = response.status_code
        if status < 300:
            return None
        try:
            body = jsonbody.loads(response.content) if response.content else None
        except ValueError:
            body = None
        errors = _errors(body)
        first = errors[0] if errors else {}
        code = str(first.get("errorCode") or first.get("error") or status)
        text = f"Salesforce HTTP {status}: " + ("; ".join(error_text(e) for e in errors[:3]) if errors
                                                  else response.reason_phrase or "no message")
        if status == 401:
            return _SessionExpired(text, status=status, code=code)
        if status == 403 and code == "REQUEST_LIMIT_EXCEEDED":
            if "concurrent" in str(first.get("message", "")).lower():
                return TransientApiError(text, status=status, code=code, retry_after=30.0)
            return _LimitRefused(text, status=status, code=code)
        if status >= 500 or code in ("UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE"):
            return TransientApiError(text, status=status, code=code)
        if status == 403:
            return AuthError(text, status=status, code=code,
                             hint="the integration user lacks API access or permission for this object "
                                  "(API Enabled, object and field permissions)")
        if status == 410:
            return ApiError(f"Salesforce API version {self.settings.api_version} is retired ({text})",
                            status=status, code=code, field="api_version",
                            hint="set api_version to a version GET /services/data/ lists")
        return SalesforceRejected(text, status=status, code=code, errors=errors)


def soql_string(value: str) -> str:
    """A SOQL string literal: quotes and backslashes escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def path_segment(value: str) -> str:
    return quote(value, safe="")
