"""What the connector needs from a Tryton server, whichever protocol carries it.

Two implementations: :class:`~connectors.tryton.rpc.RpcClient` (JSON-RPC with a
login session) and :class:`~connectors.tryton.rest.RestClient` (the 8.x REST API
with a user application key). Both speak in Tryton's own terms: model names,
domains, field names, one2many/many2many command lists, ``_timestamp`` versions.

Rows come back with nested reads under the field's name (``"contact_mechanisms":
[{...}]``), whichever protocol was used: JSON-RPC's trailing-dot keys
(``"contact_mechanisms."``) are renamed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from connectors.errors import ApiError, AuthError, RecordRejected, TransientApiError
from connectors.scrub import scrub

Domain = list[Any]
Order = Sequence[tuple[str, str]]


class TrytonRejected(RecordRejected):
    """Tryton refused a request about records (UserError, AccessError, a server-side failure).

    ``code`` is Tryton's exception name (``UserError``, ``AccessError``, ``ServerError``...).
    """


class ConcurrentEdit(TrytonRejected):
    """The record changed after the version the write was based on (Tryton's ConcurrencyException)."""


def rejection(error: Any, *, side: str | None = None, pair: str | None = None) -> ApiError:
    """The exception for a JSON-RPC ``error`` member.

    Tryton sends ``[ExceptionName, args]`` for its own exceptions (``UserError``'s args are
    ``[message, description, domain]``) and ``[str(exc), traceback]`` for anything else; the
    traceback is never passed on.
    """
    if isinstance(error, (list, tuple)) and error:
        name = str(error[0])
        args = error[1] if len(error) > 1 else None
        if name == "ConcurrencyException":
            return ConcurrentEdit(f"Tryton: {args or 'records were modified in the meanwhile'}",
                                  code=name, side=side, pair=pair)
        if name in _TRANSIENT:
            return TransientApiError(f"Tryton {name}: {_message(args)}", code=name, side=side, pair=pair)
        if name == "LoginException":
            return AuthError(f"Tryton {name}: {_message(args)}", code=name, side=side, pair=pair)
        if name in _REFUSALS:
            return TrytonRejected(f"Tryton {name}: {_message(args)}", code=name, side=side, pair=pair)
        # Scrubbed before cutting, so a secret the server echoed is never left half-visible.
        return TrytonRejected(f"Tryton server error: {scrub(name.splitlines()[0])[:300]}", code="ServerError",
                              side=side, pair=pair)
    return TrytonRejected(f"Tryton error: {scrub(str(error))[:300]}", code="ServerError", side=side, pair=pair)


_REFUSALS = {"UserError", "UserWarning", "MissingDependenciesException"}
_TRANSIENT = {"RateLimitException", "TimeOutException"}


def _message(args: Any) -> str:
    if isinstance(args, (list, tuple)):
        parts = [str(a) for a in args[:2] if isinstance(a, str) and a]
        return ": ".join(parts) or "refused"
    return str(args) if args else "refused"


def undot(row: Any) -> Any:
    """Rename JSON-RPC's ``"field."`` nested-read keys to ``"field"`` (REST's shape), recursively."""
    if isinstance(row, list):
        return [undot(r) for r in row]
    if not isinstance(row, dict):
        return row
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key == "__name__":
            continue
        if key.endswith("."):
            out[key[:-1]] = undot(value) if value else value
        else:
            out.setdefault(key, value)
    return out


class TrytonClient(ABC):
    """One Tryton database, as the connector's user sees it."""

    @abstractmethod
    def search_read(self, model: str, domain: Domain, fields: Sequence[str], *, offset: int = 0,
                    limit: int | None = None, order: Order | None = None,
                    active_test: bool = True) -> list[dict[str, Any]]:
        """Rows matching ``domain`` with the named fields (dotted names read related records)."""

    @abstractmethod
    def create(self, model: str, values: Sequence[Mapping[str, Any]]) -> list[int]:
        """Create records in one transaction; their ids in order."""

    @abstractmethod
    def write(self, model: str, record_id: int, values: Mapping[str, Any], *, timestamp: str | None = None) -> None:
        """Write one record. With ``timestamp`` (a ``_timestamp`` read earlier), raise
        :class:`ConcurrentEdit` if the record changed since that read."""

    @abstractmethod
    def delete(self, model: str, ids: Sequence[int]) -> None:
        """Delete records in one transaction."""

    @abstractmethod
    def button(self, model: str, name: str, ids: Sequence[int]) -> None:
        """Press a workflow button (e.g. ``sale.opportunity`` ``lost``) on records."""

    @abstractmethod
    def fields_get(self, model: str, names: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
        """Field definitions (type, relation, selection...)."""

    @abstractmethod
    def preferences(self) -> dict[str, Any]:
        """The user's context: company, employee, language..."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection (and log out, for a session)."""

    @property
    @abstractmethod
    def server_checks_versions(self) -> bool:
        """Whether the server itself refuses a write based on a stale ``_timestamp``."""
