"""Per-account budgets: who holds an account now, and how much of its daily API budget is spent.

Two pairs can reach one account (the same Cloze login, the same HubSpot portal and
token). Their rate limits belong to the account, not to either pair, so:

- a run takes the **account leases** of both its sides together with its pair lease
  (:meth:`state.store.StateStore.claim_lease` with ``accounts=``); a second pair on one of
  those accounts is refused until the first run ends, and each client's request pacing
  stays valid because it is alone on the account;
- every batch a run writes adds the calls it made to the **API usage ledger**
  ``(account_key, day) -> calls, last_remaining`` (:class:`UsageCounter`, flushed in the
  batch's own transaction);
- :func:`account_available` says whether a pair may be started on an account now: not
  while it is held, nor once :data:`BUDGET_SHARE` of its day's budget is spent.

Account keys come from :func:`syncd.engine.accounts.account_keys` and name no secret.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import Connection, text
from sqlmodel import Session

from state.clock import lease_expired_sql, wall_ms
from state.models import ApiUsage

BUDGET_SHARE = 0.9  # past 90 % of the day's calls an account is left for the rest of the day


def usage_day(epoch_ms: int | None = None) -> str:
    """The ledger's day (UTC, ``YYYY-MM-DD``) of an instant, by default now."""
    stamp = wall_ms() if epoch_ms is None else epoch_ms
    return datetime.fromtimestamp(stamp / 1000, tz=UTC).strftime("%Y-%m-%d")


@dataclass(frozen=True)
class Availability:
    """Whether a run may start on an account now, and why not."""

    available: bool
    reason: str = ""
    calls: int = 0  # today's calls so far
    budget: int | None = None  # today's budget, when known


class UsageCounter:
    """API calls of one run per account, counted as they happen and written once per batch.

    ``count`` is called from the HTTP session's observer (any thread); ``flush`` from
    the transaction that records a batch, so the ledger moves with what the batch did.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._remaining: dict[str, int] = {}
        self._limit: dict[str, int] = {}

    def count(self, account_key: str, calls: int = 1) -> None:
        with self._lock:
            self._calls[account_key] += calls

    def reported(self, account_key: str, *, remaining: int | None = None, daily_limit: int | None = None) -> None:
        """What the account said of its day (e.g. HubSpot's ``X-HubSpot-RateLimit-Daily-Remaining``)."""
        with self._lock:
            if remaining is not None:
                self._remaining[account_key] = remaining
            if daily_limit is not None:
                self._limit[account_key] = daily_limit

    def pending(self) -> int:
        with self._lock:
            return sum(self._calls.values())

    def flush(self, s: Session | Connection, day: str | None = None) -> None:
        """Add what was counted since the last flush to the ledger, inside the caller's transaction."""
        with self._lock:
            calls, self._calls = self._calls, Counter()
            remaining, self._remaining = self._remaining, {}
            limit, self._limit = self._limit, {}
        when = day or usage_day()
        for key in sorted(set(calls) | set(remaining) | set(limit)):
            record_usage(s, key, when, calls.get(key, 0), remaining=remaining.get(key), daily_limit=limit.get(key))


def record_usage(s: Session | Connection, account_key: str, day: str, calls: int, *,
                 remaining: int | None = None, daily_limit: int | None = None) -> None:
    """Add ``calls`` to the account's count for ``day``. ``remaining`` is what the account said is left
    after them; without a new report the last one is lowered by ``calls``, so calls + remaining
    stays the day's budget."""
    s.execute(text(
        "INSERT INTO api_usage (account_key, day, calls, last_remaining, daily_limit, updated_at) "
        "VALUES (:key, :day, :calls, :remaining, :limit, :now) "
        "ON CONFLICT (account_key, day) DO UPDATE SET calls = api_usage.calls + excluded.calls, "
        "last_remaining = CASE WHEN excluded.last_remaining IS NOT NULL THEN excluded.last_remaining "
        "WHEN api_usage.last_remaining > excluded.calls THEN api_usage.last_remaining - excluded.calls "
        "WHEN api_usage.last_remaining IS NOT NULL THEN 0 END, "
        "daily_limit = COALESCE(excluded.daily_limit, api_usage.daily_limit), updated_at = excluded.updated_at"),
        {"key": account_key, "day": day, "calls": calls, "remaining": remaining, "limit": daily_limit,
         "now": wall_ms()})


def day_budget(row: ApiUsage | None, daily_budget: int | None = None) -> int | None:
    """The day's budget of an account: ``daily_budget`` when the caller knows it (configured),
    else what the account itself reported, its daily limit or the calls made plus what remained."""
    if daily_budget is not None or row is None:
        return daily_budget
    if row.daily_limit is not None:
        return row.daily_limit
    if row.last_remaining is not None:
        return row.calls + row.last_remaining
    return None


def budget_spent(row: ApiUsage | None, daily_budget: int | None = None) -> bool:
    """At least :data:`BUDGET_SHARE` of the day's budget is used (pure)."""
    budget = day_budget(row, daily_budget)
    calls = row.calls if row is not None else 0
    return budget is not None and budget > 0 and calls >= BUDGET_SHARE * budget


def account_available(store: StoreLike, account_key: str, *, daily_budget: int | None = None,
                      day: str | None = None) -> Availability:
    """May a run start on ``account_key`` now? Not while another pair's run holds it, nor once
    :data:`BUDGET_SHARE` of the day's budget is spent (see :func:`day_budget`).
    """
    holder = store.account_holder(account_key)
    when = day or usage_day()
    row = store.usage(account_key, when)
    calls = row.calls if row is not None else 0
    if holder is not None:
        return Availability(False, f"account {account_key} is busy: pair {holder!r} is running on it", calls,
                            daily_budget)
    budget = day_budget(row, daily_budget)
    if budget_spent(row, daily_budget):
        assert budget is not None
        return Availability(
            False, f"account {account_key} has used {calls:,} of its {budget:,} calls for {when} "
                   f"({calls / budget:.0%}, at least {BUDGET_SHARE:.0%}): deferred until the day's budget resets",
            calls, budget)
    return Availability(True, "", calls, budget)


def unavailable_accounts(conn: Connection, day: str | None = None) -> frozenset[str]:
    """Every account a live lease holds or whose day's budget is spent, in two statements
    (PostgreSQL: lease expiry by the server's clock). For a fleet's tick, which asks about every
    due pair at once; :func:`account_available` answers for one account and says why."""
    held = conn.execute(text(
        "SELECT account_leases.account_key FROM account_leases JOIN leases AS holder "
        "ON holder.pair = account_leases.pair AND holder.epoch = account_leases.epoch "
        f"WHERE holder.owner <> '' AND NOT {lease_expired_sql('holder', 'postgresql')}")).scalars().all()
    rows = conn.execute(text(
        "SELECT account_key, calls, last_remaining, daily_limit FROM api_usage WHERE day = :day"),
        {"day": day or usage_day()}).all()
    spent = {key for key, calls, remaining, limit in rows
             if budget_spent(ApiUsage(account_key=key, day="", calls=calls, last_remaining=remaining,
                                      daily_limit=limit, updated_at=0))}
    return frozenset({str(k) for k in held} | {str(k) for k in spent})


class StoreLike(Protocol):
    """What :func:`account_available` reads (:class:`state.store.StateStore` is one)."""

    def account_holder(self, account_key: str) -> str | None: ...

    def usage(self, account_key: str, day: str) -> ApiUsage | None: ...
