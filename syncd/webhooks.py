"""Cloze change webhooks: authenticate, parse, debounce, and hand record ids to a sync.

Cloze signs nothing (cloze-api.md §6), so a delivery is trusted only when the URL
it was posted to carries the pair's token. The token is derived from the shared
secret (``daemon.webhooks.secret``) and the pair name with HMAC-SHA256, so the raw
secret never travels and a token seen in one pair's proxy log opens no other
pair. When the daemon knows the pair's subscription ids, the
``X-Cloze-Subscription-ID`` header must also be one of them.

Webhooks only make syncing faster: the interval sync and the reconcile still find
every change, so a delivery lost while the daemon stops costs latency, not data.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog

from syncd.errors import ConfigError

if TYPE_CHECKING:
    from config.loader import LoadedConfig
    from connectors.base import ApiObserver
    from connectors.cloze.client import ClozeClient

log = structlog.get_logger("syncd.webhooks")

ENTITIES = ("person", "company", "project")
EVENTS = tuple(f"{e}.change" for e in ENTITIES)
TOKEN_PARAM = "token"


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
    return f"{public_url.rstrip('/')}/webhooks/cloze/{pair}?{TOKEN_PARAM}={pair_token(secret, pair)}"


def mask_url(url: str) -> str:
    """A webhook URL with its token hidden, for display."""
    head, sep, _ = url.partition(f"{TOKEN_PARAM}=")
    return f"{head}{sep}***" if sep else url


# -- payload -----------------------------------------------------------------------


@dataclass
class Batch:
    """Record ids to sync, per entity; ``poll`` asks for a plain incremental run of the pair."""

    ids: dict[str, set[str]] = field(default_factory=dict)
    poll: bool = False

    def merge(self, other: Batch) -> None:
        for entity, ids in other.ids.items():
            self.ids.setdefault(entity, set()).update(ids)
        self.poll = self.poll or other.poll

    def __bool__(self) -> bool:
        return self.poll or any(self.ids.values())

    def size(self) -> int:
        return sum(len(v) for v in self.ids.values())

    def only(self) -> dict[str, frozenset[str]]:
        """The ``only=`` argument of ``sync_pair``."""
        return {entity: frozenset(ids) for entity, ids in self.ids.items() if ids}


class MalformedDelivery(ValueError):
    """The body is not the JSON array of change objects Cloze sends."""


def _record_id(record: Mapping[str, Any]) -> str | None:
    value = record.get("direct")
    if isinstance(value, str) and value:
        return value.removeprefix("direct:")
    return None


def parse_delivery(body: bytes) -> Batch:
    """Record ids from a delivery: ``[{"person": {...}, "changes": {...}, "event": "person.change"}, ...]``.

    An element whose record has no ``direct`` id still means "something changed",
    so it turns into a plain incremental run of the pair (``poll``).
    """
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedDelivery(f"body is not JSON: {exc.msg if hasattr(exc, 'msg') else exc}") from exc
    if isinstance(data, dict):
        data = [data]  # be lenient: one object instead of an array of one
    if not isinstance(data, list):
        raise MalformedDelivery("body must be a JSON array of change objects")
    batch = Batch()
    for index, element in enumerate(data):
        if not isinstance(element, dict):
            raise MalformedDelivery(f"element {index} is not an object")
        event = element.get("event")
        entity = next((e for e in ENTITIES if isinstance(element.get(e), dict)), None)
        if entity is None and isinstance(event, str) and event.split(".", 1)[0] in ENTITIES:
            batch.poll = True  # an event we know, without the record
            continue
        if entity is None:
            raise MalformedDelivery(f"element {index} holds no person, company or project")
        record_id = _record_id(element[entity])
        if record_id is None:
            batch.poll = True
        else:
            batch.ids.setdefault(entity, set()).add(record_id)
    return batch


# -- the receiver ------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"


OK = Reply(200, b"OK")


@dataclass(frozen=True)
class ReceiverConfig:
    """What the receiver needs to know, swapped as a whole on reload."""

    secret: str | None
    pairs: frozenset[str]
    max_body_bytes: int
    enabled: bool = True


class WebhookReceiver:
    """Turns one HTTP request into a reply and, when it is genuine, a queued batch.

    Order of checks: known pair and token (401), subscription id (401), size (413),
    JSON shape (400). Nothing is queued unless every check passed; the reply is sent
    before any sync starts (Cloze waits at most 10 s).
    """

    def __init__(
        self,
        config: ReceiverConfig,
        enqueue: Callable[[str, Batch], None],
        *,
        subscription_ok: Callable[[str, str | None], bool] = lambda pair, sid: True,
        count: Callable[[str, str], None] = lambda pair, outcome: None,
    ) -> None:
        self.config = config
        self._enqueue = enqueue
        self._subscription_ok = subscription_ok
        self._count = count

    def handle(
        self,
        pair: str,
        token: str | None,
        subscription_id: str | None,
        content_length: int | None,
        read: Callable[[int], bytes],
    ) -> Reply:
        cfg = self.config
        label = pair if pair in cfg.pairs else "unknown"  # never an unbounded label from a URL
        if not cfg.enabled or cfg.secret is None:
            self._count(label, "disabled")
            return Reply(404, b"webhooks are not enabled\n")
        expected = pair_token(cfg.secret, pair)
        # compare_digest whether or not the pair exists, so timing reveals nothing
        good_token = hmac.compare_digest(expected.encode(), (token or "").encode())
        if not good_token or pair not in cfg.pairs:
            self._count(label, "unauthorized")
            log.warning("webhook rejected: bad or missing token", pair=label)
            return Reply(401, b"unauthorized\n")
        if not self._subscription_ok(pair, subscription_id):
            self._count(label, "unauthorized")
            log.warning("webhook rejected: unknown subscription id", pair=pair, subscription=subscription_id)
            return Reply(401, b"unknown subscription\n")
        if content_length is None:
            self._count(label, "malformed")
            return Reply(411, b"Content-Length required\n")
        if content_length > cfg.max_body_bytes:
            self._count(label, "too_large")
            log.warning("webhook rejected: body too large", pair=pair, bytes=content_length)
            return Reply(413, b"body too large\n")
        body = read(content_length)
        try:
            batch = parse_delivery(body)
        except MalformedDelivery as exc:
            self._count(label, "malformed")
            log.warning("webhook rejected: malformed body", pair=pair, error=str(exc))
            return Reply(400, f"malformed: {exc}\n".encode())
        self._count(label, "accepted")
        if batch:
            self._enqueue(pair, batch)
        log.debug("webhook accepted", pair=pair, records=batch.size(), poll=batch.poll)
        return OK


# -- debounce ----------------------------------------------------------------------


@dataclass
class _Pending:
    batch: Batch
    first: float
    last: float


class Debouncer:
    """Collects batches per pair and fires each pair once things go quiet.

    A pair fires ``delay`` seconds after its last addition, or ``max_delay`` after
    its first, whichever comes first, so a record edited fifty times in a burst is
    synced once and a steady stream still gets through.
    """

    def __init__(
        self,
        fire: Callable[[str, Batch], None],
        *,
        delay: float,
        max_delay: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fire = fire
        self.delay = delay
        self.max_delay = max_delay if max_delay is not None else max(delay * 10, delay + 1)
        self._clock = clock
        self._pending: dict[str, _Pending] = {}
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="webhook-debounce", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def add(self, pair: str, batch: Batch) -> None:
        """Queue ``batch`` for ``pair`` (dropped once closed: the next poll finds the change)."""
        with self._cond:
            if self._closed:
                return
            now = self._clock()
            pending = self._pending.get(pair)
            if pending is None:
                self._pending[pair] = _Pending(Batch(), now, now)
                pending = self._pending[pair]
            pending.batch.merge(batch)
            pending.last = now
            self._cond.notify()

    def pending(self) -> dict[str, int]:
        """Queued record count per pair (for status and tests)."""
        with self._cond:
            return {pair: p.batch.size() for pair, p in self._pending.items()}

    def close(self) -> None:
        """Stop firing; whatever is queued is dropped."""
        with self._cond:
            self._closed = True
            self._pending.clear()
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def due(self) -> list[tuple[str, Batch]]:
        """Take the pairs whose time has come (the loop calls this; tests may too)."""
        with self._cond:
            return self._take_due(self._clock())

    def _take_due(self, now: float) -> list[tuple[str, Batch]]:
        ready = [
            pair for pair, p in self._pending.items()
            if now - p.last >= self.delay or now - p.first >= self.max_delay
        ]
        return [(pair, self._pending.pop(pair).batch) for pair in ready]

    def _next_wake(self, now: float) -> float | None:
        if not self._pending:
            return None
        return max(0.0, min(min(p.last + self.delay, p.first + self.max_delay) - now for p in self._pending.values()))

    def _loop(self) -> None:
        while True:
            with self._cond:
                if self._closed:
                    return
                now = self._clock()
                due = self._take_due(now)
                if not due:
                    self._cond.wait(timeout=self._next_wake(now))
                    continue
            for pair, batch in due:
                try:
                    self._fire(pair, batch)
                except Exception:  # a failure to schedule must not kill the loop
                    log.exception("webhook sync could not be queued", pair=pair)


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


# -- subscriptions through the Cloze API ----------------------------------------------


@dataclass(frozen=True)
class Subscription:
    """One Cloze webhook subscription made by this tool."""

    pair: str
    event: str
    uniqueid: str
    target_url: str
    suspended: bool = False
    success_count: int | None = None
    fail_count: int | None = None

    @property
    def target_masked(self) -> str:
        return mask_url(self.target_url)

    def as_dict(self) -> dict[str, Any]:
        return {
            "pair": self.pair,
            "event": self.event,
            "uniqueid": self.uniqueid,
            "target_url": self.target_masked,
            "suspended": self.suspended,
            "success_count": self.success_count,
            "fail_count": self.fail_count,
        }


@contextmanager
def cloze_client(loaded: LoadedConfig, pair: str, observer: ApiObserver | None = None) -> Iterator[ClozeClient]:
    """The pair's Cloze API client, built exactly as the connector builds it."""
    from connectors.base import ConnectorContext, NullObserver
    from connectors.cloze import ClozeConnector

    cfg = loaded.pair(pair)
    context = ConnectorContext(pair=pair, side="cloze", app_id=cfg.app_id, observer=observer or NullObserver())
    connector = ClozeConnector.build(loaded.settings[pair]["cloze"], context)
    try:
        yield connector.client
    finally:
        connector.close()


