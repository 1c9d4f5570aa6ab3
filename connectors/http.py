"""One HTTP session per side: connection reuse, timeouts, pacing, and retries.

Every connector talks HTTP through :class:`ApiSession`. It retries what is
worth retrying (429, 5xx, timeouts, dropped connections, garbled bodies) with
exponential backoff that honours ``Retry-After``, paces requests with a token
bucket so a side's rate limit is approached rather than hit, reports each
request to the :class:`~connectors.base.ApiObserver`, and scrubs secrets from
every message it raises.

A request that is not idempotent is retried only when it certainly never
reached the server (connect errors) or when the server said so explicitly
(429 / 503 before doing anything); never after a timeout mid-flight.

Bounds (:mod:`connectors.limits`): each request, its whole reply included,
ends by ``limits.request_deadline`` (every socket read and write is given only
the time left, so a server trickling one byte at a time is cut off too) and by
the run's deadline; a reply is streamed and dropped once it passes
``limits.max_reply_mb``. A host that does not resolve or refuses connections,
and a reply that is a web page rather than the API, fail at once with a hint
naming the setting to check. Errors carry the request's URL without its query
string (which may hold an API key).
"""

from __future__ import annotations

import email.utils
import functools
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import structlog
from pydantic import Field
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
)

from connectors import jsoncodec, runtag
from connectors import limits as run_limits
from connectors.base import ApiObserver, ConnectorSettings, NullObserver
from connectors.errors import (
    ApiError,
    NotAnApiError,
    ReplyTooLarge,
    RequestDeadlineExceeded,
    RunDeadlineExceeded,
    TransientApiError,
    UnreachableError,
)
from connectors.scrub import Scrubber, register, scrub
from connectors.transport import SocketTransport, io_deadline

_URL_CACHE_SIZE = 256  # distinct (path, parameters) URLs an ApiSession keeps built
_KEEPALIVE = 10  # idle connections an ApiSession keeps open per origin
log = structlog.get_logger("syncd.http")



