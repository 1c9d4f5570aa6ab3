"""Which run a request belongs to: the ``X-Syncd-Run`` and ``X-Syncd-Lease`` headers.

The engine sets the run's id and its lease epoch for the thread that runs a pair
(:func:`tagged`); every :class:`~connectors.http.ApiSession` request of that run carries
them. A service's own request log (the emulators keep one) can then show which run
and which lease holder made each call, across processes and hosts: two runs of one
pair never interleave, and a run fenced out at epoch N made no call after epoch N+1 began.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

RUN_HEADER = "X-Syncd-Run"
LEASE_HEADER = "X-Syncd-Lease"

_current: ContextVar[dict[str, str] | None] = ContextVar("syncd_run_tag", default=None)


def headers() -> dict[str, str]:
    """The headers of the run this thread is doing (none outside a run)."""
    return _current.get() or {}


@contextmanager
def tagged(run_id: str, epoch: int | None) -> Iterator[None]:
    tag = {RUN_HEADER: run_id}
    if epoch is not None:
        tag[LEASE_HEADER] = str(epoch)
    token = _current.set(tag)
    try:
        yield
    finally:
        _current.reset(token)
