"""One request as the emulator's handlers see it, the reply they return, and the counters they bump."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from connectors.hubspot.emulator.errors import bad_request
from connectors.hubspot.emulator.settings import EmulatorSettings
from connectors.hubspot.emulator.store import Store


@dataclass
class Stats:
    """Request and write counters, readable as attributes and as ``GET /_emulator/stats``."""

    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    requests: int = 0
    rate_limited: int = 0  # every 429 sent
    search_rate_limited: int = 0  # 429s from the per-second search limit
    daily_limited: int = 0
    unauthorized: int = 0
    records_created: int = 0
    records_updated: int = 0
    records_archived: int = 0
    associations_created: int = 0
    associations_archived: int = 0
    faults_injected: int = 0
    by_route: Counter[str] = field(default_factory=Counter)
    by_status: Counter[int] = field(default_factory=Counter)

    def bump(self, name: str, amount: int = 1) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + amount)

    @property
    def writes(self) -> int:
        """Records created, updated or archived."""
        return self.records_created + self.records_updated + self.records_archived

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": self.requests,
                "rate_limited": self.rate_limited,
                "search_rate_limited": self.search_rate_limited,
                "daily_limited": self.daily_limited,
                "unauthorized": self.unauthorized,
                "records_created": self.records_created,
                "records_updated": self.records_updated,
                "records_archived": self.records_archived,
                "writes": self.writes,
                "associations_created": self.associations_created,
                "associations_archived": self.associations_archived,
                "faults_injected": self.faults_injected,
                "by_route": dict(self.by_route),
                "by_status": {str(k): v for k, v in self.by_status.items()},
            }

    def reset(self) -> None:
        with self.lock:
            for name in ("requests", "rate_limited", "search_rate_limited", "daily_limited", "unauthorized",
                         "records_created", "records_updated", "records_archived", "associations_created",
                         "associations_archived", "faults_injected"):
                setattr(self, name, 0)
            self.by_route.clear()
            self.by_status.clear()


@dataclass
class Call:
    """A parsed request with what a handler needs."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    settings: EmulatorSettings
    store: Store
    stats: Stats

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def flag(self, name: str) -> bool:
        """A boolean query parameter; ``archived=False`` (as hubspot-api-client sends it) is accepted."""
        value = self.arg(name)
        if value is None:
            return False
        lowered = value.strip().lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0", ""):
            return False
        raise bad_request(f"{name} must be true or false, got {value!r}")

    def names(self, name: str) -> list[str] | None:
        """A list parameter, given repeated or comma-separated; ``None`` if absent."""
        values = self.query.get(name)
        if values is None:
            return None
        return [part.strip() for value in values for part in value.split(",") if part.strip()]

    def json_object(self) -> dict[str, Any]:
        if not isinstance(self.body, dict):
            raise bad_request("Invalid input JSON: expected a JSON object body")
        return self.body


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
