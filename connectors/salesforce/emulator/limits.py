"""The org-wide daily API budget: a rolling 24 hours of the emulated clock, shared by every token.

Each accepted REST call counts one; a call refused for the budget does not count. Replies carry
``Sforce-Limit-Info: api-usage=n/m`` (optionally with ``; api-bursts=``).
"""

from __future__ import annotations

import collections
import threading

from connectors.salesforce.emulator.clock import Clock
from connectors.salesforce.emulator.errors import request_limit

DAY_SECONDS = 86_400
BURST_CAPACITY = 750


class DailyBudget:
    def __init__(self, clock: Clock) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._calls: collections.deque[float] = collections.deque()

    def _expire(self, now: float) -> None:
        while self._calls and self._calls[0] <= now - DAY_SECONDS:
            self._calls.popleft()

    def used(self) -> int:
        with self._lock:
            self._expire(self._clock.now())
            return len(self._calls)

    def admit(self, limit: int | None) -> int:
        """Count one call and return the usage, or raise 403 REQUEST_LIMIT_EXCEEDED when spent."""
        now = self._clock.now()
        with self._lock:
            self._expire(now)
            if limit is not None and len(self._calls) >= limit:
                error = request_limit()
                error.headers["Sforce-Limit-Info"] = header(len(self._calls), limit, "plain")
                raise error
            self._calls.append(now)
            return len(self._calls)

    def spend(self, count: int) -> None:
        """Use ``count`` calls at once, as the org's other integrations would."""
        now = self._clock.now()
        with self._lock:
            self._calls.extend([now] * count)

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()


def header(used: int, limit: int | None, form: str) -> str:
    text = f"api-usage={used}/{limit if limit is not None else 5_000_000}"
    if form == "bursts":
        text += f"; api-bursts=0/{BURST_CAPACITY}"
    return text