def pair_events(loaded: LoadedConfig, pair: str) -> list[str]:
    """The change events of the pair's enabled entities."""
    entities = loaded.pair(pair).entities
    return [f"{entity}.change" for entity in ENTITIES if getattr(entities, entity).enabled]


def _subscription(pair: str, item: Mapping[str, Any]) -> Subscription:
    usage = item.get("usage") if isinstance(item.get("usage"), dict) else {}
    assert isinstance(usage, dict)

    def count(key: str) -> int | None:
        value = usage.get(key)
        return int(value) if isinstance(value, (int, float)) else None

    return Subscription(
        pair=pair,
        event=str(item.get("event", "")),
        uniqueid=str(item.get("uniqueid") or item.get("uniqueId") or ""),
        target_url=str(item.get("target_url", "")),
        suspended=bool(item.get("suspended", False)),
        success_count=count("successCount"),
        fail_count=count("failCount"),
    )


def list_pair(loaded: LoadedConfig, pair: str) -> list[Subscription]:
    """The pair's subscriptions: those whose ``client_reference`` names it."""
    with cloze_client(loaded, pair) as client:
        items = client.webhooks()
    out = []
    for item in items:
        parsed = parse_client_reference(item.get("client_reference"))
        if parsed is not None and parsed[0] == pair:
            out.append(_subscription(pair, item))
    return sorted(out, key=lambda s: s.event)


