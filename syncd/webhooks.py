"""Change notifications in the daemon: route, bound, authenticate, debounce, and hand record ids to a sync.

The listener takes every side's notices at ``/webhooks/<side>/<pair>`` (Cloze's at
``/webhooks/cloze/<pair>``, an external CRM's at ``/webhooks/external/<pair>``). What
a notice means, and whether it is genuine, is the side's connector's business: its
:class:`~connectors.notifications.ChangeNotifications` (see that module). Here stay
the parts every service shares: which path belongs to which pair side, the size
bound, the replies, the debounce per pair side, and the sync of just the records
named, on the side that named them.

Notifications only make syncing faster: the interval sync and the reconcile still
find every change, so a notice lost while the daemon stops costs latency, not data.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from connectors.base import ConnectorContext, NullObserver
from connectors.entities import ENTITY_KINDS
from connectors.errors import ConfigError
from connectors.model import Entity, Side
from connectors.notifications import (
    Changed,
    ChangeNotifications,
    Listener,
    NotificationRefused,
    RequestHead,
    SubscribeUnsupported,
    mask_url,
)

if TYPE_CHECKING:
    from config.loader import LoadedConfig

log = structlog.get_logger("syncd.webhooks")

SIDES: tuple[Side, ...] = ("cloze", "external")


@dataclass
class Batch(Changed):
    """Record ids one side said changed, per entity; ``poll`` asks for a plain incremental run of the pair."""

    side: Side = "cloze"

    @classmethod
    def of(cls, side: Side, changed: Changed) -> Batch:
        return cls(ids={e: set(ids) for e, ids in changed.ids.items()}, poll=changed.poll, side=side)


# -- building each pair side's notifications ---------------------------------------------


def listener_of(loaded: LoadedConfig) -> Listener:
    hooks = loaded.app.daemon.webhooks
    return Listener(public_url=hooks.public_url, secret=loaded.webhook_secret)


def side_notifications(loaded: LoadedConfig, pair: str, side: Side) -> ChangeNotifications | None:
    """The pair side's notifications from its connector; ``None`` when it has none. ValueError: settings to fix."""
    cfg = loaded.pair(pair)
    cls = loaded.connectors[pair][side]
    context = ConnectorContext(pair=pair, side=side, app_id=cfg.app_id, observer=NullObserver())
    return cls.change_notifications(loaded.settings[pair][side], context, listener_of(loaded))


def notification_sources(loaded: LoadedConfig) -> dict[str, ChangeNotifications]:
    """Listener path -> the pair side taking notices there, for every side turned on.

    A side is on with ``daemon.webhooks.enabled`` and its ``pairs.NAME.change_notifications.<side>``.
    Raises ConfigError listing every side that is on but cannot take notices.
    """
    if not loaded.app.daemon.webhooks.enabled:
        return {}
    out: dict[str, ChangeNotifications] = {}
    problems: list[str] = []
    for pair, cfg in sorted(loaded.app.pairs.items()):
        for side in SIDES:
            if not getattr(cfg.change_notifications, side):
                continue
            key = f"pairs.{pair}.change_notifications.{side}"
            name = loaded.connectors[pair][side].name
            try:
                notifications = side_notifications(loaded, pair, side)
            except ValueError as exc:
                problems.append(f"{key}: the {name} connector cannot take change notifications: {exc}")
                continue
            if notifications is None:
                if side == "external":  # Cloze's default is on; an external side is asked for explicitly
                    problems.append(f"{key}: the {name} connector has no change notifications; set it to false")
                continue
            out[notifications.path()] = notifications
    if problems:
        raise ConfigError(f"{loaded.path}: change notifications are not configured", problems=problems)
    return out


# -- the receiver ------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"


OK = Reply(200, b"OK")


@dataclass(frozen=True)
class ReceiverConfig:
    """What the receiver needs to know, swapped as a whole on reload.

    ``sources``: listener path -> the pair side's notifications (:func:`notification_sources`).
    ``public_url``: the listener's URL as the services see it, which signatures cover.
    """

    sources: Mapping[str, ChangeNotifications]
    max_body_bytes: int
    public_url: str = ""
    enabled: bool = True


