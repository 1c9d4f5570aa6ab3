"""HubSpot's request limits per token: a rolling 10-second window, a daily count, and search per second.

Only accepted requests are counted. A refused one gets HubSpot's 429 body
(``errorType: RATE_LIMIT``, ``policyName``, ``category: RATE_LIMITS``) and a
``Retry-After`` of the seconds until the window has room again.
"""

from __future__ import annotations

import collections
import datetime as dt
import math
import threading
import time
from dataclasses import dataclass, field

from connectors.hubspot.emulator.errors import EmulatorError, error_body

WINDOW_SECONDS = 10.0


@dataclass
class _TokenUsage:
    window: collections.deque[float] = field(default_factory=collections.deque)
    search: collections.deque[float] = field(default_factory=collections.deque)
    day: dt.date | None = None
    day_count: int = 0


@dataclass(frozen=True)
class Usage:
    """What the rate-limit headers of one reply report."""

    max_per_window: int | None
    remaining: int | None
    daily: int | None
    daily_remaining: int | None

    def headers(self) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.daily is not None and self.daily_remaining is not None:
            out["X-HubSpot-RateLimit-Daily"] = str(self.daily)
            out["X-HubSpot-RateLimit-Daily-Remaining"] = str(max(0, self.daily_remaining))
        if self.max_per_window is not None and self.remaining is not None:
            out["X-HubSpot-RateLimit-Interval-Milliseconds"] = str(int(WINDOW_SECONDS * 1000))
            out["X-HubSpot-RateLimit-Max"] = str(self.max_per_window)
            out["X-HubSpot-RateLimit-Remaining"] = str(max(0, self.remaining))
            # The 2018 names: the same window expressed per second.
            out["X-HubSpot-RateLimit-Secondly"] = str(max(1, self.max_per_window // 10))
            out["X-HubSpot-RateLimit-Secondly-Remaining"] = str(max(0, self.remaining // 10))
        return out


class RateLimits:
    """Counts requests per token and refuses those over a limit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._usage: dict[str, _TokenUsage] = {}

    def reset(self) -> None:
        with self._lock:
            self._usage.clear()

    def admit(self, token: str, *, per_10s: int | None, daily: int | None, search_per_second: int | None,
              is_search: bool) -> Usage:
        """Count one request, or raise the 429 HubSpot would send."""
        now = time.monotonic()
        with self._lock:
            usage = self._usage.setdefault(token, _TokenUsage())
            today = dt.datetime.now(dt.UTC).date()
            if usage.day != today:
                usage.day, usage.day_count = today, 0
            while usage.window and usage.window[0] <= now - WINDOW_SECONDS:
                usage.window.popleft()
            while usage.search and usage.search[0] <= now - 1.0:
                usage.search.popleft()
            if daily is not None and usage.day_count >= daily:
                raise _too_many("You have reached your daily limit.", "DAILY", _seconds_to_midnight())
            if per_10s is not None and len(usage.window) >= per_10s:
                wait = usage.window[0] + WINDOW_SECONDS - now
                raise _too_many("You have reached your ten_secondly_rolling limit.", "TEN_SECONDLY_ROLLING", wait)
            if is_search and search_per_second is not None and len(usage.search) >= search_per_second:
                wait = usage.search[0] + 1.0 - now
                raise _too_many("You have reached your secondly limit.", "SECONDLY", wait)
            usage.window.append(now)
            usage.day_count += 1
            if is_search:
                usage.search.append(now)
            return Usage(
                max_per_window=per_10s,
                remaining=None if per_10s is None else per_10s - len(usage.window),
                daily=daily,
                daily_remaining=None if daily is None else daily - usage.day_count,
            )


def _too_many(message: str, policy: str, wait: float) -> EmulatorError:
    body = error_body(message, "RATE_LIMITS", extra={"errorType": "RATE_LIMIT", "policyName": policy})
    return EmulatorError(429, body, {"Retry-After": str(max(1, math.ceil(wait)))})


def _seconds_to_midnight() -> float:
    now = dt.datetime.now(dt.UTC)
    midnight = (now + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight - now).total_seconds()
