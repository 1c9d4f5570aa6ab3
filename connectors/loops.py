"""Loop detection for paged reads: a feed that hands out a position twice would never end.

A change feed or a listing moves forward page by page (a cursor, an ``after``
token, a keyset position). A server bug, a proxy replaying a cached page, or a
hostile server can hand out the same position again; following it would read the
same pages until the run deadline. :class:`RepeatGuard` remembers every position
one read asked for and raises :class:`~connectors.errors.FeedLoopError` the first
time one comes round again.
"""

from __future__ import annotations

from collections.abc import Hashable

from connectors.errors import FeedLoopError


class RepeatGuard:
    """The positions one paged read has asked for (one guard per read, never shared)."""

    def __init__(self, *, side: str, pair: str | None, entity: str | None, url: str, service: str) -> None:
        self.side = side
        self.pair = pair
        self.entity = entity
        self.url = url
        self.service = service
        self._seen: set[Hashable] = set()

    def see(self, position: Hashable, *, what: str = "cursor") -> None:
        """Record that ``position`` is asked for next; raise if it was asked for before."""
        if position in self._seen:
            raise FeedLoopError(
                f"the {self.service} feed handed out the same {what} again after {len(self._seen)} pages; "
                "following it would never end",
                side=self.side, pair=self.pair, entity=self.entity, url=self.url,
                hint=f"this is a fault of the {self.service} API (or of a proxy in front of it); "
                     "the run stopped before applying anything from this read",
            )
        self._seen.add(position)