def subscription_ids(loaded: LoadedConfig, pair: str) -> frozenset[str]:
    """Ids of the pair's live subscriptions, for the ``X-Cloze-Subscription-ID`` check."""
    return frozenset(s.uniqueid for s in list_pair(loaded, pair) if s.uniqueid)


def subscribe_pair(loaded: LoadedConfig, pair: str, *, scope: str | None = None) -> list[Subscription]:
    """Subscribe the pair's webhook URL to the change events of its enabled entities.

    Repeating it replaces the subscriptions (same ``client_reference``), e.g. after
    the secret or the public URL changed.
    """
    hooks = loaded.app.daemon.webhooks
    problems = []
    if not hooks.enabled:
        problems.append("daemon.webhooks.enabled: must be true")
    if not hooks.public_url:
        problems.append("daemon.webhooks.public_url: the URL Cloze can reach (your proxy), e.g. https://sync.example.com")
    if not loaded.webhook_secret:
        problems.append("daemon.webhooks.secret: needed to build the webhook URL")
    if problems:
        raise ConfigError(f"{loaded.path}: webhooks are not configured", problems=problems)
    assert loaded.webhook_secret is not None
    url = target_url(hooks.public_url, pair, loaded.webhook_secret)
    out = []
    with cloze_client(loaded, pair) as client:
        for event in pair_events(loaded, pair):
            uid = client.subscribe(event, url, scope=scope, client_reference=client_reference(pair, event))
            log.info("webhook subscribed", pair=pair, cloze_event=event, subscription=uid)
            out.append(Subscription(pair=pair, event=event, uniqueid=uid, target_url=url))
    return out


def unsubscribe_pair(loaded: LoadedConfig, pair: str) -> list[str]:
    """Remove every subscription of the pair made by this tool; the ids removed."""
    removed = []
    with cloze_client(loaded, pair) as client:
        for item in client.webhooks():
            parsed = parse_client_reference(item.get("client_reference"))
            if parsed is None or parsed[0] != pair:
                continue
            uid = str(item.get("uniqueid") or "")
            if client.unsubscribe(str(item.get("event", parsed[1])), uniqueid=uid or None,
                                  client_reference=None if uid else item.get("client_reference")):
                removed.append(uid)
                log.info("webhook unsubscribed", pair=pair, cloze_event=item.get("event"), subscription=uid)
    return removed
