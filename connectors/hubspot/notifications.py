"""HubSpot webhooks as the HubSpot connector's change notifications.

Only apps with webhooks get them (a legacy private app, an OAuth or project app;
Service Keys have none), and their subscriptions and target URL are set in the
app's own settings, not through the account's API, so ``subscribe`` is not offered:
the operator sets ``<public_url>/webhooks/external/<pair>`` there.

A request is trusted by its v3 signature (HubSpot's request-validation page):
``X-HubSpot-Signature-v3`` is base64(HMAC-SHA256(app client secret, method + URI +
body + timestamp)), where the URI is the full URL HubSpot posted to with a few
escapes decoded, and ``X-HubSpot-Request-Timestamp`` (epoch milliseconds) must be
no older than five minutes. The body is a JSON array of events
(``{"subscriptionType": "contact.propertyChange", "objectId": 123, "portalId": ...,
"occurredAt": ...}``; ``company.*`` and ``deal.*`` alike, or the newer ``object.*``
with an ``objectTypeId``). Events of another portal (an app installed in several
accounts posts them all to one URL) and of objects this tool does not sync are skipped.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

import structlog

from connectors.model import Entity
from connectors.notifications import (
    Changed,
    ChangeNotifications,
    Listener,
    MalformedNotification,
    RequestHead,
    SubscribeUnsupported,
    Subscription,
    Unauthenticated,
)

log = structlog.get_logger("connectors.hubspot.notifications")

SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"
# Legacy object names and object type ids -> entity.
OBJECT_ENTITIES: Mapping[str, Entity] = {"contact": "person", "company": "company", "deal": "project"}
TYPE_ID_ENTITIES: Mapping[str, Entity] = {"0-1": "person", "0-2": "company", "0-3": "project"}
# The escapes HubSpot decodes in the URI before signing.
_DECODED = ("%3A", "%2F", "%3F", "%40", "%21", "%24", "%27", "%28", "%29", "%2A", "%2C", "%3B")


def _signed_uri(url: str) -> str:
    for escape in _DECODED:
        char = unquote(escape)
        url = url.replace(escape, char).replace(escape.lower(), char)
    return url


def expected_signature(secret: str, method: str, url: str, body: bytes, timestamp: str) -> str:
    """The v3 signature HubSpot puts on a request."""
    message = method.upper().encode() + _signed_uri(url).encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def _entity(event: Mapping[str, Any]) -> Entity | None:
    kind = str(event.get("subscriptionType") or "")
    name = kind.split(".", 1)[0]
    if name == "object":
        return TYPE_ID_ENTITIES.get(str(event.get("objectTypeId") or ""))
    return OBJECT_ENTITIES.get(name)


def _ids(values: Any) -> list[str]:
    items = values if isinstance(values, list) else [values]
    return [str(v) for v in items if isinstance(v, (int, str)) and not isinstance(v, bool) and str(v)]


def parse_events(body: bytes, portal_id: int | None) -> Changed:
    """Record ids per entity from a delivery's events."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedNotification(f"body is not JSON: {exc.msg if hasattr(exc, 'msg') else exc}") from exc
    if not isinstance(data, list):
        raise MalformedNotification("body must be a JSON array of events")
    changed = Changed()
    for index, event in enumerate(data):
        if not isinstance(event, dict) or not isinstance(event.get("subscriptionType"), str):
            raise MalformedNotification(f"event {index} is not an object with a subscriptionType")
        if portal_id is not None and event.get("portalId") not in (None, portal_id):
            log.debug("webhook event of another portal skipped", portal=event.get("portalId"))
            continue
        entity = _entity(event)
        if entity is None:
            continue  # an object this tool does not sync (tickets, line items...)
        # A merge names the survivor and the records merged into it (gone now); an
        # association change names the record the subscription is on.
        found = [*_ids(event.get("objectId")), *_ids(event.get("primaryObjectId")),
                 *_ids(event.get("mergedObjectIds")), *_ids(event.get("fromObjectId"))]
        if not found:
            changed.poll = True
        for record_id in found:
            changed.add(entity, record_id)
    return changed


class HubSpotNotifications(ChangeNotifications):
    """One pair's HubSpot webhooks: v3 signature, timestamp window, events."""

    def __init__(self, pair: str, listener: Listener, client_secret: str, *, portal_id: int | None = None,
                 max_age_seconds: float = 300.0) -> None:
        super().__init__(pair, "external", listener)
        self._secret = client_secret
        self.portal_id = portal_id
        self.max_age_ms = int(max_age_seconds * 1000)

    def authenticate(self, head: RequestHead) -> None:
        if not head.header(SIGNATURE_HEADER):
            raise Unauthenticated(f"no {SIGNATURE_HEADER} header")
        stamp = head.header(TIMESTAMP_HEADER) or ""
        if not stamp.isdigit():
            raise Unauthenticated(f"no {TIMESTAMP_HEADER} header in epoch milliseconds")
        age_ms = int(head.received_at * 1000) - int(stamp)
        if age_ms > self.max_age_ms:
            raise Unauthenticated(f"timestamp is {age_ms // 1000} s old, more than {self.max_age_ms // 1000} s")
        if age_ms < -self.max_age_ms:
            raise Unauthenticated(f"timestamp is {-age_ms // 1000} s in the future, more than "
                                  f"{self.max_age_ms // 1000} s")

    def parse(self, head: RequestHead, body: bytes) -> Changed:
        stamp = head.header(TIMESTAMP_HEADER) or ""
        expected = expected_signature(self._secret, head.method, head.url, body, stamp)
        if not hmac.compare_digest(expected.encode(), (head.header(SIGNATURE_HEADER) or "").encode()):
            raise Unauthenticated("signature does not match (check webhook_client_secret and "
                                  "daemon.webhooks.public_url, which the signature covers)")
        return parse_events(body, self.portal_id)

    def _unsupported(self) -> SubscribeUnsupported:
        return SubscribeUnsupported(f"set the target URL in the HubSpot app's webhook settings: {self.target_url()}")

    def subscribe(self, url: str, entities: Any, **options: Any) -> list[Subscription]:
        raise self._unsupported()

    def unsubscribe(self) -> list[str]:
        raise self._unsupported()

    def subscriptions(self) -> list[Subscription]:
        raise self._unsupported()
