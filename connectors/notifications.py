"""Change notifications: the optional connector capability behind the daemon's webhook listener.

A service that can tell the daemon "these records changed" (Cloze's webhooks,
HubSpot's webhooks for apps that have them) is reached through one object per
pair side, made by :meth:`connectors.base.Connector.change_notifications`:

- :meth:`ChangeNotifications.authenticate` looks at a request's head before its
  body is read (a token in the URL, a signature's timestamp) and raises
  :class:`Unauthenticated` when the request cannot be the service's;
- :meth:`ChangeNotifications.parse` checks what needs the body (a signature over
  it) and turns the body into :class:`Changed`: record ids per entity, or "something
  changed" (``poll``) when a notice names no record;
- :meth:`ChangeNotifications.subscribe` / :meth:`~ChangeNotifications.unsubscribe` /
  :meth:`~ChangeNotifications.subscriptions` manage the service's subscriptions
  where its API allows it (``supports_subscribe``); elsewhere the operator sets the
  target URL in the service (HubSpot: the app's webhook settings).

Errors carry what an operator needs (why a request was refused), never a secret or
a signature. The listener, the debouncer and the sync that follows are the daemon's
and know nothing of any one service.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from connectors.model import Entity, Side

PATH_ROOT = "/webhooks/"


def mask_url(url: str) -> str:
    """A webhook URL with its ``token=`` value hidden, for display (a URL token is a credential)."""
    head, sep, _ = url.partition("token=")
    return f"{head}{sep}***" if sep else url


@dataclass(frozen=True)
class Listener:
    """What a connector learns about the daemon's listener.

    ``public_url``: the URL the service reaches the listener at (a proxy in front of
    it); ``secret``: the daemon's shared webhook secret, for services that sign
    nothing and are trusted by a token in the URL; ``None`` when none is set.
    """

    public_url: str
    secret: str | None = None

    def url(self, path: str) -> str:
        """The public URL of a listener path such as ``/webhooks/cloze/main``."""
        return f"{self.public_url.rstrip('/')}{path}"


@dataclass(frozen=True)
class RequestHead:
    """A request as the service addressed it, before its body is read.

    ``url`` is the public URL (``Listener.public_url`` plus the path and query the
    listener saw), which is what a service signs. ``headers`` have lower-case names.
    ``received_at`` is the listener's clock in epoch seconds.
    """

    method: str
    url: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    received_at: float

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class Changed:
    """What one notice says changed: record ids per entity, or only that something did (``poll``)."""

    ids: dict[str, set[str]] = field(default_factory=dict)
    poll: bool = False

    def add(self, entity: Entity, record_id: str) -> None:
        self.ids.setdefault(entity, set()).add(record_id)

    def merge(self, other: Changed) -> None:
        for entity, ids in other.ids.items():
            self.ids.setdefault(entity, set()).update(ids)
        self.poll = self.poll or other.poll

    def __bool__(self) -> bool:
        return self.poll or any(self.ids.values())

    def size(self) -> int:
        return sum(len(v) for v in self.ids.values())

    def only(self) -> dict[str, frozenset[str]]:
        """The record ids per entity, without the empty ones."""
        return {entity: frozenset(ids) for entity, ids in self.ids.items() if ids}


class NotificationRefused(Exception):
    """A request the listener refuses; ``status`` is the HTTP reply, ``reason`` is safe to log and return."""

    status = 400

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Unauthenticated(NotificationRefused):
    """The request cannot be shown to come from the service (bad token, bad or stale signature)."""

    status = 401


class MalformedNotification(NotificationRefused, ValueError):
    """The body is not what the service sends."""

    status = 400


class SubscribeUnsupported(Exception):
    """The service's subscriptions cannot be managed through its API; ``hint`` says where to set them."""

    def __init__(self, hint: str) -> None:
        super().__init__(hint)
        self.hint = hint


@dataclass(frozen=True)
class Subscription:
    """One subscription at the service, as listed or made (``target_url`` may carry a token: mask it)."""

    event: str
    uniqueid: str
    target_url: str
    suspended: bool = False
    success_count: int | None = None
    fail_count: int | None = None


class ChangeNotifications(ABC):
    """One pair side's change notifications. Subclasses implement :meth:`parse` and what their service offers.

    The listener takes this side's notices at :meth:`path`, ``/webhooks/<side>/<pair>``.
    """

    supports_subscribe = False

    def __init__(self, pair: str, side: Side, listener: Listener) -> None:
        self.pair = pair
        self.side: Side = side
        self.listener = listener

    def path(self) -> str:
        """The listener path this side's notices are posted to."""
        return f"{PATH_ROOT}{self.side}/{self.pair}"

    def target_url(self) -> str:
        """The URL the service must post to (what ``subscribe`` registers, or what an operator sets)."""
        return self.listener.url(self.path())

    def authenticate(self, head: RequestHead) -> None:
        """Raise :class:`Unauthenticated` when the head alone shows the request is not the service's."""
        return

    @abstractmethod
    def parse(self, head: RequestHead, body: bytes) -> Changed:
        """Verify what needs the body, then the records the notice names.

        Raises :class:`Unauthenticated` or :class:`MalformedNotification`.
        """

    def refresh(self) -> None:
        """Learn what :meth:`authenticate` checks against from the service (called in the background)."""
        return

    def subscribe(self, url: str, entities: Sequence[Entity], **options: Any) -> list[Subscription]:
        """Subscribe ``url`` to the changes of ``entities``; safe to repeat. Raises :class:`SubscribeUnsupported`."""
        raise SubscribeUnsupported("this service's change notifications are set up in the service itself")

    def unsubscribe(self) -> list[str]:
        """Remove this tool's subscriptions; the ids removed. Raises :class:`SubscribeUnsupported`."""
        raise SubscribeUnsupported("this service's change notifications are set up in the service itself")

    def subscriptions(self) -> list[Subscription]:
        """This tool's subscriptions at the service. Raises :class:`SubscribeUnsupported`."""
        raise SubscribeUnsupported("this service's change notifications are set up in the service itself")
