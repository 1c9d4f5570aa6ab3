"""The org-wide daily API allowance: what Salesforce reports, and how much of it this pair may spend.

Every REST reply (except ``GET /services/data/``) carries ``Sforce-Limit-Info: api-usage=n/m``:
the org's calls in the rolling 24 hours and its allowance, shared with every other integration.
The pair keeps its own calls in a ledger of hourly buckets (a small owner-only JSON file next to the
state database), so its share is counted across runs. Before each call the meter refuses to go on
when this pair's calls reach ``daily_budget_percent`` of the allowance, or the org's usage reaches
``org_usage_stop_percent``: the pair stops with :class:`DailyBudgetSpent` (exit 75) and the next
run, once the window has rolled on, continues from the cursors it left.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

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


class CallLedger:
    """This pair's calls per hour, persisted when ``path`` is set."""

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
        oldest = int(self.clock() - _DAY) // _HOUR
        self.buckets = {h: n for h, n in self.buckets.items() if h > oldest}
        return sum(self.buckets.values())

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

    def __init__(self, *, own_percent: float, org_percent: float, ledger: CallLedger, pair: str) -> None:
        self.own_percent = own_percent
        self.org_percent = org_percent
        self.ledger = ledger
        self.pair = pair
        self.org_used: int | None = None
        self.org_max: int | None = None
        self.calls = 0  # sent by this connector since it started

    def observe(self, header: str | None) -> None:
        usage = parse_limit_info(header)
        if usage is not None:
            self.org_used, self.org_max = usage

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
        if own + 1 > self.org_max * self.own_percent / 100:
            raise self._spent(f"this pair made {own} Salesforce API calls in the last 24 hours, its share "
                              f"({self.own_percent:g}% of the org's {self.org_max}) is used up")
        if self.org_used + 1 > self.org_max * self.org_percent / 100:
            raise self._spent(f"the org has used {self.org_used} of its {self.org_max} daily API calls (stop at "
                              f"{self.org_percent:g}%)")

    def exhausted(self, message: str) -> DailyBudgetSpent:
        """Salesforce itself refused a call for the daily limit (403 REQUEST_LIMIT_EXCEEDED)."""
        return self._spent(f"Salesforce refused the call, the org's daily API allowance is spent: {message}")

    def _spent(self, why: str) -> DailyBudgetSpent:
        self.ledger.save()
        return DailyBudgetSpent(
            f"stopped: {why}", code="API_BUDGET", side="external", pair=self.pair, retry_after=3600.0,
            hint="the pair continues where it stopped once the rolling 24-hour window frees calls; raise "
                 "daily_budget_percent / org_usage_stop_percent to allow more")
