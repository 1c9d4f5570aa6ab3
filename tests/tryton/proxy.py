"""A loopback HTTP relay in front of trytond that can act just before a chosen JSON-RPC call passes.

The end-to-end test uses it to make an edit in Tryton at an exact moment of a
``syncd`` run (after syncd read a record, before its write reaches the server)
and to see what the server answered.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import httpx

_HOP = {"host", "content-length", "connection", "transfer-encoding", "content-encoding", "keep-alive"}


class RpcRelay:
    """Relays everything to ``upstream``; ``before(method, hook)`` runs ``hook`` once, before the
    first JSON-RPC request calling ``method`` is passed on. ``seen`` lists ``(method, reply)``."""

    def __init__(self, upstream: str) -> None:
        self.upstream = httpx.Client(base_url=upstream, timeout=60)
        self.seen: list[tuple[str, Any]] = []
        self._hooks: dict[str, Callable[[], None]] = {}
        self._lock = threading.Lock()
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def _relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                method = ""
                if self.path.endswith("/rpc/") and body:
                    method = str(json.loads(body).get("method", ""))
                    with relay._lock:
                        hook = relay._hooks.pop(method, None)
                    if hook is not None:
                        hook()
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                reply = relay.upstream.request(self.command, self.path, content=body, headers=headers)
                if method:
                    with relay._lock:
                        relay.seen.append((method, reply.json() if reply.content else None))
                self.send_response(reply.status_code)
                for key, value in reply.headers.items():
                    if key.lower() not in _HOP:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(reply.content)))
                self.end_headers()
                self.wfile.write(reply.content)

            do_GET = do_POST = do_PUT = do_DELETE = _relay

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def before(self, method: str, hook: Callable[[], None]) -> None:
        with self._lock:
            self._hooks[method] = hook

    def replies(self, method: str) -> list[Any]:
        with self._lock:
            return [reply for m, reply in self.seen if m == method]

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.upstream.close()
