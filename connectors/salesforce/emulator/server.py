"""The Salesforce emulator: a stateful HTTP(S) server on loopback speaking Salesforce's REST API.

Each request goes through: admin routes (``/_emulator/...``, no auth) -> the OAuth token endpoint
-> ``/services/data/`` (versions, no auth, not counted) -> session check (401 INVALID_SESSION_ID)
-> API version (410/404) -> routing -> scripted/random faults -> the daily budget (403
REQUEST_LIMIT_EXCEEDED) -> the handler, under the store lock -> a reply with ``Sforce-Limit-Info``.
"""

from __future__ import annotations

import dataclasses
import email.utils
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from connectors.hubspot.emulator.faults import Fault, FaultPlan
from connectors.quiet_server import QuietHTTPServer
from connectors.salesforce.emulator import auth, schema
from connectors.salesforce.emulator.api_query import Cursors
from connectors.salesforce.emulator.call import Call, Reply, Stats
from connectors.salesforce.emulator.clock import Clock, format_datetime, parse_datetime
from connectors.salesforce.emulator.errors import (
    RecordError,
    SalesforceError,
    api_error,
    invalid_session,
    json_error,
    not_found,
)
from connectors.salesforce.emulator.limits import DailyBudget, header
from connectors.salesforce.emulator.query import render
from connectors.salesforce.emulator.router import resolve
from connectors.salesforce.emulator.settings import (
    EmulatorSettings,
    FaultSettings,
    split_kwargs,
    updated_faults,
    updated_settings,
    version_tuple,
)
from connectors.salesforce.emulator.store import Store
from connectors.salesforce.seed import load_into

DEFAULT_SESSION = "00D5g0000000001!emulator-session"
_SEASONS = ("Winter", "Spring", "Summer")


