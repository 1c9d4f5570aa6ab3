"""Which pairs the tick leaves due because their account is busy.

Two pairs that share one Cloze or external account must not together exceed that
account's rate limit. The account leases and the per-account API budget ledger
(:mod:`state.budget`) decide which accounts are busy or out of budget; :func:`busy_pairs` is
the one place the tick asks. A pair left out stays due and is taken by a later tick.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from sqlalchemy import Connection

from state.budget import unavailable_accounts


def busy_pairs(conn: Connection, accounts: Mapping[str, Collection[str]]) -> frozenset[str]:
    """The pairs of ``accounts`` (pair -> its account keys) with an account that cannot take a run
    now: held by a live lease or past its share of the day's budget (read in the tick's transaction)."""
    if not accounts:
        return frozenset()
    unavailable = unavailable_accounts(conn)
    return frozenset(pair for pair, keys in accounts.items() if unavailable.intersection(keys))
