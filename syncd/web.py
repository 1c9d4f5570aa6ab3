"""The daemon's one HTTP listener: ``/metrics``, ``/healthz`` and ``/webhooks/cloze/<pair>``.

stdlib ``wsgiref`` with a thread per request (what prometheus-client builds
internally), bound to the configured address, loopback by default. Not
``prometheus_client.start_http_server``: it binds ``0.0.0.0`` unless told otherwise
and serves nothing else.
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import structlog
from prometheus_client import CollectorRegistry, make_wsgi_app

from syncd.errors import ConfigError
from syncd.metrics import ScrubbedRegistry
from syncd.webhooks import TOKEN_PARAM, Reply, WebhookReceiver

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = structlog.get_logger("syncd.web")

WEBHOOK_PREFIX = "/webhooks/cloze/"


@dataclass(frozen=True)
class Health:
    """``/healthz`` content: ``ok`` decides 200 or 503; ``pairs`` is the JSON body's detail."""

    ok: bool
    pairs: dict[str, dict[str, Any]]

    def body(self) -> bytes:
        stale = sorted(name for name, p in self.pairs.items() if not p.get("ok"))
        return json.dumps({"ok": self.ok, "stale": stale, "pairs": self.pairs}, indent=1).encode()


def _reply(start_response: StartResponse, reply: Reply) -> list[bytes]:
    start_response(
        f"{reply.status} {_REASONS.get(reply.status, '')}".rstrip(),
        [("Content-Type", reply.content_type), ("Content-Length", str(len(reply.body)))],
    )
    return [reply.body]


_REASONS = {
    200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
    411: "Length Required", 413: "Content Too Large", 503: "Service Unavailable",
}


def make_app(
    *,
    registry: CollectorRegistry,
    health: Callable[[], Health],
    webhooks: Callable[[], WebhookReceiver | None],
) -> WSGIApplication:
    """The WSGI router. ``webhooks`` is looked up per request so a reload can swap it."""
    metrics_app = make_wsgi_app(ScrubbedRegistry(registry))

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/metrics":
            if method not in ("GET", "HEAD"):
                return _reply(start_response, Reply(405, b"method not allowed\n"))
            served: Iterable[bytes] = metrics_app(environ, start_response)
            return served
        if path == "/healthz":
            if method not in ("GET", "HEAD"):
                return _reply(start_response, Reply(405, b"method not allowed\n"))
            result = health()
            return _reply(start_response, Reply(200 if result.ok else 503, result.body(), "application/json"))
        if path.startswith(WEBHOOK_PREFIX):
            receiver = webhooks()
            pair = path[len(WEBHOOK_PREFIX):].strip("/")
            if receiver is None or not pair or "/" in pair:
                return _reply(start_response, Reply(404, b"not found\n"))
            if method != "POST":
                return _reply(start_response, Reply(405, b"method not allowed\n"))
            token = parse_qs(environ.get("QUERY_STRING", "")).get(TOKEN_PARAM, [None])[0]
            length_text = environ.get("CONTENT_LENGTH") or ""
            length = int(length_text) if length_text.isdigit() else None
            stream = environ["wsgi.input"]
            reply = receiver.handle(
                pair, token, environ.get("HTTP_X_CLOZE_SUBSCRIPTION_ID"), length, stream.read
            )
            return _reply(start_response, reply)
        return _reply(start_response, Reply(404, b"not found\n"))

    return app


class _Handler(WSGIRequestHandler):
    """Request lines go to structlog at debug level instead of stderr."""

    def log_message(self, format: str, *args: Any) -> None:
        # The webhook URL carries its token: it never reaches a log line.
        line = re.sub(r"([?&]token=)[^&\s\"]+", r"\1***", format % args)
        log.debug("http", client=self.client_address[0], request=line)


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _ThreadingServer6(_ThreadingServer):
    address_family = socket.AF_INET6


def is_loopback(address: str) -> bool:
    """``127.0.0.0/8``, ``::1`` or ``localhost``."""
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


class HttpListener:
    """Binds at :meth:`start` (so a bad address fails before READY=1) and serves on a thread."""

    def __init__(self, app: WSGIApplication, address: str, port: int, *, allow_non_loopback: bool = False) -> None:
        if not is_loopback(address) and not allow_non_loopback:
            raise ConfigError(
                "the HTTP listener must bind a loopback address",
                problems=[
                    f"daemon.http.address: {address!r} is not loopback; set daemon.http.allow_non_loopback = true"
                ],
            )
        self._app = app
        self.address = address
        self.requested_port = port
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        server_class = _ThreadingServer6 if ":" in self.address else _ThreadingServer
        try:
            self._server = make_server(
                self.address, self.requested_port, self._app, server_class=server_class, handler_class=_Handler
            )
        except OSError as exc:
            raise ConfigError(
                "the HTTP listener could not bind",
                problems=[f"daemon.http: {self.address}:{self.requested_port}: {exc.strerror or exc}"],
            ) from exc
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.25}, name="http", daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"http://{host}:{self.port}"

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        """Stop accepting; requests already being answered finish on their own threads."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
