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
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import structlog
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
)

from connectors.base import ApiObserver, NullObserver
from syncd.errors import ApiError, TransientApiError
from syncd.scrub import Scrubber, register, scrub

log = structlog.get_logger("syncd.http")



@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. ``max_wait`` caps a single sleep, ``max_total`` the whole request."""

    attempts: int = 6
    initial: float = 0.5
    maximum: float = 30.0
    max_total: float = 300.0
    jitter: float = 0.25


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
    """A session's scrubber (:mod:`syncd.scrub`): what it is given is registered process-wide too,
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


class ApiSession:
    """An ``httpx.Client`` with the retry, pacing, observation and redaction rules above."""

    def __init__(
        self,
        base_url: str,
        *,
        side: str,
        pair: str | None = None,
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
        self.retry = retry or RetryPolicy()
        self.limiter = limiter
        self.observer = observer or NullObserver()
        self.redact = redactor or Redactor()
        self.classifier = classifier
        self._sleep = sleep
        self.requests_sent = 0
        self.retries = 0
        if not verify:
            log.warning("tls_verification_disabled", side=side, pair=pair, base_url=base_url)
        self.client = httpx.Client(
            base_url=base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            verify=verify,
            headers=headers or {},
            limits=httpx.Limits(max_connections=10, max_keepalive_connections=10),
            transport=transport,
        )

    def close(self) -> None:
        self.client.close()

    # -- the one request path ------------------------------------------------------

    def request(self, method: str, url: str, *, idempotent: bool = True, **kwargs: Any) -> httpx.Response:
        """Send a request and return the successful response, or raise a typed ApiError."""

        def should_retry(exc: BaseException) -> bool:
            if not isinstance(exc, TransientApiError):
                return False
            return idempotent or bool(getattr(exc, "_not_sent", False))

        retrying = Retrying(
            retry=retry_if_exception(should_retry),
            stop=stop_after_attempt(self.retry.attempts) | stop_after_delay(self.retry.max_total),
            wait=self._wait,
            sleep=self._sleep,
            before_sleep=self._before_sleep,
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                return self._send_once(method, url, **kwargs)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send_once(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        if self.limiter is not None:
            self.limiter.acquire()
        started = time.monotonic()
        self.requests_sent += 1
        try:
            response = self.client.request(method, url, **kwargs)
            response.read()
        except httpx.ConnectError as exc:
            self.observer.api_request(self.side, method, None, time.monotonic() - started)
            err = TransientApiError(self._describe("connection failed", exc), side=self.side, pair=self.pair)
            err._not_sent = True  # type: ignore[attr-defined]
            raise err from None
        except httpx.TimeoutException as exc:
            self.observer.api_request(self.side, method, None, time.monotonic() - started)
            raise TransientApiError(self._describe("timed out", exc), side=self.side, pair=self.pair) from None
        except httpx.TransportError as exc:
            self.observer.api_request(self.side, method, None, time.monotonic() - started)
            raise TransientApiError(
                self._describe("connection dropped", exc), side=self.side, pair=self.pair
            ) from None
        self.observer.api_request(self.side, method, response.status_code, time.monotonic() - started)
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
        if isinstance(error, TransientApiError):
            # 429 and 503 mean the server did nothing: safe to repeat even a create.
            if response.status_code in (429, 503):
                error._not_sent = True  # type: ignore[attr-defined]
            if error.retry_after and self.limiter is not None:
                self.limiter.slow_down(error.retry_after)
        raise error

    def _describe(self, what: str, exc: Exception) -> str:
        return self.redact(f"{what}: {type(exc).__name__}: {exc}")

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after: float | None = getattr(exc, "retry_after", None)
        backoff = min(self.retry.maximum, self.retry.initial * 2.0 ** (state.attempt_number - 1))
        backoff *= 1 + random.uniform(0, self.retry.jitter)
        if retry_after is not None:
            return float(min(max(retry_after, 0.0), self.retry.max_total))
        return backoff

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
            error=str(exc) if exc else None,
            sleep_s=round(state.upcoming_sleep, 3),
        )
