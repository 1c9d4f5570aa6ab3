"""Which accounts a state database belongs to, and the refusal to run it against others.

On a pair's first run the state database records the account identity of each
side (:meth:`connectors.base.Connector.account_identity`) and the pair's
``app_id``. Every later run compares: a state database copied from another
deployment (same pair name, other accounts) would otherwise overwrite edits with
stale bases, so the run stops before any write with :class:`AccountMismatchError`
(exit 78). ``syncd state adopt`` records the current accounts after a legitimate
move (a renamed Cloze login, a migrated HubSpot portal).

:func:`account_keys` names the account each side of a pair reaches, from its
settings alone (no request): the connector, the address and login that select the
account, and a hash of its credential. Two pairs with equal keys share an account's
rate limits and daily budget (:mod:`state.budget`). A key never holds a secret.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from urllib.parse import urlsplit

from pydantic import BaseModel, SecretStr

from config.loader import LoadedConfig
from connectors.base import Connector
from connectors.errors import AccountMismatchError
from connectors.model import Side
from state.store import StateStore

Identity = Mapping[str, Mapping[str, str]]

# Settings that select the account a connector reaches (an address, a login, an org), and
# the credentials that open it, hashed. Pacing, batch sizes and mapping choices are left out:
# two pairs that differ only in those still share the account's limits.
ACCOUNT_FIELDS = ("base_url", "url", "login_url", "instance_url", "database", "org_id", "portal_id",
                  "client_id", "user", "username", "backend", "path")
CREDENTIAL_FIELDS = ("api_key", "token", "password", "rest_key", "session_id")
_ADDRESS_FIELDS = ("base_url", "url", "instance_url", "login_url")


def account_key(connector: str, settings: BaseModel) -> str:
    """``connector@host#digest``: the account ``settings`` reach. The digest covers the account
    fields and a SHA-256 of each credential, so equal keys mean one account, and no key reveals one."""
    chosen: dict[str, str] = {}
    for name in (*ACCOUNT_FIELDS, *CREDENTIAL_FIELDS):
        value = getattr(settings, name, None)
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = hashlib.sha256(value.get_secret_value().encode()).hexdigest()
        elif name in CREDENTIAL_FIELDS:
            value = hashlib.sha256(str(value).encode()).hexdigest()
        chosen[name] = str(value).rstrip("/") if name in _ADDRESS_FIELDS else str(value)
    digest = hashlib.sha256(json.dumps([connector, chosen], sort_keys=True).encode()).hexdigest()[:16]
    host = next((urlsplit(chosen[n]).netloc for n in _ADDRESS_FIELDS if n in chosen), "")
    return f"{connector}@{host}#{digest}" if host else f"{connector}#{digest}"


def account_keys(loaded: LoadedConfig, pair: str) -> dict[Side, str]:
    """The account key of each side of ``pair``, from the config (see :func:`account_key`)."""
    return {side: account_key(loaded.connectors[pair][side].name, loaded.settings[pair][side])
            for side in ("cloze", "external")}


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
