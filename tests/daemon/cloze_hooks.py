"""Cloze change notifications for receiver tests that run no Cloze API: the token decides, or known ids do."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager

from connectors.cloze.client import ClozeClient
from connectors.cloze.notifications import ClozeNotifications, SubscriptionCache
from connectors.notifications import ChangeNotifications, Listener


def _no_api() -> AbstractContextManager[ClozeClient]:
    raise AssertionError("these receiver tests reach no Cloze API")


def cloze_sources(secret: str, pairs: Iterable[str], *,
                  known_ids: frozenset[str] | None = None) -> dict[str, ChangeNotifications]:
    """Listener path -> the pair's Cloze notifications; with ``known_ids``, only those subscription ids pass."""
    out: dict[str, ChangeNotifications] = {}
    for pair in pairs:
        cache = SubscriptionCache(lambda _pair: known_ids or frozenset())
        if known_ids is not None:
            cache.refresh(pair)  # fetched just now: an id outside them is refused without asking again
        notifications = ClozeNotifications(pair, Listener("https://sync.example.com", secret), _no_api, cache=cache)
        out[notifications.path()] = notifications
    return out
