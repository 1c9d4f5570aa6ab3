"""Cloze change webhooks as the Cloze connector's change notifications.

Cloze signs nothing (cloze-api.md §6), so a delivery is trusted only when the URL
it was posted to carries the pair's token. The token is derived from the daemon's
shared secret (``daemon.webhooks.secret``) and the pair name with HMAC-SHA256, so the
raw secret never travels and a token seen in one pair's proxy log opens no other
pair. When the pair's subscription ids are known, the ``X-Cloze-Subscription-ID``
header must also be one of them.

Subscriptions are made through Cloze's API with a ``client_reference`` naming the
pair and event, so repeating ``subscribe`` replaces them instead of adding more.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

import structlog

from connectors.cloze.client import ClozeClient
from connectors.notifications import (
    Changed,
    ChangeNotifications,
    Listener,
    MalformedNotification,
    RequestHead,
    Subscription,
    Unauthenticated,
    mask_url,
)

log = structlog.get_logger("connectors.cloze.notifications")

KINDS = ("person", "company", "project")
TOKEN_PARAM = "token"
PATH_PREFIX = "/webhooks/cloze/"
SUBSCRIPTION_HEADER = "X-Cloze-Subscription-ID"

__all__ = ["ClozeNotifications", "SubscriptionCache", "client_reference", "mask_url",
           "pair_token", "parse_client_reference", "parse_delivery", "target_url"]


def pair_token(secret: str, pair: str) -> str:
    """The token a pair's webhook URL carries."""
    return hmac.new(secret.encode(), f"cloze-syncd webhook {pair}".encode(), hashlib.sha256).hexdigest()


def client_reference(pair: str, event: str) -> str:
    """Cloze replaces a subscription with the same event and reference, so re-subscribing is safe."""
    return f"cloze-syncd:{pair}:{event}"


def parse_client_reference(ref: str | None) -> tuple[str, str] | None:
    """``(pair, event)`` from a reference this tool made, else ``None``."""
    if not ref or not ref.startswith("cloze-syncd:"):
        return None
    parts = ref.split(":", 2)
    return (parts[1], parts[2]) if len(parts) == 3 and parts[1] and parts[2] else None


def target_url(public_url: str, pair: str, secret: str) -> str:
    """The URL Cloze posts to: ``<public_url>/webhooks/cloze/<pair>?token=<token>``."""
    return f"{public_url.rstrip('/')}{PATH_PREFIX}{pair}?{TOKEN_PARAM}={pair_token(secret, pair)}"


# -- payload -----------------------------------------------------------------------


def _record_id(record: Mapping[str, Any]) -> str | None:
    value = record.get("direct")
    if isinstance(value, str) and value:
        return value.removeprefix("direct:")
    return None


def parse_delivery(body: bytes) -> Changed:
    """Record ids from a delivery: ``[{"person": {...}, "changes": {...}, "event": "person.change"}, ...]``.

    An element whose record has no ``direct`` id still means "something changed",
    so it turns into a plain incremental run of the pair (``poll``).
    """
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedNotification(f"body is not JSON: {exc.msg if hasattr(exc, 'msg') else exc}") from exc
    if isinstance(data, dict):
        data = [data]  # be lenient: one object instead of an array of one
    if not isinstance(data, list):
        raise MalformedNotification("body must be a JSON array of change objects")
    changed = Changed()
    for index, element in enumerate(data):
        if not isinstance(element, dict):
            raise MalformedNotification(f"element {index} is not an object")
        event = element.get("event")
        entity = next((e for e in KINDS if isinstance(element.get(e), dict)), None)
        if entity is None and isinstance(event, str) and event.split(".", 1)[0] in KINDS:
            changed.poll = True  # an event we know, without the record
            continue
        if entity is None:
            raise MalformedNotification(f"element {index} holds no person, company or project")
        record_id = _record_id(element[entity])
        if record_id is None:
            changed.poll = True
        else:
            changed.ids.setdefault(entity, set()).add(record_id)
    return changed


# -- subscription ids ----------------------------------------------------------------