class WebhookReceiver:
    """Turns one HTTP request into a reply and, when it is genuine, a queued batch.

    Order of checks: a known pair side and its head (401), size (413), then the body
    (401 for a signature, 400 for the shape). Nothing is queued unless every check
    passed; the reply is sent before any sync starts (services wait a few seconds at most).
    """

    def __init__(
        self,
        config: ReceiverConfig,
        enqueue: Callable[[str, Batch], None],
        *,
        count: Callable[[str, str], None] = lambda pair, outcome: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self._enqueue = enqueue
        self._count = count
        self._clock = clock

    def handle(
        self,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        content_length: int | None,
        read: Callable[[int], bytes],
        *,
        query_string: str = "",
        method: str = "POST",
    ) -> Reply:
        cfg = self.config
        if not cfg.enabled:
            self._count("unknown", "disabled")
            return Reply(404, b"webhooks are not enabled\n")
        source = cfg.sources.get(path.rstrip("/"))
        label = source.pair if source is not None else "unknown"  # never an unbounded label from a URL
        if source is None:
            self._count(label, "unauthorized")
            log.warning("webhook rejected: no pair side takes notices at this path")
            return Reply(401, b"unauthorized\n")
        where = {"pair": source.pair, "side": source.side}
        url = f"{cfg.public_url.rstrip('/')}{path}" + (f"?{query_string}" if query_string else "")
        head = RequestHead(method=method, url=url, query=query,
                           headers={k.lower(): v for k, v in headers.items()}, received_at=self._clock())
        try:
            source.authenticate(head)
        except NotificationRefused as exc:
            return self._refused(label, exc, where)
        if content_length is None:
            self._count(label, "malformed")
            return Reply(411, b"Content-Length required\n")
        if content_length > cfg.max_body_bytes:
            self._count(label, "too_large")
            log.warning("webhook rejected: body too large", bytes=content_length, **where)
            return Reply(413, b"body too large\n")
        body = read(content_length)
        try:
            changed = source.parse(head, body)
        except NotificationRefused as exc:
            return self._refused(label, exc, where)
        self._count(label, "accepted")
        batch = Batch.of(source.side, changed)
        if batch:
            self._enqueue(source.pair, batch)
        log.debug("webhook accepted", records=batch.size(), poll=batch.poll, **where)
        return OK

    def _refused(self, label: str, exc: NotificationRefused, where: Mapping[str, str]) -> Reply:
        """The side's reason is safe to log and to return: connectors never put a secret in it."""
        outcome = "unauthorized" if exc.status == 401 else "malformed"
        self._count(label, outcome)
        log.warning(f"webhook rejected: {exc.reason}", **where)
        text = "unauthorized" if exc.status == 401 else f"malformed: {exc.reason}"
        return Reply(exc.status, f"{text}\n".encode())


# -- debounce ----------------------------------------------------------------------


@dataclass
class _Pending:
    batch: Batch
    first: float
    last: float


class Debouncer:
    """Collects batches per pair side and fires each once things go quiet.

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
        self._pending: dict[tuple[str, Side], _Pending] = {}  # per pair side: one batch names one side's ids
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
            key = (pair, batch.side)
            pending = self._pending.get(key)
            if pending is None:
                pending = self._pending[key] = _Pending(Batch(side=batch.side), now, now)
            pending.batch.merge(batch)
            pending.last = now
            self._cond.notify()

    def pending(self) -> dict[str, int]:
        """Queued record count per pair (for status and tests)."""
        with self._cond:
            out: dict[str, int] = {}
            for (pair, _), p in self._pending.items():
                out[pair] = out.get(pair, 0) + p.batch.size()
            return out

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
            key for key, p in self._pending.items()
            if now - p.last >= self.delay or now - p.first >= self.max_delay
        ]
        return [(key[0], self._pending.pop(key).batch) for key in ready]

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


# -- subscriptions, for `syncd webhooks` ----------------------------------------------


@dataclass(frozen=True)
class PairSubscription:
    """One subscription this tool made for a pair side, as ``syncd webhooks list`` shows it."""

    pair: str
    event: str
    uniqueid: str
    target_url: str
    suspended: bool = False
    success_count: int | None = None
    fail_count: int | None = None
    side: Side = "cloze"

    @property
    def target_masked(self) -> str:
        return mask_url(self.target_url)

    def as_dict(self) -> dict[str, Any]:
        return {
            "pair": self.pair,
            "side": self.side,
            "event": self.event,
            "uniqueid": self.uniqueid,
            "target_url": self.target_masked,
            "suspended": self.suspended,
            "success_count": self.success_count,
            "fail_count": self.fail_count,
        }


def pair_entities(loaded: LoadedConfig, pair: str) -> list[Entity]:
    """The pair's enabled entities."""
    entities = loaded.pair(pair).entities
    return [entity for entity in ENTITY_KINDS if entity in entities and entities[entity].enabled]


def _pair_sides(loaded: LoadedConfig, pair: str) -> list[ChangeNotifications]:
    return [n for n in notification_sources(loaded).values() if n.pair == pair]


def _require_listener(loaded: LoadedConfig) -> None:
    hooks = loaded.app.daemon.webhooks
    problems = []
    if not hooks.enabled:
        problems.append("daemon.webhooks.enabled: must be true")
    if not hooks.public_url:
        problems.append("daemon.webhooks.public_url: the URL the services can reach (your proxy), "
                        "e.g. https://sync.example.com")
    if not loaded.webhook_secret:
        problems.append("daemon.webhooks.secret: needed to build the Cloze webhook URL")
    if problems:
        raise ConfigError(f"{loaded.path}: webhooks are not configured", problems=problems)


def _row(pair: str, side: Side, sub: Any) -> PairSubscription:
    return PairSubscription(pair=pair, event=sub.event, uniqueid=sub.uniqueid, target_url=sub.target_url,
                            suspended=sub.suspended, success_count=sub.success_count,
                            fail_count=sub.fail_count, side=side)


def list_pair(loaded: LoadedConfig, pair: str) -> list[PairSubscription]:
    """The pair's subscriptions on every side whose service lists them."""
    rows: list[PairSubscription] = []
    for notifications in _pair_sides(loaded, pair):
        if notifications.supports_subscribe:
            rows.extend(_row(pair, notifications.side, s) for s in notifications.subscriptions())
    return rows


@dataclass(frozen=True)
class Subscribed:
    """What ``subscribe_pair`` did: the subscriptions made, and for each side whose subscriptions
    live in the service itself, where to set them (with the target URL)."""

    rows: list[PairSubscription]
    elsewhere: dict[Side, str]


def subscribe_pair(loaded: LoadedConfig, pair: str, *, scope: str | None = None) -> Subscribed:
    """Subscribe each of the pair's sides to the changes of its enabled entities, where the service allows it.

    Repeating it replaces the subscriptions, e.g. after the secret or the public URL
    changed. A side whose subscriptions live in the service itself (HubSpot: the
    app's webhook settings) is reported in ``elsewhere`` with the target URL to set there.
    """
    _require_listener(loaded)
    rows: list[PairSubscription] = []
    elsewhere: dict[Side, str] = {}
    for notifications in _pair_sides(loaded, pair):
        try:
            made = notifications.subscribe(notifications.target_url(), pair_entities(loaded, pair), scope=scope)
        except SubscribeUnsupported as exc:
            elsewhere[notifications.side] = exc.hint
            continue
        rows.extend(_row(pair, notifications.side, s) for s in made)
    return Subscribed(rows, elsewhere)


def unsubscribe_pair(loaded: LoadedConfig, pair: str) -> list[str]:
    """Remove every subscription of the pair made by this tool; the ids removed."""
    removed = []
    for notifications in _pair_sides(loaded, pair):
        if notifications.supports_subscribe:
            removed.extend(notifications.unsubscribe())
    return removed
