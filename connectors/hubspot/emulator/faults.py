"""Decides which fault, if any, a request gets: a scripted one first, then by rate."""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connectors.hubspot.emulator.settings import FaultSettings

# Faults decided before the request is handled (nothing is changed) and after (the change is made).
BEFORE = ("drop", "error", "rate_limit")
AFTER = ("slow", "malformed")


@dataclass(frozen=True)
class Fault:
    kind: str
    status: int = 502
    seconds: float = 0.0


class FaultPlan:
    """Holds the fault settings and the remaining script; thread-safe."""

    def __init__(self, settings: FaultSettings) -> None:
        self._lock = threading.Lock()
        self.settings = settings
        self._script: list[dict[str, Any]] = [dict(s) for s in settings.script]
        self._random = random.Random(settings.seed)

    def replace(self, settings: FaultSettings) -> None:
        with self._lock:
            self.settings = settings
            self._script = [dict(s) for s in settings.script]
            self._random = random.Random(settings.seed)

    def pending_script(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(s) for s in self._script]

    def pick(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for index, step in enumerate(self._script):
                if _matches(step, method, path):
                    del self._script[index]
                    return Fault(str(step.get("kind", "error")), int(step.get("status", self.settings.error_status)),
                                 float(step.get("seconds", self.settings.slow_seconds)))
            s = self.settings
            roll = self._random.random
            if s.drop_rate and roll() < s.drop_rate:
                return Fault("drop")
            if s.error_rate and roll() < s.error_rate:
                return Fault("error", s.error_status)
            if s.slow_rate and roll() < s.slow_rate:
                return Fault("slow", seconds=s.slow_seconds)
            if s.malformed_rate and roll() < s.malformed_rate:
                return Fault("malformed")
        return None


def _matches(step: Mapping[str, Any], method: str, path: str) -> bool:
    wanted_method = step.get("method")
    if wanted_method and str(wanted_method).upper() != method:
        return False
    fragment = step.get("match")
    return not fragment or str(fragment) in path