class SubscriptionCache:
    """The Cloze subscription ids of each pair, for the ``X-Cloze-Subscription-ID`` check.

    ``fetch(pair)`` asks Cloze for the pair's subscriptions (those whose
    ``client_reference`` this tool made). While nothing is known for a pair the
    token alone decides. An id not in the cache triggers one re-fetch (at most
    every ``refresh_every`` seconds per pair), so a subscription made while the
    daemon runs is recognised on its first delivery instead of being refused, which
    would make Cloze suspend it.
    """

    def __init__(
        self,
        fetch: Callable[[str], frozenset[str]],
        *,
        refresh_every: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._refresh_every = refresh_every
        self._clock = clock
        self._known: dict[str, frozenset[str]] = {}
        self._fetched_at: dict[str, float] = {}
        self._lock = threading.Lock()

    def known(self, pair: str) -> frozenset[str]:
        with self._lock:
            return self._known.get(pair, frozenset())

    def refresh(self, pair: str) -> None:
        """Fetch the pair's ids now; on failure keep what was known."""
        with self._lock:
            self._fetched_at[pair] = self._clock()
        try:
            ids = self._fetch(pair)
        except Exception as exc:  # noqa: BLE001 - network, auth...: the token check still protects
            log.warning("could not list webhook subscriptions", pair=pair, error=str(exc))
            return
        with self._lock:
            self._known[pair] = ids
        log.info("webhook subscriptions known", pair=pair, count=len(ids))

    def forget(self, pair: str) -> None:
        with self._lock:
            self._known.pop(pair, None)
            self._fetched_at.pop(pair, None)

    def accepts(self, pair: str, subscription_id: str | None) -> bool:
        """Whether a delivery carrying ``subscription_id`` may be for ``pair``."""
        known = self.known(pair)
        if not known or (subscription_id and subscription_id in known):
            return True
        with self._lock:
            recent = self._clock() - self._fetched_at.get(pair, float("-inf")) < self._refresh_every
        if recent or not subscription_id:
            return False
        self.refresh(pair)
        return subscription_id in self.known(pair)


# -- the capability ------------------------------------------------------------------------


def _subscription(item: Mapping[str, Any]) -> Subscription:
    usage = item.get("usage") if isinstance(item.get("usage"), dict) else {}
    assert isinstance(usage, dict)

    def count(key: str) -> int | None:
        value = usage.get(key)
        return int(value) if isinstance(value, (int, float)) else None

    return Subscription(
        event=str(item.get("event", "")),
        uniqueid=str(item.get("uniqueid") or item.get("uniqueId") or ""),
        target_url=str(item.get("target_url", "")),
        suspended=bool(item.get("suspended", False)),
        success_count=count("successCount"),
        fail_count=count("failCount"),
    )


ClientFactory = Callable[[], AbstractContextManager[ClozeClient]]


class ClozeNotifications(ChangeNotifications):
    """One pair's Cloze webhooks: the URL token, the subscription-id check, the payload, the subscriptions.

    ``client()`` opens the pair's Cloze API client (only subscribing and listing use it).
    """

    supports_subscribe = True

    def __init__(self, pair: str, listener: Listener, client: ClientFactory, *,
                 cache: SubscriptionCache | None = None) -> None:
        if not listener.secret:
            raise ValueError("daemon.webhooks.secret: Cloze webhooks are trusted by a token derived from it")
        super().__init__(pair, "cloze", listener)
        self._secret = listener.secret
        self._client = client
        self.cache = cache or SubscriptionCache(lambda _pair: self._subscription_ids())

    def authenticate(self, head: RequestHead) -> None:
        expected = pair_token(self._secret, self.pair)
        if not hmac.compare_digest(expected.encode(), (head.query.get(TOKEN_PARAM) or "").encode()):
            raise Unauthenticated("bad or missing token")
        if not self.cache.accepts(self.pair, head.header(SUBSCRIPTION_HEADER)):
            raise Unauthenticated("unknown subscription id")

    def parse(self, head: RequestHead, body: bytes) -> Changed:
        return parse_delivery(body)

    def refresh(self) -> None:
        self.cache.refresh(self.pair)

    # -- subscriptions -------------------------------------------------------------------

    def _ours(self, items: Sequence[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
        for item in items:
            parsed = parse_client_reference(item.get("client_reference"))
            if parsed is not None and parsed[0] == self.pair:
                yield item

    def subscriptions(self) -> list[Subscription]:
        with self._client() as client:
            items = client.webhooks()
        return sorted((_subscription(item) for item in self._ours(items)), key=lambda s: s.event)

    def _subscription_ids(self) -> frozenset[str]:
        return frozenset(s.uniqueid for s in self.subscriptions() if s.uniqueid)

    def target_url(self) -> str:
        return target_url(self.listener.public_url, self.pair, self._secret)

    def subscribe(self, url: str, entities: Sequence[str], **options: Any) -> list[Subscription]:
        """Subscribe ``url`` to ``<entity>.change`` of each entity; repeating replaces (same reference)."""
        scope = options.get("scope")
        out = []
        with self._client() as client:
            for entity in entities:
                event = f"{entity}.change"
                uid = client.subscribe(event, url, scope=scope, client_reference=client_reference(self.pair, event))
                log.info("webhook subscribed", pair=self.pair, cloze_event=event, subscription=uid)
                out.append(Subscription(event=event, uniqueid=uid, target_url=url))
        return out

    def unsubscribe(self) -> list[str]:
        removed = []
        with self._client() as client:
            for item in self._ours(client.webhooks()):
                parsed = parse_client_reference(item.get("client_reference"))
                assert parsed is not None
                uid = str(item.get("uniqueid") or "")
                if client.unsubscribe(str(item.get("event", parsed[1])), uniqueid=uid or None,
                                      client_reference=None if uid else item.get("client_reference")):
                    removed.append(uid)
                    log.info("webhook unsubscribed", pair=self.pair, cloze_event=item.get("event"), subscription=uid)
        return removed
