"""Which accounts a state database belongs to, and the refusal to run it against others.

On a pair's first run the state database records the account identity of each
side (:meth:`connectors.base.Connector.account_identity`) and the pair's
``app_id``. Every later run compares: a state database copied from another
deployment (same pair name, other accounts) would otherwise overwrite edits with
stale bases, so the run stops before any write with :class:`AccountMismatchError`
(exit 78). ``syncd state adopt`` records the current accounts after a legitimate
move (a renamed Cloze login, a migrated HubSpot portal).
"""

from __future__ import annotations

from collections.abc import Mapping

from connectors.base import Connector
from connectors.errors import AccountMismatchError
from connectors.model import Side
from state.store import StateStore

Identity = Mapping[str, Mapping[str, str]]


def current_accounts(conns: Mapping[Side, Connector], app_id: str) -> dict[str, dict[str, str]]:
    """The identity of each side as the connectors report it now, plus the pair's app_id."""
    out: dict[str, dict[str, str]] = {side: dict(conn.account_identity()) for side, conn in conns.items()}
    out["app"] = {"app_id": app_id}
    return out


def mismatches(recorded: Identity, current: Identity) -> list[str]:
    """``side.key: recorded -> current`` for every key both know and that differs (pure)."""
    out = []
    for side in sorted(set(recorded) & set(current)):
        was, now = recorded[side], current[side]
        for key in sorted(set(was) & set(now)):
            if was[key] != now[key]:
                out.append(f"{side}.{key}: recorded {was[key]!r}, now {now[key]!r}")
    return out


def verify_accounts(store: StateStore, pair: str, current: Identity, *, record: bool) -> None:
    """Refuse a state database made for other accounts; record what is new when ``record``."""
    recorded = store.accounts(pair)
    differ = mismatches(recorded, current)
    if differ:
        raise AccountMismatchError(
            f"the state database {store.where} belongs to other accounts than pair {pair!r} reaches now: "
            + "; ".join(differ),
            pair=pair,
            hint=f"point [state] path at this deployment's own database; if the accounts really moved, run "
                 f"`syncd state adopt --pair {pair}` once",
        )
    fresh = {side: ident for side, ident in current.items()
             if ident and any(recorded.get(side, {}).get(k) != v for k, v in ident.items())}
    if record and fresh:
        with store.transaction() as s:
            StateStore.record_accounts(s, pair, {side: {**recorded.get(side, {}), **ident}
                                                for side, ident in fresh.items()})


def adopt_accounts(store: StateStore, pair: str, current: Identity) -> dict[str, list[str]]:
    """Record ``current`` as the pair's accounts, replacing what was recorded; what changed."""
    recorded = store.accounts(pair)
    with store.transaction() as s:
        StateStore.record_accounts(s, pair, current)
    return {"changed": mismatches(recorded, current)}
