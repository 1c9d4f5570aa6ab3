"""Which run a request belongs to (the ``X-Syncd-Run`` and ``X-Syncd-Lease`` headers), and
whether that run may still send it.

The engine sets the run's id and its lease epoch for the thread that runs a pair
(:func:`tagged`); every :class:`~connectors.http.ApiSession` request of that run carries
them. A service's own request log (the emulators keep one) can then show which run
and which lease holder made each call, across processes and hosts: two runs of one
pair never interleave, and a run fenced out at epoch N made no call after epoch N+1 began.

The run's ``guard`` (its lease keeper's ``check``) is asked before every request, retries
included: a run frozen mid-batch (a stopped process, a long GC pause, a suspended VM) that
wakes up after another worker took its pair over raises at its next request instead of
finishing the batch it had started.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

RUN_HEADER = "X-Syncd-Run"
LEASE_HEADER = "X-Syncd-Lease"

_current: ContextVar[dict[str, str] | None] = ContextVar("syncd_run_tag", default=None)
_guard: ContextVar[Callable[[], None] | None] = ContextVar("syncd_run_guard", default=None)


def headers() -> dict[str, str]:
    """The headers of the run this thread is doing (none outside a run)."""
    return _current.get() or {}


def check() -> None:
    """Raise (the guard's error) if the run this thread is doing must not send another request."""
    guard = _guard.get()
    if guard is not None:
        guard()


@contextmanager
def tagged(run_id: str, epoch: int | None, guard: Callable[[], None] | None = None) -> Iterator[None]:
    tag = {RUN_HEADER: run_id}
    if epoch is not None:
        tag[LEASE_HEADER] = str(epoch)
    token, guard_token = _current.set(tag), _guard.set(guard)
    try:
        yield
    finally:
        _guard.reset(guard_token)
        _current.reset(token)