@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. ``max_wait`` caps a single sleep, ``max_total`` the whole request."""

    attempts: int = 6
    initial: float = 0.5
    maximum: float = 30.0
    max_total: float = 300.0
    jitter: float = 0.25


class RetrySettings(ConnectorSettings):
    """A connector's settings for retrying a request that failed in a way worth trying again
    (429, 5xx, a timeout, a reply cut short or unreadable): one set of keys on every HTTP side."""

    retry_attempts: int = Field(default=RetryPolicy.attempts, ge=1, le=20,
                                description="tries per request for 429/5xx/timeouts/unreadable replies")
    retry_initial_wait: float = Field(default=RetryPolicy.initial, ge=0, le=60,
                                      description="first backoff in seconds (doubles)")
    retry_max_total: float = Field(default=RetryPolicy.max_total, gt=0, le=3600,
                                   description="give up on a request after this long")

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(attempts=self.retry_attempts, initial=self.retry_initial_wait,
                           max_total=self.retry_max_total)


class RateLimiter:
    """A thread-safe token bucket: ``rate`` requests per second with bursts of ``burst``."""

    def __init__(self, rate: float, burst: int | None = None) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate!r}")
        self.rate = rate
        self.capacity = float(burst if burst is not None else max(1, int(rate)))
        self._tokens = self.capacity
        self._stamp = time.monotonic()
        self._lock = threading.Lock()
        self.waited = 0.0

    def acquire(self) -> float:
        """Take one token, sleeping until one is free; returns the seconds slept."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= 1.0
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self.rate
        if wait > 0:
            time.sleep(wait)
            self.waited += wait
        return wait

    def slow_down(self, seconds: float) -> None:
        """Empty the bucket for ``seconds`` (after the side said we are too fast)."""
        with self._lock:
            self._tokens = min(self._tokens, -seconds * self.rate)


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds (it may be a number or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class Redactor(Scrubber):
    """A session's scrubber (:mod:`connectors.scrub`): what it is given is registered process-wide too,
    so every sink (logs, errors, the state database) masks the session's credentials as well."""

    def add(self, *secrets: str | None) -> None:
        super().add(*secrets)
        register(*secrets)

    def __call__(self, text: str) -> str:
        return scrub(super().__call__(text))


Classifier = Callable[[httpx.Response], "ApiError | None"]
"""Turns a response into the error it means, or ``None`` when it is a success."""


def default_classifier(response: httpx.Response) -> ApiError | None:
    """429 and 5xx are transient; other 4xx are plain API errors."""
    status = response.status_code
    if status == 429 or status >= 500 or status == 408:
        return TransientApiError(
            f"HTTP {status}",
            status=status,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    if status >= 400:
        return ApiError(f"HTTP {status}", status=status)
    return None


def safe_url(url: httpx.URL | str) -> str:
    """``scheme://host[:port]/path`` of ``url``: no query string, no user info (either may hold a secret)."""
    u = httpx.URL(url)
    port = f":{u.port}" if u.port is not None else ""
    return f"{u.scheme}://{u.host}{port}{u.path}"


def safe_base(url: str) -> str:
    """:func:`safe_url` of an API root, as a user writes it in the config (no trailing slash)."""
    return safe_url(url).rstrip("/")


@functools.cache
def tls_context(verify: bool) -> ssl.SSLContext:
    """The TLS context every session of the process shares. httpx builds one per transport, and
    loading the CA bundle costs tens of milliseconds of CPU: a daemon running many pairs, and each
    short ``syncd`` command, open several sessions. A context is safe to share between threads."""
    return httpx.create_ssl_context(verify=verify)  # SSL_CERT_FILE / SSL_CERT_DIR, else certifi


def _root_cause(exc: BaseException) -> BaseException:
    seen = exc
    while seen.__cause__ is not None or seen.__context__ is not None:
        seen = seen.__cause__ or seen.__context__  # type: ignore[assignment]
    return seen


def _looks_like_a_page(response: httpx.Response, body: bytes) -> bool:
    """A web page (or any body that cannot start a JSON document) where the API's JSON was due."""
    head = body.lstrip()[:1]
    if not head:
        return False
    if head == b"<":
        return True
    kind = response.headers.get("Content-Type", "").lower()
    return "json" not in kind and head not in b'{["-0123456789tfn'


class _ReplyCookies(httpx.Cookies):
    """httpx's cookie jar, consulted only for a reply that sets a cookie: for every other reply the
    jar would still build a urllib request and parse the URL again, a sixth of a small request's cost."""

    def extract_cookies(self, response: httpx.Response) -> None:
        headers = response.headers
        if "set-cookie" in headers or "set-cookie2" in headers:
            super().extract_cookies(response)


class ApiSession:
    """An ``httpx.Client`` with the retry, pacing, bounds, observation and redaction rules above.

    ``service`` names the API in hints ("Is there a Cloze API at ..."), ``setting``
    is the key of its URL in the side's config table (``pairs.PAIR.SIDE.SETTING``).
    A web page where JSON was due means a wrong URL; for a 4xx only unless
    ``html_errors`` says the API itself answers its errors with pages (Tryton does).
    """

    def __init__(
        self,
        base_url: str,
        *,
        side: str,
        pair: str | None = None,
        service: str | None = None,
        setting: str = "base_url",
        html_errors: bool = False,
        timeout: float = 30.0,
        verify: bool = True,
        headers: dict[str, str] | None = None,
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        observer: ApiObserver | None = None,
        redactor: Redactor | None = None,
        classifier: Classifier = default_classifier,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.side = side
        self.pair = pair
        self.service = service or side.capitalize()
        self.setting = f"pairs.{pair or 'NAME'}.{side}.{setting}"
        self.base_url = base_url
        self.html_errors = html_errors
        self.retry = retry or RetryPolicy()
        self.limiter = limiter
        self.observer = observer or NullObserver()
        self.redact = redactor or Redactor()
        self.classifier = classifier
        self._sleep = sleep
        self.requests_sent = 0
        self.retries = 0
        if not verify:
            log.warning("tls_verification_disabled", side=side, pair=pair, base_url=safe_url(base_url))
        self._urls: dict[tuple[str, Any], httpx.URL] = {}
        self.tls_context = tls_context(verify)
        # The transport holds the TLS context and the pool: httpx reads ``verify`` and ``limits`` only
        # for a transport of its own.
        self.client = httpx.Client(
            base_url=base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            headers=headers or {},
            transport=transport or SocketTransport(self.tls_context, max_keepalive=_KEEPALIVE),
        )
        # httpx offers no public way to give a client its own jar class (its setter copies into a plain one).
        if isinstance(getattr(self.client, "_cookies", None), httpx.Cookies):
            self.client._cookies = _ReplyCookies(self.client._cookies)

    def close(self) -> None:
        self.client.close()

    def _absolute(self, url: str, kwargs: dict[str, Any]) -> httpx.URL | str:
        """``url`` joined to the base URL with ``kwargs``' query parameters, built once per distinct pair.

        httpx parses and re-encodes the URL, the base and the parameters on every request, which is
        most of its cost for a small request; a connector that sends the same path with the same
        parameters (its credentials) again and again gets the finished URL from here. Takes
        ``params`` out of ``kwargs`` when it answers.
        """
        params = kwargs.get("params")
        try:
            key = (url, tuple(params.items()) if isinstance(params, Mapping) else params)
            built = self._urls.get(key)
        except TypeError:  # unhashable parameter values: build as usual
            return url
        if built is None:
            if len(self._urls) >= _URL_CACHE_SIZE:
                self._urls.clear()
            built = self._urls[key] = self.client.build_request("GET", url, params=params).url
        kwargs.pop("params", None)
        return built

    # -- the one request path ------------------------------------------------------

    def request(self, method: str, url: str, *, idempotent: bool = True, **kwargs: Any) -> httpx.Response:
        """Send a request and return the successful response, or raise a typed ApiError."""

        def should_retry(exc: BaseException) -> bool:
            if not isinstance(exc, TransientApiError) or isinstance(exc, UnreachableError):
                return False
            return idempotent or bool(getattr(exc, "_not_sent", False))

        # Most requests succeed at once: the retry machinery (some 5 % of a small request's CPU) is
        # set up only after a first attempt failed in a way worth retrying, and then replays that
        # failure as its attempt 1, so attempts, waits and the total bound are those of every request.
        started = time.monotonic()
        try:
            return self._send_once(method, url, **kwargs)
        except TransientApiError as exc:
            if not should_retry(exc):
                raise
            first: TransientApiError | None = exc
        retrying = Retrying(
            retry=retry_if_exception(should_retry),
            stop=stop_after_attempt(self.retry.attempts)
            | stop_after_delay(max(0.0, self.retry.max_total - (time.monotonic() - started))),
            wait=self._wait,
            sleep=self._sleep,
            before_sleep=self._before_sleep,
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                if first is not None:
                    failed, first = first, None
                    raise failed
                return self._send_once(method, url, **kwargs)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send_once(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        limits = run_limits.current()
        sends_json = "json" in kwargs
        if sends_json:  # encoded as httpx would, by the faster codec
            kwargs["content"] = jsoncodec.dumps(kwargs.pop("json"))
        request = self.client.build_request(method, self._absolute(url, kwargs), **kwargs)
        # Set on the built request: each merge of headers builds (and re-encodes) httpx's Headers again.
        if sends_json and "Content-Type" not in request.headers:
            request.headers["Content-Type"] = "application/json"
        for name, value in runtag.headers().items():
            request.headers[name] = value
        where = safe_url(request.url)
        left = limits.run_seconds_left()
        if left is not None and left <= 0:
            raise self._run_deadline(limits, method, where)
        if self.limiter is not None:
            self.limiter.acquire()
        # A run that lost its lease sends nothing more, not even the rest of a batch; checked after
        # the pacing wait, which a frozen process may have been stopped in.
        runtag.check()
        started = time.monotonic()
        deadline, is_run_deadline = limits.request_deadline_at(started)
        self.requests_sent += 1
        with io_deadline(deadline):
            try:
                response = self.client.send(request, stream=True)
                try:
                    body = self._read_body(response, limits, deadline, method, where)
                finally:
                    response.close()
            except ReplyTooLarge as exc:
                self.observer.api_request(self.side, method, None, time.monotonic() - started)
                raise exc from None
            except httpx.ConnectError as exc:
                self.observer.api_request(self.side, method, None, time.monotonic() - started)
                raise self._connect_failed(method, where, exc) from None
            except httpx.TimeoutException as exc:
                self.observer.api_request(self.side, method, None, time.monotonic() - started)
                if time.monotonic() >= deadline - 0.01:
                    if is_run_deadline:
                        raise self._run_deadline(limits, method, where) from None
                    raise RequestDeadlineExceeded(
                        f"{method} not answered in full within {limits.request_deadline:g} s",
                        side=self.side, pair=self.pair, url=where,
                        hint=f"the server is slow or stalled; the bound is {limits.setting('request_deadline')}",
                    ) from None
                raise TransientApiError(self._describe(f"{method} timed out", exc), side=self.side, pair=self.pair,
                                        url=where) from None
            except httpx.TransportError as exc:
                self.observer.api_request(self.side, method, None, time.monotonic() - started)
                raise TransientApiError(
                    self._describe(f"{method}: connection dropped", exc), side=self.side, pair=self.pair, url=where
                ) from None
        self.observer.api_request(self.side, method, response.status_code, time.monotonic() - started)
        status = response.status_code
        wrong_server = status < 300 or (status < 500 and status != 429 and not self.html_errors)
        if wrong_server and _looks_like_a_page(response, body):
            raise NotAnApiError(
                f"{method}: HTTP {status} with a {response.headers.get('Content-Type') or 'non-JSON'} reply, "
                f"not the {self.service} API's JSON",
                status=status, side=self.side, pair=self.pair, url=where,
                hint=f"Is there a {self.service} API at {safe_base(self.base_url)}? Check {self.setting}",
            )
        error = self.classifier(response)
        if error is None:
            return response
        error.message = self.redact(error.message)
        if error.correlation_id:
            error.correlation_id = self.redact(str(error.correlation_id))
        if isinstance(error.code, str):
            error.code = self.redact(error.code)
        error.side = error.side or self.side
        error.pair = error.pair or self.pair
        error.url = error.url or where
        if isinstance(error, TransientApiError):
            # 429 and 503 mean the server did nothing: safe to repeat even a create.
            if response.status_code in (429, 503):
                error._not_sent = True  # type: ignore[attr-defined]
            if error.retry_after and self.limiter is not None:
                self.limiter.slow_down(error.retry_after)
        raise error

    def _read_body(self, response: httpx.Response, limits: run_limits.RunLimits, deadline: float, method: str,
                   where: str) -> bytes:
        """The decoded body, read chunk by chunk: stops past ``max_reply_bytes`` or the deadline."""
        cap = limits.max_reply_bytes
        announced = response.headers.get("Content-Length", "")
        if announced.isdigit() and int(announced) > cap and not response.headers.get("Content-Encoding"):
            raise self._too_large(limits, method, where, int(announced))
        parts: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > cap:
                raise self._too_large(limits, method, where, None)
            parts.append(chunk)
            if time.monotonic() > deadline:
                raise httpx.ReadTimeout("request deadline reached", request=response.request)
        body = b"".join(parts)
        # The body is read here, bounded, instead of by httpx; the response then serves it as usual.
        response._content = body
        return body

    def _too_large(self, limits: run_limits.RunLimits, method: str, where: str, size: int | None) -> ReplyTooLarge:
        mb = limits.max_reply_bytes / 1_048_576
        said = f" (it announced {size / 1_048_576:.0f} MB)" if size else ""
        return ReplyTooLarge(
            f"{method}: the reply is larger than {mb:g} MB{said}; reading stopped",
            side=self.side, pair=self.pair, url=where,
            hint=f"raise {limits.setting('max_reply_mb')} if the {self.service} API really sends replies this large",
        )

    def _run_deadline(self, limits: run_limits.RunLimits, method: str, where: str) -> RunDeadlineExceeded:
        return RunDeadlineExceeded(
            f"the run went past its deadline of {limits.run_deadline or 0:g} s during {method}",
            side=self.side, pair=self.pair, url=where,
            hint=f"the next run goes on from the last applied batch; the bound is {limits.setting('run_deadline')}",
        )

    def _connect_failed(self, method: str, where: str, exc: httpx.ConnectError) -> TransientApiError:
        cause = _root_cause(exc)
        host = httpx.URL(where).host
        if isinstance(cause, socket.gaierror):
            return UnreachableError(
                f"{method}: cannot resolve host {host!r} ({cause.strerror or cause})",
                side=self.side, pair=self.pair, url=where,
                hint=f"Is there a {self.service} API at {safe_base(self.base_url)}? Check {self.setting}",
            )
        if isinstance(cause, ConnectionRefusedError):
            return UnreachableError(
                f"{method}: connection refused by {host}:{httpx.URL(where).port or 'default port'}",
                side=self.side, pair=self.pair, url=where,
                hint=f"Is there a {self.service} API at {safe_base(self.base_url)}? Nothing listens there; "
                     f"check {self.setting}",
            )
        err = TransientApiError(self._describe(f"{method}: connection failed", exc), side=self.side,
                                pair=self.pair, url=where)
        err._not_sent = True  # type: ignore[attr-defined]
        return err

    def _describe(self, what: str, exc: Exception) -> str:
        return self.redact(f"{what}: {type(exc).__name__}: {exc}")

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after: float | None = getattr(exc, "retry_after", None)
        backoff = min(self.retry.maximum, self.retry.initial * 2.0 ** (state.attempt_number - 1))
        backoff *= 1 + random.uniform(0, self.retry.jitter)
        wait = backoff if retry_after is None else float(min(max(retry_after, 0.0), self.retry.max_total))
        left = run_limits.current().run_seconds_left()
        # Never sleep past the run's deadline: the next attempt then reports it at once.
        return wait if left is None else max(0.0, min(wait, left))

    def _before_sleep(self, state: RetryCallState) -> None:
        self.retries += 1
        exc = state.outcome.exception() if state.outcome else None
        reason = type(exc).__name__ if exc else "unknown"
        self.observer.api_retry(self.side, reason)
        log.info(
            "api_retry",
            side=self.side,
            pair=self.pair,
            attempt=state.attempt_number,
            of=self.retry.attempts,
            url=getattr(exc, "url", None),
            error=getattr(exc, "message", None) or (str(exc) if exc else None),
            sleep_s=round(state.upcoming_sleep, 3),
        )
