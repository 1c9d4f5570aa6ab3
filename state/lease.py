"""The pair lease: one writer per pair, fenced by an epoch.

A run claims the pair's lease with one conditional statement (see
:meth:`state.store.StateStore.claim_lease`); the claim bumps the lease's
``epoch``, the fencing token. Every state transaction of the run begins by
renewing the lease *for that epoch* (:class:`state.store.FencedStore`), so a run
whose lease was taken over writes nothing more to the state database.

:class:`LeaseKeeper` renews the lease on a thread while the run reads (a long
read phase has no transaction to renew it) and tells the run, through
:meth:`LeaseKeeper.check`, to stop before its next batch of API writes once
the lease is lost or has not been renewed for longer than is safe.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

import structlog
from sqlalchemy.exc import OperationalError

from connectors.errors import LeaseLostError, StateError
from state.clock import monotonic

log = structlog.get_logger("syncd.lease")

DEFAULT_TTL = 60.0


class LeaseRenewer(Protocol):
    """What a keeper needs of the state database (:class:`state.store.StateStore` is one)."""

    def renew_lease(self, pair: str, owner: str, epoch: int, ttl_seconds: float) -> bool: ...


@dataclass(frozen=True)
class LeaseToken:
    """A claimed lease: who holds it and the epoch that fences its writes."""

    pair: str
    owner: str
    epoch: int
    ttl: float


class LeaseKeeper:
    """Keeps one claimed lease alive and knows whether it still is."""

    def __init__(self, store: LeaseRenewer, token: LeaseToken, *, interval: float | None = None) -> None:
        self.store = store
        self.token = token
        self.interval = interval if interval is not None else max(token.ttl / 6, 0.05)
        self._renewed = monotonic()
        self._lost = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- what the run asks ---------------------------------------------------------

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    def renewed(self) -> None:
        """A fenced transaction renewed the lease (it checks the epoch first)."""
        self._renewed = monotonic()

    def mark_lost(self) -> None:
        if not self._lost.is_set():
            log.error("lease_lost", pair=self.token.pair, epoch=self.token.epoch)
        self._lost.set()

    def check(self) -> None:
        """Raise :class:`LeaseLostError` if the run must stop writing now.

        Self-fencing: past ``ttl - interval`` without a renewal another process may
        already consider the lease expired, so no more API writes are started.
        """
        if self.lost:
            raise self.error()
        if monotonic() - self._renewed > self.token.ttl - self.interval and not self.renew():
            raise self.error()

    def error(self) -> LeaseLostError:
        return LeaseLostError(
            f"the lease on pair {self.token.pair!r} was lost (epoch {self.token.epoch}): another process took it "
            "over or it could not be renewed in time; this run stopped writing",
            pair=self.token.pair,
            hint="the next run picks up where this one stopped",
        )

    # -- renewing --------------------------------------------------------------------

    def renew(self) -> bool:
        if self.lost:
            return False
        try:
            ok = self.store.renew_lease(self.token.pair, self.token.owner, self.token.epoch, self.token.ttl)
        except (OperationalError, StateError) as exc:
            # Locked for a moment by a writer: not lost yet; check() gives up once the TTL runs out.
            log.warning("lease_renewal_delayed", pair=self.token.pair, error=str(exc))
            return False
        if ok:
            self.renewed()
        else:
            self.mark_lost()
        return ok

    def start(self) -> LeaseKeeper:
        self._thread = threading.Thread(target=self._loop, name=f"lease:{self.token.pair}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=max(self.interval * 2, 5.0))

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            if monotonic() - self._renewed < self.interval / 2:
                continue  # a fenced transaction just renewed it
            self.renew()
            if self.lost:
                return
