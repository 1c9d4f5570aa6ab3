"""The connector interface every side implements: Cloze, HubSpot, Tryton, Salesforce, plug-ins.

What each method must do, and its error contract, is written once, in
``docs/connectors.md``; ``connectors/memory`` is the short example, and
``tests/kit/conformance.py`` the suite a connector's tests subclass to prove it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, Self, cast, get_args, get_origin, runtime_checkable

from pydantic import BaseModel, ConfigDict
from typing_extensions import TypeVar

from connectors.model import (
    ChangePage,
    CreateRequest,
    Entity,
    FieldSpec,
    Record,
    Side,
    UpdateRequest,
    WriteResult,
)
from connectors.notifications import ChangeNotifications, Listener


class ApiObserver(Protocol):
    """Receives one call per HTTP request and per retry; the metrics module implements it."""

    def api_request(self, side: str, method: str, status: int | None, seconds: float) -> None: ...

    def api_retry(self, side: str, reason: str) -> None: ...


@runtime_checkable
class BudgetObserver(Protocol):
    """An :class:`ApiObserver` that also hears what an account says of its daily API budget
    (HubSpot's ``X-HubSpot-RateLimit-Daily*`` headers); the run's usage ledger implements it."""

    def api_budget(self, side: str, *, remaining: int | None, daily_limit: int | None) -> None: ...


class NullObserver:
    """An :class:`ApiObserver` that ignores everything."""

    def api_request(self, side: str, method: str, status: int | None, seconds: float) -> None:
        return None

    def api_retry(self, side: str, reason: str) -> None:
        return None


@dataclass(frozen=True)
class ConnectorContext:
    """What a connector learns about the pair it serves.

    ``app_id`` / ``app_name`` / ``app_url_template`` describe the external system's
    App Links (``app_url_template`` may use ``{id}`` and ``{entity}``).
    ``custom_fields`` lists, per entity, the native custom-field ids this side must
    read and may write (as ``custom:<id>`` keys). ``state_dir`` is the directory of the
    state database, where a connector may keep small owner-only files of its own (a
    rotated refresh token, a call ledger); ``None`` when there is none.
    """

    pair: str
    side: Side
    app_id: str
    app_name: str = ""
    app_url_template: str = ""
    custom_fields: Mapping[Entity, Sequence[str]] = field(default_factory=dict)
    observer: ApiObserver = field(default_factory=NullObserver)
    state_dir: Path | None = None

    def app_url(self, entity: Entity, external_id: str) -> str:
        if not self.app_url_template:
            return ""
        return self.app_url_template.format(id=external_id, entity=entity)


@dataclass(frozen=True)
class Capabilities:
    """What the sync must know about how a side behaves, per entity (plain data for the core).

    The engine decides from these, never from which system a side is. The fields a side
    can hold at all are :meth:`Connector.fields`; these say how it behaves.

    ``merges_on_create``: the canonical fields (``emails``, ``phones``, ``domains``) by
    which this side merges a created record into an existing record holding the same
    value, instead of creating a second one (Cloze does). Empty: every create is a new
    record. The planner holds back creates *into* such a side that would be folded into one.

    ``read_batch`` / ``write_batch``: the most ids one ``get`` call, and the most records
    one ``create``/``update``/``delete`` call, should carry; ``None``: any number (the
    engine's own batch size applies).

    ``deletes_in_feed``: ``changes`` reports deleted records (``deleted_ids`` or archived
    records); ``False``: a delete shows only in a full listing (``list_all``), so an
    incremental run cannot see it and the next full reconcile does.

    ``conditional_writes``: ``update`` honours ``seen_modified_at``, refusing with
    ``CHANGED_SINCE_READ`` a write to a record changed after the caller read it.

    ``change_notifications``: the side can tell the daemon that records changed
    (webhooks), so a run need not wait for the next poll.

    ``max_values``: per multi-valued canonical field, how many values the side can hold
    (a CRM with two phone slots: ``{"phones": 2}``); a field not named holds any number.
    """

    merges_on_create: frozenset[str] = frozenset()
    read_batch: int | None = None
    write_batch: int | None = None
    deletes_in_feed: bool = True
    conditional_writes: bool = False
    change_notifications: bool = False
    max_values: Mapping[str, int] = field(default_factory=dict)


class ConnectorSettings(BaseModel):
    """Base of every connector's settings model: typos in the config are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


@dataclass(frozen=True)
class Problem:
    """One thing ``syncd doctor`` reports about a side: what is wrong, and what to do about it.

    ``where`` names the config key or the side's object the problem is about
    (``entities.person.fields.custom:lang``, ``contacts.cloze_syncd_id``); never a secret.
    """

    what: str
    fix: str
    where: str = ""


SettingsT_co = TypeVar("SettingsT_co", bound=ConnectorSettings, default=ConnectorSettings, covariant=True)
C = TypeVar("C", bound="Connector[Any]")


class Connector(ABC, Generic[SettingsT_co]):
    """One side of a pair, generic over its settings model: ``class Mine(Connector[MySettings])``.

    The settings class named in the brackets becomes :attr:`Settings`, which the config
    loader validates the connector's table with; ``self.settings`` is then that model, typed.
    """

    name: ClassVar[str]
    """The entry-point name, e.g. ``"hubspot"``; checked against the registration."""

    Settings: ClassVar[type[ConnectorSettings]]
    """Validates this connector's table in the config file (set from ``Connector[SettingsT_co]``)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for base in getattr(cls, "__orig_bases__", ()):
            if get_origin(base) is Connector:
                (model,) = get_args(base)
                if isinstance(model, type) and issubclass(model, ConnectorSettings):
                    cls.Settings = model

    def __init__(self, settings: SettingsT_co, context: ConnectorContext) -> None:
        expected = getattr(type(self), "Settings", ConnectorSettings)
        if not isinstance(settings, expected):  # the loader validates with Settings; this catches wiring slips
            raise TypeError(f"{type(self).__qualname__} needs {expected.__qualname__}, not {type(settings).__qualname__}")
        self.settings: SettingsT_co = settings
        self.context = context

    @classmethod
    def build(cls, settings: ConnectorSettings, context: ConnectorContext) -> Self:
        """``cls(settings, context)`` for a caller holding settings typed as the base model (the loader's);
        ``__init__`` checks that they are this connector's ``Settings``."""
        return cls(cast(Any, settings), context)  # __init__ checks the type at run time

    # -- description -------------------------------------------------------------

    def default_app_url(self, entity: Entity) -> str:
        """This system's record URL for ``entity`` as a template with ``{id}``; ``""`` when there is none.

        Used for the App Links written to Cloze unless the pair's config sets an App URL.
        """
        return ""

    @abstractmethod
    def entities(self) -> frozenset[Entity]:
        """The entities this side can sync."""

    @abstractmethod
    def fields(self, entity: Entity) -> Mapping[str, FieldSpec]:
        """The canonical fields this side can read and write for ``entity``."""

    def capabilities(self, entity: Entity) -> Capabilities:
        """How this side behaves for ``entity``; the default is a side that never merges on create."""
        return Capabilities()

    @classmethod
    def change_notifications(cls, settings: ConnectorSettings, context: ConnectorContext,
                             listener: Listener) -> ChangeNotifications | None:
        """This side's change notifications (:mod:`connectors.notifications`), or ``None`` when it has none.

        A class method: the daemon's listener holds one per pair side without a live
        connector. Raises ``ValueError`` naming the setting to fix when the service has
        them but these settings cannot receive them.
        """
        return None

    def check(self) -> list[Problem]:
        """Test this side against the live service for ``syncd doctor``: every problem found, with its fix.

        Makes reads only. Raises an :class:`~connectors.errors.ApiError` (``AuthError`` for refused
        credentials) or a ``ConfigError`` when the side cannot be inspected any further.
        """
        return []

    def describe(self) -> dict[str, Any]:
        """Account-level facts (stages, segments, API version...) as plain JSON-able data."""
        return {}

    def begin_run(self) -> None:
        """Called by the engine before each run: drop anything kept from an earlier run's reads."""
        return

    def canonical_id(self, entity: Entity, external_id: str) -> str:
        """``external_id`` in the form this side's reads use, for an id a user may have written in another
        form of the same id (Salesforce: 15 characters for 18); unchanged when it is not an id."""
        return external_id

    def account_identity(self) -> dict[str, str]:
        """Which account of its system this connector reaches, as stable non-secret strings.

        Contract: the values name the account, not the credentials (an account or portal
        id, a database and server; never a key, token or password) and stay the same for
        as long as the account exists, so that two accounts of one system always differ.
        It is called once per run before any write, may make one cheap read request, and
        raises an ApiError when the side cannot be reached. The state database records it
        on a pair's first run and refuses a later run whose identity differs (exit 78).
        Return ``{}`` only where the system offers no way to tell; that side is then not
        checked.
        """
        return {}

    # -- reads -------------------------------------------------------------------

    @abstractmethod
    def changes(self, entity: Entity, cursor: str | None) -> Iterator[ChangePage]:
        """Records changed after ``cursor`` (``None``: from the beginning), page by page.

        Pages come in ascending change order and the last page's cursor is the
        position to poll from next time. Must never skip a record changed after
        the cursor; returning one twice is fine.
        """

    @abstractmethod
    def list_all(self, entity: Entity) -> Iterator[Sequence[Record]]:
        """Every live record, page by page (used by a full reconcile)."""

    @abstractmethod
    def get(self, entity: Entity, ids: Sequence[str]) -> dict[str, Record]:
        """Read records by id; an id that is absent from the result no longer exists."""

    @abstractmethod
    def find_linked(self, entity: Entity, ref: str) -> Record | None:
        """The record carrying the join marker for ``ref``.

        On Cloze, ``ref`` is the external id (the App Link ``(app_id, ref)``); on an
        external side, ``ref`` is the Cloze identity stored in ``cloze_ref``.
        """

    def find_linked_many(self, entity: Entity, refs: Sequence[str]) -> dict[str, Record]:
        """:meth:`find_linked` for many refs at once: ``{ref: record}`` for those found.

        A connector whose API can look up many markers in one call overrides this; by default
        each ref is looked up on its own.
        """
        found: dict[str, Record] = {}
        for ref in dict.fromkeys(refs):
            record = self.find_linked(entity, ref)
            if record is not None:
                found[ref] = record
        return found

    @abstractmethod
    def lookup(self, entity: Entity, field_name: str, value: str) -> list[Record]:
        """Records whose ``field_name`` (``emails``, ``domains``, ``name``) holds ``value``.

        Used to match records that already exist on both sides before the first sync.
        """

    def current_cursor(self, entity: Entity) -> str | None:
        """A cursor meaning "now", taken before a full listing so nothing is missed after it."""
        return None

    # -- writes ------------------------------------------------------------------

    @abstractmethod
    def create(self, entity: Entity, requests: Sequence[CreateRequest]) -> list[WriteResult]:
        """Create records; results in request order, each with the new record's id."""

    @abstractmethod
    def update(self, entity: Entity, requests: Sequence[UpdateRequest]) -> list[WriteResult]:
        """Change only the given fields; results in request order."""

    @abstractmethod
    def delete(self, entity: Entity, ids: Sequence[str]) -> list[WriteResult]:
        """Delete (or archive, where the side only archives) records; results in order."""

    def close(self) -> None:
        """Release connections."""
        return

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
