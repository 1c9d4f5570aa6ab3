"""A reverse proxy on loopback that passes requests to an emulator and rewrites chosen replies.

Tests put it between ``syncd`` and the Cloze or HubSpot emulator to send what a
buggy or hostile server might: a reply nested too deeply to decode, records of
the wrong shape, feed rows missing a field. ``rewrite(method, path, body)``
returns the new reply body (bytes), or ``None`` to pass the emulator's reply on;
``answer(method, path, headers, body)``, asked first, may answer a request itself with a
:class:`Canned` reply (any status and headers) without passing it on.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

import httpx

Rewrite = Callable[[str, str, bytes], bytes | None]


@dataclass(frozen=True)
class Canned:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


Answer = Callable[[str, str, Mapping[str, str], bytes], Canned | None]
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "content-encoding"}


def nested(depth: int) -> bytes:
    """A JSON array nested ``depth`` levels deep (Python's decoder gives up long before 100,000)."""
    return b"[" * depth + b"]" * depth


def rewrite_results(body: bytes, change: Callable[[dict[str, Any]], None]) -> bytes:
    """A HubSpot list/search/batch reply with ``change`` applied to each of its ``results`` rows."""
    data = json.loads(body)
    for row in data.get("results", []):
        change(row)
    return json.dumps(data).encode()


class TamperProxy:
    def __init__(self, upstream: str, rewrite: Rewrite | None = None, answer: Answer | None = None) -> None:
        self.upstream = upstream.rstrip("/")
        self.rewrite: Rewrite = rewrite or (lambda method, path, body: None)
        self.answer: Answer = answer or (lambda method, path, headers, body: None)
        self.rewritten = 0
        self._client = httpx.Client(timeout=30)
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request_body = self.rfile.read(length) if length else b""
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                canned = outer.answer(self.command, self.path.split("?", 1)[0], dict(self.headers.items()), request_body)
                if canned is not None:
                    with outer._lock:
                        outer.rewritten += 1
                    self._reply(canned.status, canned.body, canned.headers)
                    return
                reply = outer._client.request(self.command, outer.upstream + self.path, headers=headers,
                                              content=request_body)
                body = reply.content
                replaced = outer.rewrite(self.command, self.path.split("?", 1)[0], body) if reply.status_code < 300 \
                    else None
                if replaced is not None:
                    body = replaced
                    with outer._lock:
                        outer.rewritten += 1
                self._reply(reply.status_code, body, reply.headers)

            def _reply(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    if key.lower() not in _HOP_BY_HOP:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _forward

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._client.close()