class SalesforceEmulator:
    """A Salesforce org on a local port.

    ``SalesforceEmulator(session_id=..., **settings)`` accepts every :class:`EmulatorSettings` and
    :class:`FaultSettings` field as a keyword argument. ``tls_cert``/``tls_key`` (PEM files) make it
    serve HTTPS. ``start()`` binds port 0 (or ``port``); use it as a context manager to stop it.
    """

    def __init__(self, session_id: str = DEFAULT_SESSION, *, sessions: Iterable[str] = (), host: str = "127.0.0.1",
                 port: int = 0, tls_cert: str | Path | None = None, tls_key: str | Path | None = None,
                 **kwargs: Any) -> None:
        setting_changes, fault_changes = split_kwargs(kwargs)
        self.host = host
        self._port = port
        self._tls = (str(tls_cert), str(tls_key)) if tls_cert and tls_key else None
        self.settings = updated_settings(EmulatorSettings(), setting_changes)
        self.faults = FaultPlan(updated_faults(FaultSettings(), fault_changes))
        self.clock = Clock()
        self.sessions = auth.Sessions(self.clock, {session_id, *sessions})
        self.refresh_tokens = auth.RefreshTokens()
        self.budget = DailyBudget(self.clock)
        self.cursors = Cursors()
        self.stats = Stats()
        self.store = self._new_store()
        self._server: QuietHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._hooks: list[tuple[str, str, Callable[[], None]]] = []
        self._hooks_lock = threading.Lock()

    def _new_store(self) -> Store:
        defs = schema.build(self.settings.external_id_field, tuple(self.settings.external_id_objects))
        return Store(defs, self.clock, self.settings.user_id, self.settings.username)

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> Self:
        server = QuietHTTPServer((self.host, self._port), _make_handler(self))
        if self._tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self._tls)
            server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever,
                                        name="salesforce-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
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
        """The instance URL (``https://`` when serving TLS)."""
        return f"{'https' if self._tls else 'http'}://{self.host}:{self.port}"

    # -- runtime switches -----------------------------------------------------------------------------

    def configure(self, **changes: Any) -> EmulatorSettings:
        """Change org settings (any :class:`EmulatorSettings` field) while running."""
        self.settings = updated_settings(self.settings, changes)
        if {"external_id_field", "external_id_objects"} & set(changes):
            with self.store.lock:
                self.store.redefine(schema.build(self.settings.external_id_field,
                                                 tuple(self.settings.external_id_objects)))
        return self.settings

    def set_faults(self, **changes: Any) -> FaultSettings:
        self.faults.replace(updated_faults(self.faults.settings, changes))
        return self.faults.settings

    def reset(self) -> None:
        """Forget every record, counter, cursor and the budget's usage."""
        with self.store.lock:
            self.store = self._new_store()
        self.cursors.expire_all()
        self.stats.reset()
        self.budget.reset()

    def advance_clock(self, seconds: float) -> float:
        """Move the org's clock forward (a day: 86_400), e.g. to let the daily budget roll over."""
        return self.clock.advance(seconds)

    def freeze_clock(self, at: float | None) -> None:
        self.clock.freeze(at)

    def spend_budget(self, calls: int) -> None:
        """Use ``calls`` of the daily budget, as the org's other integrations would."""
        self.budget.spend(calls)

    def issue_refresh_token(self) -> str:
        """A refresh token, as a user's consent in the web-server OAuth flow would have issued it."""
        return self.refresh_tokens.issue()

    def revoke_sessions(self, token: str | None = None) -> int:
        return self.sessions.revoke(token)

    def expire_cursors(self) -> None:
        self.cursors.expire_all()

    # -- direct access (no HTTP, no budget, no duplicate rule) -----------------------------------------

    def add_record(self, object_name: str, fields: Mapping[str, Any], *, created: float | None = None,
                   modified: float | None = None) -> str:
        """Create a record as a user in Salesforce would; returns its 18-character id."""
        name = self._object(object_name)
        with self.store.lock:
            try:
                clean = self.store.clean(name, fields, creating=True)
                row = self.store.insert(name, clean, created=None if created is None else int(created))
            except RecordError as exc:
                raise ValueError(f"{exc.code}: {exc.message}") from None
            if modified is not None:
                row["LastModifiedDate"] = row["SystemModstamp"] = int(modified)
            return str(row["Id"])

    def update_record(self, object_name: str, record_id: str, fields: Mapping[str, Any]) -> None:
        name = self._object(object_name)
        with self.store.lock:
            try:
                row = self.store.live(name, record_id)
                self.store.modify(row, name, self.store.clean(name, fields, creating=False))
            except RecordError as exc:
                raise ValueError(f"{exc.code}: {exc.message}") from None

    def add_field(self, object_name: str, name: str, *, type: str = "string", length: int = 255,
                  external_id: bool = False, unique: bool = False, picklist: Iterable[str] = (),
                  restricted: bool = False) -> None:
        """Define a custom field, as an admin would in Setup (e.g. an External ID that is not Unique)."""
        target = self._object(object_name)
        with self.store.lock:
            self.store.defs[target].fields[name] = schema.FieldDef(
                name, type, length, external_id=external_id, unique=unique, custom=True,
                picklist=tuple(picklist), restricted=restricted)

    def touch(self, object_name: str, record_ids: Iterable[str]) -> None:
        """An automated change (workflow, trigger): SystemModstamp moves, LastModifiedDate does not."""
        name = self._object(object_name)
        with self.store.lock:
            for record_id in record_ids:
                self.store.modify(self.store.live(name, record_id), name, {}, automation=True)

    def add_user(self, email: str, first: str, last: str) -> str:
        """Another user of the org (records and activities can be assigned to it); returns its id."""
        with self.store.lock:
            user_id = self.store.new_id("User")
            self.store.add_user(user_id, email, first, last)
            return user_id

    def archive_activities(self, object_name: str, record_ids: Iterable[str]) -> None:
        """Archive Tasks or Events as Salesforce's nightly job does to old activities: ``query`` stops
        returning them, ``queryAll`` still does; SystemModstamp stays (INFERRED: it is no user edit)."""
        name = self._object(object_name)
        with self.store.lock:
            for record_id in record_ids:
                self.store.live(name, record_id)["IsArchived"] = True

    def delete_record(self, object_name: str, record_id: str) -> None:
        name = self._object(object_name)
        with self.store.lock:
            try:
                self.store.delete(name, self.store.live(name, record_id))
            except RecordError as exc:
                raise ValueError(f"{exc.code}: {exc.message}") from None

    def undelete(self, object_name: str, record_id: str) -> None:
        name = self._object(object_name)
        with self.store.lock:
            row = self.store.find(name, record_id)
            if row is None or not row["IsDeleted"]:
                raise ValueError(f"{record_id} is not in the Recycle Bin")
            self.store.undelete(name, row)

    def merge(self, object_name: str, master_id: str, loser_ids: Iterable[str],
              fields: Mapping[str, Any] | None = None) -> None:
        """Merge records into ``master_id``, as Salesforce's merge does (see §9.3 of the research); ``fields``
        are the values the user picked from the losers for the master (the merge wizard's choices)."""
        name = self._object(object_name)
        with self.store.lock:
            try:
                with self.store.transaction():
                    picked = self.store.clean(name, fields or {}, creating=False)
                    self.store.merge(name, master_id, list(loser_ids), picked)
            except RecordError as exc:
                raise ValueError(f"{exc.code}: {exc.message}") from None

    def convert_lead(self, lead_id: str, *, account_id: str | None = None) -> dict[str, str]:
        """Convert a lead (a contact and, unless ``account_id`` is given, an account); the new ids."""
        with self.store.lock:
            try:
                with self.store.transaction():
                    return self.store.convert_lead(lead_id, account_id=account_id,
                                                   custom_fields=tuple(self.settings.lead_convert_custom_fields))
            except RecordError as exc:
                raise ValueError(f"{exc.code}: {exc.message}") from None

    def purge(self, older_than_days: float | None = None) -> int:
        """Empty the Recycle Bin (all of it, or what was deleted more than ``older_than_days`` ago)."""
        with self.store.lock:
            cutoff = None if older_than_days is None else int(self.clock.now() - older_than_days * 86_400)
            return self.store.purge(older_than=cutoff)

    def records(self, object_name: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        """Every record of an object as the API renders it (datetimes as strings)."""
        name = self._object(object_name)
        with self.store.lock:
            odef = self.store.defs[name]
            return [render(self.store, odef, r, None, self.settings.max_api_version)
                    for r in self.store.rows[name].values() if include_deleted or not r["IsDeleted"]]

    def get_record(self, object_name: str, record_id: str) -> dict[str, Any] | None:
        name = self._object(object_name)
        with self.store.lock:
            row = self.store.find(name, record_id)
            return None if row is None else render(self.store, self.store.defs[name], row, None,
                                                   self.settings.max_api_version)

    def _object(self, object_name: str) -> str:
        name = schema.object_name(self.store.defs, object_name)
        if name is None:
            raise ValueError(f"unknown Salesforce object {object_name!r}")
        return name

    def _expire_recycle_bin(self) -> None:
        cutoff = int(self.clock.now() - self.settings.recycle_bin_days * 86_400)
        self.store.purge(older_than=cutoff)

    # -- one request ----------------------------------------------------------------------------------

    def before_request(self, method: str, path_fragment: str, action: Callable[[], None]) -> None:
        """Run ``action`` once, just before the next ``method`` request whose path contains ``path_fragment``
        is handled: a test lands an edit at an exact moment of a sync (after the sync read a record, before
        its write arrives), with no timing involved."""
        with self._hooks_lock:
            self._hooks.append((method.upper(), path_fragment, action))

    def _take_hook(self, method: str, path: str) -> Callable[[], None] | None:
        with self._hooks_lock:
            for index, (wanted, fragment, action) in enumerate(self._hooks):
                if wanted == method and fragment in path:
                    del self._hooks[index]
                    return action
        return None

    def handle(self, method: str, raw_path: str, headers: Mapping[str, str], raw_body: bytes
               ) -> tuple[Reply, Fault | None]:
        split = urlsplit(raw_path)
        path, query = split.path, parse_qs(split.query, keep_blank_values=True)
        if path.startswith("/_emulator/"):
            return self._admin(method, path, query, raw_body), None
        self.stats.bump("requests")
        hook = self._take_hook(method, path)
        if hook is not None:
            hook()
        try:
            reply, fault = self._dispatch(method, path, query, headers, raw_body)
        except SalesforceError as exc:
            reply, fault = Reply(exc.status, exc.body, dict(exc.headers)), None
            if exc.status == 401:
                self.stats.bump("unauthorized")
        with self.stats.lock:
            self.stats.by_status[reply.status] += 1
        return reply, fault

    def _dispatch(self, method: str, path: str, query: dict[str, list[str]], headers: Mapping[str, str],
                  raw_body: bytes) -> tuple[Reply, Fault | None]:
        if path == "/services/oauth2/token" and method == "POST":
            return Reply(200, auth.grant(self.settings, self.sessions, self.refresh_tokens, raw_body, headers,
                                        self.url)), None
        if path == "/services/oauth2/revoke" and method == "POST":
            form = parse_qs(raw_body.decode("utf-8", "replace"))
            token = (form.get("token") or query.get("token") or [""])[-1]
            self.sessions.revoke(token)
            return Reply(200), None
        parts = [p for p in path.split("/") if p]
        if parts[:2] != ["services", "data"]:
            raise not_found()
        if len(parts) == 2:
            return Reply(200, self._versions()), None
        if not auth.bearer(headers) or not self.sessions.valid(auth.bearer(headers),
                                                               self.settings.session_timeout_seconds):
            raise invalid_session()
        version = self._version(parts[2])
        route = resolve(method, parts[3:], self.store.defs, self.cursors)
        with self.stats.lock:
            self.stats.by_route[route.name] += 1
        fault = self.faults.pick(method, path)
        if fault is not None:
            self.stats.bump("faults_injected")
            if fault.kind == "drop":
                return Reply(0), fault
            if fault.kind == "error":
                raise _server_error(fault.status)
            if fault.kind == "rate_limit":
                raise api_error(403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded.")
        settings = self.settings
        try:
            used = self.budget.admit(settings.daily_api_limit)
        except SalesforceError:
            self.stats.bump("limit_refused")
            raise
        self.stats.bump("api_calls")
        limit_header = {"Sforce-Limit-Info": header(used, settings.daily_api_limit, settings.limit_info_form)}
        if self.faults.settings.latency > 0:
            time.sleep(self.faults.settings.latency)
        body = _parse_json(raw_body)
        with self.store.lock:
            self._expire_recycle_bin()
            call = Call(method, version, query, body, headers, settings, self.store, self.stats, used)
            try:
                reply = route.handler(call)
            except SalesforceError as exc:
                exc.headers.update(limit_header)
                raise
        reply.headers.update(limit_header)
        return reply, fault if fault is not None and fault.kind in ("slow", "malformed", "drop_after") else None

    def _version(self, segment: str) -> str:
        if not segment.startswith("v"):
            raise not_found()
        try:
            wanted = version_tuple(segment[1:])
        except ValueError:
            raise not_found() from None
        if wanted < version_tuple(self.settings.min_api_version):
            raise api_error(410, "GONE",
                            f"Version {segment[1:]} of the API is no longer supported")
        if wanted > version_tuple(self.settings.max_api_version):
            raise not_found()
        return f"{wanted[0]}.{wanted[1]}"

    def _versions(self) -> list[dict[str, str]]:
        low, high = version_tuple(self.settings.min_api_version)[0], version_tuple(self.settings.max_api_version)[0]
        out = []
        for major in range(low, high + 1):
            step = major - 65  # v65.0 is Winter '26
            out.append({"label": f"{_SEASONS[step % 3]} '{26 + step // 3:02d}", "url": f"/services/data/v{major}.0",
                        "version": f"{major}.0"})
        return out

    # -- admin API ------------------------------------------------------------------------------------

    def _admin(self, method: str, path: str, query: dict[str, list[str]], raw_body: bytes) -> Reply:
        try:
            body = _parse_json(raw_body) or {}
            route = (method, path.removeprefix("/_emulator/").rstrip("/"))
            if route == ("GET", "health"):
                return Reply(200, {"ok": True})
            if route == ("GET", "stats"):
                return Reply(200, {**self.stats.snapshot(), "api_usage": self.budget.used(),
                                   "daily_api_limit": self.settings.daily_api_limit})
            if route == ("POST", "settings"):
                return Reply(200, _asdict(self.configure(**body)))
            if route == ("POST", "faults"):
                current = self.set_faults(**body)
                return Reply(200, {**_asdict(current), "script": self.faults.pending_script()})
            if route == ("POST", "reset"):
                self.reset()
                return Reply(200, {"ok": True})
            if route == ("GET", "clock"):
                return Reply(200, {"now": format_datetime(self.clock.now())})
            if route == ("POST", "clock"):
                if "freeze" in body:
                    frozen = body["freeze"]
                    self.freeze_clock(None if frozen is None else parse_datetime(str(frozen)))
                self.advance_clock(float(body.get("advance_seconds", 0)))
                return Reply(200, {"now": format_datetime(self.clock.now())})
            if route == ("POST", "budget"):
                self.spend_budget(int(body.get("spend", 0)))
                return Reply(200, {"api_usage": self.budget.used()})
            if route == ("POST", "seed"):
                return Reply(200, load_into(self))
            if route == ("GET", "records"):
                name = (query.get("object") or [""])[-1]
                deleted = (query.get("include_deleted") or ["false"])[-1].lower() == "true"
                return Reply(200, self.records(name, include_deleted=deleted))
            if route == ("POST", "records"):
                return Reply(201, {"id": self.add_record(str(body["object"]), dict(body.get("fields") or {}))})
            if route == ("POST", "update"):
                self.update_record(str(body["object"]), str(body["id"]), dict(body.get("fields") or {}))
                return Reply(200, {"ok": True})
            if route == ("POST", "delete"):
                self.delete_record(str(body["object"]), str(body["id"]))
                return Reply(200, {"ok": True})
            if route == ("POST", "merge"):
                self.merge(str(body["object"]), str(body["master"]), [str(i) for i in body["losers"]],
                           dict(body.get("fields") or {}))
                return Reply(200, {"ok": True})
            if route == ("POST", "convert-lead"):
                account = body.get("account")
                return Reply(200, self.convert_lead(str(body["id"]), account_id=None if account is None
                                                    else str(account)))
            if route == ("POST", "undelete"):
                self.undelete(str(body["object"]), str(body["id"]))
                return Reply(200, {"ok": True})
            if route == ("POST", "automation"):
                self.touch(str(body["object"]), [str(i) for i in body["ids"]])
                return Reply(200, {"ok": True})
            if route == ("POST", "purge"):
                days = body.get("older_than_days")
                return Reply(200, {"purged": self.purge(None if days is None else float(days))})
            if route == ("POST", "refresh-token"):
                return Reply(201, {"refresh_token": self.issue_refresh_token()})
            if route == ("POST", "revoke"):
                return Reply(200, {"revoked": self.revoke_sessions(body.get("token"))})
            if route == ("POST", "expire-cursors"):
                self.expire_cursors()
                return Reply(200, {"ok": True})
        except (TypeError, ValueError, KeyError) as exc:
            return Reply(400, {"error": str(exc)})
        except SalesforceError as exc:
            return Reply(exc.status, exc.body)
        return Reply(404, {"error": f"no admin route {method} {path}"})


def _server_error(status: int) -> SalesforceError:
    if status == 503:
        return api_error(503, "SERVER_UNAVAILABLE", "Server temporarily unavailable, please try again later")
    return api_error(status, "UNKNOWN_EXCEPTION", "An unexpected error occurred. Please include this ErrorId if you "
                     "contact support: 1234567890-12345 (-1234567890)")


def _asdict(value: Any) -> dict[str, Any]:
    out = dataclasses.asdict(value)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


def _parse_json(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise json_error("Unexpected character: was expecting a JSON value") from None


def _make_handler(emulator: SalesforceEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "salesforce-emulator"
        timeout = 60

        def setup(self) -> None:
            super().setup()
            # Headers and body go out as two writes; without TCP_NODELAY each reply waits for a delayed ACK.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            method = self.command
            override = self.headers.get("X-HTTP-Method-Override")
            if method == "POST" and override:
                method = override.upper()
            reply, fault = emulator.handle(method, self.path, dict(self.headers.items()), raw)
            if fault is not None and fault.kind in ("drop", "drop_after"):
                self.close_connection = True  # the write (for drop_after) was applied; the reply never comes
                return
            payload = b"" if reply.status == 204 or reply.body is None else json.dumps(reply.body).encode()
            if fault is not None and fault.kind == "malformed" and payload:
                payload = payload[: max(1, len(payload) // 2)]
            if fault is not None and fault.kind == "slow":
                time.sleep(fault.seconds)
            try:
                self.send_response(reply.status)
                if payload:
                    self.send_header("Content-Type", "application/json;charset=UTF-8")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if payload:
                    self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        def date_time_string(self, timestamp: float | None = None) -> str:
            """The ``Date`` header on the org's clock, as a real server states its own time."""
            return email.utils.formatdate(emulator.clock.now() if timestamp is None else timestamp, usegmt=True)

        def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read stats instead
            return None

    return Handler


def serve_forever(host: str = "127.0.0.1", port: int = 8766, session_id: str = DEFAULT_SESSION, *,
                  seed: bool = False, tls_cert: str | None = None, tls_key: str | None = None,
                  **settings: Any) -> None:
    """Run an emulator in the foreground until interrupted (``python -m connectors.salesforce.emulator``)."""
    emulator = SalesforceEmulator(session_id, host=host, port=port, tls_cert=tls_cert, tls_key=tls_key, **settings)
    if seed:
        load_into(emulator)
    emulator.start()
    print(f"Salesforce emulator on {emulator.url} (session {session_id!r})", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()


__all__ = ["DEFAULT_SESSION", "SalesforceEmulator", "serve_forever"]
