"""One request as the handlers see it, the reply they return, and the emulator's counters."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors.salesforce.emulator.errors import json_error
from connectors.salesforce.emulator.settings import EmulatorSettings
from connectors.salesforce.emulator.store import Store


@dataclass
class Stats:
    """Request and write counters, readable as attributes and as ``GET /_emulator/stats``."""

    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    requests: int = 0
    api_calls: int = 0  # calls counted against the daily budget
    limit_refused: int = 0
    unauthorized: int = 0
    records_created: int = 0
    records_updated: int = 0
    records_deleted: int = 0
    faults_injected: int = 0
    by_route: Counter[str] = field(default_factory=Counter)
    by_status: Counter[int] = field(default_factory=Counter)

    def bump(self, name: str, amount: int = 1) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + amount)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"requests": self.requests, "api_calls": self.api_calls, "limit_refused": self.limit_refused,
                    "unauthorized": self.unauthorized, "records_created": self.records_created,
                    "records_updated": self.records_updated, "records_deleted": self.records_deleted,
                    "writes": self.records_created + self.records_updated + self.records_deleted,
                    "faults_injected": self.faults_injected, "by_route": dict(self.by_route),
                    "by_status": {str(k): v for k, v in self.by_status.items()}}

    def reset(self) -> None:
        with self.lock:
            for name in ("requests", "api_calls", "limit_refused", "unauthorized", "records_created",
                         "records_updated", "records_deleted", "faults_injected"):
                setattr(self, name, 0)
            self.by_route.clear()
            self.by_status.clear()


@dataclass
class Call:
    method: str
    version: str
    query: dict[str, list[str]]
    body: Any
    headers: Mapping[str, str]
    settings: EmulatorSettings
    store: Store
    stats: Stats
    api_usage: int = 0  # the daily budget's usage after this call counted

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)

    def json_object(self) -> dict[str, Any]:
        if not isinstance(self.body, dict):
            raise json_error("Expected a JSON object in the request body")
        return self.body

    def allow_save(self) -> bool:
        """``Sforce-Duplicate-Rule-Header: allowSave=true`` lets an alert-type duplicate rule pass."""
        header = (self.header("Sforce-Duplicate-Rule-Header") or "").replace(" ", "").lower()
        return "allowsave=true" in header.split(";")


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


__all__ = ["Call", "Reply", "Stats"]
