"""Webhook subscriptions and their delivery (spec §6).

After every effective change the emulator POSTs ``[{<kind>: record, changes,
event}]`` to each matching subscription's ``target_url`` from a background
thread, with ``X-Cloze-Subscription-ID`` (and ``X-Cloze-Client-Reference``).
The receiver must answer 200 with ``OK`` or ``{"status":"ok"}``; timeouts,
network errors and 5xx are retried on Cloze's schedule (30 s once for change
events; 30/90/270 s for audit events), any other reply suspends the
subscription at once. Every delay and window is multiplied by
``webhook_time_scale`` so tests can run the schedule in milliseconds.
"""

from __future__ import annotations

import heapq
import itertools
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from connectors.cloze.emulator import account
from connectors.cloze.emulator.settings import BehaviourSettings
from connectors.cloze.emulator.stats import Stats
from connectors.cloze.emulator.store import Change, Rejected
from connectors.cloze.wire import EVENTS
from connectors.model import Entity

CHANGE_RETRIES = (30.0,)
AUDIT_RETRIES = (30.0, 90.0, 270.0)
# (window seconds, failures allowed in it) before a subscription is suspended
_LIMITS = ((60.0, 5), (3600.0, 10), (86400.0, 25))


@dataclass
class Subscription:
    uniqueid: str
    event: str
    target_url: str
    scope: str = "local"
    filters: list[Any] = field(default_factory=list)
    client_type: str = ""
    client_reference: str = ""
    ttl: int | None = None
    date: int = 0
    suspended: bool = False
    usage: dict[str, Any] = field(default_factory=lambda: {"successCount": 0, "failCount": 0})
    attempts: list[tuple[float, bool]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "uniqueid": self.uniqueid,
            "event": self.event,
            "target_url": self.target_url,
            "scope": self.scope,
            "date": self.date,
            "suspended": self.suspended,
            "usage": dict(self.usage),
            "filters": list(self.filters),
        }
        for key in ("client_type", "client_reference"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        if self.ttl is not None:
            out["ttl"] = self.ttl
        return out

    def expired(self, now_ms: int) -> bool:
        return self.ttl is not None and self.ttl > 0 and now_ms > self.date + self.ttl * 1000


@dataclass(order=True)
class _Delivery:
    due: float
    seq: int
    sub_id: str = field(compare=False)
    body: list[dict[str, Any]] = field(compare=False)
    attempt: int = field(compare=False, default=0)


def contains(fragment: Any, value: Any, entity: Entity, name: str = "") -> bool:
    """Filter semantics: every name, value and structure of ``fragment`` appears in ``value``; ``*`` is a wildcard."""
    if fragment == "*":
        return value not in (None, "", [], {})
    if isinstance(fragment, Mapping):
        return isinstance(value, Mapping) and all(
            k in value and contains(v, value[k], entity, k) for k, v in fragment.items()
        )
    if isinstance(fragment, list):
        items = value if isinstance(value, list) else [value]
        return all(any(contains(f, item, entity, name) for item in items) for f in fragment)
    if isinstance(fragment, str) and isinstance(value, str):
        wanted, actual = fragment.strip().lower(), value.strip().lower()
        if wanted == actual:
            return True
        if name == "stage":
            return account.stage_label(entity, actual).lower() == wanted
        if name == "segment":
            return account.segment_label(entity, actual).lower() == wanted
        return False
    return bool(fragment == value)


class WebhookHub:
    """Subscriptions plus one delivery thread working through a time-ordered queue."""

    def __init__(
        self, behaviour: Callable[[], BehaviourSettings], stats: Stats, new_id: Callable[[], str]
    ) -> None:
        self.behaviour = behaviour
        self.stats = stats
        self._new_id = new_id
        self._subs: dict[str, Subscription] = {}
        self._queue: list[_Delivery] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._busy = 0
        self._stopping = False
        self._thread: threading.Thread | None = None

    # -- subscriptions -------------------------------------------------------------

    def subscribe(self, body: Mapping[str, Any]) -> str:
        event = str(body.get("event") or "")
        if event not in EVENTS:
            raise Rejected(26, f"An invalid value was provided for the event: {event}")
        target = str(body.get("target_url") or "")
        if not target.startswith(("http://", "https://")):
            raise Rejected(26, f"An invalid value was provided for the target_url: {target}")
        filters = body.get("filters") or []
        if not isinstance(filters, list):
            raise Rejected(26, "An invalid value was provided for the filters")
        ttl_raw = body.get("ttl")
        try:
            ttl = int(ttl_raw) if ttl_raw not in (None, "") else None
        except (TypeError, ValueError):
            raise Rejected(26, f"An invalid value was provided for the ttl: {ttl_raw}") from None
        reference = str(body.get("client_reference") or "")
        with self._cond:
            if reference:
                for uid, sub in list(self._subs.items()):
                    if sub.event == event and sub.client_reference == reference:
                        del self._subs[uid]  # same event + reference replaces (spec §6)
            uid = self._new_id()
            self._subs[uid] = Subscription(
                uniqueid=uid,
                event=event,
                target_url=target,
                scope=str(body.get("scope") or "local"),
                filters=list(filters),
                client_type=str(body.get("client_type") or ""),
                client_reference=reference,
                ttl=ttl,
                date=int(time.time() * 1000),
            )
        return uid

    def unsubscribe(self, body: Mapping[str, Any]) -> bool:
        uid = body.get("uniqueid") or body.get("uniqueId")
        reference = body.get("client_reference")
        event = body.get("event")
        with self._cond:
            victims = [
                k
                for k, s in self._subs.items()
                if (uid and k == uid)
                or (reference and s.client_reference == reference and (not event or s.event == event))
            ]
            for key in victims:
                del self._subs[key]
        return bool(victims)

    def listing(self) -> list[dict[str, Any]]:
        now = int(time.time() * 1000)
        with self._cond:
            return [s.as_json() for s in self._subs.values() if not s.expired(now)]

    # -- delivery --------------------------------------------------------------------

    def notify(self, changes: list[Change]) -> None:
        now = int(time.time() * 1000)
        with self._cond:
            for change in changes:
                for sub in self._subs.values():
                    body = self._payload(sub, change, now)
                    if body is not None:
                        heapq.heappush(
                            self._queue, _Delivery(time.monotonic(), next(self._seq), sub.uniqueid, body)
                        )
            self._cond.notify_all()

    def _payload(self, sub: Subscription, change: Change, now: int) -> list[dict[str, Any]] | None:
        kind, _, rest = sub.event.partition(".")
        if kind != change.entity or sub.suspended or sub.expired(now):
            return None
        audit = rest == "audit.change"
        if audit and not change.audit:
            return None
        changes = dict(change.audit) if audit else {}
        record = dict(change.record)
        if sub.filters and not any(
            self._filter_matches(f, change.entity, record, changes) for f in sub.filters
        ):
            return None
        if sub.client_type == "human":
            for name, label in (("stage", account.stage_label), ("segment", account.segment_label)):
                if isinstance(record.get(name), str) and record[name] != "none":
                    record[name] = label(change.entity, record[name])
        return [{change.entity: record, "changes": changes, "event": sub.event}]

    @staticmethod
    def _filter_matches(
        flt: Any, entity: Entity, record: Mapping[str, Any], changes: Mapping[str, Any]
    ) -> bool:
        if not isinstance(flt, Mapping):
            return False
        if entity in flt and not contains(flt[entity], record, entity):
            return False
        if "changes" in flt and not contains(flt["changes"], changes, entity):
            return False
        return entity in flt or "changes" in flt

    def start(self) -> None:
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="cloze-emulator-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until no delivery is queued or in flight (retries count); ``False`` on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    def _run(self) -> None:
        # The client (its TLS context loads the CA bundle: tens of ms of CPU) is made at the first
        # delivery: most emulators never send one, and a test fleet starts a thousand of them.
        http: httpx.Client | None = None
        try:
            while True:
                with self._cond:
                    while not self._stopping and (not self._queue or self._queue[0].due > time.monotonic()):
                        wait = self._queue[0].due - time.monotonic() if self._queue else None
                        self._cond.wait(wait)
                    if self._stopping:
                        return
                    item = heapq.heappop(self._queue)
                    sub = self._subs.get(item.sub_id)
                    if sub is None or sub.suspended:
                        self._cond.notify_all()
                        continue
                    self._busy += 1
                try:
                    if http is None:
                        http = httpx.Client(follow_redirects=True, max_redirects=2)
                    self._deliver(http, sub, item)
                finally:
                    with self._cond:
                        self._busy -= 1
                        self._cond.notify_all()
        finally:
            if http is not None:
                http.close()

    def _deliver(self, http: httpx.Client, sub: Subscription, item: _Delivery) -> None:
        settings = self.behaviour()
        headers = {"Content-Type": "application/json", "X-Cloze-Subscription-ID": sub.uniqueid}
        if sub.client_reference:
            headers["X-Cloze-Client-Reference"] = sub.client_reference
        self.stats.webhook("attempts")
        outcome = "retry"
        try:
            reply = http.post(
                sub.target_url,
                content=json.dumps(item.body),
                headers=headers,
                timeout=settings.webhook_timeout_s,
            )
            if reply.status_code == 200 and _acknowledged(reply):
                outcome = "ok"
            elif reply.status_code < 500:
                outcome = "suspend"
        except httpx.TooManyRedirects:
            outcome = "suspend"
        except httpx.HTTPError:
            outcome = "retry"
        now = time.time()
        with self._cond:
            sub.usage["lastSendAttempt"] = int(now * 1000)
            sub.attempts.append((now, outcome == "ok"))
            if outcome == "ok":
                sub.usage["successCount"] += 1
                sub.usage["lastSuccessfulSend"] = int(now * 1000)
                self.stats.webhook("delivered")
                return
            sub.usage["failCount"] += 1
            self.stats.webhook("failed")
            reason = (
                "invalid reply"
                if outcome == "suspend"
                else self._over_limit(sub, now, settings.webhook_time_scale)
            )
            if reason:
                self._suspend(sub, reason, now)
                return
            schedule = AUDIT_RETRIES if sub.event.endswith(".audit.change") else CHANGE_RETRIES
            if item.attempt < len(schedule):
                due = time.monotonic() + schedule[item.attempt] * settings.webhook_time_scale
                heapq.heappush(
                    self._queue, _Delivery(due, next(self._seq), sub.uniqueid, item.body, item.attempt + 1)
                )
                self.stats.webhook("retries_scheduled")

    def _over_limit(self, sub: Subscription, now: float, scale: float) -> str | None:
        day = 86400.0 * scale
        sub.attempts = [a for a in sub.attempts if now - a[0] <= day]
        for window, allowed in _LIMITS:
            failures = sum(1 for t, ok in sub.attempts if not ok and now - t <= window * scale)
            if failures > allowed:
                return f"more than {allowed} failures in {int(window)} s"
        failures = sum(1 for _, ok in sub.attempts if not ok)
        if failures >= 15 and failures / max(1, len(sub.attempts)) > 0.10:
            return "failure rate above 10% with 15 or more failures in a day"
        return None

    def _suspend(self, sub: Subscription, reason: str, now: float) -> None:
        sub.suspended = True
        sub.usage["suspendReason"] = reason
        sub.usage["suspendDate"] = int(now * 1000)
        self.stats.webhook("suspended")


def _acknowledged(reply: httpx.Response) -> bool:
    text = reply.text.strip()
    if text == "OK":
        return True
    try:
        body = json.loads(text)
    except ValueError:
        return False
    return isinstance(body, dict) and str(body.get("status", "")).lower() == "ok"
