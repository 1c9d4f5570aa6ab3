"""Request and write counters, so tests can assert "zero writes on the second run"."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

WRITE_OPS = ("/create", "/update", "/delete")


def endpoint_name(method: str, path: str) -> str:
    return f"{method} {path}"


def is_write(method: str, path: str) -> bool:
    """Requests that can change records or the timeline (every create, update, delete)."""
    return path.startswith("/v1/") and (method in ("POST", "DELETE")) and path.endswith(WRITE_OPS)


# The request log keeps the most recent calls only, so a long sandbox session stays small.
CALL_LOG_SIZE = 100_000


@dataclass(frozen=True)
class CallRecord:
    """One API request as the server saw it: when (monotonic, this host), what, and which run sent it."""

    started: float
    finished: float
    method: str
    path: str
    status: int
    run: str | None  # the X-Syncd-Run header
    lease: str | None  # the X-Syncd-Lease header (the run's lease epoch)

    @property
    def write(self) -> bool:
        return is_write(self.method, self.path)


class Stats:
    """Thread-safe counters; :meth:`snapshot` is what ``GET /_emulator/stats`` returns."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.requests: Counter[str] = Counter()
            self.writes_by_endpoint: Counter[str] = Counter()
            self.faults: Counter[str] = Counter()
            self.webhooks: Counter[str] = Counter()
            self.responses: Counter[str] = Counter()
            self.effective_changes = 0
            self.calls: deque[CallRecord] = deque(maxlen=CALL_LOG_SIZE)

    def request(self, method: str, path: str) -> None:
        with self._lock:
            name = endpoint_name(method, path)
            self.requests[name] += 1
            if is_write(method, path):
                self.writes_by_endpoint[name] += 1

    def call(self, started: float, method: str, path: str, status: int, headers: dict[str, str]) -> None:
        record = CallRecord(started, time.monotonic(), method, path, status,
                            headers.get("x-syncd-run"), headers.get("x-syncd-lease"))
        with self._lock:
            self.calls.append(record)

    def call_log(self) -> list[CallRecord]:
        with self._lock:
            return list(self.calls)

    def response(self, status: int, errorcode: int | None) -> None:
        with self._lock:
            self.responses[f"{status}" if errorcode in (None, 0) else f"{status}/errorcode {errorcode}"] += 1

    def fault(self, kind: str) -> None:
        with self._lock:
            self.faults[kind] += 1

    def webhook(self, kind: str) -> None:
        with self._lock:
            self.webhooks[kind] += 1

    def changed(self, count: int) -> None:
        with self._lock:
            self.effective_changes += count

    @property
    def writes(self) -> int:
        with self._lock:
            return sum(self.writes_by_endpoint.values())

    @property
    def total_requests(self) -> int:
        with self._lock:
            return sum(self.requests.values())

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": dict(self.requests),
                "total_requests": sum(self.requests.values()),
                "writes": sum(self.writes_by_endpoint.values()),
                "writes_by_endpoint": dict(self.writes_by_endpoint),
                "effective_changes": self.effective_changes,
                "responses": dict(self.responses),
                "faults": dict(self.faults),
                "webhooks": dict(self.webhooks),
            }
