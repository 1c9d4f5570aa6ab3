"""Decides, per API request, which injected fault (if any) it gets.

Counters (``*_next``) are consumed first, then probabilities are drawn from a
``random.Random`` seeded with ``FaultSettings.seed``, so a run repeats exactly
for the same request sequence.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from connectors.cloze.emulator.settings import FaultSettings, as_dict, updated

Pre = Literal["none", "rate_limit", "error", "timeout"]
Post = Literal["none", "drop", "malformed"]
_COUNTERS = ("rate_limit_next", "error_next", "timeout_next", "drop_next", "malformed_next")


@dataclass(frozen=True)
class Decision:
    latency_s: float = 0.0
    pre: Pre = "none"
    post: Post = "none"
    retry_after: float | None = None


class FaultInjector:
    """Holds the fault settings and the state they need (counters, RNG, token bucket)."""

    def __init__(self, settings: FaultSettings | None = None) -> None:
        self._lock = threading.Lock()
        self.settings = FaultSettings()
        self._remaining: dict[str, int] = {}
        self._rng = random.Random(0)
        self._tokens = 0.0
        self._stamp = time.monotonic()
        self.configure(as_dict(settings or FaultSettings()), reset=True)

    def configure(self, changes: Mapping[str, Any], *, reset: bool = False) -> dict[str, Any]:
        """Apply ``changes`` (``reset`` starts from the defaults); returns the new state."""
        with self._lock:
            base = FaultSettings() if reset else self.settings
            self.settings = updated(base, changes)
            if reset:
                self._remaining = {}
            for name in _COUNTERS:
                if reset or name in changes:
                    self._remaining[name] = int(getattr(self.settings, name))
            if reset or "seed" in changes:
                self._rng = random.Random(f"cloze-emulator-faults:{self.settings.seed}")
            if reset or "rate_limit_per_second" in changes or "rate_limit_burst" in changes:
                self._tokens = float(self._burst())
                self._stamp = time.monotonic()
        return self.snapshot()

    def snapshot(self) -> dict[str, Any]:
        out = as_dict(self.settings)
        out.update(self._remaining)
        return out

    def _burst(self) -> int:
        s = self.settings
        if s.rate_limit_burst:
            return s.rate_limit_burst
        return max(1, int(s.rate_limit_per_second or 1))

    def _take(self, name: str) -> bool:
        if self._remaining.get(name, 0) > 0:
            self._remaining[name] -= 1
            return True
        return False

    def _draw(self, rate: float) -> bool:
        return rate > 0 and self._rng.random() < rate

    def decide(self, path: str) -> Decision:
        with self._lock:
            s = self.settings
            latency = s.latency_ms / 1000.0
            if s.latency_jitter_ms:
                latency += self._rng.uniform(0, s.latency_jitter_ms) / 1000.0
            if s.paths and not path.startswith(s.paths):
                return Decision(latency)
            pre: Pre = "none"
            retry_after: float | None = None
            if self._take("rate_limit_next"):
                pre, retry_after = "rate_limit", s.retry_after_s
            elif s.rate_limit_per_second:
                wait = self._bucket(s.rate_limit_per_second)
                if wait > 0:
                    pre, retry_after = "rate_limit", float(max(1, math.ceil(wait)))
            if pre == "none":
                if self._take("error_next") or self._draw(s.error_rate):
                    pre = "error"
                elif self._take("timeout_next") or self._draw(s.timeout_rate):
                    pre = "timeout"
            if pre == "rate_limit" and not s.rate_limit_retry_after:
                retry_after = None
            post: Post = "none"
            if pre == "none":
                if self._take("drop_next") or self._draw(s.drop_rate):
                    post = "drop"
                elif self._take("malformed_next") or self._draw(s.malformed_rate):
                    post = "malformed"
            return Decision(latency, pre, post, retry_after)

    def _bucket(self, rate: float) -> float:
        """Take a token; 0 when granted, else the seconds until one is free."""
        now = time.monotonic()
        self._tokens = min(float(self._burst()), self._tokens + (now - self._stamp) * rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / rate
