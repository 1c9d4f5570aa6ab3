"""Signed webhook deliveries, as HubSpot sends them to an app that has webhooks.

Off unless ``EmulatorSettings.webhook_target_url`` is set: only apps with webhooks
get them (Service Keys have none). When on, every change the store makes becomes
one event in HubSpot's legacy CRM-object shape (``contact.creation``,
``contact.propertyChange`` one per changed property, ``contact.merge``,
``contact.deletion``; ``company.*`` and ``deal.*`` alike) and a background thread
POSTs them, up to ``webhook_max_events`` per request, as a JSON array with the
v3 signature: ``X-HubSpot-Signature-v3`` = base64(HMAC-SHA256(client secret,
method + URI + body + timestamp)) and ``X-HubSpot-Request-Timestamp`` in epoch
milliseconds. ``webhook_timestamp_offset_ms`` shifts the timestamp (a stale one
for tests). Deliveries are not retried; each outcome is kept in ``deliveries``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import httpx

from connectors.hubspot.emulator import schema

OBJECT_NAMES: Mapping[str, str] = {schema.CONTACTS: "contact", schema.COMPANIES: "company", schema.DEALS: "deal"}
# HubSpot decodes these escapes in the URI before signing (its request-validation page).
_DECODED = ("%3A", "%2F", "%3F", "%40", "%21", "%24", "%27", "%28", "%29", "%2A", "%2C", "%3B")


def signed_uri(url: str) -> str:
    out = url
    for escape in _DECODED:
        out = out.replace(escape, unquote(escape)).replace(escape.lower(), unquote(escape))
    return out


def signature_v3(secret: str, method: str, url: str, body: bytes, timestamp: str) -> str:
    message = method.encode() + signed_uri(url).encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


@dataclass(frozen=True)
class Delivered:
    """One delivery attempt: how many events, the reply's status (``None``: no reply)."""

    events: int
    status: int | None
    error: str = ""


@dataclass(frozen=True)
class Target:
    url: str
    secret: str
    app_id: int
    portal_id: int
    max_events: int
    timestamp_offset_ms: int


class WebhookSender:
    """Numbers events, queues them, and sends them from one thread to the target the settings name."""

    def __init__(self, target: Callable[[], Target | None]) -> None:
        self._target = target
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._ids = itertools.count(1)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.deliveries: list[Delivered] = []
        self._idle = threading.Condition()
        self._in_flight = 0

    def emit(self, object_type: str, action: str, object_id: str, occurred_ms: int, **extra: Any) -> None:
        """Queue one event (called under the store lock: never blocks)."""
        target = self._target()
        name = OBJECT_NAMES.get(object_type)
        if target is None or name is None:
            return
        event = {
            "eventId": next(self._ids), "subscriptionId": 1000 + list(OBJECT_NAMES.values()).index(name),
            "portalId": target.portal_id, "appId": target.app_id, "occurredAt": occurred_ms,
            "subscriptionType": f"{name}.{action}", "attemptNumber": 0, "objectId": int(object_id),
            "changeSource": "CRM", **extra,
        }
        with self._idle:
            self._in_flight += 1
        self._queue.put(event)
        self._ensure_thread()

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="hubspot-webhooks", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=5)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Until every queued event has been sent (or given up on); ``False`` on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout=timeout)

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            target = self._target()
            limit = target.max_events if target is not None else 1
            while len(batch) < limit:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)
                    break
                batch.append(more)
            if target is not None:
                self._send(target, batch)
            with self._idle:
                self._in_flight -= len(batch)
                self._idle.notify_all()

    def _send(self, target: Target, events: list[dict[str, Any]]) -> None:
        body = json.dumps(events).encode()
        timestamp = str(int(time.time() * 1000) + target.timestamp_offset_ms)
        headers = {
            "Content-Type": "application/json",
            "X-HubSpot-Request-Timestamp": timestamp,
            "X-HubSpot-Signature-v3": signature_v3(target.secret, "POST", target.url, body, timestamp),
            "X-HubSpot-Timeout-Millis": "5000",
        }
        try:
            reply = httpx.post(target.url, content=body, headers=headers, timeout=5.0)
            self.deliveries.append(Delivered(len(events), reply.status_code))
        except httpx.HTTPError as exc:
            self.deliveries.append(Delivered(len(events), None, type(exc).__name__))
