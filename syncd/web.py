"""The daemon's one HTTP listener: ``/`` (status page), ``/metrics``, ``/healthz``, ``/webhooks/<side>/<pair>``.

A WSGI app behind :class:`syncd.httpserve.BoundedServer` (wsgiref's request
handler, a small worker pool, every request read in full before a worker sees
it), bound to the configured address, loopback by default. Not
``prometheus_client.start_http_server``: it binds ``0.0.0.0`` unless told otherwise,
serves nothing else, and gives a thread to every connection however slow.
"""

from __future__ import annotations

import ipaddress
import json
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler

import structlog
from prometheus_client import CollectorRegistry, make_wsgi_app

from connectors.errors import ConfigError
from syncd.httpserve import BoundedServer, ServerLimits, buffered_setup
from syncd.metrics import ScrubbedRegistry
from syncd.webhooks import Reply, WebhookReceiver

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = structlog.get_logger("syncd.web")

WEBHOOK_PREFIX = "/webhooks/"


@dataclass(frozen=True)
class SuccessAge:
    """How old a pair's last success is. One in the future (a clock that was ahead, or
    stepped back since) proves nothing about now, so it is never fresh."""

    age_s: float | None
    in_future: bool

    def fresh(self, max_age_s: float) -> bool:
        return self.age_s is not None and not self.in_future and self.age_s <= max_age_s


def success_age(last: datetime | None, now: datetime | None) -> SuccessAge:
    if last is None:
        return SuccessAge(None, False)
    age = ((now or datetime.now(UTC)) - last).total_seconds()
    return SuccessAge(round(age, 1), age < 0)


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
    status_page: Callable[[], str] | None = None,
) -> WSGIApplication:
    """The WSGI router. ``webhooks`` is looked up per request so a reload can swap it."""
    metrics_app = make_wsgi_app(ScrubbedRegistry(registry))

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/" and status_page is not None:
            if method not in ("GET", "HEAD"):
                return _reply(start_response, Reply(405, b"method not allowed\n"))
            from syncd.status_page import CSP

            body = status_page().encode()
            start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                                      ("Content-Length", str(len(body))), ("Content-Security-Policy", CSP),
                                      ("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff")])
            return [body]
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
            parts = path[len(WEBHOOK_PREFIX):].strip("/").split("/")
            if receiver is None or len(parts) != 2 or not all(parts):
                return _reply(start_response, Reply(404, b"not found\n"))
            if method != "POST":
                return _reply(start_response, Reply(405, b"method not allowed\n"))
            query_string = environ.get("QUERY_STRING", "")
            query = {k: v[0] for k, v in parse_qs(query_string).items()}
            headers = {k[5:].replace("_", "-").lower(): str(v) for k, v in environ.items() if k.startswith("HTTP_")}
            if environ.get("CONTENT_TYPE"):
                headers["content-type"] = str(environ["CONTENT_TYPE"])
            length_text = environ.get("CONTENT_LENGTH") or ""
            length = int(length_text) if length_text.isdigit() else None
            stream = environ["wsgi.input"]
            reply = receiver.handle(f"{WEBHOOK_PREFIX}{parts[0]}/{parts[1]}", query, headers, length, stream.read,
                                    query_string=query_string, method=method)
            return _reply(start_response, reply)
        return _reply(start_response, Reply(404, b"not found\n"))

    return app


class _Handler(WSGIRequestHandler):
    """wsgiref's handler over a request already read in full; request lines go to structlog at debug level."""

    def setup(self) -> None:
        buffered_setup(self)

    def log_message(self, format: str, *args: Any) -> None:
        # The webhook URL carries its token: it never reaches a log line.
        line = re.sub(r"([?&]token=)[^&\s\"]+", r"\1***", format % args)
        log.debug("http", client=self.client_address[0], request=line)


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

    def __init__(self, app: WSGIApplication, address: str, port: int, *, allow_non_loopback: bool = False,
                 limits: ServerLimits | None = None) -> None:
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
        self.limits = limits or ServerLimits()
        self._server: BoundedServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        try:
            self._server = BoundedServer(self.address, self.requested_port, self._app, _Handler, self.limits)
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
