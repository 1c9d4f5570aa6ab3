"""A hostile reverse proxy on loopback: forwards to an emulator and turns chosen replies hostile.

Put it in front of any HTTP API the project talks to (the Cloze and HubSpot
emulators today, any later connector's emulator tomorrow): point the side's
``base_url`` at :attr:`HostileProxy.url` and add rules. A rule matches a method
and a path (a regular expression, searched) and answers with a :class:`Fault`
from :mod:`tests.hostile.faults`; requests no rule matches are forwarded
unchanged. Everything stays on 127.0.0.1.

    with HostileProxy(emulator.url) as proxy:
        proxy.add(r"/v1/people/feed", faults.Slow(byte_interval=0.2))

The proxy counts what it answered (:attr:`hits`) and how many body bytes it
managed to send (:attr:`bytes_sent`), so a test can tell that a client stopped
reading instead of swallowing an endless reply.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import httpx

if TYPE_CHECKING:
    from tests.hostile.faults import Fault

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "accept-encoding",
               "content-encoding"}


@dataclass
class Upstream:
    """The real reply to a request (fetched only when a fault asks for it)."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass
class Exchange:
    """One request the proxy received, and the way to its real reply."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    proxy: HostileProxy
    handler: BaseHTTPRequestHandler
    _upstream: Upstream | None = None

    def upstream(self) -> Upstream:
        """Forward the request as it came and return the real reply (once)."""
        if self._upstream is None:
            self._upstream = self.proxy.forward(self)
        return self._upstream

    # -- writing the answer ------------------------------------------------------

    def start(self, status: int, headers: list[tuple[str, str]]) -> None:
        self.handler.send_response(status)
        for name, value in headers:
            self.handler.send_header(name, value)
        self.handler.end_headers()

    def write(self, data: bytes) -> bool:
        """Send body bytes; ``False`` once the client is gone (or the proxy is stopping)."""
        if self.proxy.stopping.is_set():
            return False
        try:
            self.handler.wfile.write(data)
            self.handler.wfile.flush()
        except OSError:
            return False
        self.proxy.count_bytes(len(data))
        return True

    def reply(self, status: int, body: bytes, content_type: str = "application/json",
              extra: list[tuple[str, str]] | None = None) -> None:
        self.start(status, [("Content-Type", content_type), ("Content-Length", str(len(body))), *(extra or [])])
        self.write(body)

    def close_connection(self) -> None:
        self.handler.close_connection = True


@dataclass
class Rule:
    pattern: re.Pattern[str]
    fault: Fault
    method: str | None
    times: int | None  # None: every matching request
    hits: int = 0


@dataclass
class _Counters:
    bytes_sent: int = 0
    requests: list[tuple[str, str]] = field(default_factory=list)


class HostileProxy:
    """The proxy (see the module docstring). Start it with ``with`` or :meth:`start`."""

    def __init__(self, upstream: str) -> None:
        self.upstream_url = upstream.rstrip("/")
        self.stopping = threading.Event()
        self._rules: list[Rule] = []
        self._lock = threading.Lock()
        self._counters = _Counters()
        self._client = httpx.Client(base_url=self.upstream_url, timeout=30)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True, name="hostile-proxy")

    # -- rules -------------------------------------------------------------------

    def add(self, path: str, fault: Fault, *, method: str | None = None, times: int | None = None) -> Rule:
        """Answer requests whose path matches ``path`` (regex, searched) with ``fault``."""
        rule = Rule(re.compile(path), fault, method.upper() if method else None, times)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def _match(self, method: str, path: str) -> Rule | None:
        with self._lock:
            for rule in self._rules:
                if rule.method not in (None, method) or not rule.pattern.search(path):
                    continue
                if rule.times is not None and rule.hits >= rule.times:
                    continue
                rule.hits += 1
                return rule
        return None

    # -- counters ----------------------------------------------------------------

    def count_bytes(self, n: int) -> None:
        with self._lock:
            self._counters.bytes_sent += n

    @property
    def bytes_sent(self) -> int:
        with self._lock:
            return self._counters.bytes_sent

    @property
    def hits(self) -> int:
        with self._lock:
            return sum(r.hits for r in self._rules)

    @property
    def requests(self) -> list[tuple[str, str]]:
        """``(method, path)`` of every request received, in order."""
        with self._lock:
            return list(self._counters.requests)

    # -- serving -----------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def forward(self, exchange: Exchange) -> Upstream:
        headers = {k: v for k, v in exchange.headers.items() if k.lower() not in _HOP_BY_HOP}
        target = exchange.path + (f"?{exchange.query}" if exchange.query else "")
        response = self._client.request(exchange.method, target, headers=headers, content=exchange.body or None)
        kept = [(k, v) for k, v in response.headers.items() if k.lower() not in _HOP_BY_HOP]
        return Upstream(response.status_code, kept, response.content)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        path, _, query = handler.path.partition("?")
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        exchange = Exchange(handler.command, path, query, dict(handler.headers.items()), body, self, handler)
        with self._lock:
            self._counters.requests.append((handler.command, path))
        rule = self._match(handler.command, path)
        if rule is not None:
            rule.fault.serve(exchange)
            return
        real = exchange.upstream()
        exchange.reply(real.status, real.body, dict(real.headers).get("content-type", "application/json"),
                       [(k, v) for k, v in real.headers if k.lower() != "content-type"])

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                proxy._handle(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

            def log_message(self, format: str, *args: Any) -> None:
                return None

        return Handler

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._client.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
