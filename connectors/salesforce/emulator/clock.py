"""The emulated org's clock: wall time plus an offset the admin API can advance, or frozen.

Stamps are whole seconds (Salesforce returns ``.000`` milliseconds), so many records can share one.
"""

from __future__ import annotations

import datetime as dt
import threading
import time

UTC = dt.UTC


class Clock:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0
        self._frozen: float | None = None

    def now(self) -> float:
        """Seconds since the epoch, emulated."""
        with self._lock:
            return self._frozen if self._frozen is not None else time.time() + self._offset

    def stamp(self) -> int:
        """The current emulated time in whole seconds, as record stamps carry it."""
        return int(self.now())

    def advance(self, seconds: float) -> float:
        with self._lock:
            if self._frozen is not None:
                self._frozen += seconds
            else:
                self._offset += seconds
        return self.now()

    def freeze(self, at: float | None) -> None:
        """Hold the clock at ``at`` (seconds since the epoch); ``None`` lets it run again from there."""
        with self._lock:
            if at is None:
                if self._frozen is not None:
                    self._offset = self._frozen - time.time()
                self._frozen = None
            else:
                self._frozen = float(at)


def format_datetime(seconds: float) -> str:
    """Salesforce's datetime form: ``2026-01-01T09:30:00.000+0000``."""
    moment = dt.datetime.fromtimestamp(int(seconds), UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def parse_datetime(text: str) -> float:
    """Seconds since the epoch from an ISO 8601 datetime (``Z``, ``+0000`` or ``+00:00``); ValueError otherwise."""
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    elif len(value) > 5 and value[-5] in "+-" and value[-4:].isdigit():
        value = value[:-2] + ":" + value[-2:]
    moment = dt.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"datetime {text!r} has no time zone")
    return moment.timestamp()


def parse_date(text: str) -> dt.date:
    return dt.date.fromisoformat(text.strip())
