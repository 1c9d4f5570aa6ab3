"""``ClozeEmulator``: a stateful Cloze API on 127.0.0.1 for the sandbox and the tests."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Self

from connectors.cloze.emulator.api import ClozeApi
from connectors.cloze.emulator.faults import FaultInjector
from connectors.cloze.emulator.server import AdminApi, EmulatorServer
from connectors.cloze.emulator.settings import BehaviourSettings, FaultSettings, as_dict, names, updated
from connectors.cloze.emulator.stats import Stats
from connectors.cloze.emulator.store import RecordStore
from connectors.cloze.emulator.webhooks import WebhookHub
from connectors.cloze.seed import seed_emulator
from connectors.cloze.wire import ENTITY_OF_PATH, KINDS
from connectors.model import Entity

DEFAULT_API_KEY = "emulator-api-key"
DEFAULT_USER = "owner@example.com"


def entity_of(kind: str) -> Entity:
    """``person``/``people``, ``company``/``companies``, ``project``/``projects`` -> the entity."""
    for entity in KINDS:
        if kind == entity:
            return entity
    if kind in ENTITY_OF_PATH:
        return ENTITY_OF_PATH[kind]
    raise KeyError(f"unknown record kind {kind!r}")


class ClozeEmulator:
    """A Cloze API server with real state, switches and counters.

    ``settings`` are the names of :class:`BehaviourSettings` and
    :class:`FaultSettings` fields, e.g. ``keywords_mode="merge"`` or
    ``error_rate=0.2``. ``seed`` makes generated ids (and seeded records)
    repeatable. Use as a context manager, or call :meth:`start` / :meth:`stop`.
    """

    def __init__(
        self,
        api_key: str = DEFAULT_API_KEY,
        user: str = DEFAULT_USER,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
        oauth_tokens: Iterable[str] = (),
        **settings: Any,
    ) -> None:
        behaviour_names, fault_names = names(BehaviourSettings), names(FaultSettings)
        unknown = set(settings) - behaviour_names - fault_names
        if unknown:
            raise TypeError(f"unknown emulator settings: {', '.join(sorted(unknown))}")
        self.api_key = api_key
        self.user = user
        self.oauth_tokens = frozenset(oauth_tokens)
        self.host = host
        self._port = port
        self.behaviour = updated(
            BehaviourSettings(), {k: v for k, v in settings.items() if k in behaviour_names}
        )
        self.faults = FaultInjector(
            updated(FaultSettings(), {k: v for k, v in settings.items() if k in fault_names})
        )
        self.stats = Stats()
        self.store = RecordStore(lambda: self.behaviour, seed)
        self.webhooks = WebhookHub(lambda: self.behaviour, self.stats, lambda: self.store.new_id(24))
        self.api = ClozeApi(self)
        self.admin = AdminApi(self)
        self.stopping = threading.Event()
        self._hooks: list[tuple[str, str, Callable[[], None]]] = []
        self._hooks_lock = threading.Lock()
        self._server: EmulatorServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> Self:
        """Bind (port 0 picks a free port), serve in a background thread, and return ``self``."""
        if self._server is not None:
            return self
        self.stopping.clear()
        self._server = EmulatorServer((self.host, self._port), self)
        self._port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            name="cloze-emulator",
            daemon=True,
        )
        self._thread.start()
        self.webhooks.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.webhooks.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """The base URL to give a client, e.g. ``http://127.0.0.1:40123``."""
        if self._server is None:
            raise RuntimeError("the emulator is not running; call start() first")
        return f"http://{self.host}:{self._port}"

    # -- test hooks ---------------------------------------------------------------------

    def before_request(self, method: str, path_fragment: str, action: Callable[[], None]) -> None:
        """Run ``action`` once, just before the next ``method`` request whose path contains
        ``path_fragment`` is handled: a test lands an edit at an exact moment of a sync
        (after the sync read a record, before its write arrives), with no timing involved."""
        with self._hooks_lock:
            self._hooks.append((method.upper(), path_fragment, action))

    def take_hook(self, method: str, path: str) -> Callable[[], None] | None:
        """The first waiting hook for this request, removed (the server runs it)."""
        with self._hooks_lock:
            for index, (wanted, fragment, action) in enumerate(self._hooks):
                if wanted == method and fragment in path:
                    del self._hooks[index]
                    return action
        return None

    # -- records without HTTP ---------------------------------------------------------

    def add_record(self, kind: str, record: Mapping[str, Any]) -> str:
        """Store ``record`` (Cloze wire shape) as a new record without merging; returns its direct id."""
        return self.store.insert(entity_of(kind), record)

    def records(self, kind: str) -> list[dict[str, Any]]:
        """Every live record of ``kind`` as the API would return it."""
        return copy.deepcopy(self.store.rendered(entity_of(kind)))

    def get_record(self, kind: str, direct_id: str) -> dict[str, Any] | None:
        entity = entity_of(kind)
        with self.store.lock:
            if not self.store.exists(entity, direct_id):
                return None
            return copy.deepcopy(self.store.render(entity, direct_id))

    def remove_record(self, kind: str, direct_id: str) -> bool:
        """Delete a record behind the API's back (as a user would in the Cloze UI)."""
        return self.store.remove(entity_of(kind), direct_id)

    def seed(self, count: int, seed: int = 0) -> dict[str, int]:
        """Add generated small-business data (see :mod:`connectors.cloze.seed`); returns counts per kind."""
        return seed_emulator(self, count, seed)

    # -- switches and counters --------------------------------------------------------

    def set_faults(self, **changes: Any) -> dict[str, Any]:
        return self.faults.configure(changes)

    def reset_faults(self) -> dict[str, Any]:
        return self.faults.configure({}, reset=True)

    def set_behaviour(self, **changes: Any) -> dict[str, Any]:
        self.behaviour = updated(self.behaviour, changes)
        return self.behaviour_dict()

    def behaviour_dict(self) -> dict[str, Any]:
        return as_dict(self.behaviour)

    @property
    def writes(self) -> int:
        """Create/update/delete requests received (every kind, timeline included)."""
        return self.stats.writes

    def request_count(self, endpoint: str | None = None) -> int:
        """Requests received, in total or for one endpoint such as ``"GET /v1/people/find"``."""
        if endpoint is None:
            return self.stats.total_requests
        return int(self.stats.snapshot()["requests"].get(endpoint, 0))

    def stats_snapshot(self) -> dict[str, Any]:
        snap = self.stats.snapshot()
        snap["records"] = {e: self.store.count(e) for e in KINDS}
        snap["webhook_subscriptions"] = len(self.webhooks.listing())
        return snap

    def timeline(self, *, kind: str | None = None, style: str | None = None, source: str | None = None,
                 uniqueid: str | None = None) -> list[dict[str, Any]]:
        """What the timeline endpoints stored (``kind``: communication, content or todo), oldest first;
        a keyed content item posted again replaces its earlier copy."""
        wanted = {"kind": kind, "style": style, "source": source, "uniqueid": uniqueid}
        with self.store.lock:
            items = copy.deepcopy(self.store.timeline)
        return [t for t in items if all(v is None or t.get(k) == v for k, v in wanted.items())]

    def subscriptions(self) -> list[dict[str, Any]]:
        return self.webhooks.listing()

    def wait_webhooks(self, timeout: float = 5.0) -> bool:
        """Wait until every queued webhook delivery (and retry) has been attempted."""
        return self.webhooks.wait_idle(timeout)
