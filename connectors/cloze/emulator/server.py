"""The HTTP layer: a threaded stdlib server, fault injection at the socket, admin endpoints.

Faults happen here because some of them are about the connection itself: a
reply cut off mid-body (``drop``), a truncated JSON body (``malformed``), a
reply that comes too late (``timeout``), besides 429 and 5xx.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import structlog

from connectors.cloze.emulator.api import NOT_FOUND_BODY, Reply, Request, decode_body
from connectors.quiet_server import QuietHTTPServer

if TYPE_CHECKING:
    from connectors.cloze.emulator.app import ClozeEmulator

log = structlog.get_logger("cloze.emulator")


class EmulatorServer(QuietHTTPServer):
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: ClozeEmulator) -> None:
        self.emulator = emulator
        super().__init__(address, Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up (after a timeout fault, or at shutdown) is not an error worth a traceback.
        log.debug("emulator_connection_error", client=str(client_address))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ClozeEmulator/1.0"
    # headers and body go out as separate writes; with Nagle on, keep-alive requests stall ~40 ms each
    disable_nagle_algorithm = True
    server: EmulatorServer

    def do_GET(self) -> None:
        self._handle("GET")

    _arrived = 0.0

    def parse_request(self) -> bool:
        # The request line is in: the request log dates a call from here, not from when its body was read
        # (a client frozen between sending the headers and the body sent the request before it froze).
        self._arrived = time.monotonic()
        return super().parse_request()

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def log_message(self, format: str, *args: Any) -> None:
        # Requests are counted in Stats instead of logged; one line per request would drown the sandbox.
        return None

    # -- request flow ------------------------------------------------------------------

    def _handle(self, method: str) -> None:
        emu = self.server.emulator
        parts = urlsplit(self.path)
        path = parts.path
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        if path.startswith("/_emulator/"):
            self._send(emu.admin.handle(method, path, raw, query))
            return
        handler = emu.api.route(method, path)
        if handler is None:
            self._send(Reply(404, dict(NOT_FOUND_BODY)))
            return
        emu.stats.request(method, path)
        started, self._status = self._arrived or time.monotonic(), 0
        try:
            self._answer(emu, handler, method, path, query, headers, raw)
        finally:
            emu.stats.call(started, method, path, self._status, headers)

    def _answer(self, emu: Any, handler: Any, method: str, path: str, query: dict[str, str],
                headers: dict[str, str], raw: bytes) -> None:
        decision = emu.faults.decide(path)
        if decision.latency_s and emu.stopping.wait(decision.latency_s):
            return
        denied = emu.api.authenticate(query, headers)
        if denied is not None:
            self._send(denied)
            return
        if decision.pre == "rate_limit":
            emu.stats.fault("rate_limit")
            extra = {} if decision.retry_after is None else {"Retry-After": _seconds(decision.retry_after)}
            self._send(Reply(429, {"errorcode": 429, "message": "Too many requests"}, extra))
            return
        if decision.pre == "error":
            emu.stats.fault("error")
            status = emu.faults.settings.error_status
            self._send(Reply(status, {"errorcode": status, "message": "Internal server error"}))
            return
        if decision.pre == "timeout":
            emu.stats.fault("timeout")
            if emu.stopping.wait(emu.faults.settings.slow_reply_s):
                return
        try:
            body = decode_body(raw)
        except ValueError:
            self._send(Reply(400, {"errorcode": 400, "message": "Malformed JSON body"}))
            return
        hook = emu.take_hook(method, path)
        if hook is not None:
            hook()
        reply = emu.api.call(handler, Request(method, path, query, headers, body))
        if decision.post == "drop":
            emu.stats.fault("drop")
            self._send(reply, cut=True)
        elif decision.post == "malformed":
            emu.stats.fault("malformed")
            self._send(reply, truncate=True)
        else:
            self._send(reply)

    _status = 0

    def _send(self, reply: Reply, *, cut: bool = False, truncate: bool = False) -> None:
        self._status = reply.status
        self.server.emulator.stats.response(reply.status, reply.errorcode)
        data = json.dumps(reply.body).encode()
        sent = data[: max(1, len(data) // 2)] if (cut or truncate) else data
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data) if cut else len(sent)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(sent)
            self.wfile.flush()
            if cut:
                # the promised body never arrives: the client sees the connection dropped mid-response
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            self.close_connection = True


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}"


class AdminApi:
    """``/_emulator/...``: stats, fault and behaviour switches, direct record access (no auth; loopback)."""

    def __init__(self, emulator: ClozeEmulator) -> None:
        self.emu = emulator

    def handle(self, method: str, path: str, raw: bytes, query: Mapping[str, str] | None = None) -> Reply:
        try:
            body = decode_body(raw) or {}
        except ValueError:
            return Reply(400, {"error": "body is not JSON"})
        try:
            return self._dispatch(method, path.removeprefix("/_emulator/").strip("/"), body, query or {})
        except (ValueError, TypeError, KeyError) as exc:
            return Reply(400, {"error": str(exc)})

    def _dispatch(self, method: str, path: str, body: Any, query: Mapping[str, str]) -> Reply:
        emu = self.emu
        if path == "health":
            return Reply(200, {"ok": True})
        if path == "stats":
            if method == "GET":
                return Reply(200, emu.stats_snapshot())
            if method == "DELETE":
                emu.stats.reset()
                return Reply(200, emu.stats_snapshot())
        if path == "stats/reset" and method == "POST":
            emu.stats.reset()
            return Reply(200, emu.stats_snapshot())
        if path == "faults":
            if method == "GET":
                return Reply(200, emu.faults.snapshot())
            if method == "POST":
                changes = dict(_mapping(body))
                reset = bool(changes.pop("reset", False))
                return Reply(200, emu.faults.configure(changes, reset=reset))
        if path == "settings":
            if method == "GET":
                return Reply(200, emu.behaviour_dict())
            if method == "POST":
                return Reply(200, emu.set_behaviour(**_mapping(body)))
        if path == "timeline" and method == "GET":
            # Inspection only: the real Cloze API has no way to read the timeline back.
            return Reply(200, {"items": emu.timeline(**{k: query[k] for k in ("kind", "style", "source", "uniqueid")
                                                          if query.get(k)})})
        if path == "webhooks" and method == "GET":
            return Reply(200, {"list": emu.webhooks.listing()})
        if path == "webhooks/wait" and method == "POST":
            timeout = float(_mapping(body).get("timeout", 5.0))
            return Reply(200, {"idle": emu.wait_webhooks(timeout)})
        if path.startswith("records/"):
            kind = path.removeprefix("records/")
            if method == "GET":
                return Reply(200, {"records": emu.records(kind)})
            if method == "POST":
                return Reply(200, {"direct": emu.add_record(kind, _mapping(body))})
        if path == "seed" and method == "POST":
            args = _mapping(body)
            return Reply(200, emu.seed(int(args.get("count", 50)), seed=int(args.get("seed", 0))))
        return Reply(404, {"error": f"no admin endpoint {method} /_emulator/{path}"})


def _mapping(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, dict):
        raise TypeError("body must be a JSON object")
    return body
