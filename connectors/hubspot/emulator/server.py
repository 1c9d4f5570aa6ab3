"""The HubSpot emulator: a stateful HTTP server on 127.0.0.1 speaking HubSpot's CRM API.

Each request goes through: admin routes (``/_emulator/...``, no auth) -> bearer-token
auth (401 like HubSpot's) -> routing -> scripted/random faults -> rate limits (429 with
``Retry-After``) -> the handler, under the store lock -> reply with HubSpot's headers.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from connectors.hubspot.emulator import history, schema
from connectors.hubspot.emulator.api_objects import render
from connectors.hubspot.emulator.call import Call, Reply, Stats
from connectors.hubspot.emulator.errors import (
    EmulatorError,
    bad_request,
    correlation_id,
    error_body,
    unauthorized,
)
from connectors.hubspot.emulator.faults import BEFORE, Fault, FaultPlan
from connectors.hubspot.emulator.limits import RateLimits, Usage
from connectors.hubspot.emulator.router import resolve
from connectors.hubspot.emulator.schema import PropertyDef
from connectors.hubspot.emulator.settings import (
    EmulatorSettings,
    FaultSettings,
    split_kwargs,
    updated_faults,
    updated_settings,
)
from connectors.hubspot.emulator.shape import present
from connectors.hubspot.emulator.store import Store, StoredObject
from connectors.hubspot.emulator.webhooks import Target, WebhookSender
from connectors.hubspot.seed import load_into
from connectors.quiet_server import QuietHTTPServer

DEFAULT_TOKEN = "pat-na1-emulator-0000"


class HubSpotEmulator:
    """A HubSpot account on a local port.

    ``HubSpotEmulator(token=..., **settings)`` accepts every :class:`EmulatorSettings` and
    :class:`FaultSettings` field as a keyword argument. ``start()`` binds port 0 (or the
    given ``port``) and serves from a thread; use it as a context manager to stop it.
    """

    def __init__(self, token: str = DEFAULT_TOKEN, *, tokens: Iterable[str] = (), host: str = "127.0.0.1",
                 port: int = 0, **kwargs: Any) -> None:
        setting_changes, fault_changes = split_kwargs(kwargs)
        self.tokens = {token, *tokens}
        self.host = host
        self._port = port
        self.settings = updated_settings(EmulatorSettings(), setting_changes)
        self.faults = FaultPlan(updated_faults(FaultSettings(), fault_changes))
        self.webhooks = WebhookSender(self._webhook_target)
        self.store = Store(on_event=self.webhooks.emit)
        self.stats = Stats()
        self.limits = RateLimits()
        self._server: QuietHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._hooks: list[tuple[str, str, Callable[[], None]]] = []
        self._hooks_lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> Self:
        server = QuietHTTPServer((self.host, self._port), _make_handler(self))
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever,
                                        name="hubspot-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.webhooks.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _webhook_target(self) -> Target | None:
        s = self.settings
        if not s.webhook_target_url:
            return None
        return Target(s.webhook_target_url, s.webhook_client_secret, s.webhook_app_id, s.portal_id,
                      max(1, s.webhook_max_events), s.webhook_timestamp_offset_ms)

    # -- runtime switches ----------------------------------------------------------------

    def configure(self, **changes: Any) -> EmulatorSettings:
        """Change account limits (any :class:`EmulatorSettings` field) while running."""
        self.settings = updated_settings(self.settings, changes)
        return self.settings

    def set_faults(self, **changes: Any) -> FaultSettings:
        """Change injected faults (any :class:`FaultSettings` field) while running."""
        self.faults.replace(updated_faults(self.faults.settings, changes))
        return self.faults.settings

    def reset(self) -> None:
        """Forget all records, custom properties, counters and rate windows."""
        with self.store.lock:
            self.store = Store(on_event=self.webhooks.emit)
        self.stats.reset()
        self.limits.reset()

    def reset_stats(self) -> None:
        self.stats.reset()
        self.limits.reset()

    # -- direct access (no HTTP, no limits, no counters) ---------------------------------

    def add_object(self, object_type: str, properties: Mapping[str, Any],
                   associations: Mapping[str, Iterable[str]] | Iterable[tuple[str, str]] | None = None, *,
                   archived: bool = False, created_ms: int | None = None, modified_ms: int | None = None) -> str:
        """Create a record directly; returns its id. Raises ValueError for what HubSpot would refuse."""
        type_ = _known_type(object_type)
        with self.store.lock:
            clean, problems = self.store.clean(type_, properties, enforce_options=self.settings.enforce_enum_options)
            if problems:
                raise ValueError("; ".join(f"{p.name}: {p.message}" for p in problems))
            if type_ == schema.CONTACTS:
                owner = self.store.email_clash(clean, None)
                if owner is not None:
                    raise ValueError(f"Contact already exists. Existing ID: {owner.id}")
            clashes = self.store.unique_clashes(type_, clean, None,
                                                company_domain_unique=self.settings.company_domain_unique)
            if clashes:
                raise ValueError(f"{clashes[0][0]}={clashes[0][1]!r} is already held by {clashes[0][2].id}")
            obj = self.store.create(type_, clean, now=created_ms, source=history.UI)
            if modified_ms is not None:
                obj.modified_ms = modified_ms
            for to_type, to_id in _pairs(associations):
                self.associate(type_, obj.id, to_type, to_id)
            if archived:
                self.store.archive(obj, now=modified_ms)
            return obj.id

    def add_property(self, object_type: str, name: str, *, label: str | None = None, type: str = "string",
                     field_type: str = "text", unique: bool = False,
                     options: Iterable[str] = ()) -> None:
        """Define a custom property directly."""
        type_ = _known_type(object_type)
        opts = [{"label": o, "value": o, "displayOrder": i, "hidden": False} for i, o in enumerate(options)]
        with self.store.lock:
            self.store.definitions[type_][name] = PropertyDef(
                name, label or name, type, field_type, schema.GROUPS[type_], opts, has_unique_value=unique,
                hubspot_defined=False)

    def objects(self, object_type: str, archived: bool = False) -> list[dict[str, Any]]:
        """Every live (or every archived) record of a type, with all its properties."""
        type_ = _known_type(object_type)
        with self.store.lock:
            return [self._snapshot(o) for o in sorted(self.store.all(type_, archived=archived), key=lambda o: int(o.id))]

    def get_object(self, object_type: str, object_id: str) -> dict[str, Any] | None:
        """One record, live or archived, or ``None``."""
        type_ = _known_type(object_type)
        with self.store.lock:
            obj = self.store.objects[type_].get(str(object_id))
            return None if obj is None else self._snapshot(obj)

    def update_object(self, object_type: str, object_id: str, properties: Mapping[str, Any],
                      *, modified_ms: int | None = None) -> None:
        """Change a record directly, as a user in HubSpot's UI would (bumps its modification time)."""
        type_ = _known_type(object_type)
        with self.store.lock:
            obj = self.store.get(type_, object_id)
            if obj is None:
                raise KeyError(f"{type_} {object_id} does not exist")
            clean, problems = self.store.clean(type_, properties, enforce_options=self.settings.enforce_enum_options)
            if problems:
                raise ValueError("; ".join(f"{p.name}: {p.message}" for p in problems))
            self.store.update(obj, clean, now=modified_ms, source=history.UI)

    def before_request(self, method: str, path_fragment: str, action: Callable[[], None]) -> None:
        """Run ``action`` once, just before the next ``method`` request whose path contains
        ``path_fragment`` is handled: a test lands an edit at an exact moment of a sync
        (after the sync read a record, before its write arrives), with no timing involved."""
        with self._hooks_lock:
            self._hooks.append((method.upper(), path_fragment, action))

    def _take_hook(self, method: str, path: str) -> Callable[[], None] | None:
        with self._hooks_lock:
            for index, (wanted, fragment, action) in enumerate(self._hooks):
                if wanted == method and fragment in path:
                    del self._hooks[index]
                    return action
        return None

    def archive(self, object_type: str, object_id: str, *, archived_ms: int | None = None) -> None:
        type_ = _known_type(object_type)
        with self.store.lock:
            obj = self.store.get(type_, object_id)
            if obj is None:
                raise KeyError(f"{type_} {object_id} does not exist")
            self.store.archive(obj, now=archived_ms)

    def restore(self, object_type: str, object_id: str) -> None:
        """Bring an archived record back, as HubSpot's recycling bin does (bumps its modification time)."""
        type_ = _known_type(object_type)
        with self.store.lock:
            obj = self.store.get(type_, object_id, archived=True)
            if obj is None:
                raise KeyError(f"{type_} {object_id} is not archived")
            obj.archived, obj.archived_ms, obj.modified_ms = False, None, self.store.now_ms()

    def set_modified(self, object_type: str, ids: Iterable[str] | str, ms: int) -> None:
        """Give records one last-modified time (e.g. thousands sharing one, like a bulk import)."""
        type_ = _known_type(object_type)
        with self.store.lock:
            for object_id in [ids] if isinstance(ids, str) else ids:
                self.store.objects[type_][str(object_id)].modified_ms = ms

    def freeze_clock(self, ms: int | None) -> None:
        """Stamp every write with ``ms`` until called with ``None``."""
        with self.store.lock:
            self.store.frozen_ms = ms

    def associate(self, from_type: str, from_id: str, to_type: str, to_id: str, type_id: int | None = None) -> None:
        from_t, to_t = _known_type(from_type), _known_type(to_type)
        with self.store.lock:
            if self.store.get(to_t, to_id) is None or self.store.get(from_t, from_id) is None:
                raise KeyError(f"cannot associate {from_t} {from_id} with missing {to_t} {to_id}")
            self.store.associate(from_t, str(from_id), to_t, str(to_id),
                                 type_id or schema.DEFAULT_ASSOCIATION[(from_t, to_t)])

    def associations(self, from_type: str, from_id: str, to_type: str) -> list[str]:
        """Ids of the live records of ``to_type`` associated with ``from_id``."""
        with self.store.lock:
            return list(self.store.associated(_known_type(from_type), str(from_id), _known_type(to_type)))

    def _snapshot(self, obj: StoredObject) -> dict[str, Any]:
        out = render(self.store, obj, sorted(self.store.definitions[obj.type]))
        out["properties"] = {k: v for k, v in out["properties"].items() if v is not None}
        out["associations"] = {t: list(self.store.associated(obj.type, obj.id, t))
                               for t in schema.OBJECT_TYPES if t != obj.type}
        return out

    # -- one request ----------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, headers: Mapping[str, str], raw_body: bytes
               ) -> tuple[Reply, Fault | None]:
        """Answer one HTTP request; the fault, if any, is applied by the transport."""
        split = urlsplit(raw_path)
        path, query = split.path, parse_qs(split.query, keep_blank_values=True)
        if path.startswith("/_emulator/"):
            return self._admin(method, path, raw_body), None
        self.stats.bump("requests")
        try:
            reply, fault = self._api(method, path, query, headers, raw_body)
        except EmulatorError as exc:
            reply, fault = Reply(exc.status, exc.body, dict(exc.headers)), None
            if exc.status == 429:
                self.stats.bump("rate_limited")
                policy = exc.body.get("policyName")
                if policy == "SECONDLY":
                    self.stats.bump("search_rate_limited")
                elif policy == "DAILY":
                    self.stats.bump("daily_limited")
            elif exc.status == 401:
                self.stats.bump("unauthorized")
        with self.stats.lock:
            self.stats.by_status[reply.status] += 1
        return reply, fault

    def _api(self, method: str, path: str, query: dict[str, list[str]], headers: Mapping[str, str],
             raw_body: bytes) -> tuple[Reply, Fault | None]:
        token = _bearer(headers)
        if token is None or token not in self.tokens:
            raise unauthorized()
        route = resolve(method, path)
        with self.stats.lock:
            self.stats.by_route[route.name] += 1
        settings = self.settings
        fault = self.faults.pick(method, path)
        if fault is not None:
            self.stats.bump("faults_injected")
            if fault.kind == "drop":
                return Reply(0), fault
            if fault.kind == "error":
                raise EmulatorError(fault.status, error_body("Internal error", "INTERNAL_ERROR"))
            if fault.kind == "rate_limit":
                raise EmulatorError(429, error_body("You have reached your ten_secondly_rolling limit.", "RATE_LIMITS",
                                                    extra={"errorType": "RATE_LIMIT",
                                                           "policyName": "TEN_SECONDLY_ROLLING"}),
                                    {"Retry-After": "1"})
        usage = self.limits.admit(token, per_10s=settings.rate_limit_per_10s, daily=settings.daily_limit,
                                  search_per_second=settings.search_rate_per_second, is_search=route.is_search)
        latency = self.faults.settings.latency
        if latency > 0:
            time.sleep(latency)
        body = _parse_json(raw_body)
        hook = self._take_hook(method, path)
        if hook is not None:
            hook()
        with self.store.lock:
            call = Call(method, path, query, body, settings, self.store, self.stats)
            try:
                reply = route.handler(call)
            except EmulatorError as exc:
                exc.headers.update(_rate_headers(usage, route.is_search, settings))
                raise
        reply.headers.update(_rate_headers(usage, route.is_search, settings))
        reply.body = present(reply.body, settings)
        return reply, fault if fault is not None and fault.kind not in BEFORE else None

    def _admin(self, method: str, path: str, raw_body: bytes) -> Reply:
        try:
            body = _parse_json(raw_body) or {}
            if method == "GET" and path == "/_emulator/stats":
                return Reply(200, self.stats.snapshot())
            if method == "GET" and path == "/_emulator/health":
                return Reply(200, {"ok": True})
            if method == "POST" and path == "/_emulator/faults":
                current = self.set_faults(**body)
                return Reply(200, {**_asdict(current), "script": self.faults.pending_script()})
            if method == "POST" and path == "/_emulator/settings":
                return Reply(200, _asdict(self.configure(**body)))
            if method == "POST" and path == "/_emulator/reset":
                self.reset()
                return Reply(200, {"ok": True})
        except (TypeError, ValueError) as exc:
            return Reply(400, error_body(str(exc), "VALIDATION_ERROR"))
        except EmulatorError as exc:
            return Reply(exc.status, exc.body)
        return Reply(404, error_body(f"No admin route {method} {path}", "OBJECT_NOT_FOUND"))


