"""The bounds every run works within: request deadline, reply size, records held, run deadline.

The engine sets one :class:`RunLimits` for the thread that runs a pair
(:func:`applied`); every :class:`~connectors.http.ApiSession` and every change
feed reads it through :func:`current`, so a connector, built-in or plug-in,
obeys the pair's limits without passing them around. Outside a run (``config
check --online``, seeding) the defaults apply and there is no run deadline.

The run deadline is a :func:`time.monotonic` instant, so a stepped wall clock
neither shortens nor stretches it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace

DEFAULT_REQUEST_DEADLINE = 120.0
DEFAULT_MAX_REPLY_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_RECORDS = 200_000
DEFAULT_RUN_DEADLINE = 24 * 3600.0


@dataclass(frozen=True)
class RunLimits:
    """One pair's limits; ``run_deadline_at`` is a monotonic instant (``None``: no run deadline).

    ``pair`` names the pair so an error can point at the setting to change
    (``pairs.NAME.limits.KEY``).
    """

    request_deadline: float = DEFAULT_REQUEST_DEADLINE
    max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES
    max_records: int = DEFAULT_MAX_RECORDS
    run_deadline: float | None = None
    run_deadline_at: float | None = None
    pair: str | None = None

    def setting(self, key: str) -> str:
        """The config key of one limit, for hints."""
        return f"pairs.{self.pair or 'NAME'}.limits.{key}"

    def run_seconds_left(self) -> float | None:
        if self.run_deadline_at is None:
            return None
        return self.run_deadline_at - time.monotonic()

    def request_deadline_at(self, now: float) -> tuple[float, bool]:
        """When one request must be over, and whether that is the run's deadline (not the request's)."""
        own = now + self.request_deadline
        if self.run_deadline_at is not None and self.run_deadline_at <= own:
            return self.run_deadline_at, True
        return own, False


_DEFAULTS = RunLimits()
_current: ContextVar[RunLimits | None] = ContextVar("syncd_run_limits", default=None)


def current() -> RunLimits:
    """The limits of the run this thread is doing (the defaults outside a run)."""
    return _current.get() or _DEFAULTS


@contextmanager
def applied(limits: RunLimits) -> Iterator[RunLimits]:
    """Apply ``limits`` in this thread; a ``run_deadline`` starts counting now."""
    if limits.run_deadline is not None and limits.run_deadline_at is None:
        limits = replace(limits, run_deadline_at=time.monotonic() + limits.run_deadline)
    token = _current.set(limits)
    try:
        yield limits
    finally:
        _current.reset(token)
