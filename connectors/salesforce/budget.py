"""The org-wide daily API allowance: what Salesforce reports, and how much of it this pair may spend.

Every REST reply (except ``GET /services/data/``) carries ``Sforce-Limit-Info: api-usage=n/m``:
the org's calls in the rolling 24 hours and its allowance, shared with every other integration.
The pair keeps its own calls in a ledger of hourly buckets (a small owner-only JSON file next to the
state database), so its share is counted across runs. The hours are Salesforce's: each reply's
``Date`` header sets the clock the ledger reads, so the rolling window is the org's own, whatever the
local clock says (the emulator's clock can be stepped a day ahead, and the share frees with it).
``GET /limits`` (``DailyApiRequests`` ``Max``/``Remaining``) feeds the same figures as the header. Before each call the meter refuses to go on
when this pair's calls reach ``daily_budget_percent`` of the allowance, or the org's usage reaches
``org_usage_stop_percent``: the pair stops with :class:`DailyBudgetSpent` (exit 75) and the next
run, once the window has rolled on, continues from the cursors it left.
"""

from __future__ import annotations

import email.utils
import json
import os
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from connectors.errors import TransientApiError

_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")
_HOUR = 3600
_DAY = 86_400


class DailyBudgetSpent(TransientApiError):
    """The pair reached its share of the org's daily API allowance, or the org ran out."""


def parse_limit_info(header: str | None) -> tuple[int, int] | None:
    """``(used, max)`` from ``api-usage=n/m`` (other parts such as ``api-bursts=`` are ignored)."""
    match = _USAGE.search(header or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


class ServiceClock:
    """Salesforce's time: the local clock plus the offset the last reply's ``Date`` header showed."""

    def __init__(self, local: Callable[[], float] = time.time) -> None:
        self.local = local
        self.offset = 0.0

    def observe(self, date: str | None) -> None:
        if not date:
            return
        try:
            moment = email.utils.parsedate_to_datetime(date)
        except (TypeError, ValueError):
            return  # no usable Date: keep the last offset
        if moment.tzinfo is not None:
            self.offset = moment.timestamp() - self.local()

    def __call__(self) -> float:
        return self.local() + self.offset


class CallLedger:
    """This pair's calls per hour of ``clock``, persisted when ``path`` is set."""

    def __init__(self, path: Path | None, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock
        self.buckets: dict[int, int] = self._load()

    def _load(self) -> dict[int, int]:
        if self.path is None or not self.path.is_file():
            return {}
        try:
            raw = json.loads(self.path.read_text())
            return {int(k): int(v) for k, v in raw.items()}
        except (ValueError, AttributeError, OSError):
            return {}  # an unreadable ledger only forgets past calls; the org's header still bounds us

    def record(self, calls: int = 1) -> None:
        hour = int(self.clock()) // _HOUR
        self.buckets[hour] = self.buckets.get(hour, 0) + calls

    def last_day(self) -> int:
        now = int(self.clock()) // _HOUR
        # Hours after now are from a clock that has been set back (a new org, an emulator reset): dropped.
        self.buckets = {h: n for h, n in self.buckets.items() if now - _DAY // _HOUR < h <= now + 1}
        return sum(self.buckets.values())

    def frees_in(self, allowed: float) -> float:
        """Seconds until the calls in the window fall to ``allowed`` or fewer, as the oldest hours leave it."""
        total = self.last_day()
        now = self.clock()
        for hour in sorted(self.buckets):
            if total <= allowed:
                break
            total -= self.buckets[hour]
            leaves = hour * _HOUR + _DAY - now  # the hour's calls count until then
            if total <= allowed:
                return max(0.0, leaves)
        return 0.0 if total <= allowed else float(_DAY)

    def save(self) -> None:
        if self.path is None:
            return
        self.last_day()
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump({str(h): n for h, n in sorted(self.buckets.items())}, out)
        os.replace(tmp, self.path)


class BudgetMeter:
    """Reads the limit header of each reply and refuses calls beyond the pair's share."""

    def __init__(self, *, own_percent: float, org_percent: float, ledger: CallLedger, pair: str,
                 clock: ServiceClock | None = None) -> None:
        self.clock = clock or ServiceClock()
        self.own_percent = own_percent
        self.org_percent = org_percent
        self.ledger = ledger
        self.pair = pair
        self.org_used: int | None = None
        self.org_max: int | None = None
        self.calls = 0  # sent by this connector since it started

    def observe(self, header: str | None, date: str | None = None) -> None:
        """One reply's ``Sforce-Limit-Info`` and ``Date``."""
        self.clock.observe(date)
        usage = parse_limit_info(header)
        if usage is not None:
            self.org_used, self.org_max = usage

    def observe_limits(self, body: Any) -> None:
        """A ``GET /limits`` body: ``DailyApiRequests`` ``{Max, Remaining}``."""
        daily = body.get("DailyApiRequests") if isinstance(body, Mapping) else None
        if not isinstance(daily, Mapping):
            return
        top, left = daily.get("Max"), daily.get("Remaining")
        if isinstance(top, int) and isinstance(left, int) and top > 0:
            self.org_max, self.org_used = top, max(0, top - left)

    def sent(self, calls: int = 1) -> None:
        self.calls += calls
        self.ledger.record(calls)

    def share_used(self) -> float | None:
        """This pair's calls in the last 24 hours as a percentage of the allowance."""
        if not self.org_max:
            return None
        return 100.0 * self.ledger.last_day() / self.org_max

    def check(self) -> None:
        """Raise :class:`DailyBudgetSpent` when one more call would pass a limit."""
        if not self.org_max or self.org_used is None:
            return  # nothing reported yet: the first reply tells
        own = self.ledger.last_day()
        allowed = self.org_max * self.own_percent / 100
        if own + 1 > allowed:
            raise self._spent(f"this pair made {own} Salesforce API calls in the last 24 hours, its share "
                              f"({self.own_percent:g}% of the org's {self.org_max}) is used up",
                              retry_after=self.ledger.frees_in(allowed - 1))
        if self.org_used + 1 > self.org_max * self.org_percent / 100:
            raise self._spent(f"the org has used {self.org_used} of its {self.org_max} daily API calls (stop at "
                              f"{self.org_percent:g}%)")

    def exhausted(self, message: str) -> DailyBudgetSpent:
        """Salesforce itself refused a call for the daily limit (403 REQUEST_LIMIT_EXCEEDED)."""
        return self._spent(f"Salesforce refused the call, the org's daily API allowance is spent: {message}")

    def _spent(self, why: str, retry_after: float = 3600.0) -> DailyBudgetSpent:
        self.ledger.save()
        return DailyBudgetSpent(
            f"stopped: {why}", code="API_BUDGET", side="external", pair=self.pair, retry_after=retry_after,
            hint="the pair continues where it stopped once the rolling 24-hour window frees calls; raise "
                 "daily_budget_percent / org_usage_stop_percent to allow more")