def _asdict(value: Any) -> dict[str, Any]:
    import dataclasses

    out = dataclasses.asdict(value)
    return {k: sorted(v) if isinstance(v, frozenset) else list(v) if isinstance(v, tuple) else v
            for k, v in out.items()}


def _known_type(name: str) -> str:
    found = schema.object_type(name)
    if found is None:
        raise ValueError(f"unknown HubSpot object type {name!r}")
    return found


def _pairs(associations: Mapping[str, Iterable[str]] | Iterable[tuple[str, str]] | None
           ) -> list[tuple[str, str]]:
    if associations is None:
        return []
    if isinstance(associations, Mapping):
        return [(t, str(i)) for t, ids in associations.items() for i in ids]
    return [(t, str(i)) for t, i in associations]


def _bearer(headers: Mapping[str, str]) -> str | None:
    value = headers.get("Authorization") or headers.get("authorization") or ""
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _parse_json(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise bad_request("Invalid input JSON on line 1") from None


def _rate_headers(usage: Usage, is_search: bool, settings: EmulatorSettings) -> dict[str, str]:
    if is_search and not settings.rate_headers_on_search:
        return {}
    return usage.headers()


def _make_handler(emulator: HubSpotEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "hubspot-emulator"
        timeout = 60

        def setup(self) -> None:
            super().setup()
            # Headers and body go out as two writes; without TCP_NODELAY each reply waits for a delayed ACK.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            reply, fault = emulator.handle(self.command, self.path, dict(self.headers.items()), raw)
            if fault is not None and fault.kind == "drop":
                self.close_connection = True
                return
            payload = b"" if reply.status == 204 or reply.body is None else json.dumps(reply.body).encode()
            if fault is not None and fault.kind == "malformed" and payload:
                payload = payload[: max(1, len(payload) // 2)]
            if fault is not None and fault.kind == "slow":
                time.sleep(fault.seconds)
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json;charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("X-HubSpot-Correlation-Id", correlation_id())
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if payload:
                    self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:  # quiet: tests and the sandbox read stats instead
            return None

    return Handler


def serve_forever(host: str = "127.0.0.1", port: int = 8765, token: str = DEFAULT_TOKEN, *, seed: bool = False,
                  **settings: Any) -> None:
    """Run an emulator in the foreground until interrupted (``python -m connectors.hubspot.emulator``)."""
    emulator = HubSpotEmulator(token, host=host, port=port, **settings)
    if seed:
        load_into(emulator)
    emulator.start()
    print(f"HubSpot emulator on {emulator.url} (token {token!r})", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
